//! What every connection of one ingest shares: the config, the store, the stream table and
//! the task tracker. The table sits behind a lock that a panic cannot poison for good: its
//! transitions do not panic, and a lock found poisoned is taken over as it stands (a claim
//! after a panicked connection is never refused as a "duplicate").

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use zonecast_contract::IndexSource;

use tokio::sync::{Notify, watch};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use super::{
    rendition_list::RenditionLists,
    table::{StreamTable, StreamTableConfig},
};
use crate::{
    config::IngestConfig,
    ops::{metrics::Metrics, status_json::StreamView},
    storage::{
        invalidate::Invalidator,
        object_store::ObjectStore,
        uploader::{UploadSender, UploaderConfig},
    },
};

/// The stream table as the shell holds it: upload queues and stop signals as handles.
pub type IngestTable = StreamTable<UploadSender, watch::Sender<bool>>;

/// Shared by all connections of one ingest.
pub struct IngestContext<S, R> {
    pub config: IngestConfig,
    pub store: Arc<S>,
    pub indexes: R,
    pub metrics: Arc<Metrics>,
    /// Set when a CloudFront distribution or a local edge is configured.
    pub invalidator: Option<Invalidator>,
    /// Cancelled on SIGTERM: every task drains and ends (DESIGN.md §5, drain).
    pub shutdown: CancellationToken,
    /// Every task that must finish before the process exits: connections, uploaders, the
    /// deadline task.
    pub tasks: TaskTracker,
    /// How every stream's uploader holds its backlog (memory bound, spool, retry policy).
    pub uploads: UploaderConfig,
    /// Every stream published or waiting here.
    table: Mutex<IngestTable>,
    /// Woken when the table's next deadline may have moved earlier.
    pub(crate) deadlines_changed: Notify,
    /// The renditions of each stream listed in the store (streams published at several
    /// qualities).
    pub renditions: RenditionLists,
}

impl<S: ObjectStore, R: IndexSource> IngestContext<S, R> {
    pub fn new(
        config: IngestConfig,
        store: S,
        indexes: R,
        metrics: Arc<Metrics>,
        invalidator: Option<Invalidator>,
        uploads: UploaderConfig,
    ) -> Arc<Self> {
        let table = StreamTable::new(table_config(&config));
        Arc::new(Self {
            uploads,
            config,
            store: Arc::new(store),
            indexes,
            metrics,
            invalidator,
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            table: Mutex::new(table),
            deadlines_changed: Notify::new(),
            renditions: RenditionLists::default(),
        })
    }
}

impl<S, R> IngestContext<S, R> {
    /// The stream table (a poisoned lock is taken over: see the module doc).
    pub fn table(&self) -> MutexGuard<'_, IngestTable> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `stream` (`app/stream`) is published or waiting for its encoder here.
    pub fn is_active(&self, stream: &str) -> bool {
        self.table().is_active(stream)
    }

    /// Streams waiting for their encoder, for `/healthz`.
    pub fn waiting_count(&self) -> usize {
        self.table().waiting_count()
    }

    /// A read-only copy of every stream this ingest publishes or waits for, for `/status`.
    pub fn stream_views(&self) -> Vec<StreamView> {
        self.table().views()
    }
}

/// The table's policies, from the config.
pub fn table_config(config: &IngestConfig) -> StreamTableConfig {
    StreamTableConfig {
        shard: config.shard,
        duplicate: config.duplicate_publish,
        max_renditions: zonecast_contract::renditions::MAX_RENDITIONS,
        on_unpublish: config.on_unpublish,
        grace: std::time::Duration::from_secs(config.reconnect_grace_secs),
        heartbeat: std::time::Duration::from_millis(
            u64::from(config.target_duration_ms / 2).max(100),
        ),
    }
}
