//! Elementary-stream payloads for the PES packets: H.264 in Annex B form and AAC in ADTS.
//!
//! RTMP carries H.264 as AVCC (length-prefixed NAL units, ISO/IEC 14496-15 §5.3) and AAC as
//! raw frames with the configuration sent once (ISO/IEC 14496-3 §1.6.2.1). MPEG-TS wants
//! self-delimiting streams instead: Annex B start codes (ITU-T H.264 Annex B) and ADTS headers
//! (ISO/IEC 14496-3 §1.A.2), which is what stream types 0x1b and 0x0f mean in the PMT
//! (ISO/IEC 13818-1 Table 2-34).

use super::TsError;
use crate::media::frame::{AudioConfig, VideoConfig};

/// Annex B start code. The 4-byte form (with `zero_byte`) everywhere keeps the builder simple;
/// ITU-T H.264 §B.1.2 requires it for parameter sets and the first NAL of an access unit.
static START_CODE: [u8; 4] = [0, 0, 0, 1];

/// Access unit delimiter, `primary_pic_type` 7 ("any slice type") + RBSP stop bit
/// (ITU-T H.264 §7.3.2.4). Apple's HLS authoring spec and ISO/IEC 13818-1 §2.14 ask for one
/// at the start of every access unit in a TS.
pub static AUD: [u8; 6] = [0, 0, 0, 1, 0x09, 0xf0];

const NAL_TYPE_SPS: u8 = 7;
const NAL_TYPE_PPS: u8 = 8;
const NAL_TYPE_AUD: u8 = 9;

/// Size of an ADTS header without CRC (`protection_absent = 1`).
pub const ADTS_HEADER_LEN: usize = 7;

/// Largest ADTS frame: `frame_length` is a 13-bit field that includes the header.
pub const ADTS_MAX_FRAME_LEN: usize = (1 << 13) - 1;

/// Splits an AVCC access unit into its NAL units, checking every length against the frame.
///
/// Zero-length NAL units are skipped: they carry nothing and would otherwise become a bare
/// start code.
pub fn split_avcc(data: &[u8], nal_length_size: u8, dts_ms: i64) -> Result<Vec<&[u8]>, TsError> {
    let size = usize::from(nal_length_size);
    if !(1..=4).contains(&size) {
        return Err(TsError::InvalidNalLengthSize {
            nal_length_size,
            dts_ms,
        });
    }
    let mut nals = Vec::new();
    let mut offset = 0;
    while offset < data.len() {
        let Some(prefix) = data.get(offset..offset + size) else {
            return Err(TsError::TruncatedNalLength {
                dts_ms,
                offset,
                frame_len: data.len(),
            });
        };
        let len = prefix
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        let start = offset + size;
        let Some(nal) = start.checked_add(len).and_then(|end| data.get(start..end)) else {
            return Err(TsError::NalLengthOverrun {
                dts_ms,
                offset,
                nal_len: len,
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

fn nal_type(nal: &[u8]) -> u8 {
    nal.first().map_or(0, |b| b & 0x1f)
}

/// One access unit in Annex B form, ready to be the payload of a video PES, as pieces borrowed
/// from the frame and the configuration: the TS muxer copies them once, into the segment.
///
/// - An AUD goes first unless the frame already starts with one.
/// - Before a keyframe the SPS and PPS from `config` are repeated (unless the frame carries
///   both an SPS and a PPS itself), right after the AUD, so every segment starting on a
///   keyframe is decodable on its own (RFC 8216 §6.2.2 `EXT-X-INDEPENDENT-SEGMENTS`; RTMP sends
///   them only once).
#[derive(Debug)]
pub struct AccessUnit<'a> {
    pieces: Vec<&'a [u8]>,
}

impl<'a> AccessUnit<'a> {
    /// The access unit of `nals` (from [`split_avcc`]); empty for a frame without NAL units:
    /// there is nothing to decode.
    pub fn annex_b(config: &'a VideoConfig, nals: &[&'a [u8]], keyframe: bool) -> Self {
        let Some((&first, rest)) = nals.split_first() else {
            return Self { pieces: Vec::new() };
        };
        let has_sps = nals.iter().any(|n| nal_type(n) == NAL_TYPE_SPS);
        let has_pps = nals.iter().any(|n| nal_type(n) == NAL_TYPE_PPS);
        let repeat_params = keyframe && !(has_sps && has_pps);
        let params = if repeat_params {
            config.sps.len() + config.pps.len()
        } else {
            0
        };
        let mut pieces = Vec::with_capacity(2 * (nals.len() + params + 1));
        let rest = if nal_type(first) == NAL_TYPE_AUD {
            pieces.extend([&START_CODE[..], first]);
            rest
        } else {
            pieces.push(&AUD[..]);
            nals
        };
        if repeat_params {
            for p in config.sps.iter().chain(&config.pps) {
                pieces.extend([&START_CODE[..], p.as_ref()]);
            }
        }
        for nal in rest {
            pieces.extend([&START_CODE[..], nal]);
        }
        Self { pieces }
    }

    pub fn pieces(&self) -> &[&'a [u8]] {
        &self.pieces
    }

    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// The access unit as one buffer (tests, and anything that wants it contiguous).
    pub fn to_vec(&self) -> Vec<u8> {
        self.pieces.concat()
    }
}

/// The fixed part of an ADTS header derived once per segment from the AudioConfig
/// (ISO/IEC 14496-3 §1.A.2.2.1 `adts_fixed_header`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdtsTemplate {
    profile: u8,
    sampling_frequency_index: u8,
    channel_configuration: u8,
}

impl AdtsTemplate {
    /// Validates the config against what ADTS can express.
    ///
    /// ADTS's 2-bit `profile` is `object_type - 1`, so only object types 1–4 fit. HE-AAC
    /// (SBR, type 5) and HE-AACv2 (PS, type 29) are signalled implicitly in ADTS: the header
    /// says AAC-LC and the decoder finds the SBR/PS extension in the payload (14496-3 §1.6.5.2).
    pub fn new(config: &AudioConfig) -> Result<Self, TsError> {
        let profile = match config.object_type {
            1..=4 => config.object_type - 1,
            5 | 29 => 1,
            other => return Err(TsError::UnsupportedAudioObjectType { object_type: other }),
        };
        // Index 13 and 14 are reserved, 15 means "explicit frequency", which ADTS cannot carry.
        if config.sampling_frequency_index > 12 {
            return Err(TsError::UnsupportedSamplingFrequencyIndex {
                index: config.sampling_frequency_index,
            });
        }
        if config.channels > 7 {
            return Err(TsError::UnsupportedChannelConfiguration {
                channels: config.channels,
            });
        }
        Ok(Self {
            profile,
            sampling_frequency_index: config.sampling_frequency_index,
            channel_configuration: config.channels,
        })
    }

    /// Writes the 7-byte header (no CRC) for a raw frame of `payload_len` bytes.
    pub fn header(
        &self,
        payload_len: usize,
        dts_ms: i64,
    ) -> Result<[u8; ADTS_HEADER_LEN], TsError> {
        let frame_len = ADTS_HEADER_LEN + payload_len;
        if frame_len > ADTS_MAX_FRAME_LEN {
            return Err(TsError::AudioFrameTooLarge {
                dts_ms,
                len: payload_len,
            });
        }
        let len = frame_len as u16;
        let ch = self.channel_configuration;
        Ok([
            0xff,
            // syncword low nibble, ID = 0 (MPEG-4), layer 00, protection_absent = 1.
            0xf1,
            (self.profile << 6) | (self.sampling_frequency_index << 2) | ((ch >> 2) & 1),
            ((ch & 3) << 6) | ((len >> 11) as u8 & 0x03),
            (len >> 3) as u8,
            ((len & 0x07) as u8) << 5 | 0x1f,
            // adts_buffer_fullness 0x7ff (VBR) low bits, one raw data block.
            0xfc,
        ])
    }
}
