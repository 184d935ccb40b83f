//! How the TS muxer interleaves audio with video, and its PIDs.

use super::{AUDIO_PID, PMT_PID, VIDEO_PID};

/// When pending AAC frames are written out, relative to video.
///
/// Grouping several AAC frames into one PES saves the PES header and, more importantly, the
/// stuffing of its last TS packet; but audio held back too long ends up far behind the video it
/// plays with in the byte stream, which costs players buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioInterleave {
    /// Pending audio is written before every video frame. Tightest interleave (audio never
    /// trails video by more than a frame interval), at the price of a part-stuffed TS packet
    /// per video frame: a few percent of overhead at low audio bitrates.
    EveryVideoFrame,
    /// Audio is held until `TsMuxerConfig::audio_group_ms` of it is pending; a video frame
    /// flushes it only once the pending audio began twice that before the video DTS (so it
    /// is written even when audio stops). These are nginx-rtmp's rules with its default
    /// `hls_max_audio_delay` of 300 ms (half of it on audio, all of it on video) at the
    /// default of 150 ms. Lower overhead; audio trails the video it plays with in the byte
    /// stream by about `audio_group_ms`, far less than any HLS player buffers.
    Grouped,
}

/// Muxer settings. The defaults are what the packager uses.
#[derive(Debug, Clone)]
pub struct TsMuxerConfig {
    /// Program number in the PAT/PMT.
    pub program_number: u16,
    /// PID of the PMT.
    pub pmt_pid: u16,
    /// PID of the H.264 stream.
    pub video_pid: u16,
    /// PID of the AAC stream.
    pub audio_pid: u16,
    /// At most this much audio (by timestamp span) goes into one PES.
    pub audio_group_ms: u32,
    /// When pending audio is flushed relative to video frames.
    pub audio_interleave: AudioInterleave,
}

impl Default for TsMuxerConfig {
    fn default() -> Self {
        Self {
            program_number: 1,
            pmt_pid: PMT_PID,
            video_pid: VIDEO_PID,
            audio_pid: AUDIO_PID,
            audio_group_ms: 150,
            audio_interleave: AudioInterleave::Grouped,
        }
    }
}
