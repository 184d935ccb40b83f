use bytes::Bytes;

use super::reader::{be_u32, boxes, find, find_all};
use super::{PPS, SPS, audio_config, video_config};
use crate::media::fmp4::{Fmp4Error, init_segment};

#[test]
fn init_is_ftyp_then_moov_with_a_trak_per_track() {
    let init = init_segment(Some(&video_config()), Some(&audio_config(48_000))).unwrap();
    let top = boxes(&init);
    let kinds: Vec<_> = top.iter().map(|b| b.kind).collect();
    assert_eq!(kinds, [*b"ftyp", *b"moov"]);
    assert_eq!(top[0].body, b"iso6\0\0\0\0iso6cmfc");
    let moov: Vec<_> = boxes(top[1].body).iter().map(|b| b.kind).collect();
    assert_eq!(moov, [*b"mvhd", *b"trak", *b"trak", *b"mvex"]);
    let tkhd = find_all(&init, &[b"moov", b"trak", b"tkhd"]);
    assert_eq!(be_u32(tkhd[0], 12), 1, "video track id");
    assert_eq!(be_u32(tkhd[1], 12), 2, "audio track id");
    // Video: 1280x720 in 16.16.
    assert_eq!(be_u32(tkhd[0], 76), 1280 << 16);
    assert_eq!(be_u32(tkhd[0], 80), 720 << 16);
    let mdhd = find_all(&init, &[b"moov", b"trak", b"mdia", b"mdhd"]);
    assert_eq!(be_u32(mdhd[0], 12), 90_000, "video timescale");
    assert_eq!(be_u32(mdhd[1], 12), 48_000, "audio timescale");
    let hdlr = find_all(&init, &[b"moov", b"trak", b"mdia", b"hdlr"]);
    assert_eq!(&hdlr[0][8..12], b"vide");
    assert_eq!(&hdlr[1][8..12], b"soun");
    let trex = find_all(&init, &[b"moov", b"mvex", b"trex"]);
    assert_eq!(trex.len(), 2);
    assert_eq!((be_u32(trex[0], 4), be_u32(trex[1], 4)), (1, 2));
    let stbl = find_all(&init, &[b"moov", b"trak", b"mdia", b"minf", b"stbl"]);
    for stbl in stbl {
        let kinds: Vec<_> = boxes(stbl).iter().map(|b| b.kind).collect();
        assert_eq!(kinds, [*b"stsd", *b"stts", *b"stsc", *b"stco", *b"stsz"]);
        for table in [b"stts", b"stsc", b"stco"] {
            assert_eq!(find(stbl, &[table]), [0; 8], "empty {table:?}");
        }
        assert_eq!(find(stbl, &[b"stsz"]), [0; 12]);
    }
}

#[test]
fn avcc_is_built_from_the_parameter_sets() {
    let init = init_segment(Some(&video_config()), None).unwrap();
    let path = [
        b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd", b"avc1", b"avcC",
    ];
    let mut expected = vec![1, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0, SPS.len() as u8];
    expected.extend_from_slice(SPS);
    expected.extend_from_slice(&[1, 0, PPS.len() as u8]);
    expected.extend_from_slice(PPS);
    // This SPS is truncated: no High-profile extension can be read from it, none is written.
    assert_eq!(find(&init, &path), expected);
    let avc1 = find(
        &init,
        &[
            b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd", b"avc1",
        ],
    );
    assert_eq!(u16::from_be_bytes([avc1[24], avc1[25]]), 1280);
    assert_eq!(u16::from_be_bytes([avc1[26], avc1[27]]), 720);
    assert_eq!(find_all(&init, &[b"moov", b"trak"]).len(), 1);
    assert_eq!(be_u32(find(&init, &[b"moov", b"mvex", b"trex"]), 4), 1);
}

#[test]
fn avcc_has_the_high_profile_extension_when_the_sps_parses() {
    // A High-profile (100) 4:2:0 8-bit SPS, level 1.3.
    let sps = Bytes::from_static(&[
        0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9, 0x41, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00,
        0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x42, 0x99, 0x60,
    ]);
    let config = crate::media::frame::VideoConfig {
        sps: vec![sps.clone()],
        ..video_config()
    };
    assert!(
        crate::media::flv::parse_sps(&sps).is_ok(),
        "test SPS parses"
    );
    let init = init_segment(Some(&config), None).unwrap();
    let path = [
        b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd", b"avc1", b"avcC",
    ];
    let avcc = find(&init, &path);
    // chroma_format 1 (4:2:0), 8-bit luma and chroma, no SPS extensions.
    assert_eq!(avcc[avcc.len() - 4..], [0xfd, 0xf8, 0xf8, 0]);
}

#[test]
fn esds_carries_the_audio_specific_config() {
    let init = init_segment(None, Some(&audio_config(44_100))).unwrap();
    let mp4a = find(
        &init,
        &[
            b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd", b"mp4a",
        ],
    );
    assert_eq!(u16::from_be_bytes([mp4a[16], mp4a[17]]), 2, "channels");
    assert_eq!(be_u32(mp4a, 24), 44_100 << 16, "samplerate 16.16");
    let esds = find(
        &init,
        &[
            b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd", b"mp4a", b"esds",
        ],
    );
    #[rustfmt::skip]
    let expected = [
        0, 0, 0, 0, // version, flags
        0x03, 25, 0, 0, 0, // ES_Descriptor: ES_ID 0, no flags
        0x04, 17, 0x40, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // DecoderConfig: AAC, audio
        0x05, 2, 0x11, 0x90, // DecoderSpecificInfo: the ASC
        0x06, 1, 0x02, // SLConfig
    ];
    assert_eq!(esds, expected);
    assert_eq!(be_u32(find(&init, &[b"moov", b"mvex", b"trex"]), 4), 2);
}

#[test]
fn init_has_no_time_fields_and_is_the_same_every_time() {
    let build = || init_segment(Some(&video_config()), Some(&audio_config(48_000))).unwrap();
    let init = build();
    assert_eq!(init, build());
    let mvhd = find(&init, &[b"moov", b"mvhd"]);
    assert_eq!(mvhd[0], 0, "version 0: 32-bit times");
    assert_eq!(&mvhd[4..12], [0; 8], "mvhd creation/modification time");
    assert_eq!(be_u32(mvhd, 16), 0, "mvhd duration");
    for tkhd in find_all(&init, &[b"moov", b"trak", b"tkhd"]) {
        assert_eq!(tkhd[0], 0);
        assert_eq!(&tkhd[4..12], [0; 8], "tkhd creation/modification time");
        assert_eq!(be_u32(tkhd, 20), 0, "tkhd duration");
    }
    for mdhd in find_all(&init, &[b"moov", b"trak", b"mdia", b"mdhd"]) {
        assert_eq!(mdhd[0], 0);
        assert_eq!(&mdhd[4..12], [0; 8], "mdhd creation/modification time");
        assert_eq!(be_u32(mdhd, 16), 0, "mdhd duration");
    }
    assert!(find_all(&init, &[b"moov", b"mvex", b"mehd"]).is_empty());
}

#[test]
fn init_refuses_unusable_configurations() {
    let no_sps = crate::media::frame::VideoConfig {
        sps: vec![],
        ..video_config()
    };
    assert!(matches!(
        init_segment(Some(&no_sps), None),
        Err(Fmp4Error::MissingSps { len: None })
    ));
    let short_sps = crate::media::frame::VideoConfig {
        sps: vec![Bytes::from_static(&[0x67, 0x64])],
        ..video_config()
    };
    assert!(matches!(
        init_segment(Some(&short_sps), None),
        Err(Fmp4Error::MissingSps { len: Some(2) })
    ));
    let no_pps = crate::media::frame::VideoConfig {
        pps: vec![],
        ..video_config()
    };
    assert!(matches!(
        init_segment(Some(&no_pps), None),
        Err(Fmp4Error::MissingPps)
    ));
    let bad_length = crate::media::frame::VideoConfig {
        nal_length_size: 3,
        ..video_config()
    };
    assert!(matches!(
        init_segment(Some(&bad_length), None),
        Err(Fmp4Error::InvalidNalLengthSize { nal_length_size: 3 })
    ));
    let many = crate::media::frame::VideoConfig {
        sps: vec![Bytes::from_static(SPS); 32],
        ..video_config()
    };
    assert!(matches!(
        init_segment(Some(&many), None),
        Err(Fmp4Error::TooManyParameterSets {
            count: 32,
            max: 31,
            ..
        })
    ));
    let huge = crate::media::frame::VideoConfig {
        pps: vec![Bytes::from(vec![0x68; 70_000])],
        ..video_config()
    };
    assert!(matches!(
        init_segment(Some(&huge), None),
        Err(Fmp4Error::ParameterSetTooLong { len: 70_000, .. })
    ));
    assert!(matches!(
        init_segment(None, Some(&audio_config(0))),
        Err(Fmp4Error::ZeroSampleRate)
    ));
    // Audio alone, and nothing at all, are valid.
    assert!(init_segment(None, None).is_ok());
}
