//! The status document from indexes and ingest views: the verdicts are the liveness rule's.

use chrono::{TimeDelta, TimeZone};
use zonecast_contract::{IndexSegment, StreamInfo, StreamState, testing::segment};

use super::*;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 10).unwrap()
}

/// An index of `az` ending at msn `last`, written `age_ms` before t0.
fn index(az: Az, state: StreamState, last: u64, age_ms: i64) -> StreamIndex {
    StreamIndex::builder(az)
        .session(&format!("{az}-s"))
        .state(state)
        .updated(t0() - TimeDelta::milliseconds(age_ms))
        .info(StreamInfo {
            codecs: "avc1.64001f".into(),
            bandwidth: 2_000_000,
            average_bandwidth: 1_500_000,
            ..Default::default()
        })
        .segments([IndexSegment {
            timeline_ms: 0,
            ..segment(last, 2000, t0() - TimeDelta::milliseconds(2000 + age_ms))
        }])
        .build()
}

fn show() -> StreamName {
    StreamName::new("live", "show").unwrap()
}

fn ingest(az: Az, streams: Vec<zonecast_ingest::ops::status_json::StreamView>) -> IngestView {
    IngestView {
        id: az.to_string(),
        pair: 0,
        az,
        health_addr: "127.0.0.1:8935".into(),
        running: true,
        pid: Some(7),
        status: Some(zonecast_ingest::ops::status_json::build_status(
            az,
            7,
            false,
            t0(),
            streams,
        )),
        error: None,
    }
}

#[test]
fn both_live_then_one_draining() {
    let doc = build_stack_status(
        t0(),
        8080,
        vec![
            ingest(
                Az::Az1,
                vec![zonecast_ingest::ops::status_json::StreamView {
                    name: show(),
                    publishing: true,
                    publisher: Some("127.0.0.1:5000".parse().unwrap()),
                    session: Some("az1-s".into()),
                    last_index: Some(index(Az::Az1, StreamState::Live, 10, 100)),
                    relay: None,
                }],
            ),
            IngestView {
                id: "az2".into(),
                pair: 0,
                az: Az::Az2,
                health_addr: "127.0.0.1:8936".into(),
                running: false,
                pid: None,
                status: None,
                error: Some("refused".into()),
            },
        ],
        vec![StreamIndexes {
            name: show(),
            indexes: [
                Ok(Some(index(Az::Az1, StreamState::Live, 10, 100))),
                Ok(Some(index(Az::Az2, StreamState::Draining, 9, 500))),
            ],
        }],
        1,
    );
    let v = serde_json::to_value(&doc).unwrap();
    assert_eq!(v["version"], 1);
    let s = &v["streams"][0];
    assert_eq!(s["name"], "live/show");
    assert_eq!(
        s["urls"]["host"],
        "http://media-hls.localhost:8080/live/show/playlist.m3u8"
    );
    assert_eq!(
        s["urls"]["path"],
        "http://127.0.0.1:8080/live/show/playlist.m3u8"
    );
    let (a1, a2) = (&s["azs"][0], &s["azs"][1]);
    assert_eq!(a1["az"], "az1");
    assert_eq!(a1["verdict"], "live");
    assert_eq!(a1["index_state"], "live");
    assert_eq!(a1["index_age_ms"], 100);
    assert_eq!(a1["last_segment"]["msn"], 10);
    assert_eq!(a1["last_segment"]["age_ms"], 100);
    assert_eq!(a1["bandwidth"], 2_000_000);
    assert_eq!(a1["renditions"][0]["codecs"], "avc1.64001f");
    assert_eq!(
        a1["chunklist"]["host"],
        "http://media-hls-az1.localhost:8080/live/show/chunklist.m3u8"
    );
    assert_eq!(
        a1["chunklist"]["path"],
        "http://127.0.0.1:8080/az1/live/show/chunklist.m3u8"
    );
    assert_eq!(a1["ingest"]["state"], "publishing");
    assert_eq!(a1["ingest"]["publisher"], "127.0.0.1:5000");
    assert_eq!(a2["verdict"], "draining");
    assert_eq!(a2["ingest"], serde_json::Value::Null);
    let i2 = &v["ingests"][1];
    assert_eq!(i2["az"], "az2");
    assert_eq!(i2["running"], false);
    assert_eq!(i2["error"], "refused");
}

#[test]
fn verdicts_follow_the_liveness_rule() {
    let row = |a: Result<Option<StreamIndex>, String>, b| {
        let doc = build_stack_status(
            t0(),
            8080,
            Vec::new(),
            vec![StreamIndexes {
                name: show(),
                indexes: [a, b],
            }],
            1,
        );
        let v = serde_json::to_value(&doc).unwrap();
        (
            v["streams"][0]["azs"][0]["verdict"]
                .as_str()
                .unwrap()
                .to_owned(),
            v["streams"][0]["azs"][1]["verdict"]
                .as_str()
                .unwrap()
                .to_owned(),
        )
    };
    // Stale: not rewritten for 1.5 target durations.
    assert_eq!(
        row(
            Ok(Some(index(Az::Az1, StreamState::Live, 10, 5000))),
            Ok(Some(index(Az::Az2, StreamState::Live, 10, 100)))
        ),
        ("stale".into(), "live".into())
    );
    // Behind: the peer is two segments ahead.
    assert_eq!(
        row(
            Ok(Some(index(Az::Az1, StreamState::Live, 8, 100))),
            Ok(Some(index(Az::Az2, StreamState::Live, 10, 100)))
        ),
        ("behind".into(), "live".into())
    );
    assert_eq!(
        row(
            Ok(Some(index(Az::Az1, StreamState::Waiting, 10, 100))),
            Ok(Some(index(Az::Az2, StreamState::Ended, 10, 100)))
        ),
        ("waiting".into(), "ended".into())
    );
    assert_eq!(
        row(Ok(None), Err("store down".into())),
        ("missing".into(), "unreadable".into())
    );
}

#[test]
fn index_keys_name_streams() {
    assert_eq!(
        stream_of_index_key("az1/live/show/index.json"),
        Some(show())
    );
    assert_eq!(stream_of_index_key("az2/live/show/1-42.ts"), None);
    assert_eq!(
        stream_of_index_key("az1/live/show/720p/index.json").map(|n| n.to_string()),
        Some("live/show/720p".to_owned())
    );
    assert_eq!(stream_of_index_key("az1/live/show/x.y/index.json"), None);
    assert_eq!(stream_of_index_key("az1/live/show/x/y/index.json"), None);
    assert_eq!(stream_of_index_key("az1/live/index.json"), None);
    assert_eq!(stream_of_index_key("az1/l..ve/show/index.json"), None);
}

#[test]
fn a_rendition_is_a_row_of_its_own_under_its_stream() {
    let r = show().with_rendition("360p").unwrap();
    let with_rendition = |az| {
        let mut i = index(az, StreamState::Live, 10, 100);
        i.rendition = Some("360p".into());
        i
    };
    let doc = build_stack_status(
        t0(),
        8080,
        vec![ingest(
            Az::Az1,
            vec![zonecast_ingest::ops::status_json::StreamView {
                name: r.clone(),
                publishing: true,
                publisher: Some("127.0.0.1:5000".parse().unwrap()),
                session: Some("az1-s".into()),
                last_index: Some(with_rendition(Az::Az1)),
                relay: None,
            }],
        )],
        vec![StreamIndexes {
            name: r,
            indexes: [Ok(Some(with_rendition(Az::Az1))), Ok(None)],
        }],
        1,
    );
    let v = serde_json::to_value(&doc).unwrap();
    let s = &v["streams"][0];
    assert_eq!(s["name"], "live/show/360p");
    assert_eq!(s["stream"], "live/show");
    assert_eq!(s["rendition"], "360p");
    assert_eq!(
        s["urls"]["path"],
        "http://127.0.0.1:8080/live/show/playlist.m3u8"
    );
    let a1 = &s["azs"][0];
    assert_eq!(a1["verdict"], "live");
    assert_eq!(a1["renditions"][0]["name"], "360p");
    assert_eq!(
        a1["chunklist"]["path"],
        "http://127.0.0.1:8080/az1/live/show/360p/chunklist.m3u8"
    );
    assert_eq!(a1["ingest"]["rendition"], "360p");
}
