//! MPEG-TS muxing (ISO/IEC 13818-1) of H.264 + AAC into HLS segments.
//!
//! [`TsMuxer`] is sans-IO and deterministic: it reads no clock and keeps no unordered state,
//! so two ingests fed the same frames produce byte-identical segments (DESIGN.md §4). It lives
//! for a whole publish; continuity counters carry across segments so that consecutive
//! segments concatenate into one valid transport stream.
//!
//! Layout follows common HLS practice (Apple HLS authoring spec, ffmpeg, nginx-rtmp): PAT and
//! PMT at the start of every segment, one program, H.264 on PID 0x100 and ADTS AAC on 0x101,
//! PCR carried by the video PID.

mod audio_group;
mod error;
mod muxer_config;
mod packets;
pub mod pes;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use bytes::Bytes;
use mpeg2ts::{
    es::{StreamId, StreamType},
    pes::PesHeader,
    time::Timestamp,
    ts::ContinuityCounter,
};

pub use error::TsError;
pub use muxer_config::{AudioInterleave, TsMuxerConfig};

use audio_group::PendingAudio;

use crate::media::frame::{AudioConfig, MediaFrame, VideoConfig};
use packets::{EsEntry, PesStartFlags};
use pes::{AccessUnit, AdtsTemplate, split_avcc};

/// PID of the H.264 elementary stream.
pub const VIDEO_PID: u16 = 0x100;
/// PID of the AAC elementary stream.
pub const AUDIO_PID: u16 = 0x101;
/// PID of the program map table.
pub const PMT_PID: u16 = 0x1000;

/// Largest audio PES payload: PES_packet_length is 16 bits and also counts the 8 bytes of
/// optional header (flags + PTS) that follow it (§2.4.3.7).
const MAX_AUDIO_PES_PAYLOAD: usize = u16::MAX as usize - 8;

/// RTMP timestamps are whole milliseconds, so consecutive AAC frames may look up to a
/// millisecond early or late; more than this is a real gap (or overlap) in the audio.
const AUDIO_JITTER_MS: i64 = 2;

/// 33-bit PTS/DTS (§2.4.3.7).
const TIMESTAMP_MODULO: i128 = 1 << 33;

/// Room for the PAT and the PMT at the start of a segment: one TS packet each.
const PSI_LEN: usize = 2 * 188;

/// Which tracks a segment has packets for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SegmentTracks {
    pub video: bool,
    pub audio: bool,
}

/// The open segment: its bytes so far (after room for the PAT and PMT), the tracks it may
/// carry and those it did.
struct Segment {
    out: Vec<u8>,
    /// The demuxer's instance, shared: its parameter sets go before every keyframe.
    video: Option<Arc<VideoConfig>>,
    audio: Option<AdtsTemplate>,
    audio_sample_rate: u32,
    carried: SegmentTracks,
}

/// Muxes [`MediaFrame`]s into MPEG-TS segments; see the module docs.
pub struct TsMuxer {
    config: TsMuxerConfig,
    pat_cc: ContinuityCounter,
    pmt_cc: ContinuityCounter,
    video_cc: ContinuityCounter,
    audio_cc: ContinuityCounter,
    segment: Option<Segment>,
    pending_audio: PendingAudio,
    /// Bytes of the last finished segment: the next one is about as large.
    last_segment_len: usize,
}

impl TsMuxer {
    /// A muxer for one publish: continuity counters start at 0 and run across segments.
    pub fn new(config: TsMuxerConfig) -> Self {
        Self {
            config,
            pat_cc: ContinuityCounter::new(),
            pmt_cc: ContinuityCounter::new(),
            video_cc: ContinuityCounter::new(),
            audio_cc: ContinuityCounter::new(),
            segment: None,
            pending_audio: PendingAudio::default(),
            last_segment_len: 0,
        }
    }

    /// Starts a segment with the tracks it may carry. The video configuration is shared,
    /// the audio one becomes an ADTS header template.
    ///
    /// The PAT and PMT go first in the segment but are written by [`TsMuxer::finish_segment`]
    /// into room kept for them, so that the PMT lists the tracks the segment actually carries:
    /// a track whose frames stopped, or one that joined mid-segment (see
    /// [`TsMuxer::set_audio_config`]), is listed exactly when it has packets.
    ///
    /// A segment still open is discarded (with its pending audio): the caller abandoned it.
    pub fn begin_segment(
        &mut self,
        video: Option<&Arc<VideoConfig>>,
        audio: Option<&Arc<AudioConfig>>,
    ) -> Result<(), TsError> {
        self.segment = None;
        self.pending_audio.data.clear();
        let adts = audio.map(|a| AdtsTemplate::new(a)).transpose()?;
        // Sized from the last segment: growing by doubling would copy the segment several
        // times and leave up to half of the allocation unused (the peak RSS per stream).
        let mut out = Vec::with_capacity(segment_capacity(self.last_segment_len));
        out.resize(PSI_LEN, 0);
        self.segment = Some(Segment {
            out,
            video: video.cloned(),
            audio: adts,
            audio_sample_rate: audio.map_or(0, |a| a.sample_rate),
            carried: SegmentTracks::default(),
        });
        Ok(())
    }

    /// Replaces the open segment's video configuration: the SPS/PPS repeated before its next
    /// keyframes. For a PPS that changed mid-segment; a new SPS should start a new segment.
    pub fn set_video_config(&mut self, video: &Arc<VideoConfig>) -> Result<(), TsError> {
        let Some(segment) = self.segment.as_mut() else {
            return Err(TsError::NoSegment { dts_ms: None });
        };
        segment.video = Some(video.clone());
        Ok(())
    }

    /// Gives the open segment an audio track with this configuration, or changes the one it
    /// has: audio pending under the old configuration is written first, and later frames get
    /// ADTS headers for the new one (ADTS is self-describing, frame by frame).
    pub fn set_audio_config(&mut self, audio: &AudioConfig) -> Result<(), TsError> {
        let adts = AdtsTemplate::new(audio)?;
        if self.segment.is_none() {
            return Err(TsError::NoSegment { dts_ms: None });
        }
        self.flush_audio()?;
        if let Some(segment) = self.segment.as_mut() {
            segment.audio = Some(adts);
            segment.audio_sample_rate = audio.sample_rate;
        }
        Ok(())
    }

    /// Which tracks the open segment has carried so far (empty without an open segment).
    pub fn carried(&self) -> SegmentTracks {
        self.segment
            .as_ref()
            .map_or_else(SegmentTracks::default, |s| s.carried)
    }

    /// Muxes one frame into the open segment. Video is written at once as one PES; audio is
    /// held and grouped (see [`AudioInterleave`]). A frame that fails validation (bad NAL
    /// lengths, oversized AAC frame, track missing) is an error and leaves the segment as it was.
    pub fn push_frame(&mut self, frame: &MediaFrame) -> Result<(), TsError> {
        let Some(segment) = self.segment.as_mut() else {
            return Err(TsError::NoSegment {
                dts_ms: Some(frame.dts_ms()),
            });
        };
        match frame {
            MediaFrame::Video {
                dts_ms,
                cts_ms,
                keyframe,
                data,
            } => {
                let Some(video) = segment.video.as_ref() else {
                    return Err(TsError::NoVideoTrack { dts_ms: *dts_ms });
                };
                // Validate before writing anything, so a bad frame leaves the segment
                // untouched; the NAL units stay slices of the RTMP message.
                let nals = split_avcc(data, video.nal_length_size, *dts_ms)?;
                if nals.is_empty() {
                    return Ok(());
                }
                let flush = !self.pending_audio.data.is_empty()
                    && match self.config.audio_interleave {
                        AudioInterleave::EveryVideoFrame => true,
                        AudioInterleave::Grouped => {
                            dts_ms.saturating_sub(self.pending_audio.first_dts_ms)
                                >= i64::from(self.config.audio_group_ms) * 2
                        }
                    };
                if flush {
                    self.flush_audio()?;
                }
                self.write_video(*dts_ms, *cts_ms, *keyframe, &nals)?;
                if let Some(segment) = self.segment.as_mut() {
                    segment.carried.video = true;
                }
                Ok(())
            }
            MediaFrame::Audio { dts_ms, data } => {
                let Some(adts) = segment.audio else {
                    return Err(TsError::NoAudioTrack { dts_ms: *dts_ms });
                };
                let header = adts.header(data.len(), *dts_ms)?;
                if self.audio_needs_flush_before(*dts_ms, header.len() + data.len()) {
                    self.flush_audio()?;
                }
                let pending = &mut self.pending_audio;
                if pending.data.is_empty() {
                    pending.first_dts_ms = *dts_ms;
                    pending.frames = 0;
                }
                pending.data.extend_from_slice(&header);
                pending.data.extend_from_slice(data);
                pending.frames += 1;
                if let Some(segment) = self.segment.as_mut() {
                    segment.carried.audio = true;
                }
                Ok(())
            }
        }
    }

    /// Flushes pending audio, writes the PAT and PMT at the start, and returns the segment's
    /// bytes (a multiple of 188).
    ///
    /// The PMT lists the tracks that have packets in the segment; a segment without any frame
    /// lists the tracks it was begun with. The PCR is on the video PID when video is listed,
    /// else on the audio PID (whose PES then carry it, see `flush_audio`).
    pub fn finish_segment(&mut self) -> Result<Bytes, TsError> {
        if self.segment.is_none() {
            return Err(TsError::NoSegment { dts_ms: None });
        }
        let flushed = self.flush_audio();
        let segment = self.segment.take();
        flushed?;
        let Some(mut segment) = segment else {
            return Ok(Bytes::new());
        };
        let carried = segment.carried;
        let (video, audio) = if carried.video || carried.audio {
            (carried.video, carried.audio)
        } else {
            (segment.video.is_some(), segment.audio.is_some())
        };
        let mut streams = Vec::with_capacity(2);
        if video {
            streams.push(EsEntry {
                pid: self.config.video_pid,
                stream_type: StreamType::H264,
            });
        }
        if audio {
            streams.push(EsEntry {
                pid: self.config.audio_pid,
                stream_type: StreamType::AdtsAac,
            });
        }
        let pcr_pid = if video || !audio {
            self.config.video_pid
        } else {
            self.config.audio_pid
        };
        let mut psi = Vec::with_capacity(PSI_LEN);
        packets::write_pat(
            &mut psi,
            &mut self.pat_cc,
            self.config.program_number,
            self.config.pmt_pid,
        )?;
        packets::write_pmt(
            &mut psi,
            &mut self.pmt_cc,
            self.config.program_number,
            self.config.pmt_pid,
            pcr_pid,
            &streams,
        )?;
        match segment.out.get_mut(..PSI_LEN) {
            Some(room) if psi.len() == PSI_LEN => room.copy_from_slice(&psi),
            // One packet each, always; anything else is a bug in the packet writer.
            _ => {
                return Err(TsError::PsiSize { len: psi.len() });
            }
        }
        self.last_segment_len = segment.out.len();
        Ok(Bytes::from(segment.out))
    }

    fn write_video(
        &mut self,
        dts_ms: i64,
        cts_ms: i32,
        keyframe: bool,
        nals: &[&[u8]],
    ) -> Result<(), TsError> {
        let Some(segment) = self.segment.as_mut() else {
            return Err(TsError::NoSegment {
                dts_ms: Some(dts_ms),
            });
        };
        let Some(video) = segment.video.as_ref() else {
            return Err(TsError::NoVideoTrack { dts_ms });
        };
        let access_unit = AccessUnit::annex_b(video, nals, keyframe);
        let dts = ts90(dts_ms);
        // A negative composition offset would put PTS before DTS, which §2.7.5 forbids; the
        // frame is then decoded at its presentation time.
        let pts = if cts_ms > 0 {
            ts90(dts_ms.saturating_add(i64::from(cts_ms)))
        } else {
            dts
        };
        let header = PesHeader {
            stream_id: StreamId::new(StreamId::VIDEO_MIN),
            priority: false,
            data_alignment_indicator: true,
            copyright: false,
            original_or_copy: false,
            pts: Some(timestamp(pts, self.config.video_pid)?),
            dts: if dts != pts {
                Some(timestamp(dts, self.config.video_pid)?)
            } else {
                None
            },
            escr: None,
        };
        // PCR = DTS: deterministic, monotonic with the decode order, and each access unit
        // carries one, well within the 100 ms PCR interval of §2.7.2 at any frame rate HLS
        // uses.
        let flags = PesStartFlags {
            pcr: Some(dts * 300),
            random_access: keyframe,
        };
        packets::write_pes(
            &mut segment.out,
            self.config.video_pid,
            &mut self.video_cc,
            header,
            0,
            access_unit.pieces(),
            flags,
        )
    }
}

/// Room for a segment after one of `last_len` bytes: that plus an eighth for bitrate swings
/// (at least 64 KiB).
fn segment_capacity(last_len: usize) -> usize {
    (last_len + last_len / 8).max(64 * 1024)
}

/// Milliseconds on the encoder timeline to the 90 kHz clock, wrapped to 33 bits (§2.4.3.7).
fn ts90(ms: i64) -> u64 {
    // In range: the result is below 2^33.
    (i128::from(ms) * 90).rem_euclid(TIMESTAMP_MODULO) as u64
}

fn timestamp(value: u64, pid: u16) -> Result<Timestamp, TsError> {
    Timestamp::new(value).map_err(|source| TsError::Mux { pid, source })
}
