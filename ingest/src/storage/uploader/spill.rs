//! The uploader's backlog beyond memory: segments spilled to the spool (and dropped by the
//! spool-full policy), everything persisted when the drain times out, and what an earlier
//! run left in the spool uploaded at startup.

use super::*;

/// Whether a stream (`app/stream`) is published on this ingest now.
pub type IsPublishing = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Uploads what an earlier run left in the spool, one task per stream, in order. The last
/// index of a stream is written only if `publishing(stream)` is false by then: a new publish
/// of the name writes its own, newer index.
pub fn recover_spool<S: ObjectStore>(
    tasks: &TaskTracker,
    store: Arc<S>,
    metrics: Arc<Metrics>,
    config: UploaderConfig,
    recovered: Vec<crate::storage::spool::RecoveredStream>,
    publishing: IsPublishing,
) {
    for stream in recovered {
        info!(stream = %stream.stream, uploads = stream.entries.len(), "finishing the spool an earlier run left");
        let mut uploader = Uploader::new(
            store.clone(),
            metrics.clone(),
            stream.stream.clone(),
            config.clone(),
        );
        uploader.index_allowed = Some(publishing.clone());
        for entry in stream.entries {
            Metrics::inc(&metrics.uploads_pending);
            uploader.queue.push_back(Pending {
                kind: match entry.header.segment_msn {
                    Some(msn) => UploadKind::Segment { msn },
                    None => UploadKind::Index,
                },
                key: entry.header.key.clone(),
                size: entry.bytes,
                cut_at: Instant::now(),
                done: None,
                // A spool file is bytes: an index from it is parsed if it must be cut.
                index: None,
                body: Body::Spooled(entry),
            });
        }
        let (tx, rx) = mpsc::unbounded_channel();
        drop(tx);
        tasks.spawn(uploader.run(rx));
    }
}

impl<S: ObjectStore> Uploader<S> {
    /// Moves a segment that does not fit in memory to the spool. `Ok(Some)`: spooled;
    /// `Ok(None)`: room was made in memory instead; `Err`: the segment was dropped.
    pub(super) async fn spill(&mut self, pending: &Pending) -> Result<Option<SpoolEntry>, ()> {
        let Body::Memory(request) = &pending.body else {
            return Ok(None);
        };
        let UploadKind::Segment { msn } = pending.kind else {
            return Ok(None);
        };
        let Some(spool) = self.config.spool.clone() else {
            // No spool: memory is the whole budget.
            return match self.config.policy {
                SpoolFullPolicy::DropOldest => {
                    while self.memory_bytes + request.body.len() as u64
                        > self.config.memory_max_bytes
                    {
                        if !self.drop_oldest_segment(false).await {
                            break;
                        }
                    }
                    Ok(None)
                }
                SpoolFullPolicy::DropNewest => {
                    self.drop_new(
                        &pending.key,
                        DropReason::BacklogFull,
                        "no spool and the memory queue is full",
                    );
                    Err(())
                }
            };
        };
        let header = SpoolHeader {
            key: pending.key.clone(),
            segment_msn: Some(msn),
        };
        loop {
            match spool
                .write(&self.stream, header.clone(), &request.body)
                .await
            {
                Ok(entry) => return Ok(Some(entry)),
                Err(SpoolError::Full { .. })
                    if spool.policy == SpoolFullPolicy::DropOldest
                        && self.drop_oldest_segment(true).await => {}
                Err(e @ SpoolError::Full { .. }) => {
                    self.drop_new(&pending.key, DropReason::BacklogFull, &e.to_string());
                    return Err(());
                }
                Err(e) => {
                    error!(stream = %self.stream, key = %pending.key, error = %e, "cannot spool a segment");
                    self.drop_new(&pending.key, DropReason::SpoolFailed, "spool write failed");
                    return Err(());
                }
            }
        }
    }

    /// Drops the oldest queued segment (a spooled one if `spooled`, else one in memory).
    pub(super) async fn drop_oldest_segment(&mut self, spooled: bool) -> bool {
        let Some(pos) = self.queue.iter().position(|p| {
            matches!(p.kind, UploadKind::Segment { .. })
                && matches!(p.body, Body::Spooled(_)) == spooled
        }) else {
            return false;
        };
        let Some(old) = self.queue.remove(pos) else {
            return false;
        };
        self.memory_bytes -= old.memory_bytes();
        warn!(stream = %self.stream, key = %old.key, policy = "drop-oldest",
              "upload backlog full: dropping the oldest queued segment");
        self.metrics.segment_dropped(DropReason::BacklogFull);
        self.lose(&old.key);
        self.finish(old, false).await;
        true
    }

    pub(super) fn drop_new(&mut self, key: &str, reason: DropReason, why: &str) {
        warn!(stream = %self.stream, %key, reason = why, "upload backlog full: dropping the new segment");
        self.metrics.segment_dropped(reason);
        Metrics::dec(&self.metrics.uploads_pending);
        self.lose(key);
    }

    pub(super) fn lose(&mut self, key: &str) {
        self.lost.insert(key.to_owned());
    }

    /// The drain timed out: everything still in memory (and in the channel) goes to the spool,
    /// in order, for the next start.
    pub(super) async fn persist_all(&mut self, rx: &mut mpsc::UnboundedReceiver<UploadJob>) {
        while let Ok(job) = rx.try_recv() {
            self.admit(job).await;
        }
        let Some(spool) = self.config.spool.clone() else {
            warn!(stream = %self.stream, left = self.queue.len(), "drain timed out with no spool: unwritten uploads are lost");
            return;
        };
        let mut kept = 0usize;
        let queue = std::mem::take(&mut self.queue);
        for p in queue {
            let Body::Memory(request) = &p.body else {
                kept += 1;
                continue;
            };
            let header = SpoolHeader {
                key: p.key.clone(),
                segment_msn: match p.kind {
                    UploadKind::Segment { msn } => Some(msn),
                    UploadKind::Index => None,
                },
            };
            match spool.write(&self.stream, header, &request.body).await {
                Ok(_) => kept += 1,
                Err(e) => {
                    error!(stream = %self.stream, key = %p.key, error = %e, "cannot spool on shutdown; lost");
                    if let UploadKind::Segment { .. } = p.kind {
                        self.metrics.segment_dropped(DropReason::Shutdown);
                    }
                }
            }
        }
        warn!(stream = %self.stream, kept, "drain timed out: the backlog stays in the spool for the next start");
    }
}
