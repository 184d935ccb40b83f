//! The packager of one publish: FLV tag bodies in, storage effects out. It glues the sans-IO
//! core together (FLV demux → segment clock → TS mux) and keeps the index window. No I/O, no
//! clock reads: wall time comes in as an argument, effects go out as data for the shell to
//! execute in order (segment first, then the index that names it).

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use zonecast_contract::{
    Az, INDEX_VERSION, IndexSegment, Resolution, SegmentWindow, StreamIndex, StreamInfo,
    StreamName, StreamState,
};

mod frames;
mod shape;

use shape::Format;
pub use shape::PackagerStats;

use crate::{
    media::clock::{ClockAnchor, SegmentClock, SegmentClockConfig, TimestampUnwrapper},
    media::flv::{FlvDemuxer, TagContext},
    media::frame::{AudioConfig, VideoConfig},
    media::ts::{TsError, TsMuxer, TsMuxerConfig},
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

/// Why the packager cannot go on. Nothing a peer sends gives one: a tag with malformed or
/// unsupported media is dropped and counted in [`PackagerStats`], and every valid stream shape
/// (tracks that come, go or change) is packaged.
#[derive(Debug, thiserror::Error)]
pub enum PackagerError {
    /// The TS muxer failed on its own (see [`TsError::is_internal`]): a bug, not bad input.
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
    /// The tracks it may carry, each with its configuration where that track starts in it.
    format: Format,
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
    /// The configurations in use: the demuxer's instances (it owns them), shared.
    video: Option<Arc<VideoConfig>>,
    audio: Option<Arc<AudioConfig>>,
    open: Option<OpenSegment>,
    /// The index window (the contract's arithmetic, RFC 8216 §6.2.2).
    window: SegmentWindow,
    /// Encoder timeline → wall clock, fixed once per publish session (DESIGN.md §4).
    wall_anchor: Option<WallAnchor>,
    /// What joining a live timeline would inherit (discontinuity count, wall-clock mapping);
    /// applied at the first cut unless the clock fell back to a fresh start.
    join: Option<(u64, Option<WallAnchor>)>,
    first_cut_done: bool,
    last_dts: Option<i64>,
    /// First and last video dts and the count between them, for FRAME-RATE; restarted at
    /// every discontinuity.
    video_frames: Option<(i64, i64, u64)>,
    /// Why the open segment must end at the next frame that can start one (codec parameters
    /// changed under it).
    pending_cut: Option<String>,
    /// Format of the newest closed segment: the next one is compared with it.
    last_format: Option<Format>,
    /// Where the newest closed segment ends on the wall clock (its PDT plus its duration).
    last_end: Option<DateTime<Utc>>,
    /// Dts of the newest video frame on the segment clock's current run.
    last_video_dts: Option<i64>,
    stats: PackagerStats,
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
        Self::with_siblings(config, name, session, own, peer, &[], now)
    }

    /// [`Self::new`] for a rendition: `siblings` are the other renditions' indexes, whose
    /// numbering, discontinuity count and wall-clock mapping it shares
    /// ([`ClockAnchor::from_references`]).
    pub fn with_siblings(
        config: PackagerConfig,
        name: StreamName,
        session: String,
        own: Option<&StreamIndex>,
        peer: Option<&StreamIndex>,
        siblings: &[&StreamIndex],
        now: DateTime<Utc>,
    ) -> Self {
        let anchor = ClockAnchor::from_references(own, peer, siblings, now, config.target_ms);
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
            window: SegmentWindow::new(),
            wall_anchor: None,
            join: None,
            first_cut_done: false,
            last_dts: None,
            video_frames: None,
            pending_cut: None,
            last_format: None,
            last_end: None,
            last_video_dts: None,
            stats: PackagerStats::default(),
            config,
        };
        packager.inherit(own, peer, siblings, now);
        packager
    }

    /// Carries the discontinuity count (and, when joining, the wall-clock mapping) over from
    /// what was there before.
    fn inherit(
        &mut self,
        own: Option<&StreamIndex>,
        peer: Option<&StreamIndex>,
        siblings: &[&StreamIndex],
        now: DateTime<Utc>,
    ) {
        let all = || {
            siblings
                .iter()
                .copied()
                .chain([own, peer].into_iter().flatten())
        };
        // A new session after an earlier one keeps counting upward; its first segment carries
        // the discontinuity tag.
        if let Some(prev) = all().max_by_key(|i| i.last_msn()) {
            self.window
                .set_discontinuity_sequence(prev.total_discontinuities());
        }
        // Joining a live timeline: adopt its count and its wall-clock mapping, so both AZs
        // label the same segment the same way.
        let live =
            |i: &&StreamIndex| zonecast_contract::health::health(Some(i), None, now).is_serving();
        if let Some(reference) = all().filter(live).max_by_key(|i| i.last_msn()) {
            let wall = reference
                .segments
                .last()
                .map(|l| (l.timeline_ms, l.program_date_time));
            self.join = Some((reference.total_discontinuities(), wall));
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

    /// What was dropped or changed so far (see [`PackagerStats`]).
    pub fn stats(&self) -> PackagerStats {
        self.stats
    }

    /// Packages one RTMP video message (an FLV VIDEODATA body). A malformed or unsupported
    /// tag is dropped, counted and logged; `Err` only for a muxer bug.
    pub fn push_video(
        &mut self,
        timestamp: u32,
        body: &Bytes,
        now: DateTime<Utc>,
    ) -> Result<Vec<PackagerEffect>, PackagerError> {
        let dts = self.unwrapper.unwrap(timestamp);
        let events = self.demuxer.demux_video(dts, body);
        self.on_tag(TagContext::Video, timestamp, events, now)
    }

    /// Packages one RTMP audio message (an FLV AUDIODATA body); see [`Packager::push_video`].
    pub fn push_audio(
        &mut self,
        timestamp: u32,
        body: &Bytes,
        now: DateTime<Utc>,
    ) -> Result<Vec<PackagerEffect>, PackagerError> {
        let dts = self.unwrapper.unwrap(timestamp);
        let events = self.demuxer.demux_audio(dts, body);
        self.on_tag(TagContext::Audio, timestamp, events, now)
    }

    fn close_segment(
        &mut self,
        open: OpenSegment,
        duration_ms: u32,
        state: StreamState,
        now: DateTime<Utc>,
        effects: &mut Vec<PackagerEffect>,
    ) -> Result<(), PackagerError> {
        let carried = self.muxer.carried();
        let bytes = self.muxer.finish_segment()?;
        // What the segment really carries decides its format, and a format unlike the last
        // segment's gets a discontinuity (RFC 8216 §4.3.2.3), logged once here.
        let format = Format {
            video: open.format.video.filter(|_| carried.video),
            audio: open.format.audio.filter(|_| carried.audio),
        };
        let change = self
            .last_format
            .as_ref()
            .and_then(|last| last.change_to(&format));
        if let Some(change) = &change {
            self.stats.format_changes += 1;
            tracing::info!(
                stream = %self.name, msn = open.msn, %change,
                "stream format changed: segment marked #EXT-X-DISCONTINUITY"
            );
        }
        let discontinuity = open.discontinuity || change.is_some();
        self.last_format = Some(format);
        self.last_end =
            Some(open.program_date_time + chrono::Duration::milliseconds(i64::from(duration_ms)));
        // The contract's window rule: a gap starts a new window, the window slides to the
        // configured length, and discontinuities that leave bump the sequence.
        let segment = IndexSegment {
            msn: open.msn,
            duration_ms,
            timeline_ms: open.timeline_ms,
            program_date_time: open.program_date_time,
            discontinuity,
            bytes: bytes.len() as u64,
        };
        self.window.push(segment, self.config.window);
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
            rendition: self.name.rendition().map(str::to_owned),
            session: self.session.clone(),
            epoch: self.epoch,
            state,
            updated: now,
            target_duration_ms: self.config.target_ms,
            discontinuity_sequence: self.window.discontinuity_sequence(),
            info: self.info(),
            segments: self.window.segments().cloned().collect(),
        }
    }

    /// CODECS from the bitstream, bandwidth measured over the window (RFC 8216 §4.3.4.2).
    fn info(&self) -> StreamInfo {
        // What the newest segment carries; before any, what the stream announced.
        let (video, audio) = match &self.last_format {
            Some(f) => (f.video.as_ref(), f.audio.as_ref()),
            None => (self.video.as_ref(), self.audio.as_ref()),
        };
        let codecs: Vec<&str> = [
            video.map(|v| v.codec.as_str()),
            audio.map(|a| a.codec.as_str()),
        ]
        .into_iter()
        .flatten()
        .collect();
        let rate = |s: &IndexSegment| s.bytes * 8 * 1000 / u64::from(s.duration_ms.max(1));
        let peak = self.window.segments().map(rate).max().unwrap_or(0);
        let (bytes, ms) = self.window.segments().fold((0u64, 0u64), |(b, d), s| {
            (b + s.bytes, d + u64::from(s.duration_ms))
        });
        let average = (bytes * 8 * 1000).checked_div(ms).unwrap_or(0);
        let resolution = video.and_then(|v| {
            Some(Resolution {
                width: v.width?,
                height: v.height?,
            })
        });
        // The SPS's timing info when it has it (exact, the same in every rendition and AZ),
        // else measured from the frames' timestamps.
        let measured =
            self.video_frames
                .filter(|_| video.is_some())
                .and_then(|(first, last, n)| {
                    (last > first && n > 1).then(|| {
                        ((n - 1) as f64 * 1000.0 / (last - first) as f64 * 1000.0).round() / 1000.0
                    })
                });
        let frame_rate = video
            .and_then(|v| v.frame_rate_milli)
            .map(|m| f64::from(m) / 1000.0)
            .or(measured);
        StreamInfo {
            codecs: codecs.join(","),
            resolution,
            bandwidth: peak,
            average_bandwidth: average,
            frame_rate,
        }
    }
}
