//! Hot paths of the ingest, per MB of a real ffmpeg-made FLV: FLV demux + TS mux, and the whole
//! packager (demux, segment clock, mux, index). `cargo bench -p zonecast-ingest`.

use std::hint::black_box;

use chrono::{TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use zonecast_contract::{Az, StreamName};
use zonecast_ingest::{
    media::flv::{FlvDemuxer, FlvReader, FlvTag, FlvTagKind},
    media::frame::{MediaEvent, MediaFrame},
    media::packager::{Packager, PackagerConfig, PackagerEffect},
    media::ts::{TsMuxer, TsMuxerConfig},
};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/ffmpeg5_h264_high_aac_320x240_25fps.flv"
);

fn tags(flv: &[u8]) -> Vec<FlvTag> {
    let mut reader = FlvReader::default();
    reader.push(flv);
    let mut tags = Vec::new();
    while let Ok(Some(tag)) = reader.pull() {
        tags.push(tag);
    }
    tags
}

/// Demux every tag and mux it, cutting 2 s segments at keyframes: the remux path without the
/// segment clock. Returns the TS bytes.
fn remux(tags: &[FlvTag]) -> usize {
    let mut demuxer = FlvDemuxer::default();
    let mut muxer = TsMuxer::new(TsMuxerConfig::default());
    let mut open_at: Option<i64> = None;
    let mut out = 0;
    for tag in tags {
        let dts = i64::from(tag.timestamp);
        let events = match tag.kind {
            FlvTagKind::Video => demuxer.demux_video(dts, &tag.body),
            FlvTagKind::Audio => demuxer.demux_audio(dts, &tag.body),
            FlvTagKind::Script => continue,
        };
        for event in events.unwrap_or_default() {
            let MediaEvent::Frame(frame) = event else {
                continue;
            };
            let cut = matches!(frame, MediaFrame::Video { keyframe: true, .. })
                && open_at.is_none_or(|t| dts - t >= 2000);
            if cut {
                if open_at.is_some() {
                    out += muxer.finish_segment().map_or(0, |b| b.len());
                }
                let _ = muxer.begin_segment(demuxer.video_config(), demuxer.audio_config());
                open_at = Some(dts);
            }
            if open_at.is_some() {
                let _ = muxer.push_frame(&frame);
            }
        }
    }
    out + muxer.finish_segment().map_or(0, |b| b.len())
}

/// The packager as the server drives it, one tag at a time.
fn package(tags: &[FlvTag]) -> usize {
    let now = Utc.timestamp_opt(1_795_000_000, 0).unwrap();
    let name = StreamName::new("live", "bench").unwrap();
    let config = PackagerConfig {
        az: Az::Az1,
        target_ms: 2000,
        window: 6,
    };
    let mut p = Packager::new(config, name, "bench".into(), None, None, now);
    let mut bytes = 0;
    let mut count = |effects: Vec<PackagerEffect>| {
        for e in effects {
            if let PackagerEffect::PutSegment { bytes: b, .. } = e {
                bytes += b.len();
            }
        }
    };
    for tag in tags {
        let effects = match tag.kind {
            FlvTagKind::Video => p.push_video(tag.timestamp, &tag.body, now),
            FlvTagKind::Audio => p.push_audio(tag.timestamp, &tag.body, now),
            FlvTagKind::Script => continue,
        };
        count(effects.unwrap_or_default());
    }
    count(p.finish(zonecast_contract::StreamState::Ended, now));
    bytes
}

fn benches(c: &mut Criterion) {
    let flv = std::fs::read(FIXTURE).expect("fixture");
    let tags = tags(&flv);
    assert!(remux(&tags) > flv.len() / 2, "remux made too little TS");
    assert!(
        package(&tags) > flv.len() / 2,
        "the packager made too little TS"
    );
    let mut g = c.benchmark_group("ingest");
    g.throughput(Throughput::Bytes(flv.len() as u64));
    g.bench_function("flv_demux_ts_mux", |b| b.iter(|| remux(black_box(&tags))));
    g.bench_function("packager", |b| b.iter(|| package(black_box(&tags))));
    g.finish();
}

criterion_group!(remux_benches, benches);
criterion_main!(remux_benches);
