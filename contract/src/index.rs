//! The index document: what an ingest has made ready in S3 for one stream in one AZ.
//!
//! Written by the ingest to `<az>/<app>/<stream>/index.json` (a rendition's to
//! `<az>/<app>/<stream>/<rendition>/index.json`) after the segments it names are
//! uploaded (segment first, index second: DESIGN.md §3), read by the playlist functions.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Az, StreamName};

/// Version of the index document format; bumped on incompatible changes.
pub const INDEX_VERSION: u32 = 2;

/// Where one AZ's copy of a stream is in its life (DESIGN.md §4, §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamState {
    /// Publishing; new segments keep coming.
    Live,
    /// The publisher went away less than the reconnect grace period ago. The ingest keeps
    /// rewriting the index (a heartbeat) so the AZ stays fresh, and the playlist stays live
    /// (no ENDLIST) so players keep reloading and play on after the encoder reconnects.
    Waiting,
    /// This AZ's ingest is shutting down (SIGTERM: deploy, instance replacement). Its last
    /// segments are uploaded; the AZ is dead for the liveness rule at once, so viewers move to
    /// the peer, which carries on. Not `Ended`: the publisher did not stop.
    Draining,
    /// The publisher stopped (and did not come back within the grace period); the playlist
    /// gets `#EXT-X-ENDLIST`.
    Ended,
}

/// Codec facts taken from the bitstream, for the multivariant playlist's `EXT-X-STREAM-INF`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamInfo {
    /// RFC 6381 CODECS list, e.g. `avc1.64001f,mp4a.40.2`.
    pub codecs: String,
    /// Picture size, when there is video and its SPS parsed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<Resolution>,
    /// Peak segment bit rate in bits per second (RFC 8216 §4.3.4.2 BANDWIDTH).
    pub bandwidth: u64,
    /// Average segment bit rate in bits per second (AVERAGE-BANDWIDTH).
    pub average_bandwidth: u64,
    /// Frames per second, when measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_rate: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resolution {
    pub width: u32,
    pub height: u32,
}

/// One segment of the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexSegment {
    /// Media sequence number; also the object name (`<msn>.ts`).
    pub msn: u64,
    /// Duration in milliseconds on the encoder timeline.
    pub duration_ms: u32,
    /// Start of the segment on the encoder timeline (unwrapped RTMP milliseconds). Lets an
    /// ingest that joins late learn the timeline-to-number mapping (DESIGN.md §4).
    pub timeline_ms: i64,
    /// Wall-clock time of the segment's first frame (`#EXT-X-PROGRAM-DATE-TIME`).
    pub program_date_time: DateTime<Utc>,
    /// `#EXT-X-DISCONTINUITY` before this segment.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub discontinuity: bool,
    /// Size of the object in bytes.
    pub bytes: u64,
}

/// The whole index document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamIndex {
    pub version: u32,
    pub az: Az,
    pub app: String,
    pub stream: String,
    /// The rendition, for a stream published at several qualities; absent for a plain stream
    /// (whose document is unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rendition: Option<String>,
    /// Identifies one publish session (one encoder connection's timeline).
    pub session: String,
    /// The AZ's numbering epoch: Unix milliseconds of the moment this AZ started numbering the
    /// stream with no index of its own to continue from. It is part of every segment's key
    /// (`<epoch>-<msn>.ts`) and carried over by every later publish that finds this index, so
    /// a segment URL never names other content, even after retention deleted every object of
    /// the stream and its numbers start again (segments are cached as immutable for a year).
    pub epoch: u64,
    pub state: StreamState,
    /// When the ingest wrote this document.
    pub updated: DateTime<Utc>,
    /// Configured target duration in milliseconds (the cut interval).
    pub target_duration_ms: u32,
    /// `#EXT-X-DISCONTINUITY-SEQUENCE` of the first segment in the window.
    pub discontinuity_sequence: u64,
    pub info: StreamInfo,
    /// The window, oldest first, consecutive msns.
    pub segments: Vec<IndexSegment>,
}

impl StreamIndex {
    /// The stream's name, with its rendition if it is one.
    pub fn name(&self) -> Result<StreamName, crate::NameError> {
        let name = StreamName::new(&self.app, &self.stream)?;
        match &self.rendition {
            Some(r) => name.with_rendition(r),
            None => Ok(name),
        }
    }

    /// `#EXT-X-MEDIA-SEQUENCE`: the msn of the first segment in the window.
    pub fn media_sequence(&self) -> u64 {
        self.segments.first().map_or(0, |s| s.msn)
    }

    pub fn last_msn(&self) -> Option<u64> {
        self.segments.last().map(|s| s.msn)
    }

    /// `#EXT-X-TARGETDURATION`: the longest segment rounded to the nearest second, never
    /// below the configured target (RFC 8216 §4.3.3.1: EXTINF rounded must not exceed it).
    pub fn playlist_target_duration(&self) -> u64 {
        let longest = self
            .segments
            .iter()
            .map(|s| s.duration_ms)
            .max()
            .unwrap_or(0);
        let rounded = (u64::from(longest) + 500) / 1000;
        let configured = u64::from(self.target_duration_ms).div_ceil(1000);
        rounded.max(configured).max(1)
    }

    pub fn to_json(&self) -> Vec<u8> {
        // Serializing plain data with string keys cannot fail.
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real index document as the ingest writes it (hand-checked; DESIGN.md §3).
    const SAMPLE: &str = include_str!("../testdata/index_az1_live_show.json");

    #[test]
    fn sample_document_parses_and_round_trips() {
        let index = StreamIndex::from_json(SAMPLE.as_bytes()).expect("sample parses");
        assert_eq!(index.az, Az::Az1);
        assert_eq!(index.name().unwrap().to_string(), "live/show");
        assert_eq!(index.media_sequence(), 41);
        assert_eq!(index.last_msn(), Some(43));
        assert_eq!(index.playlist_target_duration(), 2);
        assert!(index.segments[2].discontinuity);
        assert!(!index.segments[0].discontinuity);
        let again = StreamIndex::from_json(&index.to_json()).unwrap();
        assert_eq!(again, index);
        // The bytes are stable too (ingest output is deterministic).
        assert_eq!(again.to_json(), index.to_json());
    }

    #[test]
    fn unknown_fields_and_wrong_types_are_rejected() {
        let extra = SAMPLE.replacen("\"version\": 2,", "\"version\": 2, \"surprise\": true,", 1);
        assert!(StreamIndex::from_json(extra.as_bytes()).is_err());
        let bad_state = SAMPLE.replacen("\"state\": \"live\"", "\"state\": \"paused\"", 1);
        assert!(StreamIndex::from_json(bad_state.as_bytes()).is_err());
        assert!(StreamIndex::from_json(b"{}").is_err());
        assert!(StreamIndex::from_json(b"").is_err());
    }

    #[test]
    fn target_duration_covers_the_longest_segment_and_the_configured_target() {
        let mut index = StreamIndex::from_json(SAMPLE.as_bytes()).unwrap();
        index.segments[1].duration_ms = 4_600;
        assert_eq!(index.playlist_target_duration(), 5);
        index.segments.clear();
        assert_eq!(index.playlist_target_duration(), 2);
        assert_eq!(index.media_sequence(), 0);
        assert_eq!(index.last_msn(), None);
    }
}
