//! RTMP timestamps (u32 milliseconds, wrapping at 2^32, about 49.7 days) to one i64 timeline.

/// Unwraps RTMP message timestamps into a monotonic-ish i64 millisecond timeline.
///
/// Each timestamp is read as the shortest signed step (±2^31 ms) from the previous one, the
/// way RTP timestamps are extended (RFC 3550 appendix A.1): a wrap from `0xFFFF_FFF0` to
/// `0x10` is 32 ms forward, and the small backward steps of audio/video interleaving are
/// small steps back, not a jump of 49 days. One unwrapper serves both tracks of a publish,
/// in arrival order. A real restart of the encoder's timestamps shows up as a large step
/// either way, which the [`SegmentClock`](super::SegmentClock) treats as a timeline jump.
///
/// Arithmetic saturates; no input panics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimestampUnwrapper {
    /// The previous raw timestamp and the value it was unwrapped to.
    last: Option<(u32, i64)>,
    /// Where to place the first timestamp (see [`TimestampUnwrapper::starting_near`]).
    near: Option<i64>,
}

impl TimestampUnwrapper {
    /// The first timestamp is taken as is (0..2^32).
    pub fn new() -> Self {
        Self::default()
    }

    /// The first timestamp is placed at the value congruent to it modulo 2^32 that is nearest
    /// `timeline_ms`. An ingest that joins a timeline that already wrapped (its peer's index
    /// says `timeline_ms` > 2^32, see [`ClockAnchor::timeline_hint`](super::ClockAnchor::timeline_hint))
    /// then lands on the same unwrapped values as its peer.
    pub fn starting_near(timeline_ms: i64) -> Self {
        Self {
            last: None,
            near: Some(timeline_ms),
        }
    }

    /// The unwrapped value of the next timestamp, in arrival order.
    pub fn unwrap(&mut self, timestamp: u32) -> i64 {
        let value = match (self.last, self.near) {
            (Some((raw, value)), _) => step(value, raw, timestamp),
            // Truncation is the point: the low 32 bits are the raw timestamp `near` stands for.
            (None, Some(near)) => step(near, near as u32, timestamp),
            (None, None) => i64::from(timestamp),
        };
        self.last = Some((timestamp, value));
        value
    }

    /// The last unwrapped value, if any.
    pub fn last(&self) -> Option<i64> {
        self.last.map(|(_, value)| value)
    }
}

/// `from` (unwrapped, raw) moved by the shortest signed distance from `raw` to `to`.
fn step(from: i64, raw: u32, to: u32) -> i64 {
    // Reinterpreting the wrapped difference as i32 is the shortest signed distance.
    let delta = to.wrapping_sub(raw) as i32;
    from.saturating_add(i64::from(delta))
}
