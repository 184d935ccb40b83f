//! The segment clock: where to cut and what number each segment gets (DESIGN.md §4).
//!
//! Sans-IO and deterministic: frames' encoder timestamps in, decisions out; no wall clock, no
//! I/O. Two ingests fed the same timeline make the same decisions for the same frames, and an
//! ingest that starts late takes its numbering from the index in S3 ([`ClockAnchor`]).
//!
//! Rules:
//! - Cut only on a video keyframe, at the first keyframe at or after each multiple of the
//!   target on the encoder timeline, a boundary counting as reached `jitter_ms` early. A
//!   stream without video cuts on its audio frames, the same way.
//! - Each cut is the previous msn + 1, never more: HLS allows no gaps (RFC 8216 §6.2.1). A GOP
//!   longer than the target gives long segments, not skipped numbers.
//! - A timeline jump (the encoder reconnected inside one publish, or its timestamps
//!   restarted) cuts at the first keyframe of the new timeline, msn + 1, marked discontinuous
//!   (`#EXT-X-DISCONTINUITY`); boundaries are then multiples of the target on the new
//!   timeline.

mod anchor;
mod timeline;
mod unwrap;

#[cfg(test)]
mod tests;

pub use anchor::ClockAnchor;
pub use unwrap::TimestampUnwrapper;

use anchor::{Join, JoinStep};
use timeline::{Grid, Timeline};

use crate::media::frame::MediaFrame;

/// Where the clock cuts. Defaults: 2 s segments, one 30 fps frame of tolerance, 10 s gaps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentClockConfig {
    /// Boundary interval on the encoder timeline (the HLS target duration), in milliseconds.
    pub target_ms: u32,
    /// How early a keyframe may land and still count as on its boundary. The default, 34, is
    /// one frame at 30 fps (33.3 ms) rounded up: RTMP timestamps are whole milliseconds, so a
    /// keyframe meant for 2000 can arrive as 1999, or a 29.97 fps GOP as 6005 for 6006.
    /// Without it such a keyframe would be merged into the previous segment. Capped below
    /// half the target.
    pub jitter_ms: u32,
    /// A forward step larger than this (or a step back larger than `jitter_ms` within a
    /// track) is an encoder timeline jump, not a gap in the stream.
    pub discontinuity_gap_ms: u32,
}

impl Default for SegmentClockConfig {
    fn default() -> Self {
        Self {
            target_ms: 2000,
            jitter_ms: 34,
            discontinuity_gap_ms: 10_000,
        }
    }
}

/// What the clock needs of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameMeta {
    /// Decode timestamp on the encoder timeline (unwrapped RTMP milliseconds).
    pub dts_ms: i64,
    pub is_video: bool,
    pub keyframe: bool,
}

impl From<&MediaFrame> for FrameMeta {
    fn from(frame: &MediaFrame) -> Self {
        Self {
            dts_ms: frame.dts_ms(),
            is_video: frame.is_video(),
            keyframe: frame.is_keyframe(),
        }
    }
}

/// What to do with one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockDecision {
    /// Do not mux it: it comes before the first cut (before the first keyframe of a stream
    /// with video, or while a joining clock waits for its peer's next cut), or after a
    /// timeline jump, before the keyframe that starts the new timeline.
    Drop,
    /// Append it to the open segment.
    Continue,
    /// Close the open segment (if any) and start a new one with this frame.
    Cut(CutInfo),
}

/// A new segment starts with this frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CutInfo {
    pub msn: u64,
    /// Start of the new segment on the encoder timeline: this frame's dts.
    pub timeline_ms: i64,
    /// `#EXT-X-DISCONTINUITY` before the new segment.
    pub discontinuity: bool,
    /// The segment this cut closes; `None` at the first cut.
    pub closed: Option<ClosedSegment>,
}

/// A finished segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClosedSegment {
    pub msn: u64,
    pub timeline_ms: i64,
    /// Up to the next segment's start; at a timeline jump or the end of the stream, up to the
    /// end of the last frame (see [`SegmentClock::finish`]).
    pub duration_ms: u32,
}

/// Which frames can cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// No video yet and none announced: audio is held back (dropped) until either video shows
    /// up or the audio has crossed two boundaries, which makes the stream audio-only. Encoders
    /// send the video config before any frame, so [`SegmentClock::expect_video`] normally
    /// skips this state; two boundaries keep a few early audio frames from starting an
    /// audio-only segment the video would cut again at once.
    Undecided,
    /// Video keyframes cut.
    Video,
    /// Audio frames cut.
    AudioOnly,
}

/// How the next first cut is numbered.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Start {
    Fresh { first_msn: u64, discontinuity: bool },
    Join(Join),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Open {
    msn: u64,
    timeline_ms: i64,
    /// Boundary period of the cut that opened it ([`Grid::boundary`]).
    boundary: i64,
}

/// Decides, frame by frame in arrival order, where segments start and their numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentClock {
    grid: Grid,
    start: Start,
    mode: Mode,
    open: Option<Open>,
    timeline: Timeline,
    /// A timeline jump interrupted the open segment; this is where the old timeline ended.
    /// Frames are dropped until the keyframe that starts the new timeline.
    jumped_from: Option<i64>,
    /// Video arrived while an audio-only segment was open: its first keyframe cuts (the open
    /// segment was started without video), video before it is dropped.
    video_starts: bool,
}

impl SegmentClock {
    pub fn new(config: SegmentClockConfig, anchor: ClockAnchor) -> Self {
        let start = match anchor {
            ClockAnchor::Fresh {
                first_msn,
                discontinuity,
            } => Start::Fresh {
                first_msn,
                discontinuity,
            },
            ClockAnchor::Join {
                reference,
                fallback_msn,
            } => match Join::new(reference, fallback_msn) {
                Some(join) => Start::Join(join),
                // Nothing usable to join: a fresh start above everything known.
                None => Start::Fresh {
                    first_msn: fallback_msn,
                    discontinuity: true,
                },
            },
        };
        Self {
            grid: Grid::new(&config),
            start,
            mode: Mode::Undecided,
            open: None,
            timeline: Timeline::default(),
            jumped_from: None,
            video_starts: false,
        }
    }

    /// Tells the clock the stream carries video: call it when the FLV metadata
    /// (`onMetaData` `videocodecid`) or an AVC sequence header announces video, before the
    /// frames. Audio before the first keyframe is then dropped at once instead of possibly
    /// starting an audio-only segment. A video frame does the same by itself; calling this
    /// more than once is harmless.
    pub fn expect_video(&mut self) {
        if self.mode != Mode::Video {
            self.video_starts = self.open.is_some();
            self.mode = Mode::Video;
        }
    }

    /// Whether the stream has (or announced) video, so cuts are on keyframes.
    pub fn has_video(&self) -> bool {
        self.mode == Mode::Video
    }

    /// The open segment's `(msn, timeline_ms)`.
    pub fn open_segment(&self) -> Option<(u64, i64)> {
        self.open.map(|o| (o.msn, o.timeline_ms))
    }

    /// Decides one frame. Frames come in arrival order, audio and video interleaved.
    pub fn push(&mut self, frame: FrameMeta) -> ClockDecision {
        let dts = frame.dts_ms;
        if self.timeline.is_jump(dts, frame.is_video, &self.grid) {
            if self.open.is_some() && self.jumped_from.is_none() {
                self.jumped_from = Some(self.end_of_timeline());
            }
            self.timeline = Timeline::default();
        }
        self.timeline.observe(dts, frame.is_video);
        if frame.is_video {
            self.expect_video();
        }
        let candidate = self.is_candidate(frame);

        let Some(open) = self.open else {
            return self.first_cut(candidate, dts);
        };
        if let Some(old_end) = self.jumped_from {
            if !candidate {
                return ClockDecision::Drop;
            }
            self.jumped_from = None;
            self.video_starts = false;
            return self.cut(open.msn.saturating_add(1), dts, true, old_end);
        }
        if self.video_starts {
            if candidate {
                self.video_starts = false;
                return self.cut(open.msn.saturating_add(1), dts, false, dts);
            }
            return if frame.is_video {
                ClockDecision::Drop
            } else {
                ClockDecision::Continue
            };
        }
        if candidate && self.grid.boundary(dts) > open.boundary {
            return self.cut(open.msn.saturating_add(1), dts, false, dts);
        }
        ClockDecision::Continue
    }

    /// Ends the stream: closes the open segment, if any.
    ///
    /// The last segment has no next cut to end at, so it ends where its newest frame ends:
    /// that frame's dts plus one frame duration, estimated as the last step between two
    /// frames of its track (capped at the target). Every segment then covers exactly the
    /// timeline up to the next one's start, and the durations add up to the stream's span.
    ///
    /// A clock pushed frames after `finish` starts over as a new numbering above the last
    /// segment, with a discontinuity.
    pub fn finish(&mut self) -> Option<ClosedSegment> {
        let open = self.open.take()?;
        let end = match self.jumped_from.take() {
            Some(end) => end,
            None => self.end_of_timeline(),
        };
        self.start = Start::Fresh {
            first_msn: open.msn.saturating_add(1),
            discontinuity: true,
        };
        self.timeline = Timeline::default();
        self.video_starts = false;
        Some(close(open, end))
    }

    /// Whether this frame may start a segment; settles an undecided stream as audio-only.
    fn is_candidate(&mut self, frame: FrameMeta) -> bool {
        match self.mode {
            Mode::Video => frame.is_video && frame.keyframe,
            Mode::AudioOnly => !frame.is_video,
            Mode::Undecided => {
                let first = self.timeline.audio.first.unwrap_or(frame.dts_ms);
                let crossed = self
                    .grid
                    .boundary(frame.dts_ms)
                    .saturating_sub(self.grid.boundary(first));
                if crossed >= 2 {
                    self.mode = Mode::AudioOnly;
                }
                crossed >= 2
            }
        }
    }

    fn first_cut(&mut self, candidate: bool, dts: i64) -> ClockDecision {
        if !candidate {
            return ClockDecision::Drop;
        }
        match &self.start {
            Start::Fresh {
                first_msn,
                discontinuity,
            } => {
                let (msn, discontinuity) = (*first_msn, *discontinuity);
                self.cut(msn, dts, discontinuity, dts)
            }
            Start::Join(join) => {
                let first_seen = self
                    .timeline
                    .track(self.mode == Mode::Video)
                    .first
                    .unwrap_or(dts);
                match join.decide(dts, first_seen, &self.grid) {
                    JoinStep::Wait => ClockDecision::Drop,
                    JoinStep::Cut(msn) => self.cut(msn, dts, false, dts),
                    JoinStep::Fallback => {
                        let msn = join.fallback_msn;
                        self.cut(msn, dts, true, dts)
                    }
                }
            }
        }
    }

    /// Opens segment `msn` at `dts`, closing the open one at `closed_end`.
    fn cut(&mut self, msn: u64, dts: i64, discontinuity: bool, closed_end: i64) -> ClockDecision {
        let closed = self.open.map(|open| close(open, closed_end));
        self.open = Some(Open {
            msn,
            timeline_ms: dts,
            boundary: self.grid.boundary(dts),
        });
        ClockDecision::Cut(CutInfo {
            msn,
            timeline_ms: dts,
            discontinuity,
            closed,
        })
    }

    /// End of the newest frame on the current timeline; the open segment's start if none.
    fn end_of_timeline(&self) -> i64 {
        let start = self.open.map_or(0, |o| o.timeline_ms);
        self.timeline.end(self.grid.target).unwrap_or(start)
    }
}

fn close(open: Open, end: i64) -> ClosedSegment {
    let duration = end.saturating_sub(open.timeline_ms).max(0);
    ClosedSegment {
        msn: open.msn,
        timeline_ms: open.timeline_ms,
        duration_ms: u32::try_from(duration).unwrap_or(u32::MAX),
    }
}
