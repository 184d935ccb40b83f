//! Executes a stream's storage effects in order: each segment, then the index that names it
//! (invariant 1). A put that fails is kept and retried with backoff until it succeeds, so
//! nothing is lost and nothing is listed before it exists (invariant 4).
//!
//! While S3 is slow, jobs pile up. Every segment is still written, in order, but an index with
//! a newer index queued behind it is skipped: the newer one names everything the older one
//! did and is written after all of those segments, so the store catches up with one index
//! PUT instead of one per segment.

use std::{collections::VecDeque, sync::Arc, time::Duration};

use tokio::{
    sync::{mpsc, oneshot},
    time::Instant,
};
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::{
    metrics::{Metrics, UploadOutcome, UploadTarget},
    store::{ObjectStore, PutRequest},
};

/// One write, with the moment the packager produced it.
#[derive(Debug)]
pub struct UploadJob {
    pub request: PutRequest,
    pub kind: UploadKind,
    /// When the segment was cut (for an index: when the newest segment it names was cut).
    pub cut_at: Instant,
    /// Told once the object is written (for an index: this one or a newer one that
    /// superseded it).
    pub done: Option<oneshot::Sender<()>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadKind {
    Segment { msn: u64 },
    Index,
}

/// Backoff between retries of one put.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Sends jobs to one stream's uploader task.
pub type UploadSender = mpsc::UnboundedSender<UploadJob>;

/// Starts the uploader task of one stream on `tasks` (so a draining ingest waits for it). It
/// ends once every sender is dropped and the queue is drained.
pub fn spawn_uploader<S: ObjectStore>(
    tasks: &TaskTracker,
    store: Arc<S>,
    metrics: Arc<Metrics>,
    stream: String,
) -> UploadSender {
    let (tx, rx) = mpsc::unbounded_channel();
    tasks.spawn(run_uploader(store, metrics, stream, rx));
    tx
}

async fn run_uploader<S: ObjectStore>(
    store: Arc<S>,
    metrics: Arc<Metrics>,
    stream: String,
    mut rx: mpsc::UnboundedReceiver<UploadJob>,
) {
    let mut queue = VecDeque::new();
    loop {
        if queue.is_empty() {
            match rx.recv().await {
                Some(job) => queue.push_back(job),
                None => break,
            }
        }
        while let Ok(job) = rx.try_recv() {
            queue.push_back(job);
        }
        let Some(mut job) = queue.pop_front() else {
            continue;
        };
        if job.kind == UploadKind::Index
            && let Some(newer) = queue.iter_mut().find(|j| j.kind == UploadKind::Index)
        {
            // The newer index names everything this one did; whoever waits for this one
            // waits for that one now.
            if newer.done.is_none() {
                newer.done = job.done.take();
            }
            Metrics::dec(&metrics.uploads_pending);
            Metrics::inc(&metrics.indexes_superseded);
            continue;
        }
        put_until_done(&*store, &metrics, &stream, job.kind, &job.request).await;
        Metrics::dec(&metrics.uploads_pending);
        if let Some(done) = job.done.take() {
            let _ = done.send(());
        }
        match job.kind {
            UploadKind::Segment { .. } => {
                Metrics::inc(&metrics.segments_uploaded);
                metrics
                    .segment_bytes_uploaded
                    .inc_by(job.request.body.len() as u64);
            }
            UploadKind::Index => {
                Metrics::inc(&metrics.indexes_uploaded);
                metrics.record_cut_to_index(job.cut_at.elapsed());
            }
        }
    }
    info!(%stream, "uploader drained");
}

async fn put_until_done<S: ObjectStore>(
    store: &S,
    metrics: &Metrics,
    stream: &str,
    kind: UploadKind,
    request: &PutRequest,
) {
    let mut backoff = FIRST_BACKOFF;
    let mut attempt = 1u32;
    let target = match kind {
        UploadKind::Segment { .. } => UploadTarget::Segment,
        UploadKind::Index => UploadTarget::Index,
    };
    loop {
        let started = Instant::now();
        let result = store.put(request.clone()).await;
        let outcome = match result {
            Ok(()) => UploadOutcome::Ok,
            Err(_) => UploadOutcome::Error,
        };
        metrics.record_upload(target, outcome, started.elapsed());
        match result {
            Ok(()) => return,
            Err(err) => {
                Metrics::inc(&metrics.upload_retries);
                warn!(%stream, key = %request.key, attempt, retryable = err.retryable, error = %err,
                      "put failed; keeping the object and retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                attempt = attempt.saturating_add(1);
            }
        }
    }
}
