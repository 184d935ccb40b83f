//! When each segment is listed: polls every stream's playlist (nginx-rtmp's `index.m3u8`) or
//! index (ZoneCast's `index.json` as the embedded store keeps it on disk) every few
//! milliseconds and records when a segment first appears. The same method for both servers.

use std::{
    collections::HashSet,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant, SystemTime},
};

use zonecast_contract::StreamIndex;

/// How often the files are looked at (a stat each; read only when changed).
pub const POLL: Duration = Duration::from_millis(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListFormat {
    /// nginx-rtmp's HLS media playlist.
    M3u8,
    /// ZoneCast's stream index.
    IndexJson,
}

/// One listed segment.
#[derive(Debug, Clone)]
pub struct Listed {
    /// File name of the segment, relative to the list's directory.
    pub file: String,
    /// End of the segment on the stream's timeline (sum of the durations listed up to it).
    pub end_ms: u64,
    pub duration_ms: u64,
    /// Bytes, when the list says (ZoneCast's index does).
    pub bytes: Option<u64>,
    /// When the poller first saw it listed.
    pub seen: Instant,
}

#[derive(Debug, Default)]
struct StreamState {
    modified: Option<(SystemTime, u64)>,
    known: HashSet<String>,
    listed: Vec<Listed>,
}

/// Polls the lists of many streams on a thread until stopped.
pub struct Watcher {
    stop: Arc<AtomicBool>,
    state: Arc<Mutex<Vec<StreamState>>>,
    thread: Option<JoinHandle<()>>,
}

impl Watcher {
    pub fn start(paths: Vec<PathBuf>, format: ListFormat) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let state = Arc::new(Mutex::new(
            (0..paths.len()).map(|_| StreamState::default()).collect(),
        ));
        let thread = {
            let (stop, state) = (stop.clone(), state.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    for (i, path) in paths.iter().enumerate() {
                        poll(path, format, i, &state);
                    }
                    std::thread::sleep(POLL);
                }
            })
        };
        Watcher {
            stop,
            state,
            thread: Some(thread),
        }
    }

    /// Listed media per stream, in milliseconds.
    pub fn listed_ms(&self) -> Vec<u64> {
        self.state
            .lock()
            .map(|s| {
                s.iter()
                    .map(|st| st.listed.last().map_or(0, |l| l.end_ms))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Stops polling; the segments each stream listed, in order.
    pub fn finish(mut self) -> Vec<Vec<Listed>> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.state
            .lock()
            .map(|mut s| {
                s.iter_mut()
                    .map(|st| std::mem::take(&mut st.listed))
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn poll(path: &PathBuf, format: ListFormat, i: usize, state: &Mutex<Vec<StreamState>>) {
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    let stamp = (
        meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        meta.len(),
    );
    if state
        .lock()
        .map(|s| s[i].modified == Some(stamp))
        .unwrap_or(true)
    {
        return;
    }
    let Ok(text) = std::fs::read(path) else {
        return;
    };
    let now = Instant::now();
    // (file, duration ms, bytes) in list order; None: caught mid-write, look again.
    let entries: Option<Vec<(String, u64, Option<u64>)>> = match format {
        ListFormat::M3u8 => parse_m3u8(&String::from_utf8_lossy(&text)),
        ListFormat::IndexJson => StreamIndex::from_json(&text).ok().map(|index| {
            index
                .segments
                .iter()
                .map(|s| {
                    let id = zonecast_contract::keys::SegmentId {
                        epoch: index.epoch,
                        msn: s.msn,
                    };
                    (
                        zonecast_contract::keys::segment_file(id),
                        u64::from(s.duration_ms),
                        Some(s.bytes),
                    )
                })
                .collect()
        }),
    };
    let Some(entries) = entries else { return };
    let Ok(mut s) = state.lock() else { return };
    let st = &mut s[i];
    st.modified = Some(stamp);
    let mut end = 0;
    for (file, duration_ms, bytes) in entries {
        end += duration_ms;
        if st.known.insert(file.clone()) {
            st.listed.push(Listed {
                file,
                end_ms: end,
                duration_ms,
                bytes,
                seen: now,
            });
        }
    }
}

/// `#EXTINF:<seconds>,` then the URI; None for a playlist without a final newline (caught
/// mid-write).
fn parse_m3u8(text: &str) -> Option<Vec<(String, u64, Option<u64>)>> {
    if !text.ends_with('\n') {
        return None;
    }
    let mut out = Vec::new();
    let mut duration = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("#EXTINF:") {
            let secs: f64 = rest.split(',').next()?.trim().parse().ok()?;
            duration = Some((secs * 1000.0).round() as u64);
        } else if !line.starts_with('#') && !line.is_empty() {
            out.push((line.to_string(), duration.take()?, None));
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn m3u8_entries_in_order() {
        let text = "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:2.000,\n0.ts\n#EXTINF:2.033,\n1.ts\n";
        let e = parse_m3u8(text).unwrap();
        assert_eq!(
            e,
            vec![("0.ts".into(), 2000, None), ("1.ts".into(), 2033, None)]
        );
        assert!(parse_m3u8("#EXTM3U\n#EXTINF:2.0,\n0.t").is_none());
    }
}
