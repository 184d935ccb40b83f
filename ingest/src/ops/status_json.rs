//! `GET /status` on the health port: what this ingest publishes or waits for, as JSON an
//! operator's script can read (the local stack's status page reads it too).
//!
//! The document (`version` 1; fields are only ever added):
//!
//! ```json
//! {"version":1,"az":"az1","pid":4242,"draining":false,"now":"2026-11-29T20:00:00Z",
//!  "streams":[{"name":"live/show","app":"live","stream":"show","state":"publishing",
//!    "publisher":"127.0.0.1:50312","session":"az1-20261129T195950.123Z-0",
//!    "last_segment":{"msn":42,"age_ms":850,"program_date_time":"…","duration_ms":2000},
//!    "bandwidth":3100000,"average_bandwidth":2900000,
//!    "renditions":[{"name":"source","codecs":"avc1.64001f,mp4a.40.2","resolution":"1280x720",
//!      "frame_rate":30.0,"bandwidth":3100000,"average_bandwidth":2900000}]}]}
//! ```
//!
//! A stream published at several qualities shows one entry per rendition: `name` is
//! `app/stream/rendition`, `rendition` the rendition's name (absent for a plain stream), and
//! its `renditions` entry is named after it.
//!
//! `state` is `publishing`, `waiting` (the encoder went away, within the reconnect grace
//! period) or `draining` (this ingest is shutting down). `publisher` is `null` while waiting.
//! `last_segment` is `null` before the first segment is cut; `age_ms` counts from the end of
//! that segment on the wall clock (its program date time plus its duration).
//!
//! `relay` (while publishing; `null` while waiting): this publish's relay to the peer ingest,
//! `{"state":"relaying","peer":"10.0.2.15:1935","relayed_from":null,"connects":1,
//! "failures":0,"dropped":0,"last_error":null}`. `state` is `off` (no `--relay-to`, or this
//! publish came from the peer's relay: then `relayed_from` names that AZ), `connecting`,
//! `relaying`, `refused-peer-has-direct` (the peer has the encoder's own second output;
//! direct wins) or `backing-off` (`last_error` says why).

use std::net::SocketAddr;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use zonecast_contract::{Az, StreamIndex, StreamName};

use crate::relay::RelayStatus;

/// Version of the `/status` document.
pub const STATUS_VERSION: u32 = 1;

/// The whole `/status` document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IngestStatus {
    pub version: u32,
    pub az: Az,
    pub pid: u32,
    pub draining: bool,
    /// When the document was made (ages are relative to it).
    pub now: DateTime<Utc>,
    /// Sorted by name.
    pub streams: Vec<StreamStatus>,
}

/// Where a stream is on this ingest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PublishState {
    /// An encoder is connected and publishing.
    Publishing,
    /// The encoder went away; the stream stays live for the reconnect grace period.
    Waiting,
    /// This ingest is shutting down: the open segment is being closed and uploaded.
    Draining,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamStatus {
    /// `app/stream`, or `app/stream/rendition`.
    pub name: String,
    pub app: String,
    pub stream: String,
    /// The rendition, for a stream published at several qualities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rendition: Option<String>,
    pub state: PublishState,
    /// The encoder's address; `None` while waiting for it.
    pub publisher: Option<String>,
    /// The publish session (as in the index); `None` before the first index.
    pub session: Option<String>,
    pub last_segment: Option<LastSegment>,
    /// Peak segment bit rate in bits per second, as measured for the index (0 before any).
    pub bandwidth: u64,
    pub average_bandwidth: u64,
    /// What this publish carries: one rendition, named after the publish's rendition
    /// (`source` for a plain stream).
    pub renditions: Vec<Rendition>,
    /// This publish's relay to the peer; `None` while waiting.
    #[serde(default)]
    pub relay: Option<RelayStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastSegment {
    pub msn: u64,
    /// Milliseconds since the segment ended on the wall clock.
    pub age_ms: u64,
    pub program_date_time: DateTime<Utc>,
    pub duration_ms: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rendition {
    pub name: String,
    pub codecs: String,
    /// `WIDTHxHEIGHT`, when there is video.
    pub resolution: Option<String>,
    pub frame_rate: Option<f64>,
    pub bandwidth: u64,
    pub average_bandwidth: u64,
}

/// What the ingest's registry knows about one stream, copied out under its lock.
#[derive(Debug, Clone)]
pub struct StreamView {
    pub name: StreamName,
    /// Publishing (`false`: waiting for the encoder).
    pub publishing: bool,
    pub publisher: Option<SocketAddr>,
    pub session: Option<String>,
    /// The newest index this ingest made for the stream (queued or written).
    pub last_index: Option<StreamIndex>,
    pub relay: Option<RelayStatus>,
}

/// The last segment of an index, its age at `now`.
pub fn last_segment(index: &StreamIndex, now: DateTime<Utc>) -> Option<LastSegment> {
    let seg = index.segments.last()?;
    let end = seg.program_date_time + TimeDelta::milliseconds(i64::from(seg.duration_ms));
    let age_ms = u64::try_from((now - end).num_milliseconds()).unwrap_or(0);
    Some(LastSegment {
        msn: seg.msn,
        age_ms,
        program_date_time: seg.program_date_time,
        duration_ms: seg.duration_ms,
    })
}

/// The rendition an index describes: its own, or `source` for a plain stream.
pub fn renditions(index: &StreamIndex) -> Vec<Rendition> {
    let info = &index.info;
    vec![Rendition {
        name: index.rendition.clone().unwrap_or_else(|| "source".into()),
        codecs: info.codecs.clone(),
        resolution: info.resolution.map(|r| format!("{}x{}", r.width, r.height)),
        frame_rate: info.frame_rate,
        bandwidth: info.bandwidth,
        average_bandwidth: info.average_bandwidth,
    }]
}

/// Builds the document. Sans-IO: the clock, pid and registry copy come in as arguments.
pub fn build_status(
    az: Az,
    pid: u32,
    draining: bool,
    now: DateTime<Utc>,
    mut views: Vec<StreamView>,
) -> IngestStatus {
    views.sort_by_key(|v| v.name.to_string());
    let streams = views
        .into_iter()
        .map(|v| {
            let state = match (draining, v.publishing) {
                (true, _) => PublishState::Draining,
                (false, true) => PublishState::Publishing,
                (false, false) => PublishState::Waiting,
            };
            let index = v.last_index.as_ref();
            StreamStatus {
                name: v.name.to_string(),
                app: v.name.app().to_owned(),
                stream: v.name.stream().to_owned(),
                rendition: v.name.rendition().map(str::to_owned),
                state,
                publisher: v.publisher.map(|a| a.to_string()),
                session: v.session.or_else(|| index.map(|i| i.session.clone())),
                last_segment: index.and_then(|i| last_segment(i, now)),
                bandwidth: index.map_or(0, |i| i.info.bandwidth),
                average_bandwidth: index.map_or(0, |i| i.info.average_bandwidth),
                renditions: index.map(renditions).unwrap_or_default(),
                relay: v.relay,
            }
        })
        .collect();
    IngestStatus {
        version: STATUS_VERSION,
        az,
        pid,
        draining,
        now,
        streams,
    }
}

#[cfg(test)]
mod tests;
