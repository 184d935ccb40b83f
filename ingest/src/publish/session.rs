//! One publish, from claim to end: the shell around the stream table for one connection.
//!
//! [`begin`] claims the name in the table and reads what the table's [`PublishStart`] says to
//! read (the store's indexes, the siblings'), builds the packager and the upload queue;
//! [`Publish::push`] feeds it media and queues its effects; [`end`] closes the last segment,
//! writes the final index and hands the stream back to the table (waiting, or over).

use std::{sync::Arc, time::Duration};
use zonecast_contract::IndexSource;

use chrono::Utc;
use tokio::{
    sync::{oneshot, watch},
    time::Instant,
};
use tracing::{error, info, warn};
use zonecast_contract::{RetryPolicy, StreamName, retry::retry};

use super::{
    claim::{PublishRequest, Refusal},
    context::IngestContext,
    deadlines::{execute, send_job},
    rendition_list::sibling_indexes,
    table::{Ended, PublishEnd, PublishStart, newest_index},
};
use crate::{
    media::packager::{Packager, PackagerConfig, PackagerEffect, PackagerError, PackagerStats},
    ops::metrics::Metrics,
    relay::RelayHandle,
    storage::{
        invalidate::{Invalidator, paths_to_invalidate},
        jobs::upload_job,
        object_store::ObjectStore,
        uploader::{UploadSender, spawn_uploader_with},
    },
};

/// How long a publish waits for each index read before it numbers without it.
const INDEX_READ_TIMEOUT: Duration = Duration::from_secs(3);

/// Which RTMP media message a publish is fed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    Video,
    Audio,
}

/// A claimed stream name. Dropping it (also while unwinding from a panic) frees the name if
/// the publish did not end in order.
struct Registration<S, R> {
    ctx: Arc<IngestContext<S, R>>,
    name: StreamName,
    id: u64,
}

impl<S, R> Drop for Registration<S, R> {
    fn drop(&mut self) {
        self.ctx.table().release(&self.name, self.id);
        Metrics::dec(&self.ctx.metrics.publishes_active);
    }
}

/// The publish in progress on one connection.
pub struct Publish<S, R> {
    pub name: StreamName,
    registration: Registration<S, R>,
    packager: Packager,
    uploads: UploadSender,
    /// Turns `true` when a newer publisher replaced this one.
    pub stop: watch::Receiver<bool>,
    /// Playlist paths to invalidate once the first index of this publish is in the store
    /// (an ended stream started again: its day-cached ENDLIST chunklist must go). Not
    /// before: a viewer asking in between would cache the old ended index again.
    invalidate_after_first_index: Option<Vec<String>>,
    /// A rendition whose first index is not yet queued: once it is written, the rendition is
    /// listed in the stream's `renditions.json`.
    announce_after_first_index: bool,
    session: String,
    /// The packager's counters as last turned into metrics.
    counted: PackagerStats,
    /// Forwards this publish to the peer ingest (`--relay-to`), if it does.
    pub relay: Option<RelayHandle>,
}

impl<S: ObjectStore, R: IndexSource> Publish<S, R> {
    /// This publish's id in the stream table.
    pub fn id(&self) -> u64 {
        self.registration.id
    }

    /// Feeds one video or audio message to the packager and queues what it cut.
    pub fn push(
        &mut self,
        kind: MessageKind,
        timestamp: u32,
        data: &bytes::Bytes,
    ) -> Result<(), PackagerError> {
        let now = Utc::now();
        let effects = match kind {
            MessageKind::Video => self.packager.push_video(timestamp, data, now),
            MessageKind::Audio => self.packager.push_audio(timestamp, data, now),
        };
        self.count();
        self.enqueue(effects?);
        Ok(())
    }

    /// Turns the packager's counters into metrics.
    fn count(&mut self) {
        let stats = self.packager.stats();
        let dropped =
            |s: &PackagerStats| s.malformed_tags + s.unsupported_tags + s.frames_before_config;
        let metrics = &self.registration.ctx.metrics;
        metrics
            .media_tags_dropped
            .inc_by(dropped(&stats).saturating_sub(dropped(&self.counted)));
        metrics.format_changes.inc_by(
            stats
                .format_changes
                .saturating_sub(self.counted.format_changes),
        );
        self.counted = stats;
    }

    /// Queues the packager's effects on the stream's uploader, in order (segment, then index).
    fn enqueue(&mut self, effects: Vec<PackagerEffect>) {
        let ctx = self.registration.ctx.clone();
        let now = Instant::now();
        let epoch = self.packager.epoch();
        for effect in effects {
            let first_index = match &effect {
                PackagerEffect::PutIndex { index } => {
                    ctx.table().note_index(&self.name, self.id(), index);
                    let paths = self.invalidate_after_first_index.take();
                    let announce = std::mem::take(&mut self.announce_after_first_index);
                    (paths.is_some() || announce).then_some(paths)
                }
                PackagerEffect::PutSegment { .. } => None,
            };
            let mut job = upload_job(ctx.config.az, &self.name, epoch, effect, now);
            if let Some(paths) = first_index {
                job.done = after_first_index_written(&ctx, paths, &self.session, &self.name);
            }
            send_job(&self.uploads, job, &ctx.metrics);
        }
    }
}

/// Claims `request.name` in the stream table and starts its publish: the numbering learnt
/// from what the table holds or the store has (DESIGN.md §4), the packager, the upload queue.
pub async fn begin<S: ObjectStore, R: IndexSource>(
    ctx: &Arc<IngestContext<S, R>>,
    request: &PublishRequest,
) -> Result<Publish<S, R>, Refusal> {
    let (stop_tx, stop) = watch::channel(false);
    let claimed = ctx.table().claim(request, stop_tx)?;
    Metrics::inc(&ctx.metrics.publishes_active);
    if let Some(old) = claimed.replaced {
        let _ = old.send(true);
    }
    let name = request.name.clone();
    let id = claimed.id;
    let registration = Registration {
        ctx: ctx.clone(),
        name: name.clone(),
        id,
    };
    let az = ctx.config.az;
    // A slow store must not hold the encoder for long.
    let read = |az| {
        tokio::time::timeout(
            INDEX_READ_TIMEOUT,
            ctx.indexes.read_index_or_none(az, &name),
        )
    };
    let (own, peer, uploads) = match claimed.start {
        PublishStart::Resume { last, uploads } => {
            info!(stream = %name, "the encoder is back within the grace period");
            let peer = read(az.peer()).await.ok().flatten();
            (Some(last), peer, Some(uploads))
        }
        PublishStart::TakeOver { last, uploads } => {
            info!(stream = %name, "taking over the replaced publisher's uploads");
            let (own, peer) = match last {
                Some(last) => (Some(last), read(az.peer()).await.ok().flatten()),
                None => {
                    let (own, peer) = tokio::join!(read(az), read(az.peer()));
                    (own.ok().flatten(), peer.ok().flatten())
                }
            };
            (own, peer, Some(uploads))
        }
        PublishStart::Fresh { spooled } => {
            let (own, peer) = tokio::join!(read(az), read(az.peer()));
            (
                newest_index(own.ok().flatten(), spooled),
                peer.ok().flatten(),
                None,
            )
        }
    };
    // A rendition numbers its segments like its siblings (aligned renditions).
    let siblings = tokio::time::timeout(
        INDEX_READ_TIMEOUT,
        sibling_indexes(&ctx.indexes, &ctx.renditions, az, &name),
    )
    .await
    .unwrap_or_default();
    let session = format!("{}-{}-{id}", az, Utc::now().format("%Y%m%dT%H%M%S%.3fZ"));
    let invalidate_after_first_index = paths_to_invalidate(az, &name, own.as_ref());
    let packager = Packager::with_siblings(
        PackagerConfig {
            az,
            target_ms: ctx.config.target_duration_ms,
            window: ctx.config.window,
        },
        name.clone(),
        session.clone(),
        own.as_ref(),
        peer.as_ref(),
        &siblings.iter().collect::<Vec<_>>(),
        Utc::now(),
    );
    let uploads = uploads.unwrap_or_else(|| {
        spawn_uploader_with(
            &ctx.tasks,
            ctx.store.clone(),
            ctx.metrics.clone(),
            name.to_string(),
            ctx.uploads.clone(),
        )
    });
    ctx.table().attach(&name, id, &session, &uploads);
    let announce_after_first_index = name.rendition().is_some();
    Ok(Publish {
        name,
        registration,
        packager,
        uploads,
        stop,
        invalidate_after_first_index,
        announce_after_first_index,
        session,
        counted: PackagerStats::default(),
        relay: None,
    })
}

/// Ends a publish. The last segment is closed and uploaded, then the index says what comes
/// next: `waiting` (the encoder may come back within the grace period; the table's
/// heartbeats keep the AZ fresh), `draining` (this ingest is shutting down), or `ended`.
pub fn end<S: ObjectStore, R: IndexSource>(mut p: Publish<S, R>, end: PublishEnd) {
    let ctx = p.registration.ctx.clone();
    if let Some(relay) = p.relay.take() {
        relay.end(end == PublishEnd::Unpublished);
    }
    let Some(state) = ctx.table().end_state(end) else {
        // The new publisher carries the stream on (its own packager, our uploader, so what we
        // queued is written before anything of its); our open segment goes, and we write no
        // index after its.
        info!(stream = %p.name, "publish handed over to the new publisher");
        return;
    };
    let now = Utc::now();
    let effects = p.packager.finish(state, now);
    p.enqueue(effects);
    let last = p.packager.snapshot(state, now);
    let (ended, effects) = ctx.table().ended(
        &p.name,
        p.id(),
        state,
        last,
        &p.uploads,
        std::time::Instant::now(),
    );
    execute(&ctx, effects);
    match ended {
        Ended::Waiting { grace } => {
            ctx.deadlines_changed.notify_one();
            info!(stream = %p.name, ?end, grace_secs = grace.as_secs(), "publisher gone; waiting for the encoder to come back");
        }
        Ended::Over(state) => info!(stream = %p.name, ?end, ?state, "publish ended"),
        Ended::Superseded => {
            info!(stream = %p.name, ?end, "publish ended; a newer publish holds the name")
        }
    }
}

/// Once the job carrying the returned sender is written: starts the invalidation of `paths`,
/// and lists a rendition in its stream's `renditions.json`.
fn after_first_index_written<S: ObjectStore, R: IndexSource>(
    ctx: &Arc<IngestContext<S, R>>,
    paths: Option<Vec<String>>,
    session: &str,
    name: &StreamName,
) -> Option<oneshot::Sender<()>> {
    let invalidation = ctx.invalidator.clone().zip(paths);
    if invalidation.is_none() && name.rendition().is_none() {
        return None;
    }
    let (tx, rx) = oneshot::channel();
    let (session, name, task_ctx) = (session.to_owned(), name.clone(), ctx.clone());
    ctx.tasks.spawn(async move {
        // Err: the uploader stopped without writing it (shutdown): nothing to do.
        if rx.await.is_err() {
            return;
        }
        let az = task_ctx.config.az;
        if let Err(e) = task_ctx
            .renditions
            .announce(task_ctx.store.as_ref(), az, &name, Utc::now())
            .await
        {
            error!(stream = %name, error = %e, "cannot list the rendition; viewers will not see it");
        }
        if let Some((invalidator, paths)) = invalidation {
            run_invalidation(invalidator, paths, session, name).await;
        }
    });
    Some(tx)
}

/// Invalidates an ended stream's cached playlists, a few tries; the publish does not wait for
/// it (a day-cached `#EXT-X-ENDLIST` chunklist is the only thing at stake).
async fn run_invalidation(
    invalidator: Invalidator,
    paths: Vec<String>,
    session: String,
    name: StreamName,
) {
    let result = retry(
        &RetryPolicy::INVALIDATION,
        || invalidator.invalidate(paths.clone(), &session),
        |e, failed| {
            warn!(stream = %name, attempt = failed.number, will_retry = failed.wait.is_some(),
                  error = %e, "invalidation failed");
        },
    )
    .await;
    if result.is_ok() {
        info!(stream = %name, ?paths, "invalidated the ended stream's cached playlists");
    }
}
