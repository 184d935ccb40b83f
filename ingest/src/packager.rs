//! The packager of one publish: FLV tag bodies in, storage effects out. It glues the sans-IO
//! core together (FLV demux → segment clock → TS mux) and keeps the index window. No I/O, no
//! clock reads: wall time comes in as an argument, effects go out as data for the shell to
//! execute in order (segment first, then the index that names it).

use std::collections::VecDeque;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use zonecast_contract::{
    Az, INDEX_VERSION, IndexSegment, Resolution, StreamIndex, StreamInfo, StreamName, StreamState,
};

use crate::{
    clock::{
        ClockAnchor, ClockDecision, FrameMeta, SegmentClock, SegmentClockConfig, TimestampUnwrapper,
    },
    flv::{FlvDemuxer, FlvError},
    media::{AudioConfig, MediaEvent, MediaFrame, VideoConfig},
    ts::{TsError, TsMuxer, TsMuxerConfig},
};

#[derive(Debug, Clone)]
pub struct PackagerConfig {
    pub az: Az,
    pub target_ms: u32,
    /// Segments kept in the index window.
    pub window: usize,
}

/// What the shell must do, in this order.
#[derive(Debug, Clone, PartialEq)]
pub enum PackagerEffect {
    PutSegment { msn: u64, bytes: Bytes },
    PutIndex { index: StreamIndex },
}

#[derive(Debug, thiserror::Error)]
pub enum PackagerError {
    #[error("malformed FLV: {0}")]
    Flv(#[from] FlvError),
    #[error("muxing TS: {0}")]
    Ts(#[from] TsError),
}

/// The segment being written.
#[derive(Debug, Clone)]
struct OpenSegment {
    msn: u64,
    timeline_ms: i64,
    discontinuity: bool,
    program_date_time: DateTime<Utc>,
}

/// An encoder timestamp (ms) and the wall-clock time it maps to.
type WallAnchor = (i64, DateTime<Utc>);

pub struct Packager {
    config: PackagerConfig,
    name: StreamName,
    session: String,
    /// This AZ's numbering epoch ([`StreamIndex::epoch`]): part of every segment key.
    epoch: u64,
    demuxer: FlvDemuxer,
    unwrapper: TimestampUnwrapper,
    clock: SegmentClock,
    muxer: TsMuxer,
    video: Option<VideoConfig>,
    audio: Option<AudioConfig>,
    open: Option<OpenSegment>,
    window: VecDeque<IndexSegment>,
    discontinuity_sequence: u64,
    /// Encoder timeline → wall clock, fixed once per publish session (DESIGN.md §4).
    wall_anchor: Option<WallAnchor>,
    /// What joining a live timeline would inherit (discontinuity count, wall-clock mapping);
    /// applied at the first cut unless the clock fell back to a fresh start.
    join: Option<(u64, Option<WallAnchor>)>,
    first_cut_done: bool,
    last_dts: Option<i64>,
    /// First and last video dts and the count between them, for FRAME-RATE.
    video_frames: Option<(i64, i64, u64)>,
}

impl Packager {
    /// `own` and `peer` are the indexes found in S3 when the publish started: they decide the
    /// first segment number (join a live timeline, or continue upward after the last one) and
    /// whether the old window carries on.
    pub fn new(
        config: PackagerConfig,
        name: StreamName,
        session: String,
        own: Option<&StreamIndex>,
        peer: Option<&StreamIndex>,
        now: DateTime<Utc>,
    ) -> Self {
        let anchor = ClockAnchor::from_indexes(own, peer, now, config.target_ms);
        // Rejoining after the u32 RTMP timestamps wrapped still lines up with the reference.
        let unwrapper = anchor
            .timeline_hint()
            .map_or_else(TimestampUnwrapper::new, TimestampUnwrapper::starting_near);
        let clock = SegmentClock::new(
            SegmentClockConfig {
                target_ms: config.target_ms,
                ..SegmentClockConfig::default()
            },
            anchor,
        );
        // Continue our own key space; with no index of our own, every object we may have
        // written before is gone from S3 (the index is always the newest), but may still be
        // cached: start a new epoch.
        let epoch = own.map_or_else(
            || u64::try_from(now.timestamp_millis()).unwrap_or(0),
            |i| i.epoch,
        );
        let mut packager = Self {
            name,
            session,
            epoch,
            demuxer: FlvDemuxer::default(),
            unwrapper,
            clock,
            muxer: TsMuxer::new(TsMuxerConfig::default()),
            video: None,
            audio: None,
            open: None,
            window: VecDeque::new(),
            discontinuity_sequence: 0,
            wall_anchor: None,
            join: None,
            first_cut_done: false,
            last_dts: None,
            video_frames: None,
            config,
        };
        packager.inherit(own, peer, now);
        packager
    }

    /// Carries the discontinuity count (and, when joining, the wall-clock mapping) over from
    /// what was there before.
    fn inherit(
        &mut self,
        own: Option<&StreamIndex>,
        peer: Option<&StreamIndex>,
        now: DateTime<Utc>,
    ) {
        let total_discontinuities = |i: &StreamIndex| {
            i.discontinuity_sequence + i.segments.iter().filter(|s| s.discontinuity).count() as u64
        };
        // A new session after an earlier one keeps counting upward; its first segment carries
        // the discontinuity tag.
        if let Some(prev) = [own, peer]
            .into_iter()
            .flatten()
            .max_by_key(|i| i.last_msn())
        {
            self.discontinuity_sequence = total_discontinuities(prev);
        }
        // Joining a live timeline: adopt its count and its wall-clock mapping, so both AZs
        // label the same segment the same way.
        let live =
            |i: &&StreamIndex| zonecast_contract::health::health(Some(i), None, now).is_serving();
        if let Some(reference) = [own, peer]
            .into_iter()
            .flatten()
            .filter(live)
            .max_by_key(|i| i.last_msn())
        {
            let wall = reference
                .segments
                .last()
                .map(|l| (l.timeline_ms, l.program_date_time));
            self.join = Some((total_discontinuities(reference), wall));
        }
    }

    pub fn name(&self) -> &StreamName {
        &self.name
    }

    /// This AZ's numbering epoch, part of every segment key.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The index as it stands, in `state`, written at `now`; `None` before the first segment.
    /// The shell rewrites it as a heartbeat while the stream waits for its encoder.
    pub fn snapshot(&self, state: StreamState, now: DateTime<Utc>) -> Option<StreamIndex> {
        (!self.window.is_empty()).then(|| self.index(state, now))
    }

    pub fn push_video(
        &mut self,
        timestamp: u32,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Vec<PackagerEffect>, PackagerError> {
        let dts = self.unwrapper.unwrap(timestamp);
        let event = self.demuxer.demux_video(dts, body);
        self.on_event(event, now)
    }

    pub fn push_audio(
        &mut self,
        timestamp: u32,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Vec<PackagerEffect>, PackagerError> {
        let dts = self.unwrapper.unwrap(timestamp);
        let event = self.demuxer.demux_audio(dts, body);
        self.on_event(event, now)
    }

    fn on_event(
        &mut self,
        event: Result<MediaEvent, FlvError>,
        now: DateTime<Utc>,
    ) -> Result<Vec<PackagerEffect>, PackagerError> {
        let event = match event {
            Ok(e) => e,
            // A frame before its decoder configuration cannot be muxed; encoders send the
            // configuration first, so this is at most a frame or two at the start.
            Err(e) if e.is_missing_config() => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        match event {
            MediaEvent::VideoConfig(c) => {
                self.clock.expect_video();
                self.video = Some(c);
                Ok(Vec::new())
            }
            MediaEvent::AudioConfig(c) => {
                self.audio = Some(c);
                Ok(Vec::new())
            }
            MediaEvent::Frame(frame) => self.on_frame(frame, now),
            MediaEvent::Nothing => Ok(Vec::new()),
        }
    }

    fn on_frame(
        &mut self,
        frame: MediaFrame,
        now: DateTime<Utc>,
    ) -> Result<Vec<PackagerEffect>, PackagerError> {
        let dts = frame.dts_ms();
        self.last_dts = Some(self.last_dts.map_or(dts, |d| d.max(dts)));
        if frame.is_video() {
            self.video_frames = Some(match self.video_frames {
                None => (dts, dts, 1),
                Some((first, last, n)) => (first, last.max(dts), n + 1),
            });
        }
        let meta = FrameMeta {
            dts_ms: dts,
            is_video: frame.is_video(),
            keyframe: frame.is_keyframe(),
        };
        let mut effects = Vec::new();
        match self.clock.push(meta) {
            ClockDecision::Drop => return Ok(effects),
            ClockDecision::Continue => {}
            ClockDecision::Cut(cut) => {
                if !self.first_cut_done {
                    self.first_cut_done = true;
                    // A clean join continues the reference's labels; a fallback (discontinuity)
                    // starts fresh after them.
                    if let (Some((count, wall)), false) = (self.join.take(), cut.discontinuity) {
                        self.discontinuity_sequence = count;
                        self.wall_anchor = wall;
                    }
                }
                if let (Some(open), Some(closed)) = (self.open.take(), cut.closed) {
                    self.close_segment(
                        open,
                        closed.duration_ms,
                        StreamState::Live,
                        now,
                        &mut effects,
                    )?;
                }
                let (anchor_ts, anchor_wall) =
                    *self.wall_anchor.get_or_insert((cut.timeline_ms, now));
                let pdt = anchor_wall + chrono::Duration::milliseconds(cut.timeline_ms - anchor_ts);
                self.muxer
                    .begin_segment(self.video.as_ref(), self.audio.as_ref())?;
                self.open = Some(OpenSegment {
                    msn: cut.msn,
                    timeline_ms: cut.timeline_ms,
                    discontinuity: cut.discontinuity,
                    program_date_time: pdt,
                });
            }
        }
        if self.open.is_some() {
            self.muxer.push_frame(&frame)?;
        }
        Ok(effects)
    }

    fn close_segment(
        &mut self,
        open: OpenSegment,
        duration_ms: u32,
        state: StreamState,
        now: DateTime<Utc>,
        effects: &mut Vec<PackagerEffect>,
    ) -> Result<(), PackagerError> {
        let bytes = self.muxer.finish_segment()?;
        // An msn that does not follow the window (a rejoin after a gap) starts a new window:
        // HLS numbers segments by position, so a window cannot have holes.
        if self
            .window
            .back()
            .is_some_and(|last| last.msn + 1 != open.msn)
        {
            for s in self.window.drain(..) {
                self.discontinuity_sequence += u64::from(s.discontinuity);
            }
        }
        self.window.push_back(IndexSegment {
            msn: open.msn,
            duration_ms,
            timeline_ms: open.timeline_ms,
            program_date_time: open.program_date_time,
            discontinuity: open.discontinuity,
            bytes: bytes.len() as u64,
        });
        // RFC 8216 §6.2.2: removing a segment with a discontinuity tag bumps the sequence.
        while self.window.len() > self.config.window {
            if let Some(s) = self.window.pop_front() {
                self.discontinuity_sequence += u64::from(s.discontinuity);
            }
        }
        effects.push(PackagerEffect::PutSegment {
            msn: open.msn,
            bytes,
        });
        effects.push(PackagerEffect::PutIndex {
            index: self.index(state, now),
        });
        Ok(())
    }

    /// Ends the publish: the last segment, then an index in `state`: `waiting` when the
    /// encoder may come back, `draining` when this ingest shuts down, `ended` when the show is
    /// over.
    pub fn finish(&mut self, state: StreamState, now: DateTime<Utc>) -> Vec<PackagerEffect> {
        let mut effects = Vec::new();
        let closed = self.clock.finish();
        match (self.open.take(), closed) {
            (Some(open), Some(closed)) => {
                if let Err(e) =
                    self.close_segment(open, closed.duration_ms, state, now, &mut effects)
                {
                    tracing::warn!(stream = %self.name, error = %e, "last segment lost at end of publish");
                }
            }
            _ => {
                if !self.window.is_empty() {
                    effects.push(PackagerEffect::PutIndex {
                        index: self.index(state, now),
                    });
                }
            }
        }
        if effects.is_empty() && !self.window.is_empty() {
            effects.push(PackagerEffect::PutIndex {
                index: self.index(state, now),
            });
        }
        effects
    }

    fn index(&self, state: StreamState, now: DateTime<Utc>) -> StreamIndex {
        StreamIndex {
            version: INDEX_VERSION,
            az: self.config.az,
            app: self.name.app().to_owned(),
            stream: self.name.stream().to_owned(),
            session: self.session.clone(),
            epoch: self.epoch,
            state,
            updated: now,
            target_duration_ms: self.config.target_ms,
            discontinuity_sequence: self.discontinuity_sequence,
            info: self.info(),
            segments: self.window.iter().cloned().collect(),
        }
    }

    /// CODECS from the bitstream, bandwidth measured over the window (RFC 8216 §4.3.4.2).
    fn info(&self) -> StreamInfo {
        let codecs: Vec<&str> = [
            self.video.as_ref().map(|v| v.codec.as_str()),
            self.audio.as_ref().map(|a| a.codec.as_str()),
        ]
        .into_iter()
        .flatten()
        .collect();
        let rate = |s: &IndexSegment| s.bytes * 8 * 1000 / u64::from(s.duration_ms.max(1));
        let peak = self.window.iter().map(rate).max().unwrap_or(0);
        let (bytes, ms) = self.window.iter().fold((0u64, 0u64), |(b, d), s| {
            (b + s.bytes, d + u64::from(s.duration_ms))
        });
        let average = (bytes * 8 * 1000).checked_div(ms).unwrap_or(0);
        let resolution = self.video.as_ref().and_then(|v| {
            Some(Resolution {
                width: v.width?,
                height: v.height?,
            })
        });
        let frame_rate = self.video_frames.and_then(|(first, last, n)| {
            (last > first && n > 1).then(|| {
                ((n - 1) as f64 * 1000.0 / (last - first) as f64 * 1000.0).round() / 1000.0
            })
        });
        StreamInfo {
            codecs: codecs.join(","),
            resolution,
            bandwidth: peak,
            average_bandwidth: average,
            frame_rate,
        }
    }
}
