//! Health of one AZ's copy of a stream, judged from its index (DESIGN.md §5). The playlist
//! function uses it to pick and fail over AZs; the ingest uses it to decide whether a peer's
//! timeline is live enough to join.

use chrono::{DateTime, TimeDelta, Utc};

use crate::{StreamIndex, StreamState};

/// How many target durations an index may go without an update and still count as live. The
/// ingest rewrites the index after every segment, so three target durations is two missed
/// segments plus slack for a long GOP and the upload.
pub const LIVE_TARGET_DURATIONS: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Health {
    /// No index: the stream never ran in this AZ (or its objects have expired).
    Missing,
    /// Live, and the index was updated within [`LIVE_TARGET_DURATIONS`] target durations.
    Live,
    /// Claims to be live but has not been updated for longer: the ingest or its encoder feed
    /// is gone without saying so.
    Stale,
    /// The publisher stopped cleanly; the playlist is final (`#EXT-X-ENDLIST`).
    Ended,
}

/// How long a live index stays fresh: [`LIVE_TARGET_DURATIONS`] × the playlist's target
/// duration (`#EXT-X-TARGETDURATION`, which never falls below the configured one and grows
/// with a segment longer than it).
pub fn freshness(index: &StreamIndex) -> TimeDelta {
    let target_s = i64::try_from(index.playlist_target_duration()).unwrap_or(i64::MAX / 4_000);
    TimeDelta::milliseconds(target_s.saturating_mul(1000 * i64::from(LIVE_TARGET_DURATIONS)))
}

/// Judges one AZ's index at `now`. An `updated` time in the future (clock skew between the
/// ingest and here) counts as fresh.
pub fn health(index: Option<&StreamIndex>, now: DateTime<Utc>) -> Health {
    let Some(index) = index else {
        return Health::Missing;
    };
    match index.state {
        StreamState::Ended => Health::Ended,
        StreamState::Live if now.signed_duration_since(index.updated) <= freshness(index) => {
            Health::Live
        }
        StreamState::Live => Health::Stale,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Az, INDEX_VERSION, IndexSegment, StreamInfo};

    fn index(state: StreamState, target_duration_ms: u32, longest_ms: u32) -> StreamIndex {
        let updated = "2025-01-01T00:00:00Z".parse().unwrap();
        StreamIndex {
            version: INDEX_VERSION,
            az: Az::Az1,
            app: "live".into(),
            stream: "show".into(),
            session: "s".into(),
            state,
            updated,
            target_duration_ms,
            discontinuity_sequence: 0,
            info: StreamInfo::default(),
            segments: vec![IndexSegment {
                msn: 1,
                duration_ms: longest_ms,
                timeline_ms: 0,
                program_date_time: updated,
                discontinuity: false,
                bytes: 1,
            }],
        }
    }

    #[test]
    fn missing_and_ended() {
        let now = Utc::now();
        assert_eq!(health(None, now), Health::Missing);
        let i = index(StreamState::Ended, 2000, 2000);
        assert_eq!(
            health(Some(&i), i.updated + TimeDelta::days(30)),
            Health::Ended
        );
    }

    #[test]
    fn live_until_three_target_durations() {
        let i = index(StreamState::Live, 2000, 2000);
        let at = |ms| i.updated + TimeDelta::milliseconds(ms);
        assert_eq!(health(Some(&i), at(0)), Health::Live);
        assert_eq!(health(Some(&i), at(6000)), Health::Live);
        assert_eq!(health(Some(&i), at(6001)), Health::Stale);
        assert_eq!(health(Some(&i), at(-60_000)), Health::Live);
    }

    #[test]
    fn long_segments_stretch_the_window() {
        // A 3.4 s segment makes the target duration 3 s: fresh for 9 s.
        let i = index(StreamState::Live, 2000, 3400);
        let at = |ms| i.updated + TimeDelta::milliseconds(ms);
        assert_eq!(health(Some(&i), at(9000)), Health::Live);
        assert_eq!(health(Some(&i), at(9001)), Health::Stale);
        // Sub-second configured target: rounded up to 1 s, fresh for 3 s.
        let i = index(StreamState::Live, 500, 500);
        assert_eq!(
            health(Some(&i), i.updated + TimeDelta::milliseconds(3000)),
            Health::Live
        );
        assert_eq!(
            health(Some(&i), i.updated + TimeDelta::milliseconds(3001)),
            Health::Stale
        );
    }
}
