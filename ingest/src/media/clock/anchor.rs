//! The number of the first segment of a publish: start fresh, or rejoin a live numbering
//! learned from the index in S3 (DESIGN.md §4).

use chrono::{DateTime, Utc};
use zonecast_contract::{StreamIndex, health::health};

use super::timeline::Grid;

/// How a [`SegmentClock`](super::SegmentClock) numbers its first cut. Everything after the
/// first cut follows from the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClockAnchor {
    /// Nobody is live on this stream: number the first cut `first_msn`.
    ///
    /// Two ingests that see the same publish from its start read the same indexes, get the
    /// same `first_msn`, cut the same first keyframe, and stay aligned from there.
    Fresh {
        first_msn: u64,
        /// Put `#EXT-X-DISCONTINUITY` before the first segment: earlier segments of this stream
        /// exist (an earlier publish) and the new encoder session's timestamps do not continue
        /// theirs.
        discontinuity: bool,
    },
    /// Another packager is live on this timeline: take its numbering over.
    Join {
        /// `(msn, timeline_ms)` of the reference's cuts, consecutive msns, oldest first. The
        /// last entry is the segment the reference has open (its start is where its newest
        /// closed segment ends). Entries that break the order are ignored.
        reference: Vec<(u64, i64)>,
        /// First msn if our timeline turns out not to be the reference's (a different
        /// encoder session): above every number either AZ has used or is about to use, with a
        /// discontinuity.
        fallback_msn: u64,
    },
}

impl Default for ClockAnchor {
    fn default() -> Self {
        Self::Fresh {
            first_msn: 0,
            discontinuity: false,
        }
    }
}

impl ClockAnchor {
    /// The anchor for a publish that starts at `now`, from the indexes found in S3: this
    /// AZ's own and its peer's.
    ///
    /// - An index that is live or waiting for its encoder by the one liveness rule
    ///   ([`zonecast_contract::health`], DESIGN.md §5), has segments and the same `target_ms`
    ///   is joinable; of two, the one with the higher last msn (on a tie, our own). Its
    ///   segments plus the segment it has open become the reference, less every number this
    ///   AZ has already used: numbers only rise, so an encoder that reconnects with its
    ///   timestamps restarted at zero never takes an old number again.
    /// - Otherwise `Fresh`: one above the highest msn in either index (0 if none), with a
    ///   discontinuity when any earlier segment exists.
    ///
    /// A peer on another target duration cuts on another grid, so its numbering cannot be
    /// followed: that is a fresh start.
    pub fn from_indexes(
        own: Option<&StreamIndex>,
        peer: Option<&StreamIndex>,
        now: DateTime<Utc>,
        target_ms: u32,
    ) -> ClockAnchor {
        Self::from_references(own, peer, &[], now, target_ms)
    }

    /// [`Self::from_indexes`] for a rendition of a stream published at several qualities:
    /// `siblings` are the other renditions' indexes (either AZ). Renditions share one
    /// numbering, so a sibling is a reference like the peer (a rendition that starts later
    /// joins the live ones' numbers), and a fresh start goes above every number any of them
    /// used: renditions that start together from the same S3 state start on the same number.
    pub fn from_references(
        own: Option<&StreamIndex>,
        peer: Option<&StreamIndex>,
        siblings: &[&StreamIndex],
        now: DateTime<Utc>,
        target_ms: u32,
    ) -> ClockAnchor {
        let known = || {
            [peer, own]
                .into_iter()
                .flatten()
                .chain(siblings.iter().copied())
        };
        let highest = known().filter_map(StreamIndex::last_msn).max();
        // On a tie the last candidate wins: our own index, then the peer, then a sibling.
        let live = siblings
            .iter()
            .map(|s| (Some(*s), None))
            .chain([(peer, own), (own, peer)])
            .filter_map(|(index, other)| Some((index?, other)))
            .filter(|(index, other)| joinable(index, *other, now, target_ms))
            .map(|(index, _)| index)
            .max_by_key(|index| index.last_msn());
        let used = own.and_then(StreamIndex::last_msn);
        if let Some(index) = live {
            let mut reference: Vec<(u64, i64)> = index
                .segments
                .iter()
                .map(|s| (s.msn, s.timeline_ms))
                .collect();
            // The reference is writing the segment after its newest one, which starts where
            // that one ends. Listing it lets a clock that joins now take the next number,
            // not this one.
            // A stream waiting for its encoder has nothing open.
            if let Some(last) = index.segments.last()
                && last.duration_ms > 0
                && index.state == zonecast_contract::StreamState::Live
            {
                reference.push((
                    last.msn.saturating_add(1),
                    last.timeline_ms.saturating_add(i64::from(last.duration_ms)),
                ));
            }
            let top = reference.last().map(|&(msn, _)| msn);
            reference.retain(|&(msn, _)| used.is_none_or(|used| msn > used));
            let fallback_msn = highest.max(top).map_or(0, |m| m.saturating_add(1));
            return ClockAnchor::Join {
                reference,
                fallback_msn,
            };
        }
        ClockAnchor::Fresh {
            first_msn: highest.map_or(0, |m| m.saturating_add(1)),
            discontinuity: highest.is_some(),
        }
    }

    /// Where on the encoder timeline the reference is, for
    /// [`TimestampUnwrapper::starting_near`](super::TimestampUnwrapper::starting_near).
    pub fn timeline_hint(&self) -> Option<i64> {
        match self {
            ClockAnchor::Fresh { .. } => None,
            ClockAnchor::Join { reference, .. } => reference.iter().map(|&(_, t)| t).max(),
        }
    }
}

fn joinable(
    index: &StreamIndex,
    other: Option<&StreamIndex>,
    now: DateTime<Utc>,
    target_ms: u32,
) -> bool {
    health(Some(index), other, now).is_serving()
        && index.target_duration_ms == target_ms
        && !index.segments.is_empty()
}

/// What a joining clock does with a candidate cut frame (a keyframe, or an audio frame in an
/// audio-only stream) before its first cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JoinStep {
    /// The reference would not cut here: drop the frame and keep looking.
    Wait,
    /// Cut here with this number.
    Cut(u64),
    /// Our timeline is not the reference's: start fresh at the fallback number.
    Fallback,
}

/// A validated reference: consecutive msns, strictly increasing timeline, not empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Join {
    cuts: Vec<(u64, i64)>,
    pub(crate) fallback_msn: u64,
}

impl Join {
    /// Keeps the newest run of the reference that is in order; `None` if nothing is left.
    pub(crate) fn new(mut reference: Vec<(u64, i64)>, fallback_msn: u64) -> Option<Self> {
        reference.sort_unstable();
        reference.dedup_by_key(|&mut (msn, _)| msn);
        let mut start = reference.len().checked_sub(1)?;
        while start > 0 {
            let (prev, next) = (reference[start - 1], reference[start]);
            if prev.0.checked_add(1) != Some(next.0) || prev.1 >= next.1 {
                break;
            }
            start -= 1;
        }
        Some(Self {
            cuts: reference.split_off(start),
            fallback_msn,
        })
    }

    /// Decides a candidate at `t`. `first_seen` is the first dts this clock saw on the track
    /// that cuts (video, or audio when there is no video): frames before it never reached
    /// us.
    ///
    /// 1. `t` within `jitter` of a reference cut: that is the same cut, take its number.
    /// 2. `t` before the window: not this timeline (or far behind it); fall back.
    /// 3. `t` inside the window: wait for the next reference cut to come by.
    /// 4. `t` more than `gap` + 3 targets past the newest reference cut (the index may be
    ///    three targets old and still count as live): not this timeline; fall back.
    /// 5. `t` in the newest reference cut's boundary period: the reference would not cut;
    ///    wait.
    /// 6. Otherwise the reference cuts here, as the next number if it cut nothing we did
    ///    not see. That is certain when our first frame is still in the newest reference
    ///    cut's boundary period: any keyframe before it was in that period too and did not
    ///    cut. If our first frame is later, the index may be a segment behind (the newest
    ///    segment still uploading), so we replay the clock's rule over the keyframes we
    ///    missed, placed back from `t` at the reference's mean segment duration (with a single
    ///    reference cut there is no cadence to go by: we take it as complete). A predicted
    ///    keyframe counts if it is past its boundary by more than half the jitter. Segments
    ///    are whole GOPs, so the prediction errs by at most four times the keyframes' wobble
    ///    around their cadence: under jitter / 8 (whole-millisecond rounding is ±1) a
    ///    complete reference is never miscounted, and a keyframe on its boundary (the common
    ///    GOP = target case) is counted. A stale reference is a best effort beyond that: a
    ///    GOP shorter than the target leaves no trace in segment durations.
    pub(crate) fn decide(&self, t: i64, first_seen: i64, grid: &Grid) -> JoinStep {
        let (Some(&(first_msn, first_t)), Some(&(last_msn, last_t))) =
            (self.cuts.first(), self.cuts.last())
        else {
            return JoinStep::Fallback;
        };
        if let Some(&(msn, _)) = self
            .cuts
            .iter()
            .filter(|&&(_, at)| at.abs_diff(t) <= grid.jitter.unsigned_abs())
            .min_by_key(|&&(_, at)| at.abs_diff(t))
        {
            return JoinStep::Cut(msn);
        }
        if t < first_t {
            return JoinStep::Fallback;
        }
        if t <= last_t {
            return JoinStep::Wait;
        }
        let horizon = grid.gap.saturating_add(grid.target.saturating_mul(3));
        if t.saturating_sub(last_t) > horizon {
            return JoinStep::Fallback;
        }
        let last_k = grid.boundary(last_t);
        if grid.boundary(t) <= last_k {
            return JoinStep::Wait;
        }
        if grid.boundary(first_seen) <= last_k {
            return JoinStep::Cut(last_msn.saturating_add(1));
        }
        // The index may be behind: count the cuts the reference made before our first frame.
        // One reference cut tells no cadence: take it as complete.
        let segments = i64::try_from(last_msn.saturating_sub(first_msn)).unwrap_or(i64::MAX);
        if segments == 0 {
            return JoinStep::Cut(last_msn.saturating_add(1));
        }
        let cadence = (last_t.saturating_sub(first_t) / segments).max(1);
        let margin = grid.jitter / 2;
        let mut predicted: Vec<i64> = (1..=MAX_PREDICTED)
            .map(|i| t.saturating_sub(cadence.saturating_mul(i)))
            .take_while(|&x| x > last_t.saturating_add(cadence / 2))
            .filter(|&x| x < first_seen)
            .collect();
        predicted.reverse();
        let (mut k, mut missed) = (last_k, 0u64);
        for x in predicted {
            let kx = grid.boundary(x.saturating_sub(margin));
            if kx > k {
                k = kx;
                missed += 1;
            }
        }
        if grid.boundary(t) > k {
            JoinStep::Cut(last_msn.saturating_add(missed).saturating_add(1))
        } else {
            JoinStep::Wait
        }
    }
}

/// Keyframes predicted back from a join point at most; the horizon bounds the gap anyway, this
/// bounds the work when the cadence is tiny.
const MAX_PREDICTED: i64 = 64;
