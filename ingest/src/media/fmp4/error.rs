//! Why an init or media segment could not be muxed.

use super::Track;

/// Why an init segment, a frame or a media segment could not be muxed. Frame errors carry the
/// frame's DTS (encoder timeline, ms) and, for bad video data, the byte offset within the
/// frame, so the tag can be found in a capture of the RTMP session.
#[derive(Debug, thiserror::Error)]
pub enum Fmp4Error {
    /// The video configuration has no SPS, or its first SPS is too short to carry
    /// profile/compatibility/level (ISO/IEC 14496-15 §5.3.3.1).
    #[error("video configuration has no usable SPS (first SPS {len:?} bytes)")]
    MissingSps { len: Option<usize> },
    /// The video configuration has no PPS.
    #[error("video configuration has no PPS")]
    MissingPps,
    /// More parameter sets than the avcC count fields hold (31 SPS, 255 PPS).
    #[error("{count} {kind} parameter sets, more than the avcC record holds ({max})")]
    TooManyParameterSets {
        kind: &'static str,
        count: usize,
        max: usize,
    },
    /// A parameter set longer than avcC's 16-bit length field.
    #[error("{kind} parameter set of {len} bytes, longer than avcC's 16-bit length")]
    ParameterSetTooLong { kind: &'static str, len: usize },
    /// The NAL length size is not 1, 2 or 4 (ISO/IEC 14496-15 §5.3.3.1).
    #[error("invalid NAL unit length size {nal_length_size}")]
    InvalidNalLengthSize { nal_length_size: u8 },
    /// The AAC sample rate is 0: it is the audio track's timescale.
    #[error("audio sample rate 0 cannot be a timescale")]
    ZeroSampleRate,
    /// An AudioSpecificConfig too long for an MPEG-4 descriptor size (ISO/IEC 14496-1 §8.3.3).
    #[error("AudioSpecificConfig of {len} bytes is too long for the esds descriptor")]
    AudioConfigTooLong { len: usize },
    /// The segment's media sequence number does not fit `mfhd.sequence_number` (32 bits).
    #[error("media sequence number {msn} does not fit mfhd's 32-bit sequence_number")]
    SequenceNumberTooLarge { msn: u64 },
    /// A frame for a track the segment was not begun with.
    #[error("{track} frame at dts {dts_ms} ms but the segment has no {track} track")]
    NoTrack { track: Track, dts_ms: i64 },
    /// `baseMediaDecodeTime` is unsigned: a frame before the timeline's origin cannot start a
    /// fragment.
    #[error("{track} frame at dts {dts_ms} ms: negative decode time")]
    NegativeDts { track: Track, dts_ms: i64 },
    /// A DTS so far on that its decode time does not fit 64 bits in the track's timescale.
    #[error("{track} frame at dts {dts_ms} ms: decode time overflows 64 bits")]
    TimestampOverflow { track: Track, dts_ms: i64 },
    /// A video frame decoded before the previous one: sample durations are unsigned.
    #[error("video frame at dts {dts_ms} ms follows one at {previous_dts_ms} ms")]
    DtsBackwards { dts_ms: i64, previous_dts_ms: i64 },
    /// A gap between two frames longer than a 32-bit sample duration (~13 h of video at
    /// 90 kHz, ~25 h of audio at 48 kHz).
    #[error("{track} frame at dts {dts_ms} ms is {gap_ms} ms after the previous one")]
    DurationOverflow {
        track: Track,
        dts_ms: i64,
        gap_ms: i64,
    },
    /// A composition offset beyond trun's signed 32-bit field at 90 kHz.
    #[error("video frame at dts {dts_ms} ms: composition offset {cts_ms} ms out of range")]
    CompositionOffsetOverflow { dts_ms: i64, cts_ms: i32 },
    /// The frame ends inside a NAL unit length prefix, or a length runs past its end.
    #[error("video frame at dts {dts_ms} ms: bad NAL unit at byte {offset}: {reason}")]
    BadNalUnit {
        dts_ms: i64,
        offset: usize,
        reason: String,
    },
    /// A sample, a box or the data offset would exceed its 32-bit field.
    #[error("{what} of {len} bytes exceeds its 32-bit field (frame dts {dts_ms:?} ms)")]
    TooLarge {
        what: &'static str,
        len: usize,
        dts_ms: Option<i64>,
    },
}

impl Fmp4Error {
    /// True for errors in a frame (refused; the segment stays as it was) rather than in the
    /// configuration or the segment as a whole.
    pub fn is_frame_error(&self) -> bool {
        matches!(
            self,
            Fmp4Error::NoTrack { .. }
                | Fmp4Error::NegativeDts { .. }
                | Fmp4Error::TimestampOverflow { .. }
                | Fmp4Error::DtsBackwards { .. }
                | Fmp4Error::DurationOverflow { .. }
                | Fmp4Error::CompositionOffsetOverflow { .. }
                | Fmp4Error::BadNalUnit { .. }
        )
    }
}
