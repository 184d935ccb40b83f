//! ffprobe judges the TS muxer on real H.264 + AAC produced by ffmpeg at test time.
//!
//! The elementary streams are generated raw (Annex B with AUDs, ADTS) and turned into the
//! `MediaFrame`s the FLV demuxer would produce (AVCC, raw AAC, parameter sets moved to the
//! config), so this test does not depend on the demuxer.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use bytes::Bytes;
use zonecast_ingest::media::frame::{AudioConfig, MediaFrame, VideoConfig};
use zonecast_ingest::media::ts::{TsMuxer, TsMuxerConfig};

const FPS: i64 = 25;
const SECONDS: i64 = 2;
const SAMPLE_RATE: i64 = 48_000;

/// The missing-tool policy shared with the end-to-end tests: fail in CI, skip elsewhere.
#[path = "../../tests/src/tool.rs"]
mod tool;

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zonecast-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-v", "error", "-y"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs ffprobe on a TS file; returns the JSON and asserts nothing was logged at warning level.
pub fn ffprobe(path: &Path) -> serde_json::Value {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "warning",
            "-show_streams",
            "-show_packets",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "ffprobe {path:?}: {stderr}"
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Splits an Annex B stream into NAL units (3- or 4-byte start codes).
fn annex_b_nals(data: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i..i + 3] == [0, 0, 1] {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    starts
        .iter()
        .enumerate()
        .map(|(n, &s)| {
            let mut end = starts.get(n + 1).map_or(data.len(), |&next| next - 3);
            // Trailing zeros belong to the next (4-byte) start code.
            while end > s && data[end - 1] == 0 {
                end -= 1;
            }
            &data[s..end]
        })
        .collect()
}

/// Access units (split at AUDs) as AVCC frames without AUD/SPS/PPS, plus the config.
fn video_frames(h264: &[u8]) -> (VideoConfig, Vec<MediaFrame>) {
    let mut sps = Vec::new();
    let mut pps = Vec::new();
    let mut aus: Vec<Vec<&[u8]>> = Vec::new();
    for nal in annex_b_nals(h264) {
        match nal[0] & 0x1f {
            9 => aus.push(Vec::new()),
            7 if sps.is_empty() => sps.push(Bytes::copy_from_slice(nal)),
            8 if pps.is_empty() => pps.push(Bytes::copy_from_slice(nal)),
            7 | 8 => {}
            _ => aus.last_mut().expect("stream starts with an AUD").push(nal),
        }
    }
    let frames = aus
        .iter()
        .enumerate()
        .map(|(i, nals)| {
            let mut data = Vec::new();
            for nal in nals {
                data.extend_from_slice(&(nal.len() as u32).to_be_bytes());
                data.extend_from_slice(nal);
            }
            MediaFrame::Video {
                dts_ms: i as i64 * 1000 / FPS,
                cts_ms: 0,
                keyframe: nals.iter().any(|n| n[0] & 0x1f == 5),
                data: Bytes::from(data),
            }
        })
        .collect();
    let config = VideoConfig {
        sps,
        pps,
        nal_length_size: 4,
        codec: "avc1.42c01e".into(),
        width: Some(320),
        height: Some(240),
        frame_rate_milli: None,
    };
    (config, frames)
}

/// ADTS frames as raw AAC frames plus the config from the first header.
fn audio_frames(adts: &[u8]) -> (AudioConfig, Vec<MediaFrame>) {
    let mut frames = Vec::new();
    let mut config = None;
    let mut pos = 0;
    while pos + 7 <= adts.len() {
        let h = &adts[pos..pos + 7];
        assert_eq!((h[0], h[1] & 0xf0), (0xff, 0xf0), "ADTS sync at {pos}");
        let header_len = if h[1] & 1 == 1 { 7 } else { 9 };
        let len = (usize::from(h[3] & 3) << 11) | (usize::from(h[4]) << 3) | usize::from(h[5] >> 5);
        let object_type = (h[2] >> 6) + 1;
        let sfi = (h[2] >> 2) & 0x0f;
        let channels = ((h[2] & 1) << 2) | (h[3] >> 6);
        config.get_or_insert_with(|| AudioConfig {
            asc: Bytes::copy_from_slice(&[
                (object_type << 3) | (sfi >> 1),
                ((sfi & 1) << 7) | (channels << 3),
            ]),
            object_type,
            sampling_frequency_index: sfi,
            sample_rate: SAMPLE_RATE as u32,
            channels,
            codec: format!("mp4a.40.{object_type}"),
        });
        let n = frames.len() as i64;
        frames.push(MediaFrame::Audio {
            dts_ms: n * 1024 * 1000 / SAMPLE_RATE,
            data: Bytes::copy_from_slice(&adts[pos + header_len..pos + len]),
        });
        pos += len;
    }
    (config.expect("at least one ADTS frame"), frames)
}

fn interleave(video: Vec<MediaFrame>, audio: Vec<MediaFrame>) -> Vec<MediaFrame> {
    let mut all: Vec<MediaFrame> = video.into_iter().chain(audio).collect();
    // Stable: equal timestamps keep video before audio.
    all.sort_by_key(MediaFrame::dts_ms);
    all
}

fn count_packets(probe: &serde_json::Value, codec_type: &str) -> usize {
    let streams = probe["streams"].as_array().unwrap();
    let index = streams
        .iter()
        .find(|s| s["codec_type"] == codec_type)
        .unwrap_or_else(|| panic!("no {codec_type} stream"))["index"]
        .clone();
    probe["packets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["stream_index"] == index)
        .count()
}

#[test]
fn ffprobe_accepts_ffmpeg_h264_aac_segments() {
    if !(tool::require_tool("ffmpeg") && tool::require_tool("ffprobe")) {
        return;
    }
    let dir = scratch_dir("ts-ffprobe");
    let (h264, aac) = (dir.join("in.h264"), dir.join("in.aac"));
    let duration = SECONDS.to_string();
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25",
        "-t",
        &duration,
        "-c:v",
        "libx264",
        "-profile:v",
        "baseline",
        "-g",
        "25",
        "-bf",
        "0",
        "-x264-params",
        "aud=1",
        "-f",
        "h264",
        h264.to_str().unwrap(),
    ]);
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-t",
        &duration,
        "-c:a",
        "aac",
        "-b:a",
        "96k",
        "-f",
        "adts",
        aac.to_str().unwrap(),
    ]);
    let (vc, video) = video_frames(&std::fs::read(&h264).unwrap());
    let (ac, audio) = audio_frames(&std::fs::read(&aac).unwrap());
    assert_eq!(video.len() as i64, FPS * SECONDS);
    let audio_count = audio.len();
    let frames = interleave(video, audio);

    // Segments cut at each keyframe (one a second), then the two concatenated.
    let mut groups: Vec<Vec<&MediaFrame>> = Vec::new();
    for frame in &frames {
        if frame.is_keyframe() || groups.is_empty() {
            groups.push(Vec::new());
        }
        groups.last_mut().unwrap().push(frame);
    }
    assert_eq!(groups.len(), 2);
    let mut muxer = TsMuxer::new(TsMuxerConfig::default());
    let mut segments = Vec::new();
    let mut counts = Vec::new();
    for group in &groups {
        muxer
            .begin_segment(Some(&Arc::new(vc.clone())), Some(&Arc::new(ac.clone())))
            .unwrap();
        for frame in group {
            muxer.push_frame(frame).unwrap();
        }
        segments.push(muxer.finish_segment().unwrap());
        let v = group.iter().filter(|f| f.is_video()).count();
        counts.push((v, group.len() - v));
    }

    for (i, (segment, (v, a))) in segments.iter().zip(&counts).enumerate() {
        let path = dir.join(format!("seg{i}.ts"));
        std::fs::write(&path, segment).unwrap();
        let probe = ffprobe(&path);
        let streams = probe["streams"].as_array().unwrap();
        assert_eq!(streams.len(), 2, "{streams:?}");
        let h264 = streams.iter().find(|s| s["codec_name"] == "h264").unwrap();
        assert_eq!(
            (h264["width"].as_u64(), h264["height"].as_u64()),
            (Some(320), Some(240))
        );
        let aac = streams.iter().find(|s| s["codec_name"] == "aac").unwrap();
        assert_eq!(aac["sample_rate"], "48000");
        assert_eq!(
            count_packets(&probe, "video"),
            *v,
            "segment {i} video packets"
        );
        assert_eq!(
            count_packets(&probe, "audio"),
            *a,
            "segment {i} audio packets"
        );
    }

    let all = dir.join("all.ts");
    std::fs::write(&all, segments.concat()).unwrap();
    let probe = ffprobe(&all);
    assert_eq!(count_packets(&probe, "video") as i64, FPS * SECONDS);
    assert_eq!(count_packets(&probe, "audio"), audio_count);
    let _ = std::fs::remove_dir_all(&dir);
}
