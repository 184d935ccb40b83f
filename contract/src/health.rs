//! The one liveness rule (DESIGN.md §5): is one AZ's copy of a stream fit to be watched, given
//! its index and its peer's? The playlist function uses it to list, answer and steer; the
//! local edge, the ingest (which timeline to join) and every test use the same function.
//!
//! An AZ is **dead** when any of these holds:
//! - its index is older than [`freshness`] (about 1.5 target durations): the next index was
//!   due one target duration after the last, the other half is slack for the upload and GOP
//!   jitter. A dead ingest (killed, frozen, cut off from S3) is judged dead 3 s after its last
//!   index update at the default 2 s target; a viewer behind the edge sees the `404` at most
//!   one chunklist cache lifetime (1 s) later, so within about 4 s (measured end to end by
//!   `tests/tests/detection.rs`);
//! - its peer is producing (live and fresh) and at least [`BEHIND_SEGMENTS`] segments ahead:
//!   its encoder feed stopped while the peer's goes on;
//! - its index says it is draining (the ingest is shutting down on purpose).
//!
//! A stream whose publisher went away and may come back (`waiting`) keeps its ingest
//! rewriting the index, so it is not dead for the first rule; when both AZs wait for the same
//! encoder neither is ahead, so neither is dead.

use chrono::{DateTime, TimeDelta, Utc};

use crate::{StreamIndex, StreamState};

/// How far a producing peer must be ahead for an AZ to count as dead. One segment is ordinary
/// skew between two packagers (one uploads a moment earlier); two is a feed that stopped.
pub const BEHIND_SEGMENTS: u64 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Health {
    /// No index: the stream never ran in this AZ (or its objects have expired).
    Missing,
    /// Producing: live, fresh, not behind a producing peer.
    Live,
    /// The publisher went away within the grace period; the index is kept fresh while the AZ
    /// waits for the encoder to come back. Players keep reloading.
    Waiting,
    /// Not fit to be watched while the peer is; see [`DeadReason`].
    Dead(DeadReason),
    /// The publisher stopped; the playlist is final (`#EXT-X-ENDLIST`).
    Ended,
}

/// Why an AZ is dead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeadReason {
    /// The index was not rewritten within [`freshness`].
    Stale,
    /// The peer is producing and at least [`BEHIND_SEGMENTS`] segments ahead.
    Behind,
    /// The ingest is shutting down.
    Draining,
    /// A stream with renditions: a rendition serving on the peer is missing or ended here
    /// ([`crate::renditions::az_healths`]).
    Incomplete,
}

impl DeadReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DeadReason::Stale => "stale",
            DeadReason::Behind => "behind",
            DeadReason::Draining => "draining",
            DeadReason::Incomplete => "incomplete",
        }
    }
}

impl Health {
    /// Live or waiting: worth sending viewers to.
    pub fn is_serving(self) -> bool {
        matches!(self, Health::Live | Health::Waiting)
    }

    pub fn is_dead(self) -> bool {
        matches!(self, Health::Dead(_))
    }

    /// A short word for logs, headers and the status page.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Missing => "missing",
            Health::Live => "live",
            Health::Waiting => "waiting",
            Health::Dead(reason) => reason.as_str(),
            Health::Ended => "ended",
        }
    }
}

/// How long an index stays fresh: 1.5 × the playlist's target duration
/// (`#EXT-X-TARGETDURATION`, which never falls below the configured one and grows with a
/// segment longer than it).
pub fn freshness(index: &StreamIndex) -> TimeDelta {
    let target_ms = i64::try_from(index.playlist_target_duration())
        .unwrap_or(i64::MAX / 4_000)
        .saturating_mul(1000);
    TimeDelta::milliseconds(target_ms.saturating_add(target_ms / 2))
}

/// Whether the index was rewritten within [`freshness`] of `now`. An `updated` time in the
/// future (clock skew between the ingest and here) counts as fresh.
pub fn is_fresh(index: &StreamIndex, now: DateTime<Utc>) -> bool {
    now.signed_duration_since(index.updated) <= freshness(index)
}

/// Live and fresh: new segments are coming.
fn producing(index: &StreamIndex, now: DateTime<Utc>) -> bool {
    index.state == StreamState::Live && is_fresh(index, now)
}

/// Judges `own` (one AZ's index) at `now`, next to `peer` (the other AZ's).
pub fn health(own: Option<&StreamIndex>, peer: Option<&StreamIndex>, now: DateTime<Utc>) -> Health {
    let Some(index) = own else {
        return Health::Missing;
    };
    match index.state {
        StreamState::Ended => return Health::Ended,
        StreamState::Draining => return Health::Dead(DeadReason::Draining),
        StreamState::Live | StreamState::Waiting => {}
    }
    if !is_fresh(index, now) {
        return Health::Dead(DeadReason::Stale);
    }
    if let Some(peer) = peer.filter(|p| producing(p, now))
        && let Some(peer_last) = peer.last_msn()
        && index
            .last_msn()
            .is_none_or(|own_last| peer_last >= own_last.saturating_add(BEHIND_SEGMENTS))
    {
        return Health::Dead(DeadReason::Behind);
    }
    match index.state {
        StreamState::Waiting => Health::Waiting,
        _ => Health::Live,
    }
}

/// Both AZs judged at once: `[az1, az2]`.
pub fn health_pair(
    az1: Option<&StreamIndex>,
    az2: Option<&StreamIndex>,
    now: DateTime<Utc>,
) -> [Health; 2] {
    [health(az1, az2, now), health(az2, az1, now)]
}

#[cfg(test)]
mod tests;
