//! The stream table's vocabulary: what ends a publish, where a claimed publish starts from,
//! and what the table asks the shell to do.

use std::time::Duration;

use chrono::{DateTime, Utc};
use zonecast_contract::{StreamIndex, StreamName, StreamState};

/// Why a publish ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishEnd {
    /// The connection closed or failed without an unpublish.
    Dropped,
    /// `FCUnpublish` / `deleteStream`.
    Unpublished,
    /// A new publisher of the same name took over (duplicate policy `replace-old`).
    Replaced,
    /// This ingest is shutting down.
    Shutdown,
}

/// Where a claimed publish takes its numbering and its upload queue from.
#[derive(Debug)]
pub enum PublishStart<U> {
    /// The encoder came back within the grace period: the waiting index (newer than the
    /// store's while uploads are queued) and the stream's upload queue.
    Resume { last: StreamIndex, uploads: U },
    /// This publish replaced a live one that already had an upload queue: its queue (what it
    /// queued is written first) and its newest index.
    TakeOver {
        last: Option<StreamIndex>,
        uploads: U,
    },
    /// Nothing of the stream here: read the store's indexes; `spooled` is the newest index an
    /// earlier run left in the spool, if any (see [`newest_index`]).
    Fresh { spooled: Option<StreamIndex> },
}

/// A name given to a publish.
#[derive(Debug)]
pub struct Claimed<U, H> {
    /// This publish's id: later updates and its end name it, so a replaced publish can never
    /// touch its successor's entry.
    pub id: u64,
    pub start: PublishStart<U>,
    /// The publish this one replaced, to be told to stop.
    pub replaced: Option<H>,
}

/// What the shell does for the table.
#[derive(Debug, PartialEq)]
pub enum PublishEffect<U> {
    /// Queue `index` (this AZ's index of `name`) on the stream's upload queue.
    WriteIndex {
        name: StreamName,
        index: StreamIndex,
        uploads: U,
    },
}

/// What became of a publish that ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The stream waits for its encoder until `grace` has passed.
    Waiting { grace: Duration },
    /// The stream is over on this ingest (ended, or draining).
    Over(StreamState),
    /// A newer publish holds the name (it replaced this one): nothing to do.
    Superseded,
}

pub(super) fn write<U: Clone>(
    name: &StreamName,
    last: &StreamIndex,
    state: StreamState,
    uploads: &U,
    wall: DateTime<Utc>,
) -> PublishEffect<U> {
    let mut index = last.clone();
    index.state = state;
    index.updated = wall;
    PublishEffect::WriteIndex {
        name: name.clone(),
        index,
        uploads: uploads.clone(),
    }
}

/// The newer of two copies of this AZ's own index (the store's and the spool's), by when each
/// was written. An index an earlier run left in the spool (the store was away when it
/// stopped) names segments the store may not have yet: numbering on from the store's older
/// index would give new content their keys.
pub fn newest_index(a: Option<StreamIndex>, b: Option<StreamIndex>) -> Option<StreamIndex> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.updated > a.updated { b } else { a }),
        (a, b) => a.or(b),
    }
}
