//! Test support, for the tests of every crate (not part of the contract): one builder of
//! [`StreamIndex`] values, so a test names only the fields it is about and a new field of the
//! index is added here once, not in every test.

use std::ops::RangeInclusive;

use chrono::{DateTime, TimeDelta, Utc};

use crate::{Az, INDEX_VERSION, IndexSegment, StreamIndex, StreamInfo, StreamState};

/// A segment of a stream cut on time from 0: `msn` is `duration_ms` long, starts at
/// `msn × duration_ms` on the encoder timeline and at `program_date_time`; 1 byte, no
/// discontinuity (set other fields with struct update syntax).
pub fn segment(msn: u64, duration_ms: u32, program_date_time: DateTime<Utc>) -> IndexSegment {
    IndexSegment {
        msn,
        duration_ms,
        timeline_ms: msn as i64 * i64::from(duration_ms),
        program_date_time,
        discontinuity: false,
        bytes: 1,
    }
}

/// Builds a [`StreamIndex`]: [`IndexBuilder::new`] says what is assumed.
#[derive(Debug, Clone)]
pub struct IndexBuilder {
    index: StreamIndex,
}

impl StreamIndex {
    /// See [`IndexBuilder`] (tests only).
    #[doc(hidden)]
    pub fn builder(az: Az) -> IndexBuilder {
        IndexBuilder::new(az)
    }
}

impl IndexBuilder {
    /// A live `live/show` index in `az`, session `s`, epoch 1, target duration 2 s,
    /// discontinuity sequence 0, no codec facts, no segments, written at the Unix epoch.
    pub fn new(az: Az) -> Self {
        Self {
            index: StreamIndex {
                version: INDEX_VERSION,
                az,
                app: "live".into(),
                stream: "show".into(),
                rendition: None,
                session: "s".into(),
                epoch: 1,
                state: StreamState::Live,
                updated: DateTime::UNIX_EPOCH,
                target_duration_ms: 2000,
                discontinuity_sequence: 0,
                info: StreamInfo::default(),
                segments: Vec::new(),
            },
        }
    }

    pub fn app(mut self, app: &str) -> Self {
        self.index.app = app.into();
        self
    }

    pub fn stream(mut self, stream: &str) -> Self {
        self.index.stream = stream.into();
        self
    }

    pub fn rendition(mut self, rendition: &str) -> Self {
        self.index.rendition = Some(rendition.into());
        self
    }

    pub fn session(mut self, session: &str) -> Self {
        self.index.session = session.into();
        self
    }

    pub fn epoch(mut self, epoch: u64) -> Self {
        self.index.epoch = epoch;
        self
    }

    pub fn state(mut self, state: StreamState) -> Self {
        self.index.state = state;
        self
    }

    pub fn updated(mut self, updated: DateTime<Utc>) -> Self {
        self.index.updated = updated;
        self
    }

    pub fn target_duration_ms(mut self, ms: u32) -> Self {
        self.index.target_duration_ms = ms;
        self
    }

    pub fn discontinuity_sequence(mut self, sequence: u64) -> Self {
        self.index.discontinuity_sequence = sequence;
        self
    }

    pub fn info(mut self, info: StreamInfo) -> Self {
        self.index.info = info;
        self
    }

    /// The window, as given.
    pub fn segments(mut self, segments: impl IntoIterator<Item = IndexSegment>) -> Self {
        self.index.segments = segments.into_iter().collect();
        self
    }

    /// A window of `msns` ([`segment`]s) each `duration_ms` long and `bytes` big, back to
    /// back on the wall clock from `first_pdt`.
    pub fn window(
        self,
        msns: RangeInclusive<u64>,
        duration_ms: u32,
        first_pdt: DateTime<Utc>,
        bytes: u64,
    ) -> Self {
        let first = *msns.start();
        self.segments(msns.map(|msn| {
            let offset = TimeDelta::milliseconds((msn - first) as i64 * i64::from(duration_ms));
            IndexSegment {
                bytes,
                ..segment(msn, duration_ms, first_pdt + offset)
            }
        }))
    }

    pub fn build(self) -> StreamIndex {
        self.index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_is_back_to_back() {
        let t0 = DateTime::UNIX_EPOCH + TimeDelta::seconds(100);
        let i = StreamIndex::builder(Az::Az2)
            .rendition("720p")
            .window(10..=12, 2000, t0, 5)
            .build();
        assert_eq!(i.name().unwrap().to_string(), "live/show/720p");
        assert_eq!(i.media_sequence(), 10);
        assert_eq!(i.segments[2].timeline_ms, 24_000);
        assert_eq!(i.segments[2].program_date_time, t0 + TimeDelta::seconds(4));
        assert!(i.segments.iter().all(|s| s.bytes == 5 && !s.discontinuity));
    }
}
