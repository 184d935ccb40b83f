//! FLV fixtures → `FlvDemuxer` → the fMP4 muxer in ~1 s segments cut at keyframes, judged by
//! ffprobe and ffmpeg: the init segment and the media segments concatenated, and an HLS
//! playlist (`#EXT-X-MAP`, version 7) over the files, must probe as the fixture does and
//! decode without a single error line. The bytes are pinned (SHA-256 per fixture), so any
//! change to the muxer's output is a deliberate one.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};
use zonecast_ingest::media::flv::{FlvDemuxer, FlvReader, FlvTagKind};
use zonecast_ingest::media::fmp4::{AudioGrid, FragmentBuilder, init_segment};
use zonecast_ingest::media::frame::{MediaEvent, MediaFrame};

const SEGMENT_MS: i64 = 1000;
/// The first segment's media sequence number: not 0, so `mfhd` is seen to carry it.
const FIRST_MSN: u64 = 100;

/// The missing-tool policy shared with the end-to-end tests: fail in CI, skip elsewhere.
#[path = "../../tests/src/tool.rs"]
mod tool;

struct Fixture {
    name: &'static str,
    width: u64,
    height: u64,
    /// Sample rate and channels, for a fixture with audio.
    audio: Option<(&'static str, u64)>,
    /// Segments of ~1 s cut at keyframes (one a second in these fixtures).
    segments: usize,
    /// SHA-256 of init + all media segments.
    sha256: &'static str,
}

const FIXTURES: &[Fixture] = &[
    Fixture {
        name: "ffmpeg5_h264_high_aac_320x240_25fps.flv",
        width: 320,
        height: 240,
        audio: Some(("48000", 2)),
        segments: 3,
        sha256: "61b0bc4fbbfdddf0a5ed2d040693daf42684f20cace748e1f44575381519a3d3",
    },
    Fixture {
        name: "ffmpeg5_h264_baseline_aac_426x240_25fps.flv",
        width: 426,
        height: 240,
        audio: Some(("48000", 2)),
        segments: 3,
        sha256: "c09a28d21331c88391070e74a8930903944bdc459093d2aaf423e9e797472032",
    },
    Fixture {
        name: "ffmpeg5_h264_main_aac_mono_44100hz.flv",
        width: 320,
        height: 240,
        audio: Some(("44100", 1)),
        segments: 3,
        sha256: "5cb81e1ad9deec1aaf5f62aaa9403223bf65ad99027080d9bd18e187155efbd7",
    },
    Fixture {
        name: "ffmpeg5_h264_high422_interlaced_cqm_358x246.flv",
        width: 358,
        height: 246,
        audio: None,
        segments: 1,
        sha256: "bb5ee0ec9755d04881ccc8ed525514403877b5e1a8d828fe601b8c7e09272886",
    },
    Fixture {
        name: "ffmpeg5_tee_no_global_header_h264_aac_320x240.flv",
        width: 320,
        height: 240,
        audio: Some(("48000", 2)),
        segments: 3,
        sha256: "6e869c3b98330b9b7813cc20efbad174027e5df0b4df5975717db6ac72f6893d",
    },
];

struct Muxed {
    init: bytes::Bytes,
    /// (msn, bytes, duration in ms) per segment.
    segments: Vec<(u64, bytes::Bytes, i64)>,
    video_frames: usize,
    audio_frames: usize,
    /// Bytes of the frames' payloads (what the encoder sent, FLV tag headers aside).
    media_bytes: usize,
}

/// Demuxes a whole FLV file, cuts at the first keyframe at or after each `SEGMENT_MS` after
/// the previous cut (frames before the first keyframe are dropped), and muxes each segment,
/// telling the builder where it ends (the next segment's first DTS; unknown for the last).
fn mux_fixture(flv: &[u8]) -> Muxed {
    let mut reader = FlvReader::default();
    reader.push(flv);
    let mut demuxer = FlvDemuxer::default();
    let mut frames = Vec::new();
    let mut configs = 0;
    while let Some(tag) = reader.pull().unwrap() {
        let dts = i64::from(tag.timestamp);
        let events = match tag.kind {
            FlvTagKind::Video => demuxer.demux_video(dts, &tag.body).unwrap(),
            FlvTagKind::Audio => demuxer.demux_audio(dts, &tag.body).unwrap(),
            FlvTagKind::Script => continue,
        };
        for event in events {
            match event {
                MediaEvent::Frame(frame) => frames.push(frame),
                MediaEvent::VideoConfig(_) | MediaEvent::AudioConfig(_) => configs += 1,
            }
        }
    }
    let video = demuxer.video_config().map(|c| (**c).clone());
    let audio = demuxer.audio_config().map(|c| (**c).clone());
    assert_eq!(
        configs,
        usize::from(video.is_some()) + usize::from(audio.is_some()),
        "one configuration per track: these fixtures do not change it"
    );
    let mut groups: Vec<Vec<MediaFrame>> = Vec::new();
    let mut open_at: Option<i64> = None;
    for frame in frames {
        let dts = frame.dts_ms();
        if frame.is_keyframe() && open_at.is_none_or(|start| dts - start >= SEGMENT_MS) {
            groups.push(Vec::new());
            open_at = Some(dts);
        }
        if let Some(group) = groups.last_mut() {
            group.push(frame);
        }
    }
    let init = init_segment(video.as_ref(), audio.as_ref()).unwrap();
    // The grid through the first audio frame, as the packager takes it once per publish.
    let grid = match (&audio, groups.iter().flatten().find(|f| !f.is_video())) {
        (Some(config), Some(first)) => {
            AudioGrid::from_first_frame(first.dts_ms(), config.sample_rate)
        }
        _ => AudioGrid::ZERO,
    };
    let mut segments = Vec::new();
    for (i, group) in groups.iter().enumerate() {
        let msn = FIRST_MSN + i as u64;
        let mut builder = FragmentBuilder::new(msn, video.as_ref(), audio.as_ref(), grid).unwrap();
        for frame in group {
            builder.push_frame(frame).unwrap();
        }
        let start = group[0].dts_ms();
        let end = groups.get(i + 1).map(|g| g[0].dts_ms());
        let last = group.iter().map(MediaFrame::dts_ms).max().unwrap();
        segments.push((
            msn,
            builder.finish(end).unwrap(),
            end.unwrap_or(last + 40) - start,
        ));
    }
    let all = groups.iter().flatten();
    let video_frames = all.clone().filter(|f| f.is_video()).count();
    let media_bytes = all
        .clone()
        .map(|f| match f {
            MediaFrame::Video { data, .. } | MediaFrame::Audio { data, .. } => data.len(),
        })
        .sum();
    Muxed {
        init,
        segments,
        video_frames,
        audio_frames: all.count() - video_frames,
        media_bytes,
    }
}

fn run(program: &str, args: &[&str], path: &Path) -> (String, String) {
    let out = Command::new(program).args(args).arg(path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "{program} {args:?} {path:?}: {stderr}"
    );
    (String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
}

/// `ffprobe -show_streams -show_format` (with packet counts) as JSON; nothing may be logged.
fn ffprobe(path: &Path) -> serde_json::Value {
    let args = [
        "-v",
        "error",
        "-count_packets",
        "-show_streams",
        "-show_format",
        "-of",
        "json",
    ];
    let (stdout, stderr) = run("ffprobe", &args, path);
    assert!(stderr.trim().is_empty(), "ffprobe {path:?}: {stderr}");
    serde_json::from_str(&stdout).unwrap()
}

/// Decodes every frame (`ffmpeg -f null`); nothing may be logged at error level.
fn ffmpeg_decode(path: &Path) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "ffmpeg decoding {path:?}: {stderr}"
    );
}

/// Packet presentation times per stream type, in ms, in file order.
fn packet_times(path: &Path) -> (Vec<f64>, Vec<f64>) {
    let args = [
        "-v",
        "error",
        "-show_entries",
        "packet=codec_type,pts_time",
        "-of",
        "json",
    ];
    let (stdout, stderr) = run("ffprobe", &args, path);
    assert!(stderr.trim().is_empty(), "ffprobe {path:?}: {stderr}");
    let probe: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let (mut video, mut audio) = (Vec::new(), Vec::new());
    for packet in probe["packets"].as_array().unwrap() {
        let ms = seconds(&packet["pts_time"]) * 1000.0;
        match packet["codec_type"].as_str() {
            Some("video") => video.push(ms),
            Some("audio") => audio.push(ms),
            other => panic!("{path:?}: packet of type {other:?}"),
        }
    }
    (video, audio)
}

/// Each of `ours` within `tolerance` ms of the FLV's last `ours.len()` times (the FLV may
/// have frames before the first keyframe, which the segments leave out).
fn assert_times_match(name: &str, what: &str, ours: &[f64], flv: &[f64], tolerance: f64) {
    assert!(
        ours.len() <= flv.len(),
        "{name}: {what}: more packets than the FLV"
    );
    let flv = &flv[flv.len() - ours.len()..];
    for (i, (a, b)) in ours.iter().zip(flv).enumerate() {
        assert!(
            (a - b).abs() <= tolerance,
            "{name}: {what} packet {i} at {a} ms, in the FLV at {b} ms"
        );
    }
}

fn stream<'a>(probe: &'a serde_json::Value, codec_type: &str) -> Option<&'a serde_json::Value> {
    probe["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["codec_type"] == codec_type)
}

fn seconds(value: &serde_json::Value) -> f64 {
    value.as_str().unwrap().parse().unwrap()
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zonecast-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `init.mp4`, `seg-<msn>.m4s`, `concat.mp4` and `playlist.m3u8` into `dir`.
fn write_files(dir: &Path, muxed: &Muxed) {
    std::fs::write(dir.join("init.mp4"), &muxed.init).unwrap();
    let mut concat = muxed.init.to_vec();
    let mut playlist = format!(
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:{FIRST_MSN}\n\
         #EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"init.mp4\"\n"
    );
    for (msn, bytes, duration_ms) in &muxed.segments {
        let name = format!("seg-{msn}.m4s");
        std::fs::write(dir.join(&name), bytes).unwrap();
        concat.extend_from_slice(bytes);
        playlist.push_str(&format!(
            "#EXTINF:{:.3},\n{name}\n",
            *duration_ms as f64 / 1000.0
        ));
    }
    playlist.push_str("#EXT-X-ENDLIST\n");
    std::fs::write(dir.join("concat.mp4"), concat).unwrap();
    std::fs::write(dir.join("playlist.m3u8"), playlist).unwrap();
}

#[test]
fn flv_fixtures_mux_to_fmp4_that_ffprobe_and_ffmpeg_accept() {
    if !(tool::require_tool("ffprobe") && tool::require_tool("ffmpeg")) {
        return;
    }
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let dir = scratch_dir("fmp4-ffprobe");
    let mut mismatched = Vec::new();
    for fixture in FIXTURES {
        let name = fixture.name;
        let flv_path = fixtures.join(name);
        let flv = std::fs::read(&flv_path).unwrap();
        let muxed = mux_fixture(&flv);
        assert_eq!(muxed.segments.len(), fixture.segments, "{name}: segments");
        // Determinism: a second run over the same frames gives the same bytes.
        let again = mux_fixture(&flv);
        assert_eq!(muxed.init, again.init, "{name}: init");
        for (a, b) in muxed.segments.iter().zip(&again.segments) {
            assert_eq!(a.1, b.1, "{name}: segment {}", a.0);
        }
        let out = dir.join(name.trim_end_matches(".flv"));
        std::fs::create_dir_all(&out).unwrap();
        write_files(&out, &muxed);

        let concat = out.join("concat.mp4");
        let probe = ffprobe(&concat);
        let reference = ffprobe(&flv_path);
        let video = stream(&probe, "video").unwrap_or_else(|| panic!("{name}: no video"));
        assert_eq!(video["codec_name"], "h264", "{name}");
        assert_eq!(
            (video["width"].as_u64(), video["height"].as_u64()),
            (Some(fixture.width), Some(fixture.height)),
            "{name}"
        );
        assert_eq!(
            video["nb_read_packets"],
            muxed.video_frames.to_string(),
            "{name}"
        );
        let audio = stream(&probe, "audio");
        match (fixture.audio, audio) {
            (Some((rate, channels)), Some(audio)) => {
                assert_eq!(audio["codec_name"], "aac", "{name}");
                assert_eq!(audio["sample_rate"], rate, "{name}");
                assert_eq!(audio["channels"].as_u64(), Some(channels), "{name}");
                assert_eq!(
                    audio["nb_read_packets"],
                    muxed.audio_frames.to_string(),
                    "{name}"
                );
            }
            (None, None) => {}
            (want, got) => panic!("{name}: audio {want:?}, probed {got:?}"),
        }
        let duration = seconds(&probe["format"]["duration"]);
        let expected = seconds(&reference["format"]["duration"]);
        assert!(
            (duration - expected).abs() < 0.1,
            "{name}: duration {duration} s, the FLV {expected} s"
        );
        eprintln!(
            "{name}: {} segments, h264 {}x{}, {} video + {} audio packets, {duration} s (FLV {expected} s)",
            muxed.segments.len(),
            fixture.width,
            fixture.height,
            muxed.video_frames,
            muxed.audio_frames,
        );
        // Timing against the FLV: video exactly (ms × 90), audio within the millisecond RTMP
        // rounds to (the fMP4 has the encoder's exact sample positions).
        let (video_ms, audio_ms) = packet_times(&concat);
        let (flv_video_ms, flv_audio_ms) = packet_times(&flv_path);
        assert_times_match(name, "video", &video_ms, &flv_video_ms, 1e-6);
        assert_times_match(name, "audio", &audio_ms, &flv_audio_ms, 1.0);
        let segment_bytes: usize = muxed.segments.iter().map(|s| s.1.len()).sum();
        let overhead = segment_bytes as f64 / muxed.media_bytes as f64;
        eprintln!(
            "{name}: init {} bytes; segments {segment_bytes} bytes for {} media bytes, overhead {overhead:.4}",
            muxed.init.len(),
            muxed.media_bytes
        );
        // The TS segments of the same fixtures are 1.09-1.20 (flv_ts.rs).
        assert!(overhead < 1.02, "{name}: overhead {overhead:.4}");
        ffmpeg_decode(&concat);
        ffmpeg_decode(&out.join("playlist.m3u8"));
        // Each segment alone after the init segment decodes: it starts with a keyframe.
        for (msn, bytes, _) in &muxed.segments {
            let alone = out.join(format!("alone-{msn}.mp4"));
            std::fs::write(&alone, [&muxed.init[..], &bytes[..]].concat()).unwrap();
            ffmpeg_decode(&alone);
        }

        let mut hash = Sha256::new();
        hash.update(&muxed.init);
        muxed.segments.iter().for_each(|s| hash.update(&s.1));
        let digest = hex::encode(hash.finalize());
        if digest != fixture.sha256 {
            mismatched.push(format!("{name}: {digest}"));
        }
    }
    assert!(
        mismatched.is_empty(),
        "the muxed bytes changed; if on purpose, pin the new SHA-256:\n{}",
        mismatched.join("\n")
    );
    let _ = std::fs::remove_dir_all(&dir);
}
