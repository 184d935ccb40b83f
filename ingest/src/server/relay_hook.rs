//! Where a publish meets the relay (README.md, "The relay"): the direct-wins rule when a name
//! is published twice, and starting a publish's relay to the peer (or not: a publish that came
//! from the peer's relay is never relayed again).

use std::sync::Arc;

use zonecast_contract::{Az, StreamName};

use super::{IndexReader, IngestContext};
use crate::{
    config::DuplicatePublishPolicy,
    metrics::{Metrics, RefusalReason},
    relay::{RelayHandle, RelayShared, RelayStatus, task::RelayParams},
    store::ObjectStore,
};
use tracing::info;

/// What a second publish of a live name does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Duplicate {
    Refuse(RefusalReason),
    ReplaceOld,
}

/// A direct publish always wins: a relayed one never replaces a direct one, a direct one
/// always replaces a relayed one (whatever the policy: the relay is only a stand-in for the
/// encoder's own second output). Between two of a kind the duplicate policy decides.
pub(super) fn on_duplicate(
    policy: DuplicatePublishPolicy,
    old_relayed: bool,
    new_relayed: bool,
) -> Duplicate {
    match (old_relayed, new_relayed) {
        (false, true) => Duplicate::Refuse(RefusalReason::RelayBehindDirect),
        (true, false) => Duplicate::ReplaceOld,
        _ => match policy {
            DuplicatePublishPolicy::RejectNew => Duplicate::Refuse(RefusalReason::Duplicate),
            DuplicatePublishPolicy::ReplaceOld => Duplicate::ReplaceOld,
        },
    }
}

/// Starts the relay of publish `id` when one is configured and the publish is direct;
/// records its status for `/status` either way. `relayed_from`: the marker of the stream key
/// (`Some(None)`: a marker naming no AZ we know).
pub(super) fn start<S: ObjectStore, R: IndexReader>(
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
    if let Ok(mut live) = ctx.live.lock()
        && let Some(e) = live.get_mut(name).filter(|e| e.id == id)
    {
        e.relay = Some(shared);
    }
    handle
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_always_wins() {
        for policy in [
            DuplicatePublishPolicy::RejectNew,
            DuplicatePublishPolicy::ReplaceOld,
        ] {
            assert_eq!(
                on_duplicate(policy, false, true),
                Duplicate::Refuse(RefusalReason::RelayBehindDirect)
            );
            assert_eq!(on_duplicate(policy, true, false), Duplicate::ReplaceOld);
        }
        assert_eq!(
            on_duplicate(DuplicatePublishPolicy::RejectNew, true, true),
            Duplicate::Refuse(RefusalReason::Duplicate)
        );
        assert_eq!(
            on_duplicate(DuplicatePublishPolicy::ReplaceOld, false, false),
            Duplicate::ReplaceOld
        );
    }
}
