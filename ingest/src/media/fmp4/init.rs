//! The init segment: `ftyp` + `moov` with one `trak` per track and `mvex` (ISO/IEC 14496-12
//! §8.8.1: a movie whose samples are all in fragments), referenced by `#EXT-X-MAP`.

use bytes::{BufMut, Bytes};
use h264_reader::rbsp::{BitReader, ByteReader};

use super::boxes::{UNITY_MATRIX, write_box, write_descriptor, write_full_box};
use super::{AUDIO_TRACK_ID, Fmp4Error, VIDEO_TIMESCALE, VIDEO_TRACK_ID};
use crate::media::frame::{AudioConfig, VideoConfig};

/// `ftyp` major brand and compatible brands: `iso6` (the 14496-12 brand that covers `tfdt`
/// and version-1 `trun`, §E.6) and `cmfc` (CMAF, ISO/IEC 23000-19 §7.2).
const BRANDS: [&[u8; 4]; 2] = [b"iso6", b"cmfc"];

/// The init segment for these tracks (video is track 1, audio track 2): `ftyp` and a `moov`
/// whose sample tables are empty (every sample is in a fragment) with `mvex`/`trex`.
///
/// Deterministic: no creation or modification time (all 0), no durations (0: a live
/// presentation of unknown length, §8.2.2.3), fixed track ids; the same configurations give
/// the same bytes.
pub fn init_segment(
    video: Option<&VideoConfig>,
    audio: Option<&AudioConfig>,
) -> Result<Bytes, Fmp4Error> {
    let mut out = Vec::with_capacity(1024);
    // §4.3: the file type box.
    write_box(&mut out, b"ftyp", |out| {
        out.put_slice(BRANDS[0]);
        out.put_u32(0); // minor_version
        for brand in BRANDS {
            out.put_slice(brand);
        }
        Ok(())
    })?;
    write_box(&mut out, b"moov", |out| {
        write_mvhd(out)?;
        if let Some(video) = video {
            write_video_trak(out, video)?;
        }
        if let Some(audio) = audio {
            write_audio_trak(out, audio)?;
        }
        // §8.8.1 movie extends, §8.8.3 track extends: defaults all 0, every fragment says
        // what it needs.
        write_box(out, b"mvex", |out| {
            let ids = [video.map(|_| VIDEO_TRACK_ID), audio.map(|_| AUDIO_TRACK_ID)];
            for id in ids.into_iter().flatten() {
                write_full_box(out, b"trex", 0, 0, |out| {
                    out.put_u32(id);
                    out.put_u32(1); // default_sample_description_index
                    out.put_u32(0); // default_sample_duration
                    out.put_u32(0); // default_sample_size
                    out.put_u32(0); // default_sample_flags
                    Ok(())
                })?;
            }
            Ok(())
        })
    })?;
    Ok(Bytes::from(out))
}

/// §8.2.2 movie header, version 0, times 0, timescale 1000 (unused: no movie duration).
fn write_mvhd(out: &mut Vec<u8>) -> Result<(), Fmp4Error> {
    write_full_box(out, b"mvhd", 0, 0, |out| {
        out.put_u32(0); // creation_time
        out.put_u32(0); // modification_time
        out.put_u32(1000); // timescale
        out.put_u32(0); // duration
        out.put_u32(0x0001_0000); // rate 1.0
        out.put_u16(0x0100); // volume 1.0
        out.put_bytes(0, 2 + 8); // reserved
        UNITY_MATRIX.iter().for_each(|v| out.put_u32(*v));
        out.put_bytes(0, 6 * 4); // pre_defined
        out.put_u32(AUDIO_TRACK_ID + 1); // next_track_ID
        Ok(())
    })
}

/// What differs between the video and the audio `trak`.
struct TrackHeader {
    id: u32,
    timescale: u32,
    handler: &'static [u8; 4],
    name: &'static [u8],
    /// `tkhd` volume (8.8 fixed): 1.0 for audio, 0 for video (§8.3.2.3).
    volume: u16,
    width: u32,
    height: u32,
}

/// `trak` (§8.3.1) with `tkhd`, `mdia`/`mdhd`/`hdlr`/`minf`, and a `stbl` holding one sample
/// entry (written by `sample_entry`) and empty tables.
fn write_trak<F>(out: &mut Vec<u8>, track: &TrackHeader, sample_entry: F) -> Result<(), Fmp4Error>
where
    F: FnOnce(&mut Vec<u8>) -> Result<(), Fmp4Error>,
{
    write_box(out, b"trak", |out| {
        // §8.3.2: flags track_enabled | track_in_movie.
        write_full_box(out, b"tkhd", 0, 0x3, |out| {
            out.put_u32(0); // creation_time
            out.put_u32(0); // modification_time
            out.put_u32(track.id);
            out.put_u32(0); // reserved
            out.put_u32(0); // duration
            out.put_bytes(0, 8); // reserved
            out.put_u16(0); // layer
            out.put_u16(0); // alternate_group
            out.put_u16(track.volume);
            out.put_u16(0); // reserved
            UNITY_MATRIX.iter().for_each(|v| out.put_u32(*v));
            // 16.16 fixed point; the sizes come from an SPS and are far below 2^16.
            out.put_u32(track.width.min(0xffff) << 16);
            out.put_u32(track.height.min(0xffff) << 16);
            Ok(())
        })?;
        write_box(out, b"mdia", |out| {
            // §8.4.2 media header.
            write_full_box(out, b"mdhd", 0, 0, |out| {
                out.put_u32(0); // creation_time
                out.put_u32(0); // modification_time
                out.put_u32(track.timescale);
                out.put_u32(0); // duration
                out.put_u16(0x55c4); // language "und", ISO 639-2/T packed
                out.put_u16(0); // pre_defined
                Ok(())
            })?;
            // §8.4.3 handler reference.
            write_full_box(out, b"hdlr", 0, 0, |out| {
                out.put_u32(0); // pre_defined
                out.put_slice(track.handler);
                out.put_bytes(0, 12); // reserved
                out.put_slice(track.name);
                out.put_u8(0);
                Ok(())
            })?;
            write_box(out, b"minf", |out| {
                write_media_header(out, track.handler)?;
                write_dinf(out)?;
                write_stbl(out, sample_entry)
            })
        })
    })
}

/// §12.1.2 `vmhd` (flags 1) or §12.2.2 `smhd`.
fn write_media_header(out: &mut Vec<u8>, handler: &[u8; 4]) -> Result<(), Fmp4Error> {
    if handler == b"vide" {
        write_full_box(out, b"vmhd", 0, 1, |out| {
            out.put_bytes(0, 2 + 6); // graphicsmode, opcolor
            Ok(())
        })
    } else {
        write_full_box(out, b"smhd", 0, 0, |out| {
            out.put_u32(0); // balance, reserved
            Ok(())
        })
    }
}

/// §8.7.1 data information: one self-contained `url ` entry (flags 1: media in this file).
fn write_dinf(out: &mut Vec<u8>) -> Result<(), Fmp4Error> {
    write_box(out, b"dinf", |out| {
        write_full_box(out, b"dref", 0, 0, |out| {
            out.put_u32(1);
            write_full_box(out, b"url ", 0, 1, |_| Ok(()))
        })
    })
}

/// §8.5.1 sample table: the sample description and empty `stts`, `stsc`, `stsz`, `stco`.
fn write_stbl<F>(out: &mut Vec<u8>, sample_entry: F) -> Result<(), Fmp4Error>
where
    F: FnOnce(&mut Vec<u8>) -> Result<(), Fmp4Error>,
{
    write_box(out, b"stbl", |out| {
        write_full_box(out, b"stsd", 0, 0, |out| {
            out.put_u32(1); // entry_count
            sample_entry(out)
        })?;
        for table in [b"stts", b"stsc", b"stco"] {
            write_full_box(out, table, 0, 0, |out| {
                out.put_u32(0); // entry_count
                Ok(())
            })?;
        }
        write_full_box(out, b"stsz", 0, 0, |out| {
            out.put_u32(0); // sample_size
            out.put_u32(0); // sample_count
            Ok(())
        })
    })
}

fn write_video_trak(out: &mut Vec<u8>, video: &VideoConfig) -> Result<(), Fmp4Error> {
    // Validate (and build) the avcC before writing anything for the track.
    let avcc = avc_decoder_configuration(video)?;
    let (width, height) = (video.width.unwrap_or(0), video.height.unwrap_or(0));
    let track = TrackHeader {
        id: VIDEO_TRACK_ID,
        timescale: VIDEO_TIMESCALE,
        handler: b"vide",
        name: b"VideoHandler",
        volume: 0,
        width,
        height,
    };
    write_trak(out, &track, |out| {
        // §12.1.3 VisualSampleEntry, 14496-15 §5.4.2 `avc1` (parameter sets in avcC).
        write_box(out, b"avc1", |out| {
            out.put_bytes(0, 6); // reserved
            out.put_u16(1); // data_reference_index
            out.put_bytes(0, 16); // pre_defined, reserved
            out.put_u16(width.min(0xffff) as u16);
            out.put_u16(height.min(0xffff) as u16);
            out.put_u32(0x0048_0000); // horizresolution 72 dpi
            out.put_u32(0x0048_0000); // vertresolution 72 dpi
            out.put_u32(0); // reserved
            out.put_u16(1); // frame_count
            out.put_bytes(0, 32); // compressorname (empty)
            out.put_u16(0x0018); // depth
            out.put_i16(-1); // pre_defined
            write_box(out, b"avcC", |out| {
                out.put_slice(&avcc);
                Ok(())
            })
        })
    })
}

/// The AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.3.3.1) of this configuration.
///
/// Profile, compatibility and level are the first SPS's bytes 1–3. For the High profiles
/// (100, 110, 122, 144) the record ends with chroma format and bit depths, read from the
/// SPS; an SPS that does not parse leaves them out, as older writers did (decoders take them
/// from the SPS itself).
fn avc_decoder_configuration(video: &VideoConfig) -> Result<Vec<u8>, Fmp4Error> {
    if !matches!(video.nal_length_size, 1 | 2 | 4) {
        return Err(Fmp4Error::InvalidNalLengthSize {
            nal_length_size: video.nal_length_size,
        });
    }
    let first = video.sps.first();
    let Some(&[_, profile, compatibility, level, ..]) = first.map(|s| &s[..]) else {
        return Err(Fmp4Error::MissingSps {
            len: first.map(|s| s.len()),
        });
    };
    if video.pps.is_empty() {
        return Err(Fmp4Error::MissingPps);
    }
    let mut out = Vec::with_capacity(64);
    out.put_u8(1); // configurationVersion
    out.put_slice(&[profile, compatibility, level]);
    out.put_u8(0xfc | (video.nal_length_size - 1));
    put_parameter_sets(&mut out, "SPS", &video.sps, 31, 0xe0)?;
    put_parameter_sets(&mut out, "PPS", &video.pps, 255, 0)?;
    if matches!(profile, 100 | 110 | 122 | 144)
        && let Some((chroma_format, luma, chroma)) = first.and_then(|s| high_profile_fields(s))
    {
        out.put_u8(0xfc | chroma_format);
        out.put_u8(0xf8 | luma);
        out.put_u8(0xf8 | chroma);
        out.put_u8(0); // numOfSequenceParameterSetExt
    }
    Ok(out)
}

/// A count (with `marker` bits above it) then each set with a 16-bit length.
fn put_parameter_sets(
    out: &mut Vec<u8>,
    kind: &'static str,
    sets: &[bytes::Bytes],
    max: usize,
    marker: u8,
) -> Result<(), Fmp4Error> {
    let count = u8::try_from(sets.len())
        .ok()
        .filter(|&n| usize::from(n) <= max)
        .ok_or(Fmp4Error::TooManyParameterSets {
            kind,
            count: sets.len(),
            max,
        })?;
    out.put_u8(marker | count);
    for set in sets {
        let len = u16::try_from(set.len()).map_err(|_| Fmp4Error::ParameterSetTooLong {
            kind,
            len: set.len(),
        })?;
        out.put_u16(len);
        out.put_slice(set);
    }
    Ok(())
}

/// chroma_format_idc and the two bit depths − 8 of an SPS, if it parses.
fn high_profile_fields(sps: &[u8]) -> Option<(u8, u8, u8)> {
    let parsed = h264_reader::nal::sps::SeqParameterSet::from_bits(BitReader::new(
        ByteReader::skipping_h264_header(sps),
    ))
    .ok()?;
    let chroma = &parsed.chroma_info;
    let format = u8::try_from(chroma.chroma_format.to_u32()).ok()?;
    Some((
        format & 0x3,
        chroma.bit_depth_luma_minus8 & 0x7,
        chroma.bit_depth_chroma_minus8 & 0x7,
    ))
}

fn write_audio_trak(out: &mut Vec<u8>, audio: &AudioConfig) -> Result<(), Fmp4Error> {
    if audio.sample_rate == 0 {
        return Err(Fmp4Error::ZeroSampleRate);
    }
    let esds = es_descriptor(audio)?;
    let track = TrackHeader {
        id: AUDIO_TRACK_ID,
        timescale: audio.sample_rate,
        handler: b"soun",
        name: b"SoundHandler",
        volume: 0x0100,
        width: 0,
        height: 0,
    };
    write_trak(out, &track, |out| {
        // §12.2.3 AudioSampleEntry, ISO/IEC 14496-14 §5.6 `mp4a`.
        write_box(out, b"mp4a", |out| {
            out.put_bytes(0, 6); // reserved
            out.put_u16(1); // data_reference_index
            out.put_bytes(0, 8); // reserved
            out.put_u16(u16::from(audio.channels));
            out.put_u16(16); // samplesize
            out.put_u32(0); // pre_defined, reserved
            // 16.16 fixed point; a rate above 65535 Hz does not fit and is left 0: the
            // timescale (mdhd) and the AudioSpecificConfig carry it.
            let rate = if audio.sample_rate <= 0xffff {
                audio.sample_rate << 16
            } else {
                0
            };
            out.put_u32(rate);
            write_full_box(out, b"esds", 0, 0, |out| {
                out.put_slice(&esds);
                Ok(())
            })
        })
    })
}

/// The ES_Descriptor of `esds` (ISO/IEC 14496-14 §3.1.2, 14496-1 §7.2.6.5): AAC (object type
/// indication 0x40), audio stream, the AudioSpecificConfig as DecoderSpecificInfo. Buffer
/// size and bitrates are 0 ("unknown"), so they cannot differ between AZs.
fn es_descriptor(audio: &AudioConfig) -> Result<Vec<u8>, Fmp4Error> {
    let too_long = |_| Fmp4Error::AudioConfigTooLong {
        len: audio.asc.len(),
    };
    let mut decoder_config = vec![0x40, 0x15]; // MPEG-4 Audio; AudioStream << 2 | 1
    decoder_config.put_bytes(0, 3 + 4 + 4); // bufferSizeDB, maxBitrate, avgBitrate
    write_descriptor(&mut decoder_config, 0x05, &audio.asc).map_err(too_long)?;
    let mut es = Vec::with_capacity(decoder_config.len() + 16);
    es.put_u16(0); // ES_ID: 0 in the file format (14496-14 §3.1.2)
    es.put_u8(0); // no dependency, URL or OCR stream
    write_descriptor(&mut es, 0x04, &decoder_config).map_err(too_long)?;
    write_descriptor(&mut es, 0x06, &[0x02]).map_err(too_long)?; // SLConfig: predefined MP4
    let mut out = Vec::with_capacity(es.len() + 5);
    write_descriptor(&mut out, 0x03, &es).map_err(too_long)?;
    Ok(out)
}
