//! Streams whose publisher went away, within their reconnect grace period (DESIGN.md §4).
//!
//! While a stream waits, its index is rewritten every half target duration with state
//! `waiting` (a heartbeat), so the AZ stays fresh for the liveness rule and the chunklist stays
//! live without ENDLIST: players keep reloading and play on when the encoder comes back. A new
//! publish of the name takes the entry over (its last index and its uploader, so writes stay
//! in order). When the grace period runs out the index says `ended`; on shutdown, `draining`.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::Utc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::info;
use zonecast_contract::{StreamIndex, StreamName, StreamState};

use crate::{
    jobs::index_job,
    server::{IndexReader, IngestContext, send_job},
    store::ObjectStore,
    uploader::UploadSender,
};

/// One stream waiting for its encoder.
pub(crate) struct WaitingStream {
    /// The publish this entry came from (a later entry of the same name is another one).
    pub id: u64,
    /// The index as the publish left it (state `waiting`).
    pub last: StreamIndex,
    /// The stream's uploader: heartbeats, the final index and a resumed publish all go
    /// through it, in order.
    pub uploads: UploadSender,
    /// Cancelled when a new publish takes the stream over, or on shutdown (a child of the
    /// ingest's shutdown token).
    pub cancel: CancellationToken,
}

/// The waiting streams of one ingest.
#[derive(Default)]
pub(crate) struct Waitlist {
    entries: Mutex<HashMap<StreamName, WaitingStream>>,
}

impl Waitlist {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<StreamName, WaitingStream>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn insert(&self, name: StreamName, stream: WaitingStream) {
        if let Some(old) = self.lock().insert(name, stream) {
            old.cancel.cancel();
        }
    }

    /// Takes the entry of `name` over, whichever publish it came from.
    pub fn take(&self, name: &StreamName) -> Option<WaitingStream> {
        self.lock().remove(name)
    }

    /// Takes the entry of `name` if it still belongs to publish `id`.
    fn take_if(&self, name: &StreamName, id: u64) -> Option<WaitingStream> {
        let mut entries = self.lock();
        if entries.get(name).is_some_and(|w| w.id == id) {
            entries.remove(name)
        } else {
            None
        }
    }

    /// Runs `f` on the entry of `name` if it still belongs to publish `id`.
    fn with<T>(
        &self,
        name: &StreamName,
        id: u64,
        f: impl FnOnce(&WaitingStream) -> T,
    ) -> Option<T> {
        self.lock().get(name).filter(|w| w.id == id).map(f)
    }

    /// Whether `stream` (`app/stream`) waits here.
    pub fn contains(&self, stream: &str) -> bool {
        self.lock().keys().any(|n| n.to_string() == stream)
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// What `/status` shows of each waiting stream.
    pub fn views(&self) -> Vec<crate::status::StreamView> {
        self.lock()
            .iter()
            .map(|(name, w)| crate::status::StreamView {
                name: name.clone(),
                publishing: false,
                publisher: None,
                session: Some(w.last.session.clone()),
                last_index: Some(w.last.clone()),
                relay: None,
            })
            .collect()
    }
}

/// Rewrites the waiting index every half target duration until the grace period ends (then
/// `ended`), the stream is taken over (nothing), or the ingest shuts down (`draining`).
pub(crate) fn spawn_heartbeat<S: ObjectStore, R: IndexReader>(
    ctx: &Arc<IngestContext<S, R>>,
    name: StreamName,
    id: u64,
    cancel: CancellationToken,
    grace: Duration,
) {
    let ctx = ctx.clone();
    let every = Duration::from_millis(u64::from(ctx.config.target_duration_ms / 2).max(100));
    let deadline = Instant::now() + grace;
    let az = ctx.config.az;
    ctx.tasks.clone().spawn(async move {
        let write = |w: &WaitingStream, state: StreamState| {
            let mut index = w.last.clone();
            index.state = state;
            index.updated = Utc::now();
            send_job(&w.uploads, index_job(az, &index, Instant::now()), &ctx.metrics);
        };
        let mut next = Instant::now() + every;
        loop {
            tokio::select! {
                () = cancel.cancelled() => {
                    // Taken over (the entry is gone) or shutting down (it is still ours).
                    if let Some(w) = ctx.waiting.take_if(&name, id) {
                        write(&w, StreamState::Draining);
                        info!(stream = %name, "shutting down while waiting for the encoder: draining");
                    }
                    return;
                }
                () = tokio::time::sleep_until(next.min(deadline)) => {}
            }
            if Instant::now() >= deadline {
                if let Some(w) = ctx.waiting.take_if(&name, id) {
                    write(&w, StreamState::Ended);
                    info!(stream = %name, grace_secs = grace.as_secs(), "the encoder did not come back within the grace period: stream ended");
                }
                return;
            }
            if ctx
                .waiting
                .with(&name, id, |w| write(w, StreamState::Waiting))
                .is_none()
            {
                return;
            }
            next += every;
        }
    });
}
