//! The boundary grid, and what the clock remembers of the encoder timeline it is on.

use super::SegmentClockConfig;

/// Segment boundaries: every multiple of the target on the encoder timeline, each pulled
/// `jitter` earlier so a keyframe that lands a frame early (RTMP whole milliseconds, 29.97 fps
/// rounding) still counts as being on its boundary (DESIGN.md §4).
///
/// The grid is absolute (multiples of the target from timeline zero), not relative to the
/// first keyframe: every ingest fed the same timeline derives the same grid without being
/// told where anyone started, which is what makes cuts identical across AZs and lets a late
/// ingest recompute the state of its peer from one reference point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Grid {
    pub(crate) target: i64,
    pub(crate) jitter: i64,
    pub(crate) gap: i64,
}

impl Grid {
    /// Sanitizes the configuration so no input can divide by zero or make boundaries overlap.
    pub(crate) fn new(config: &SegmentClockConfig) -> Self {
        let target = i64::from(config.target_ms.max(1));
        // More than half a target of tolerance would let one boundary swallow the next.
        let jitter = i64::from(config.jitter_ms).min((target - 1) / 2);
        let gap = i64::from(config.discontinuity_gap_ms).max(jitter);
        Self {
            target,
            jitter,
            gap,
        }
    }

    /// Index `k` of the boundary period `t` falls in:
    /// `k * target - jitter <= t < (k + 1) * target - jitter`.
    ///
    /// A keyframe cuts when its index is above the index of the segment it would close, so
    /// the cut lands on the first keyframe at or after each boundary. Consecutive cuts
    /// increase the segment number by exactly one however many boundaries passed between
    /// them: a 2.002 s GOP moves the index by two once in a thousand GOPs, a 4 s GOP on a
    /// 2 s target by two every time, and neither may skip a number (RFC 8216 §6.2.1).
    pub(crate) fn boundary(&self, t: i64) -> i64 {
        t.saturating_add(self.jitter).div_euclid(self.target)
    }
}

/// One track's dts on the current timeline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Track {
    /// First dts seen: tells a joining clock which frames it never saw.
    pub(crate) first: Option<i64>,
    /// Highest dts seen.
    pub(crate) last: Option<i64>,
    /// The last two positive steps between frames, newest first: the smaller is the duration
    /// estimate of the newest frame (one stall before the last frame does not count, and
    /// 29.97 fps in whole milliseconds gives 33, not 34).
    steps: [Option<i64>; 2],
}

impl Track {
    fn observe(&mut self, dts: i64) {
        self.first.get_or_insert(dts);
        match self.last {
            Some(last) if dts > last => {
                self.steps = [Some(dts.saturating_sub(last)), self.steps[0]];
                self.last = Some(dts);
            }
            Some(_) => {}
            None => self.last = Some(dts),
        }
    }

    /// Where this track's newest frame ends: its dts plus one frame duration (see `steps`),
    /// capped at `cap`.
    fn end(&self, cap: i64) -> Option<i64> {
        let last = self.last?;
        let frame = self.steps.iter().flatten().min().copied().unwrap_or(0);
        Some(last.saturating_add(frame.clamp(0, cap)))
    }
}

/// The current encoder timeline, per track. Reset on a timeline jump.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Timeline {
    pub(crate) video: Track,
    pub(crate) audio: Track,
    /// Highest dts on any track.
    max: Option<i64>,
}

impl Timeline {
    /// Whether `dts` cannot belong to this timeline: the encoder reconnected inside one publish
    /// or its timestamps restarted.
    ///
    /// Forward: more than `gap` past the highest dts of any track. Backward: more than
    /// `jitter` behind the same track (a track's dts never goes back; audio and video may
    /// be skewed against each other, so they are not compared with each other), or, for a
    /// track's first frame, more than `gap` behind the other track.
    pub(crate) fn is_jump(&self, dts: i64, is_video: bool, grid: &Grid) -> bool {
        let Some(max) = self.max else {
            return false;
        };
        if dts > max.saturating_add(grid.gap) {
            return true;
        }
        match self.track(is_video).last {
            Some(last) => dts < last.saturating_sub(grid.jitter),
            None => dts < max.saturating_sub(grid.gap),
        }
    }

    pub(crate) fn observe(&mut self, dts: i64, is_video: bool) {
        let track = if is_video {
            &mut self.video
        } else {
            &mut self.audio
        };
        track.observe(dts);
        self.max = Some(self.max.map_or(dts, |m| m.max(dts)));
    }

    pub(crate) fn track(&self, is_video: bool) -> &Track {
        if is_video { &self.video } else { &self.audio }
    }

    /// End of the newest frame of any track (see [`Track::end`]); `None` before any frame.
    pub(crate) fn end(&self, frame_cap: i64) -> Option<i64> {
        self.video.end(frame_cap).max(self.audio.end(frame_cap))
    }
}
