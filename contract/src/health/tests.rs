//! The liveness rule as a table: each row is one situation, both AZs' indexes and the moment
//! they are judged, and the verdict for each AZ.

use super::*;
use crate::{Az, testing::segment};

fn t0() -> DateTime<Utc> {
    "2026-01-01T00:00:00Z".parse().unwrap()
}

/// An index of `state` whose window ends at msn `last`, written at t0 + `age_ms` before the
/// judging moment (which is always t0).
fn index(az: Az, state: StreamState, last: u64, age_ms: i64) -> StreamIndex {
    StreamIndex::builder(az)
        .state(state)
        .updated(t0() - TimeDelta::milliseconds(age_ms))
        .segments((last.saturating_sub(2)..=last).map(|msn| segment(msn, 2000, t0())))
        .build()
}

use StreamState::{Draining, Ended, Live, Waiting};

const STALE: Health = Health::Dead(DeadReason::Stale);
const BEHIND: Health = Health::Dead(DeadReason::Behind);
const DRAINING: Health = Health::Dead(DeadReason::Draining);

#[test]
fn liveness_table() {
    type Side = Option<(StreamState, u64, i64)>;
    // (what, az1 (state, last msn, age ms), az2, verdict az1, verdict az2)
    let rows: &[(&str, Side, Side, Health, Health)] = &[
        ("no stream", None, None, Health::Missing, Health::Missing),
        (
            "both live, in step",
            Some((Live, 10, 100)),
            Some((Live, 10, 300)),
            Health::Live,
            Health::Live,
        ),
        (
            "one segment of skew is normal",
            Some((Live, 11, 100)),
            Some((Live, 10, 1900)),
            Health::Live,
            Health::Live,
        ),
        (
            "fresh at exactly 1.5 target durations",
            Some((Live, 10, 3000)),
            Some((Live, 10, 0)),
            Health::Live,
            Health::Live,
        ),
        (
            "stale 1 ms later: az1's ingest died",
            Some((Live, 10, 3001)),
            Some((Live, 10, 0)),
            STALE,
            Health::Live,
        ),
        (
            "stale with no peer at all",
            Some((Live, 10, 60_000)),
            None,
            STALE,
            Health::Missing,
        ),
        (
            "az1's feed stopped, az2 two segments ahead",
            Some((Live, 10, 500)),
            Some((Live, 12, 0)),
            BEHIND,
            Health::Live,
        ),
        (
            "a stale peer ahead does not count",
            Some((Live, 10, 500)),
            Some((Live, 14, 5000)),
            Health::Live,
            STALE,
        ),
        (
            "a draining peer ahead does not count",
            Some((Live, 10, 500)),
            Some((Draining, 14, 0)),
            Health::Live,
            DRAINING,
        ),
        (
            "draining is dead at once, however fresh",
            Some((Draining, 10, 0)),
            Some((Live, 10, 0)),
            DRAINING,
            Health::Live,
        ),
        (
            "both wait for the same encoder: nobody is dead",
            Some((Waiting, 10, 500)),
            Some((Waiting, 10, 900)),
            Health::Waiting,
            Health::Waiting,
        ),
        (
            "waiting while the peer's encoder carries on: behind once it is two ahead",
            Some((Waiting, 10, 500)),
            Some((Live, 12, 0)),
            BEHIND,
            Health::Live,
        ),
        (
            "waiting, peer one ahead: not yet",
            Some((Waiting, 10, 500)),
            Some((Live, 11, 0)),
            Health::Waiting,
            Health::Live,
        ),
        (
            "waiting without heartbeats is stale",
            Some((Waiting, 10, 3001)),
            Some((Waiting, 10, 0)),
            STALE,
            Health::Waiting,
        ),
        (
            "a waiting peer ahead does not make a live AZ dead",
            Some((Live, 10, 0)),
            Some((Waiting, 14, 0)),
            Health::Live,
            Health::Waiting,
        ),
        (
            "ended is ended, at any age",
            Some((Ended, 10, 86_400_000)),
            Some((Live, 40, 0)),
            Health::Ended,
            Health::Live,
        ),
        (
            "clock skew: an index from the future is fresh",
            Some((Live, 10, -60_000)),
            Some((Live, 10, 0)),
            Health::Live,
            Health::Live,
        ),
    ];
    for (what, a1, a2, want1, want2) in rows {
        let a1 = a1.map(|(s, last, age)| index(Az::Az1, s, last, age));
        let a2 = a2.map(|(s, last, age)| index(Az::Az2, s, last, age));
        let got = health_pair(a1.as_ref(), a2.as_ref(), t0());
        assert_eq!(got, [*want1, *want2], "{what}");
    }
}

#[test]
fn freshness_follows_the_playlist_target_duration() {
    let mut i = index(Az::Az1, Live, 10, 0);
    assert_eq!(freshness(&i), TimeDelta::milliseconds(3000));
    // A 3.4 s segment makes the target duration 3 s: fresh for 4.5 s.
    i.segments[0].duration_ms = 3400;
    assert_eq!(freshness(&i), TimeDelta::milliseconds(4500));
    // Sub-second configured target: rounded up to 1 s, fresh for 1.5 s.
    let mut i = index(Az::Az1, Live, 10, 0);
    i.target_duration_ms = 500;
    for s in &mut i.segments {
        s.duration_ms = 500;
    }
    assert_eq!(freshness(&i), TimeDelta::milliseconds(1500));
}

#[test]
fn words() {
    assert_eq!(Health::Live.as_str(), "live");
    assert_eq!(STALE.as_str(), "stale");
    assert!(Health::Waiting.is_serving());
    assert!(!BEHIND.is_serving());
    assert!(DRAINING.is_dead());
}
