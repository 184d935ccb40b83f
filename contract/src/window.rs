//! The index window: which segments an index names, and the discontinuity sequence of the
//! first (RFC 8216 §6.2.1: a media sequence without gaps; §6.2.2: a server removing a segment
//! that carries `EXT-X-DISCONTINUITY` increments `EXT-X-DISCONTINUITY-SEQUENCE`).
//!
//! One owner of that arithmetic for the ingest's packager, which grows and slides the window
//! as segments close, and its uploader, which cuts an index's window after a lost segment
//! (DESIGN.md §3: an index never names a segment that is not in S3).

use std::collections::VecDeque;

use crate::{IndexSegment, NameError, StreamIndex, keys};

/// What a segment leaving the window does to the discontinuity sequence (RFC 8216 §6.2.2).
fn leave(discontinuity_sequence: &mut u64, segment: &IndexSegment) {
    *discontinuity_sequence += u64::from(segment.discontinuity);
}

/// The packager's window: the newest segments, oldest first, consecutive msns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SegmentWindow {
    segments: VecDeque<IndexSegment>,
    discontinuity_sequence: u64,
}

impl SegmentWindow {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    pub fn len(&self) -> usize {
        self.segments.len()
    }

    /// Oldest first.
    pub fn segments(&self) -> impl ExactSizeIterator<Item = &IndexSegment> + Clone {
        self.segments.iter()
    }

    /// `#EXT-X-DISCONTINUITY-SEQUENCE` of the first segment.
    pub fn discontinuity_sequence(&self) -> u64 {
        self.discontinuity_sequence
    }

    /// Starts counting discontinuities at `sequence`: a new session continuing an earlier
    /// one's count, or joining a live timeline's (DESIGN.md §4).
    pub fn set_discontinuity_sequence(&mut self, sequence: u64) {
        self.discontinuity_sequence = sequence;
    }

    /// Appends a closed segment and slides the window to at most `max` segments; returns the
    /// msns that left it. An msn that does not follow the newest starts a new window (a
    /// rejoin after a gap): HLS numbers segments by position, so a window has no holes.
    pub fn push(&mut self, segment: IndexSegment, max: usize) -> Vec<u64> {
        let mut left = Vec::new();
        if self
            .segments
            .back()
            .is_some_and(|last| last.msn + 1 != segment.msn)
        {
            while let Some(old) = self.pop_oldest() {
                left.push(old.msn);
            }
        }
        self.segments.push_back(segment);
        while self.segments.len() > max {
            match self.pop_oldest() {
                Some(old) => left.push(old.msn),
                None => break,
            }
        }
        left
    }

    fn pop_oldest(&mut self) -> Option<IndexSegment> {
        let old = self.segments.pop_front()?;
        leave(&mut self.discontinuity_sequence, &old);
        Some(old)
    }
}

impl StreamIndex {
    /// Every discontinuity of the stream so far: the sequence of the window's first segment
    /// plus the tags in the window. Where a later session (or a joining AZ) continues counting.
    pub fn total_discontinuities(&self) -> u64 {
        self.discontinuity_sequence
            + self.segments.iter().filter(|s| s.discontinuity).count() as u64
    }

    /// Removes the window's segments up to and including `msn` (all of them if it is the
    /// newest), as the packager's window would have let them leave; returns how many left.
    pub fn cut_through(&mut self, msn: u64) -> usize {
        let Some(last) = self.segments.iter().rposition(|s| s.msn <= msn) else {
            return 0;
        };
        for s in self.segments.drain(..=last) {
            leave(&mut self.discontinuity_sequence, &s);
        }
        last + 1
    }

    /// The S3 keys of the window's segments, oldest first, with their msns
    /// (`<az>/<app>/<stream>[/<rendition>]/<epoch>-<msn>.ts`, [`keys::segment_key`]).
    pub fn segment_keys(&self) -> Result<Vec<(u64, String)>, NameError> {
        let name = self.name()?;
        Ok(self
            .segments
            .iter()
            .map(|s| {
                let id = keys::SegmentId {
                    epoch: self.epoch,
                    msn: s.msn,
                };
                (s.msn, keys::segment_key(self.az, &name, id))
            })
            .collect())
    }

    /// The window as the packager holds it.
    pub fn window(&self) -> SegmentWindow {
        SegmentWindow {
            segments: self.segments.iter().cloned().collect(),
            discontinuity_sequence: self.discontinuity_sequence,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!("../testdata/index_az1_live_show.json");

    fn sample() -> StreamIndex {
        StreamIndex::from_json(SAMPLE.as_bytes()).unwrap()
    }

    fn segment(msn: u64, discontinuity: bool) -> IndexSegment {
        IndexSegment {
            discontinuity,
            msn,
            ..sample().segments[0].clone()
        }
    }

    #[test]
    fn the_window_slides_and_counts_the_discontinuities_that_leave() {
        let mut w = SegmentWindow::new();
        w.set_discontinuity_sequence(3);
        assert!(w.push(segment(10, true), 2).is_empty());
        assert!(w.push(segment(11, false), 2).is_empty());
        assert_eq!(w.push(segment(12, false), 2), [10]);
        assert_eq!(w.discontinuity_sequence(), 4);
        assert_eq!(w.push(segment(13, true), 2), [11]);
        assert_eq!(w.discontinuity_sequence(), 4);
        // A gap starts a new window: everything before it leaves.
        assert_eq!(w.push(segment(20, false), 2), [12, 13]);
        assert_eq!(w.discontinuity_sequence(), 5);
        assert_eq!(w.segments().map(|s| s.msn).collect::<Vec<_>>(), [20]);
    }

    #[test]
    fn an_index_cut_matches_the_window_rule() {
        // Sample: msns 41..=43, 43 flagged.
        let index = sample();
        assert_eq!(
            index.total_discontinuities(),
            index.discontinuity_sequence + 1
        );
        let mut cut = index.clone();
        assert_eq!(cut.cut_through(41), 1);
        assert_eq!(cut.media_sequence(), 42);
        assert_eq!(cut.discontinuity_sequence, index.discontinuity_sequence);
        assert_eq!(cut.cut_through(40), 0);
        assert_eq!(cut.cut_through(43), 2);
        assert!(cut.segments.is_empty());
        assert_eq!(cut.discontinuity_sequence, index.discontinuity_sequence + 1);
        assert_eq!(cut.total_discontinuities(), index.total_discontinuities());
        assert_eq!(index.window().segments().len(), 3);
    }

    #[test]
    fn segment_keys_are_the_contracts() {
        let index = sample();
        let keys = index.segment_keys().unwrap();
        let name = index.name().unwrap();
        assert_eq!(keys.len(), index.segments.len());
        for ((msn, key), s) in keys.iter().zip(&index.segments) {
            assert_eq!(*msn, s.msn);
            let id = keys::SegmentId {
                epoch: index.epoch,
                msn: s.msn,
            };
            assert_eq!(*key, keys::segment_key(index.az, &name, id));
            assert!(key.starts_with("az1/live/show/"), "{key}");
        }
    }
}
