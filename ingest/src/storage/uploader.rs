//! Executes a stream's storage effects in order: each segment, then the index that names it
//! (invariant 1). Nothing is listed before it exists (invariant 4).
//!
//! While S3 is slow, jobs pile up. The uploader keeps taking them off its channel while a PUT
//! is retried, so the channel stays short; it holds at most `memory_max_bytes` of segments in
//! memory and spills the rest, in order, to the on-disk [`Spool`]. Every segment is still
//! written, in order, once the store answers, but an index with a newer index queued behind it
//! is skipped: the newer one names everything the older one did and is written after all of
//! those segments, so the store catches up with one index PUT instead of one per segment.
//!
//! A segment can still be lost: the spool is full ([`SpoolFullPolicy`]), there is no spool,
//! or the store refuses it for good (a non-retryable error, [`RetryPolicy`]). Each is logged
//! and counted (`zonecast_spool_dropped_total`), and no index naming it is ever written: an
//! index whose window holds a lost segment is cut to the segments after it.
//!
//! On shutdown the drain waits for the uploaders; when it times out it cancels `persist`,
//! and each uploader writes what it still holds in memory to the spool for the next start
//! ([`recover_spool`]).

use std::{
    collections::{HashSet, VecDeque},
    sync::Arc,
};

use tokio::{
    sync::{mpsc, oneshot},
    time::Instant,
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tracing::{error, info, warn};
use zonecast_contract::{StreamIndex, keys, retry::retry};

use crate::{
    ops::metrics::{DropReason, Metrics, UploadOutcome, UploadTarget},
    storage::object_store::{ObjectStore, PutRequest, StoreError},
    storage::spool::{Spool, SpoolEntry, SpoolError, SpoolFullPolicy, SpoolHeader},
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
    /// The index an index upload writes (its body is this, serialized): a cut after a lost
    /// segment works on it, never on the bytes. `None` for a segment.
    pub index: Option<Arc<StreamIndex>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadKind {
    Segment { msn: u64 },
    Index,
}

pub use zonecast_contract::retry::RetryPolicy;

/// How one stream's uploader holds its backlog.
#[derive(Debug, Clone)]
pub struct UploaderConfig {
    /// Segment bytes held in memory; beyond that, segments go to the spool.
    pub memory_max_bytes: u64,
    /// Where segments beyond the memory bound go; `None`: they are dropped
    /// ([`SpoolFullPolicy`] decides which).
    pub spool: Option<Arc<Spool>>,
    /// What goes when there is no room, with no spool.
    pub policy: SpoolFullPolicy,
    pub retry: RetryPolicy,
    /// Cancelled when the drain times out: write what is in memory to the spool and stop.
    pub persist: CancellationToken,
}

impl Default for UploaderConfig {
    fn default() -> Self {
        Self {
            memory_max_bytes: 64 << 20,
            spool: None,
            policy: SpoolFullPolicy::DropOldest,
            retry: RetryPolicy::UPLOAD,
            persist: CancellationToken::new(),
        }
    }
}

/// Sends jobs to one stream's uploader task.
pub type UploadSender = mpsc::UnboundedSender<UploadJob>;

/// Starts the uploader task of one stream with the default settings (no spool).
pub fn spawn_uploader<S: ObjectStore>(
    tasks: &TaskTracker,
    store: Arc<S>,
    metrics: Arc<Metrics>,
    stream: String,
) -> UploadSender {
    spawn_uploader_with(tasks, store, metrics, stream, UploaderConfig::default())
}

/// Starts the uploader task of one stream (`app/stream`) on `tasks` (so a draining ingest
/// waits for it). It ends once every sender is dropped and the queue is drained, or when
/// `config.persist` is cancelled.
pub fn spawn_uploader_with<S: ObjectStore>(
    tasks: &TaskTracker,
    store: Arc<S>,
    metrics: Arc<Metrics>,
    stream: String,
    config: UploaderConfig,
) -> UploadSender {
    let (tx, rx) = mpsc::unbounded_channel();
    let uploader = Uploader::new(store, metrics, stream, config);
    tasks.spawn(uploader.run(rx));
    tx
}

enum Body {
    Memory(PutRequest),
    Spooled(SpoolEntry),
}

struct Pending {
    kind: UploadKind,
    key: String,
    /// The object's size (of a recovered one: its file's, until it is read back).
    size: u64,
    cut_at: Instant,
    done: Option<oneshot::Sender<()>>,
    /// [`UploadJob::index`].
    index: Option<Arc<StreamIndex>>,
    body: Body,
}

impl Pending {
    fn memory_bytes(&self) -> u64 {
        match (&self.body, self.kind) {
            (Body::Memory(r), UploadKind::Segment { .. }) => r.body.len() as u64,
            _ => 0,
        }
    }
}

struct Uploader<S> {
    store: Arc<S>,
    metrics: Arc<Metrics>,
    stream: String,
    config: UploaderConfig,
    queue: VecDeque<Pending>,
    /// Segment bytes held in `queue` in memory.
    memory_bytes: u64,
    /// Keys of segments that will never be written: no index may name them.
    lost: HashSet<String>,
    /// Set for a recovered spool: whether its final index may still be written.
    index_allowed: Option<IsPublishing>,
}

impl<S: ObjectStore> Uploader<S> {
    fn new(store: Arc<S>, metrics: Arc<Metrics>, stream: String, config: UploaderConfig) -> Self {
        Self {
            store,
            metrics,
            stream,
            config,
            queue: VecDeque::new(),
            memory_bytes: 0,
            lost: HashSet::new(),
            index_allowed: None,
        }
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<UploadJob>) {
        let mut closed = false;
        let persist = self.config.persist.clone();
        loop {
            while !closed {
                match rx.try_recv() {
                    Ok(job) => self.admit(job).await,
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => closed = true,
                }
            }
            let Some(mut head) = self.queue.pop_front() else {
                if closed {
                    break;
                }
                tokio::select! {
                    job = rx.recv() => match job {
                        Some(job) => self.admit(job).await,
                        None => closed = true,
                    },
                    () = persist.cancelled() => break,
                }
                continue;
            };
            self.memory_bytes -= head.memory_bytes();
            let Some(request) = self.prepare(&mut head).await else {
                self.finish(head, false).await;
                continue;
            };
            let put = put_with_retry(
                self.store.clone(),
                self.metrics.clone(),
                self.stream.clone(),
                head.kind,
                request,
                self.config.retry,
            );
            tokio::pin!(put);
            let result = loop {
                tokio::select! {
                    r = &mut put => break Some(r),
                    job = rx.recv(), if !closed => match job {
                        Some(job) => self.admit(job).await,
                        None => closed = true,
                    },
                    () = persist.cancelled() => break None,
                }
            };
            match result {
                Some(Ok(())) => self.finish(head, true).await,
                Some(Err(e)) => {
                    error!(stream = %self.stream, key = %head.key, error = %e,
                           "the store refuses this object for good; giving it up");
                    if let UploadKind::Segment { .. } = head.kind {
                        self.metrics.segment_dropped(DropReason::Refused);
                        self.lose(&head.key);
                    }
                    self.finish(head, false).await;
                }
                None => {
                    self.memory_bytes += head.memory_bytes();
                    self.queue.push_front(head);
                    break;
                }
            }
        }
        if persist.is_cancelled() {
            self.persist_all(&mut rx).await;
        } else {
            info!(stream = %self.stream, "uploader drained");
        }
    }

    /// Takes one job into the queue: in memory, or in the spool once memory is full.
    async fn admit(&mut self, job: UploadJob) {
        let UploadJob {
            request,
            kind,
            cut_at,
            mut done,
            index,
        } = job;
        if kind == UploadKind::Index {
            // An index queued before this one and not yet started names nothing this one does
            // not; drop it now (bounds the queue to one in-memory index).
            if let Some(pos) = self
                .queue
                .iter()
                .position(|p| p.kind == UploadKind::Index && matches!(p.body, Body::Memory(_)))
                && let Some(mut older) = self.queue.remove(pos)
            {
                if done.is_none() {
                    done = older.done.take();
                }
                self.superseded(older).await;
            }
        }
        let mut pending = Pending {
            kind,
            key: request.key.clone(),
            size: request.body.len() as u64,
            cut_at,
            done,
            index,
            body: Body::Memory(request),
        };
        let size = pending.memory_bytes();
        if size > 0 && self.memory_bytes + size > self.config.memory_max_bytes {
            match self.spill(&pending).await {
                Ok(Some(entry)) => pending.body = Body::Spooled(entry),
                Ok(None) => {}
                Err(()) => return,
            }
        }
        self.memory_bytes += pending.memory_bytes();
        self.queue.push_back(pending);
    }

    async fn superseded(&mut self, older: Pending) {
        Metrics::inc(&self.metrics.indexes_superseded);
        self.finish(older, false).await;
    }

    /// The request to put for `head`, or `None` when it is not to be written (an index
    /// superseded by a newer queued one, or whose every segment was lost).
    async fn prepare(&mut self, head: &mut Pending) -> Option<PutRequest> {
        if head.kind == UploadKind::Index {
            if self.queue.iter().any(|p| p.kind == UploadKind::Index) {
                Metrics::inc(&self.metrics.indexes_superseded);
                return None;
            }
            if let Some(allowed) = &self.index_allowed
                && allowed(&self.stream)
            {
                info!(stream = %self.stream, "a new publish writes the index; skipping the spooled one");
                return None;
            }
        }
        let mut request = match &head.body {
            Body::Memory(r) => r.clone(),
            Body::Spooled(entry) => {
                let spool = self.config.spool.as_ref()?;
                match spool.read(entry).await {
                    Ok(body) => {
                        head.size = body.len() as u64;
                        request_for(head.kind, head.key.clone(), body)
                    }
                    Err(e) => {
                        error!(stream = %self.stream, error = %e, "cannot read back a spooled upload; dropping it");
                        if let UploadKind::Segment { .. } = head.kind {
                            self.metrics.segment_dropped(DropReason::SpoolFailed);
                            self.lose(&head.key);
                        }
                        return None;
                    }
                }
            }
        };
        if head.kind == UploadKind::Index && !self.lost.is_empty() {
            self.cut_index(head.index.as_deref(), &mut request)?;
        }
        Some(request)
    }

    /// Cuts the index `request` writes to the part of its window after the last lost
    /// segment (the contract's window rule, [`StreamIndex::cut_through`]); `None` when nothing
    /// is left to write. `typed` is the index itself; only one read back from a previous run's
    /// spool comes as bytes and is parsed.
    fn cut_index(&self, typed: Option<&StreamIndex>, request: &mut PutRequest) -> Option<()> {
        let parsed;
        let index = match typed {
            Some(index) => index,
            None => {
                parsed = StreamIndex::from_json(&request.body).ok()?;
                &parsed
            }
        };
        let Some(last_lost) = index
            .segment_keys()
            .ok()?
            .into_iter()
            .rev()
            .find(|(_, key)| self.lost.contains(key))
            .map(|(msn, _)| msn)
        else {
            return Some(());
        };
        let mut index = index.clone();
        let cut = index.cut_through(last_lost);
        if index.segments.is_empty() {
            warn!(stream = %self.stream, "every segment this index names was lost; not writing it");
            return None;
        }
        warn!(stream = %self.stream, cut, "index cut to the segments after a lost one");
        request.body = index.to_json().into();
        Some(())
    }

    /// A job leaves the queue: written (`written`) or not.
    async fn finish(&mut self, mut p: Pending, written: bool) {
        Metrics::dec(&self.metrics.uploads_pending);
        if let (Body::Spooled(entry), Some(spool)) = (&p.body, &self.config.spool) {
            spool.remove(entry).await;
        }
        if !written {
            return;
        }
        if let Some(done) = p.done.take() {
            let _ = done.send(());
        }
        match p.kind {
            UploadKind::Segment { .. } => {
                Metrics::inc(&self.metrics.segments_uploaded);
                self.metrics.segment_bytes_uploaded.inc_by(p.size);
            }
            UploadKind::Index => {
                Metrics::inc(&self.metrics.indexes_uploaded);
                self.metrics.record_cut_to_index(p.cut_at.elapsed());
            }
        }
    }
}

mod put;
mod spill;
#[cfg(test)]
mod tests;

use put::{put_with_retry, request_for};
pub use spill::{IsPublishing, recover_spool};
