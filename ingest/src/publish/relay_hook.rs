//! Where a publish meets the relay (README.md, "The relay"): starting a publish's relay to the
//! peer (or not: a publish that came from the peer's relay is never relayed again). The
//! direct-wins rule for a name published twice is in [`super::claim`].

use std::sync::Arc;
use zonecast_contract::IndexSource;

use zonecast_contract::{Az, StreamName};

use super::context::IngestContext;
use crate::{
    ops::metrics::Metrics,
    relay::{RelayHandle, RelayShared, RelayStatus, task::RelayParams},
    storage::object_store::ObjectStore,
};
use tracing::info;

/// Starts the relay of publish `id` when one is configured and the publish is direct;
/// records its status for `/status` either way. `relayed_from`: the marker of the stream key
/// (`Some(None)`: a marker naming no AZ we know).
pub fn start<S: ObjectStore, R: IndexSource>(
    ctx: &Arc<IngestContext<S, R>>,
    name: &StreamName,
    id: u64,
    stream_key: &str,
    relayed_from: Option<Option<Az>>,
) -> Option<RelayHandle> {
    let (handle, shared) = match (relayed_from, &ctx.config.relay_to) {
        (Some(from), _) => {
            Metrics::inc(&ctx.metrics.relayed_publishes);
            info!(stream = %name, from = ?from, "publish relayed from the peer: packaged, never relayed again");
            let mut status = RelayStatus::off(None);
            status.relayed_from = from;
            (None, RelayShared::new(status))
        }
        (None, Some(peer)) => {
            let handle = crate::relay::spawn_relay(
                RelayParams {
                    peer: peer.clone(),
                    from: ctx.config.az,
                    name: name.clone(),
                    stream_key: stream_key.to_owned(),
                    config: ctx.config.relay.clone(),
                    metrics: ctx.metrics.clone(),
                    secret: ctx.config.publish_secret.clone(),
                },
                &ctx.tasks,
            );
            let shared = handle.shared();
            (Some(handle), shared)
        }
        (None, None) => (None, RelayShared::new(RelayStatus::off(None))),
    };
    ctx.table().set_relay(name, id, shared);
    handle
}
