//! H.264 bitstream facts the ingest needs: NAL unit framing (AVCC, ISO/IEC 14496-15 §5.3.3;
//! Annex B byte stream, ITU-T H.264 Annex B) and what the sequence parameter set says (codec
//! string, picture size), read with the `h264-reader` crate.
//!
//! Everything here reads peer data: bounds-checked, no panics, allocations bounded by the
//! input length.

use bytes::Bytes;
use h264_reader::{
    nal::sps::{FrameMbsFlags, SeqParameterSet},
    rbsp::{BitReader, ByteReader},
};

use crate::media::frame::VideoConfig;

/// nal_unit_type of a sequence parameter set (ITU-T H.264 Table 7-1).
pub const NAL_SPS: u8 = 7;
/// nal_unit_type of a picture parameter set.
pub const NAL_PPS: u8 = 8;

/// The `nal_unit_type` of a NAL unit (its first byte's low 5 bits); 0 for an empty one.
pub fn nal_type(nal: &[u8]) -> u8 {
    nal.first().map_or(0, |b| b & 0x1f)
}

/// Why an SPS could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpsError {
    /// The NAL unit is not an SPS (nal_unit_type 7, ITU-T H.264 §7.4.1).
    #[error("NAL unit type {found} is not an SPS (7)")]
    NotSps { found: u8 },
    /// h264-reader refused the SPS syntax (truncated, or a field out of range).
    #[error("invalid SPS: {reason}")]
    Invalid { reason: String },
}

/// The SPS facts ZoneCast uses: identity for the RFC 6381 codec string and the display size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sps {
    pub profile_idc: u8,
    /// constraint_set0..5 flags and reserved bits, as the byte after profile_idc.
    pub constraint_flags: u8,
    pub level_idc: u8,
    /// 0 = monochrome, 1 = 4:2:0, 2 = 4:2:2, 3 = 4:4:4.
    pub chroma_format_idc: u32,
    pub frame_mbs_only: bool,
    /// Width in luma samples after frame cropping (ITU-T H.264 §7.4.2.1.1).
    pub width: u32,
    /// Height in luma samples after frame cropping (ITU-T H.264 §7.4.2.1.1).
    pub height: u32,
    /// Frames per second from the VUI timing info, if present (time_scale / 2 / num_units_in_tick).
    pub frame_rate: Option<f64>,
}

/// Parses an SPS NAL unit (with its one-byte NAL header, without start code or length prefix).
pub fn parse_sps(nal: &[u8]) -> Result<Sps, SpsError> {
    let found = nal_type(nal);
    if found != NAL_SPS {
        return Err(SpsError::NotSps { found });
    }
    let invalid = |e: &dyn std::fmt::Debug| SpsError::Invalid {
        reason: format!("{e:?}"),
    };
    // ByteReader drops the NAL header byte and the emulation-prevention bytes.
    let sps = SeqParameterSet::from_bits(BitReader::new(ByteReader::skipping_h264_header(nal)))
        .map_err(|e| invalid(&e))?;
    let (width, height) = sps.pixel_dimensions().map_err(|e| invalid(&e))?;
    if width == 0 || height == 0 {
        return Err(SpsError::Invalid {
            reason: format!("empty picture {width}x{height} after cropping"),
        });
    }
    Ok(Sps {
        profile_idc: sps.profile_idc.into(),
        constraint_flags: sps.constraint_flags.into(),
        level_idc: sps.level_idc,
        chroma_format_idc: sps.chroma_info.chroma_format.to_u32(),
        frame_mbs_only: matches!(sps.frame_mbs_flags, FrameMbsFlags::Frames),
        width,
        height,
        frame_rate: sps.fps().filter(|f| f.is_finite() && *f > 0.0),
    })
}

/// The decoder configuration for these parameter sets, or `None` without at least one SPS and
/// one PPS. The codec string comes from the first SPS's profile/constraints/level bytes
/// (RFC 6381 §3.3), so it is right even when the rest of the SPS does not parse; the picture
/// size needs the whole SPS.
pub fn video_config(sps: Vec<Bytes>, pps: Vec<Bytes>, nal_length_size: u8) -> Option<VideoConfig> {
    let first = sps.first()?;
    if pps.is_empty() {
        return None;
    }
    let &[_, profile, compat, level, ..] = first.as_ref() else {
        return None;
    };
    let codec = format!("avc1.{profile:02x}{compat:02x}{level:02x}");
    // A picture size we cannot decode is not fatal: the TS muxer needs only the raw SPS.
    let size = parse_sps(first).ok();
    Some(VideoConfig {
        sps,
        pps,
        nal_length_size,
        codec,
        width: size.map(|s| s.width),
        height: size.map(|s| s.height),
        frame_rate_milli: size
            .and_then(|s| s.frame_rate)
            .filter(|f| (1.0..=1000.0).contains(f))
            .map(|f| (f * 1000.0).round() as u32),
    })
}

/// Why a frame's NAL units could not be delimited. Offsets are within the frame data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NalError {
    /// The data ends inside a NAL unit length prefix.
    TruncatedLength { offset: usize },
    /// A NAL unit length runs past the end of the data.
    Overrun {
        offset: usize,
        len: usize,
        remaining: usize,
    },
    /// AVCC length prefixes of this size cannot be used (only 1, 2 or 4).
    BadLengthSize { size: u8 },
    /// A NAL unit too long for the length prefix it must be rewritten with.
    TooLong { len: usize, size: u8 },
}

impl std::fmt::Display for NalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NalError::TruncatedLength { offset } => {
                write!(f, "NAL unit length prefix cut short at byte {offset}")
            }
            NalError::Overrun {
                offset,
                len,
                remaining,
            } => write!(
                f,
                "NAL unit at byte {offset} declares {len} bytes, only {remaining} remain"
            ),
            NalError::BadLengthSize { size } => write!(f, "NAL length size {size}"),
            NalError::TooLong { len, size } => {
                write!(
                    f,
                    "NAL unit of {len} bytes does not fit a {size}-byte length"
                )
            }
        }
    }
}

impl NalError {
    /// Byte offset within the frame data the error points at.
    pub fn offset(&self) -> usize {
        match self {
            NalError::TruncatedLength { offset } | NalError::Overrun { offset, .. } => *offset,
            NalError::BadLengthSize { .. } | NalError::TooLong { .. } => 0,
        }
    }
}

/// Splits AVCC data (each NAL unit prefixed by a big-endian length of `size` bytes) into NAL
/// units; every length is checked against the data. Empty NAL units are skipped.
pub fn split_avcc(data: &[u8], size: u8) -> Result<Vec<&[u8]>, NalError> {
    if !matches!(size, 1 | 2 | 4) {
        return Err(NalError::BadLengthSize { size });
    }
    let size = usize::from(size);
    let mut nals = Vec::new();
    let mut offset = 0;
    while offset < data.len() {
        let Some(prefix) = offset
            .checked_add(size)
            .and_then(|end| data.get(offset..end))
        else {
            return Err(NalError::TruncatedLength { offset });
        };
        let len = prefix
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        let start = offset + size;
        let Some(nal) = start.checked_add(len).and_then(|end| data.get(start..end)) else {
            return Err(NalError::Overrun {
                offset,
                len,
                remaining: data.len() - start,
            });
        };
        if !nal.is_empty() {
            nals.push(nal);
        }
        offset = start + len;
    }
    Ok(nals)
}

/// Splits an Annex B byte stream into NAL units, or `None` if `data` does not begin with a
/// start code (`00 00 01`, after any number of zero bytes). Trailing zero bytes before the next
/// start code are `trailing_zero_8bits` of the byte stream (§B.1.2), not part of the NAL unit.
pub fn split_annex_b(data: &[u8]) -> Option<Vec<&[u8]>> {
    let leading_zeros = data.iter().take_while(|&&b| b == 0).count();
    if leading_zeros < 2 || data.get(leading_zeros) != Some(&1) {
        return None;
    }
    let mut nals = Vec::new();
    let mut start = leading_zeros + 1;
    let mut i = start;
    while i + 2 < data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            push_trimmed(&mut nals, &data[start..i]);
            start = i + 3;
            i = start;
        } else {
            i += 1;
        }
    }
    push_trimmed(&mut nals, data.get(start..).unwrap_or_default());
    Some(nals)
}

fn push_trimmed<'a>(nals: &mut Vec<&'a [u8]>, nal: &'a [u8]) {
    let end = nal.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
    if end > 0 {
        nals.push(&nal[..end]);
    }
}

/// Writes NAL units as AVCC with `size`-byte length prefixes.
pub fn to_avcc(nals: &[&[u8]], size: u8) -> Result<Vec<u8>, NalError> {
    if !matches!(size, 1 | 2 | 4) {
        return Err(NalError::BadLengthSize { size });
    }
    let prefix = usize::from(size);
    let total = nals.iter().map(|n| prefix + n.len()).sum();
    let mut out = Vec::with_capacity(total);
    for nal in nals {
        let len = u32::try_from(nal.len())
            .ok()
            .filter(|&l| prefix == 4 || l < 1 << (8 * prefix))
            .ok_or(NalError::TooLong {
                len: nal.len(),
                size,
            })?;
        out.extend_from_slice(&len.to_be_bytes()[4 - prefix..]);
        out.extend_from_slice(nal);
    }
    Ok(out)
}
