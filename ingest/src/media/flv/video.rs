//! VIDEODATA tag bodies with AVC (FLV spec v10.1 §E.4.3.1, AVCVIDEOPACKET).
//!
//! Parameter sets reach us two ways, and both are taken:
//! - out of band, in the AVCDecoderConfigurationRecord of an AVC sequence header
//!   (ISO/IEC 14496-15 §5.3.3.1.2), the usual RTMP way;
//! - in band, as SPS/PPS NAL units inside the frames. ffmpeg's FLV muxer inside `-f tee`
//!   without `-flags +global_header` sends an empty sequence header and then Annex B frames
//!   with the SPS/PPS before every keyframe; a resolution switch copied from a concat input
//!   carries the new SPS in band too.
//!
//! Frames leave the demuxer as AVCC with the configuration's NAL length size, whichever form
//! they came in, and with every NAL unit length checked, so later stages see one form only.

use std::sync::Arc;

use bytes::Bytes;

use super::{
    FlvError, TagContext,
    h264::{self, NAL_PPS, NAL_SPS, NalError, nal_type},
    take, take_array,
};
use crate::media::frame::{MediaEvent, MediaFrame, VideoConfig};

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
/// NAL length size when no record said otherwise: what every FLV muxer writes.
const DEFAULT_NAL_LENGTH_SIZE: u8 = 4;
/// configurationVersion..lengthSizeMinusOne, numOfSequenceParameterSets.
const RECORD_FIXED_LEN: usize = 6;

/// What the video demuxer remembers between tags.
#[derive(Debug, Default)]
pub(super) struct VideoState {
    /// The configuration in force.
    pub(super) config: Option<Arc<VideoConfig>>,
    /// NAL length size announced by the last AVCDecoderConfigurationRecord that had one;
    /// `None` before any, when frames are read as AVCC with 4-byte lengths or Annex B (what
    /// ffmpeg sends after an empty record).
    record_nal_length_size: Option<u8>,
}

/// Demuxes one VIDEODATA body into zero or more events: a [`MediaEvent::VideoConfig`] when
/// the configuration changed (from a sequence header, or from parameter sets carried in the
/// frame), then the frame itself.
pub(super) fn demux(
    state: &mut VideoState,
    dts_ms: i64,
    body: &Bytes,
) -> Result<Vec<MediaEvent>, FlvError> {
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
        FRAME_INFO => return Ok(Vec::new()),
        1..=4 => {}
        _ => return Err(FlvError::InvalidVideoFrameType { dts_ms, frame_type }),
    }
    let [_, packet_type, c0, c1, c2] =
        take_array::<AVC_HEADER_LEN>(KIND, dts_ms, body, 0, "AVC packet header")?;
    let cts = cts_from_be24([c0, c1, c2]);
    let rest = body.get(AVC_HEADER_LEN..).unwrap_or_default();
    match packet_type {
        0 => sequence_header(state, dts_ms, body),
        1 if rest.is_empty() => Ok(Vec::new()),
        1 => frame(state, dts_ms, cts, frame_type == FRAME_KEY, body),
        // 2 = end of sequence; other values are undefined and carry nothing we can mux.
        _ => Ok(Vec::new()),
    }
}

fn sequence_header(
    state: &mut VideoState,
    dts_ms: i64,
    body: &[u8],
) -> Result<Vec<MediaEvent>, FlvError> {
    let record = body.get(AVC_HEADER_LEN..).unwrap_or_default();
    // An empty or short record, or one without SPS: the parameter sets come in band. Keep the
    // NAL length size if the record got that far and it is usable.
    let sps_count = record.get(5).map_or(0, |b| b & 0x1f);
    if record.len() < RECORD_FIXED_LEN || sps_count == 0 {
        if let Some(n) = record
            .get(4)
            .filter(|_| record.first() == Some(&1))
            .map(|b| (b & 0x03) + 1)
            .filter(|n| *n != 3)
        {
            state.record_nal_length_size = Some(n);
        }
        return Ok(Vec::new());
    }
    let (nal_length_size, parsed) = parse_avc_config(dts_ms, body, AVC_HEADER_LEN)?;
    state.record_nal_length_size = Some(nal_length_size);
    // SPS but no PPS in the record: the PPS comes in band, and the SPS with it.
    let Some(parsed) = parsed else {
        return Ok(Vec::new());
    };
    if state.config.as_deref() == Some(&parsed) {
        return Ok(Vec::new());
    }
    let parsed = Arc::new(parsed);
    state.config = Some(parsed.clone());
    Ok(vec![MediaEvent::VideoConfig(parsed)])
}

fn frame(
    state: &mut VideoState,
    dts_ms: i64,
    cts_ms: i32,
    keyframe: bool,
    body: &Bytes,
) -> Result<Vec<MediaEvent>, FlvError> {
    let frame_data = body.slice(AVC_HEADER_LEN.min(body.len())..);
    let data = frame_data.as_ref();
    let bad = |e: NalError| FlvError::InvalidNalUnits {
        dts_ms,
        offset: AVC_HEADER_LEN + e.offset(),
        reason: e.to_string(),
    };
    // AVCC with the record's length size (4 without a record), else Annex B: ffmpeg's tee
    // case, or an encoder that mislabels. AVCC first because Annex B data essentially never
    // parses as a chain of lengths covering the frame exactly, while AVCC data whose first
    // NAL unit is 256..511 bytes long does begin like a start code.
    let size = state
        .record_nal_length_size
        .unwrap_or(DEFAULT_NAL_LENGTH_SIZE);
    let (nals, was_avcc_with) = match h264::split_avcc(data, size) {
        Ok(nals) => (nals, Some(size)),
        Err(e) => (h264::split_annex_b(data).ok_or_else(|| bad(e))?, None),
    };
    if nals.is_empty() {
        return Ok(Vec::new());
    }
    let mut events = Vec::with_capacity(2);
    if let Some(changed) = in_band_config(state, &nals, was_avcc_with) {
        let changed = Arc::new(changed);
        state.config = Some(changed.clone());
        events.push(MediaEvent::VideoConfig(changed));
    }
    let Some(config) = state.config.as_ref() else {
        return Err(FlvError::MissingVideoConfig { dts_ms });
    };
    // The usual case hands the RTMP message on as is; Annex B or another length size is
    // rewritten. (Parameter sets, by contrast, are copied: a slice would keep the whole
    // keyframe they came with alive for as long as the configuration is in force.)
    let data = if was_avcc_with == Some(config.nal_length_size) {
        frame_data.clone()
    } else {
        Bytes::from(h264::to_avcc(&nals, config.nal_length_size).map_err(bad)?)
    };
    events.push(MediaEvent::Frame(MediaFrame::Video {
        dts_ms,
        cts_ms,
        keyframe,
        data,
    }));
    Ok(events)
}

/// The configuration after the SPS/PPS carried in this frame, if that differs from the one in
/// force. A frame with only one kind of parameter set keeps the other from the configuration
/// in force; a first configuration needs both.
fn in_band_config(
    state: &VideoState,
    nals: &[&[u8]],
    was_avcc_with: Option<u8>,
) -> Option<VideoConfig> {
    let sps: Vec<&[u8]> = nals
        .iter()
        .copied()
        .filter(|n| nal_type(n) == NAL_SPS)
        .collect();
    let pps: Vec<&[u8]> = nals
        .iter()
        .copied()
        .filter(|n| nal_type(n) == NAL_PPS)
        .collect();
    if sps.is_empty() && pps.is_empty() {
        return None;
    }
    let current = state.config.as_deref();
    let same = |new: &[&[u8]], old: Option<&Vec<Bytes>>| {
        new.is_empty() || old.is_some_and(|o| o.iter().map(|b| b.as_ref()).eq(new.iter().copied()))
    };
    if current.is_some()
        && same(&sps, current.map(|c| &c.sps))
        && same(&pps, current.map(|c| &c.pps))
    {
        return None;
    }
    let pick = |new: &[&[u8]], old: Option<&Vec<Bytes>>| -> Vec<Bytes> {
        if new.is_empty() {
            old.cloned().unwrap_or_default()
        } else {
            new.iter().map(|n| Bytes::copy_from_slice(n)).collect()
        }
    };
    let nal_length_size = current
        .map(|c| c.nal_length_size)
        .or(state.record_nal_length_size)
        .or(was_avcc_with)
        .unwrap_or(DEFAULT_NAL_LENGTH_SIZE);
    h264::video_config(
        pick(&sps, current.map(|c| &c.sps)),
        pick(&pps, current.map(|c| &c.pps)),
        nal_length_size,
    )
}

/// CompositionTime is SI24 (§E.4.3.1): sign-extend from 24 bits.
fn cts_from_be24([hi, mid, lo]: [u8; 3]) -> i32 {
    i32::from_be_bytes([hi, mid, lo, 0]) >> 8
}

/// Parses the AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.3.3.1.2) starting at
/// `body[start..]`: its NAL length size, and the configuration if it has both an SPS and a
/// PPS. Offsets in errors are relative to the tag body.
fn parse_avc_config(
    dts_ms: i64,
    body: &[u8],
    start: usize,
) -> Result<(u8, Option<VideoConfig>), FlvError> {
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
    ] = take_array::<RECORD_FIXED_LEN>(KIND, dts_ms, body, start, "AVCDecoderConfigurationRecord")?;
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
    let mut pos = start + RECORD_FIXED_LEN;
    let sps_count = usize::from(sps_count_byte & 0x1f);
    let sps = read_parameter_sets(dts_ms, body, &mut pos, sps_count, "SPS")?;
    let [pps_count] = take_array::<1>(KIND, dts_ms, body, pos, "numOfPictureParameterSets")?;
    let pps_count = usize::from(pps_count);
    pos += 1;
    let pps = read_parameter_sets(dts_ms, body, &mut pos, pps_count, "PPS")?;
    // Bytes after the PPS (high-profile chroma/bit-depth extension) are informational only.
    let first_len = sps.first().map_or(0, Bytes::len);
    if first_len < 4 {
        return Err(invalid(
            start + RECORD_FIXED_LEN + 2,
            format!("first SPS is {first_len} bytes, too short for profile/level"),
        ));
    }
    Ok((
        nal_length_size,
        h264::video_config(sps, pps, nal_length_size),
    ))
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
