//! The metric names and values the deploy scripts and dashboards read.

use super::*;

#[test]
fn the_names_the_deploy_scripts_read_are_there() {
    let m = Metrics::new(zonecast_contract::Az::Az2);
    Metrics::inc(&m.segments_uploaded);
    Metrics::inc(&m.uploads_pending);
    Metrics::inc(&m.uploads_pending);
    Metrics::dec(&m.uploads_pending);
    m.refused(RefusalReason::Auth);
    m.record_cut_to_index(Duration::from_millis(30));
    let text = m.render(MetricsFormat::Prometheus);
    for line in [
        "zonecast_segments_uploaded_total{az=\"az2\"} 1",
        "zonecast_indexes_uploaded_total{az=\"az2\"} 0",
        "zonecast_upload_retries_total{az=\"az2\"} 0",
        "zonecast_uploads_pending{az=\"az2\"} 1",
        "zonecast_streams_waiting{az=\"az2\"} 0",
        "zonecast_spool_bytes{az=\"az2\"} 0",
        "zonecast_spool_dropped_total{az=\"az2\",reason=\"refused\"} 0",
        "# TYPE zonecast_segments_uploaded_total counter",
        "# TYPE zonecast_cut_to_index_seconds histogram",
        "zonecast_cut_to_index_seconds_count{az=\"az2\"} 1",
        "zonecast_cut_to_index_seconds_bucket{az=\"az2\",le=\"0.05\"} 1",
        "zonecast_upload_duration_seconds_count{az=\"az2\",kind=\"segment\",outcome=\"error\"} 0",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    assert!(text.contains("reason=\"auth\""), "{text}");
    assert_eq!(m.refusals(RefusalReason::Auth), 1);
    let om = m.render(MetricsFormat::OpenMetrics);
    assert!(om.ends_with("# EOF\n"), "{om}");
    assert!(om.contains("# TYPE zonecast_segments_uploaded counter"));
}

#[test]
fn accept_header() {
    assert_eq!(MetricsFormat::from_accept(None), MetricsFormat::Prometheus);
    assert_eq!(
        MetricsFormat::from_accept(Some("*/*")),
        MetricsFormat::Prometheus
    );
    assert_eq!(
        MetricsFormat::from_accept(Some(
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
        )),
        MetricsFormat::OpenMetrics
    );
}
