//! Every valid stream shape goes on (issue 7): real ffmpeg FLV fixtures (see
//! `fixtures/README.md`), and shapes made from them tag by tag the way relays and encoders
//! produce them, through the sans-IO packager. ffprobe decodes every segment; both AZs must
//! produce the same segments byte for byte.

use std::{path::PathBuf, process::Command};

use bytes::Bytes;
use chrono::{DateTime, Duration, TimeZone, Utc};
use zonecast_contract::{Az, StreamIndex, StreamName, StreamState};
use zonecast_ingest::{
    media::flv::{FlvReader, FlvTag, FlvTagKind},
    media::packager::{Packager, PackagerConfig, PackagerEffect, PackagerStats},
};

const HIGH_48K: &str = "ffmpeg5_h264_high_aac_320x240_25fps.flv";
const MAIN_MONO_44K: &str = "ffmpeg5_h264_main_aac_mono_44100hz.flv";
const TEE: &str = "ffmpeg5_tee_no_global_header_h264_aac_320x240.flv";
const CONCAT: &str = "ffmpeg5_concat_copy_h264_320x240_then_160x120.flv";

/// Audio and video tags of a fixture (script data dropped: RTMP's `@setDataFrame` never
/// reaches the packager).
fn tags(name: &str) -> Vec<FlvTag> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut reader = FlvReader::default();
    reader.push(&data);
    let mut out = Vec::new();
    while let Some(tag) = reader.pull().expect("fixture parses") {
        if tag.kind != FlvTagKind::Script {
            out.push(tag);
        }
    }
    out
}

fn shifted(tags: &[FlvTag], by_ms: i64) -> Vec<FlvTag> {
    tags.iter()
        .map(|t| FlvTag {
            timestamp: u32::try_from(i64::from(t.timestamp) + by_ms).expect("in range"),
            ..t.clone()
        })
        .collect()
}

fn is_sequence_header(t: &FlvTag) -> bool {
    t.body.get(1) == Some(&0)
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap()
}

/// What one packager made of a tag sequence.
#[derive(Debug)]
struct Run {
    segments: Vec<(u64, Bytes)>,
    /// The last index written (state `ended`).
    index: StreamIndex,
    stats: PackagerStats,
}

impl Run {
    fn discontinuities(&self) -> Vec<u64> {
        self.index
            .segments
            .iter()
            .filter(|s| s.discontinuity)
            .map(|s| s.msn)
            .collect()
    }
}

fn run_az(az: Az, tags: &[FlvTag], target_ms: u32) -> Run {
    let (segments, index, stats) = run_az_raw(az, tags, target_ms);
    Run {
        segments,
        index: index.expect("an index was written"),
        stats,
    }
}

/// What one AZ makes of `tags`: its segments, its last index (none when no segment was ever
/// complete, e.g. every decoder configuration was mangled) and its counters.
fn run_az_raw(
    az: Az,
    tags: &[FlvTag],
    target_ms: u32,
) -> (Vec<(u64, Bytes)>, Option<StreamIndex>, PackagerStats) {
    let mut p = Packager::new(
        PackagerConfig {
            az,
            target_ms,
            window: 100,
        },
        StreamName::new("live", "shapes").unwrap(),
        format!("{az}-shapes"),
        None,
        None,
        start(),
    );
    let mut effects = Vec::new();
    for (i, tag) in tags.iter().enumerate() {
        // Wall time follows arrival order, not the (possibly jumping) timestamps.
        let now = start() + Duration::milliseconds(i as i64 * 10);
        let out = match tag.kind {
            FlvTagKind::Video => p.push_video(tag.timestamp, &tag.body, now),
            FlvTagKind::Audio => p.push_audio(tag.timestamp, &tag.body, now),
            FlvTagKind::Script => continue,
        };
        effects.extend(out.unwrap_or_else(|e| panic!("tag {i} at {} ms: {e}", tag.timestamp)));
    }
    effects.extend(p.finish(StreamState::Ended, start() + Duration::hours(1)));
    let mut segments = Vec::new();
    let mut index = None;
    for e in effects {
        match e {
            PackagerEffect::PutSegment { msn, bytes } => segments.push((msn, bytes)),
            PackagerEffect::PutIndex { index: i } => index = Some(i),
        }
    }
    (segments, index, p.stats())
}

/// Runs the tags through both AZs and checks invariant 3: same numbers, durations,
/// discontinuities and bytes. Also checks the numbers are consecutive (RFC 8216 §6.2.1) and the
/// program date times never go back.
fn run(tags: &[FlvTag], target_ms: u32) -> Run {
    let a = run_az(Az::Az1, tags, target_ms);
    let b = run_az(Az::Az2, tags, target_ms);
    assert_eq!(a.segments, b.segments, "AZs differ in segment bytes");
    let shape = |r: &Run| {
        r.index
            .segments
            .iter()
            .map(|s| (s.msn, s.duration_ms, s.discontinuity, s.timeline_ms))
            .collect::<Vec<_>>()
    };
    assert_eq!(shape(&a), shape(&b));
    let msns: Vec<u64> = a.segments.iter().map(|(m, _)| *m).collect();
    for pair in msns.windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "numbers not consecutive: {msns:?}");
    }
    for pair in a.index.segments.windows(2) {
        assert!(
            pair[1].program_date_time >= pair[0].program_date_time,
            "PDT went back at {}: {:?}",
            pair[1].msn,
            a.index.segments
        );
    }
    a
}

/// ffprobe is the oracle; a missing ffprobe fails in CI and skips those checks elsewhere.
fn have_ffprobe() -> bool {
    tool::require_tool("ffprobe")
}

/// The missing-tool policy shared with the end-to-end tests: fail in CI, skip elsewhere.
#[path = "../../tests/src/tool.rs"]
mod tool;

/// One stream as ffprobe decodes it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stream {
    codec: String,
    /// `WxH` for video, `RATE/CHANNELS` for audio.
    shape: String,
    frames: u64,
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zonecast-shapes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Decodes a segment with ffprobe (`-count_frames`) and returns its streams; fails on any
/// warning or error ffprobe prints.
fn probe(name: &str, msn: u64, bytes: &[u8]) -> Vec<Stream> {
    let path = scratch().join(format!("{name}-{msn}.ts"));
    std::fs::write(&path, bytes).unwrap();
    let out = Command::new("ffprobe")
        // `-f mpegts`: a short last segment is too small for format probing to be sure.
        .args([
            "-v",
            "warning",
            "-f",
            "mpegts",
            "-count_frames",
            "-show_streams",
            "-of",
            "json",
        ])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "{name} segment {msn}: ffprobe says: {stderr}"
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let _ = std::fs::remove_file(&path);
    json["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| Stream {
            codec: s["codec_name"].as_str().unwrap_or("").to_owned(),
            shape: if s["codec_type"] == "video" {
                format!("{}x{}", s["width"], s["height"])
            } else {
                format!(
                    "{}/{}",
                    s["sample_rate"].as_str().unwrap_or(""),
                    s["channels"]
                )
            },
            frames: s["nb_read_frames"]
                .as_str()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0),
        })
        .collect()
}

/// `(codec, shape)` of every stream of every segment, each stream decoding at least a frame.
fn probe_all(name: &str, run: &Run) -> Vec<Vec<(String, String)>> {
    run.segments
        .iter()
        .map(|(msn, bytes)| {
            let streams = probe(name, *msn, bytes);
            for s in &streams {
                assert!(
                    s.frames > 0,
                    "{name} segment {msn}: no frame decoded: {streams:?}"
                );
            }
            streams.into_iter().map(|s| (s.codec, s.shape)).collect()
        })
        .collect()
}

fn av(video: &str, audio: &str) -> Vec<(String, String)> {
    vec![
        ("h264".to_owned(), video.to_owned()),
        ("aac".to_owned(), audio.to_owned()),
    ]
}

#[test]
fn ffmpeg_tee_without_global_header_plays() {
    // Empty AVC sequence header, Annex B frames with SPS/PPS in band before each keyframe.
    let tags = tags(TEE);
    assert_eq!(
        tags[0].body.len(),
        5,
        "the fixture has the empty sequence header"
    );
    let run = run(&tags, 1000);
    assert_eq!(run.segments.len(), 3);
    assert_eq!(run.index.info.codecs, "avc1.64000d,mp4a.40.2");
    let res = run
        .index
        .info
        .resolution
        .expect("resolution from the in-band SPS");
    assert_eq!((res.width, res.height), (320, 240));
    assert!(run.discontinuities().is_empty());
    assert_eq!(run.stats, PackagerStats::default());
    if have_ffprobe() {
        for streams in probe_all("tee", &run) {
            assert_eq!(streams, av("320x240", "48000/2"));
        }
    }
}

#[test]
fn audio_config_after_the_first_keyframe_joins_the_first_segment() {
    // An RTMP relay: the AAC sequence header comes after the first video keyframe.
    let mut tags = tags(HIGH_48K);
    let asc = tags
        .iter()
        .position(|t| t.kind == FlvTagKind::Audio && is_sequence_header(t))
        .expect("AAC sequence header");
    let asc_tag = tags.remove(asc);
    let keyframe = tags
        .iter()
        .position(|t| t.kind == FlvTagKind::Video && !is_sequence_header(t))
        .expect("first keyframe");
    tags.insert(
        keyframe + 1,
        FlvTag {
            timestamp: 46,
            ..asc_tag
        },
    );
    let run = run(&tags, 1000);
    assert!(run.discontinuities().is_empty(), "{:?}", run.index.segments);
    assert_eq!(run.index.info.codecs, "avc1.64000d,mp4a.40.2");
    if have_ffprobe() {
        for streams in probe_all("late-asc", &run) {
            assert_eq!(streams, av("320x240", "48000/2"));
        }
    }
}

#[test]
fn audio_that_starts_mid_stream_joins_with_a_discontinuity() {
    // Audio (config and frames) only from 1.5 s on, a few frames before its config: the
    // second segment gains the track.
    let all = tags(HIGH_48K);
    let asc = all
        .iter()
        .find(|t| t.kind == FlvTagKind::Audio && is_sequence_header(t))
        .cloned()
        .expect("AAC sequence header");
    let mut tags: Vec<FlvTag> = all
        .into_iter()
        .filter(|t| t.kind == FlvTagKind::Video || (t.timestamp >= 1400 && !is_sequence_header(t)))
        .collect();
    let at = tags
        .iter()
        .position(|t| t.kind == FlvTagKind::Audio && t.timestamp >= 1500)
        .expect("audio after 1.5 s");
    tags.insert(
        at,
        FlvTag {
            timestamp: 1500,
            ..asc
        },
    );
    let run = run(&tags, 1000);
    let first = run.segments[0].0;
    assert_eq!(run.discontinuities(), [first + 1]);
    assert_eq!(run.stats.format_changes, 1);
    // The frames before the config are dropped, not fatal.
    assert!(run.stats.frames_before_config > 0);
    if have_ffprobe() {
        let probes = probe_all("audio-joins", &run);
        assert_eq!(probes[0], [("h264".to_owned(), "320x240".to_owned())]);
        for streams in &probes[1..] {
            assert_eq!(*streams, av("320x240", "48000/2"));
        }
    }
}

#[test]
fn audio_only_and_video_only_streams() {
    let all = tags(HIGH_48K);
    let video: Vec<FlvTag> = all
        .iter()
        .filter(|t| t.kind == FlvTagKind::Video)
        .cloned()
        .collect();
    let run_v = run(&video, 1000);
    assert_eq!(run_v.segments.len(), 3);
    assert_eq!(run_v.index.info.codecs, "avc1.64000d");
    // Audio-only, 9 s (the fixture's audio three times): cuts on time.
    let audio: Vec<FlvTag> = all
        .iter()
        .filter(|t| t.kind == FlvTagKind::Audio)
        .cloned()
        .collect();
    let mut long = audio.clone();
    for k in 1..3 {
        long.extend(
            shifted(&audio, k * 3000)
                .into_iter()
                .filter(|t| !is_sequence_header(t)),
        );
    }
    let run_a = run(&long, 1000);
    assert!(run_a.segments.len() >= 5, "{:?}", run_a.index.segments);
    assert_eq!(run_a.index.info.codecs, "mp4a.40.2");
    assert!(run_a.discontinuities().is_empty());
    if have_ffprobe() {
        for streams in probe_all("video-only", &run_v) {
            assert_eq!(streams, [("h264".to_owned(), "320x240".to_owned())]);
        }
        for streams in probe_all("audio-only", &run_a) {
            assert_eq!(streams, [("aac".to_owned(), "48000/2".to_owned())]);
        }
    }
}

#[test]
fn resolution_switch_with_in_band_sps_cuts_with_a_discontinuity() {
    // ffmpeg -f concat -c copy of a 320x240 and a 160x120 file: the second part's SPS comes in
    // band with its keyframes.
    let run = run(&tags(CONCAT), 1000);
    assert_eq!(run.stats.format_changes, 1, "{:?}", run.index.segments);
    assert_eq!(run.discontinuities().len(), 1);
    assert_eq!(run.index.info.codecs, "avc1.64000c,mp4a.40.2");
    let res = run.index.info.resolution.expect("resolution");
    assert_eq!((res.width, res.height), (160, 120));
    if have_ffprobe() {
        let probes = probe_all("concat", &run);
        let switch = run
            .index
            .segments
            .iter()
            .position(|s| s.discontinuity)
            .expect("a discontinuity");
        for (i, streams) in probes.iter().enumerate() {
            let size = if i < switch { "320x240" } else { "160x120" };
            assert_eq!(*streams, av(size, "48000/2"), "segment {i}");
        }
    }
}

#[test]
fn new_sequence_headers_mid_stream_change_resolution_and_sample_rate() {
    // One encoder session re-configured: High 320x240 48 kHz stereo, then Main 320x240 44.1
    // kHz mono with new sequence headers, timestamps continuing.
    let mut tags = tags(HIGH_48K);
    tags.extend(shifted(&self::tags(MAIN_MONO_44K), 3000));
    let run = run(&tags, 1000);
    assert_eq!(run.discontinuities().len(), 1, "{:?}", run.index.segments);
    assert_eq!(run.index.info.codecs, "avc1.4d400d,mp4a.40.2");
    assert_eq!(
        run.stats,
        PackagerStats {
            format_changes: 1,
            ..Default::default()
        }
    );
    if have_ffprobe() {
        let probes = probe_all("reconfigured", &run);
        let switch = run
            .index
            .segments
            .iter()
            .position(|s| s.discontinuity)
            .unwrap();
        assert_eq!(probes[switch], av("320x240", "44100/1"));
        assert_eq!(
            probes[switch - 1][1],
            ("aac".to_owned(), "48000/2".to_owned())
        );
    }
}

#[test]
fn timestamps_that_jump_back_or_forward_cut_with_a_discontinuity() {
    // The encoder's timestamps restart at 0 (a reconnect inside one publish), then jump a
    // minute ahead.
    let once = tags(HIGH_48K);
    let mut tags = once.clone();
    tags.extend(once.iter().cloned());
    tags.extend(shifted(&once, 60_000));
    let run = run(&tags, 1000);
    assert_eq!(run.discontinuities().len(), 2, "{:?}", run.index.segments);
    assert_eq!(run.segments.len(), 9);
    if have_ffprobe() {
        for streams in probe_all("jumps", &run) {
            assert_eq!(streams, av("320x240", "48000/2"));
        }
    }
}

#[test]
fn audio_that_stops_and_comes_back() {
    // No audio between 1 s and 2 s: that segment carries video alone.
    let tags: Vec<FlvTag> = tags(HIGH_48K)
        .into_iter()
        .filter(|t| t.kind == FlvTagKind::Video || !(1000..2000).contains(&t.timestamp))
        .collect();
    let run = run(&tags, 1000);
    let first = run.segments[0].0;
    assert_eq!(run.discontinuities(), [first + 1, first + 2]);
    assert_eq!(run.stats.format_changes, 2);
    if have_ffprobe() {
        let probes = probe_all("audio-gap", &run);
        assert_eq!(probes[1], [("h264".to_owned(), "320x240".to_owned())]);
        assert_eq!(probes[2], av("320x240", "48000/2"));
    }
}

#[test]
fn video_that_stops_while_audio_goes_on() {
    // Video for 3 s, audio for 12 s.
    let all = tags(HIGH_48K);
    let mut tags = all.clone();
    let audio: Vec<FlvTag> = all
        .iter()
        .filter(|t| t.kind == FlvTagKind::Audio && !is_sequence_header(t))
        .cloned()
        .collect();
    for k in 1..4 {
        tags.extend(shifted(&audio, k * 3000));
    }
    let run = run(&tags, 1000);
    assert_eq!(run.stats.video_lost, 1);
    assert_eq!(run.index.info.codecs, "mp4a.40.2");
    assert_eq!(
        (run.index.info.resolution, run.index.info.frame_rate),
        (None, None)
    );
    let last = run.index.segments.last().expect("segments");
    assert!(last.timeline_ms >= 9000, "{:?}", run.index.segments);
    if have_ffprobe() {
        let probes = probe_all("video-stops", &run);
        assert_eq!(probes[0], av("320x240", "48000/2"));
        assert_eq!(
            probes.last().unwrap(),
            &[("aac".to_owned(), "48000/2".to_owned())]
        );
    }
}

#[test]
fn malformed_and_unsupported_tags_are_dropped_and_counted() {
    let mut tags = tags(HIGH_48K);
    let at = |tags: &[FlvTag], ts: u32| tags.iter().position(|t| t.timestamp >= ts).unwrap();
    let bad = |kind, timestamp, body: &[u8]| FlvTag {
        kind,
        timestamp,
        body: Bytes::copy_from_slice(body),
        offset: 0,
    };
    // A non-key video frame whose NAL length overruns the tag.
    let frame = tags
        .iter()
        .position(|t| t.kind == FlvTagKind::Video && t.timestamp > 500 && t.body[0] == 0x27)
        .unwrap();
    let mut body = tags[frame].body.to_vec();
    body[5..9].copy_from_slice(&0x00ff_ffffu32.to_be_bytes());
    tags[frame].body = Bytes::from(body);
    let i = at(&tags, 1200);
    tags.insert(i, bad(FlvTagKind::Audio, 1200, &[0xaf, 0x00, 0x16, 0x88])); // reserved rate
    tags.insert(i, bad(FlvTagKind::Audio, 1200, &[0x2f, 0xff, 0xfb])); // MP3
    tags.insert(i, bad(FlvTagKind::Video, 1200, b"\x90hvc1")); // Enhanced RTMP HEVC
    tags.insert(i, bad(FlvTagKind::Video, 1200, &[])); // empty
    // A record cut short before any parameter set announces in-band ones: not an error, and
    // the AVCC frames after it still parse with the record's NAL length size.
    tags.insert(
        i,
        bad(FlvTagKind::Video, 1200, &[0x17, 0x00, 0, 0, 0, 1, 0x64]),
    );
    let run = run(&tags, 1000);
    assert_eq!(
        run.stats,
        PackagerStats {
            malformed_tags: 3,
            unsupported_tags: 2,
            ..Default::default()
        }
    );
    assert!(run.discontinuities().is_empty());
    assert_eq!(run.segments.len(), 3);
}

#[test]
fn an_aac_configuration_adts_cannot_carry_leaves_the_video() {
    // AAC-LC at an explicit 44100 Hz (samplingFrequencyIndex 15): valid, but not in ADTS.
    let mut tags = tags(HIGH_48K);
    for t in tags.iter_mut() {
        if t.kind == FlvTagKind::Audio && is_sequence_header(t) {
            // 00010 1111 000000001010110001000100 0010 -> AOT 2, index 15, 44100, stereo.
            t.body = Bytes::from_static(&[0xaf, 0x00, 0x17, 0x80, 0x56, 0x22, 0x20]);
        }
    }
    let run = run(&tags, 1000);
    assert_eq!(run.index.info.codecs, "avc1.64000d");
    // The config and every frame after it.
    assert_eq!(run.stats.unsupported_tags, 1 + 142);
    if have_ffprobe() {
        for streams in probe_all("explicit-rate", &run) {
            assert_eq!(streams, [("h264".to_owned(), "320x240".to_owned())]);
        }
    }
}

#[test]
fn video_config_after_the_audio_starts() {
    // The reverse order: audio from 0, the AVC sequence header and the first keyframe at 1 s.
    let tags: Vec<FlvTag> = tags(HIGH_48K)
        .into_iter()
        .filter_map(|t| match t.kind {
            FlvTagKind::Video if is_sequence_header(&t) => Some(FlvTag {
                timestamp: 1000,
                ..t
            }),
            FlvTagKind::Video if t.timestamp < 1000 => None,
            _ => Some(t),
        })
        .collect();
    let mut tags = tags;
    // Keep arrival order by timestamp, the header before the keyframe it configures.
    tags.sort_by_key(|t| (t.timestamp, !is_sequence_header(t)));
    let run = run(&tags, 1000);
    assert!(run.discontinuities().is_empty(), "{:?}", run.index.segments);
    assert_eq!(run.index.segments[0].timeline_ms, 1000);
    assert_eq!(run.index.info.codecs, "avc1.64000d,mp4a.40.2");
    if have_ffprobe() {
        for streams in probe_all("video-late", &run) {
            assert_eq!(streams, av("320x240", "48000/2"));
        }
    }
}

#[test]
fn video_that_joins_an_audio_only_stream() {
    // Audio alone for 5.5 s (two boundaries make it audio-only), then video from 5.5 s on
    // (mid-segment: video that starts a few ms after an audio-only cut makes that segment one
    // audio frame long, which ffprobe finds too short to probe).
    let all = tags(HIGH_48K);
    let audio: Vec<FlvTag> = all
        .iter()
        .filter(|t| t.kind == FlvTagKind::Audio)
        .cloned()
        .collect();
    let video: Vec<FlvTag> = all
        .iter()
        .filter(|t| t.kind == FlvTagKind::Video)
        .cloned()
        .collect();
    let mut tags = audio.clone();
    for k in 1..3 {
        tags.extend(
            shifted(&audio, k * 3000)
                .into_iter()
                .filter(|t| !is_sequence_header(t)),
        );
    }
    tags.extend(shifted(&video, 5500));
    tags.sort_by_key(|t| (t.timestamp, !is_sequence_header(t)));
    let run = run(&tags, 1000);
    assert_eq!(run.discontinuities().len(), 1, "{:?}", run.index.segments);
    assert_eq!(run.stats.format_changes, 1);
    assert_eq!(run.index.info.codecs, "avc1.64000d,mp4a.40.2");
    if have_ffprobe() {
        let probes = probe_all("video-joins", &run);
        let switch = run
            .index
            .segments
            .iter()
            .position(|s| s.discontinuity)
            .unwrap();
        assert_eq!(probes[0], [("aac".to_owned(), "48000/2".to_owned())]);
        assert_eq!(probes[switch], av("320x240", "48000/2"));
    }
}

mod never_gives_up {
    use proptest::prelude::*;

    use super::*;

    /// A tag from the fixture, mangled or not, at a timestamp that may jump.
    fn mangled(base: &[FlvTag]) -> impl Strategy<Value = (usize, u8, usize, u8, i64)> + use<> {
        let n = base.len();
        (0..n, any::<u8>(), 0usize..64, 0u8..4, -5000i64..5000)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Real tags with random bytes flipped, dropped, swapped and timestamps moved: the
        /// packager never returns an error, and both AZs still agree byte for byte.
        #[test]
        fn on_mangled_real_streams(edits in proptest::collection::vec(mangled(&tags(HIGH_48K)), 0..24)) {
            let mut tags = tags(HIGH_48K);
            for (i, byte, pos, op, shift) in edits {
                let i = i % tags.len();
                match op {
                    0 => {
                        let mut body = tags[i].body.to_vec();
                        if !body.is_empty() {
                            let p = pos % body.len();
                            body[p] ^= byte | 1;
                        }
                        tags[i].body = Bytes::from(body);
                    }
                    1 => {
                        tags.remove(i);
                        if tags.is_empty() { break; }
                    }
                    2 => {
                        let j = (i + pos) % tags.len();
                        tags.swap(i, j);
                    }
                    _ => {
                        let ts = i64::from(tags[i].timestamp) + shift;
                        tags[i].timestamp = u32::try_from(ts.max(0)).unwrap_or(0);
                    }
                }
            }
            let a = run_az_raw(Az::Az1, &tags, 1000);
            let b = run_az_raw(Az::Az2, &tags, 1000);
            prop_assert_eq!(a.0, b.0);
        }
    }
}
