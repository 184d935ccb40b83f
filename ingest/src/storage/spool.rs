//! The on-disk spool behind each stream's in-memory upload queue.
//!
//! While the store is away a stream keeps producing a segment every target duration. The
//! uploader holds a bounded amount in memory (`upload_memory_max_bytes`); segments beyond it
//! go here, one file per upload, until the store answers and they are written in order. The
//! spool is shared by every stream of the ingest and bounded in bytes (`spool_max_bytes`);
//! when it is full, [`SpoolFullPolicy`] decides what goes.
//!
//! Layout: `<spool_dir>/<app>/<stream>/<seq>.job`, `seq` a zero-padded number increasing over
//! the whole spool (also across restarts), so a directory listed in name order is the upload
//! order. A file is one JSON header line ([`SpoolHeader`]) then the object's bytes. Files are
//! written to `.tmp` and renamed, so a crash leaves either a whole file or a `.tmp` that the
//! next start deletes. A restarted ingest finds the files ([`Spool::open`]) and uploads them
//! (`uploader::recover_spool`).

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::ops::metrics::Metrics;

/// What to do when a segment must be spooled and the spool has no room for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum SpoolFullPolicy {
    /// Delete the oldest spooled segments of the stream until the new one fits (the default).
    /// Viewers come back to the live edge when the store answers, with the newest minutes
    /// intact; the oldest part of the outage is gone. No index is ever written naming a
    /// dropped segment: an index whose window holds one is cut to the segments after it
    /// (`#EXT-X-MEDIA-SEQUENCE` jumps forward, which players take as having fallen behind).
    DropOldest,
    /// Keep what is spooled and drop each new segment that does not fit, until the backlog
    /// drains. The start of the outage survives (a recording), the live edge does not: the
    /// indexes that would name the dropped segments are cut the same way.
    DropNewest,
}

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("spool full: {used} of {max} bytes used, {need} more needed")]
    Full { used: u64, max: u64, need: u64 },
    #[error("spool file {path}: {reason}")]
    Corrupt { path: PathBuf, reason: String },
}

/// The kind of a spooled upload, with what the uploader needs to put it back in its queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpoolHeader {
    pub key: String,
    /// `Some(msn)` for a segment, `None` for an index.
    pub segment_msn: Option<u64>,
}

/// One spooled upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolEntry {
    pub path: PathBuf,
    /// Size on disk, counted against `spool_max_bytes`.
    pub bytes: u64,
    pub header: SpoolHeader,
}

/// The uploads of one stream found on disk at startup, oldest first.
#[derive(Debug)]
pub struct RecoveredStream {
    /// `app/stream`.
    pub stream: String,
    pub entries: Vec<SpoolEntry>,
}

/// The spool of one ingest.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    pub policy: SpoolFullPolicy,
    used: AtomicU64,
    next_seq: AtomicU64,
    metrics: Arc<Metrics>,
}

const EXT: &str = "job";

impl Spool {
    /// Opens (creates) the spool in `dir` and returns what an earlier run left in it.
    pub fn open(
        dir: &Path,
        max_bytes: u64,
        policy: SpoolFullPolicy,
        metrics: Arc<Metrics>,
    ) -> Result<(Arc<Self>, Vec<RecoveredStream>), SpoolError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| SpoolError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let mut recovered = Vec::new();
        let (mut used, mut max_seq) = (0u64, 0u64);
        for app in read_dirs(dir)? {
            for stream in read_dirs(&app)? {
                let mut entries = Vec::new();
                for file in std::fs::read_dir(&stream).map_err(io(&stream))? {
                    let path = file.map_err(io(&stream))?.path();
                    if path.extension().is_some_and(|e| e == "tmp") {
                        // A write cut short by a crash.
                        let _ = std::fs::remove_file(&path);
                        continue;
                    }
                    let Some(seq) = seq_of(&path) else { continue };
                    match read_header(&path) {
                        Ok((header, bytes)) => {
                            used += bytes;
                            max_seq = max_seq.max(seq);
                            entries.push((
                                seq,
                                SpoolEntry {
                                    path,
                                    bytes,
                                    header,
                                },
                            ));
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "unreadable spool file; removing it");
                            let _ = std::fs::remove_file(&path);
                        }
                    }
                }
                if entries.is_empty() {
                    continue;
                }
                entries.sort_by_key(|(seq, _)| *seq);
                let name = |p: &Path| {
                    p.file_name()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default()
                };
                recovered.push(RecoveredStream {
                    stream: format!("{}/{}", name(&app), name(&stream)),
                    entries: entries.into_iter().map(|(_, e)| e).collect(),
                });
            }
        }
        metrics.spool_bytes.set(used as i64);
        let spool = Arc::new(Self {
            dir: dir.to_owned(),
            max_bytes,
            policy,
            used: AtomicU64::new(used),
            next_seq: AtomicU64::new(max_seq + 1),
            metrics,
        });
        Ok((spool, recovered))
    }

    /// Bytes spooled now.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    fn reserve(&self, need: u64) -> Result<(), SpoolError> {
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            if used.saturating_add(need) > self.max_bytes {
                return Err(SpoolError::Full {
                    used,
                    max: self.max_bytes,
                    need,
                });
            }
            match self.used.compare_exchange_weak(
                used,
                used + need,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    self.metrics.spool_bytes.set((used + need) as i64);
                    return Ok(());
                }
                Err(now) => used = now,
            }
        }
    }

    fn release(&self, bytes: u64) {
        let before = self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| {
                Some(u.saturating_sub(bytes))
            })
            .unwrap_or(0);
        self.metrics
            .spool_bytes
            .set(before.saturating_sub(bytes) as i64);
    }

    /// Writes one upload for `stream` (`app/stream`). Fails with [`SpoolError::Full`] without
    /// touching the disk when it does not fit.
    pub async fn write(
        &self,
        stream: &str,
        header: SpoolHeader,
        body: &[u8],
    ) -> Result<SpoolEntry, SpoolError> {
        let mut text = serde_json::to_vec(&header).map_err(|e| SpoolError::Corrupt {
            path: self.dir.clone(),
            reason: e.to_string(),
        })?;
        text.push(b'\n');
        let bytes = (text.len() + body.len()) as u64;
        self.reserve(bytes)?;
        let dir = self.dir.join(stream);
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("{seq:020}.{EXT}"));
        let tmp = path.with_extension("tmp");
        let result = async {
            tokio::fs::create_dir_all(&dir).await?;
            text.extend_from_slice(body);
            tokio::fs::write(&tmp, &text).await?;
            tokio::fs::rename(&tmp, &path).await
        }
        .await;
        match result {
            Ok(()) => Ok(SpoolEntry {
                path,
                bytes,
                header,
            }),
            Err(source) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                self.release(bytes);
                Err(SpoolError::Io { path, source })
            }
        }
    }

    /// The object's bytes.
    pub async fn read(&self, entry: &SpoolEntry) -> Result<Bytes, SpoolError> {
        let data = tokio::fs::read(&entry.path)
            .await
            .map_err(|source| SpoolError::Io {
                path: entry.path.clone(),
                source,
            })?;
        let start = data
            .iter()
            .position(|b| *b == b'\n')
            .ok_or_else(|| SpoolError::Corrupt {
                path: entry.path.clone(),
                reason: "no header line".into(),
            })?;
        Ok(Bytes::from(data).slice(start + 1..))
    }

    /// Deletes a spooled upload (written, or dropped).
    pub async fn remove(&self, entry: &SpoolEntry) {
        if let Err(e) = tokio::fs::remove_file(&entry.path).await {
            tracing::warn!(path = %entry.path.display(), error = %e, "cannot delete spool file");
        }
        self.release(entry.bytes);
    }
}

fn read_dirs(dir: &Path) -> Result<Vec<PathBuf>, SpoolError> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|source| SpoolError::Io {
        path: dir.to_owned(),
        source,
    })?;
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            out.push(entry.path());
        }
    }
    Ok(out)
}

fn seq_of(path: &Path) -> Option<u64> {
    if path.extension()? != EXT {
        return None;
    }
    path.file_stem()?.to_str()?.parse().ok()
}

/// Reads the header line of a spool file; returns it with the file's size.
fn read_header(path: &Path) -> Result<(SpoolHeader, u64), SpoolError> {
    use std::io::BufRead;
    let corrupt = |reason: String| SpoolError::Corrupt {
        path: path.to_owned(),
        reason,
    };
    let io = |source| SpoolError::Io {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let bytes = file.metadata().map_err(io)?.len();
    let mut line = Vec::new();
    // A header is a key and a number: far below 4 KiB. Do not read a whole segment looking
    // for a newline.
    std::io::BufReader::new(std::io::Read::take(file, 4096))
        .read_until(b'\n', &mut line)
        .map_err(io)?;
    if line.last() != Some(&b'\n') {
        return Err(corrupt("no header line".into()));
    }
    let header = serde_json::from_slice(&line).map_err(|e| corrupt(e.to_string()))?;
    Ok((header, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("zc-spool-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn header(msn: u64) -> SpoolHeader {
        SpoolHeader {
            key: format!("az1/live/show/1-{msn}.ts"),
            segment_msn: Some(msn),
        }
    }

    #[tokio::test]
    async fn writes_reads_bounds_and_recovers_in_order() {
        let d = dir("basic");
        let metrics = Arc::new(Metrics::default());
        let (spool, recovered) =
            Spool::open(&d, 300, SpoolFullPolicy::DropOldest, metrics.clone()).unwrap();
        assert!(recovered.is_empty());
        let a = spool
            .write("live/show", header(1), &[1; 100])
            .await
            .unwrap();
        let b = spool
            .write("live/show", header(2), &[2; 100])
            .await
            .unwrap();
        assert_eq!(spool.used(), a.bytes + b.bytes);
        assert_eq!(metrics.spool_bytes.get(), spool.used() as i64);
        let err = spool
            .write("live/show", header(3), &[3; 100])
            .await
            .unwrap_err();
        assert!(matches!(err, SpoolError::Full { .. }), "{err}");
        assert_eq!(&spool.read(&a).await.unwrap()[..], &[1; 100][..]);
        spool.remove(&a).await;
        assert_eq!(spool.used(), b.bytes);
        let c = spool
            .write("live/show", header(3), &[3; 100])
            .await
            .unwrap();
        drop(spool);
        // A stale temporary file from a crash is cleaned up.
        std::fs::write(d.join("live/show/00000000000000000099.tmp"), b"x").unwrap();
        let (spool, recovered) =
            Spool::open(&d, 1000, SpoolFullPolicy::DropOldest, metrics).unwrap();
        assert_eq!(recovered.len(), 1);
        assert_eq!(recovered[0].stream, "live/show");
        let msns: Vec<_> = recovered[0]
            .entries
            .iter()
            .map(|e| e.header.segment_msn)
            .collect();
        assert_eq!(msns, vec![Some(2), Some(3)]);
        assert_eq!(spool.used(), b.bytes + c.bytes);
        assert!(!d.join("live/show/00000000000000000099.tmp").exists());
        // New writes sort after the recovered ones.
        let d4 = spool.write("live/show", header(4), &[4; 10]).await.unwrap();
        assert!(d4.path > c.path);
        let _ = std::fs::remove_dir_all(&d);
    }
}
