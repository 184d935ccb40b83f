//! Runs the handler on the function URL events in `events/` (what CloudFront with OAC sends),
//! the way the Lambda runtime would: `lambda_http::request::from_str`, then `handle`.

use std::path::PathBuf;

use chrono::{DateTime, TimeDelta, Utc};
use lambda_http::Body;
use zonecast_contract::{Az, StreamIndex, StreamInfo};
use zonecast_lambdas::{MemoryIndexSource, handle};

/// Every event file and what the function must answer: status, and the prefix every URI in
/// the playlist starts with.
const EXPECTED: &[(&str, u16, &[&str])] = &[
    (
        "multivariant_playlist.json",
        200,
        &[
            "https://media-hls-az1.example.com/live/show/chunklist.m3u8",
            "https://media-hls-az2.example.com/live/show/chunklist.m3u8",
        ],
    ),
    (
        "chunklist_az1.json",
        200,
        &["https://media-hls-az1.example.com/live/show/"],
    ),
    (
        "chunklist_path_mode.json",
        200,
        &["https://d111111abcdef8.cloudfront.net/az2/live/show/"],
    ),
    (
        "chunklist_rendition.json",
        200,
        &["https://media-hls-az2.example.com/live/abr/720p/"],
    ),
    ("unknown_stream.json", 404, &[]),
    ("malformed_path.json", 400, &[]),
];

fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events")
}

fn t0() -> DateTime<Utc> {
    "2025-03-01T12:00:00Z".parse().unwrap()
}

fn index(az: Az) -> StreamIndex {
    StreamIndex::builder(az)
        .session("s1")
        .epoch(7)
        .updated(t0())
        .info(StreamInfo {
            codecs: "avc1.64001f,mp4a.40.2".into(),
            resolution: None,
            bandwidth: 1_000_000,
            average_bandwidth: 900_000,
            frame_rate: None,
        })
        .window(1..=3, 2000, t0() - TimeDelta::seconds(6), 250_000)
        .build()
}

#[tokio::test]
async fn every_event_gets_its_expected_answer() {
    let mut store = MemoryIndexSource::new();
    store.insert(index(Az::Az1)).unwrap();
    store.insert(index(Az::Az2)).unwrap();
    let mut rendition = index(Az::Az2);
    rendition.stream = "abr".into();
    rendition.rendition = Some("720p".into());
    store.insert(rendition).unwrap();
    let now = t0() + TimeDelta::seconds(1);
    for (file, status, prefixes) in EXPECTED {
        let json = std::fs::read_to_string(events_dir().join(file)).unwrap();
        let req = lambda_http::request::from_str(&json)
            .unwrap_or_else(|e| panic!("{file} is not a function URL event: {e}"));
        let resp = handle(req, &store, now).await;
        assert_eq!(resp.status().as_u16(), *status, "{file}");
        assert_eq!(
            resp.headers()
                .get("access-control-allow-origin")
                .and_then(|v| v.to_str().ok()),
            Some("*"),
            "{file}: CORS"
        );
        let body = match resp.body() {
            Body::Text(t) => t.clone(),
            Body::Empty => String::new(),
            Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
            _ => String::new(),
        };
        let uris: Vec<&str> = body
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        if *status != 200 {
            assert!(
                uris.iter().all(|u| !u.starts_with("http")),
                "{file}: {body}"
            );
            continue;
        }
        assert!(!uris.is_empty(), "{file}: no URIs in\n{body}");
        if prefixes.len() == uris.len() && prefixes.iter().all(|p| p.ends_with(".m3u8")) {
            assert_eq!(uris, *prefixes, "{file}");
        } else {
            assert!(
                uris.iter().all(|u| u.starts_with(prefixes[0])),
                "{file}: URIs not on {}: {uris:?}",
                prefixes[0]
            );
        }
    }
}

#[test]
fn every_event_file_has_an_expectation() {
    let mut files: Vec<String> = std::fs::read_dir(events_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".json"))
        .collect();
    files.sort();
    for f in &files {
        assert!(
            EXPECTED.iter().any(|(name, _, _)| name == f),
            "events/{f} has no expectation in lambdas/tests/events.rs"
        );
    }
    for (name, _, _) in EXPECTED {
        assert!(
            files.contains(&name.to_string()),
            "events/{name} is missing"
        );
    }
}
