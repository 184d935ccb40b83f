//! The monitor against recorded indexes (a store in memory that lists its streams as the S3
//! lister does): each case asserts the EMF documents exactly.

use std::collections::BTreeMap;

use chrono::TimeDelta;
use zonecast_contract::{Az, StreamIndex, StreamName, StreamState};

use super::*;

const STACK: &str = "zonecast-test";

fn now() -> DateTime<Utc> {
    "2026-03-01T12:00:00Z".parse().unwrap()
}

/// A bucket of indexes: lists `<app>/<stream>` per AZ and answers each AZ's rendition list
/// with the renditions it holds an index of (what `renditions.json` says).
#[derive(Default)]
struct Recorded {
    indexes: BTreeMap<(Az, StreamName), StreamIndex>,
}

impl Recorded {
    fn with(indexes: impl IntoIterator<Item = StreamIndex>) -> Self {
        let indexes = indexes
            .into_iter()
            .map(|i| ((i.az, i.name().unwrap()), i))
            .collect();
        Self { indexes }
    }
}

impl IndexSource for Recorded {
    async fn read_index(
        &self,
        az: Az,
        name: &StreamName,
    ) -> Result<Option<StreamIndex>, IndexSourceError> {
        Ok(self.indexes.get(&(az, name.clone())).cloned())
    }

    async fn read_renditions(
        &self,
        az: Az,
        name: &StreamName,
    ) -> Result<Vec<StreamName>, IndexSourceError> {
        let base = name.base();
        Ok(self
            .indexes
            .keys()
            .filter(|(a, n)| *a == az && n.rendition().is_some() && n.base() == base)
            .map(|(_, n)| n.clone())
            .collect())
    }
}

impl StreamLister for Recorded {
    async fn list_streams(&self, az: Az) -> Result<Vec<StreamName>, MonitorError> {
        let mut names: Vec<StreamName> = self
            .indexes
            .keys()
            .filter(|(a, _)| *a == az)
            .map(|(_, n)| n.base())
            .collect();
        names.dedup();
        Ok(names)
    }
}

/// A live index of `stream` (`live/<stream>`, rendition `r` if any) in `az`, last msn 102 of a
/// 2 s target, written `age_ms` before [`now`].
fn index(az: Az, stream: &str, r: Option<&str>, age_ms: i64) -> StreamIndex {
    let updated = now() - TimeDelta::milliseconds(age_ms);
    let mut b = StreamIndex::builder(az)
        .stream(stream)
        .updated(updated)
        .window(100..=102, 2000, updated - TimeDelta::seconds(6), 1000);
    if let Some(r) = r {
        b = b.rendition(r);
    }
    b.build()
}

fn state(mut i: StreamIndex, state: StreamState) -> StreamIndex {
    i.state = state;
    i
}

fn config() -> MonitorConfig {
    MonitorConfig {
        stack: STACK.into(),
        abandoned_after: DEFAULT_ABANDONED_AFTER,
    }
}

async fn run(store: &Recorded) -> (Report, Vec<Value>) {
    monitor(store, &config(), now()).await.unwrap()
}

/// The three EMF documents a run prints.
fn emf(two: u64, one: u64, none: u64, age_az1: f64, age_az2: f64) -> Vec<Value> {
    let ts = now().timestamp_millis();
    let age = |az: &str, age: f64| {
        json!({
            "_aws": {
                "Timestamp": ts,
                "CloudWatchMetrics": [{
                    "Namespace": "ZoneCast",
                    "Dimensions": [["Stack", "AZ"]],
                    "Metrics": [{ "Name": "OldestIndexAge", "Unit": "Seconds" }],
                }],
            },
            "Stack": STACK,
            "AZ": az,
            "OldestIndexAge": age,
        })
    };
    vec![
        json!({
            "_aws": {
                "Timestamp": ts,
                "CloudWatchMetrics": [{
                    "Namespace": "ZoneCast",
                    "Dimensions": [["Stack"]],
                    "Metrics": [
                        { "Name": "StreamsServedByTwoAzs", "Unit": "Count" },
                        { "Name": "StreamsServedByOneAz", "Unit": "Count" },
                        { "Name": "StreamsServedByNoAz", "Unit": "Count" },
                    ],
                }],
            },
            "Stack": STACK,
            "StreamsServedByTwoAzs": two,
            "StreamsServedByOneAz": one,
            "StreamsServedByNoAz": none,
        }),
        age("az1", age_az1),
        age("az2", age_az2),
    ]
}

#[tokio::test]
async fn an_empty_bucket_is_all_zeros() {
    // A fresh stack: every figure is 0, so no alarm can fire.
    let (report, docs) = run(&Recorded::default()).await;
    assert_eq!(docs, emf(0, 0, 0, 0.0, 0.0));
    assert_eq!(report, Report::default());
}

#[tokio::test]
async fn two_azs_live() {
    let store = Recorded::with([
        index(Az::Az1, "show", None, 500),
        index(Az::Az2, "show", None, 1250),
    ]);
    assert_eq!(run(&store).await.1, emf(1, 0, 0, 0.5, 1.25));
}

#[tokio::test]
async fn one_az_dead() {
    // az2 stopped writing 10 s ago: stale after 3 s (1.5 target durations).
    let store = Recorded::with([
        index(Az::Az1, "show", None, 500),
        index(Az::Az2, "show", None, 10_000),
    ]);
    assert_eq!(run(&store).await.1, emf(0, 1, 0, 0.5, 10.0));
}

#[tokio::test]
async fn one_az_behind_is_one_az() {
    // az2 fresh but its feed stopped: az1 is two segments ahead (the rule's "behind").
    let mut behind = index(Az::Az2, "show", None, 500);
    behind.segments.truncate(1);
    let store = Recorded::with([index(Az::Az1, "show", None, 500), behind]);
    assert_eq!(run(&store).await.1, emf(0, 1, 0, 0.5, 0.5));
}

#[tokio::test]
async fn a_stream_on_one_az_only_from_the_start() {
    let store = Recorded::with([index(Az::Az2, "show", None, 500)]);
    assert_eq!(run(&store).await.1, emf(0, 1, 0, 0.0, 0.5));
}

#[tokio::test]
async fn both_azs_dead() {
    let store = Recorded::with([
        index(Az::Az1, "show", None, 30_000),
        state(index(Az::Az2, "show", None, 5_000), StreamState::Draining),
    ]);
    // A draining index is final: it does not count for the age.
    assert_eq!(run(&store).await.1, emf(0, 0, 1, 30.0, 0.0));
}

#[tokio::test]
async fn renditions_with_one_missing_in_one_az() {
    // live/abr: 720p and 360p in az1, 720p only in az2. az2's multivariant playlist would
    // lack 360p, so az2 is dead (incomplete) and the stream has one AZ.
    let store = Recorded::with([
        index(Az::Az1, "abr", Some("720p"), 500),
        index(Az::Az1, "abr", Some("360p"), 1500),
        index(Az::Az2, "abr", Some("720p"), 750),
    ]);
    let (report, docs) = run(&store).await;
    assert_eq!(docs, emf(0, 1, 0, 1.5, 0.75));
    assert_eq!((report.two_azs, report.one_az), (0, 1));
}

#[tokio::test]
async fn renditions_in_both_azs() {
    let store = Recorded::with([
        index(Az::Az1, "abr", Some("720p"), 500),
        index(Az::Az1, "abr", Some("360p"), 500),
        index(Az::Az2, "abr", Some("720p"), 500),
        index(Az::Az2, "abr", Some("360p"), 2000),
    ]);
    assert_eq!(run(&store).await.1, emf(1, 0, 0, 0.5, 2.0));
}

#[tokio::test]
async fn ended_and_abandoned_streams_are_not_counted() {
    let hours = |h: i64| h * 3_600_000;
    let store = Recorded::with([
        // Ended in both: the publisher stopped.
        state(index(Az::Az1, "ended", None, 60_000), StreamState::Ended),
        state(index(Az::Az2, "ended", None, 60_000), StreamState::Ended),
        // Both ingests lost it two hours ago and the encoder never came back.
        index(Az::Az1, "gone", None, hours(2)),
        index(Az::Az2, "gone", None, hours(2) + 500),
        // Waiting for its encoder in both AZs: served.
        state(index(Az::Az1, "wait", None, 1000), StreamState::Waiting),
        state(index(Az::Az2, "wait", None, 1000), StreamState::Waiting),
    ]);
    let (report, docs) = run(&store).await;
    assert_eq!(docs, emf(1, 0, 0, 1.0, 1.0));
    assert_eq!(report.idle, 2);
}

#[tokio::test]
async fn every_case_in_one_bucket() {
    let store = Recorded::with([
        index(Az::Az1, "two", None, 500),
        index(Az::Az2, "two", None, 500),
        index(Az::Az1, "one", None, 500),
        index(Az::Az2, "one", None, 10_000),
        index(Az::Az1, "none", None, 20_000),
        index(Az::Az2, "none", None, 20_000),
        index(Az::Az1, "abr", Some("720p"), 500),
        index(Az::Az1, "abr", Some("360p"), 500),
        index(Az::Az2, "abr", Some("720p"), 500),
    ]);
    let (report, docs) = run(&store).await;
    assert_eq!(docs, emf(1, 2, 1, 20.0, 20.0));
    assert_eq!(report.idle, 0);
}

#[tokio::test]
async fn a_failed_read_fails_the_run() {
    struct Broken;
    impl IndexSource for Broken {
        async fn read_index(
            &self,
            _az: Az,
            _name: &StreamName,
        ) -> Result<Option<StreamIndex>, IndexSourceError> {
            Err(IndexSourceError::Other("throttled".into()))
        }
    }
    impl StreamLister for Broken {
        async fn list_streams(&self, _az: Az) -> Result<Vec<StreamName>, MonitorError> {
            Ok(vec![StreamName::new("live", "show").unwrap()])
        }
    }
    let err = monitor(&Broken, &config(), now()).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "reading az1 live/show: index source: throttled"
    );
}

#[test]
fn emf_is_one_line_per_document() {
    for doc in Report::default().emf(STACK, now()) {
        assert!(!doc.to_string().contains('\n'));
    }
}
