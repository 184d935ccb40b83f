//! The `/status` document: its shape is a contract with operators' scripts, so the tests
//! check the JSON itself, not only the Rust values.

use chrono::TimeZone;
use zonecast_contract::{Resolution, StreamInfo};

use super::*;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 10).unwrap()
}

fn index(stream: &str, last: u64) -> StreamIndex {
    StreamIndex::builder(Az::Az1)
        .stream(stream)
        .session("az1-s-0")
        .updated(t0())
        .info(StreamInfo {
            codecs: "avc1.64001f,mp4a.40.2".into(),
            resolution: Some(Resolution {
                width: 1280,
                height: 720,
            }),
            bandwidth: 3_100_000,
            average_bandwidth: 2_900_000,
            frame_rate: Some(30.0),
        })
        // The last segment ends 1.5 s before t0.
        .window(
            last - 1..=last,
            2000,
            t0() - TimeDelta::milliseconds(5500),
            1,
        )
        .build()
}

fn name(stream: &str) -> StreamName {
    StreamName::new("live", stream).unwrap()
}

#[test]
fn a_publishing_and_a_waiting_stream() {
    let views = vec![
        StreamView {
            name: name("zeta"),
            publishing: false,
            publisher: None,
            session: None,
            last_index: Some(index("zeta", 7)),
            relay: None,
        },
        StreamView {
            name: name("show"),
            publishing: true,
            publisher: Some("127.0.0.1:50312".parse().unwrap()),
            session: Some("az1-s-1".into()),
            last_index: Some(index("show", 42)),
            relay: None,
        },
    ];
    let doc = build_status(Az::Az1, 4242, false, t0(), views);
    let v = serde_json::to_value(&doc).unwrap();
    assert_eq!(v["version"], 1);
    assert_eq!(v["az"], "az1");
    assert_eq!(v["pid"], 4242);
    assert_eq!(v["draining"], false);
    assert_eq!(v["now"], "2026-01-01T00:00:10Z");
    let show = &v["streams"][0];
    assert_eq!(show["name"], "live/show");
    assert_eq!(show["app"], "live");
    assert_eq!(show["stream"], "show");
    assert_eq!(show["state"], "publishing");
    assert_eq!(show["publisher"], "127.0.0.1:50312");
    assert_eq!(show["session"], "az1-s-1");
    assert_eq!(show["last_segment"]["msn"], 42);
    assert_eq!(show["last_segment"]["age_ms"], 1500);
    assert_eq!(show["last_segment"]["duration_ms"], 2000);
    assert_eq!(show["bandwidth"], 3_100_000);
    assert_eq!(show["average_bandwidth"], 2_900_000);
    let r = &show["renditions"];
    assert_eq!(r.as_array().unwrap().len(), 1);
    assert_eq!(r[0]["name"], "source");
    assert_eq!(r[0]["codecs"], "avc1.64001f,mp4a.40.2");
    assert_eq!(r[0]["resolution"], "1280x720");
    assert_eq!(r[0]["frame_rate"], 30.0);
    let zeta = &v["streams"][1];
    assert_eq!(zeta["state"], "waiting");
    assert_eq!(zeta["publisher"], serde_json::Value::Null);
    // No session of its own: the index's.
    assert_eq!(zeta["session"], "az1-s-0");
    // It parses back (the local status page reads it).
    let back: IngestStatus = serde_json::from_value(v).unwrap();
    assert_eq!(back, doc);
}

#[test]
fn draining_and_before_the_first_segment() {
    let views = vec![StreamView {
        name: name("show"),
        publishing: true,
        publisher: Some("127.0.0.1:1".parse().unwrap()),
        session: Some("s".into()),
        last_index: None,
        relay: Some(crate::relay::RelayStatus {
            state: crate::relay::RelayState::RefusedPeerHasDirect,
            peer: Some("10.0.2.15:1935".into()),
            relayed_from: None,
            connects: 0,
            failures: 0,
            dropped: 0,
            last_error: None,
        }),
    }];
    let v = serde_json::to_value(build_status(Az::Az2, 1, true, t0(), views)).unwrap();
    assert_eq!(v["draining"], true);
    let s = &v["streams"][0];
    assert_eq!(s["state"], "draining");
    assert_eq!(s["last_segment"], serde_json::Value::Null);
    assert_eq!(s["bandwidth"], 0);
    assert_eq!(s["renditions"], serde_json::json!([]));
    assert_eq!(s["relay"]["state"], "refused-peer-has-direct");
    assert_eq!(s["relay"]["peer"], "10.0.2.15:1935");
}

#[test]
fn a_segment_from_the_future_has_age_zero() {
    let mut i = index("show", 3);
    i.segments.last_mut().unwrap().program_date_time = t0() + TimeDelta::seconds(5);
    assert_eq!(last_segment(&i, t0()).unwrap().age_ms, 0);
}

#[test]
fn each_rendition_is_an_entry_named_after_it() {
    let mut i = index("show", 7);
    i.rendition = Some("360p".into());
    let views = vec![
        StreamView {
            name: name("show").with_rendition("360p").unwrap(),
            publishing: true,
            publisher: None,
            session: None,
            last_index: Some(i),
            relay: None,
        },
        StreamView {
            name: name("show"),
            publishing: true,
            publisher: None,
            session: None,
            last_index: Some(index("show", 7)),
            relay: None,
        },
    ];
    let doc = build_status(Az::Az1, 1, false, t0(), views);
    let v = serde_json::to_value(&doc).unwrap();
    let plain = &v["streams"][0];
    assert_eq!(plain["name"], "live/show");
    assert!(plain.get("rendition").is_none(), "{plain}");
    assert_eq!(plain["renditions"][0]["name"], "source");
    let r = &v["streams"][1];
    assert_eq!(r["name"], "live/show/360p");
    assert_eq!((&r["app"], &r["stream"]), (&"live".into(), &"show".into()));
    assert_eq!(r["rendition"], "360p");
    assert_eq!(r["renditions"][0]["name"], "360p");
}
