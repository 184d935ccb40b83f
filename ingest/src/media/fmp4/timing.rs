//! Encoder-timeline milliseconds to track timescales: exact for video (90 kHz), on the
//! 1024-sample AAC frame grid for audio (see the module docs of [`super`]).

use super::{AAC_FRAME_SAMPLES, Fmp4Error, Track, VIDEO_TIMESCALE};

/// A video DTS on the 90 kHz timescale: exactly `dts_ms × 90`.
pub fn video_ticks(dts_ms: i64) -> Result<u64, Fmp4Error> {
    let ms = u64::try_from(dts_ms).map_err(|_| Fmp4Error::NegativeDts {
        track: Track::Video,
        dts_ms,
    })?;
    ms.checked_mul(u64::from(VIDEO_TIMESCALE / 1000))
        .ok_or(Fmp4Error::TimestampOverflow {
            track: Track::Video,
            dts_ms,
        })
}

/// Where AAC frames start on the audio timescale: at `offset + n × 1024` samples from the
/// encoder timeline's origin, for whole `n`. The offset is the stream's: all segments of a
/// publish session (in both AZs) must use the same one to get the same bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct AudioGrid {
    offset: u16,
}

impl AudioGrid {
    /// Frames start at multiples of 1024 samples from the timeline's origin: right for audio
    /// that starts at 0; otherwise frames are placed up to half a frame off their DTS.
    pub const ZERO: AudioGrid = AudioGrid { offset: 0 };

    /// A grid with frames starting `offset` samples (taken modulo 1024) after multiples of 1024.
    pub fn new(offset: u32) -> Self {
        Self {
            offset: (offset % AAC_FRAME_SAMPLES) as u16,
        }
    }

    /// The grid through the sample nearest to a frame's DTS: from the first audio frame of a
    /// publish session, whose position it fixes to within RTMP's millisecond (a negative DTS
    /// counts from the origin all the same: the offset is taken modulo 1024).
    pub fn from_first_frame(dts_ms: i64, sample_rate: u32) -> Self {
        let samples = (2 * i128::from(dts_ms) * i128::from(sample_rate) + 1000).div_euclid(2000);
        Self::new(samples.rem_euclid(i128::from(AAC_FRAME_SAMPLES)) as u32)
    }

    /// Offset of the frame starts, in samples (0–1023).
    pub fn offset(self) -> u32 {
        u32::from(self.offset)
    }

    /// The grid step nearest to `dts_ms`: `round((dts_ms × rate / 1000 − offset) / 1024)`,
    /// halves rounded up, in integers (every platform gets the same answer).
    pub fn frame_index(self, dts_ms: i64, sample_rate: u32) -> Result<u64, Fmp4Error> {
        let step = 1000 * i128::from(AAC_FRAME_SAMPLES);
        let scaled = i128::from(dts_ms) * i128::from(sample_rate) - 1000 * i128::from(self.offset);
        let index = (2 * scaled + step).div_euclid(2 * step);
        if index < 0 {
            return Err(Fmp4Error::NegativeDts {
                track: Track::Audio,
                dts_ms,
            });
        }
        u64::try_from(index).map_err(|_| Fmp4Error::TimestampOverflow {
            track: Track::Audio,
            dts_ms,
        })
    }

    /// Where grid step `index` starts on the audio timescale: `offset + index × 1024`.
    pub fn ticks(self, index: u64, dts_ms: i64) -> Result<u64, Fmp4Error> {
        index
            .checked_mul(u64::from(AAC_FRAME_SAMPLES))
            .and_then(|t| t.checked_add(u64::from(self.offset)))
            .ok_or(Fmp4Error::TimestampOverflow {
                track: Track::Audio,
                dts_ms,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_recovers_the_encoders_frame_positions() {
        // ffmpeg's FLV fixture: AAC at 48 kHz starting 2816 samples in (58.67 ms → 59 ms).
        let grid = AudioGrid::from_first_frame(59, 48_000);
        assert_eq!(
            grid.offset(),
            2832 % 1024,
            "within RTMP's millisecond of 768"
        );
        for n in 0..1000u64 {
            let exact = 2816 + n * 1024;
            for dts in [exact * 1000 / 48_000, (exact * 1000).div_ceil(48_000)] {
                let index = grid.frame_index(dts as i64, 48_000).unwrap();
                assert_eq!(index, n + 2, "frame {n} at {dts} ms");
            }
        }
        assert_eq!(AudioGrid::new(1024 + 5).offset(), 5);
        assert_eq!(AudioGrid::from_first_frame(-1, 48_000).offset(), 1024 - 48);
        assert!(matches!(
            AudioGrid::new(1000).frame_index(0, 48_000),
            Err(Fmp4Error::NegativeDts { .. })
        ));
        assert_eq!(AudioGrid::new(7).ticks(3, 0).unwrap(), 3 * 1024 + 7);
        assert_eq!(video_ticks(1001).unwrap(), 90_090);
        assert!(matches!(
            video_ticks(i64::MAX),
            Err(Fmp4Error::TimestampOverflow { .. })
        ));
    }
}
