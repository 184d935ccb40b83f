//! Fragmented MP4 (CMAF, ISO/IEC 23000-19) muxing of H.264 + AAC: an init segment
//! ([`init_segment`]: `ftyp` + `moov`) and media segments ([`FragmentBuilder`]: `moof` +
//! `mdat`), boxes as ISO/IEC 14496-12 defines them.
//!
//! Sans-IO and deterministic, like the TS muxer: no clock is read and no wall-clock time is
//! written (creation and modification times are 0), `mfhd.sequence_number` is the segment's
//! media sequence number and every time comes from the encoder timeline, so both AZs produce
//! byte-identical init and media segments from the same frames (DESIGN.md §4).
//!
//! # Timescales and rounding
//!
//! - Video (track 1) runs at 90 kHz: a millisecond is exactly 90 ticks, so
//!   `baseMediaDecodeTime` is `dts_ms × 90`, durations are DTS differences × 90 and
//!   composition offsets `cts_ms × 90`, all exact.
//! - Audio (track 2) runs at the sample rate, and every AAC frame is 1024 samples. RTMP gives
//!   audio DTS in whole milliseconds, which cannot place a frame exactly (1024 samples are
//!   21.33 ms at 48 kHz). Encoders emit AAC frames back to back, so the frames sit on a grid
//!   of 1024-sample steps whose origin is the stream's first audio sample ([`AudioGrid`]: an
//!   offset of 0–1023 samples from the timeline's origin). A frame goes to the grid step
//!   nearest to its DTS: a millisecond of rounding is far less than half a step, so the
//!   encoder's own position comes back. `baseMediaDecodeTime` is the first frame's step and
//!   durations are 1024, so segment N+1's audio starts exactly where segment N's ends:
//!   gapless, computed from the segment's frames and the grid alone (a restarted AZ that uses
//!   the same grid gets the same numbers). The grid is the caller's: taken once per publish
//!   session from its first audio frame ([`AudioGrid::from_first_frame`]), and learned by an
//!   ingest that joins later (the way it learns the segment numbering), because no single
//!   segment's millisecond timestamps pin the offset exactly ([`AudioGrid::ZERO`] places
//!   frames up to half a frame off: 5 ms for ffmpeg's AAC, which starts 58.67 ms in). A real gap in the audio (the next
//!   frame's step further on than one frame) lengthens the sample before it to whole frames,
//!   so later audio stays in sync.
//!
//! # The last sample's duration
//!
//! A sample's duration is the next sample's DTS minus its own, which the last sample of a
//! segment does not have. [`FragmentBuilder::finish`] takes where the segment ends (the DTS of
//! the next segment's first frame, when the caller knows it): the last video sample lasts until
//! then; without it (or if it is not after the last DTS, as when the encoder's timeline restarts)
//! the last video sample lasts as long as the one before it, and a lone video sample lasts one
//! frame at the SPS frame rate (else [`FALLBACK_VIDEO_DURATION`]). The last audio sample is 1024
//! samples, like every AAC frame.

mod boxes;
mod error;
mod fragment;
mod init;
#[cfg(test)]
mod tests;
mod timing;
mod traf;

use std::fmt;

pub use error::Fmp4Error;
pub use fragment::FragmentBuilder;
pub use init::init_segment;
pub use timing::{AudioGrid, video_ticks};

/// Track id of the H.264 track (`tkhd`, `trex`, `tfhd`).
pub const VIDEO_TRACK_ID: u32 = 1;
/// Track id of the AAC track.
pub const AUDIO_TRACK_ID: u32 = 2;
/// Timescale of the video track: the MPEG 90 kHz clock, a whole number of ticks per ms.
pub const VIDEO_TIMESCALE: u32 = 90_000;
/// Samples per AAC frame (AAC-LC; ISO/IEC 14496-3 §4.5.1.1 frameLengthFlag 0).
pub const AAC_FRAME_SAMPLES: u32 = 1024;
/// Duration of a lone video sample whose end is unknown and whose SPS has no frame rate:
/// 1/30 s at 90 kHz.
pub const FALLBACK_VIDEO_DURATION: u32 = 3000;

/// Which track a frame or error concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Track {
    Video,
    Audio,
}

impl fmt::Display for Track {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Track::Video => "video",
            Track::Audio => "audio",
        })
    }
}
