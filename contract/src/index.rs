//! The index document: what an ingest has made ready in S3 for one stream in one AZ.
//!
//! Written by the ingest to `<az>/<app>/<stream>/index.json` after the segments it names are
//! uploaded (segment first, index second: DESIGN.md §3), read by the playlist functions.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Az, StreamName};

/// Version of the index document format; bumped on incompatible changes.
pub const INDEX_VERSION: u32 = 1;

/// Whether the publisher is still sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamState {
    /// Publishing; new segments keep coming.
    Live,
    /// The publisher stopped; the playlist gets `#EXT-X-ENDLIST`.
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
    /// Identifies one publish session (one encoder connection's timeline).
    pub session: String,
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
    pub fn name(&self) -> Result<StreamName, crate::NameError> {
        StreamName::new(&self.app, &self.stream)
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
