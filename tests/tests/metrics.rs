//! `/metrics` is an exposition Prometheus reads: the ingest's real metrics, rendered in both
//! text formats, pass the checker in `zonecast_tests::prom` (prometheus-parse plus the format
//! rules), and the checker fails on malformed text. No stack needed: the end-to-end scrape is
//! in `auth.rs`.

use std::time::Duration;

use zonecast_contract::Az;
use zonecast_ingest::ops::metrics::{
    Metrics, MetricsFormat, RefusalReason, UploadOutcome, UploadTarget,
};
use zonecast_tests::prom::{Format, check};

fn busy_metrics() -> Metrics {
    let m = Metrics::new(Az::Az2);
    for _ in 0..3 {
        Metrics::inc(&m.connections_total);
        Metrics::inc(&m.segments_uploaded);
    }
    Metrics::inc(&m.connections_open);
    m.segment_bytes_uploaded.inc_by(123_456);
    m.refused(RefusalReason::Auth);
    m.refused(RefusalReason::Auth);
    m.refused(RefusalReason::TooManyConnections);
    for ms in [1, 7, 40, 300, 1_500, 70_000] {
        m.record_cut_to_index(Duration::from_millis(ms));
        m.record_upload(
            UploadTarget::Segment,
            UploadOutcome::Ok,
            Duration::from_millis(ms),
        );
    }
    m.record_upload(
        UploadTarget::Index,
        UploadOutcome::Error,
        Duration::from_secs(2),
    );
    m
}

#[test]
fn both_formats_pass_the_checker_with_the_values_recorded() {
    let m = busy_metrics();
    for (format, checker) in [
        (MetricsFormat::Prometheus, Format::Prometheus),
        (MetricsFormat::OpenMetrics, Format::OpenMetrics),
    ] {
        let text = m.render(format);
        let e = check(&text, checker).unwrap_or_else(|err| panic!("{err:#}\n{text}"));
        let az = ("az", "az2");
        assert_eq!(
            e.value("zonecast_segments_uploaded_total", &[az]).unwrap(),
            3.0
        );
        assert_eq!(
            e.value("zonecast_segment_bytes_uploaded_total", &[az])
                .unwrap(),
            123_456.0
        );
        assert_eq!(
            e.value("zonecast_indexes_uploaded_total", &[az]).unwrap(),
            0.0
        );
        assert_eq!(
            e.value("zonecast_upload_retries_total", &[az]).unwrap(),
            0.0
        );
        assert_eq!(e.value("zonecast_uploads_pending", &[az]).unwrap(), 0.0);
        assert_eq!(e.value("zonecast_streams_waiting", &[az]).unwrap(), 0.0);
        assert_eq!(e.value("zonecast_connections_open", &[az]).unwrap(), 1.0);
        assert_eq!(
            e.value(
                "zonecast_publishes_rejected_total",
                &[az, ("reason", "auth")]
            )
            .unwrap(),
            2.0
        );
        assert_eq!(
            e.value(
                "zonecast_publishes_rejected_total",
                &[az, ("reason", "too_many_connections")]
            )
            .unwrap(),
            1.0
        );
        assert_eq!(
            e.value("zonecast_cut_to_index_seconds_count", &[az])
                .unwrap(),
            6.0
        );
        assert_eq!(
            e.value(
                "zonecast_cut_to_index_seconds_bucket",
                &[az, ("le", "0.05")]
            )
            .unwrap(),
            3.0
        );
        // 70 s is past the last bound: only +Inf holds it.
        assert_eq!(
            e.value("zonecast_cut_to_index_seconds_bucket", &[az, ("le", "60")])
                .unwrap(),
            5.0
        );
        let sum = e.value("zonecast_cut_to_index_seconds_sum", &[az]).unwrap();
        assert!((sum - 71.848).abs() < 1e-9, "{sum}");
        assert_eq!(
            e.value(
                "zonecast_upload_duration_seconds_count",
                &[az, ("kind", "index"), ("outcome", "error")]
            )
            .unwrap(),
            1.0
        );
        // 6 samples: 1, 7, 40, 300, 1500 ms and 70 s; the median lies in (0.025, 0.05].
        let p50 = e
            .histogram_quantile("zonecast_cut_to_index_seconds", &[az], 0.5)
            .unwrap();
        assert!(0.025 < p50 && p50 <= 0.05, "{p50}");
        for family in e.families.values() {
            assert!(family.help.len() > 10, "{}: {:?}", family.name, family.help);
        }
    }
}

#[test]
fn the_checker_fails_on_malformed_output() {
    let good = busy_metrics().render(MetricsFormat::Prometheus);
    check(&good, Format::Prometheus).unwrap();
    let om = busy_metrics().render(MetricsFormat::OpenMetrics);
    let breakages: Vec<(&str, String, Format)> = vec![
        (
            "no TYPE",
            good.replace("# TYPE zonecast_uploads_pending gauge\n", ""),
            Format::Prometheus,
        ),
        (
            "no HELP",
            good.lines()
                .filter(|l| !l.starts_with("# HELP zonecast_uploads_pending "))
                .map(|l| format!("{l}\n"))
                .collect(),
            Format::Prometheus,
        ),
        (
            "quantiles of old",
            format!("{good}zonecast_cut_to_index_ms{{az=\"az2\",quantile=\"0.5\"}} 51\n"),
            Format::Prometheus,
        ),
        (
            "bad value",
            good.replace(
                "zonecast_uploads_pending{az=\"az2\"} 0",
                "zonecast_uploads_pending{az=\"az2\"} zero",
            ),
            Format::Prometheus,
        ),
        (
            "unquoted label",
            good.replace("{az=\"az2\"} 0\n", "{az=az2} 0\n"),
            Format::Prometheus,
        ),
        (
            "+Inf != _count",
            good.replace(
                "zonecast_cut_to_index_seconds_count{az=\"az2\"} 6",
                "zonecast_cut_to_index_seconds_count{az=\"az2\"} 7",
            ),
            Format::Prometheus,
        ),
        (
            "no +Inf bucket",
            good.replace(
                "zonecast_cut_to_index_seconds_bucket{az=\"az2\",le=\"+Inf\"} 6\n",
                "",
            ),
            Format::Prometheus,
        ),
        (
            "counter without _total",
            good.replace("zonecast_rtmp_panics_total", "zonecast_rtmp_panics"),
            Format::Prometheus,
        ),
        (
            "junk line",
            format!("{good}hello world\n"),
            Format::Prometheus,
        ),
        (
            "no final newline",
            good.trim_end().to_owned(),
            Format::Prometheus,
        ),
        (
            "duplicate series",
            format!("{good}zonecast_streams_waiting{{az=\"az2\"}} 0\n"),
            Format::Prometheus,
        ),
        (
            "OpenMetrics without # EOF",
            om.replace("# EOF\n", ""),
            Format::OpenMetrics,
        ),
        ("OpenMetrics read as 0.0.4", om.clone(), Format::Prometheus),
    ];
    for (what, text, format) in breakages {
        assert_ne!(
            &text,
            if format == Format::Prometheus {
                &good
            } else {
                &om
            },
            "{what}: nothing broken"
        );
        assert!(check(&text, format).is_err(), "{what}: accepted\n{text}");
    }
}
