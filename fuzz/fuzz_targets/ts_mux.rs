//! The TS muxer never panics on hostile frames (bad NAL lengths, huge or empty AAC frames,
//! timestamps anywhere) or configurations changing mid-segment, and every segment it returns
//! is whole 188-byte packets.
#![no_main]

use std::sync::Arc;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use zonecast_ingest::{
    media::frame::{AudioConfig, MediaFrame, VideoConfig},
    media::ts::{TsMuxer, TsMuxerConfig},
};

fuzz_target!(|data: &[u8]| {
    let video = Arc::new(VideoConfig {
        sps: vec![Bytes::from_static(&[0x67, 0x64, 0x00, 0x1f, 0xac])],
        pps: vec![Bytes::from_static(&[0x68, 0xee, 0x3c, 0x80])],
        nal_length_size: data.first().map_or(4, |b| [1, 2, 4][usize::from(b % 3)]),
        codec: "avc1.64001f".into(),
        width: None,
        height: None,
        frame_rate_milli: None,
    });
    let audio = Arc::new(AudioConfig {
        asc: Bytes::from_static(&[0x11, 0x90]),
        object_type: 2,
        sampling_frequency_index: 3,
        sample_rate: 48_000,
        channels: 2,
        codec: "mp4a.40.2".into(),
    });
    let mut mux = TsMuxer::new(TsMuxerConfig::default());
    if mux.begin_segment(Some(&video), Some(&audio)).is_err() {
        return;
    }
    // Records: [kind, dts (2 bytes), len, body...]
    let mut rest = data.get(1..).unwrap_or_default();
    while rest.len() >= 4 {
        let (head, tail) = rest.split_at(4);
        let len = usize::from(head[3]).min(tail.len());
        let (body, tail) = tail.split_at(len);
        rest = tail;
        let dts_ms = i64::from(i16::from_be_bytes([head[1], head[2]])) * 7;
        let frame = match head[0] % 6 {
            4 => {
                // The audio configuration changes (or the track joins) mid-segment; an object
                // type ADTS cannot carry must be refused without harm.
                let changed = AudioConfig {
                    object_type: head[1] % 8,
                    sampling_frequency_index: head[2] % 16,
                    channels: head[3] % 9,
                    sample_rate: 44_100,
                    ..(*audio).clone()
                };
                let _ = mux.set_audio_config(&changed);
                continue;
            }
            5 => {
                let _ = mux.set_video_config(&Arc::new(VideoConfig {
                    nal_length_size: [1, 2, 4][usize::from(head[1] % 3)],
                    ..(*video).clone()
                }));
                continue;
            }
            0 => MediaFrame::Audio {
                dts_ms,
                data: Bytes::copy_from_slice(body),
            },
            3 => {
                if let Ok(bytes) = mux.finish_segment() {
                    assert_eq!(bytes.len() % 188, 0);
                }
                let _ = mux.begin_segment(Some(&video), Some(&audio));
                continue;
            }
            k => MediaFrame::Video {
                dts_ms,
                cts_ms: i32::from(head[2] % 100),
                keyframe: k == 1,
                data: Bytes::copy_from_slice(body),
            },
        };
        let _ = mux.push_frame(&frame);
    }
    if let Ok(bytes) = mux.finish_segment() {
        assert_eq!(bytes.len() % 188, 0);
    }
});
