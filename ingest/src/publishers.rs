//! Who publishes what on this ingest: the one owner of stream names. Every rule about which
//! names this ingest takes lives here: its shard (with several instance pairs), the duplicate
//! policy, the relay's "direct wins", the rendition limit, and the hand-over of a replaced publish's uploader (one ordered upload
//! queue per stream, so two publishers of one name never race on `index.json`).
//!
//! A synchronous state machine with no I/O: the server keeps it behind a mutex, asks it for a
//! [`Claim`], and carries out what the claim says (the replaced publisher is told to stop
//! through its watch channel; its uploader and last index come back in the claim).

use std::{collections::HashMap, net::SocketAddr, sync::Arc};

use tokio::sync::watch;
use zonecast_contract::{ShardSpec, StreamIndex, StreamName, shard::pair_of};

use crate::{
    config::DuplicatePublishPolicy, metrics::RefusalReason, relay::RelayShared,
    uploader::UploadSender,
};

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

/// What a publish that replaces another takes over from it.
#[derive(Debug)]
pub struct Handover {
    pub uploads: UploadSender,
    /// The replaced publish's newest index: newer than the one in the store while its
    /// uploads are queued.
    pub last_index: Option<StreamIndex>,
}

/// A name given to a publish.
#[derive(Debug)]
pub struct Claim {
    /// This publish's id: later updates and the release name it, so a replaced publish can
    /// never touch its successor's entry.
    pub id: u64,
    /// Turns `true` when a newer publisher replaces this one.
    pub replaced: watch::Receiver<bool>,
    /// Set when this publish replaced one that already had an uploader.
    pub handover: Option<Handover>,
}

/// One publish: who it is, how to stop it, and what `/status` shows of it.
#[derive(Debug)]
struct Entry {
    id: u64,
    stop: watch::Sender<bool>,
    publisher: SocketAddr,
    relayed: bool,
    session: Option<String>,
    last_index: Option<StreamIndex>,
    uploads: Option<UploadSender>,
    relay: Option<Arc<RelayShared>>,
}

/// What `/status` shows of one publish.
#[derive(Debug, Clone)]
pub struct PublisherView {
    pub name: StreamName,
    pub publisher: SocketAddr,
    pub session: Option<String>,
    pub last_index: Option<StreamIndex>,
    pub relay: Option<Arc<RelayShared>>,
}

/// The streams published on this ingest. `Default`: one pair, every name accepted.
#[derive(Debug, Default)]
pub struct Publishers {
    live: HashMap<StreamName, Entry>,
    next_id: u64,
    /// This ingest's shard; `None`: one pair.
    shard: Option<ShardSpec>,
}

impl Publishers {
    /// The registry of an ingest of pair `shard` (`None`: the only pair).
    pub fn new(shard: Option<ShardSpec>) -> Self {
        Self {
            shard,
            ..Self::default()
        }
    }

    /// Gives `request.name` to a new publish, or says why not. A replaced publish is told to
    /// stop, and its uploader and last index are handed over.
    pub fn claim(
        &mut self,
        request: &PublishRequest,
        policy: DuplicatePublishPolicy,
        max_renditions: usize,
    ) -> Result<Claim, Refusal> {
        let name = &request.name;
        // First: a stream of another pair is refused whatever is live here.
        if let Some(shard) = self.shard.filter(|s| !s.owns(name)) {
            let owner = pair_of(name, shard.count());
            return Err(Refusal::WrongShard { shard, owner });
        }
        if let Some(base) = name.rendition().map(|_| name.base()) {
            let others = self
                .live
                .keys()
                .filter(|n| n.rendition().is_some() && n.base() == base && *n != name)
                .count();
            if others >= max_renditions {
                return Err(Refusal::TooManyRenditions {
                    max: max_renditions,
                });
            }
        }
        let mut handover = None;
        if let Some(old) = self.live.get(name) {
            match on_duplicate(policy, old.relayed, request.relayed) {
                Duplicate::Refuse(refusal) => return Err(refusal),
                Duplicate::ReplaceOld => {
                    let _ = old.stop.send(true);
                    handover = old.uploads.clone().map(|uploads| Handover {
                        uploads,
                        last_index: old.last_index.clone(),
                    });
                }
            }
        }
        self.next_id += 1;
        let id = self.next_id;
        let (stop, replaced) = watch::channel(false);
        self.live.insert(
            name.clone(),
            Entry {
                id,
                stop,
                publisher: request.publisher,
                relayed: request.relayed,
                session: None,
                last_index: None,
                uploads: None,
                relay: None,
            },
        );
        Ok(Claim {
            id,
            replaced,
            handover,
        })
    }

    /// Frees the name, if publish `id` still holds it.
    pub fn release(&mut self, name: &StreamName, id: u64) {
        if self.live.get(name).is_some_and(|e| e.id == id) {
            self.live.remove(name);
        }
    }

    fn entry(&mut self, name: &StreamName, id: u64) -> Option<&mut Entry> {
        self.live.get_mut(name).filter(|e| e.id == id)
    }

    pub fn set_session(&mut self, name: &StreamName, id: u64, session: &str) {
        if let Some(e) = self.entry(name, id) {
            e.session = Some(session.to_owned());
        }
    }

    /// The stream's uploader, once publish `id` has one (a successor takes it over).
    pub fn set_uploads(&mut self, name: &StreamName, id: u64, uploads: &UploadSender) {
        if let Some(e) = self.entry(name, id) {
            e.uploads = Some(uploads.clone());
        }
    }

    pub fn set_relay(&mut self, name: &StreamName, id: u64, relay: Arc<RelayShared>) {
        if let Some(e) = self.entry(name, id) {
            e.relay = Some(relay);
        }
    }

    /// The newest index of publish `id` (for `/status`, and for a successor's numbering).
    pub fn note_index(&mut self, name: &StreamName, id: u64, index: &StreamIndex) {
        if let Some(e) = self.entry(name, id) {
            e.session = Some(index.session.clone());
            e.last_index = Some(index.clone());
        }
    }

    /// Whether `stream` (`app/stream`, or `app/stream/rendition`) is published here.
    pub fn contains(&self, stream: &str) -> bool {
        self.live.keys().any(|n| n.to_string() == stream)
    }

    pub fn views(&self) -> Vec<PublisherView> {
        self.live
            .iter()
            .map(|(name, e)| PublisherView {
                name: name.clone(),
                publisher: e.publisher,
                session: e.session.clone(),
                last_index: e.last_index.clone(),
                relay: e.relay.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
