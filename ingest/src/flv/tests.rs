//! Unit tests on hand-built tag bodies; fixture-based tests are in `ingest/tests/flv_fixtures.rs`.

use proptest::prelude::*;

use super::*;
use crate::media::MediaFrame;

/// SPS of the baseline 426x240 fixture (x264, Constrained Baseline, level 2.1), which
/// crops 432 -> 426 with frame_crop_right_offset 3.
const SPS_BASELINE_426X240: &[u8] = &[
    0x67, 0x42, 0xc0, 0x15, 0xda, 0x06, 0xc7, 0xf9, 0x3c, 0x04, 0x40, 0x00, 0x00, 0x03, 0x00, 0x40,
    0x00, 0x00, 0x0c, 0x83, 0xc5, 0x8b, 0xa8,
];
const PPS: &[u8] = &[0x68, 0xce, 0x3c, 0x80];

/// AVC sequence header tag body: FLV header, then an AVCDecoderConfigurationRecord.
fn avc_seq_header(length_size_minus_one: u8, sps: &[&[u8]], pps: &[&[u8]]) -> Vec<u8> {
    let mut b = vec![0x17, 0, 0, 0, 0, 1, 0x42, 0xc0, 0x15];
    b.push(0xfc | length_size_minus_one);
    b.push(0xe0 | sps.len() as u8);
    for s in sps {
        b.extend_from_slice(&(s.len() as u16).to_be_bytes());
        b.extend_from_slice(s);
    }
    b.push(pps.len() as u8);
    for p in pps {
        b.extend_from_slice(&(p.len() as u16).to_be_bytes());
        b.extend_from_slice(p);
    }
    b
}

fn configured() -> FlvDemuxer {
    let mut d = FlvDemuxer::default();
    d.demux_video(0, &avc_seq_header(3, &[SPS_BASELINE_426X240], &[PPS]))
        .expect("sequence header");
    d.demux_audio(0, &[0xaf, 0x00, 0x12, 0x10]).expect("ASC");
    d
}

#[test]
fn video_sequence_header_gives_config_with_cropped_size() {
    let mut d = FlvDemuxer::default();
    let body = avc_seq_header(3, &[SPS_BASELINE_426X240], &[PPS]);
    let MediaEvent::VideoConfig(c) = d.demux_video(40, &body).expect("config") else {
        panic!("expected VideoConfig");
    };
    assert_eq!(c.codec, "avc1.42c015");
    assert_eq!(c.nal_length_size, 4);
    assert_eq!((c.width, c.height), (Some(426), Some(240)));
    assert_eq!(c.sps, vec![bytes::Bytes::from_static(SPS_BASELINE_426X240)]);
    assert_eq!(c.pps, vec![bytes::Bytes::from_static(PPS)]);
    assert_eq!(d.video_config(), Some(&c));
}

#[test]
fn new_sequence_header_replaces_config() {
    let mut d = configured();
    let body = avc_seq_header(1, &[SPS_BASELINE_426X240], &[PPS, PPS]);
    let MediaEvent::VideoConfig(c) = d.demux_video(1000, &body).expect("config") else {
        panic!("expected VideoConfig");
    };
    assert_eq!(c.nal_length_size, 2);
    assert_eq!(c.pps.len(), 2);
    assert_eq!(d.video_config().map(|c| c.nal_length_size), Some(2));
}

#[test]
fn unparsable_sps_keeps_config_without_size() {
    let mut d = FlvDemuxer::default();
    let sps: &[u8] = &[0x67, 0x64, 0x00, 0x1f];
    let MediaEvent::VideoConfig(c) = d
        .demux_video(0, &avc_seq_header(3, &[sps], &[PPS]))
        .expect("config")
    else {
        panic!("expected VideoConfig");
    };
    assert_eq!(c.codec, "avc1.64001f");
    assert_eq!((c.width, c.height), (None, None));
}

#[test]
fn nalu_frame_has_signed_cts_and_keyframe_flag() {
    let mut d = configured();
    let body = [0x17, 1, 0xff, 0xff, 0xd8, 0, 0, 0, 1, 0x65];
    let ev = d.demux_video(80, &body).expect("frame");
    assert_eq!(
        ev,
        MediaEvent::Frame(MediaFrame::Video {
            dts_ms: 80,
            cts_ms: -40,
            keyframe: true,
            data: bytes::Bytes::from_static(&[0, 0, 0, 1, 0x65]),
        })
    );
    let body = [0x27, 1, 0x00, 0x00, 0x50, 0, 0, 0, 1, 0x41];
    let MediaEvent::Frame(MediaFrame::Video {
        cts_ms, keyframe, ..
    }) = d.demux_video(120, &body).expect("frame")
    else {
        panic!("expected video frame");
    };
    assert_eq!((cts_ms, keyframe), (80, false));
}

#[test]
fn nothing_for_info_frames_end_of_sequence_and_empty_nalu() {
    let mut d = configured();
    assert_eq!(d.demux_video(0, &[0x57, 0]), Ok(MediaEvent::Nothing));
    assert_eq!(
        d.demux_video(0, &[0x17, 2, 0, 0, 0]),
        Ok(MediaEvent::Nothing)
    );
    assert_eq!(
        d.demux_video(0, &[0x17, 1, 0, 0, 0]),
        Ok(MediaEvent::Nothing)
    );
    assert_eq!(d.demux_audio(0, &[0xaf, 1]), Ok(MediaEvent::Nothing));
}

#[test]
fn frames_before_config_are_missing_config() {
    let mut d = FlvDemuxer::default();
    let err = d
        .demux_video(33, &[0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x65])
        .unwrap_err();
    assert!(err.is_missing_config(), "{err}");
    assert!(err.to_string().contains("dts 33 ms"), "{err}");
    let err = d.demux_audio(34, &[0xaf, 1, 0x21]).unwrap_err();
    assert!(err.is_missing_config(), "{err}");
}

#[test]
fn unsupported_codecs_are_errors() {
    let mut d = FlvDemuxer::default();
    // Sorenson H.263 (codec id 2).
    let err = d.demux_video(0, &[0x12, 0, 0]).unwrap_err();
    assert!(matches!(
        err,
        FlvError::UnsupportedVideoCodec {
            codec_id: 2,
            enhanced: false,
            ..
        }
    ));
    // Enhanced RTMP: IsExHeader | keyframe | PacketTypeSequenceStart, FourCC "hvc1".
    let err = d.demux_video(0, b"\x90hvc1").unwrap_err();
    assert!(matches!(
        err,
        FlvError::UnsupportedVideoCodec { enhanced: true, .. }
    ));
    // MP3 (sound format 2).
    let err = d.demux_audio(0, &[0x2f, 0xff]).unwrap_err();
    assert_eq!(
        err,
        FlvError::UnsupportedAudioCodec {
            dts_ms: 0,
            sound_format: 2
        }
    );
    assert!(!err.is_missing_config());
}

#[test]
fn malformed_video_bodies_are_errors() {
    let mut d = FlvDemuxer::default();
    let good = avc_seq_header(3, &[SPS_BASELINE_426X240], &[PPS]);
    // Empty body.
    assert_eq!(
        d.demux_video(7, &[]),
        Err(FlvError::EmptyBody {
            kind: TagContext::Video,
            dts_ms: 7
        })
    );
    // Invalid frame type 0.
    assert!(matches!(
        d.demux_video(0, &[0x07, 0, 0, 0, 0]),
        Err(FlvError::InvalidVideoFrameType { frame_type: 0, .. })
    ));
    // Every truncation of a valid sequence header.
    for cut in 1..good.len() {
        let err = d.demux_video(0, &good[..cut]).unwrap_err();
        assert!(
            matches!(err, FlvError::Truncated { .. }),
            "cut {cut}: {err}"
        );
    }
    // lengthSizeMinusOne = 2 (3-byte NAL lengths) is not allowed.
    let err = d
        .demux_video(0, &avc_seq_header(2, &[SPS_BASELINE_426X240], &[PPS]))
        .unwrap_err();
    assert!(
        matches!(err, FlvError::InvalidAvcConfig { offset: 9, .. }),
        "{err}"
    );
    // SPS count 3 with only one SPS present.
    let mut body = good.clone();
    body[10] = 0xe3;
    let err = d.demux_video(0, &body).unwrap_err();
    assert!(
        matches!(
            err,
            FlvError::Truncated {
                what: "PPS" | "SPS",
                ..
            }
        ),
        "{err}"
    );
    // SPS length larger than the body.
    let mut body = good.clone();
    body[11] = 0x40;
    let err = d.demux_video(5, &body).unwrap_err();
    assert_eq!(
        err,
        FlvError::Truncated {
            kind: TagContext::Video,
            dts_ms: 5,
            what: "SPS",
            offset: 13,
            needed: 0x4000 + SPS_BASELINE_426X240.len(),
            available: good.len() - 13,
        }
    );
    // configurationVersion 0 and zero SPS.
    let mut body = good.clone();
    body[5] = 0;
    assert!(matches!(
        d.demux_video(0, &body),
        Err(FlvError::InvalidAvcConfig { offset: 5, .. })
    ));
    assert!(matches!(
        d.demux_video(0, &avc_seq_header(3, &[], &[PPS])),
        Err(FlvError::InvalidAvcConfig { offset: 10, .. })
    ));
    assert!(d.video_config().is_none(), "no bad header may set a config");
}

#[test]
fn audio_specific_config_fields() {
    let mut d = FlvDemuxer::default();
    // AAC-LC, 44.1 kHz (index 4), mono.
    let MediaEvent::AudioConfig(c) = d.demux_audio(0, &[0xaf, 0, 0x12, 0x08]).expect("asc") else {
        panic!("expected AudioConfig");
    };
    assert_eq!(
        (
            c.object_type,
            c.sampling_frequency_index,
            c.sample_rate,
            c.channels,
            c.codec.as_str()
        ),
        (2, 4, 44100, 1, "mp4a.40.2")
    );
    assert_eq!(c.asc.as_ref(), &[0x12, 0x08]);
    // HE-AAC (5), 24 kHz (index 6), stereo.
    let MediaEvent::AudioConfig(c) = d.demux_audio(0, &[0xaf, 0, 0x2b, 0x10]).expect("asc") else {
        panic!("expected AudioConfig");
    };
    assert_eq!(
        (c.object_type, c.sample_rate, c.channels, c.codec.as_str()),
        (5, 24000, 2, "mp4a.40.5")
    );
    // Escaped object type 31 + 6 bits (value 10 -> AOT 42, USAC), explicit rate 44100, stereo.
    let bits = concat!(
        "11111",
        "001010",
        "1111",
        "000000001010110001000100",
        "0010"
    );
    let bytes: Vec<u8> = (0..bits.len().div_ceil(8))
        .map(|i| {
            let chunk = &bits[i * 8..(i * 8 + 8).min(bits.len())];
            u8::from_str_radix(&format!("{chunk:0<8}"), 2).expect("bits")
        })
        .collect();
    let mut body = vec![0xaf, 0];
    body.extend_from_slice(&bytes);
    let MediaEvent::AudioConfig(c) = d.demux_audio(0, &body).expect("asc") else {
        panic!("expected AudioConfig");
    };
    assert_eq!(
        (
            c.object_type,
            c.sampling_frequency_index,
            c.sample_rate,
            c.channels,
            c.codec.as_str()
        ),
        (42, 15, 44100, 2, "mp4a.40.42")
    );
}

#[test]
fn malformed_audio_bodies_are_errors() {
    let mut d = FlvDemuxer::default();
    assert!(matches!(
        d.demux_audio(0, &[]),
        Err(FlvError::EmptyBody {
            kind: TagContext::Audio,
            ..
        })
    ));
    assert!(matches!(
        d.demux_audio(0, &[0xaf]),
        Err(FlvError::Truncated { .. })
    ));
    // ASC of one byte.
    assert!(matches!(
        d.demux_audio(0, &[0xaf, 0, 0x12]),
        Err(FlvError::Truncated { .. })
    ));
    // Reserved sampling frequency index 13.
    assert!(matches!(
        d.demux_audio(0, &[0xaf, 0, 0x16, 0x88]),
        Err(FlvError::InvalidAudioConfig { offset: 2, .. })
    ));
    // Object type 0.
    assert!(matches!(
        d.demux_audio(0, &[0xaf, 0, 0x02, 0x10]),
        Err(FlvError::InvalidAudioConfig { .. })
    ));
    assert!(d.audio_config().is_none());
}

#[test]
fn frames_pass_through_after_config() {
    let mut d = configured();
    assert_eq!(
        d.demux_audio(21, &[0xaf, 1, 0x21, 0x10, 0x05]),
        Ok(MediaEvent::Frame(MediaFrame::Audio {
            dts_ms: 21,
            data: bytes::Bytes::from_static(&[0x21, 0x10, 0x05]),
        }))
    );
}

#[test]
fn exp_golomb_reader_is_bounded() {
    let mut r = sps::BitReader::new(&[0b0010_0000]);
    assert_eq!(r.read_ue(), Ok(3));
    // 40 zero bits: longer than any valid code.
    let mut r = sps::BitReader::new(&[0, 0, 0, 0, 0]);
    assert!(matches!(
        r.read_ue(),
        Err(SpsError::ExpGolombTooLong { .. })
    ));
    // Truncated: leading zeros with no terminating one.
    let mut r = sps::BitReader::new(&[0]);
    assert_eq!(r.read_ue(), Err(SpsError::Truncated { bit: 8 }));
    // se(v): 1 -> 0, 010 -> 1, 011 -> -1.
    let mut r = sps::BitReader::new(&[0b1010_0110]);
    assert_eq!(
        (r.read_se(), r.read_se(), r.read_se()),
        (Ok(0), Ok(1), Ok(-1))
    );
}

#[test]
fn sps_parser_rejects_non_sps_and_truncation() {
    assert_eq!(parse_sps(PPS), Err(SpsError::NotSps { found: 8 }));
    // The fields we read end in byte 8 (the VUI after them is not parsed).
    for cut in 0..9 {
        assert!(
            parse_sps(&SPS_BASELINE_426X240[..cut]).is_err(),
            "cut {cut}"
        );
    }
    let sps = parse_sps(SPS_BASELINE_426X240).expect("sps");
    assert_eq!(
        (sps.profile_idc, sps.level_idc, sps.width, sps.height),
        (66, 21, 426, 240)
    );
}

#[test]
fn reader_rejects_bad_headers_and_tag_types() {
    let mut r = FlvReader::default();
    r.push(b"FLX\x01\x05\x00\x00\x00\x09");
    assert_eq!(r.pull(), Err(FlvError::BadSignature { found: *b"FLX" }));
    let mut r = FlvReader::default();
    r.push(b"FLV\x02\x05\x00\x00\x00\x09");
    assert_eq!(r.pull(), Err(FlvError::UnsupportedVersion { found: 2 }));
    let mut r = FlvReader::default();
    r.push(b"FLV\x01\x05\x00\x00\x00\x08");
    assert_eq!(r.pull(), Err(FlvError::BadDataOffset { found: 8 }));
    // Header with 2 extra bytes before the body, then a tag of type 7 at offset 15.
    let mut r = FlvReader::default();
    r.push(b"FLV\x01\x05\x00\x00\x00\x0bxx\x00\x00\x00\x00\x07\x00\x00\x00");
    assert_eq!(r.pull(), Ok(None));
    r.push(&[0; 7]);
    assert_eq!(
        r.pull(),
        Err(FlvError::UnknownTagType {
            offset: 15,
            tag_type: 7
        })
    );
    assert_eq!(
        r.pull(),
        Err(FlvError::UnknownTagType {
            offset: 15,
            tag_type: 7
        })
    );
}

#[test]
fn reader_reads_extended_timestamp_and_buffers_partial_tags() {
    let mut file = b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00".to_vec();
    // Video tag, 3-byte body, timestamp 0x123456 with extended byte 0x78.
    file.extend_from_slice(&[9, 0, 0, 3, 0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0x17, 2, 0]);
    file.extend_from_slice(&14u32.to_be_bytes());
    let mut r = FlvReader::default();
    r.push(&file[..file.len() - 6]);
    assert_eq!(r.pull(), Ok(None));
    r.push(&file[file.len() - 6..]);
    let tag = r.pull().expect("tag").expect("complete");
    assert_eq!(tag.kind, FlvTagKind::Video);
    assert_eq!(tag.timestamp, 0x7812_3456);
    assert_eq!(tag.offset, 13);
    assert_eq!(tag.body.as_ref(), &[0x17, 2, 0]);
    assert_eq!(r.pull(), Ok(None));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bodies_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..64),
        head in 0usize..3,
    ) {
        let mut d = configured();
        // Bias the first bytes toward valid AVC/AAC headers so deeper paths are reached.
        let mut video = body.clone();
        let mut audio = body.clone();
        if head > 0 {
            if let Some(b) = video.first_mut() { *b = 0x17; }
            if let Some(b) = audio.first_mut() { *b = 0xaf; }
            if head > 1 {
                if let Some(b) = video.get_mut(1) { *b = 0; }
                if let Some(b) = audio.get_mut(1) { *b = 0; }
            }
        }
        let _ = d.demux_video(0, &video);
        let _ = d.demux_audio(0, &audio);
        let _ = parse_sps(&body);
        let mut r = FlvReader::default();
        r.push(b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00");
        r.push(&body);
        for _ in 0..70 {
            if !matches!(r.pull(), Ok(Some(_))) { break; }
        }
        let mut r = FlvReader::default();
        r.push(&body);
        let _ = r.pull();
    }
}
