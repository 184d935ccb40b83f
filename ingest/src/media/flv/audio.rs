//! AUDIODATA tag bodies with AAC (FLV spec v10.1 §E.4.2.1, AACAUDIODATA).

use std::sync::Arc;

use bytes::Bytes;

use super::{
    FlvError, TagContext,
    bits::{BitReader, Truncated},
    take_array,
};
use crate::media::frame::{AudioConfig, MediaEvent, MediaFrame};

const KIND: TagContext = TagContext::Audio;
const SOUND_FORMAT_AAC: u8 = 10;
/// Byte 0 (format/rate/size/type) and AACPacketType.
const AAC_HEADER_LEN: usize = 2;

/// Sampling frequencies by samplingFrequencyIndex (ISO/IEC 14496-3 §1.6.3.4, Table 1.18);
/// 13 and 14 are reserved, 15 means an explicit 24-bit rate follows.
const SAMPLE_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// Demuxes one AUDIODATA body. A sequence header yields an [`MediaEvent::AudioConfig`] only
/// when it differs from the configuration in force (encoders and relays repeat it).
pub(super) fn demux(
    config: &mut Option<Arc<AudioConfig>>,
    dts_ms: i64,
    body: &Bytes,
) -> Result<Vec<MediaEvent>, FlvError> {
    let Some(&byte0) = body.first() else {
        return Err(FlvError::EmptyBody { kind: KIND, dts_ms });
    };
    // SoundRate/SoundSize/SoundType are fixed for AAC and ignored: the ASC is authoritative.
    let sound_format = byte0 >> 4;
    if sound_format != SOUND_FORMAT_AAC {
        return Err(FlvError::UnsupportedAudioCodec {
            dts_ms,
            sound_format,
        });
    }
    let [_, packet_type] =
        take_array::<AAC_HEADER_LEN>(KIND, dts_ms, body, 0, "AAC packet header")?;
    let rest = body.get(AAC_HEADER_LEN..).unwrap_or_default();
    match packet_type {
        0 => {
            let parsed = parse_asc(dts_ms, rest)?;
            if config.as_deref() == Some(&parsed) {
                return Ok(Vec::new());
            }
            let parsed = Arc::new(parsed);
            *config = Some(parsed.clone());
            Ok(vec![MediaEvent::AudioConfig(parsed)])
        }
        1 => {
            if rest.is_empty() {
                return Ok(Vec::new());
            }
            if config.is_none() {
                return Err(FlvError::MissingAudioConfig { dts_ms });
            }
            Ok(vec![MediaEvent::Frame(MediaFrame::Audio {
                dts_ms,
                data: body.slice(AAC_HEADER_LEN.min(body.len())..),
            })])
        }
        // Undefined AACPacketType: nothing we can mux.
        _ => Ok(Vec::new()),
    }
}

/// Parses the start of an AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1): object type,
/// sampling frequency and channel configuration, which is all ADTS framing needs.
fn parse_asc(dts_ms: i64, asc: &[u8]) -> Result<AudioConfig, FlvError> {
    let mut r = BitReader::new(asc);
    // Offsets in errors are in bytes from the start of the tag body.
    let invalid = |bit: usize, reason: String| FlvError::InvalidAudioConfig {
        dts_ms,
        offset: AAC_HEADER_LEN + bit / 8,
        reason,
    };
    // The only error the reader returns for fixed-width reads is running out of bits.
    let truncated = |Truncated { bit }| FlvError::Truncated {
        kind: KIND,
        dts_ms,
        what: "AudioSpecificConfig",
        offset: AAC_HEADER_LEN,
        needed: bit / 8 + 1,
        available: asc.len(),
    };
    // §1.6.2.1 GetAudioObjectType(): 31 escapes to 32 + 6 more bits.
    let mut object_type = r.read_bits(5).map_err(truncated)?;
    if object_type == 31 {
        object_type = 32 + r.read_bits(6).map_err(truncated)?;
    }
    if object_type == 0 {
        return Err(invalid(0, "audioObjectType 0 (null)".into()));
    }
    let sfi_bit = r.position();
    let sampling_frequency_index = r.read_bits(4).map_err(truncated)?;
    let sample_rate = match sampling_frequency_index {
        15 => r.read_bits(24).map_err(truncated)?,
        i => SAMPLE_RATES
            .get(i as usize)
            .copied()
            .ok_or_else(|| invalid(sfi_bit, format!("reserved samplingFrequencyIndex {i}")))?,
    };
    if sample_rate == 0 {
        return Err(invalid(sfi_bit, "explicit samplingFrequency 0".into()));
    }
    let channels_bit = r.position();
    let channels = r.read_bits(4).map_err(truncated)?;
    // ADTS (ISO/IEC 13818-7 §6.2.1) has 3 bits for the channel configuration; 0 means a
    // program_config_element in the stream defines the layout.
    if channels > 7 {
        return Err(invalid(
            channels_bit,
            format!("channelConfiguration {channels} cannot be carried in ADTS"),
        ));
    }
    let object_type = u8::try_from(object_type).unwrap_or(u8::MAX);
    Ok(AudioConfig {
        asc: Bytes::copy_from_slice(asc),
        object_type,
        sampling_frequency_index: sampling_frequency_index as u8,
        sample_rate,
        channels: channels as u8,
        codec: format!("mp4a.40.{object_type}"),
    })
}
