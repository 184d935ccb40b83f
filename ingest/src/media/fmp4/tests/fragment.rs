use proptest::prelude::*;

use super::reader::{Sample, fragment};
use super::{aac_dts_ms, audio, audio_config, video, video_config};
use crate::media::fmp4::fragment::{NON_SYNC_SAMPLE_FLAGS, SYNC_SAMPLE_FLAGS};
use crate::media::fmp4::{AudioGrid, FALLBACK_VIDEO_DURATION, Fmp4Error, FragmentBuilder, Track};
use crate::media::frame::{MediaFrame, VideoConfig};

fn builder(msn: u64) -> FragmentBuilder {
    FragmentBuilder::new(
        msn,
        Some(&video_config()),
        Some(&audio_config(48_000)),
        AudioGrid::ZERO,
    )
    .unwrap()
}

fn build(msn: u64, frames: &[MediaFrame], end: Option<i64>) -> bytes::Bytes {
    let mut b = builder(msn);
    for f in frames {
        b.push_frame(f).unwrap();
    }
    b.finish(end).unwrap()
}

/// 25 fps video with B-frame-like offsets from `start_ms` and 48 kHz audio alongside.
fn gop(start_ms: i64, frames: i64) -> Vec<MediaFrame> {
    let mut out = Vec::new();
    for i in 0..frames {
        out.push(video(
            start_ms + i * 40,
            if i % 3 == 1 { 80 } else { 40 },
            i == 0,
            100 + i as usize,
        ));
    }
    let first = (start_ms * 48_000 + 1024 * 1000 - 1) / (1024 * 1000);
    let mut n = first;
    while aac_dts_ms(n, 48_000) < start_ms + frames * 40 {
        out.push(audio(aac_dts_ms(n, 48_000), 10 + (n % 7) as usize));
        n += 1;
    }
    out.sort_by_key(MediaFrame::dts_ms);
    out
}

#[test]
fn moof_carries_msn_decode_times_and_samples() {
    let frames = gop(10_000, 25);
    let seg = build(5_000, &frames, Some(11_000));
    let f = fragment(&seg);
    assert_eq!(f.sequence_number, 5_000);
    assert_eq!(f.trafs.len(), 2);
    let (v, a) = (&f.trafs[0], &f.trafs[1]);
    assert_eq!((v.track_id, a.track_id), (1, 2));
    assert_eq!((v.trun_version, a.trun_version), (1, 1));
    assert_eq!(v.base_media_decode_time, 10_000 * 90);
    // 10 s at 48 kHz is frame 468.75 → 469 (10.005 s), the first whose DTS is ≥ 10 s.
    assert_eq!(a.base_media_decode_time, 469 * 1024);
    assert_eq!(v.samples.len(), 25);
    assert!(v.samples.iter().all(|s| s.duration == 3600));
    assert_eq!(v.samples[0].flags, SYNC_SAMPLE_FLAGS);
    assert!(
        v.samples[1..]
            .iter()
            .all(|s| s.flags == NON_SYNC_SAMPLE_FLAGS)
    );
    assert_eq!(v.samples[1].composition_offset, 80 * 90);
    assert_eq!(v.samples[2].composition_offset, 40 * 90);
    assert!(
        a.samples
            .iter()
            .all(|s| s.duration == 1024 && s.flags == SYNC_SAMPLE_FLAGS)
    );
    // Data offsets (from the moof) point at each track's bytes in the mdat, video first.
    let video_bytes: Vec<u8> = frames
        .iter()
        .filter_map(|fr| match fr {
            MediaFrame::Video { data, .. } => Some(data.to_vec()),
            _ => None,
        })
        .flatten()
        .collect();
    let audio_bytes: Vec<u8> = frames
        .iter()
        .filter_map(|fr| match fr {
            MediaFrame::Audio { data, .. } => Some(data.to_vec()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(v.data_offset as usize, f.mdat_body_offset);
    assert_eq!(&seg[f.mdat_body_offset..][..video_bytes.len()], video_bytes);
    assert_eq!(
        a.data_offset as usize,
        f.mdat_body_offset + video_bytes.len()
    );
    assert_eq!(&seg[a.data_offset as usize..], audio_bytes);
    assert_eq!(f.mdat_len, video_bytes.len() + audio_bytes.len());
    let sizes: usize = v
        .samples
        .iter()
        .chain(&a.samples)
        .map(|s| s.size as usize)
        .sum();
    assert_eq!(sizes, f.mdat_len);
}

#[test]
fn composition_offsets_are_signed_and_omitted_when_zero() {
    let seg = build(
        0,
        &[video(1000, -40, true, 5), video(1040, 0, false, 5)],
        None,
    );
    let v = &fragment(&seg).trafs[0];
    assert_eq!(v.samples[0].composition_offset, -3600);
    let seg = build(
        0,
        &[video(1000, 0, true, 5), video(1040, 0, false, 5)],
        None,
    );
    let v = &fragment(&seg).trafs[0];
    assert!(v.samples.iter().all(|s| s.composition_offset == 0));
}

#[test]
fn last_video_sample_lasts_until_the_end_given() {
    let frames = [
        video(0, 0, true, 5),
        video(33, 0, false, 5),
        video(67, 0, false, 5),
    ];
    let durations = |end| -> Vec<u32> {
        fragment(&build(0, &frames, end)).trafs[0]
            .samples
            .iter()
            .map(|s| s.duration)
            .collect()
    };
    assert_eq!(durations(Some(100)), [33 * 90, 34 * 90, 33 * 90]);
    assert_eq!(
        durations(Some(167)),
        [33 * 90, 34 * 90, 100 * 90],
        "a gap before the cut"
    );
    // Unknown end: as long as the sample before.
    assert_eq!(durations(None), [33 * 90, 34 * 90, 34 * 90]);
    // An end not after the last DTS (the timeline restarted at the cut): same fallback.
    assert_eq!(durations(Some(67)), [33 * 90, 34 * 90, 34 * 90]);
    assert_eq!(durations(Some(5)), [33 * 90, 34 * 90, 34 * 90]);
}

#[test]
fn a_lone_video_sample_lasts_one_frame() {
    let lone = [video(500, 0, true, 5)];
    let duration = |config: &VideoConfig, end| {
        let mut b = FragmentBuilder::new(0, Some(config), None, AudioGrid::ZERO).unwrap();
        b.push_frame(&lone[0]).unwrap();
        fragment(&b.finish(end).unwrap()).trafs[0].samples[0].duration
    };
    assert_eq!(duration(&video_config(), Some(540)), 3600);
    assert_eq!(duration(&video_config(), None), FALLBACK_VIDEO_DURATION);
    let ntsc = VideoConfig {
        frame_rate_milli: Some(29_970),
        ..video_config()
    };
    assert_eq!(duration(&ntsc, None), 3003);
    let pal = VideoConfig {
        frame_rate_milli: Some(25_000),
        ..video_config()
    };
    assert_eq!(duration(&pal, None), 3600);
}

#[test]
fn audio_gap_lengthens_the_sample_before_it() {
    let mut b =
        FragmentBuilder::new(1, None, Some(&audio_config(48_000)), AudioGrid::ZERO).unwrap();
    // Frames 0, 1, then 4 (two frames missing), 5, and 5 again (a duplicate).
    for n in [0, 1, 4, 5, 5] {
        b.push_frame(&audio(aac_dts_ms(n, 48_000), 4)).unwrap();
    }
    let seg = b.finish(None).unwrap();
    let f = fragment(&seg);
    assert_eq!(f.trafs.len(), 1, "no video traf");
    let durations: Vec<u32> = f.trafs[0].samples.iter().map(|s| s.duration).collect();
    assert_eq!(durations, [1024, 3 * 1024, 1024, 1024, 1024]);
}

#[test]
fn same_frames_same_bytes() {
    let frames = gop(2_002, 30);
    let a = build(7, &frames, Some(3_202));
    let b = build(7, &frames, Some(3_202));
    assert_eq!(a, b);
    let mut builder = builder(7);
    frames.iter().for_each(|f| builder.push_frame(f).unwrap());
    assert_eq!(
        builder.finish(Some(3_202)).unwrap(),
        builder.finish(Some(3_202)).unwrap()
    );
    assert_eq!(builder.finish(Some(3_202)).unwrap(), a);
}

#[test]
fn refused_frames_leave_the_segment_as_it_was() {
    let mut b = builder(3);
    b.push_frame(&video(1000, 0, true, 8)).unwrap();
    b.push_frame(&audio(1000, 8)).unwrap();
    let before = b.finish(None).unwrap();
    let truncated = MediaFrame::Video {
        dts_ms: 1040,
        cts_ms: 0,
        keyframe: false,
        data: bytes::Bytes::from_static(&[0, 0, 0, 2, 0x41, 1, 0, 0, 0, 9, 0x41]),
    };
    match b.push_frame(&truncated) {
        Err(Fmp4Error::BadNalUnit {
            dts_ms: 1040,
            offset: 6,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        b.push_frame(&video(999, 0, false, 3)),
        Err(Fmp4Error::DtsBackwards {
            dts_ms: 999,
            previous_dts_ms: 1000
        })
    ));
    assert!(matches!(
        b.push_frame(&video(2_000_000_000, 0, false, 3)),
        Err(Fmp4Error::DurationOverflow { .. })
    ));
    assert!(matches!(
        b.push_frame(&video(1040, i32::MAX, false, 3)),
        Err(Fmp4Error::CompositionOffsetOverflow { .. })
    ));
    assert!(matches!(
        b.push_frame(&audio(-100, 3)),
        Err(Fmp4Error::NegativeDts {
            track: Track::Audio,
            dts_ms: -100
        })
    ));
    assert!(matches!(
        b.push_frame(&audio(i64::MAX, 3)),
        Err(Fmp4Error::TimestampOverflow {
            track: Track::Audio,
            ..
        })
    ));
    // A day and more of silence does not fit one sample's duration.
    assert!(matches!(
        b.push_frame(&audio(100_000_000, 3)),
        Err(Fmp4Error::DurationOverflow {
            track: Track::Audio,
            gap_ms: 99_990_000..=100_000_000,
            ..
        })
    ));
    assert_eq!(b.len(), 2);
    assert_eq!(b.finish(None).unwrap(), before);

    let mut video_only =
        FragmentBuilder::new(0, Some(&video_config()), None, AudioGrid::ZERO).unwrap();
    assert!(matches!(
        video_only.push_frame(&audio(0, 3)),
        Err(Fmp4Error::NoTrack {
            track: Track::Audio,
            dts_ms: 0
        })
    ));
    assert!(matches!(
        video_only.push_frame(&video(-40, 0, true, 3)),
        Err(Fmp4Error::NegativeDts {
            track: Track::Video,
            dts_ms: -40
        })
    ));
    assert!(video_only.is_empty());
}

#[test]
fn builder_refuses_what_mfhd_and_timescales_cannot_hold() {
    assert!(matches!(
        FragmentBuilder::new(1 << 32, None, None, AudioGrid::ZERO),
        Err(Fmp4Error::SequenceNumberTooLarge { msn }) if msn == 1 << 32
    ));
    assert!(FragmentBuilder::new(u64::from(u32::MAX), None, None, AudioGrid::ZERO).is_ok());
    assert!(matches!(
        FragmentBuilder::new(0, None, Some(&audio_config(0)), AudioGrid::ZERO),
        Err(Fmp4Error::ZeroSampleRate)
    ));
    // An empty segment is a moof with only mfhd and an empty mdat.
    let seg = builder(9).finish(None).unwrap();
    let f = fragment(&seg);
    assert_eq!((f.sequence_number, f.trafs.len(), f.mdat_len), (9, 0, 0));
}

proptest! {
    /// Audio cut into segments anywhere, with RTMP's millisecond rounding (down, nearest, or
    /// a millisecond of jitter either way), is gapless: each segment's tfdt is where the one
    /// before ended. With the grid taken from the first frame, the first tfdt is as close to the
    /// encoder's exact sample position as that frame's DTS was, whatever offset the audio has.
    #[test]
    fn audio_segments_are_gapless(
        rate in prop::sample::select(vec![8_000u32, 22_050, 32_000, 44_100, 48_000, 96_000]),
        start in 0i64..1_000_000,
        offset in 0i64..1024,
        jitter in prop::collection::vec(-1i64..=1, 200),
        cuts in prop::collection::btree_set(1usize..200, 0..12),
    ) {
        let exact = |n: i64| (start + n) * 1024 + offset;
        let dts = |n: i64| (exact(n) * 1000 / i64::from(rate) + jitter[n as usize]).max(0);
        let grid = AudioGrid::from_first_frame(dts(0), rate);
        let mut bounds: Vec<usize> = cuts.into_iter().collect();
        bounds.insert(0, 0);
        bounds.push(200);
        let mut expected_start = None;
        for (i, w) in bounds.windows(2).enumerate() {
            let config = audio_config(rate);
            let mut b = FragmentBuilder::new(i as u64, None, Some(&config), grid).unwrap();
            for n in w[0]..w[1] {
                b.push_frame(&audio(dts(n as i64), 3)).unwrap();
            }
            let f = fragment(&b.finish(None).unwrap());
            let traf = &f.trafs[0];
            let first = traf.base_media_decode_time;
            match expected_start {
                None => {
                    let error = first as i64 - exact(0);
                    // Rounding down and a millisecond of jitter: up to 2 ms.
                    prop_assert!(error.abs() <= 2 * i64::from(rate) / 1000 + 1, "{} samples off", error);
                }
                Some(expected) => prop_assert_eq!(first, expected),
            }
            prop_assert!(traf.samples.iter().all(|s: &Sample| s.duration == 1024));
            expected_start = Some(first + traf.duration());
        }
    }
}
