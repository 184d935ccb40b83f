//! The one timer of the stream table: sleeps until the table's next deadline (a waiting
//! stream's heartbeat or the end of its grace period), asks the table what is due and carries
//! it out. On shutdown, the table's last effects (`draining` for every waiting stream) go out
//! before the task ends, so the drain waits for them.

use std::sync::Arc;
use zonecast_contract::IndexSource;

use chrono::Utc;
use tokio::time::Instant;
use tracing::info;
use zonecast_contract::StreamState;

use super::{context::IngestContext, table::PublishEffect};
use crate::{
    ops::metrics::Metrics,
    storage::{
        jobs::index_job,
        object_store::ObjectStore,
        uploader::{UploadJob, UploadSender},
    },
};

/// Starts the table's timer task (tracked: the drain waits for it).
pub fn spawn_deadlines<S: ObjectStore, R: IndexSource>(ctx: &Arc<IngestContext<S, R>>) {
    let ctx = ctx.clone();
    ctx.tasks.clone().spawn(async move {
        loop {
            let next = ctx.table().next_deadline();
            let sleep = async {
                match next {
                    Some(at) => tokio::time::sleep_until(Instant::from_std(at)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = ctx.shutdown.cancelled() => {
                    let effects = ctx.table().shutdown(Utc::now());
                    execute(&ctx, effects);
                    return;
                }
                () = ctx.deadlines_changed.notified() => continue,
                () = sleep => {}
            }
            let effects = ctx.table().tick(std::time::Instant::now(), Utc::now());
            execute(&ctx, effects);
        }
    });
}

/// Carries out the table's effects, in order.
pub fn execute<S, R>(ctx: &IngestContext<S, R>, effects: Vec<PublishEffect<UploadSender>>) {
    for effect in effects {
        match effect {
            PublishEffect::WriteIndex {
                name,
                index,
                uploads,
            } => {
                match index.state {
                    StreamState::Ended => {
                        info!(stream = %name, grace_secs = ctx.config.reconnect_grace_secs,
                        "the encoder did not come back within the grace period: stream ended")
                    }
                    StreamState::Draining => {
                        info!(stream = %name, "shutting down while waiting for the encoder: draining")
                    }
                    StreamState::Live | StreamState::Waiting => {}
                }
                let job = index_job(ctx.config.az, &name, &index, Instant::now());
                send_job(&uploads, job, &ctx.metrics);
            }
        }
    }
}

/// Queues `job` on a stream's uploader.
pub fn send_job(uploads: &UploadSender, job: UploadJob, metrics: &Metrics) {
    Metrics::inc(&metrics.uploads_pending);
    // The uploader only stops once all senders are gone, so this cannot fail while we hold one.
    let _ = uploads.send(job);
}
