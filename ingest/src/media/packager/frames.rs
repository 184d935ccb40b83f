//! The media path of the packager: demuxed events in, segments cut and muxed, whatever shape
//! the stream takes (tracks that come, go or change parameters; timestamps that jump;
//! malformed or unsupported tags, which are dropped and counted).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use zonecast_contract::StreamState;

use super::{
    OpenSegment, Packager, PackagerEffect, PackagerError,
    shape::{Format, adts_params, describe_audio, describe_video, should_log, video_gone_ms},
};
use crate::{
    media::clock::{ClockAnchor, ClockDecision, FrameMeta, SegmentClock, SegmentClockConfig},
    media::flv::{FlvError, TagContext},
    media::frame::{AudioConfig, MediaEvent, MediaFrame, VideoConfig},
    media::ts::pes::AdtsTemplate,
};

impl Packager {
    pub(super) fn on_tag(
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

    fn on_video_config(&mut self, config: Arc<VideoConfig>) {
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

    fn on_audio_config(&mut self, config: Arc<AudioConfig>) {
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
                        self.window.set_discontinuity_sequence(count);
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
}
