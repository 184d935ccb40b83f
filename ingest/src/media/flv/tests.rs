//! Unit tests on hand-built tag bodies; fixture-based tests are in `ingest/tests/flv_fixtures.rs`.

use proptest::prelude::*;

use super::*;
use crate::media::frame::MediaFrame;

/// A tag body as the RTMP layer hands it over.
fn b(body: &[u8]) -> Bytes {
    Bytes::copy_from_slice(body)
}

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

/// The only event of a tag that must give exactly one.
fn one(events: Result<Vec<MediaEvent>, FlvError>) -> MediaEvent {
    let mut events = events.expect("demuxes");
    assert_eq!(events.len(), 1, "{events:?}");
    events.remove(0)
}

fn configured() -> FlvDemuxer {
    let mut d = FlvDemuxer::default();
    d.demux_video(0, &b(&avc_seq_header(3, &[SPS_BASELINE_426X240], &[PPS])))
        .expect("sequence header");
    d.demux_audio(0, &b(&[0xaf, 0x00, 0x12, 0x10]))
        .expect("ASC");
    d
}

#[test]
fn video_sequence_header_gives_config_with_cropped_size() {
    let mut d = FlvDemuxer::default();
    let body = avc_seq_header(3, &[SPS_BASELINE_426X240], &[PPS]);
    let MediaEvent::VideoConfig(c) = one(d.demux_video(40, &b(&body))) else {
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
    let MediaEvent::VideoConfig(c) = one(d.demux_video(1000, &b(&body))) else {
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
    let MediaEvent::VideoConfig(c) = one(d.demux_video(0, &b(&avc_seq_header(3, &[sps], &[PPS]))))
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
    let ev = one(d.demux_video(80, &b(&body)));
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
    }) = one(d.demux_video(120, &b(&body)))
    else {
        panic!("expected video frame");
    };
    assert_eq!((cts_ms, keyframe), (80, false));
}

#[test]
fn nothing_for_info_frames_end_of_sequence_and_empty_nalu() {
    let mut d = configured();
    assert_eq!(d.demux_video(0, &b(&[0x57, 0])), Ok(vec![]));
    assert_eq!(d.demux_video(0, &b(&[0x17, 2, 0, 0, 0])), Ok(vec![]));
    assert_eq!(d.demux_video(0, &b(&[0x17, 1, 0, 0, 0])), Ok(vec![]));
    assert_eq!(d.demux_audio(0, &b(&[0xaf, 1])), Ok(vec![]));
    // A repeated sequence header changes nothing.
    assert_eq!(
        d.demux_video(0, &b(&avc_seq_header(3, &[SPS_BASELINE_426X240], &[PPS]))),
        Ok(vec![])
    );
    assert_eq!(d.demux_audio(0, &b(&[0xaf, 0x00, 0x12, 0x10])), Ok(vec![]));
}

#[test]
fn frames_before_config_are_missing_config() {
    let mut d = FlvDemuxer::default();
    let err = d
        .demux_video(33, &b(&[0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x65]))
        .unwrap_err();
    assert!(err.is_missing_config(), "{err}");
    assert!(err.to_string().contains("dts 33 ms"), "{err}");
    let err = d.demux_audio(34, &b(&[0xaf, 1, 0x21])).unwrap_err();
    assert!(err.is_missing_config(), "{err}");
}

#[test]
fn unsupported_codecs_are_errors() {
    let mut d = FlvDemuxer::default();
    // Sorenson H.263 (codec id 2).
    let err = d.demux_video(0, &b(&[0x12, 0, 0])).unwrap_err();
    assert!(matches!(
        err,
        FlvError::UnsupportedVideoCodec {
            codec_id: 2,
            enhanced: false,
            ..
        }
    ));
    // Enhanced RTMP: IsExHeader | keyframe | PacketTypeSequenceStart, FourCC "hvc1".
    let err = d.demux_video(0, &b(b"\x90hvc1")).unwrap_err();
    assert!(matches!(
        err,
        FlvError::UnsupportedVideoCodec { enhanced: true, .. }
    ));
    // MP3 (sound format 2).
    let err = d.demux_audio(0, &b(&[0x2f, 0xff])).unwrap_err();
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
        d.demux_video(7, &b(&[])),
        Err(FlvError::EmptyBody {
            kind: TagContext::Video,
            dts_ms: 7
        })
    );
    // Invalid frame type 0.
    assert!(matches!(
        d.demux_video(0, &b(&[0x07, 0, 0, 0, 0])),
        Err(FlvError::InvalidVideoFrameType { frame_type: 0, .. })
    ));
    // Every truncation of a valid sequence header: one too short to hold a parameter set
    // announces in-band parameter sets (ffmpeg's tee sends 5 bytes), a longer one is
    // truncated.
    for cut in 1..good.len() {
        let result = d.demux_video(0, &b(&good[..cut]));
        if cut < 5 {
            assert!(
                matches!(result, Err(FlvError::Truncated { .. })),
                "cut {cut}"
            );
        } else if cut < 5 + 6 {
            assert_eq!(result, Ok(vec![]), "cut {cut}");
        } else {
            assert!(
                matches!(result, Err(FlvError::Truncated { .. })),
                "cut {cut}: {result:?}"
            );
        }
    }
    // lengthSizeMinusOne = 2 (3-byte NAL lengths) is not allowed.
    let err = d
        .demux_video(0, &b(&avc_seq_header(2, &[SPS_BASELINE_426X240], &[PPS])))
        .unwrap_err();
    assert!(
        matches!(err, FlvError::InvalidAvcConfig { offset: 9, .. }),
        "{err}"
    );
    // SPS count 3 with only one SPS present.
    let mut body = good.clone();
    body[10] = 0xe3;
    let err = d.demux_video(0, &b(&body)).unwrap_err();
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
    let err = d.demux_video(5, &b(&body)).unwrap_err();
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
    // configurationVersion 0; zero SPS means the parameter sets come in band.
    let mut body = good.clone();
    body[5] = 0;
    assert!(matches!(
        d.demux_video(0, &b(&body)),
        Err(FlvError::InvalidAvcConfig { offset: 5, .. })
    ));
    assert_eq!(
        d.demux_video(0, &b(&avc_seq_header(3, &[], &[PPS]))),
        Ok(vec![])
    );
    assert!(d.video_config().is_none(), "no bad header may set a config");
}

#[test]
fn audio_specific_config_fields() {
    let mut d = FlvDemuxer::default();
    // AAC-LC, 44.1 kHz (index 4), mono.
    let MediaEvent::AudioConfig(c) = one(d.demux_audio(0, &b(&[0xaf, 0, 0x12, 0x08]))) else {
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
    let MediaEvent::AudioConfig(c) = one(d.demux_audio(0, &b(&[0xaf, 0, 0x2b, 0x10]))) else {
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
    let MediaEvent::AudioConfig(c) = one(d.demux_audio(0, &b(&body))) else {
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
        d.demux_audio(0, &b(&[])),
        Err(FlvError::EmptyBody {
            kind: TagContext::Audio,
            ..
        })
    ));
    assert!(matches!(
        d.demux_audio(0, &b(&[0xaf])),
        Err(FlvError::Truncated { .. })
    ));
    // ASC of one byte.
    assert!(matches!(
        d.demux_audio(0, &b(&[0xaf, 0, 0x12])),
        Err(FlvError::Truncated { .. })
    ));
    // Reserved sampling frequency index 13.
    assert!(matches!(
        d.demux_audio(0, &b(&[0xaf, 0, 0x16, 0x88])),
        Err(FlvError::InvalidAudioConfig { offset: 2, .. })
    ));
    // Object type 0.
    assert!(matches!(
        d.demux_audio(0, &b(&[0xaf, 0, 0x02, 0x10])),
        Err(FlvError::InvalidAudioConfig { .. })
    ));
    assert!(d.audio_config().is_none());
}

#[test]
fn frames_pass_through_after_config() {
    let mut d = configured();
    assert_eq!(
        d.demux_audio(21, &b(&[0xaf, 1, 0x21, 0x10, 0x05])),
        Ok(vec![MediaEvent::Frame(MediaFrame::Audio {
            dts_ms: 21,
            data: bytes::Bytes::from_static(&[0x21, 0x10, 0x05]),
        })])
    );
}

#[test]
fn sps_parser_rejects_non_sps_and_truncation() {
    assert_eq!(parse_sps(PPS), Err(SpsError::NotSps { found: 8 }));
    // h264-reader reads the whole SPS, VUI and trailing bits included.
    for cut in 0..SPS_BASELINE_426X240.len() {
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

/// A second SPS (the high-profile 320x240 fixture's), to change parameters mid-stream.
const SPS_HIGH_320X240: &[u8] = &[
    0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9, 0x41, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10,
    0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x42, 0x99, 0x60,
];
const IDR: &[u8] = &[0x65, 0x88, 0x84, 0x00, 0x21];
const SLICE: &[u8] = &[0x41, 0x9a, 0x24, 0x18];

fn annex_b(nals: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, nal) in nals.iter().enumerate() {
        // Both start code forms, as encoders mix them.
        out.extend_from_slice(if i % 2 == 0 {
            &[0, 0, 0, 1]
        } else {
            &[0, 0, 1]
        });
        out.extend_from_slice(nal);
    }
    out
}

fn avcc(nals: &[&[u8]]) -> Vec<u8> {
    h264::to_avcc(nals, 4).expect("fits")
}

fn video_tag(keyframe: bool, data: &[u8]) -> Vec<u8> {
    let mut body = vec![if keyframe { 0x17 } else { 0x27 }, 1, 0, 0, 0];
    body.extend_from_slice(data);
    body
}

#[test]
fn empty_sequence_header_then_in_band_parameter_sets_in_annex_b() {
    // ffmpeg's FLV muxer in `-f tee` without global headers: a 5-byte sequence header, then
    // Annex B frames with the SPS/PPS before each keyframe.
    let mut d = FlvDemuxer::default();
    assert_eq!(d.demux_video(0, &b(&[0x17, 0, 0, 0, 0])), Ok(vec![]));
    let events = d
        .demux_video(
            0,
            &b(&video_tag(
                true,
                &annex_b(&[SPS_BASELINE_426X240, PPS, IDR]),
            )),
        )
        .expect("keyframe");
    let [
        MediaEvent::VideoConfig(c),
        MediaEvent::Frame(MediaFrame::Video { data, .. }),
    ] = &events[..]
    else {
        panic!("expected config then frame: {events:?}");
    };
    assert_eq!(c.codec, "avc1.42c015");
    assert_eq!((c.width, c.height), (Some(426), Some(240)));
    assert_eq!(c.nal_length_size, 4);
    // The frame comes out as AVCC, its own parameter sets kept.
    assert_eq!(data.as_ref(), avcc(&[SPS_BASELINE_426X240, PPS, IDR]));
    // The same parameter sets again: no new config; a non-keyframe converts the same way.
    let events = d
        .demux_video(
            40,
            &b(&video_tag(
                true,
                &annex_b(&[SPS_BASELINE_426X240, PPS, IDR]),
            )),
        )
        .expect("keyframe");
    assert!(matches!(&events[..], [MediaEvent::Frame(_)]), "{events:?}");
    let MediaEvent::Frame(MediaFrame::Video { data, .. }) =
        one(d.demux_video(80, &b(&video_tag(false, &annex_b(&[SLICE])))))
    else {
        panic!("expected a frame");
    };
    assert_eq!(data.as_ref(), avcc(&[SLICE]));
}

#[test]
fn frames_without_any_parameter_set_wait_for_one() {
    let mut d = FlvDemuxer::default();
    assert_eq!(d.demux_video(0, &b(&[0x17, 0, 0, 0, 0])), Ok(vec![]));
    let err = d
        .demux_video(0, &b(&video_tag(true, &annex_b(&[IDR]))))
        .unwrap_err();
    assert!(err.is_missing_config(), "{err}");
    // An SPS alone is not enough to decode; the PPS completes it later.
    let err = d
        .demux_video(
            40,
            &b(&video_tag(true, &annex_b(&[SPS_BASELINE_426X240, IDR]))),
        )
        .unwrap_err();
    assert!(err.is_missing_config(), "{err}");
    let events = d
        .demux_video(
            80,
            &b(&video_tag(true, &avcc(&[SPS_BASELINE_426X240, PPS, IDR]))),
        )
        .expect("keyframe");
    assert_eq!(events.len(), 2, "{events:?}");
}

#[test]
fn in_band_sps_change_gives_a_new_config() {
    // A resolution switch copied from a concat input: the record had the first SPS, the
    // second part's keyframes carry theirs in band.
    let mut d = configured();
    let events = d
        .demux_video(
            40,
            &b(&video_tag(true, &avcc(&[SPS_BASELINE_426X240, PPS, IDR]))),
        )
        .expect("same SPS");
    assert_eq!(events.len(), 1, "{events:?}");
    let events = d
        .demux_video(
            2000,
            &b(&video_tag(true, &avcc(&[SPS_HIGH_320X240, PPS, IDR]))),
        )
        .expect("new SPS");
    let [MediaEvent::VideoConfig(c), MediaEvent::Frame(_)] = &events[..] else {
        panic!("expected config then frame: {events:?}");
    };
    assert_eq!(c.codec, "avc1.64000d");
    assert_eq!((c.width, c.height), (Some(320), Some(240)));
    // The PPS in force is kept when the frame brings only an SPS.
    assert_eq!(c.pps, vec![bytes::Bytes::from_static(PPS)]);
}

#[test]
fn bad_nal_framing_drops_the_tag_with_its_offset() {
    let mut d = configured();
    // A 4-byte length of 0x40 with 2 bytes behind it, and no start code to fall back to.
    let err = d
        .demux_video(66, &b(&video_tag(false, &[0, 0, 0, 0x40, 0x41, 0x9a])))
        .unwrap_err();
    assert!(
        matches!(
            err,
            FlvError::InvalidNalUnits {
                dts_ms: 66,
                offset: 5,
                ..
            }
        ),
        "{err}"
    );
    assert!(!err.is_missing_config() && !err.is_unsupported_codec());
    // The state is untouched: the next good frame goes through.
    assert!(
        d.demux_video(100, &b(&video_tag(false, &avcc(&[SLICE]))))
            .is_ok()
    );
}

#[test]
fn mislabelled_annex_b_frames_fall_back_from_avcc() {
    let mut d = configured();
    let MediaEvent::Frame(MediaFrame::Video { data, .. }) =
        one(d.demux_video(40, &b(&video_tag(false, &annex_b(&[SLICE, SLICE])))))
    else {
        panic!("expected a frame");
    };
    assert_eq!(data.as_ref(), avcc(&[SLICE, SLICE]));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// NAL units survive AVCC (every length size) and Annex B framing unchanged, whatever
    /// start code forms and trailing zeros the byte stream uses.
    #[test]
    fn nal_framing_round_trips(
        nals in proptest::collection::vec(
            proptest::collection::vec(any::<u8>(), 1..40).prop_map(|mut n| {
                // A NAL unit neither contains a start code nor ends in a zero byte.
                n[0] = 0x41;
                for i in 2..n.len() {
                    if n[i - 2] == 0 && n[i - 1] == 0 && n[i] <= 3 {
                        n[i] = 4;
                    }
                }
                if let Some(last) = n.last_mut() && *last == 0 { *last = 0x80; }
                n
            }),
            1..6,
        ),
        four_byte in proptest::collection::vec(any::<bool>(), 6),
        trailing_zeros in 0usize..3,
    ) {
        let refs: Vec<&[u8]> = nals.iter().map(Vec::as_slice).collect();
        for size in [1u8, 2, 4] {
            let framed = h264::to_avcc(&refs, size).expect("short NAL units fit");
            prop_assert_eq!(h264::split_avcc(&framed, size).expect("splits"), refs.clone());
        }
        let mut stream = Vec::new();
        for (i, nal) in refs.iter().enumerate() {
            if four_byte[i] { stream.push(0); }
            stream.extend_from_slice(&[0, 0, 1]);
            stream.extend_from_slice(nal);
            stream.extend(std::iter::repeat_n(0, trailing_zeros));
        }
        prop_assert_eq!(h264::split_annex_b(&stream).expect("starts with a start code"), refs);
    }
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
        let _ = d.demux_video(0, &b(&video));
        let _ = d.demux_audio(0, &b(&audio));
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

/// The demuxer owns each configuration: the event hands on its own instance (no copy of the
/// parameter sets), a repeated sequence header makes none, and a changed one a new one.
#[test]
fn configurations_are_the_demuxers_own_instances() {
    let mut d = FlvDemuxer::default();
    let body = avc_seq_header(3, &[SPS_BASELINE_426X240], &[PPS]);
    let MediaEvent::VideoConfig(first) = one(d.demux_video(0, &b(&body))) else {
        panic!("expected VideoConfig");
    };
    assert!(std::sync::Arc::ptr_eq(&first, d.video_config().unwrap()));
    assert_eq!(d.demux_video(40, &b(&body)), Ok(vec![]));
    assert!(std::sync::Arc::ptr_eq(&first, d.video_config().unwrap()));
    let MediaEvent::VideoConfig(second) =
        one(d.demux_video(80, &b(&avc_seq_header(3, &[SPS_HIGH_320X240], &[PPS]))))
    else {
        panic!("expected VideoConfig");
    };
    assert!(!std::sync::Arc::ptr_eq(&first, &second));
    assert!(std::sync::Arc::ptr_eq(&second, d.video_config().unwrap()));
    let MediaEvent::AudioConfig(audio) = one(d.demux_audio(0, &b(&[0xaf, 0, 0x12, 0x10]))) else {
        panic!("expected AudioConfig");
    };
    assert!(std::sync::Arc::ptr_eq(&audio, d.audio_config().unwrap()));
}
