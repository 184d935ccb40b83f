//! Playlist rendering, warm, without S3: the multivariant playlist of two AZs and a 6-segment
//! chunklist, from parsed indexes as the playlist function holds them after its GETs.
//! `cargo bench -p zonecast-contract`.

use std::hint::black_box;

use chrono::{DateTime, Duration, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use zonecast_contract::{
    Az, IndexSegment, PublicBase, Scheme, StreamIndex, render_chunklist, render_multivariant,
};

const INDEX: &str = include_str!("../testdata/index_az1_live_show.json");

/// The fixture's index with 6 segments, updated just now, and its az2 twin.
fn indexes() -> (StreamIndex, StreamIndex, DateTime<Utc>) {
    let mut az1 = StreamIndex::from_json(INDEX.as_bytes()).expect("fixture index");
    let last = az1.segments.last().cloned().expect("a segment");
    az1.segments = (0..6u64)
        .map(|i| IndexSegment {
            msn: last.msn + i,
            timeline_ms: last.timeline_ms + i as i64 * 2000,
            program_date_time: last.program_date_time + Duration::milliseconds(i as i64 * 2000),
            ..last.clone()
        })
        .collect();
    let now = az1.segments.last().expect("a segment").program_date_time + Duration::seconds(2);
    az1.updated = now;
    let mut az2 = az1.clone();
    az2.az = Az::Az2;
    (az1, az2, now)
}

fn benches(c: &mut Criterion) {
    let (az1, az2, now) = indexes();
    let name = az1.name().expect("name");
    let base = PublicBase::new(Scheme::Https, "media-hls.example.com").expect("base");
    let chunklist = render_chunklist(Az::Az1, &name, Some(&az1), Some(&az2), &base, now);
    assert!(chunklist.is_playlist(), "{chunklist:?}");
    assert!(render_multivariant(&name, Some(&az1), Some(&az2), &base, now).is_playlist());
    let mut g = c.benchmark_group("playlist");
    g.bench_function("multivariant", |b| {
        b.iter(|| render_multivariant(&name, black_box(Some(&az1)), Some(&az2), &base, now))
    });
    g.bench_function("chunklist_6_segments", |b| {
        b.iter(|| {
            render_chunklist(
                Az::Az1,
                &name,
                black_box(Some(&az1)),
                Some(&az2),
                &base,
                now,
            )
        })
    });
    g.finish();
}

criterion_group!(playlist_benches, benches);
criterion_main!(playlist_benches);
