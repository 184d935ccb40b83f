//! Ingest metrics, kept with `prometheus-client` and exposed on `/metrics` in the Prometheus
//! text format (0.0.4), or OpenMetrics 1.0 when the scraper asks for it (Prometheus does).
//!
//! Every series carries the AZ as the label `az`. Counters end in `_total`, latencies are
//! histograms in seconds (`_bucket`/`_sum`/`_count`, so Prometheus can aggregate them across
//! AZs and compute quantiles with `histogram_quantile`). Labels are bounded: a refusal's
//! reason, an upload's kind and outcome; no stream names (publishers choose them).
//!
//! Names the deploy scripts read (`deploy/zonecast-healthcheck.sh`, `zonecast-metrics.sh`):
//! `zonecast_segments_uploaded_total`, `zonecast_indexes_uploaded_total`,
//! `zonecast_upload_retries_total`, `zonecast_uploads_pending`.

use std::{borrow::Cow, time::Duration};

use prometheus_client::{
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::{Registry, Unit},
};

mod labels;

use labels::{DropLabels, RefusalLabels, UploadLabels};
pub use labels::{DropReason, RefusalReason, UploadOutcome, UploadTarget};

/// Upper bounds (seconds) of the latency histograms: a local store answers in milliseconds,
/// S3 in tens to hundreds, a store in trouble in seconds (retries with backoff up to 5 s).
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// Which text format `/metrics` answers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsFormat {
    /// The Prometheus text format 0.0.4: curl, the deploy scripts, promtool.
    Prometheus,
    /// OpenMetrics 1.0 text (`# EOF`, counter families without `_total`), for scrapers that
    /// ask for `application/openmetrics-text` (Prometheus does).
    OpenMetrics,
}

impl MetricsFormat {
    /// The format an `Accept` header asks for.
    pub fn from_accept(accept: Option<&str>) -> Self {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => MetricsFormat::OpenMetrics,
            _ => MetricsFormat::Prometheus,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            MetricsFormat::Prometheus => prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            MetricsFormat::OpenMetrics => {
                "application/openmetrics-text; version=1.0.0; charset=utf-8"
            }
        }
    }
}

/// The ingest's metrics. Cloning a metric handle shares it: the registry holds clones.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub connections_total: Counter,
    pub connections_open: Gauge,
    pub connections_failed: Counter,
    /// Connections the peer closed or reset (a normal end, not a failure).
    pub connections_closed_by_peer: Counter,
    publishes_rejected: Family<RefusalLabels, Counter>,
    pub publishes_active: Gauge,
    pub rtmp_panics: Counter,
    pub segments_uploaded: Counter,
    pub segment_bytes_uploaded: Counter,
    pub indexes_uploaded: Counter,
    /// Index writes skipped because a newer index of the same stream was already queued.
    pub indexes_superseded: Counter,
    pub upload_retries: Counter,
    pub uploads_pending: Gauge,
    /// Bytes in the on-disk upload spool (all streams).
    pub spool_bytes: Gauge,
    /// Segments that will never reach the store, by [`DropReason`]. No index names them.
    spool_dropped: Family<DropLabels, Counter>,
    /// Streams whose encoder went away, within their grace period; set at scrape time.
    pub streams_waiting: Gauge,
    /// Media tags dropped (malformed, unsupported codec, or before their decoder config); the
    /// publish goes on.
    pub media_tags_dropped: Counter,
    /// Segments that start with other tracks or codec parameters than the one before
    /// (`#EXT-X-DISCONTINUITY`).
    pub format_changes: Counter,
    upload_seconds: Family<UploadLabels, Histogram, fn() -> Histogram>,
    cut_to_index_seconds: Histogram,
    /// Relays to the peer the peer accepted (README.md, "The relay").
    pub relay_connects: Counter,
    /// Relay attempts that failed or relays that broke (peer down, refused, dropped).
    pub relay_failures: Counter,
    /// Relay attempts the peer refused because it has a direct publish of the stream.
    pub relay_refused_direct: Counter,
    /// Media messages not relayed because the queue to the peer was full.
    pub relay_dropped: Counter,
    /// Streams being relayed to the peer now.
    pub relays_active: Gauge,
    /// Publishes received from the peer's relay (never relayed again).
    pub relayed_publishes: Counter,
}

/// A metric that counts up by one ([`Metrics::inc`]).
pub trait Incr {
    fn incr(&self);
}

impl Incr for Counter {
    fn incr(&self) {
        self.inc();
    }
}

impl Incr for Gauge {
    fn incr(&self) {
        self.inc();
    }
}

impl Default for Metrics {
    /// Without the `az` label (tests).
    fn default() -> Self {
        Self::with_labels(Vec::new())
    }
}

impl Metrics {
    /// Metrics whose every series carries `az="<az>"`.
    pub fn new(az: zonecast_contract::Az) -> Self {
        Self::with_labels(vec![(Cow::Borrowed("az"), Cow::Borrowed(az.as_str()))])
    }

    fn with_labels(labels: Vec<(Cow<'static, str>, Cow<'static, str>)>) -> Self {
        let mut registry = Registry::with_labels(labels.into_iter());
        let m = Self {
            connections_total: Counter::default(),
            connections_open: Gauge::default(),
            connections_failed: Counter::default(),
            connections_closed_by_peer: Counter::default(),
            publishes_rejected: Family::default(),
            publishes_active: Gauge::default(),
            rtmp_panics: Counter::default(),
            segments_uploaded: Counter::default(),
            segment_bytes_uploaded: Counter::default(),
            indexes_uploaded: Counter::default(),
            indexes_superseded: Counter::default(),
            upload_retries: Counter::default(),
            uploads_pending: Gauge::default(),
            spool_bytes: Gauge::default(),
            spool_dropped: Family::default(),
            streams_waiting: Gauge::default(),
            media_tags_dropped: Counter::default(),
            format_changes: Counter::default(),
            upload_seconds: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            cut_to_index_seconds: latency_histogram(),
            relay_connects: Counter::default(),
            relay_failures: Counter::default(),
            relay_refused_direct: Counter::default(),
            relay_dropped: Counter::default(),
            relays_active: Gauge::default(),
            relayed_publishes: Counter::default(),
            registry: Registry::default(),
        };
        // prometheus-client adds `_total` to counters and the unit to the name.
        let r = &mut registry;
        r.register(
            "zonecast_connections",
            "RTMP connections accepted",
            m.connections_total.clone(),
        );
        r.register(
            "zonecast_connections_open",
            "RTMP connections open now",
            m.connections_open.clone(),
        );
        r.register(
            "zonecast_connections_failed",
            "RTMP connections that ended on an error",
            m.connections_failed.clone(),
        );
        r.register(
            "zonecast_connections_closed_by_peer",
            "RTMP connections the peer closed or reset (a normal end, not counted as failed)",
            m.connections_closed_by_peer.clone(),
        );
        r.register(
            "zonecast_publishes_rejected",
            "Publishes (and connections) refused, by reason",
            m.publishes_rejected.clone(),
        );
        r.register(
            "zonecast_publishes_active",
            "Streams being published on this ingest now",
            m.publishes_active.clone(),
        );
        r.register(
            "zonecast_rtmp_panics",
            "rml_rtmp panics, each contained to its connection",
            m.rtmp_panics.clone(),
        );
        r.register(
            "zonecast_segments_uploaded",
            "Segments written to the store",
            m.segments_uploaded.clone(),
        );
        r.register(
            "zonecast_segment_bytes_uploaded",
            "Bytes of segments written to the store",
            m.segment_bytes_uploaded.clone(),
        );
        r.register(
            "zonecast_indexes_uploaded",
            "Indexes written to the store",
            m.indexes_uploaded.clone(),
        );
        r.register(
            "zonecast_indexes_superseded",
            "Index writes skipped because a newer index of the stream was queued",
            m.indexes_superseded.clone(),
        );
        r.register(
            "zonecast_upload_retries",
            "Store PUTs that failed and are retried",
            m.upload_retries.clone(),
        );
        r.register(
            "zonecast_uploads_pending",
            "Uploads queued and not yet written",
            m.uploads_pending.clone(),
        );
        r.register(
            "zonecast_spool_bytes",
            "Bytes of uploads waiting in the on-disk spool while the store is slow or away",
            m.spool_bytes.clone(),
        );
        r.register(
            "zonecast_spool_dropped",
            "Segments that will never reach the store, by reason (backlog full, spool failed, refused by the store, shutdown); no index names them",
            m.spool_dropped.clone(),
        );
        r.register(
            "zonecast_streams_waiting",
            "Streams whose encoder went away, waiting for it within the grace period",
            m.streams_waiting.clone(),
        );
        r.register(
            "zonecast_media_tags_dropped",
            "Media tags dropped (malformed, unsupported codec, before their decoder config); the publish goes on",
            m.media_tags_dropped.clone(),
        );
        r.register(
            "zonecast_format_changes",
            "Segments starting with other tracks or codec parameters than the one before",
            m.format_changes.clone(),
        );
        r.register_with_unit(
            "zonecast_upload_duration",
            "Duration of each store PUT, by object kind and outcome",
            Unit::Seconds,
            m.upload_seconds.clone(),
        );
        r.register_with_unit(
            "zonecast_cut_to_index",
            "Time from a segment's cut to the index naming it being written",
            Unit::Seconds,
            m.cut_to_index_seconds.clone(),
        );
        r.register(
            "zonecast_relay_connects",
            "Relays of a stream to the peer ingest that the peer accepted",
            m.relay_connects.clone(),
        );
        r.register(
            "zonecast_relay_failures",
            "Relay attempts to the peer that failed, and relays that broke",
            m.relay_failures.clone(),
        );
        r.register(
            "zonecast_relay_refused_direct",
            "Relay attempts the peer refused because a direct publish of the stream is live there",
            m.relay_refused_direct.clone(),
        );
        r.register(
            "zonecast_relay_dropped",
            "Media messages not relayed because the queue to the peer was full",
            m.relay_dropped.clone(),
        );
        r.register(
            "zonecast_relays_active",
            "Streams being relayed to the peer now",
            m.relays_active.clone(),
        );
        r.register(
            "zonecast_relayed_publishes",
            "Publishes received from the peer's relay (never relayed again)",
            m.relayed_publishes.clone(),
        );
        // Every series from 0, so rate() sees the first event.
        for reason in RefusalReason::ALL {
            let _ = m
                .publishes_rejected
                .get_or_create(&RefusalLabels { reason });
        }
        for reason in DropReason::ALL {
            let _ = m.spool_dropped.get_or_create(&DropLabels { reason });
        }
        for kind in [UploadTarget::Segment, UploadTarget::Index] {
            for outcome in [UploadOutcome::Ok, UploadOutcome::Error] {
                let _ = m
                    .upload_seconds
                    .get_or_create(&UploadLabels { kind, outcome });
            }
        }
        Self { registry, ..m }
    }

    pub fn inc(metric: &impl Incr) {
        metric.incr();
    }

    pub fn dec(gauge: &Gauge) {
        gauge.dec();
    }

    /// A publish or connection refused.
    pub fn refused(&self, reason: RefusalReason) {
        self.publishes_rejected
            .get_or_create(&RefusalLabels { reason })
            .inc();
    }

    /// A segment that will never reach the store.
    pub fn segment_dropped(&self, reason: DropReason) {
        self.spool_dropped
            .get_or_create(&DropLabels { reason })
            .inc();
    }

    /// How many segments were dropped for `reason` so far.
    pub fn segments_dropped(&self, reason: DropReason) -> u64 {
        self.spool_dropped
            .get_or_create(&DropLabels { reason })
            .get()
    }

    /// How many refusals of `reason` so far.
    pub fn refusals(&self, reason: RefusalReason) -> u64 {
        self.publishes_rejected
            .get_or_create(&RefusalLabels { reason })
            .get()
    }

    /// One store PUT attempt and how long it took.
    pub fn record_upload(&self, kind: UploadTarget, outcome: UploadOutcome, took: Duration) {
        self.upload_seconds
            .get_or_create(&UploadLabels { kind, outcome })
            .observe(took.as_secs_f64());
    }

    /// Time from a segment's cut to the index naming it being written.
    pub fn record_cut_to_index(&self, took: Duration) {
        self.cut_to_index_seconds.observe(took.as_secs_f64());
    }

    /// The metrics as text, in `format`.
    pub fn render(&self, format: MetricsFormat) -> String {
        let mut out = String::new();
        let encoded = match format {
            MetricsFormat::Prometheus => {
                prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
            }
            MetricsFormat::OpenMetrics => {
                prometheus_client::encoding::text::encode(&mut out, &self.registry)
            }
        };
        // Writing into a String cannot fail.
        debug_assert!(encoded.is_ok());
        out
    }
}

#[cfg(test)]
mod tests;
