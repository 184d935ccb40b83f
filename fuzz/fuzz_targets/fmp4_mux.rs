//! The fMP4 muxer never panics on hostile frames (bad NAL lengths, timestamps anywhere,
//! backwards or overflowing, huge composition offsets), on odd configurations, or on any
//! segment end; every init and media segment it returns is whole boxes, and finishing the
//! same segment twice gives the same bytes.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use zonecast_ingest::{
    media::fmp4::{AudioGrid, FragmentBuilder, init_segment},
    media::frame::{AudioConfig, MediaFrame, VideoConfig},
};

/// Top-level boxes fill `data` exactly.
fn assert_whole_boxes(data: &[u8]) {
    let mut at = 0usize;
    while at < data.len() {
        let size = data
            .get(at..at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .expect("box header");
        assert!(size >= 8, "box at {at} of size {size}");
        at += size;
    }
    assert_eq!(at, data.len());
}

fuzz_target!(|data: &[u8]| {
    let Some((&[mode, rate, grid, _], rest)) = data.split_first_chunk::<4>() else {
        return;
    };
    let mut rest = rest;
    let video = VideoConfig {
        sps: vec![Bytes::from_static(&[0x67, 0x64, 0x00, 0x1f, 0xac])],
        pps: vec![Bytes::from_static(&[0x68, 0xee, 0x3c, 0x80])],
        nal_length_size: [1, 2, 3, 4][usize::from(mode % 4)],
        codec: "avc1.64001f".into(),
        width: None,
        height: None,
        frame_rate_milli: (mode & 0x10 != 0).then_some(u32::from(rate) * 1000),
    };
    let audio = AudioConfig {
        asc: Bytes::from_static(&[0x11, 0x90]),
        object_type: 2,
        sampling_frequency_index: 3,
        sample_rate: [0, 8_000, 44_100, 48_000, 96_000, u32::MAX][usize::from(rate % 6)],
        channels: 2,
        codec: "mp4a.40.2".into(),
    };
    let video = (mode & 0x20 == 0).then_some(&video);
    let audio = (mode & 0x40 == 0).then_some(&audio);
    if let Ok(init) = init_segment(video, audio) {
        assert_whole_boxes(&init);
    }
    let grid = AudioGrid::new(u32::from(grid) * 5);
    let Ok(mut builder) = FragmentBuilder::new(u64::from(mode) << 28, video, audio, grid) else {
        return;
    };
    // Records: [kind, dts (3 bytes, signed), cts, len, body...]
    while rest.len() >= 6 {
        let (head, tail) = rest.split_at(6);
        let len = usize::from(head[5]).min(tail.len());
        let (body, tail) = tail.split_at(len);
        rest = tail;
        let dts = i64::from(i32::from_be_bytes([head[1], head[2], head[3], 0]) >> 8);
        // Scaled up to the whole i64 range, saturating: timestamps near the overflow edges.
        let scale = i64::from(head[4] % 16 + 1).saturating_pow(u32::from(head[0] >> 6) * 4);
        let dts_ms = dts.saturating_mul(scale);
        let frame = match head[0] % 4 {
            0 => MediaFrame::Audio {
                dts_ms,
                data: Bytes::copy_from_slice(body),
            },
            3 => {
                let end = (head[4] & 1 == 1).then_some(dts_ms);
                if let Ok(bytes) = builder.finish(end) {
                    assert_whole_boxes(&bytes);
                    assert_eq!(Some(bytes), builder.finish(end).ok());
                }
                continue;
            }
            k => MediaFrame::Video {
                dts_ms,
                cts_ms: i32::from(i8::from_be_bytes([head[4]])) * 1000,
                keyframe: k == 1,
                data: Bytes::copy_from_slice(body),
            },
        };
        let before = builder.len();
        if builder.push_frame(&frame).is_err() {
            assert_eq!(builder.len(), before, "a refused frame changes nothing");
        }
    }
    if let Ok(bytes) = builder.finish(None) {
        assert_whole_boxes(&bytes);
    }
});
