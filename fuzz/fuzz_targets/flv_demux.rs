//! FlvDemuxer never panics on any sequence of audio/video tag bodies.
//!
//! Input layout: repeated `[kind, len, body[len]]`; kind bit 0 picks audio or video, so
//! a sequence header followed by frames can be reached.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zonecast_ingest::flv::FlvDemuxer;

fuzz_target!(|data: &[u8]| {
    let mut demuxer = FlvDemuxer::default();
    let mut rest = data;
    let mut dts = 0i64;
    while let [kind, len, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        let (body, next) = tail.split_at(len);
        let result = if kind & 1 == 0 {
            demuxer.demux_video(dts, body)
        } else {
            demuxer.demux_audio(dts, body)
        };
        if let Err(e) = result {
            // Display must not panic either.
            let _ = e.to_string();
        }
        dts += i64::from(*kind >> 1);
        rest = next;
    }
});
