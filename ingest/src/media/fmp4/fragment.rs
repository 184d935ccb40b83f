//! Media segments: one `moof` (§8.8.4) with a `traf` per track, then one `mdat` (§8.1.1) with
//! the video samples followed by the audio samples.

use bytes::{BufMut, Bytes};

use super::boxes::{write_box, write_full_box};
use super::traf::{Run, write_traf};
use super::{
    AAC_FRAME_SAMPLES, AUDIO_TRACK_ID, AudioGrid, FALLBACK_VIDEO_DURATION, Fmp4Error, Track,
    VIDEO_TIMESCALE, VIDEO_TRACK_ID, video_ticks,
};
use crate::media::flv::h264::split_avcc;
use crate::media::frame::{AudioConfig, MediaFrame, VideoConfig};

/// Sample flags (§8.8.3.1) of a sync sample: depends on no other sample.
pub const SYNC_SAMPLE_FLAGS: u32 = 0x0200_0000;
/// Sample flags of a non-sync sample: depends on others, `sample_is_non_sync_sample` set.
pub const NON_SYNC_SAMPLE_FLAGS: u32 = 0x0101_0000;

/// Ticks of 90 kHz per millisecond.
const TICKS_PER_MS: i64 = (VIDEO_TIMESCALE / 1000) as i64;

struct VideoSample {
    dts_ms: i64,
    /// Composition offset in 90 kHz ticks (checked to fit trun's i32).
    cts: i32,
    keyframe: bool,
    data: Bytes,
}

struct AudioSample {
    /// The frame's step on the 1024-sample grid ([`AudioGrid::frame_index`]).
    index: u64,
    data: Bytes,
}

struct VideoTrack {
    nal_length_size: u8,
    /// Duration of a lone sample whose end is unknown: one frame at the SPS frame rate.
    lone_duration: u32,
    samples: Vec<VideoSample>,
}

struct AudioTrack {
    sample_rate: u32,
    grid: AudioGrid,
    samples: Vec<AudioSample>,
}

/// Collects one segment's frames and writes its `moof` + `mdat`; see the module docs of
/// [`super`] for timescales, rounding and the last sample's duration.
///
/// The builder only records frames ([`FragmentBuilder::push_frame`] validates each one and
/// refuses a bad one without changing anything); [`FragmentBuilder::finish`] writes the bytes
/// and may be called again with the same result.
pub struct FragmentBuilder {
    sequence_number: u32,
    video: Option<VideoTrack>,
    audio: Option<AudioTrack>,
}

impl FragmentBuilder {
    /// A segment with media sequence number `msn` (its `mfhd.sequence_number`, §8.8.5) and
    /// the tracks of the init segment it belongs to; audio frames are placed on `grid`, the
    /// publish session's (see the module docs of [`super`]).
    pub fn new(
        msn: u64,
        video: Option<&VideoConfig>,
        audio: Option<&AudioConfig>,
        grid: AudioGrid,
    ) -> Result<Self, Fmp4Error> {
        let sequence_number =
            u32::try_from(msn).map_err(|_| Fmp4Error::SequenceNumberTooLarge { msn })?;
        let video = match video {
            Some(v) if !matches!(v.nal_length_size, 1 | 2 | 4) => {
                return Err(Fmp4Error::InvalidNalLengthSize {
                    nal_length_size: v.nal_length_size,
                });
            }
            Some(v) => Some(VideoTrack {
                nal_length_size: v.nal_length_size,
                lone_duration: frame_duration(v.frame_rate_milli),
                samples: Vec::new(),
            }),
            None => None,
        };
        let audio = match audio {
            Some(a) if a.sample_rate == 0 => return Err(Fmp4Error::ZeroSampleRate),
            Some(a) => Some(AudioTrack {
                sample_rate: a.sample_rate,
                grid,
                samples: Vec::new(),
            }),
            None => None,
        };
        Ok(Self {
            sequence_number,
            video,
            audio,
        })
    }

    /// How many frames the segment holds.
    pub fn len(&self) -> usize {
        self.video.as_ref().map_or(0, |v| v.samples.len())
            + self.audio.as_ref().map_or(0, |a| a.samples.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds a frame. Video frames must come in decode order (DTS not decreasing); audio
    /// frames are placed on the 1024-sample grid. A refused frame leaves the builder as it was.
    pub fn push_frame(&mut self, frame: &MediaFrame) -> Result<(), Fmp4Error> {
        match frame {
            MediaFrame::Video {
                dts_ms,
                cts_ms,
                keyframe,
                data,
            } => {
                let dts_ms = *dts_ms;
                let Some(track) = self.video.as_mut() else {
                    return Err(Fmp4Error::NoTrack {
                        track: Track::Video,
                        dts_ms,
                    });
                };
                video_ticks(dts_ms)?;
                if let Some(previous) = track.samples.last() {
                    let gap_ms = dts_ms.saturating_sub(previous.dts_ms);
                    if gap_ms < 0 {
                        return Err(Fmp4Error::DtsBackwards {
                            dts_ms,
                            previous_dts_ms: previous.dts_ms,
                        });
                    }
                    if u32::try_from(gap_ms.saturating_mul(TICKS_PER_MS)).is_err() {
                        return Err(Fmp4Error::DurationOverflow {
                            track: Track::Video,
                            dts_ms,
                            gap_ms,
                        });
                    }
                }
                let cts = i32::try_from(i64::from(*cts_ms) * TICKS_PER_MS).map_err(|_| {
                    Fmp4Error::CompositionOffsetOverflow {
                        dts_ms,
                        cts_ms: *cts_ms,
                    }
                })?;
                split_avcc(data, track.nal_length_size).map_err(|e| Fmp4Error::BadNalUnit {
                    dts_ms,
                    offset: e.offset(),
                    reason: e.to_string(),
                })?;
                check_sample_size(data, dts_ms)?;
                track.samples.push(VideoSample {
                    dts_ms,
                    cts,
                    keyframe: *keyframe,
                    data: data.clone(),
                });
                Ok(())
            }
            MediaFrame::Audio { dts_ms, data } => {
                let dts_ms = *dts_ms;
                let Some(track) = self.audio.as_mut() else {
                    return Err(Fmp4Error::NoTrack {
                        track: Track::Audio,
                        dts_ms,
                    });
                };
                let index = track.grid.frame_index(dts_ms, track.sample_rate)?;
                track.grid.ticks(index, dts_ms)?;
                if let Some(previous) = track.samples.last() {
                    // A gap becomes the previous sample's duration (see `audio_run`).
                    let gap = index.saturating_sub(previous.index);
                    if gap.saturating_mul(u64::from(AAC_FRAME_SAMPLES)) > u64::from(u32::MAX) {
                        let samples = i128::from(gap) * i128::from(AAC_FRAME_SAMPLES);
                        let gap_ms = samples * 1000 / i128::from(track.sample_rate);
                        return Err(Fmp4Error::DurationOverflow {
                            track: Track::Audio,
                            dts_ms,
                            gap_ms: i64::try_from(gap_ms).unwrap_or(i64::MAX),
                        });
                    }
                }
                check_sample_size(data, dts_ms)?;
                track.samples.push(AudioSample {
                    index,
                    data: data.clone(),
                });
                Ok(())
            }
        }
    }

    /// The segment's bytes: `moof` then `mdat`. `end_dts_ms` is where the segment ends on the
    /// encoder timeline (the DTS of the next segment's first frame) when the caller knows it:
    /// the last video sample lasts until then. Without it, or when it is not after the last
    /// video DTS, the last video sample lasts as long as the one before it (a lone sample: one
    /// frame at the SPS frame rate, else [`FALLBACK_VIDEO_DURATION`]).
    pub fn finish(&self, end_dts_ms: Option<i64>) -> Result<Bytes, Fmp4Error> {
        let mut runs = Vec::with_capacity(2);
        if let Some(run) = self.video.as_ref().and_then(|v| video_run(v, end_dts_ms)) {
            runs.push(run?);
        }
        if let Some(run) = self.audio.as_ref().and_then(audio_run) {
            runs.push(run?);
        }
        let payload: usize = runs
            .iter()
            .flat_map(|r| r.data.iter().map(|d| d.len()))
            .sum();
        let samples: usize = runs.iter().map(|r| r.durations.len()).sum();
        let mut out = Vec::with_capacity(64 + runs.len() * 96 + samples * 16 + 8 + payload);
        // Where each trun's data_offset goes, patched once the moof's size is known.
        let mut offset_slots = Vec::with_capacity(runs.len());
        write_box(&mut out, b"moof", |out| {
            write_full_box(out, b"mfhd", 0, 0, |out| {
                out.put_u32(self.sequence_number);
                Ok(())
            })?;
            for run in &runs {
                offset_slots.push(write_traf(out, run)?);
            }
            Ok(())
        })?;
        let mut data_offset = out.len() + 8;
        for (run, slot) in runs.iter().zip(offset_slots) {
            let value = i32::try_from(data_offset).map_err(|_| Fmp4Error::TooLarge {
                what: "data offset",
                len: data_offset,
                dts_ms: None,
            })?;
            if let Some(dst) = out.get_mut(slot..slot + 4) {
                dst.copy_from_slice(&value.to_be_bytes());
            }
            data_offset += run.data.iter().map(|d| d.len()).sum::<usize>();
        }
        write_box(&mut out, b"mdat", |out| {
            for data in runs.iter().flat_map(|r| r.data.iter()) {
                out.put_slice(data);
            }
            Ok(())
        })?;
        Ok(Bytes::from(out))
    }
}

/// A video frame's duration at the SPS frame rate (`frame_rate_milli` = fps × 1000), rounded
/// to the nearest tick; [`FALLBACK_VIDEO_DURATION`] without one.
fn frame_duration(frame_rate_milli: Option<u32>) -> u32 {
    match frame_rate_milli {
        Some(rate) if rate > 0 => {
            let ticks =
                (u64::from(VIDEO_TIMESCALE) * 1000 * 2 + u64::from(rate)) / (2 * u64::from(rate));
            u32::try_from(ticks)
                .unwrap_or(FALLBACK_VIDEO_DURATION)
                .max(1)
        }
        _ => FALLBACK_VIDEO_DURATION,
    }
}

fn check_sample_size(data: &Bytes, dts_ms: i64) -> Result<(), Fmp4Error> {
    match u32::try_from(data.len()) {
        Ok(_) => Ok(()),
        Err(_) => Err(Fmp4Error::TooLarge {
            what: "sample",
            len: data.len(),
            dts_ms: Some(dts_ms),
        }),
    }
}

fn video_run(track: &VideoTrack, end_dts_ms: Option<i64>) -> Option<Result<Run<'_>, Fmp4Error>> {
    let first = track.samples.first()?;
    let base = match video_ticks(first.dts_ms) {
        Ok(base) => base,
        Err(e) => return Some(Err(e)),
    };
    // Gaps were checked to fit u32 ticks on push.
    let ticks = |from: i64, to: i64| {
        u32::try_from(to.saturating_sub(from).saturating_mul(TICKS_PER_MS)).unwrap_or(0)
    };
    let mut durations: Vec<u32> = track
        .samples
        .windows(2)
        .map(|w| ticks(w[0].dts_ms, w[1].dts_ms))
        .collect();
    let last_dts = track.samples.last().map_or(first.dts_ms, |s| s.dts_ms);
    let last = match end_dts_ms {
        Some(end) if end > last_dts => {
            u32::try_from(end.saturating_sub(last_dts).saturating_mul(TICKS_PER_MS)).ok()
        }
        _ => None,
    }
    .or_else(|| durations.last().copied())
    .unwrap_or(track.lone_duration);
    durations.push(last);
    let offsets: Vec<i32> = if track.samples.iter().all(|s| s.cts == 0) {
        Vec::new()
    } else {
        track.samples.iter().map(|s| s.cts).collect()
    };
    Some(Ok(Run {
        track_id: VIDEO_TRACK_ID,
        base_media_decode_time: base,
        durations,
        flags: track
            .samples
            .iter()
            .map(|s| {
                if s.keyframe {
                    SYNC_SAMPLE_FLAGS
                } else {
                    NON_SYNC_SAMPLE_FLAGS
                }
            })
            .collect(),
        offsets,
        data: track.samples.iter().map(|s| &s.data).collect(),
    }))
}

/// Audio samples are 1024 long from the first frame's grid position; when the next frame's
/// grid position is further on (a gap in the audio), the sample before it lasts until there,
/// in whole frames, so later frames keep their place. A frame at or before the running
/// position (duplicate or overlapping timestamps) follows the previous one directly.
fn audio_run(track: &AudioTrack) -> Option<Result<Run<'_>, Fmp4Error>> {
    let first = track.samples.first()?;
    let frame = u64::from(AAC_FRAME_SAMPLES);
    let mut position = first.index;
    let mut durations = Vec::with_capacity(track.samples.len());
    for next in track.samples.iter().skip(1) {
        let frames = next.index.saturating_sub(position).max(1);
        // Gaps were checked on push to fit u32 samples.
        durations.push(u32::try_from(frames * frame).unwrap_or(AAC_FRAME_SAMPLES));
        position = position.saturating_add(frames);
    }
    durations.push(AAC_FRAME_SAMPLES);
    let base = match track.grid.ticks(first.index, 0) {
        Ok(base) => base,
        Err(e) => return Some(Err(e)),
    };
    Some(Ok(Run {
        track_id: AUDIO_TRACK_ID,
        base_media_decode_time: base,
        durations,
        flags: vec![SYNC_SAMPLE_FLAGS; track.samples.len()],
        offsets: Vec::new(),
        data: track.samples.iter().map(|s| &s.data).collect(),
    }))
}
