//! The accept loop: one task per connection, a bounded number of them.

use std::{sync::Arc, time::Duration};
use zonecast_contract::IndexSource;

use tokio::net::TcpListener;
use tracing::{Instrument, debug, error, info, info_span, warn};

use super::{
    connection_task::handle_connection,
    error::{CloseKind, ConnectionError},
};
use crate::{
    ops::metrics::{Metrics, RefusalReason},
    publish::{context::IngestContext, deadlines::spawn_deadlines},
    rtmp::RtmpError,
    storage::object_store::ObjectStore,
};

/// Accepts RTMP connections until the listener fails or shutdown begins; then stops accepting
/// (the connections drain on their own, tracked by `ctx.tasks`). Starts the stream table's
/// timer first.
pub async fn serve_rtmp<S: ObjectStore, R: IndexSource>(
    listener: TcpListener,
    ctx: Arc<IngestContext<S, R>>,
) -> std::io::Result<()> {
    info!(addr = %listener.local_addr()?, az = %ctx.config.az, "RTMP listening");
    spawn_deadlines(&ctx);
    let slots = Arc::new(tokio::sync::Semaphore::new(ctx.config.max_connections));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = ctx.shutdown.cancelled() => {
                info!("no longer accepting RTMP connections: draining");
                return Ok(());
            }
        };
        let (socket, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        Metrics::inc(&ctx.metrics.connections_total);
        // One permit per open connection, taken here and held by the connection's task: the
        // limit holds however many accepts race (a gauge read would not).
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            ctx.metrics.refused(RefusalReason::TooManyConnections);
            warn!(%peer, limit = ctx.config.max_connections, "too many connections; closing the new one");
            continue;
        };
        let task_ctx = ctx.clone();
        let span = info_span!("rtmp", %peer);
        ctx.tasks.spawn(
            async move {
                let _permit = permit;
                let ctx = task_ctx;
                Metrics::inc(&ctx.metrics.connections_open);
                let handle =
                    tokio::spawn(handle_connection(socket, peer, ctx.clone()).in_current_span());
                match handle.await {
                    Ok(Ok(())) => debug!("connection closed"),
                    Ok(Err(e)) => on_error(&e, &ctx.metrics),
                    Err(join) => {
                        Metrics::inc(&ctx.metrics.connections_failed);
                        error!(error = %join, "connection task panicked; connection closed");
                    }
                }
                Metrics::dec(&ctx.metrics.connections_open);
            }
            .instrument(span),
        );
    }
}

/// Logs and counts a connection's end by its kind.
fn on_error(e: &ConnectionError, metrics: &Metrics) {
    match e.close_kind() {
        CloseKind::PeerClosed => {
            Metrics::inc(&metrics.connections_closed_by_peer);
            debug!(error = %e, "connection closed by the peer");
        }
        CloseKind::Expected => debug!(error = %e, "connection closed"),
        CloseKind::Failed => {
            Metrics::inc(&metrics.connections_failed);
            if matches!(e, ConnectionError::Rtmp(RtmpError::Panicked { .. })) {
                Metrics::inc(&metrics.rtmp_panics);
            }
            warn!(error = %e, "connection closed on error");
        }
    }
}
