//! Why a frame or segment could not be muxed.

/// Why a frame or segment could not be muxed. Frame errors carry the frame's DTS (encoder
/// timeline, ms) so the tag can be found in a capture of the RTMP session.
#[derive(Debug, thiserror::Error)]
pub enum TsError {
    /// `push_frame` or `finish_segment` without a `begin_segment` first.
    #[error("no segment open (frame dts {dts_ms:?} ms)")]
    NoSegment { dts_ms: Option<i64> },
    /// A video frame arrived but the segment was begun without a video config.
    #[error("video frame at dts {dts_ms} ms but the segment has no video track")]
    NoVideoTrack { dts_ms: i64 },
    /// An audio frame arrived but the segment was begun without an audio config.
    #[error("audio frame at dts {dts_ms} ms but the segment has no audio track")]
    NoAudioTrack { dts_ms: i64 },
    /// The AVC config's NAL length size is not 1, 2 or 4 (ISO/IEC 14496-15 §5.3.3.1).
    #[error("invalid NAL unit length size {nal_length_size} (video frame at dts {dts_ms} ms)")]
    InvalidNalLengthSize { nal_length_size: u8, dts_ms: i64 },
    /// The frame ends inside a NAL unit length prefix.
    #[error(
        "video frame at dts {dts_ms} ms: truncated NAL length prefix at byte {offset} of {frame_len}"
    )]
    TruncatedNalLength {
        dts_ms: i64,
        offset: usize,
        frame_len: usize,
    },
    /// A NAL unit length runs past the end of the frame.
    #[error(
        "video frame at dts {dts_ms} ms: NAL unit at byte {offset} declares {nal_len} bytes, only {remaining} remain"
    )]
    NalLengthOverrun {
        dts_ms: i64,
        offset: usize,
        nal_len: usize,
        remaining: usize,
    },
    /// ADTS can only describe AAC Main/LC/SSR/LTP (and HE-AAC implicitly).
    #[error("AAC object type {object_type} cannot be carried in ADTS")]
    UnsupportedAudioObjectType { object_type: u8 },
    /// Sampling frequency index 13–15 (reserved or explicit) cannot be carried in ADTS.
    #[error("AAC sampling frequency index {index} cannot be carried in ADTS")]
    UnsupportedSamplingFrequencyIndex { index: u8 },
    /// ADTS channel_configuration is 3 bits.
    #[error("AAC channel configuration {channels} cannot be carried in ADTS")]
    UnsupportedChannelConfiguration { channels: u8 },
    /// An AAC frame longer than ADTS's 13-bit frame_length allows.
    #[error("audio frame at dts {dts_ms} ms is {len} bytes, too large for ADTS")]
    AudioFrameTooLarge { dts_ms: i64, len: usize },
    /// The PAT and PMT did not come out as one TS packet each (a bug here, not bad input).
    #[error("PAT + PMT took {len} bytes instead of 376")]
    PsiSize { len: usize },
    /// The `mpeg2ts` crate refused a packet (a bug here rather than bad input).
    #[error("writing TS packet on PID {pid:#x}: {source}")]
    Mux {
        pid: u16,
        #[source]
        source: mpeg2ts::Error,
    },
}

impl TsError {
    /// True for errors that are bugs in the muxer rather than properties of the input: the
    /// segment being written can no longer be trusted. Every other error refuses one frame (or
    /// one configuration) and leaves the segment as it was.
    pub fn is_internal(&self) -> bool {
        matches!(self, TsError::PsiSize { .. } | TsError::Mux { .. })
    }
}
