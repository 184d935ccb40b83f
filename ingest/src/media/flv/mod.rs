//! FLV demuxing: RTMP audio/video message payloads (FLV tag bodies, Adobe FLV spec v10.1 §E.4)
//! to [`MediaEvent`]s, plus a sans-IO reader for `.flv` files (§E.2–E.3).
//!
//! RTMP carries exactly the FLV VIDEODATA/AUDIODATA tag bodies, so one demuxer serves both the
//! live ingest and file-based tests. Everything here is sans-IO: bytes in, events out.

mod audio;
mod bits;
pub mod h264;
mod reader;
mod video;

#[cfg(test)]
mod tests;

use std::{fmt, sync::Arc};

use bytes::Bytes;

pub use h264::{Sps, SpsError, parse_sps};
pub use reader::{FlvReader, FlvTag, FlvTagKind};

use crate::media::frame::{AudioConfig, MediaEvent, VideoConfig};

/// Turns RTMP video/audio message bodies into decoder configurations and frames.
///
/// Keeps the AVC and AAC configuration in force, because frames can only be interpreted (NAL
/// length size) or muxed (ADTS header) with it, and reports a configuration only when it
/// changes: encoders and relays repeat sequence headers, and x264 without global headers
/// repeats its SPS/PPS before every keyframe.
///
/// Each tag gives zero or more events, in order; an error means that one tag is unusable and
/// leaves the state as it was, so the caller can drop the tag and go on.
#[derive(Debug, Default)]
pub struct FlvDemuxer {
    video: video::VideoState,
    audio: Option<Arc<AudioConfig>>,
}

impl FlvDemuxer {
    /// The AVC configuration in force (from a sequence header or in-band parameter sets).
    pub fn video_config(&self) -> Option<&Arc<VideoConfig>> {
        self.video.config.as_ref()
    }

    /// The last AAC sequence header seen, if any.
    pub fn audio_config(&self) -> Option<&Arc<AudioConfig>> {
        self.audio.as_ref()
    }

    /// Demuxes one VIDEODATA tag body (§E.4.3). `dts_ms` is the unwrapped RTMP timestamp.
    ///
    /// The frame in the result is a slice of `body` (the RTMP message), not a copy, whenever
    /// it is AVCC with the configuration's NAL length size: what every encoder sends.
    pub fn demux_video(&mut self, dts_ms: i64, body: &Bytes) -> Result<Vec<MediaEvent>, FlvError> {
        video::demux(&mut self.video, dts_ms, body)
    }

    /// Demuxes one AUDIODATA tag body (§E.4.2). `dts_ms` is the unwrapped RTMP timestamp.
    /// The frame in the result is a slice of `body`.
    pub fn demux_audio(&mut self, dts_ms: i64, body: &Bytes) -> Result<Vec<MediaEvent>, FlvError> {
        audio::demux(&mut self.audio, dts_ms, body)
    }
}

/// Which kind of tag body an error was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagContext {
    Audio,
    Video,
}

impl fmt::Display for TagContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TagContext::Audio => "audio",
            TagContext::Video => "video",
        })
    }
}

/// Errors from [`FlvDemuxer`] and [`FlvReader`].
///
/// Demux errors name the tag kind, its timestamp and the byte offset within the tag body, so
/// the message can be found in a packet capture; reader errors give the file offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlvError {
    /// A tag body with no bytes at all.
    #[error("{kind} tag at dts {dts_ms} ms: empty body")]
    EmptyBody { kind: TagContext, dts_ms: i64 },

    /// A field runs past the end of the tag body.
    #[error(
        "{kind} tag at dts {dts_ms} ms: truncated {what} at body offset {offset}: \
         need {needed} bytes, have {available}"
    )]
    Truncated {
        kind: TagContext,
        dts_ms: i64,
        what: &'static str,
        offset: usize,
        needed: usize,
        available: usize,
    },

    /// Video codec other than AVC (CodecID 7), or an Enhanced RTMP extended header
    /// (IsExHeader bit 0x80 of byte 0: HEVC, AV1, VP9...), which we do not package.
    #[error(
        "video tag at dts {dts_ms} ms: unsupported codec (byte 0 = {byte0:#04x}: codec id {codec_id}{})",
        if *enhanced { ", Enhanced RTMP ex-header" } else { "" }
    )]
    UnsupportedVideoCodec {
        dts_ms: i64,
        byte0: u8,
        codec_id: u8,
        enhanced: bool,
    },

    /// FrameType 0 or 6..15 (§E.4.3.1 defines 1..5).
    #[error("video tag at dts {dts_ms} ms: invalid frame type {frame_type} at body offset 0")]
    InvalidVideoFrameType { dts_ms: i64, frame_type: u8 },

    /// SoundFormat other than AAC (10); includes Enhanced RTMP's ex-header (9).
    #[error(
        "audio tag at dts {dts_ms} ms: unsupported sound format {sound_format} at body offset 0 (only AAC = 10)"
    )]
    UnsupportedAudioCodec { dts_ms: i64, sound_format: u8 },

    /// An AVC NALU tag before any AVC sequence header.
    #[error("video tag at dts {dts_ms} ms: AVC NALU before the AVC sequence header")]
    MissingVideoConfig { dts_ms: i64 },

    /// An AAC raw tag before any AAC sequence header.
    #[error("audio tag at dts {dts_ms} ms: AAC raw frame before the AAC sequence header")]
    MissingAudioConfig { dts_ms: i64 },

    /// A malformed AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.3.3).
    #[error(
        "video tag at dts {dts_ms} ms: bad AVCDecoderConfigurationRecord at body offset {offset}: {reason}"
    )]
    InvalidAvcConfig {
        dts_ms: i64,
        offset: usize,
        reason: String,
    },

    /// A frame whose NAL units cannot be delimited (bad AVCC lengths, and no Annex B start
    /// code either).
    #[error("video tag at dts {dts_ms} ms: bad NAL units at body offset {offset}: {reason}")]
    InvalidNalUnits {
        dts_ms: i64,
        offset: usize,
        reason: String,
    },

    /// A malformed AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1).
    #[error(
        "audio tag at dts {dts_ms} ms: bad AudioSpecificConfig at body offset {offset}: {reason}"
    )]
    InvalidAudioConfig {
        dts_ms: i64,
        offset: usize,
        reason: String,
    },

    /// The file does not start with "FLV" (§E.2).
    #[error("FLV file offset 0: signature {found:02x?} is not \"FLV\"")]
    BadSignature { found: [u8; 3] },

    /// FLV header version other than 1 (§E.2).
    #[error("FLV file offset 3: version {found}, expected 1")]
    UnsupportedVersion { found: u8 },

    /// FLV header DataOffset smaller than the 9-byte header (§E.2).
    #[error("FLV file offset 5: data offset {found} is smaller than the 9-byte header")]
    BadDataOffset { found: u32 },

    /// TagType other than 8, 9 or 18 (§E.4.1).
    #[error("FLV file offset {offset}: unknown tag type {tag_type}")]
    UnknownTagType { offset: u64, tag_type: u8 },

    /// The Filter bit is set: the tag is encrypted (§E.4.1), which we cannot read.
    #[error("FLV file offset {offset}: encrypted tag (filter bit set)")]
    EncryptedTag { offset: u64 },
}

impl FlvError {
    /// True for a frame that arrived before its sequence header. Encoders send configuration
    /// first, so callers drop such frames instead of failing the stream.
    pub fn is_missing_config(&self) -> bool {
        matches!(
            self,
            FlvError::MissingVideoConfig { .. } | FlvError::MissingAudioConfig { .. }
        )
    }

    /// True for valid media in a codec ZoneCast does not package (not H.264, not AAC).
    pub fn is_unsupported_codec(&self) -> bool {
        matches!(
            self,
            FlvError::UnsupportedVideoCodec { .. } | FlvError::UnsupportedAudioCodec { .. }
        )
    }

    /// The tag's timestamp on the encoder timeline, for a demux error (not for file errors).
    pub fn dts_ms(&self) -> Option<i64> {
        match self {
            FlvError::EmptyBody { dts_ms, .. }
            | FlvError::Truncated { dts_ms, .. }
            | FlvError::UnsupportedVideoCodec { dts_ms, .. }
            | FlvError::InvalidVideoFrameType { dts_ms, .. }
            | FlvError::UnsupportedAudioCodec { dts_ms, .. }
            | FlvError::MissingVideoConfig { dts_ms }
            | FlvError::MissingAudioConfig { dts_ms }
            | FlvError::InvalidAvcConfig { dts_ms, .. }
            | FlvError::InvalidNalUnits { dts_ms, .. }
            | FlvError::InvalidAudioConfig { dts_ms, .. } => Some(*dts_ms),
            FlvError::BadSignature { .. }
            | FlvError::UnsupportedVersion { .. }
            | FlvError::BadDataOffset { .. }
            | FlvError::UnknownTagType { .. }
            | FlvError::EncryptedTag { .. } => None,
        }
    }
}

/// Bounds-checked slice of a tag body: `body[offset..offset + len]`, or a [`FlvError::Truncated`].
fn take<'a>(
    kind: TagContext,
    dts_ms: i64,
    body: &'a [u8],
    offset: usize,
    len: usize,
    what: &'static str,
) -> Result<&'a [u8], FlvError> {
    offset
        .checked_add(len)
        .and_then(|end| body.get(offset..end))
        .ok_or(FlvError::Truncated {
            kind,
            dts_ms,
            what,
            offset,
            needed: len,
            available: body.len().saturating_sub(offset),
        })
}

/// Like [`take`], for a fixed-size field.
fn take_array<const N: usize>(
    kind: TagContext,
    dts_ms: i64,
    body: &[u8],
    offset: usize,
    what: &'static str,
) -> Result<[u8; N], FlvError> {
    let slice = take(kind, dts_ms, body, offset, N, what)?;
    <[u8; N]>::try_from(slice).map_err(|_| FlvError::Truncated {
        kind,
        dts_ms,
        what,
        offset,
        needed: N,
        available: slice.len(),
    })
}
