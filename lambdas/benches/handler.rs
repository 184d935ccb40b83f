//! The playlist function's handler, warm and in-process, on the function URL events in
//! `events/` (parsed as the Lambda runtime parses them), with the indexes in memory: what a
//! warm invocation costs besides its two S3 GETs. `cargo bench -p zonecast-lambdas`.

use std::hint::black_box;

use chrono::{DateTime, TimeDelta, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use zonecast_contract::{Az, StreamIndex, StreamInfo};
use zonecast_lambdas::{MemoryIndexSource, handle};

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_740_830_400, 0).unwrap_or_default()
}

/// A live 6-segment index of `live/show` in `az`.
fn index(az: Az) -> StreamIndex {
    StreamIndex::builder(az)
        .session("s1")
        .epoch(7)
        .updated(t0())
        .info(StreamInfo {
            codecs: "avc1.64001f,mp4a.40.2".into(),
            resolution: None,
            bandwidth: 3_400_000,
            average_bandwidth: 3_100_000,
            frame_rate: Some(30.0),
        })
        .window(1..=6, 2000, t0() - TimeDelta::seconds(12), 800_000)
        .build()
}

fn benches(c: &mut Criterion) {
    let mut store = MemoryIndexSource::new();
    store.insert(index(Az::Az1)).expect("index");
    store.insert(index(Az::Az2)).expect("index");
    let now = t0() + TimeDelta::seconds(1);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let events = concat!(env!("CARGO_MANIFEST_DIR"), "/../events/");
    let mut g = c.benchmark_group("playlist_function");
    for (name, file) in [
        ("multivariant", "multivariant_playlist.json"),
        ("chunklist", "chunklist_az1.json"),
    ] {
        let json = std::fs::read_to_string(format!("{events}{file}")).expect("event file");
        let check = lambda_http::request::from_str(&json).expect("event");
        assert_eq!(rt.block_on(handle(check, &store, now)).status(), 200);
        g.bench_function(name, |b| {
            b.iter(|| {
                // Parsing the event is part of every invocation.
                let req = lambda_http::request::from_str(black_box(&json)).expect("event");
                rt.block_on(handle(req, &store, now))
            })
        });
    }
    g.finish();
}

criterion_group!(handler_benches, benches);
criterion_main!(handler_benches);
