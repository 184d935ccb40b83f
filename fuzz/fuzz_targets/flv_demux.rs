//! FlvDemuxer never panics on any sequence of audio/video tag bodies, and every video frame it
//! yields is AVCC that splits cleanly with the configuration in force (the demuxer checks NAL
//! framing, converting Annex B, so the TS muxer sees one form only).
//!
//! Input layout: repeated `[kind, len, body[len]]`; kind bit 0 picks audio or video, so
//! a sequence header followed by frames can be reached.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zonecast_ingest::{
    media::flv::{FlvDemuxer, h264},
    media::frame::{MediaEvent, MediaFrame},
};

fuzz_target!(|data: &[u8]| {
    let mut demuxer = FlvDemuxer::default();
    let mut rest = data;
    let mut dts = 0i64;
    while let [kind, len, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        let (body, next) = tail.split_at(len);
        let result = if kind & 1 == 0 {
            demuxer.demux_video(dts, &bytes::Bytes::copy_from_slice(body))
        } else {
            demuxer.demux_audio(dts, &bytes::Bytes::copy_from_slice(body))
        };
        match result {
            // Display must not panic either.
            Err(e) => {
                let _ = e.to_string();
            }
            Ok(events) => {
                for event in events {
                    if let MediaEvent::Frame(MediaFrame::Video { data, .. }) = event {
                        let config = demuxer.video_config().expect("a frame has a config");
                        assert!(h264::split_avcc(&data, config.nal_length_size).is_ok());
                    }
                }
            }
        }
        dts += i64::from(*kind >> 1);
        rest = next;
    }
});
