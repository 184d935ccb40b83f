//! The bounded label values of the ingest's metrics.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};

/// Why a publish (or the connection before it) was refused: a bounded label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefusalReason {
    /// `app` or `stream` outside `[A-Za-z0-9_-]{1,64}`.
    BadName,
    /// Publish auth refused the token (missing, malformed, expired, wrong).
    Auth,
    /// The name is already published on this ingest (`--duplicate-publish reject-new`).
    Duplicate,
    /// A second publish on a connection that already publishes.
    AlreadyPublishing,
    /// The connection limit (`--max-connections`) was reached; the connection was closed.
    TooManyConnections,
    /// A relayed publish from the peer while a direct publish of the name is live here
    /// (direct wins; README.md, "The relay").
    RelayBehindDirect,
    /// A new rendition of a stream that already has the most renditions allowed.
    TooManyRenditions,
    /// The stream belongs to another instance pair (`--shard k/K`).
    WrongShard,
}

impl RefusalReason {
    pub const ALL: [RefusalReason; 8] = [
        RefusalReason::BadName,
        RefusalReason::Auth,
        RefusalReason::Duplicate,
        RefusalReason::AlreadyPublishing,
        RefusalReason::TooManyConnections,
        RefusalReason::RelayBehindDirect,
        RefusalReason::TooManyRenditions,
        RefusalReason::WrongShard,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RefusalReason::BadName => "bad_name",
            RefusalReason::Auth => "auth",
            RefusalReason::Duplicate => "duplicate",
            RefusalReason::AlreadyPublishing => "already_publishing",
            RefusalReason::TooManyConnections => "too_many_connections",
            RefusalReason::RelayBehindDirect => "relay_behind_direct",
            RefusalReason::TooManyRenditions => "too_many_renditions",
            RefusalReason::WrongShard => "wrong_shard",
        }
    }
}

impl EncodeLabelValue for RefusalReason {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_str(encoder, self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct RefusalLabels {
    pub(super) reason: RefusalReason,
}

/// Why a segment will never reach the store (`zonecast_spool_dropped_total{reason}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// No room: the memory queue (without a spool) or the spool was full; `--spool-full`
    /// chose this segment.
    BacklogFull,
    /// The spool could not write or read back the segment (disk error).
    SpoolFailed,
    /// The store refused it for good (a non-retryable error, retried to its budget).
    Refused,
    /// A drain timed out and the segment could not be written to the spool either.
    Shutdown,
}

impl DropReason {
    pub const ALL: [DropReason; 4] = [
        DropReason::BacklogFull,
        DropReason::SpoolFailed,
        DropReason::Refused,
        DropReason::Shutdown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::BacklogFull => "backlog_full",
            DropReason::SpoolFailed => "spool_failed",
            DropReason::Refused => "refused",
            DropReason::Shutdown => "shutdown",
        }
    }
}

impl EncodeLabelValue for DropReason {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_str(encoder, self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct DropLabels {
    pub(super) reason: DropReason,
}

/// What an upload wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UploadTarget {
    Segment,
    Index,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UploadOutcome {
    Ok,
    Error,
}

impl EncodeLabelValue for UploadTarget {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        let s = match self {
            UploadTarget::Segment => "segment",
            UploadTarget::Index => "index",
        };
        std::fmt::Write::write_str(encoder, s)
    }
}

impl EncodeLabelValue for UploadOutcome {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        let s = match self {
            UploadOutcome::Ok => "ok",
            UploadOutcome::Error => "error",
        };
        std::fmt::Write::write_str(encoder, s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct UploadLabels {
    pub(super) kind: UploadTarget,
    pub(super) outcome: UploadOutcome,
}
