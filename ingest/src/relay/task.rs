//! The relay's thin tokio shell: one task per published stream, fed through a bounded queue
//! by the publishing connection ([`RelayHandle`]). It connects to the peer, publishes, sends
//! what [`RelayCore`] says, and on any failure backs off and tries again until the local
//! publish ends. Nothing here can hold up or fail the local publish: the handle never waits.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, SystemTime},
};

use bytes::Bytes;
use rml_rtmp::sessions::StreamMetadata;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::mpsc,
    time::Instant,
};
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, info, info_span, warn};
use zonecast_contract::{Az, StreamName};

use super::{
    REFUSED_PEER_HAS_DIRECT, RelayConfig, RelayState, RelayStatus,
    client::{ClientEvent, RelayClient},
    core::{Backoff, RelayCore},
    feed::{FeedAction, RelayFeed, RelayItem},
    relay_key,
};
use crate::{auth::PublishSecret, ops::metrics::Metrics};

pub use super::shared::RelayShared;

/// What a relay needs to know.
pub struct RelayParams {
    /// The peer's RTMP address, `host:port`.
    pub peer: String,
    /// This ingest's AZ (the marker's value).
    pub from: Az,
    pub name: StreamName,
    /// The encoder's stream key, query included.
    pub stream_key: String,
    pub config: RelayConfig,
    pub metrics: Arc<Metrics>,
    /// When set, each attempt carries a fresh token minted with it.
    pub secret: Option<PublishSecret>,
}

impl RelayParams {
    fn key_now(&self) -> String {
        let token = self.secret.as_ref().map(|s| {
            let now = crate::auth::unix_seconds(SystemTime::now());
            crate::auth::mint(s, &self.name, now + self.config.token_ttl_secs)
        });
        relay_key(&self.stream_key, self.from, token.as_deref())
    }
}

/// The publishing connection's end of a relay. Never blocks: what does not fit in the queue
/// is dropped up to the next keyframe ([`RelayFeed`]). Dropping the handle ends the relay as
/// if the encoder dropped.
pub struct RelayHandle {
    tx: mpsc::Sender<RelayItem>,
    queued_bytes: Arc<AtomicUsize>,
    max_bytes: usize,
    feed: RelayFeed,
    /// Drops already counted in the metrics.
    counted: u64,
    shared: Arc<RelayShared>,
    metrics: Arc<Metrics>,
    name: StreamName,
}

impl RelayHandle {
    pub fn shared(&self) -> Arc<RelayShared> {
        self.shared.clone()
    }

    pub fn video(&mut self, timestamp: u32, data: &Bytes) {
        let action = self.feed.video(timestamp, data.clone());
        self.offer(action);
    }

    pub fn audio(&mut self, timestamp: u32, data: &Bytes) {
        let action = self.feed.audio(timestamp, data.clone());
        self.offer(action);
    }

    pub fn metadata(&mut self, metadata: &StreamMetadata) {
        let action = self.feed.metadata(metadata.clone());
        self.offer(action);
    }

    /// The local publish ended; `unpublished`: the encoder said so.
    pub fn end(self, unpublished: bool) {
        // A full queue: the task sees the channel close instead (an encoder drop).
        let _ = self.tx.try_send(RelayItem::End { unpublished });
    }

    fn offer(&mut self, action: FeedAction) {
        let FeedAction::Queue(items) = action else {
            self.count_dropped();
            return;
        };
        for item in items {
            let bytes = item.bytes();
            let fits = self.queued_bytes.load(Ordering::Relaxed) + bytes <= self.max_bytes;
            let sent = fits && {
                match self.tx.try_send(item) {
                    Ok(()) => {
                        self.queued_bytes.fetch_add(bytes, Ordering::Relaxed);
                        true
                    }
                    // Closed: the relay task is gone (it only ends with the publish).
                    Err(mpsc::error::TrySendError::Closed(_)) => return,
                    Err(mpsc::error::TrySendError::Full(_)) => false,
                }
            };
            if !sent {
                if self.feed.queue_full() {
                    warn!(stream = %self.name, "relay queue to the peer is full; dropping up to the next keyframe");
                }
                self.count_dropped();
                return;
            }
        }
    }

    fn count_dropped(&mut self) {
        let dropped = self.feed.dropped();
        if dropped > self.counted {
            self.metrics.relay_dropped.inc_by(dropped - self.counted);
            self.counted = dropped;
            self.shared.update(|s| s.dropped = dropped);
        }
    }
}

/// Starts the relay of one published stream; it runs until the returned handle ends or is
/// dropped.
pub fn spawn_relay(params: RelayParams, tasks: &TaskTracker) -> RelayHandle {
    let mut status = RelayStatus::off(Some(params.peer.clone()));
    status.state = RelayState::Connecting;
    let shared = RelayShared::new(status);
    let (tx, rx) = mpsc::channel(params.config.max_queue_messages.max(1));
    let queued_bytes = Arc::new(AtomicUsize::new(0));
    let handle = RelayHandle {
        tx,
        queued_bytes: queued_bytes.clone(),
        max_bytes: params.config.max_queue_bytes,
        feed: RelayFeed::new(),
        counted: 0,
        shared: shared.clone(),
        metrics: params.metrics.clone(),
        name: params.name.clone(),
    };
    let span = info_span!("relay", stream = %params.name, peer = %params.peer);
    tasks.spawn(
        async move {
            let mut relay = RelayTask {
                rx,
                queued_bytes,
                core: RelayCore::new(),
                backoff: Backoff::new(params.config.backoff_min(), params.config.backoff_max()),
                shared,
                params,
                attempted: false,
            };
            relay.run().await;
            debug!("relay ended with the local publish");
        }
        .instrument(span),
    );
    handle
}

/// How one attempt ended.
enum Outcome {
    /// The local publish ended.
    Ended,
    Failed(String),
    Refused {
        code: String,
        description: String,
    },
}

struct RelayTask {
    rx: mpsc::Receiver<RelayItem>,
    queued_bytes: Arc<AtomicUsize>,
    core: RelayCore,
    backoff: Backoff,
    shared: Arc<RelayShared>,
    params: RelayParams,
    /// Whether an attempt was made. The first attempt leaves the queue alone until the peer
    /// accepts: the peer then gets the stream from its first frame, cuts the same first
    /// keyframe and numbers it the same, which it could not learn from an index yet
    /// (DESIGN.md §4, a fresh start).
    attempted: bool,
}

impl RelayTask {
    async fn run(&mut self) {
        let metrics = self.params.metrics.clone();
        let mut last_error: Option<String> = None;
        loop {
            self.shared.update(|s| s.state = RelayState::Connecting);
            let outcome = self.attempt().await;
            self.attempted = true;
            if self.core.is_publishing() {
                Metrics::dec(&metrics.relays_active);
            }
            self.core.on_disconnected();
            let (state, delay, error) = match outcome {
                Outcome::Ended => return,
                Outcome::Refused { code, .. } if code == REFUSED_PEER_HAS_DIRECT => {
                    Metrics::inc(&metrics.relay_refused_direct);
                    self.backoff.reset();
                    (
                        RelayState::RefusedPeerHasDirect,
                        self.params.config.refused_retry(),
                        "the peer has a direct publish of this stream".to_owned(),
                    )
                }
                Outcome::Refused { code, description } => {
                    Metrics::inc(&metrics.relay_failures);
                    (
                        RelayState::BackingOff,
                        self.backoff.next_delay(),
                        format!("the peer refused: {code}: {description}"),
                    )
                }
                Outcome::Failed(e) => {
                    Metrics::inc(&metrics.relay_failures);
                    (RelayState::BackingOff, self.backoff.next_delay(), e)
                }
            };
            if state == RelayState::RefusedPeerHasDirect
                && last_error.as_deref() != Some(error.as_str())
            {
                info!(
                    retry_ms = delay.as_millis() as u64,
                    "relay refused: the peer has the encoder's own publish of this stream (direct wins)"
                );
            } else if last_error.as_deref() != Some(error.as_str()) {
                warn!(state = state.as_str(), retry_ms = delay.as_millis() as u64, error = %error, "relay to the peer not running");
            } else {
                debug!(state = state.as_str(), retry_ms = delay.as_millis() as u64, error = %error, "relay to the peer not running");
            }
            self.shared.update(|s| {
                s.state = state;
                if state == RelayState::BackingOff {
                    s.failures += 1;
                }
                s.last_error = Some(error.clone());
            });
            last_error = Some(error);
            if self.wait(delay).await.is_err() {
                return;
            }
        }
    }

    /// Takes items (remembering the configuration, dropping media) for `delay`; `Err` once
    /// the local publish ended.
    async fn wait(&mut self, delay: Duration) -> Result<(), ()> {
        let deadline = Instant::now() + delay;
        loop {
            tokio::select! {
                item = self.rx.recv() => {
                    let Some(item) = item else { return Err(()) };
                    self.take(item);
                    if self.core.is_ended() {
                        return Err(());
                    }
                }
                () = tokio::time::sleep_until(deadline) => return Ok(()),
            }
        }
    }

    fn take(&mut self, item: RelayItem) -> Vec<super::core::RelayOut> {
        self.queued_bytes.fetch_sub(item.bytes(), Ordering::Relaxed);
        self.core.on_item(item)
    }

    async fn attempt(&mut self) -> Outcome {
        let p = &self.params;
        let key = p.key_now();
        let (mut client, c0c1) = match RelayClient::start(&p.peer, p.name.app(), &key) {
            Ok(x) => x,
            Err(e) => return Outcome::Failed(e.to_string()),
        };
        let deadline = Instant::now() + p.config.connect_timeout();
        let timeout_ms = p.config.connect_timeout_ms;
        let mut socket =
            match tokio::time::timeout_at(deadline, TcpStream::connect(p.peer.as_str())).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => return Outcome::Failed(format!("connecting to {}: {e}", p.peer)),
                Err(_) => {
                    return Outcome::Failed(format!(
                        "connecting to {}: no answer within {timeout_ms} ms",
                        p.peer
                    ));
                }
            };
        let _ = socket.set_nodelay(true);
        if let Err(e) = socket.write_all(&c0c1).await {
            return Outcome::Failed(format!("writing to {}: {e}", p.peer));
        }
        let mut buf = vec![0u8; 16 * 1024];
        enum Step {
            Read(std::io::Result<usize>),
            Item(Option<RelayItem>),
            Timeout,
        }
        loop {
            let publishing = client.is_publishing();
            let take_items = publishing || self.attempted;
            let step = tokio::select! {
                read = socket.read(&mut buf) => Step::Read(read),
                item = self.rx.recv(), if take_items => Step::Item(item),
                () = tokio::time::sleep_until(deadline), if !publishing => Step::Timeout,
            };
            let send = match step {
                Step::Timeout => {
                    return Outcome::Failed(format!(
                        "no publish accepted by {} within {timeout_ms} ms",
                        self.params.peer
                    ));
                }
                Step::Read(Ok(0)) => {
                    return Outcome::Failed(format!("{} closed the connection", self.params.peer));
                }
                Step::Read(Err(e)) => {
                    return Outcome::Failed(format!("reading from {}: {e}", self.params.peer));
                }
                Step::Read(Ok(n)) => {
                    let out = match client.handle_input(&buf[..n]) {
                        Ok(out) => out,
                        Err(e) => return Outcome::Failed(e.to_string()),
                    };
                    for event in out.events {
                        match event {
                            ClientEvent::Published => {
                                info!("relaying to the peer");
                                Metrics::inc(&self.params.metrics.relay_connects);
                                Metrics::inc(&self.params.metrics.relays_active);
                                self.backoff.reset();
                                self.core.on_published();
                                self.shared.update(|s| {
                                    s.state = RelayState::Relaying;
                                    s.connects += 1;
                                    s.last_error = None;
                                });
                            }
                            ClientEvent::Refused { code, description } => {
                                return Outcome::Refused { code, description };
                            }
                        }
                    }
                    out.send
                }
                Step::Item(None) => return Outcome::Ended,
                Step::Item(Some(item)) => {
                    let mut bytes = Vec::new();
                    for out in self.take(item) {
                        match client.send(&out) {
                            Ok(b) => bytes.extend_from_slice(&b),
                            Err(e) => return Outcome::Failed(e.to_string()),
                        }
                    }
                    bytes
                }
            };
            if !send.is_empty() {
                let write = socket.write_all(&send);
                match tokio::time::timeout(self.params.config.write_timeout(), write).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        return Outcome::Failed(format!("writing to {}: {e}", self.params.peer));
                    }
                    Err(_) => {
                        return Outcome::Failed(format!(
                            "{} took no data for {} ms",
                            self.params.peer, self.params.config.write_timeout_ms
                        ));
                    }
                }
            }
            if self.core.is_ended() {
                // Unpublish (if any) is written; closing without it leaves the peer's stream
                // waiting for its grace period, as an encoder drop would.
                let _ = tokio::time::timeout(Duration::from_secs(1), socket.shutdown()).await;
                return Outcome::Ended;
            }
        }
    }
}
