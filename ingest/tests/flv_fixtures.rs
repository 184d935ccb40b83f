//! FLV reader + demuxer against ffmpeg-made fixtures (see `fixtures/README.md`).
//!
//! Expected values come from `ffprobe -v error -count_packets -show_streams -of json FILE`
//! (ffprobe 5.1.9) and are hard-coded so the tests need no ffmpeg at run time.

use std::sync::Arc;

use zonecast_ingest::media::flv::{FlvDemuxer, FlvError, FlvReader, FlvTag, FlvTagKind};
use zonecast_ingest::media::frame::{AudioConfig, MediaEvent, MediaFrame, VideoConfig};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn read_all(reader: &mut FlvReader, out: &mut Vec<Result<FlvTag, FlvError>>) {
    loop {
        match reader.pull() {
            Ok(Some(tag)) => out.push(Ok(tag)),
            Ok(None) => return,
            Err(e) => {
                out.push(Err(e));
                return;
            }
        }
    }
}

fn tags(data: &[u8]) -> Vec<FlvTag> {
    let mut reader = FlvReader::default();
    reader.push(data);
    let mut out = Vec::new();
    read_all(&mut reader, &mut out);
    out.into_iter()
        .collect::<Result<_, _>>()
        .expect("fixture parses")
}

#[derive(Default)]
struct Demuxed {
    video: Option<Arc<VideoConfig>>,
    audio: Option<Arc<AudioConfig>>,
    video_frames: Vec<MediaFrame>,
    /// How many times the video configuration changed (the first one included).
    video_configs: usize,
    audio_frames: usize,
    script_tags: usize,
}

fn demux(name: &str) -> Demuxed {
    let data = fixture(name);
    let mut demuxer = FlvDemuxer::default();
    let mut out = Demuxed::default();
    for tag in tags(&data) {
        let dts = i64::from(tag.timestamp);
        let event = match tag.kind {
            FlvTagKind::Video => demuxer.demux_video(dts, &tag.body),
            FlvTagKind::Audio => demuxer.demux_audio(dts, &tag.body),
            FlvTagKind::Script => {
                out.script_tags += 1;
                continue;
            }
        };
        for event in event.unwrap_or_else(|e| panic!("{name}: {e}")) {
            match event {
                MediaEvent::VideoConfig(c) => {
                    out.video = Some(c);
                    out.video_configs += 1;
                }
                MediaEvent::AudioConfig(c) => out.audio = Some(c),
                MediaEvent::Frame(f @ MediaFrame::Video { .. }) => out.video_frames.push(f),
                MediaEvent::Frame(MediaFrame::Audio { .. }) => out.audio_frames += 1,
            }
        }
    }
    out
}

fn keyframe_indices(frames: &[MediaFrame]) -> Vec<usize> {
    frames
        .iter()
        .enumerate()
        .filter(|(_, f)| f.is_keyframe())
        .map(|(i, _)| i)
        .collect()
}

fn assert_video(d: &Demuxed, codec: &str, width: u32, height: u32, frames: usize) {
    let v = d.video.as_ref().expect("video config");
    assert_eq!(v.codec, codec);
    assert_eq!((v.width, v.height), (Some(width), Some(height)));
    assert_eq!(v.nal_length_size, 4);
    assert_eq!((v.sps.len(), v.pps.len()), (1, 1));
    assert_eq!(d.video_frames.len(), frames, "ffprobe nb_read_packets");
    // -g 25 on 25 fps: an IDR every 25 frames.
    let expected: Vec<usize> = (0..frames).step_by(25).collect();
    assert_eq!(keyframe_indices(&d.video_frames), expected);
    // Each frame is AVCC: 4-byte lengths that exactly cover the data.
    for f in &d.video_frames {
        let MediaFrame::Video { data, .. } = f else {
            unreachable!()
        };
        let mut rest = &data[..];
        while !rest.is_empty() {
            let len = u32::from_be_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
            rest = &rest[4 + len..];
        }
    }
}

fn assert_audio(d: &Demuxed, sample_rate: u32, channels: u8, frames: usize) {
    let a = d.audio.as_ref().expect("audio config");
    assert_eq!(a.codec, "mp4a.40.2", "ffprobe profile LC");
    assert_eq!(a.object_type, 2);
    assert_eq!((a.sample_rate, a.channels), (sample_rate, channels));
    assert_eq!(d.audio_frames, frames, "ffprobe nb_read_packets");
}

#[test]
fn high_profile_320x240_stereo_48k() {
    // ffprobe: h264 High level 13, 320x240, 75 packets; aac LC 48000 Hz, 2 ch, 142 packets.
    let d = demux("ffmpeg5_h264_high_aac_320x240_25fps.flv");
    assert_video(&d, "avc1.64000d", 320, 240, 75);
    assert_audio(&d, 48000, 2, 142);
    assert_eq!(
        d.audio.as_ref().map(|a| a.sampling_frequency_index),
        Some(3)
    );
    assert_eq!(d.script_tags, 1);
    // B-frames: some frames have a positive composition offset.
    assert!(
        d.video_frames
            .iter()
            .any(|f| matches!(f, MediaFrame::Video { cts_ms, .. } if *cts_ms > 0))
    );
}

#[test]
fn tee_without_global_header_takes_parameter_sets_from_the_keyframes() {
    // ffprobe: h264 High level 13, 320x240, 75 packets; aac LC 48000 Hz, 2 ch, 142 packets.
    // Empty sequence header; Annex B frames with SPS/PPS before every keyframe, which repeat
    // the same configuration (one change: the first).
    let d = demux("ffmpeg5_tee_no_global_header_h264_aac_320x240.flv");
    assert_video(&d, "avc1.64000d", 320, 240, 75);
    assert_audio(&d, 48000, 2, 142);
    assert_eq!(d.video_configs, 1);
}

#[test]
fn concat_copy_switches_resolution_in_band() {
    // ffprobe (which reads the first configuration only): 100 video packets, 190 audio. The
    // second part's SPS (160x120, level 1.2) arrives in band at its first keyframe.
    let d = demux("ffmpeg5_concat_copy_h264_320x240_then_160x120.flv");
    assert_video(&d, "avc1.64000c", 160, 120, 100);
    assert_audio(&d, 48000, 2, 190);
    assert_eq!(d.video_configs, 2);
}

#[test]
fn baseline_426x240_is_cropped() {
    // ffprobe: h264 Constrained Baseline level 21, 426x240, 75 packets; aac LC 48000 Hz, 2 ch, 142.
    let d = demux("ffmpeg5_h264_baseline_aac_426x240_25fps.flv");
    assert_video(&d, "avc1.42c015", 426, 240, 75);
    assert_audio(&d, 48000, 2, 142);
    // No B-frames in baseline: composition offset always 0.
    assert!(
        d.video_frames
            .iter()
            .all(|f| matches!(f, MediaFrame::Video { cts_ms: 0, .. }))
    );
}

#[test]
fn main_profile_mono_44100() {
    // ffprobe: h264 Main level 13, 320x240, 75 packets; aac LC 44100 Hz, 1 ch, 131 packets.
    let d = demux("ffmpeg5_h264_main_aac_mono_44100hz.flv");
    assert_video(&d, "avc1.4d400d", 320, 240, 75);
    assert_audio(&d, 44100, 1, 131);
    assert_eq!(
        d.audio.as_ref().map(|a| a.sampling_frequency_index),
        Some(4)
    );
}

#[test]
fn high422_interlaced_with_scaling_matrices() {
    // ffprobe: h264 High 4:2:2 level 21, yuv422p, field_order tt, 358x246, 25 packets.
    // Exercises chroma_format_idc 2, scaling lists, frame_mbs_only_flag 0 and field cropping.
    let d = demux("ffmpeg5_h264_high422_interlaced_cqm_358x246.flv");
    assert_video(&d, "avc1.7a0015", 358, 246, 25);
    assert!(d.audio.is_none());
    let sps = zonecast_ingest::media::flv::parse_sps(&d.video.as_ref().expect("config").sps[0])
        .expect("sps");
    assert_eq!((sps.chroma_format_idc, sps.frame_mbs_only), (2, false));
}

#[test]
fn tag_offsets_and_timestamps() {
    let data = fixture("ffmpeg5_h264_main_aac_mono_44100hz.flv");
    let all = tags(&data);
    // First tag right after the 9-byte header and PreviousTagSize0.
    assert_eq!(all[0].offset, 13);
    assert_eq!(all[0].kind, FlvTagKind::Script);
    // Each tag's offset is the previous offset + 11 + body + 4, and the last tag ends the file.
    for pair in all.windows(2) {
        assert_eq!(
            pair[1].offset,
            pair[0].offset + 11 + pair[0].body.len() as u64 + 4
        );
    }
    let last = all.last().expect("tags");
    assert_eq!(
        last.offset + 11 + last.body.len() as u64 + 4,
        data.len() as u64
    );
    // ~3 s of media.
    let max_ts = all.iter().map(|t| t.timestamp).max().unwrap_or(0);
    assert!((2900..3100).contains(&max_ts), "{max_ts}");
}

/// Same tags whatever the split of the input (cut at the first 2000 positions, then every
/// 97th, to keep the runtime low), as retina's round-trip fuzz target does.
#[test]
fn reader_is_split_point_independent() {
    for name in [
        "ffmpeg5_h264_main_aac_mono_44100hz.flv",
        "ffmpeg5_tee_no_global_header_h264_aac_320x240.flv",
    ] {
        reader_split_points(name);
    }
}

fn reader_split_points(name: &str) {
    let data = fixture(name);
    let whole = tags(&data);
    let cuts = (0..2000.min(data.len())).chain((2000..data.len()).step_by(97));
    for cut in cuts {
        let mut reader = FlvReader::default();
        let mut out = Vec::new();
        reader.push(&data[..cut]);
        read_all(&mut reader, &mut out);
        reader.push(&data[cut..]);
        read_all(&mut reader, &mut out);
        let got: Vec<FlvTag> = out.into_iter().collect::<Result<_, _>>().expect("parses");
        assert!(got == whole, "split at {cut} differs");
    }
    // And byte by byte over a short prefix-heavy run.
    let mut reader = FlvReader::default();
    let mut out = Vec::new();
    for b in &data {
        reader.push(std::slice::from_ref(b));
        read_all(&mut reader, &mut out);
    }
    let got: Vec<FlvTag> = out.into_iter().collect::<Result<_, _>>().expect("parses");
    assert!(got == whole, "byte-by-byte differs");
}

#[test]
fn truncated_file_yields_a_prefix_of_the_tags() {
    let data = fixture("ffmpeg5_h264_high422_interlaced_cqm_358x246.flv");
    let whole = tags(&data);
    let part = tags(&data[..data.len() / 2]);
    assert!(!part.is_empty() && part.len() < whole.len());
    assert_eq!(part[..], whole[..part.len()]);
}
