//! The rules for which names this ingest takes: its shard (with several instance pairs), the
//! duplicate policy, the relay's "direct wins" and the rendition limit. Pure functions over
//! what the stream table holds; [`super::table::StreamTable::claim`] applies them.

use std::net::SocketAddr;

use zonecast_contract::{ShardSpec, StreamName, shard::pair_of};

use crate::{config::DuplicatePublishPolicy, ops::metrics::RefusalReason};

/// A publish asking for a name.
#[derive(Debug, Clone)]
pub struct PublishRequest {
    pub name: StreamName,
    pub publisher: SocketAddr,
    /// It comes from the peer's relay (README.md, "The relay").
    pub relayed: bool,
}

/// Why a name was not given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The name is live here and the duplicate policy is `reject-new`.
    Duplicate,
    /// A relayed publish while a direct one of the name is live: direct wins.
    RelayBehindDirect,
    /// The stream already has the most renditions allowed.
    TooManyRenditions { max: usize },
    /// The stream belongs to pair `owner`; this ingest is `shard`. Relayed publishes come
    /// from this pair's other AZ and so are always in shard.
    WrongShard { shard: ShardSpec, owner: u16 },
}

impl Refusal {
    /// The metrics label.
    pub fn reason(&self) -> RefusalReason {
        match self {
            Refusal::Duplicate => RefusalReason::Duplicate,
            Refusal::RelayBehindDirect => RefusalReason::RelayBehindDirect,
            Refusal::TooManyRenditions { .. } => RefusalReason::TooManyRenditions,
            Refusal::WrongShard { .. } => RefusalReason::WrongShard,
        }
    }

    /// What the encoder is told (RTMP status description) and the log says.
    pub fn message(&self, name: &StreamName) -> String {
        match self {
            Refusal::Duplicate => format!("{name} is already being published on this ingest"),
            Refusal::RelayBehindDirect => {
                format!("{name} has a direct publish on this ingest; a relay never replaces it")
            }
            Refusal::TooManyRenditions { max } => format!(
                "{} has {max} renditions on this ingest already",
                name.base()
            ),
            Refusal::WrongShard { shard, owner } => format!(
                "{} belongs to pair {owner} of {}; this ingest is pair {} (shard {shard}): publish it to pair {owner}'s ingests",
                name.base(),
                shard.count(),
                shard.index()
            ),
        }
    }
}

/// What a second publish of a live name does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Duplicate {
    Refuse(Refusal),
    ReplaceOld,
}

/// A direct publish always wins: a relayed one never replaces a direct one, a direct one
/// always replaces a relayed one (whatever the policy: the relay is only a stand-in for the
/// encoder's own second output). Between two of a kind the duplicate policy decides.
pub fn on_duplicate(
    policy: DuplicatePublishPolicy,
    old_relayed: bool,
    new_relayed: bool,
) -> Duplicate {
    match (old_relayed, new_relayed) {
        (false, true) => Duplicate::Refuse(Refusal::RelayBehindDirect),
        (true, false) => Duplicate::ReplaceOld,
        _ => match policy {
            DuplicatePublishPolicy::RejectNew => Duplicate::Refuse(Refusal::Duplicate),
            DuplicatePublishPolicy::ReplaceOld => Duplicate::ReplaceOld,
        },
    }
}

/// The shard rule: a stream of another pair is refused whatever is live here.
pub fn check_shard(shard: Option<ShardSpec>, name: &StreamName) -> Result<(), Refusal> {
    match shard.filter(|s| !s.owns(name)) {
        Some(shard) => Err(Refusal::WrongShard {
            shard,
            owner: pair_of(name, shard.count()),
        }),
        None => Ok(()),
    }
}

/// The rendition limit: `others` renditions of the same stream are live besides this one.
pub fn check_renditions(others: usize, max: usize) -> Result<(), Refusal> {
    if others >= max {
        Err(Refusal::TooManyRenditions { max })
    } else {
        Ok(())
    }
}
