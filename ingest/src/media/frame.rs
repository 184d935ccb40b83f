//! Media units passed between the FLV demuxer, the segmenter and the TS muxer.
//!
//! Timestamps are milliseconds on the encoder's timeline (RTMP timestamps, unwrapped to i64),
//! so the same encoder timeline gives the same values in both AZs.

use std::sync::Arc;

use bytes::Bytes;

/// H.264 decoder configuration, from the AVCDecoderConfigurationRecord (ISO/IEC 14496-15
/// §5.3.3) or from parameter sets carried in the frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoConfig {
    /// Sequence parameter sets, without start codes or length prefixes.
    pub sps: Vec<Bytes>,
    /// Picture parameter sets, without start codes or length prefixes.
    pub pps: Vec<Bytes>,
    /// Size in bytes of the NAL unit length prefix in each frame (1, 2 or 4).
    pub nal_length_size: u8,
    /// RFC 6381 codec string, e.g. `avc1.64001f`, from profile/compat/level of the first SPS.
    pub codec: String,
    /// Picture size in pixels decoded from the first SPS (cropping applied), if it parsed.
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// Frames per second × 1000 from the first SPS's VUI timing info, if it carries it
    /// (x264 does): the FRAME-RATE of the multivariant playlist, exact where measuring
    /// millisecond RTMP timestamps is not.
    pub frame_rate_milli: Option<u32>,
}

/// AAC configuration, from the AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioConfig {
    /// The raw AudioSpecificConfig bytes.
    pub asc: Bytes,
    /// Audio object type (2 = AAC-LC).
    pub object_type: u8,
    /// Index into the ADTS sampling frequency table.
    pub sampling_frequency_index: u8,
    /// Sampling rate in Hz.
    pub sample_rate: u32,
    /// Channel configuration (1 = mono, 2 = stereo, ...).
    pub channels: u8,
    /// RFC 6381 codec string, e.g. `mp4a.40.2`.
    pub codec: String,
}

/// One access unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaFrame {
    /// One H.264 access unit as it came in the FLV tag: NAL units each prefixed by a
    /// big-endian length of `VideoConfig::nal_length_size` bytes (AVCC form).
    Video {
        dts_ms: i64,
        /// Composition time offset: pts = dts + cts.
        cts_ms: i32,
        keyframe: bool,
        data: Bytes,
    },
    /// One raw AAC frame (no ADTS header).
    Audio { dts_ms: i64, data: Bytes },
}

impl MediaFrame {
    pub fn dts_ms(&self) -> i64 {
        match self {
            MediaFrame::Video { dts_ms, .. } | MediaFrame::Audio { dts_ms, .. } => *dts_ms,
        }
    }
    pub fn is_video(&self) -> bool {
        matches!(self, MediaFrame::Video { .. })
    }
    pub fn is_keyframe(&self) -> bool {
        matches!(self, MediaFrame::Video { keyframe: true, .. })
    }
}

/// What the FLV demuxer yields for an audio or video tag body; one tag gives zero or more, in
/// order (a keyframe carrying new parameter sets gives its `VideoConfig`, then its `Frame`).
///
/// A configuration has one owner, the demuxer, which makes one instance per configuration
/// and never edits it: the packager, the muxer and the segment formats share that instance,
/// so passing it on copies no parameter sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    /// The H.264 configuration changed (or arrived first); later video frames use it.
    VideoConfig(Arc<VideoConfig>),
    /// The AAC configuration changed (or arrived first); later audio frames use it.
    AudioConfig(Arc<AudioConfig>),
    Frame(MediaFrame),
}
