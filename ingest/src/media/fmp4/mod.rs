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
//!   21.33 ms at 48 kHz). A frame's position is therefore the 1024-sample step of the encoder
//!   timeline nearest to its DTS ([`audio_frame_index`]); encoders emit AAC frames back to back
//!   from an origin on that grid, and a millisecond of rounding is far less than half a frame,
//!   so the encoder's exact position comes back. `baseMediaDecodeTime` is the first frame's
//!   grid position and durations are 1024, so segment N+1's audio starts exactly where segment
//!   N's ends: gapless, and computed from the segment's own frames alone (a restarted AZ gets
//!   the same numbers). A real gap in the audio (the next frame's grid position further on than
//!   one frame) lengthens the sample before it to whole frames, so later audio stays in sync.
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
mod traf;

use std::fmt;

pub use error::Fmp4Error;
pub use fragment::FragmentBuilder;
pub use init::init_segment;

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

/// A video DTS on the 90 kHz timescale: exactly `dts_ms × 90`.
pub fn video_ticks(dts_ms: i64) -> Result<u64, Fmp4Error> {
    let negative = || Fmp4Error::NegativeDts {
        track: Track::Video,
        dts_ms,
    };
    let ms = u64::try_from(dts_ms).map_err(|_| negative())?;
    ms.checked_mul(u64::from(VIDEO_TIMESCALE / 1000))
        .ok_or(Fmp4Error::TimestampOverflow {
            track: Track::Video,
            dts_ms,
        })
}

/// The AAC frame of the encoder timeline nearest to `dts_ms`: `round(dts_ms × rate / 1000 /
/// 1024)`, halves rounded up, in integers (so every platform gets the same answer). Frame `n`
/// starts at sample `n × 1024` of the audio timescale ([`audio_ticks`]).
pub fn audio_frame_index(dts_ms: i64, sample_rate: u32) -> Result<u64, Fmp4Error> {
    if dts_ms < 0 {
        return Err(Fmp4Error::NegativeDts {
            track: Track::Audio,
            dts_ms,
        });
    }
    let step = 1000 * i128::from(AAC_FRAME_SAMPLES);
    let index = (2 * i128::from(dts_ms) * i128::from(sample_rate) + step).div_euclid(2 * step);
    u64::try_from(index).map_err(|_| Fmp4Error::TimestampOverflow {
        track: Track::Audio,
        dts_ms,
    })
}

/// Where AAC frame `index` starts on the audio timescale: `index × 1024`.
pub fn audio_ticks(index: u64, dts_ms: i64) -> Result<u64, Fmp4Error> {
    index
        .checked_mul(u64::from(AAC_FRAME_SAMPLES))
        .ok_or(Fmp4Error::TimestampOverflow {
            track: Track::Audio,
            dts_ms,
        })
}
