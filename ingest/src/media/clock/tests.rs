use chrono::{DateTime, TimeDelta, Utc};
use proptest::prelude::*;
use zonecast_contract::{Az, IndexSegment, StreamIndex, StreamState};

use super::*;

const TARGET: i64 = 2000;

fn key(dts_ms: i64) -> FrameMeta {
    FrameMeta {
        dts_ms,
        is_video: true,
        keyframe: true,
    }
}

fn inter(dts_ms: i64) -> FrameMeta {
    FrameMeta {
        dts_ms,
        is_video: true,
        keyframe: false,
    }
}

fn audio(dts_ms: i64) -> FrameMeta {
    FrameMeta {
        dts_ms,
        is_video: false,
        keyframe: false,
    }
}

fn fresh() -> SegmentClock {
    SegmentClock::new(SegmentClockConfig::default(), ClockAnchor::default())
}

fn run(clock: &mut SegmentClock, frames: &[FrameMeta]) -> Vec<ClockDecision> {
    frames.iter().map(|&f| clock.push(f)).collect()
}

fn cuts(decisions: &[ClockDecision]) -> Vec<CutInfo> {
    decisions
        .iter()
        .filter_map(|d| match d {
            ClockDecision::Cut(c) => Some(*c),
            _ => None,
        })
        .collect()
}

/// Video frames at `frame_ms` steps from each keyframe up to the next, the last GOP `tail` long.
fn gops(keyframes: &[i64], frame_ms: i64, tail: i64) -> Vec<FrameMeta> {
    let mut frames = Vec::new();
    for (i, &k) in keyframes.iter().enumerate() {
        let end = keyframes.get(i + 1).copied().unwrap_or(k + tail);
        frames.push(key(k));
        let mut t = k + frame_ms;
        while t < end {
            frames.push(inter(t));
            t += frame_ms;
        }
    }
    frames
}

/// An encoder: video at `num/den` fps with millisecond timestamps (rounded down, like a
/// muxer that truncates), a keyframe every `keyint` frames; optionally AAC at 48 kHz (1024
/// samples a frame); interleaved by dts, video first on a tie.
fn encoder(
    start: i64,
    frames: i64,
    num: i64,
    den: i64,
    keyint: i64,
    with_audio: bool,
) -> Vec<FrameMeta> {
    let mut out: Vec<FrameMeta> = (0..frames)
        .map(|n| FrameMeta {
            dts_ms: start + n * 1000 * den / num,
            is_video: true,
            keyframe: n % keyint == 0,
        })
        .collect();
    if with_audio {
        let end = out.last().map_or(start, |f| f.dts_ms);
        let mut m = 0;
        while start + m * 64 / 3 <= end {
            out.push(audio(start + m * 64 / 3));
            m += 1;
        }
        out.sort_by_key(|f| (f.dts_ms, !f.is_video));
    }
    out
}

fn assert_consecutive(cuts: &[CutInfo]) {
    for pair in cuts.windows(2) {
        assert_eq!(pair[1].msn, pair[0].msn + 1, "msn gap or repeat: {pair:?}");
        let closed = pair[1].closed.expect("a later cut closes a segment");
        assert_eq!(
            (closed.msn, closed.timeline_ms),
            (pair[0].msn, pair[0].timeline_ms)
        );
    }
}

#[test]
fn gop_of_2002_ms_cuts_every_keyframe_with_consecutive_numbers() {
    // 29.97 fps (30000/1001), keyint 60: keyframes every 2002 ms exactly. A naive
    // floor(dts / 2000) would skip a number near keyframe 1000; 2100 segments cross it twice.
    let frames = encoder(0, 60 * 2100, 30_000, 1001, 60, true);
    let mut clock = fresh();
    let decisions = run(&mut clock, &frames);
    let cuts = cuts(&decisions);
    assert_eq!(cuts.len(), 2100, "every keyframe cuts: no merge");
    assert_consecutive(&cuts);
    assert_eq!(cuts.last().map(|c| c.msn), Some(2099), "no skip");
    for (i, c) in cuts.iter().enumerate() {
        assert_eq!(c.timeline_ms, 2002 * i as i64);
        assert!(!c.discontinuity);
        if let Some(closed) = c.closed {
            assert_eq!(closed.duration_ms, 2002);
        }
    }
}

#[test]
fn keyframe_a_millisecond_early_still_starts_its_segment() {
    let frames = gops(&[0, 2000, 3999, 6000, 7999, 10_000], 33, 2000);
    let cuts = cuts(&run(&mut fresh(), &frames));
    let starts: Vec<_> = cuts.iter().map(|c| (c.msn, c.timeline_ms)).collect();
    assert_eq!(
        starts,
        [
            (0, 0),
            (1, 2000),
            (2, 3999),
            (3, 6000),
            (4, 7999),
            (5, 10_000)
        ]
    );
    let durations: Vec<_> = cuts
        .iter()
        .filter_map(|c| c.closed)
        .map(|c| c.duration_ms)
        .collect();
    assert_eq!(durations, [2000, 1999, 2001, 1999, 2001]);
}

#[test]
fn ntsc_rate_with_millisecond_rounding() {
    // 29.97 fps truncated to ms: keyframes drift 2002.002 ms apart (2002, 4004, ... 1 ms more
    // every 500 GOPs), and the rounding noise of hand-picked ones (6005 instead of 6006).
    let frames = encoder(0, 60 * 1200, 2997, 100, 60, false);
    let cuts_a = cuts(&run(&mut fresh(), &frames));
    assert_eq!(cuts_a.len(), 1200);
    assert_consecutive(&cuts_a);

    let noisy = gops(
        &[0, 2002, 4004, 6005, 8008, 10_010, 12_011, 14_014],
        33,
        2002,
    );
    let cuts_b = cuts(&run(&mut fresh(), &noisy));
    assert_eq!(cuts_b.len(), 8);
    assert_consecutive(&cuts_b);
}

#[test]
fn gop_longer_than_target_cuts_every_keyframe() {
    let keyframes: Vec<i64> = (0..10).map(|i| i * 4000).collect();
    let cuts = cuts(&run(&mut fresh(), &gops(&keyframes, 40, 4000)));
    assert_eq!(cuts.len(), 10);
    assert_consecutive(&cuts);
    assert!(
        cuts.iter()
            .filter_map(|c| c.closed)
            .all(|c| c.duration_ms == 4000)
    );
}

#[test]
fn gop_shorter_than_target_cuts_every_other_keyframe() {
    let keyframes: Vec<i64> = (0..10).map(|i| i * 1000).collect();
    let cuts = cuts(&run(&mut fresh(), &gops(&keyframes, 40, 1000)));
    let starts: Vec<_> = cuts.iter().map(|c| c.timeline_ms).collect();
    assert_eq!(starts, [0, 2000, 4000, 6000, 8000]);
    assert_consecutive(&cuts);
}

#[test]
fn audio_only_cuts_on_time() {
    // AAC at 48 kHz, no video ever: the stream is settled as audio-only once its audio has
    // crossed two boundaries, then cuts at the first frame of each boundary.
    let frames: Vec<FrameMeta> = (0..2000).map(|m| audio(m * 64 / 3)).collect();
    let mut clock = fresh();
    let decisions = run(&mut clock, &frames);
    assert!(!clock.has_video());
    let cuts = cuts(&decisions);
    assert_consecutive(&cuts);
    assert_eq!(cuts[0].msn, 0);
    for c in &cuts {
        let k = (c.timeline_ms + 34).div_euclid(TARGET);
        assert!(
            c.timeline_ms >= k * TARGET - 34 && c.timeline_ms < k * TARGET + 22,
            "{c:?}"
        );
    }
    assert_eq!(
        cuts[0].timeline_ms, 3968,
        "first frame at or after 4000 - 34"
    );
    let first_cut = decisions
        .iter()
        .position(|d| matches!(d, ClockDecision::Cut(_)))
        .unwrap();
    assert!(
        decisions[..first_cut]
            .iter()
            .all(|d| *d == ClockDecision::Drop)
    );
    assert!(
        decisions[first_cut + 1..]
            .iter()
            .all(|d| *d != ClockDecision::Drop)
    );
}

#[test]
fn frames_before_the_first_keyframe_are_dropped() {
    let mut clock = fresh();
    clock.expect_video();
    let frames = [
        audio(0),
        inter(10),
        audio(21),
        inter(43),
        key(76),
        audio(85),
        inter(109),
    ];
    let decisions = run(&mut clock, &frames);
    assert_eq!(&decisions[..4], &[ClockDecision::Drop; 4]);
    assert!(matches!(
        decisions[4],
        ClockDecision::Cut(CutInfo {
            msn: 0,
            timeline_ms: 76,
            closed: None,
            ..
        })
    ));
    assert_eq!(&decisions[5..], &[ClockDecision::Continue; 2]);
}

#[test]
fn video_after_audio_only_starts_at_a_keyframe() {
    let mut clock = fresh();
    let mut frames: Vec<FrameMeta> = (0..300).map(|m| audio(m * 64 / 3)).collect();
    frames.extend([inter(6400), audio(6401), key(6433), audio(6440), key(8000)]);
    let decisions = run(&mut clock, &frames);
    let tail = &decisions[300..];
    assert_eq!(
        tail[0],
        ClockDecision::Drop,
        "video before its first keyframe"
    );
    assert_eq!(
        tail[1],
        ClockDecision::Continue,
        "audio stays in the open segment"
    );
    let ClockDecision::Cut(cut) = tail[2] else {
        panic!("{:?}", tail[2])
    };
    assert!(!cut.discontinuity);
    assert_eq!(tail[3], ClockDecision::Continue);
    assert!(matches!(tail[4], ClockDecision::Cut(c) if c.msn == cut.msn + 1));
    assert_consecutive(&cuts(&decisions));
}

#[test]
fn unwrapper_crosses_the_u32_wrap() {
    let mut unwrapper = TimestampUnwrapper::new();
    let start = u32::MAX - 5000;
    let mut values = Vec::new();
    for i in 0..400u32 {
        let ts = start.wrapping_add(i * 33);
        values.push(unwrapper.unwrap(ts));
        // Audio interleaved a little behind video, across the wrap too.
        values.push(unwrapper.unwrap(ts.wrapping_sub(10)));
    }
    for (i, pair) in values.chunks(2).enumerate() {
        assert_eq!(pair[0], i64::from(start) + 33 * i as i64);
        assert_eq!(pair[1], pair[0] - 10);
    }
    // Starting near a reference that already wrapped lands on the same values.
    let mut late = TimestampUnwrapper::starting_near(values[300]);
    assert_eq!(late.unwrap(start.wrapping_add(200 * 33)), values[400]);
}

#[test]
fn clock_cuts_across_the_u32_wrap() {
    let mut unwrapper = TimestampUnwrapper::new();
    let start = u32::MAX - 7000;
    let mut clock = fresh();
    let mut decisions = Vec::new();
    for n in 0..600u32 {
        let ts = start.wrapping_add(n * 1001 / 30);
        decisions.push(clock.push(FrameMeta {
            dts_ms: unwrapper.unwrap(ts),
            is_video: true,
            keyframe: n % 60 == 0,
        }));
    }
    let cuts = cuts(&decisions);
    assert_eq!(cuts.len(), 10);
    assert_consecutive(&cuts);
    assert!(cuts.iter().all(|c| !c.discontinuity));
}

#[test]
fn timeline_jumps_cut_with_a_discontinuity_and_keep_counting_up() {
    let mut clock = SegmentClock::new(
        SegmentClockConfig::default(),
        ClockAnchor::Fresh {
            first_msn: 7,
            discontinuity: true,
        },
    );
    let mut frames = gops(&[0, 2000, 4000], 40, 2000);
    // The encoder restarts its timestamps: backward jump; then a forward jump of a minute.
    frames.extend([audio(100_000), inter(5), key(40), inter(80), key(2000)]);
    frames.extend(gops(&[60_000, 62_000], 40, 2000));
    let decisions = run(&mut clock, &frames);
    let cuts = cuts(&decisions);
    assert_consecutive(&cuts);
    let summary: Vec<_> = cuts
        .iter()
        .map(|c| (c.msn, c.timeline_ms, c.discontinuity))
        .collect();
    assert_eq!(
        summary,
        [
            (7, 0, true),
            (8, 2000, false),
            (9, 4000, false),
            (10, 40, true),
            (11, 2000, false),
            (12, 60_000, true),
            (13, 62_000, false),
        ]
    );
    // The segment a jump interrupts ends with its last frame (3960 + one 40 ms frame).
    assert_eq!(cuts[3].closed.map(|c| c.duration_ms), Some(2000));
    let jump_at = frames.iter().position(|f| f.dts_ms == 100_000).unwrap();
    assert_eq!(&decisions[jump_at..jump_at + 2], &[ClockDecision::Drop; 2]);
    // Before the forward jump, the last frame (2000) had a 1920 ms stall before it: the frame
    // duration estimate is the smaller of the last two steps, 40.
    assert_eq!(cuts[5].closed.map(|c| c.duration_ms), Some(40));
}

#[test]
fn finish_ends_at_the_last_frame_plus_one_frame() {
    let mut clock = fresh();
    run(&mut clock, &gops(&[0, 2000], 40, 1000));
    let last = clock.finish().unwrap();
    assert_eq!(
        (last.msn, last.timeline_ms, last.duration_ms),
        (1, 2000, 1000)
    );
    assert_eq!(clock.finish(), None);
    // Frames after `finish` start a new numbering above, with a discontinuity.
    assert!(
        matches!(clock.push(key(10_000)), ClockDecision::Cut(c) if c.msn == 2 && c.discontinuity)
    );
}

#[test]
fn no_segment_no_finish() {
    let mut clock = fresh();
    run(&mut clock, &[inter(0), audio(3)]);
    assert_eq!(clock.finish(), None);
}

// --- anchoring ---

fn index(
    state: StreamState,
    updated: DateTime<Utc>,
    first_msn: u64,
    starts: &[i64],
) -> StreamIndex {
    StreamIndex::builder(Az::Az2)
        .state(state)
        .updated(updated)
        .segments(starts.windows(2).enumerate().map(|(i, w)| IndexSegment {
            msn: first_msn + i as u64,
            duration_ms: (w[1] - w[0]) as u32,
            timeline_ms: w[0],
            program_date_time: updated,
            discontinuity: false,
            bytes: 1000,
        }))
        .build()
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000, 0).unwrap()
}

#[test]
fn anchor_without_indexes_starts_at_zero() {
    assert_eq!(
        ClockAnchor::from_indexes(None, None, now(), 2000),
        ClockAnchor::default()
    );
}

#[test]
fn anchor_after_an_ended_publish_continues_upward() {
    let own = index(StreamState::Ended, now(), 10, &[0, 2000, 4000]);
    let peer = index(StreamState::Ended, now(), 9, &[0, 2000, 4000]);
    let anchor = ClockAnchor::from_indexes(Some(&own), Some(&peer), now(), 2000);
    assert_eq!(
        anchor,
        ClockAnchor::Fresh {
            first_msn: 12,
            discontinuity: true
        }
    );
}

#[test]
fn anchor_joins_a_fresh_live_index_with_its_open_segment() {
    let stale = now() - TimeDelta::milliseconds(6001);
    let own = index(StreamState::Live, stale, 5, &[0, 2000, 4000]);
    let peer = index(
        StreamState::Live,
        now() - TimeDelta::seconds(1),
        20,
        &[100, 2100, 4102],
    );
    let anchor = ClockAnchor::from_indexes(Some(&own), Some(&peer), now(), 2000);
    assert_eq!(
        anchor,
        ClockAnchor::Join {
            reference: vec![(20, 100), (21, 2100), (22, 4102)],
            fallback_msn: 23,
        }
    );
    assert_eq!(anchor.timeline_hint(), Some(4102));
    // Stale, or live on another target: not joinable.
    let anchor = ClockAnchor::from_indexes(Some(&own), None, now(), 2000);
    assert!(matches!(
        anchor,
        ClockAnchor::Fresh {
            first_msn: 7,
            discontinuity: true
        }
    ));
    let anchor = ClockAnchor::from_indexes(None, Some(&peer), now(), 1000);
    assert!(matches!(
        anchor,
        ClockAnchor::Fresh {
            first_msn: 22,
            discontinuity: true
        }
    ));
    // Of two live indexes, the one further ahead.
    let own = index(StreamState::Live, now(), 21, &[2100, 4102, 6000]);
    let anchor = ClockAnchor::from_indexes(Some(&own), Some(&peer), now(), 2000);
    assert!(
        matches!(anchor, ClockAnchor::Join { ref reference, .. } if reference.last() == Some(&(23, 6000)))
    );
}

#[test]
fn anchor_never_hands_out_a_number_this_az_used() {
    // Our own earlier session went as far as 51; the peer's live timeline is at 20..22.
    // Numbers only rise per AZ (segment URLs are immutable): no number up to 51 again.
    let own = index(
        StreamState::Ended,
        now() - TimeDelta::seconds(60),
        50,
        &[0, 2000, 4000],
    );
    let peer = index(
        StreamState::Live,
        now() - TimeDelta::seconds(1),
        20,
        &[100, 2100, 4102],
    );
    let anchor = ClockAnchor::from_indexes(Some(&own), Some(&peer), now(), 2000);
    assert_eq!(
        anchor,
        ClockAnchor::Join {
            reference: vec![],
            fallback_msn: 52,
        }
    );
    // An encoder that reconnects within the grace period with its timestamps restarted at
    // zero: our own waiting index is the reference, and its old numbers are not offered.
    let own = index(
        StreamState::Waiting,
        now() - TimeDelta::milliseconds(500),
        3,
        &[0, 2000, 4000, 6000],
    );
    let anchor = ClockAnchor::from_indexes(Some(&own), None, now(), 2000);
    assert_eq!(
        anchor,
        ClockAnchor::Join {
            reference: vec![],
            fallback_msn: 6,
        }
    );
    let mut clock = SegmentClock::new(SegmentClockConfig::default(), anchor);
    let ClockDecision::Cut(cut) = clock.push(FrameMeta {
        dts_ms: 0,
        is_video: true,
        keyframe: true,
    }) else {
        panic!("the first keyframe must cut");
    };
    assert_eq!((cut.msn, cut.discontinuity), (6, true));
}

fn joiner(reference: Vec<(u64, i64)>, fallback_msn: u64) -> SegmentClock {
    SegmentClock::new(
        SegmentClockConfig::default(),
        ClockAnchor::Join {
            reference,
            fallback_msn,
        },
    )
}

#[test]
fn restarted_ingest_rejoins_its_peer_from_the_index() {
    // The peer cut 2002 ms GOPs from msn 100; its index lists up to the segment at 10010
    // (which it has closed), so it has 12012 open. We start mid-GOP at 13000.
    let keyframes: Vec<i64> = (0..20).map(|i| i * 2002).collect();
    let frames = encoder(0, 60 * 20, 30_000, 1001, 60, true);
    let peer = index(StreamState::Live, now(), 100, &keyframes[..7]);
    let mut clock_a = SegmentClock::new(
        SegmentClockConfig::default(),
        ClockAnchor::Fresh {
            first_msn: 100,
            discontinuity: false,
        },
    );
    let a = run(&mut clock_a, &frames);
    let anchor = ClockAnchor::from_indexes(None, Some(&peer), now(), 2000);
    let mut clock_b = SegmentClock::new(SegmentClockConfig::default(), anchor);
    let join_at = frames.iter().position(|f| f.dts_ms >= 13_000).unwrap();
    let b = run(&mut clock_b, &frames[join_at..]);
    let first = b
        .iter()
        .position(|d| matches!(d, ClockDecision::Cut(_)))
        .unwrap();
    assert!(matches!(b[first], ClockDecision::Cut(c) if c.msn == 107 && c.timeline_ms == 14_014));
    assert_eq!(&b[first + 1..], &a[join_at + first + 1..]);
}

#[test]
fn join_with_an_index_a_segment_behind() {
    // 4 s GOP, 2 s target: the reference's newest cut it knows of is at 8000 (msn 2); it has
    // already cut 12000 (msn 3) but not yet published that. We see frames from 13000.
    let keyframes: Vec<i64> = (0..10).map(|i| i * 4000).collect();
    let frames = gops(&keyframes, 40, 4000);
    let a = run(&mut fresh(), &frames);
    let join_at = frames.iter().position(|f| f.dts_ms >= 13_000).unwrap();
    let b = run(
        &mut joiner(vec![(0, 0), (1, 4000), (2, 8000)], 3),
        &frames[join_at..],
    );
    let first = b
        .iter()
        .position(|d| matches!(d, ClockDecision::Cut(_)))
        .unwrap();
    assert!(matches!(b[first], ClockDecision::Cut(c) if c.msn == 4 && c.timeline_ms == 16_000));
    assert_eq!(&b[first + 1..], &a[join_at + first + 1..]);

    // Same with a 2 s GOP on its boundaries: the index knows of 8000 (msn 4), the reference
    // already cut 10000 (msn 5), we see frames from 10500.
    let keyframes: Vec<i64> = (0..10).map(|i| i * 2000).collect();
    let frames = gops(&keyframes, 40, 2000);
    let a = run(&mut fresh(), &frames);
    let join_at = frames.iter().position(|f| f.dts_ms >= 10_500).unwrap();
    let reference = vec![(0, 0), (1, 2000), (2, 4000), (3, 6000), (4, 8000)];
    let b = run(&mut joiner(reference, 5), &frames[join_at..]);
    let first = b
        .iter()
        .position(|d| matches!(d, ClockDecision::Cut(_)))
        .unwrap();
    assert!(matches!(b[first], ClockDecision::Cut(c) if c.msn == 6 && c.timeline_ms == 12_000));
    assert_eq!(&b[first + 1..], &a[join_at + first + 1..]);
}

#[test]
fn join_on_another_timeline_falls_back_to_a_fresh_number() {
    // The reference is an hour in; our encoder session starts at 0.
    let reference = vec![(40, 3_600_000), (41, 3_602_000)];
    let c = cuts(&run(
        &mut joiner(reference.clone(), 42),
        &gops(&[0, 2000], 40, 2000),
    ));
    assert_eq!((c[0].msn, c[0].discontinuity), (42, true));
    assert_eq!((c[1].msn, c[1].discontinuity), (43, false));
    // Far ahead of it: the same.
    let c = cuts(&run(
        &mut joiner(reference, 42),
        &gops(&[7_200_000], 40, 2000),
    ));
    assert_eq!((c[0].msn, c[0].discontinuity), (42, true));
    // An unusable reference is a fresh start at the fallback.
    let c = cuts(&run(&mut joiner(Vec::new(), 9), &gops(&[0], 40, 2000)));
    assert_eq!((c[0].msn, c[0].discontinuity), (9, true));
}

#[test]
fn join_inside_the_window_waits_for_the_next_reference_cut() {
    let reference = vec![(5, 10_000), (6, 12_000), (7, 14_000)];
    let frames = gops(&[11_000, 12_000, 13_000, 14_000, 15_000, 16_000], 40, 1000);
    let c = cuts(&run(&mut joiner(reference, 8), &frames));
    let starts: Vec<_> = c.iter().map(|c| (c.msn, c.timeline_ms)).collect();
    assert_eq!(starts, [(6, 12_000), (7, 14_000), (8, 16_000)]);
}

// --- properties ---

/// A stream from an encoder with a fixed GOP whose keyframes each land within ±`noise` ms of
/// their place, video at a fixed frame step, optionally AAC audio, from a random offset.
#[derive(Debug, Clone)]
struct Stream {
    target_ms: u32,
    frames: Vec<FrameMeta>,
}

fn stream(noise: i64) -> impl Strategy<Value = Stream> {
    (
        prop::sample::select(vec![1000u32, 2000, 4000]),
        500i64..5000,
        0i64..50_000_000,
        prop::collection::vec(-noise..=noise, 4..40),
        prop::sample::select(vec![17i64, 33, 40]),
        any::<bool>(),
    )
        .prop_map(|(target_ms, gop, start, noise, frame_ms, with_audio)| {
            let keyframes: Vec<i64> = noise
                .iter()
                .enumerate()
                .map(|(i, n)| start + i as i64 * gop + n)
                .collect();
            let mut frames = gops(&keyframes, frame_ms, gop / 2);
            if with_audio {
                let end = frames.last().map_or(start, |f| f.dts_ms);
                let first = start - 30;
                frames.extend(
                    (0..)
                        .map(|m| audio(first + m * 64 / 3))
                        .take_while(|f| f.dts_ms <= end),
                );
                frames.sort_by_key(|f| (f.dts_ms, !f.is_video));
            }
            Stream { target_ms, frames }
        })
}

fn config(target_ms: u32) -> SegmentClockConfig {
    SegmentClockConfig {
        target_ms,
        ..SegmentClockConfig::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// (a) consecutive numbers, (b) cuts only on keyframes, (c) determinism, (e) durations
    /// cover the timeline exactly.
    #[test]
    fn cuts_are_consecutive_on_keyframes_deterministic_and_cover_the_timeline(s in stream(34)) {
        let mut clock = SegmentClock::new(config(s.target_ms), ClockAnchor::default());
        let decisions = run(&mut clock, &s.frames);
        let again = run(&mut SegmentClock::new(config(s.target_ms), ClockAnchor::default()), &s.frames);
        prop_assert_eq!(&decisions, &again);

        let cuts = cuts(&decisions);
        prop_assert!(!cuts.is_empty());
        prop_assert_eq!(cuts[0].msn, 0);
        for pair in cuts.windows(2) {
            prop_assert_eq!(pair[1].msn, pair[0].msn + 1);
            let closed = pair[1].closed.unwrap();
            prop_assert_eq!(closed.timeline_ms + i64::from(closed.duration_ms), pair[1].timeline_ms);
            prop_assert!(!pair[1].discontinuity);
        }
        for (frame, decision) in s.frames.iter().zip(&decisions) {
            if matches!(decision, ClockDecision::Cut(_)) {
                prop_assert!(frame.is_video && frame.keyframe);
            }
        }
        let last = clock.finish().unwrap();
        let end = last.timeline_ms + i64::from(last.duration_ms);
        let max_dts = s.frames.iter().map(|f| f.dts_ms).max().unwrap();
        prop_assert!(end >= max_dts && end <= max_dts + i64::from(s.target_ms));
        let total: i64 = cuts.iter().skip(1).filter_map(|c| c.closed).chain([last])
            .map(|c| i64::from(c.duration_ms)).sum();
        prop_assert_eq!(total, end - cuts[0].timeline_ms);
    }

    /// (d) A clock that joins mid-stream, with the first clock's cuts so far as reference,
    /// makes the same decisions from its first cut on, and that first cut is the first
    /// clock's next one. Keyframes wobble by up to jitter / 8 around their cadence (see
    /// `Join::decide`; millisecond rounding is ±1).
    #[test]
    fn a_joining_clock_takes_over_the_numbering(s in stream(4), at in 0.0f64..1.0) {
        let mut clock_a = SegmentClock::new(config(s.target_ms), ClockAnchor::default());
        let a = run(&mut clock_a, &s.frames);
        let join_at = ((s.frames.len() as f64) * at) as usize;
        let reference: Vec<(u64, i64)> = cuts(&a[..join_at]).iter().map(|c| (c.msn, c.timeline_ms)).collect();
        let Some(&(last_msn, _)) = reference.last() else { return Ok(()) };
        let mut clock_b = SegmentClock::new(
            config(s.target_ms),
            ClockAnchor::Join { reference, fallback_msn: last_msn + 1 },
        );
        let b = run(&mut clock_b, &s.frames[join_at..]);
        let a = &a[join_at..];
        let Some(next) = a.iter().position(|d| matches!(d, ClockDecision::Cut(_))) else {
            prop_assert!(b.iter().all(|d| *d == ClockDecision::Drop));
            return Ok(());
        };
        prop_assert!(b[..next].iter().all(|d| *d == ClockDecision::Drop));
        match (a[next], b[next]) {
            (ClockDecision::Cut(ca), ClockDecision::Cut(cb)) => {
                prop_assert_eq!((ca.msn, ca.timeline_ms, ca.discontinuity), (cb.msn, cb.timeline_ms, cb.discontinuity));
                prop_assert_eq!(cb.closed, None);
            }
            other => prop_assert!(false, "{:?}", other),
        }
        prop_assert_eq!(&a[next + 1..], &b[next + 1..]);
    }

    /// Anything at all: no panic, and numbers still only ever go up by one.
    #[test]
    fn arbitrary_input_never_panics(
        frames in prop::collection::vec((any::<i64>(), any::<bool>(), any::<bool>()), 0..200),
        small in prop::collection::vec((-5000i64..100_000, any::<bool>(), any::<bool>()), 0..200),
        target_ms in any::<u32>(),
        jitter_ms in any::<u32>(),
        discontinuity_gap_ms in any::<u32>(),
        reference in prop::collection::vec((any::<u64>(), any::<i64>()), 0..6),
        join in any::<bool>(),
    ) {
        let anchor = if join {
            ClockAnchor::Join { reference, fallback_msn: u64::MAX - 3 }
        } else {
            ClockAnchor::Fresh { first_msn: u64::MAX - 1, discontinuity: false }
        };
        let config = SegmentClockConfig { target_ms, jitter_ms, discontinuity_gap_ms };
        let mut clock = SegmentClock::new(config, anchor);
        let mut previous: Option<u64> = None;
        for (dts_ms, is_video, keyframe) in frames.into_iter().chain(small) {
            if let ClockDecision::Cut(c) = clock.push(FrameMeta { dts_ms, is_video, keyframe }) {
                if let Some(p) = previous {
                    prop_assert_eq!(c.msn, p.saturating_add(1));
                }
                previous = Some(c.msn);
            }
        }
        let _ = clock.finish();
    }

    #[test]
    fn unwrapper_follows_small_steps_through_any_number_of_wraps(
        start in any::<u32>(),
        steps in prop::collection::vec(-100i64..100_000_000, 1..300),
    ) {
        let mut unwrapper = TimestampUnwrapper::new();
        let mut expected = i64::from(start);
        prop_assert_eq!(unwrapper.unwrap(start), expected);
        for step in steps {
            expected += step;
            prop_assert_eq!(unwrapper.unwrap(expected as u32), expected);
        }
    }
}

#[test]
fn a_rendition_joins_a_live_sibling_and_starts_fresh_above_every_sibling() {
    // The 720p rendition is live; the 360p one starts: it takes 720p's numbering.
    let sibling = index(
        StreamState::Live,
        now() - TimeDelta::seconds(1),
        40,
        &[100, 2100, 4100],
    );
    let anchor = ClockAnchor::from_references(None, None, &[&sibling], now(), 2000);
    assert_eq!(
        anchor,
        ClockAnchor::Join {
            reference: vec![(40, 100), (41, 2100), (42, 4100)],
            fallback_msn: 43,
        }
    );
    // Both renditions start together after an earlier publish: each goes above the numbers
    // any rendition used, so they start on the same number.
    let old_720 = index(StreamState::Ended, now(), 50, &[0, 2000, 4000]);
    let old_360 = index(StreamState::Ended, now(), 30, &[0, 2000, 4000]);
    for (own, sibling) in [(&old_720, &old_360), (&old_360, &old_720)] {
        assert_eq!(
            ClockAnchor::from_references(Some(own), None, &[sibling], now(), 2000),
            ClockAnchor::Fresh {
                first_msn: 52,
                discontinuity: true
            }
        );
    }
    // Without siblings it is the plain anchor.
    assert_eq!(
        ClockAnchor::from_references(Some(&old_360), None, &[], now(), 2000),
        ClockAnchor::from_indexes(Some(&old_360), None, now(), 2000)
    );
}
