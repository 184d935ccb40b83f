//! Ingest metrics: plain atomics, exposed as Prometheus text on `/metrics`.

use std::{
    collections::VecDeque,
    fmt::Write,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

/// How many recent cut-to-index latencies to keep for the quantiles.
const LATENCY_SAMPLES: usize = 1024;

#[derive(Debug, Default)]
pub struct Metrics {
    pub connections_total: AtomicU64,
    pub connections_open: AtomicU64,
    pub connections_failed: AtomicU64,
    pub publishes_rejected: AtomicU64,
    pub publishes_active: AtomicU64,
    pub rtmp_panics: AtomicU64,
    pub segments_uploaded: AtomicU64,
    pub segment_bytes_uploaded: AtomicU64,
    pub indexes_uploaded: AtomicU64,
    /// Index writes skipped because a newer index of the same stream was already queued.
    pub indexes_superseded: AtomicU64,
    pub upload_retries: AtomicU64,
    pub uploads_pending: AtomicU64,
    cut_to_index_ms: Mutex<VecDeque<u64>>,
}

impl Metrics {
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn dec(counter: &AtomicU64) {
        counter.fetch_sub(1, Ordering::Relaxed);
    }

    /// Time from a segment's cut to the index naming it being written.
    pub fn record_cut_to_index(&self, ms: u64) {
        if let Ok(mut samples) = self.cut_to_index_ms.lock() {
            if samples.len() == LATENCY_SAMPLES {
                samples.pop_front();
            }
            samples.push_back(ms);
        }
    }

    /// The q-quantile (0..=1) of the recent cut-to-index latencies.
    pub fn cut_to_index_quantile(&self, q: f64) -> Option<u64> {
        let mut samples: Vec<u64> = self.cut_to_index_ms.lock().ok()?.iter().copied().collect();
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let rank = ((samples.len() - 1) as f64 * q).round() as usize;
        samples.get(rank).copied()
    }

    pub fn render_prometheus(&self, az: &str) -> String {
        let mut out = String::new();
        let counters = [
            ("zonecast_connections_total", &self.connections_total),
            ("zonecast_connections_open", &self.connections_open),
            (
                "zonecast_connections_failed_total",
                &self.connections_failed,
            ),
            (
                "zonecast_publishes_rejected_total",
                &self.publishes_rejected,
            ),
            ("zonecast_publishes_active", &self.publishes_active),
            ("zonecast_rtmp_panics_total", &self.rtmp_panics),
            ("zonecast_segments_uploaded_total", &self.segments_uploaded),
            (
                "zonecast_segment_bytes_uploaded_total",
                &self.segment_bytes_uploaded,
            ),
            ("zonecast_indexes_uploaded_total", &self.indexes_uploaded),
            (
                "zonecast_indexes_superseded_total",
                &self.indexes_superseded,
            ),
            ("zonecast_upload_retries_total", &self.upload_retries),
            ("zonecast_uploads_pending", &self.uploads_pending),
        ];
        for (name, value) in counters {
            let _ = writeln!(
                out,
                "{name}{{az=\"{az}\"}} {}",
                value.load(Ordering::Relaxed)
            );
        }
        for q in [0.5, 0.95, 0.99] {
            if let Some(v) = self.cut_to_index_quantile(q) {
                let _ = writeln!(
                    out,
                    "zonecast_cut_to_index_ms{{az=\"{az}\",quantile=\"{q}\"}} {v}"
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles() {
        let m = Metrics::default();
        assert_eq!(m.cut_to_index_quantile(0.5), None);
        for v in 1..=100 {
            m.record_cut_to_index(v);
        }
        assert_eq!(m.cut_to_index_quantile(0.5), Some(51));
        assert_eq!(m.cut_to_index_quantile(0.95), Some(95));
        let text = m.render_prometheus("az1");
        assert!(text.contains("zonecast_cut_to_index_ms{az=\"az1\",quantile=\"0.5\"} 51"));
    }
}
