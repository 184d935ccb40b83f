use bytes::Bytes;
use mpeg2ts::{
    pes::{PesPacketReader, ReadPesPacket},
    ts::TsPacketReader,
};
use proptest::prelude::*;

use super::pes::{AUD, AccessUnit, AdtsTemplate, split_avcc};
use super::*;

const SPS: &[u8] = &[0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9];
const PPS: &[u8] = &[0x68, 0xeb, 0xe3, 0xcb];

fn video_config() -> VideoConfig {
    VideoConfig {
        sps: vec![Bytes::from_static(SPS)],
        pps: vec![Bytes::from_static(PPS)],
        nal_length_size: 4,
        codec: "avc1.64001f".into(),
        width: Some(1280),
        height: Some(720),
        frame_rate_milli: None,
    }
}

fn audio_config() -> AudioConfig {
    AudioConfig {
        asc: Bytes::from_static(&[0x11, 0x90]),
        object_type: 2,
        sampling_frequency_index: 3,
        sample_rate: 48_000,
        channels: 2,
        codec: "mp4a.40.2".into(),
    }
}

/// The Annex B access unit of an AVCC frame, as one buffer.
fn annex_b_access_unit(
    config: &VideoConfig,
    data: &[u8],
    keyframe: bool,
    dts_ms: i64,
) -> Result<Vec<u8>, TsError> {
    let nals = split_avcc(data, config.nal_length_size, dts_ms)?;
    Ok(AccessUnit::annex_b(config, &nals, keyframe).to_vec())
}

/// AVCC with 4-byte lengths.
fn avcc(nals: &[&[u8]]) -> Bytes {
    let mut out = Vec::new();
    for nal in nals {
        out.extend_from_slice(&(nal.len() as u32).to_be_bytes());
        out.extend_from_slice(nal);
    }
    Bytes::from(out)
}

fn video(dts_ms: i64, cts_ms: i32, keyframe: bool, size: usize) -> MediaFrame {
    let nal_type = if keyframe { 0x65 } else { 0x41 };
    let mut nal = vec![nal_type];
    nal.extend((0..size).map(|i| (i % 251) as u8 | 1));
    MediaFrame::Video {
        dts_ms,
        cts_ms,
        keyframe,
        data: avcc(&[&nal]),
    }
}

fn audio(dts_ms: i64, size: usize) -> MediaFrame {
    MediaFrame::Audio {
        dts_ms,
        data: Bytes::from(vec![0x21; size]),
    }
}

/// One second of 25 fps video (keyframe first, B-frame-like cts) and 48 kHz AAC, from `start`.
fn one_second(start: i64) -> Vec<MediaFrame> {
    let mut frames = Vec::new();
    let mut a = 0;
    for v in 0..25 {
        let dts = start + v * 40;
        while start + a * 1024 * 1000 / 48_000 <= dts {
            frames.push(audio(
                start + a * 1024 * 1000 / 48_000,
                300 + (a as usize % 7),
            ));
            a += 1;
        }
        frames.push(video(dts, 80, v == 0, 3000 + (v as usize * 37) % 900));
    }
    frames
}

fn mux_segments(muxer: &mut TsMuxer, seconds: &[i64]) -> Vec<Bytes> {
    let (v, a) = (Arc::new(video_config()), Arc::new(audio_config()));
    seconds
        .iter()
        .map(|&s| {
            muxer.begin_segment(Some(&v), Some(&a)).unwrap();
            for f in one_second(s * 1000) {
                muxer.push_frame(&f).unwrap();
            }
            muxer.finish_segment().unwrap()
        })
        .collect()
}

struct Packet {
    pid: u16,
    pusi: bool,
    has_payload: bool,
    cc: u8,
    adaptation: Option<Vec<u8>>,
}

fn packets(ts: &[u8]) -> Vec<Packet> {
    assert_eq!(
        ts.len() % 188,
        0,
        "length {} not a multiple of 188",
        ts.len()
    );
    ts.chunks(188)
        .map(|p| {
            assert_eq!(p[0], 0x47, "sync byte");
            let afc = (p[3] >> 4) & 3;
            let adaptation = (afc & 2 != 0).then(|| p[5..5 + usize::from(p[4])].to_vec());
            Packet {
                pid: (u16::from(p[1] & 0x1f) << 8) | u16::from(p[2]),
                pusi: p[1] & 0x40 != 0,
                has_payload: afc & 1 != 0,
                cc: p[3] & 0x0f,
                adaptation,
            }
        })
        .collect()
}

/// PCR_PID from the PMT, the segment's second packet (§2.4.4.8).
fn pmt_pcr_pid(segment: &[u8]) -> u16 {
    let p = &segment[188..376];
    // Header, then the adaptation field the crate uses for stuffing, if any.
    let mut at = 4;
    if p[3] & 0x20 != 0 {
        at += 1 + usize::from(p[4]);
    }
    // pointer_field, then table_id .. last_section_number (8 bytes), then PCR_PID.
    let section = &p[at + 1 + usize::from(p[at])..];
    assert_eq!(section[0], 0x02, "PMT table_id");
    (u16::from(section[8] & 0x1f) << 8) | u16::from(section[9])
}

#[test]
fn segments_are_whole_packets_starting_with_pat_pmt() {
    let mut muxer = TsMuxer::new(TsMuxerConfig::default());
    for seg in mux_segments(&mut muxer, &[0, 1]) {
        let p = packets(&seg);
        assert_eq!(p[0].pid, 0);
        assert_eq!(p[1].pid, PMT_PID);
        assert!(p[0].pusi && p[1].pusi);
        assert_eq!(pmt_pcr_pid(&seg), VIDEO_PID);
        assert_eq!(p[2].pid, VIDEO_PID, "keyframe right after the tables");
        assert!(
            p.iter()
                .skip(2)
                .all(|p| p.pid == VIDEO_PID || p.pid == AUDIO_PID)
        );
    }
}

#[test]
fn continuity_counters_increase_per_pid_across_segments() {
    let mut muxer = TsMuxer::new(TsMuxerConfig::default());
    let all: Vec<u8> = mux_segments(&mut muxer, &[0, 1, 2]).concat();
    let mut last: std::collections::BTreeMap<u16, u8> = Default::default();
    let mut counts: std::collections::BTreeMap<u16, usize> = Default::default();
    for p in packets(&all) {
        assert!(p.has_payload);
        if let Some(prev) = last.insert(p.pid, p.cc) {
            assert_eq!(p.cc, (prev + 1) % 16, "pid {:#x}", p.pid);
        } else {
            assert_eq!(p.cc, 0, "pid {:#x} starts at 0", p.pid);
        }
        *counts.entry(p.pid).or_default() += 1;
    }
    assert_eq!(counts[&0], 3);
    assert_eq!(counts[&PMT_PID], 3);
    assert!(
        counts[&VIDEO_PID] > 16 && counts[&AUDIO_PID] > 16,
        "counters wrapped"
    );
}

#[test]
fn pes_payloads_round_trip_with_timestamps() {
    let mut muxer = TsMuxer::new(TsMuxerConfig::default());
    let seg = mux_segments(&mut muxer, &[10]).remove(0);
    let mut reader = PesPacketReader::new(TsPacketReader::new(&seg[..]));
    let mut video_pes = Vec::new();
    let mut audio_data = Vec::new();
    let mut audio_pts = Vec::new();
    while let Some(pes) = reader.read_pes_packet().unwrap() {
        if pes.header.stream_id.is_video() {
            video_pes.push(pes);
        } else {
            audio_pts.push(pes.header.pts.unwrap().as_u64());
            audio_data.extend_from_slice(&pes.data);
        }
    }
    let expected: Vec<_> = one_second(10_000)
        .into_iter()
        .filter(MediaFrame::is_video)
        .collect();
    assert_eq!(video_pes.len(), expected.len());
    let vc = video_config();
    for (pes, frame) in video_pes.iter().zip(&expected) {
        let MediaFrame::Video {
            dts_ms,
            data,
            keyframe,
            ..
        } = frame
        else {
            unreachable!()
        };
        assert_eq!(
            pes.data,
            annex_b_access_unit(&vc, data, *keyframe, 0).unwrap()
        );
        assert_eq!(pes.header.dts.unwrap().as_u64(), *dts_ms as u64 * 90);
        assert_eq!(pes.header.pts.unwrap().as_u64(), (*dts_ms as u64 + 80) * 90);
    }
    // All AAC frames present, in order, as ADTS; PES PTS are first-frame times.
    let adts = AdtsTemplate::new(&audio_config()).unwrap();
    let mut expected_audio = Vec::new();
    for f in one_second(10_000) {
        if let MediaFrame::Audio { dts_ms, data } = f {
            expected_audio.extend_from_slice(&adts.header(data.len(), dts_ms).unwrap());
            expected_audio.extend_from_slice(&data);
        }
    }
    assert_eq!(audio_data, expected_audio);
    assert_eq!(audio_pts[0], 10_000 * 90);
    // ~47 AAC frames in one second grouped ~150 ms: about seven PES, not one per frame.
    assert!(
        (5..=8).contains(&audio_pts.len()),
        "{} audio PES",
        audio_pts.len()
    );
}

#[test]
fn video_pes_start_carries_pcr_and_random_access_on_keyframes() {
    let mut muxer = TsMuxer::new(TsMuxerConfig::default());
    let seg = mux_segments(&mut muxer, &[3]).remove(0);
    let starts: Vec<_> = packets(&seg)
        .into_iter()
        .filter(|p| p.pid == VIDEO_PID && p.pusi)
        .collect();
    assert_eq!(starts.len(), 25);
    for (i, p) in starts.iter().enumerate() {
        let af = p.adaptation.as_ref().expect("adaptation field");
        assert_eq!(af[0] & 0x10, 0x10, "PCR flag");
        assert_eq!(af[0] & 0x40 != 0, i == 0, "random_access_indicator");
        let base = (u64::from(af[1]) << 25)
            | (u64::from(af[2]) << 17)
            | (u64::from(af[3]) << 9)
            | (u64::from(af[4]) << 1)
            | (u64::from(af[5]) >> 7);
        assert_eq!(base, (3000 + i as u64 * 40) * 90, "PCR base = DTS");
    }
}

#[test]
fn audio_only_segment_uses_audio_pcr() {
    let mut muxer = TsMuxer::new(TsMuxerConfig::default());
    muxer
        .begin_segment(None, Some(&Arc::new(audio_config())))
        .unwrap();
    for i in 0..20 {
        muxer
            .push_frame(&audio(i * 1024 * 1000 / 48_000, 200))
            .unwrap();
    }
    let err = muxer.push_frame(&video(0, 0, true, 10)).unwrap_err();
    assert!(matches!(err, TsError::NoVideoTrack { dts_ms: 0 }), "{err}");
    let seg = muxer.finish_segment().unwrap();
    assert_eq!(pmt_pcr_pid(&seg), AUDIO_PID);
    let p = packets(&seg);
    let audio_start = p.iter().find(|p| p.pid == AUDIO_PID && p.pusi).unwrap();
    assert_eq!(audio_start.adaptation.as_ref().unwrap()[0] & 0x50, 0x50);
}

/// The elementary PIDs the PMT (the segment's second packet) lists.
fn pmt_streams(segment: &[u8]) -> Vec<u16> {
    let p = &segment[188..376];
    let mut at = 4;
    if p[3] & 0x20 != 0 {
        at += 1 + usize::from(p[4]);
    }
    let section = &p[at + 1 + usize::from(p[at])..];
    let section_len = (usize::from(section[1] & 0x0f) << 8) | usize::from(section[2]);
    let info_len = (usize::from(section[10] & 0x0f) << 8) | usize::from(section[11]);
    // After the 12-byte header and program info, up to the 4-byte CRC.
    let mut es = &section[12 + info_len..3 + section_len - 4];
    let mut pids = Vec::new();
    while es.len() >= 5 {
        pids.push((u16::from(es[1] & 0x1f) << 8) | u16::from(es[2]));
        let len = (usize::from(es[3] & 0x0f) << 8) | usize::from(es[4]);
        es = &es[5 + len..];
    }
    pids
}

#[test]
fn pmt_lists_the_tracks_the_segment_carries() {
    let mut muxer = TsMuxer::new(TsMuxerConfig::default());
    // Begun with both, only video came: the PMT lists video alone.
    muxer
        .begin_segment(
            Some(&Arc::new(video_config())),
            Some(&Arc::new(audio_config())),
        )
        .unwrap();
    muxer.push_frame(&video(0, 0, true, 500)).unwrap();
    muxer.push_frame(&video(40, 0, false, 200)).unwrap();
    assert_eq!(
        muxer.carried(),
        SegmentTracks {
            video: true,
            audio: false
        }
    );
    let seg = muxer.finish_segment().unwrap();
    assert_eq!(pmt_streams(&seg), [VIDEO_PID]);
    assert_eq!(pmt_pcr_pid(&seg), VIDEO_PID);
    // Begun with video only, audio joined mid-segment: both listed.
    muxer
        .begin_segment(Some(&Arc::new(video_config())), None)
        .unwrap();
    muxer.push_frame(&video(80, 0, true, 500)).unwrap();
    assert!(muxer.push_frame(&audio(90, 100)).is_err());
    muxer.set_audio_config(&audio_config()).unwrap();
    for i in 0..10 {
        muxer.push_frame(&audio(90 + i * 21, 100)).unwrap();
    }
    let seg = muxer.finish_segment().unwrap();
    assert_eq!(pmt_streams(&seg), [VIDEO_PID, AUDIO_PID]);
    // Nothing at all: the tracks it was begun with.
    muxer
        .begin_segment(
            Some(&Arc::new(video_config())),
            Some(&Arc::new(audio_config())),
        )
        .unwrap();
    let seg = muxer.finish_segment().unwrap();
    assert_eq!(seg.len(), 2 * 188);
    assert_eq!(pmt_streams(&seg), [VIDEO_PID, AUDIO_PID]);
}

#[test]
fn audio_config_change_mid_segment_rewrites_the_adts_headers() {
    let mut muxer = TsMuxer::new(TsMuxerConfig::default());
    muxer
        .begin_segment(None, Some(&Arc::new(audio_config())))
        .unwrap();
    muxer.push_frame(&audio(0, 50)).unwrap();
    let mono_44k = AudioConfig {
        asc: Bytes::from_static(&[0x12, 0x08]),
        sampling_frequency_index: 4,
        sample_rate: 44_100,
        channels: 1,
        ..audio_config()
    };
    muxer.set_audio_config(&mono_44k).unwrap();
    muxer.push_frame(&audio(21, 50)).unwrap();
    let seg = muxer.finish_segment().unwrap();
    // Two ADTS headers: 48 kHz stereo, then 44.1 kHz mono.
    let headers: Vec<_> = seg
        .windows(3)
        .filter(|w| w[0] == 0xff && w[1] == 0xf1)
        .map(|w| ((w[2] >> 2) & 0x0f, w[2] & 1))
        .collect();
    assert_eq!(headers, [(3, 0), (4, 0)]);
    let channels: Vec<_> = seg
        .windows(4)
        .filter(|w| w[0] == 0xff && w[1] == 0xf1)
        .map(|w| ((w[2] & 1) << 2) | (w[3] >> 6))
        .collect();
    assert_eq!(channels, [2, 1]);
    // A configuration ADTS cannot carry is refused and changes nothing.
    let usac = AudioConfig {
        object_type: 42,
        ..audio_config()
    };
    muxer
        .begin_segment(None, Some(&Arc::new(audio_config())))
        .unwrap();
    assert!(muxer.set_audio_config(&usac).is_err());
}

#[test]
fn adts_header_aac_lc_48k_stereo() {
    let adts = AdtsTemplate::new(&audio_config()).unwrap();
    // frame_length = 7 + 100 = 107.
    assert_eq!(
        adts.header(100, 0).unwrap(),
        [0xff, 0xf1, 0x4c, 0x80, 0x0d, 0x7f, 0xfc]
    );
    let err = adts.header(8185, 42).unwrap_err();
    assert!(matches!(
        err,
        TsError::AudioFrameTooLarge {
            dts_ms: 42,
            len: 8185
        }
    ));
    let mono_44k = AudioConfig {
        sampling_frequency_index: 4,
        channels: 1,
        ..audio_config()
    };
    assert_eq!(
        AdtsTemplate::new(&mono_44k).unwrap().header(0, 0).unwrap()[..4],
        [0xff, 0xf1, 0x50, 0x40]
    );
    let bad = AudioConfig {
        object_type: 42,
        ..audio_config()
    };
    assert!(matches!(
        AdtsTemplate::new(&bad),
        Err(TsError::UnsupportedAudioObjectType { object_type: 42 })
    ));
}

#[test]
fn annex_b_adds_aud_and_parameter_sets_before_keyframes() {
    let vc = video_config();
    let idr: &[u8] = &[0x65, 0x88, 0x84];
    let out = annex_b_access_unit(&vc, &avcc(&[idr]), true, 0).unwrap();
    let mut expected = vec![0, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1];
    expected.extend_from_slice(SPS);
    expected.extend_from_slice(&[0, 0, 0, 1]);
    expected.extend_from_slice(PPS);
    expected.extend_from_slice(&[0, 0, 0, 1]);
    expected.extend_from_slice(idr);
    assert_eq!(out, expected);

    let p: &[u8] = &[0x41, 0x9a];
    let out = annex_b_access_unit(&vc, &avcc(&[p]), false, 0).unwrap();
    assert_eq!(out, [0, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1, 0x41, 0x9a]);
}

#[test]
fn annex_b_keeps_the_frames_own_aud_and_parameter_sets() {
    let vc = video_config();
    let aud: &[u8] = &[0x09, 0x10];
    let sps: &[u8] = &[0x67, 0x42];
    let pps: &[u8] = &[0x68, 0xce];
    let idr: &[u8] = &[0x65, 0x01];
    // Own AUD first, then the config's parameter sets, then the rest.
    let out = annex_b_access_unit(&vc, &avcc(&[aud, idr]), true, 0).unwrap();
    let mut expected = vec![0, 0, 0, 1, 0x09, 0x10, 0, 0, 0, 1];
    expected.extend_from_slice(SPS);
    expected.extend_from_slice(&[0, 0, 0, 1]);
    expected.extend_from_slice(PPS);
    expected.extend_from_slice(&[0, 0, 0, 1, 0x65, 0x01]);
    assert_eq!(out, expected);
    // Own SPS and PPS (in-band parameter sets): nothing inserted but the AUD.
    let out = annex_b_access_unit(&vc, &avcc(&[sps, pps, idr]), true, 0).unwrap();
    assert_eq!(
        out,
        [
            0, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1, 0x67, 0x42, 0, 0, 0, 1, 0x68, 0xce, 0, 0, 0, 1,
            0x65, 0x01
        ]
    );
    // Own SPS without a PPS: the config's SPS and PPS go first, so the PPS never comes before
    // an SPS it refers to.
    let out = annex_b_access_unit(&vc, &avcc(&[sps, idr]), true, 0).unwrap();
    let mut expected = AUD.to_vec();
    for nal in [SPS, PPS, sps, idr] {
        expected.extend_from_slice(&[0, 0, 0, 1]);
        expected.extend_from_slice(nal);
    }
    assert_eq!(out, expected);
}

#[test]
fn nal_length_sizes_and_malformed_lengths() {
    assert_eq!(
        split_avcc(&[0, 2, 0x41, 0x01, 0, 1, 0x41], 2, 0).unwrap(),
        vec![&[0x41, 0x01][..], &[0x41][..]]
    );
    assert_eq!(split_avcc(&[1, 0x41, 0], 1, 0).unwrap(), vec![&[0x41][..]]);
    let err = split_avcc(&[0, 0, 0, 9, 0x41, 0x01], 4, 1234).unwrap_err();
    assert!(
        matches!(
            err,
            TsError::NalLengthOverrun {
                dts_ms: 1234,
                offset: 0,
                nal_len: 9,
                remaining: 2
            }
        ),
        "{err}"
    );
    let err = split_avcc(&[0, 0, 0, 1, 0x41, 0, 0], 4, 7).unwrap_err();
    assert!(
        matches!(
            err,
            TsError::TruncatedNalLength {
                dts_ms: 7,
                offset: 5,
                frame_len: 7
            }
        ),
        "{err}"
    );
    assert!(matches!(
        split_avcc(&[0, 0, 1, 0x41], 3, 0),
        Ok(v) if v == vec![&[0x41][..]]
    ));
    assert!(matches!(
        split_avcc(&[0, 1, 0x41], 0, 5),
        Err(TsError::InvalidNalLengthSize {
            nal_length_size: 0,
            dts_ms: 5
        })
    ));

    // Through the muxer: an error, and the segment is untouched.
    let mut muxer = TsMuxer::new(TsMuxerConfig::default());
    muxer
        .begin_segment(Some(&Arc::new(video_config())), None)
        .unwrap();
    let bad = MediaFrame::Video {
        dts_ms: 40,
        cts_ms: 0,
        keyframe: false,
        data: Bytes::from_static(&[0, 0, 1, 0, 0x41]),
    };
    assert!(muxer.push_frame(&bad).is_err());
    assert_eq!(muxer.finish_segment().unwrap().len(), 2 * 188);
}

#[test]
fn frames_without_a_segment_are_errors() {
    let mut muxer = TsMuxer::new(TsMuxerConfig::default());
    assert!(matches!(
        muxer.push_frame(&audio(5, 10)),
        Err(TsError::NoSegment { dts_ms: Some(5) })
    ));
    assert!(matches!(
        muxer.finish_segment(),
        Err(TsError::NoSegment { dts_ms: None })
    ));
}

#[test]
fn timestamps_wrap_at_33_bits() {
    assert_eq!(ts90(0), 0);
    assert_eq!(ts90(-1), (1 << 33) - 90);
    assert_eq!(ts90((1 << 33) / 90 + 1), 90 - (1 << 33) % 90);
    assert!(ts90(i64::MAX) < 1 << 33 && ts90(i64::MIN) < 1 << 33);
}

#[test]
fn same_input_gives_identical_bytes() {
    let a = mux_segments(&mut TsMuxer::new(TsMuxerConfig::default()), &[0, 1, 2]);
    let b = mux_segments(&mut TsMuxer::new(TsMuxerConfig::default()), &[0, 1, 2]);
    assert_eq!(a, b);
}

#[test]
fn grouping_keeps_overhead_low() {
    // ~2.4 Mbit/s video + 128 kbit/s audio. The floor is the 4-byte TS header (2.2 %), plus per
    // access unit an AUD, PES header, PCR and on average half a packet of stuffing (~1 %).
    let (v, a) = (Arc::new(video_config()), Arc::new(audio_config()));
    let mut muxer = TsMuxer::new(TsMuxerConfig::default());
    muxer.begin_segment(Some(&v), Some(&a)).unwrap();
    let mut media = 0usize;
    let mut aidx = 0i64;
    for i in 0..50i64 {
        let dts = i * 40;
        while aidx * 1024 * 1000 / 48_000 <= dts {
            let f = audio(aidx * 1024 * 1000 / 48_000, 340);
            media += 340;
            muxer.push_frame(&f).unwrap();
            aidx += 1;
        }
        let f = video(dts, 0, i % 50 == 0, 12_000);
        media += 12_005;
        muxer.push_frame(&f).unwrap();
    }
    let ts = muxer.finish_segment().unwrap();
    let overhead = ts.len() as f64 / media as f64;
    assert!(overhead < 1.04, "overhead {overhead}");
}

fn arb_frame() -> impl Strategy<Value = MediaFrame> {
    prop_oneof![
        (
            any::<i64>(),
            any::<i32>(),
            any::<bool>(),
            proptest::collection::vec(any::<u8>(), 0..600)
        )
            .prop_map(|(dts_ms, cts_ms, keyframe, data)| MediaFrame::Video {
                dts_ms,
                cts_ms,
                keyframe,
                data: Bytes::from(data),
            }),
        (
            any::<i64>(),
            proptest::collection::vec(any::<u8>(), 0..9000)
        )
            .prop_map(|(dts_ms, data)| MediaFrame::Audio {
                dts_ms,
                data: Bytes::from(data),
            }),
        // Small, plausible lengths so that some frames are valid AVCC.
        (0i64..10_000, proptest::collection::vec(0u8..4, 0..40)).prop_map(|(dts_ms, data)| {
            MediaFrame::Video {
                dts_ms,
                cts_ms: 0,
                keyframe: dts_ms % 2 == 0,
                data: Bytes::from(data),
            }
        }),
    ]
}

proptest! {
    #[test]
    fn junk_frames_never_panic(
        nal_length_size in 0u8..6,
        frames in proptest::collection::vec(arb_frame(), 0..40),
    ) {
        let vc = Arc::new(VideoConfig { nal_length_size, ..video_config() });
        let mut muxer = TsMuxer::new(TsMuxerConfig::default());
        muxer.begin_segment(Some(&vc), Some(&Arc::new(audio_config()))).unwrap();
        for f in &frames {
            let _ = muxer.push_frame(f);
        }
        let seg = muxer.finish_segment().unwrap();
        prop_assert_eq!(seg.len() % 188, 0);
    }
}
