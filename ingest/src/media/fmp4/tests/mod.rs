//! Unit tests of the fMP4 muxer: box layout read back with a small box reader
//! ([`reader`]), exact times and durations, determinism, refusals.

mod fragment;
mod init;
mod reader;

use bytes::Bytes;

use crate::media::frame::{AudioConfig, MediaFrame, VideoConfig};

const SPS: &[u8] = &[0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9];
const PPS: &[u8] = &[0x68, 0xeb, 0xe3, 0xcb];

fn video_config() -> VideoConfig {
    VideoConfig {
        sps: vec![Bytes::from_static(SPS)],
        pps: vec![Bytes::from_static(PPS)],
        nal_length_size: 4,
        codec: "avc1.64001f".into(),
        width: Some(1280),
        height: Some(720),
        frame_rate_milli: None,
    }
}

fn audio_config(sample_rate: u32) -> AudioConfig {
    AudioConfig {
        asc: Bytes::from_static(&[0x11, 0x90]),
        object_type: 2,
        sampling_frequency_index: 3,
        sample_rate,
        channels: 2,
        codec: "mp4a.40.2".into(),
    }
}

/// A video frame of one NAL unit (AVCC, 4-byte length) of `size` bytes after its header.
fn video(dts_ms: i64, cts_ms: i32, keyframe: bool, size: usize) -> MediaFrame {
    let mut data = Vec::with_capacity(size + 5);
    data.extend_from_slice(&(size as u32 + 1).to_be_bytes());
    data.push(if keyframe { 0x65 } else { 0x41 });
    data.extend((0..size).map(|i| (i % 251) as u8));
    MediaFrame::Video {
        dts_ms,
        cts_ms,
        keyframe,
        data: Bytes::from(data),
    }
}

fn audio(dts_ms: i64, size: usize) -> MediaFrame {
    MediaFrame::Audio {
        dts_ms,
        data: Bytes::from(vec![0x21; size]),
    }
}

/// The encoder's DTS of AAC frame `n` in whole ms, as RTMP carries it (rounded down, as
/// ffmpeg's FLV muxer does).
fn aac_dts_ms(n: i64, sample_rate: u32) -> i64 {
    n * 1024 * 1000 / i64::from(sample_rate)
}
