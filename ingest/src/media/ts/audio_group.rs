//! Grouping AAC frames into one PES (nginx-rtmp's rules): which frames wait, and writing them
//! out.

use super::*;

/// AAC frames waiting to be written as one PES.
#[derive(Default)]
pub(super) struct PendingAudio {
    /// ADTS frames, concatenated.
    pub(super) data: Vec<u8>,
    pub(super) first_dts_ms: i64,
    pub(super) frames: u32,
}

impl TsMuxer {
    /// Whether the pending audio must be written before a frame at `dts_ms` of `len` bytes
    /// (ADTS header included) is added: the group is full (by time or PES size), or the new
    /// frame does not follow on, in which case the decoder would infer a wrong timestamp for it
    /// (only the first frame of a PES has an explicit PTS).
    pub(super) fn audio_needs_flush_before(&self, dts_ms: i64, len: usize) -> bool {
        let pending = &self.pending_audio;
        if pending.data.is_empty() {
            return false;
        }
        let span = dts_ms.saturating_sub(pending.first_dts_ms);
        if span >= i64::from(self.config.audio_group_ms) || span < 0 {
            return true;
        }
        if pending.data.len() + len > MAX_AUDIO_PES_PAYLOAD {
            return true;
        }
        let sample_rate = self.segment.as_ref().map_or(0, |s| s.audio_sample_rate);
        if sample_rate > 0 {
            // 1024 samples per AAC frame (960-sample framing is not used over RTMP).
            let expected = i64::from(pending.frames) * 1024 * 1000 / i64::from(sample_rate);
            if (span - expected).abs() > AUDIO_JITTER_MS {
                return true;
            }
        }
        false
    }

    /// Writes the pending AAC frames as one PES, PTS of the first (§2.7.4: later frames'
    /// times follow from the 1024-sample frame duration).
    pub(super) fn flush_audio(&mut self) -> Result<(), TsError> {
        if self.pending_audio.data.is_empty() {
            return Ok(());
        }
        // The buffer is kept for the next group: cleared, not dropped.
        let pending = &mut self.pending_audio;
        let Some(segment) = self.segment.as_mut() else {
            pending.data.clear();
            return Ok(());
        };
        let pts = ts90(pending.first_dts_ms);
        let header = PesHeader {
            stream_id: StreamId::new(StreamId::AUDIO_MIN),
            priority: false,
            data_alignment_indicator: true,
            copyright: false,
            original_or_copy: false,
            pts: Some(timestamp(pts, self.config.audio_pid)?),
            dts: None,
            escr: None,
        };
        // Audio carries the PCR only in an audio-only program (no video packet in the segment:
        // a video segment starts with its keyframe); every AAC frame is a random access point,
        // which matters to a player only when there is no video.
        let audio_only = !segment.carried.video;
        let flags = PesStartFlags {
            pcr: audio_only.then_some(pts * 300),
            random_access: audio_only,
        };
        // Checked by `audio_needs_flush_before`.
        let pes_packet_len = u16::try_from(pending.data.len() + 8).unwrap_or(0);
        let written = packets::write_pes(
            &mut segment.out,
            self.config.audio_pid,
            &mut self.audio_cc,
            header,
            pes_packet_len,
            &[&pending.data],
            flags,
        );
        pending.data.clear();
        written
    }
}
