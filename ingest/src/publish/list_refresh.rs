//! Keeps every running stream's `renditions.json` younger than the bucket's retention: the
//! list is written again every [`LIST_REFRESH`] while a rendition of the stream is published
//! or waits here (see [`LIST_REFRESH`] for why a rewrite).

use std::sync::Arc;

use chrono::Utc;
use zonecast_contract::IndexSource;

use super::{context::IngestContext, rendition_list::LIST_REFRESH};
use crate::storage::object_store::ObjectStore;

/// Rewrites the rendition lists of the streams published or waiting on this ingest every
/// [`LIST_REFRESH`], until shutdown. Spawn it once per ingest, on the ingest's task tracker,
/// right after its [`IngestContext`] is made:
/// `ctx.tasks.spawn(keep_listed(ctx.clone()))`
pub async fn keep_listed<S: ObjectStore, R: IndexSource>(ctx: Arc<IngestContext<S, R>>) {
    let mut ticks = tokio::time::interval(LIST_REFRESH);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is immediate: nothing is listed yet.
    ticks.tick().await;
    loop {
        tokio::select! {
            () = ctx.shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        ctx.renditions
            .refresh(
                ctx.store.as_ref(),
                ctx.config.az,
                |stream| ctx.is_active(stream),
                Utc::now(),
            )
            .await;
    }
}
