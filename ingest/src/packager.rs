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
    flv::{FlvDemuxer, FlvError, TagContext},
    media::{AudioConfig, MediaEvent, MediaFrame, VideoConfig},
    ts::{TsError, TsMuxer, TsMuxerConfig, pes::AdtsTemplate},
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

/// What the packager dropped or changed so far in this publish, for the shell's metrics and
/// logs. Counters only go up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PackagerStats {
    /// Tags dropped because they were malformed: FLV/AVC/AAC syntax, NAL unit framing, or a
    /// frame the TS muxer refused (an AAC frame too long for ADTS, say).
    pub malformed_tags: u64,
    /// Tags dropped because their codec is not packaged: video other than H.264, audio other
    /// than AAC, or an AAC configuration ADTS cannot carry.
    pub unsupported_tags: u64,
    /// Frames dropped because they came before their decoder configuration.
    pub frames_before_config: u64,
    /// Segments that start with other tracks or codec parameters than the one before them
    /// (tagged `#EXT-X-DISCONTINUITY`, RFC 8216 §4.3.2.3).
    pub format_changes: u64,
    /// Times the video stopped while the audio went on, and the stream went on audio-only.
    pub video_lost: u64,
}

/// What a decoder must be set up for: the tracks a segment carries and their parameters.
/// RFC 8216 §4.3.2.3 asks for `#EXT-X-DISCONTINUITY` when the number or type of tracks or the
/// encoding parameters change.
#[derive(Debug, Clone, Default)]
struct Format {
    video: Option<VideoConfig>,
    audio: Option<AudioConfig>,
}

impl Format {
    /// How `next` differs from `self` for a decoder, if it does. Only the SPS counts for
    /// video (a PPS may change between pictures), only what ADTS carries for audio.
    fn change_to(&self, next: &Format) -> Option<String> {
        let mut changes = Vec::new();
        match (&self.video, &next.video) {
            (None, Some(v)) => changes.push(format!("video track appears ({})", describe_video(v))),
            (Some(_), None) => changes.push("video track gone".to_owned()),
            (Some(a), Some(b)) if a.sps != b.sps => changes.push(format!(
                "video {} -> {}",
                describe_video(a),
                describe_video(b)
            )),
            _ => {}
        }
        match (&self.audio, &next.audio) {
            (None, Some(a)) => changes.push(format!("audio track appears ({})", describe_audio(a))),
            (Some(_), None) => changes.push("audio track gone".to_owned()),
            (Some(a), Some(b)) if adts_params(a) != adts_params(b) => changes.push(format!(
                "audio {} -> {}",
                describe_audio(a),
                describe_audio(b)
            )),
            _ => {}
        }
        (!changes.is_empty()).then(|| changes.join(", "))
    }
}

fn describe_video(v: &VideoConfig) -> String {
    match (v.width, v.height) {
        (Some(w), Some(h)) => format!("{} {w}x{h}", v.codec),
        _ => v.codec.clone(),
    }
}

fn describe_audio(a: &AudioConfig) -> String {
    format!("{} {} Hz {} ch", a.codec, a.sample_rate, a.channels)
}

/// The AAC parameters that ADTS headers, and so the decoder, see.
fn adts_params(a: &AudioConfig) -> (u8, u8, u8) {
    (a.object_type, a.sampling_frequency_index, a.channels)
}

/// Audio that goes on this long (encoder timeline) after the last video frame means the video
/// track is gone: the stream goes on audio-only. Three targets, at least 6 s: far beyond any
/// audio/video interleaving skew.
fn video_gone_ms(target_ms: u32) -> i64 {
    (3 * i64::from(target_ms)).max(6000)
}

/// Log the first few drops of a kind, then every 1000th, so garbage at frame rate does not
/// flood the log while every kind still shows up.
fn should_log(count: u64) -> bool {
    count <= 5 || count.is_multiple_of(1000)
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
        let mut packager = Self {
            name,
            session,
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
            pending_cut: None,
            last_format: None,
            last_end: None,
            last_video_dts: None,
            stats: PackagerStats::default(),
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
        let live = |i: &&StreamIndex| {
            zonecast_contract::health::health(Some(i), now)
                == zonecast_contract::health::Health::Live
        };
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

    /// What was dropped or changed so far (see [`PackagerStats`]).
    pub fn stats(&self) -> PackagerStats {
        self.stats
    }

    /// Packages one RTMP video message (an FLV VIDEODATA body). A malformed or unsupported
    /// tag is dropped, counted and logged; `Err` only for a muxer bug.
    pub fn push_video(
        &mut self,
        timestamp: u32,
        body: &[u8],
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
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Vec<PackagerEffect>, PackagerError> {
        let dts = self.unwrapper.unwrap(timestamp);
        let events = self.demuxer.demux_audio(dts, body);
        self.on_tag(TagContext::Audio, timestamp, events, now)
    }

    fn on_tag(
        &mut self,
        kind: TagContext,
        timestamp: u32,
        events: Result<Vec<MediaEvent>, FlvError>,
        now: DateTime<Utc>,
    ) -> Result<Vec<PackagerEffect>, PackagerError> {
        let events = match events {
            Ok(events) => events,
            Err(e) => {
                self.drop_tag(kind, timestamp, &e);
                return Ok(Vec::new());
            }
        };
        let mut effects = Vec::new();
        for event in events {
            match event {
                MediaEvent::VideoConfig(c) => self.on_video_config(c),
                MediaEvent::AudioConfig(c) => self.on_audio_config(c),
                MediaEvent::Frame(frame) => self.on_frame(frame, now, &mut effects)?,
            }
        }
        Ok(effects)
    }

    /// Drops a tag the demuxer refused: counted, and logged with what finds it in a capture
    /// (stream, RTMP timestamp; the error has the dts and the body offset).
    fn drop_tag(&mut self, kind: TagContext, timestamp: u32, e: &FlvError) {
        let (counter, what) = if e.is_missing_config() {
            // Encoders send the configuration first; at most a frame or two at the start.
            (
                &mut self.stats.frames_before_config,
                "frame before its configuration",
            )
        } else if e.is_unsupported_codec() {
            (&mut self.stats.unsupported_tags, "unsupported codec")
        } else {
            (&mut self.stats.malformed_tags, "malformed tag")
        };
        *counter += 1;
        let count = *counter;
        if should_log(count) {
            tracing::warn!(
                stream = %self.name, %kind, timestamp, error = %e, dropped = count,
                "{what} dropped; the stream goes on"
            );
        }
    }

    fn on_video_config(&mut self, config: VideoConfig) {
        self.clock.expect_video();
        let sps_changed = self.video.as_ref().is_some_and(|v| v.sps != config.sps);
        if self.open.as_ref().is_some_and(|o| o.format.video.is_some()) {
            // Frames from here on use it (NAL length size, PPS before keyframes); a new SPS
            // starts a new coded video sequence, which gets its own segment.
            let _ = self.muxer.set_video_config(&config);
            if sps_changed {
                self.pending_cut = Some(format!(
                    "video parameters changed ({})",
                    describe_video(&config)
                ));
            }
        }
        self.video = Some(config);
    }

    fn on_audio_config(&mut self, config: AudioConfig) {
        if let Err(e) = AdtsTemplate::new(&config) {
            self.stats.unsupported_tags += 1;
            tracing::warn!(
                stream = %self.name, audio = %describe_audio(&config), error = %e,
                "AAC configuration cannot be carried in MPEG-TS; audio is dropped until a usable one"
            );
            self.audio = None;
            return;
        }
        let changed = self
            .audio
            .as_ref()
            .is_some_and(|a| adts_params(a) != adts_params(&config));
        if self.open.is_some() {
            // The track joins the open segment, or its later frames get the new ADTS header;
            // the PMT written at the end lists it.
            let _ = self.muxer.set_audio_config(&config);
            if changed && self.muxer.carried().audio && self.pending_cut.is_none() {
                self.pending_cut = Some(format!(
                    "audio parameters changed ({})",
                    describe_audio(&config)
                ));
            }
        }
        self.audio = Some(config);
    }

    /// Whether `frame` can start a segment under the clock's rules: a keyframe when the stream
    /// has video, any audio frame when it is audio-only.
    fn can_start_segment(&self, frame: &MediaFrame) -> bool {
        if self.clock.has_video() {
            frame.is_keyframe()
        } else {
            !frame.is_video()
        }
    }

    fn on_frame(
        &mut self,
        frame: MediaFrame,
        now: DateTime<Utc>,
        effects: &mut Vec<PackagerEffect>,
    ) -> Result<(), PackagerError> {
        let dts = frame.dts_ms();
        if !frame.is_video() && self.audio.is_none() {
            // Its configuration cannot be carried in MPEG-TS (logged when it came).
            self.stats.unsupported_tags += 1;
            return Ok(());
        }
        self.last_dts = Some(self.last_dts.map_or(dts, |d| d.max(dts)));
        if frame.is_video() {
            self.last_video_dts = Some(dts);
        } else if self.clock.has_video()
            && self.open.is_some()
            && self
                .last_video_dts
                .is_some_and(|v| dts.saturating_sub(v) > video_gone_ms(self.config.target_ms))
        {
            self.lose_video(dts, now, effects)?;
        }
        if self.pending_cut.is_some() && self.open.is_some() && self.can_start_segment(&frame) {
            self.cut_for_new_parameters(dts, now, effects)?;
        }
        let meta = FrameMeta {
            dts_ms: dts,
            is_video: frame.is_video(),
            keyframe: frame.is_keyframe(),
        };
        match self.clock.push(meta) {
            ClockDecision::Drop => return Ok(()),
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
                    self.close_segment(open, closed.duration_ms, StreamState::Live, now, effects)?;
                }
                self.open_segment(cut.msn, cut.timeline_ms, cut.discontinuity, now)?;
            }
        }
        if frame.is_video() {
            self.video_frames = Some(match self.video_frames {
                None => (dts, dts, 1),
                Some((first, last, n)) => (first, last.max(dts), n + 1),
            });
        }
        let Some(open) = self.open.as_mut() else {
            return Ok(());
        };
        if !frame.is_video() && open.format.audio.is_none() {
            open.format.audio = self.audio.clone();
        }
        match self.muxer.push_frame(&frame) {
            Ok(()) => Ok(()),
            Err(e) if e.is_internal() => Err(e.into()),
            Err(e) => {
                self.stats.malformed_tags += 1;
                if should_log(self.stats.malformed_tags) {
                    tracing::warn!(
                        stream = %self.name, dts_ms = dts, error = %e,
                        dropped = self.stats.malformed_tags,
                        "frame the TS muxer refused dropped; the stream goes on"
                    );
                }
                Ok(())
            }
        }
    }

    /// Starts segment `msn` at `timeline_ms` with the tracks known now.
    fn open_segment(
        &mut self,
        msn: u64,
        timeline_ms: i64,
        discontinuity: bool,
        now: DateTime<Utc>,
    ) -> Result<(), PackagerError> {
        // After a discontinuity (the encoder's timeline jumped, or parameters changed) the
        // wall clock carries on from where the last segment ended: deterministic, so both AZs
        // agree, and never backwards, whatever the new timestamps are.
        if let (true, Some(end)) = (discontinuity, self.last_end) {
            self.wall_anchor = Some((timeline_ms, end));
        }
        let (anchor_ts, anchor_wall) = *self.wall_anchor.get_or_insert((timeline_ms, now));
        let pdt = anchor_wall + chrono::Duration::milliseconds(timeline_ms - anchor_ts);
        if discontinuity {
            self.video_frames = None;
        }
        let video = self.video.as_ref().filter(|_| self.clock.has_video());
        self.muxer.begin_segment(video, self.audio.as_ref())?;
        self.pending_cut = None;
        self.open = Some(OpenSegment {
            msn,
            timeline_ms,
            discontinuity,
            program_date_time: pdt,
            format: Format {
                video: video.cloned(),
                audio: None,
            },
        });
        Ok(())
    }

    /// Codec parameters changed under the open segment: it ends here, at a frame that can
    /// start one, and the next segment (numbered on, with a discontinuity) starts with the new
    /// parameters. The segment clock's `finish` closes it and starts its numbering over at
    /// msn + 1 with a discontinuity, exactly as for a timeline jump.
    fn cut_for_new_parameters(
        &mut self,
        dts: i64,
        now: DateTime<Utc>,
        effects: &mut Vec<PackagerEffect>,
    ) -> Result<(), PackagerError> {
        let reason = self.pending_cut.take().unwrap_or_default();
        let (Some(open), Some(closed)) = (self.open.take(), self.clock.finish()) else {
            return Ok(());
        };
        tracing::info!(
            stream = %self.name, msn = open.msn, dts_ms = dts, %reason,
            "cutting a new segment for new codec parameters"
        );
        // Up to this frame, like any cut; the clock's estimate if the timeline jumped too.
        let exact = dts.saturating_sub(open.timeline_ms);
        let duration = u32::try_from(exact)
            .ok()
            .filter(|d| *d <= closed.duration_ms.saturating_add(self.config.target_ms))
            .unwrap_or(closed.duration_ms);
        self.close_segment(open, duration, StreamState::Live, now, effects)
    }

    /// The video stopped while the audio goes on: the open segment ends, and a fresh segment
    /// clock (numbering on, with a discontinuity) decides from the audio alone. Video that
    /// comes back makes the stream a video stream again at its first keyframe.
    fn lose_video(
        &mut self,
        dts: i64,
        now: DateTime<Utc>,
        effects: &mut Vec<PackagerEffect>,
    ) -> Result<(), PackagerError> {
        let (Some(open), Some(closed)) = (self.open.take(), self.clock.finish()) else {
            return Ok(());
        };
        self.stats.video_lost += 1;
        tracing::warn!(
            stream = %self.name, msn = open.msn, dts_ms = dts,
            last_video_dts_ms = ?self.last_video_dts,
            "video stopped while audio goes on; continuing audio-only"
        );
        let next = open.msn.saturating_add(1);
        self.close_segment(open, closed.duration_ms, StreamState::Live, now, effects)?;
        self.clock = SegmentClock::new(
            SegmentClockConfig {
                target_ms: self.config.target_ms,
                ..SegmentClockConfig::default()
            },
            ClockAnchor::Fresh {
                first_msn: next,
                discontinuity: true,
            },
        );
        self.last_video_dts = None;
        self.pending_cut = None;
        Ok(())
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
            discontinuity,
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

    /// Ends the publish: the last segment, then an index in state `ended`.
    pub fn finish(&mut self, now: DateTime<Utc>) -> Vec<PackagerEffect> {
        let mut effects = Vec::new();
        let closed = self.clock.finish();
        match (self.open.take(), closed) {
            (Some(open), Some(closed)) => {
                if let Err(e) = self.close_segment(
                    open,
                    closed.duration_ms,
                    StreamState::Ended,
                    now,
                    &mut effects,
                ) {
                    tracing::warn!(stream = %self.name, error = %e, "last segment lost at end of publish");
                }
            }
            _ => {
                if !self.window.is_empty() {
                    effects.push(PackagerEffect::PutIndex {
                        index: self.index(StreamState::Ended, now),
                    });
                }
            }
        }
        if effects.is_empty() && !self.window.is_empty() {
            effects.push(PackagerEffect::PutIndex {
                index: self.index(StreamState::Ended, now),
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
        let peak = self.window.iter().map(rate).max().unwrap_or(0);
        let (bytes, ms) = self.window.iter().fold((0u64, 0u64), |(b, d), s| {
            (b + s.bytes, d + u64::from(s.duration_ms))
        });
        let average = (bytes * 8 * 1000).checked_div(ms).unwrap_or(0);
        let resolution = video.and_then(|v| {
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
