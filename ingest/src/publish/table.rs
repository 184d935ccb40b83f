//! The stream table: the one owner of every stream's publish state on this ingest, as a
//! sans-IO state machine (DESIGN.md §8, "one publish core").
//!
//! A stream is either **live** (a connection publishes it) or **waiting** (its publisher went
//! away less than the reconnect grace period ago, DESIGN.md §4). Every transition is a method
//! fed the time as an argument that returns what to do as data ([`PublishEffect`],
//! [`PublishStart`], [`Ended`]); the shell (`publish::session`, `publish::deadlines`) carries
//! the effects out: it signals a replaced publisher, queues index writes on the stream's
//! uploader, and sleeps until [`StreamTable::next_deadline`]. Deadlines live here, as data.
//!
//! The table is generic over the shell's handles so that it holds no channel and no socket:
//! `U` is a stream's upload queue (one per stream, handed from publish to publish so every
//! write stays in order: two publishers of one name never race on `index.json`), `H` is how to
//! stop one publish. The table test uses plain values for both.
//!
//! | from | event | to | effects |
//! |---|---|---|---|
//! | — | claim | live (fresh; a spooled index if an earlier run left one) | — |
//! | live | claim, duplicate policy/direct wins allow | live (new id, takes the uploads over) | stop the old publish |
//! | live | claim, refused | live | — (a [`Refusal`]) |
//! | waiting | claim | live (resumes: last index and uploads) | — |
//! | live | end: dropped/unpublished, grace > 0 | waiting | — |
//! | live | end: unpublished with `on-unpublish end`, or grace 0 | — | — |
//! | live | end: shutdown | — | — (the publish wrote `draining`) |
//! | waiting | heartbeat due | waiting | write index `waiting` |
//! | waiting | grace over | — | write index `ended` |
//! | waiting | shutdown | — | write index `draining` |

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use zonecast_contract::{ShardSpec, StreamIndex, StreamName, StreamState};

use outcome::write;
pub use outcome::{Claimed, Ended, PublishEffect, PublishEnd, PublishStart, newest_index};

use super::claim::{
    Duplicate, PublishRequest, Refusal, check_renditions, check_shard, on_duplicate,
};
use crate::{
    config::{DuplicatePublishPolicy, UnpublishPolicy},
    ops::status_json::StreamView,
    relay::RelayShared,
};

/// The policies the table applies, from the ingest's config.
#[derive(Debug, Clone)]
pub struct StreamTableConfig {
    /// This ingest's shard; `None`: one pair, every name accepted.
    pub shard: Option<ShardSpec>,
    pub duplicate: DuplicatePublishPolicy,
    pub max_renditions: usize,
    pub on_unpublish: UnpublishPolicy,
    /// How long a stream waits for its encoder (zero: it ends at once).
    pub grace: Duration,
    /// How often a waiting stream's index is rewritten (half the target duration), so the AZ
    /// stays fresh for the liveness rule.
    pub heartbeat: Duration,
}

#[derive(Debug)]
struct Live<U, H> {
    id: u64,
    stop: H,
    publisher: SocketAddr,
    relayed: bool,
    session: Option<String>,
    last_index: Option<StreamIndex>,
    uploads: Option<U>,
    relay: Option<Arc<RelayShared>>,
}

#[derive(Debug)]
struct Waiting<U> {
    last: StreamIndex,
    uploads: U,
    next_beat: Instant,
    deadline: Instant,
}

#[derive(Debug)]
enum Slot<U, H> {
    Live(Live<U, H>),
    Waiting(Waiting<U>),
}

/// Every stream this ingest publishes or waits for.
#[derive(Debug)]
pub struct StreamTable<U, H> {
    config: StreamTableConfig,
    streams: HashMap<StreamName, Slot<U, H>>,
    /// The newest index of each stream an earlier run left in the spool, until a fresh
    /// publish of the stream takes it.
    spooled: HashMap<StreamName, StreamIndex>,
    next_id: u64,
    shutting_down: bool,
}

impl<U: Clone, H> StreamTable<U, H> {
    pub fn new(config: StreamTableConfig) -> Self {
        Self {
            config,
            streams: HashMap::new(),
            spooled: HashMap::new(),
            next_id: 0,
            shutting_down: false,
        }
    }

    pub fn config(&self) -> &StreamTableConfig {
        &self.config
    }

    /// Keeps `index` (found in the spool at startup) if it is the newest seen for its stream.
    pub fn offer_spooled(&mut self, index: StreamIndex) {
        let Ok(name) = index.name() else { return };
        if let Some(newest) = newest_index(self.spooled.remove(&name), Some(index)) {
            self.spooled.insert(name, newest);
        }
    }

    /// Gives `request.name` to a new publish (stopped through `stop` if a later one replaces
    /// it), or says why not.
    pub fn claim(&mut self, request: &PublishRequest, stop: H) -> Result<Claimed<U, H>, Refusal> {
        let name = &request.name;
        check_shard(self.config.shard, name)?;
        if name.rendition().is_some() {
            let base = name.base();
            let others = self
                .streams
                .iter()
                .filter(|(n, slot)| {
                    matches!(slot, Slot::Live(_))
                        && n.rendition().is_some()
                        && n.base() == base
                        && *n != name
                })
                .count();
            check_renditions(others, self.config.max_renditions)?;
        }
        if let Some(Slot::Live(old)) = self.streams.get(name)
            && let Duplicate::Refuse(refusal) =
                on_duplicate(self.config.duplicate, old.relayed, request.relayed)
        {
            return Err(refusal);
        }
        self.next_id += 1;
        let id = self.next_id;
        let live = Live {
            id,
            stop,
            publisher: request.publisher,
            relayed: request.relayed,
            session: None,
            last_index: None,
            uploads: None,
            relay: None,
        };
        let (start, replaced) = match self.streams.insert(name.clone(), Slot::Live(live)) {
            Some(Slot::Waiting(w)) => (
                PublishStart::Resume {
                    last: w.last,
                    uploads: w.uploads,
                },
                None,
            ),
            Some(Slot::Live(old)) => {
                let start = match old.uploads {
                    Some(uploads) => PublishStart::TakeOver {
                        last: old.last_index,
                        uploads,
                    },
                    None => PublishStart::Fresh {
                        spooled: self.spooled.remove(name),
                    },
                };
                (start, Some(old.stop))
            }
            None => (
                PublishStart::Fresh {
                    spooled: self.spooled.remove(name),
                },
                None,
            ),
        };
        Ok(Claimed {
            id,
            start,
            replaced,
        })
    }

    fn live(&mut self, name: &StreamName, id: u64) -> Option<&mut Live<U, H>> {
        match self.streams.get_mut(name) {
            Some(Slot::Live(l)) if l.id == id => Some(l),
            _ => None,
        }
    }

    /// Publish `id` has its session name and its upload queue (a successor takes it over).
    pub fn attach(&mut self, name: &StreamName, id: u64, session: &str, uploads: &U) {
        if let Some(l) = self.live(name, id) {
            l.session = Some(session.to_owned());
            l.uploads = Some(uploads.clone());
        }
    }

    /// Publish `id`'s relay to the peer, for `/status`.
    pub fn set_relay(&mut self, name: &StreamName, id: u64, relay: Arc<RelayShared>) {
        if let Some(l) = self.live(name, id) {
            l.relay = Some(relay);
        }
    }

    /// The newest index publish `id` queued (for `/status`, and a successor's numbering).
    pub fn note_index(&mut self, name: &StreamName, id: u64, index: &StreamIndex) {
        if let Some(l) = self.live(name, id) {
            l.session = Some(index.session.clone());
            l.last_index = Some(index.clone());
        }
    }

    /// The state a publish that ends for `end` leaves its index in; `None`: it writes no
    /// index (a successor carries the stream on).
    pub fn end_state(&self, end: PublishEnd) -> Option<StreamState> {
        Some(match end {
            PublishEnd::Replaced => return None,
            _ if self.shutting_down => StreamState::Draining,
            PublishEnd::Shutdown => StreamState::Draining,
            PublishEnd::Unpublished if self.config.on_unpublish == UnpublishPolicy::End => {
                StreamState::Ended
            }
            PublishEnd::Dropped | PublishEnd::Unpublished if self.config.grace.is_zero() => {
                StreamState::Ended
            }
            PublishEnd::Dropped | PublishEnd::Unpublished => StreamState::Waiting,
        })
    }

    /// Publish `id` ended with its index in `state` ([`Self::end_state`]); `last` is that
    /// final index, `uploads` the stream's queue. A waiting stream keeps both until the encoder
    /// comes back or the grace period ends.
    pub fn ended(
        &mut self,
        name: &StreamName,
        id: u64,
        state: StreamState,
        last: Option<StreamIndex>,
        uploads: &U,
        now: Instant,
    ) -> (Ended, Vec<PublishEffect<U>>) {
        if self.live(name, id).is_none() {
            return (Ended::Superseded, Vec::new());
        }
        match (state, last) {
            (StreamState::Waiting, Some(last)) if !self.shutting_down => {
                let waiting = Waiting {
                    last,
                    uploads: uploads.clone(),
                    next_beat: now + self.config.heartbeat,
                    deadline: now + self.config.grace,
                };
                self.streams.insert(name.clone(), Slot::Waiting(waiting));
                let grace = self.config.grace;
                (Ended::Waiting { grace }, Vec::new())
            }
            (state, _) => {
                self.streams.remove(name);
                (Ended::Over(state), Vec::new())
            }
        }
    }

    /// Forgets live publish `id` without an index (its task vanished: a panic). A waiting
    /// entry stays: it is the same publish's orderly end.
    pub fn release(&mut self, name: &StreamName, id: u64) {
        if self.live(name, id).is_some() {
            self.streams.remove(name);
        }
    }

    /// What is due at `now`: heartbeats of waiting streams, and the end of those whose grace
    /// period is over. `wall` stamps the indexes (`updated`).
    pub fn tick(&mut self, now: Instant, wall: DateTime<Utc>) -> Vec<PublishEffect<U>> {
        let mut effects = Vec::new();
        let mut over = Vec::new();
        for (name, slot) in &mut self.streams {
            let Slot::Waiting(w) = slot else { continue };
            if now >= w.deadline {
                over.push(name.clone());
            } else if now >= w.next_beat {
                effects.push(write(name, &w.last, StreamState::Waiting, &w.uploads, wall));
                w.next_beat += self.config.heartbeat;
                if w.next_beat <= now {
                    w.next_beat = now + self.config.heartbeat;
                }
            }
        }
        over.sort();
        for name in over {
            if let Some(Slot::Waiting(w)) = self.streams.remove(&name) {
                effects.push(write(&name, &w.last, StreamState::Ended, &w.uploads, wall));
            }
        }
        effects
    }

    /// The ingest shuts down: every waiting stream's index says `draining` (viewers move to
    /// the peer at once), and every later end is `draining` too.
    pub fn shutdown(&mut self, wall: DateTime<Utc>) -> Vec<PublishEffect<U>> {
        self.shutting_down = true;
        let mut waiting: Vec<_> = self
            .streams
            .iter()
            .filter(|(_, s)| matches!(s, Slot::Waiting(_)))
            .map(|(n, _)| n.clone())
            .collect();
        waiting.sort();
        let mut effects = Vec::new();
        for name in waiting {
            if let Some(Slot::Waiting(w)) = self.streams.remove(&name) {
                effects.push(write(
                    &name,
                    &w.last,
                    StreamState::Draining,
                    &w.uploads,
                    wall,
                ));
            }
        }
        effects
    }

    /// The earliest instant [`Self::tick`] has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.streams
            .values()
            .filter_map(|s| match s {
                Slot::Waiting(w) => Some(w.next_beat.min(w.deadline)),
                Slot::Live(_) => None,
            })
            .min()
    }

    /// Whether `stream` (`app/stream`, or `app/stream/rendition`) is published or waits here.
    pub fn is_active(&self, stream: &str) -> bool {
        self.streams.keys().any(|n| n.to_string() == stream)
    }

    /// Streams waiting for their encoder, for `/healthz`.
    pub fn waiting_count(&self) -> usize {
        self.streams
            .values()
            .filter(|s| matches!(s, Slot::Waiting(_)))
            .count()
    }

    /// A copy of every stream, for `/status`.
    pub fn views(&self) -> Vec<StreamView> {
        self.streams
            .iter()
            .map(|(name, slot)| match slot {
                Slot::Live(l) => StreamView {
                    name: name.clone(),
                    publishing: true,
                    publisher: Some(l.publisher),
                    session: l.session.clone(),
                    last_index: l.last_index.clone(),
                    relay: l.relay.as_ref().and_then(|r| r.status()),
                },
                Slot::Waiting(w) => StreamView {
                    name: name.clone(),
                    publishing: false,
                    publisher: None,
                    session: Some(w.last.session.clone()),
                    last_index: Some(w.last.clone()),
                    relay: None,
                },
            })
            .collect()
    }
}

mod outcome;
#[cfg(test)]
mod tests;
