//! What the packager knows about the shape of a stream: the tracks and codec parameters a
//! segment carries (and when they change), and what it dropped along the way.

use std::sync::Arc;

use crate::media::frame::{AudioConfig, VideoConfig};

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
pub(super) struct Format {
    pub(super) video: Option<Arc<VideoConfig>>,
    pub(super) audio: Option<Arc<AudioConfig>>,
}

impl Format {
    /// How `next` differs from `self` for a decoder, if it does. Only the SPS counts for
    /// video (a PPS may change between pictures), only what ADTS carries for audio.
    pub(super) fn change_to(&self, next: &Format) -> Option<String> {
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

pub(super) fn describe_video(v: &VideoConfig) -> String {
    match (v.width, v.height) {
        (Some(w), Some(h)) => format!("{} {w}x{h}", v.codec),
        _ => v.codec.clone(),
    }
}

pub(super) fn describe_audio(a: &AudioConfig) -> String {
    format!("{} {} Hz {} ch", a.codec, a.sample_rate, a.channels)
}

/// The AAC parameters that ADTS headers, and so the decoder, see.
pub(super) fn adts_params(a: &AudioConfig) -> (u8, u8, u8) {
    (a.object_type, a.sampling_frequency_index, a.channels)
}

/// Audio that goes on this long (encoder timeline) after the last video frame means the video
/// track is gone: the stream goes on audio-only. Three targets, at least 6 s: far beyond any
/// audio/video interleaving skew.
pub(super) fn video_gone_ms(target_ms: u32) -> i64 {
    (3 * i64::from(target_ms)).max(6000)
}

/// Log the first few drops of a kind, then every 1000th, so garbage at frame rate does not
/// flood the log while every kind still shows up.
pub(super) fn should_log(count: u64) -> bool {
    count <= 5 || count.is_multiple_of(1000)
}
