//! Relay for single-output encoders: an ingest configured with its peer's address
//! (`--relay-to host:port`) forwards every stream published to it to the peer over RTMP, with
//! the encoder's timestamps untouched, so both AZs package the same timeline and cut the same
//! segments (README.md, "The relay").
//!
//! - [`feed`]: on the publishing connection, sans-IO: classifies each message, remembers the
//!   decoder configuration, and decides what enters the bounded queue (when it is full: drop
//!   up to the next keyframe, never block the local publish).
//! - [`core`]: in the relay task, sans-IO: what to send to the peer, when (after a reconnect:
//!   metadata and sequence headers first, then media from the next keyframe), and the backoff.
//! - [`client`]: our own small RTMP publishing client on rml_rtmp's `ClientSession`, panics
//!   caught like the server side's ([`crate::rtmp`]).
//! - [`task`]: the thin tokio shell, one task per published stream.
//!
//! When the local publish ends, an unpublish by the encoder is passed on (`deleteStream`);
//! anything else (a dropped encoder, a replaced publish, a drain) only closes the connection,
//! so the peer keeps the stream live for its reconnect grace period, as for a dropped encoder:
//! a drain is a deploy, not the end of the show.
//!
//! Loops: the relay publishes with [`MARKER_PARAM`] in the stream key's query; a publish
//! carrying it is packaged like any other but never relayed again. Direct wins: on the peer a
//! relayed publish never replaces a direct one of the same name (it is refused with
//! [`REFUSED_PEER_HAS_DIRECT`]), and a direct publish always replaces a relayed one.

pub mod client;
pub mod core;
pub mod feed;
mod shared;
pub mod task;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use zonecast_contract::{Az, stream_key::KeyQuery};

pub use self::{
    client::{ClientError, ClientEvent, RelayClient},
    core::{Backoff, RelayCore},
    feed::{MediaKind, RelayFeed, RelayItem},
    task::{RelayHandle, RelayShared, spawn_relay},
};

/// The stream key query parameter that marks a relayed publish; its value is the AZ that
/// relayed it (the contract's).
pub use zonecast_contract::stream_key::RELAY_MARKER_PARAM as MARKER_PARAM;

/// The `onStatus` code a peer answers a relayed publish with while a direct publish of the
/// same name is live there. Only relays ever see it; they back off for
/// [`RelayConfig::refused_retry_ms`].
pub const REFUSED_PEER_HAS_DIRECT: &str = "NetStream.Publish.ZoneCastDirectWins";

/// Relay settings (`[relay]` in the TOML file); every default is here.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RelayConfig {
    /// Bytes of media queued for the peer per stream; beyond it the relay drops up to the
    /// next keyframe (the local publish never waits for the peer).
    pub max_queue_bytes: usize,
    /// Messages queued for the peer per stream (the same rule).
    pub max_queue_messages: usize,
    /// First wait after a failed connection or a dropped relay.
    pub backoff_min_ms: u64,
    /// The wait doubles up to this.
    pub backoff_max_ms: u64,
    /// Wait after the peer refused because a direct publish of the stream is live there.
    pub refused_retry_ms: u64,
    /// TCP connect, RTMP handshake, connect and publish must complete within this.
    pub connect_timeout_ms: u64,
    /// A write the peer does not take within this ends the attempt (a stopped or unreachable
    /// peer whose TCP connection has not failed yet); meanwhile the queue drops.
    pub write_timeout_ms: u64,
    /// Lifetime of the publish token a relay mints for the peer when this ingest holds the
    /// publish secret (so a reconnect works after the encoder's token expired).
    pub token_ttl_secs: u64,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            max_queue_bytes: 16 << 20,
            max_queue_messages: 4096,
            backoff_min_ms: 250,
            backoff_max_ms: 4000,
            refused_retry_ms: 5000,
            connect_timeout_ms: 3000,
            write_timeout_ms: 5000,
            token_ttl_secs: 3600,
        }
    }
}

impl RelayConfig {
    pub fn backoff_min(&self) -> Duration {
        Duration::from_millis(self.backoff_min_ms)
    }
    pub fn backoff_max(&self) -> Duration {
        Duration::from_millis(self.backoff_max_ms.max(self.backoff_min_ms))
    }
    pub fn refused_retry(&self) -> Duration {
        Duration::from_millis(self.refused_retry_ms)
    }
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }
    pub fn write_timeout(&self) -> Duration {
        Duration::from_millis(self.write_timeout_ms)
    }
}

/// Where one stream's relay is, for `/status` and the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RelayState {
    /// No relay: none configured, or this publish is itself a relay from the peer.
    Off,
    /// Connecting to the peer (TCP, handshake, connect, publish).
    Connecting,
    /// The peer accepted the publish; media flows.
    Relaying,
    /// The peer has a direct publish of the stream (a dual-output encoder): it wins; the
    /// relay retries slowly in case that publish goes away.
    RefusedPeerHasDirect,
    /// The last attempt failed (peer down, refused, dropped); waiting before the next one.
    BackingOff,
}

impl RelayState {
    pub fn as_str(self) -> &'static str {
        match self {
            RelayState::Off => "off",
            RelayState::Connecting => "connecting",
            RelayState::Relaying => "relaying",
            RelayState::RefusedPeerHasDirect => "refused-peer-has-direct",
            RelayState::BackingOff => "backing-off",
        }
    }
}

/// One stream's relay as `/status` shows it (`relay` of a stream).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayStatus {
    pub state: RelayState,
    /// The peer's RTMP address (`--relay-to`); `None` when no relay is configured.
    pub peer: Option<String>,
    /// Set when this publish came from the peer's relay: that AZ (it is never relayed again).
    #[serde(default)]
    pub relayed_from: Option<Az>,
    /// Publishes the peer accepted, over this stream's publish.
    #[serde(default)]
    pub connects: u64,
    /// Attempts that failed or relays that broke.
    #[serde(default)]
    pub failures: u64,
    /// Media messages dropped because the queue to the peer was full.
    #[serde(default)]
    pub dropped: u64,
    /// Why the last attempt failed, if it did.
    #[serde(default)]
    pub last_error: Option<String>,
}

impl RelayStatus {
    pub fn off(peer: Option<String>) -> Self {
        Self {
            state: RelayState::Off,
            peer,
            relayed_from: None,
            connects: 0,
            failures: 0,
            dropped: 0,
            last_error: None,
        }
    }
}

/// The AZ named by the relay marker of a stream key's query, if it has one. A marker with
/// another value still marks the publish as relayed (never relay it again). The contract's
/// reading ([`KeyQuery::relayed_from`]).
pub fn marker_of(stream_key: &str) -> Option<Option<Az>> {
    KeyQuery::split(stream_key).1.relayed_from()
}

/// The stream key a relay from `from` publishes with: the encoder's key with its query kept
/// (publish token, rendition…) plus the marker; `token`, when given, replaces the encoder's
/// token (a fresh one minted by this ingest). See [`KeyQuery::relayed`].
pub fn relay_key(stream_key: &str, from: Az, token: Option<&str>) -> String {
    let (stream, query) = KeyQuery::split(stream_key);
    format!("{stream}?{}", query.relayed(from, token))
}

#[cfg(test)]
mod tests;
