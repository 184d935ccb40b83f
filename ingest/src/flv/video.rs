//! VIDEODATA tag bodies with AVC (FLV spec v10.1 §E.4.3.1, AVCVIDEOPACKET).

use bytes::Bytes;

use super::{FlvError, TagContext, sps::parse_sps, take, take_array};
use crate::media::{MediaEvent, MediaFrame, VideoConfig};

const KIND: TagContext = TagContext::Video;
/// FrameType 1 (§E.4.3.1): a seekable frame, i.e. an IDR access unit for AVC.
const FRAME_KEY: u8 = 1;
/// FrameType 5: video info/command frame, carries no picture.
const FRAME_INFO: u8 = 5;
const CODEC_AVC: u8 = 7;
/// Enhanced RTMP (v1, 2023) sets this bit of byte 0 for its extended video tag header.
const EX_HEADER: u8 = 0x80;
/// Byte 0 (frame type | codec id), AVCPacketType, 24-bit CompositionTime.
const AVC_HEADER_LEN: usize = 5;

pub(super) fn demux(
    config: &mut Option<VideoConfig>,
    dts_ms: i64,
    body: &[u8],
) -> Result<MediaEvent, FlvError> {
    let Some(&byte0) = body.first() else {
        return Err(FlvError::EmptyBody { kind: KIND, dts_ms });
    };
    let frame_type = (byte0 >> 4) & 0x07;
    let codec_id = byte0 & 0x0f;
    if byte0 & EX_HEADER != 0 || codec_id != CODEC_AVC {
        return Err(FlvError::UnsupportedVideoCodec {
            dts_ms,
            byte0,
            codec_id,
            enhanced: byte0 & EX_HEADER != 0,
        });
    }
    match frame_type {
        FRAME_INFO => return Ok(MediaEvent::Nothing),
        1..=4 => {}
        _ => return Err(FlvError::InvalidVideoFrameType { dts_ms, frame_type }),
    }
    let [_, packet_type, c0, c1, c2] =
        take_array::<AVC_HEADER_LEN>(KIND, dts_ms, body, 0, "AVC packet header")?;
    let cts = cts_from_be24([c0, c1, c2]);
    let rest = body.get(AVC_HEADER_LEN..).unwrap_or_default();
    match packet_type {
        0 => {
            let parsed = parse_avc_config(dts_ms, body, AVC_HEADER_LEN)?;
            *config = Some(parsed.clone());
            Ok(MediaEvent::VideoConfig(parsed))
        }
        1 => {
            if rest.is_empty() {
                return Ok(MediaEvent::Nothing);
            }
            if config.is_none() {
                return Err(FlvError::MissingVideoConfig { dts_ms });
            }
            Ok(MediaEvent::Frame(MediaFrame::Video {
                dts_ms,
                cts_ms: cts,
                keyframe: frame_type == FRAME_KEY,
                data: Bytes::copy_from_slice(rest),
            }))
        }
        // 2 = end of sequence; other values are undefined and carry nothing we can mux.
        _ => Ok(MediaEvent::Nothing),
    }
}

/// CompositionTime is SI24 (§E.4.3.1): sign-extend from 24 bits.
fn cts_from_be24([hi, mid, lo]: [u8; 3]) -> i32 {
    i32::from_be_bytes([hi, mid, lo, 0]) >> 8
}

/// Parses the AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.3.3.1.2) starting at
/// `body[start..]`. Offsets in errors are relative to the tag body.
fn parse_avc_config(dts_ms: i64, body: &[u8], start: usize) -> Result<VideoConfig, FlvError> {
    let invalid = |offset: usize, reason: String| FlvError::InvalidAvcConfig {
        dts_ms,
        offset,
        reason,
    };
    let [
        version,
        _profile,
        _compat,
        _level,
        length_byte,
        sps_count_byte,
    ] = take_array::<6>(KIND, dts_ms, body, start, "AVCDecoderConfigurationRecord")?;
    if version != 1 {
        return Err(invalid(
            start,
            format!("configurationVersion {version}, expected 1"),
        ));
    }
    let nal_length_size = (length_byte & 0x03) + 1;
    if nal_length_size == 3 {
        return Err(invalid(
            start + 4,
            "lengthSizeMinusOne 2 (NAL length size 3; only 1, 2 or 4 allowed)".into(),
        ));
    }
    let mut pos = start + 6;
    let sps_count = usize::from(sps_count_byte & 0x1f);
    if sps_count == 0 {
        return Err(invalid(start + 5, "numOfSequenceParameterSets is 0".into()));
    }
    let sps = read_parameter_sets(dts_ms, body, &mut pos, sps_count, "SPS")?;
    let [pps_count] = take_array::<1>(KIND, dts_ms, body, pos, "numOfPictureParameterSets")?;
    let pps_count = usize::from(pps_count);
    pos += 1;
    let pps = read_parameter_sets(dts_ms, body, &mut pos, pps_count, "PPS")?;
    // Bytes after the PPS (high-profile chroma/bit-depth extension) are informational only.

    // sps_count > 0, so the first SPS exists; its bytes 1..4 are profile, constraints, level.
    let first = sps.first().map(|b| b.as_ref()).unwrap_or_default();
    let Some(&[profile, compat, level]) = first.get(1..4) else {
        return Err(invalid(
            start + 8,
            format!(
                "first SPS is {} bytes, too short for profile/level",
                first.len()
            ),
        ));
    };
    let codec = format!("avc1.{profile:02x}{compat:02x}{level:02x}");
    // A picture size we cannot decode is not fatal: the TS muxer needs only the raw SPS.
    let size = parse_sps(first).ok();
    Ok(VideoConfig {
        sps,
        pps,
        nal_length_size,
        codec,
        width: size.map(|s| s.width),
        height: size.map(|s| s.height),
    })
}

/// Reads `count` 16-bit-length-prefixed parameter sets, advancing `pos`.
fn read_parameter_sets(
    dts_ms: i64,
    body: &[u8],
    pos: &mut usize,
    count: usize,
    what: &'static str,
) -> Result<Vec<Bytes>, FlvError> {
    // At most 31 SPS or 255 PPS; bounded by the count field, not by a length from the peer.
    let mut sets = Vec::with_capacity(count);
    for _ in 0..count {
        let len = usize::from(u16::from_be_bytes(take_array(
            KIND, dts_ms, body, *pos, what,
        )?));
        *pos += 2;
        if len == 0 {
            return Err(FlvError::InvalidAvcConfig {
                dts_ms,
                offset: *pos - 2,
                reason: format!("empty {what}"),
            });
        }
        sets.push(Bytes::copy_from_slice(take(
            KIND, dts_ms, body, *pos, len, what,
        )?));
        *pos += len;
    }
    Ok(sets)
}
