//! The RTMP listener: one task per connection. Whatever goes wrong in a connection (an error,
//! bad input, a panic) ends that connection only; other streams never notice.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use chrono::Utc;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::{oneshot, watch},
    time::Instant,
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tracing::{Instrument, debug, error, info, info_span, warn};
use zonecast_contract::{
    RetryPolicy, StreamIndex, StreamName, StreamState, name::check_component, retry::retry,
};

use crate::{
    config::{IngestConfig, UnpublishPolicy},
    invalidate::{Invalidator, paths_to_invalidate},
    jobs::upload_job,
    metrics::{Metrics, RefusalReason},
    packager::{Packager, PackagerConfig, PackagerEffect, PackagerStats},
    publishers::{Handover, PublishRequest, Publishers, Refusal},
    rtmp::{RtmpConnection, RtmpError, RtmpEvent, RtmpLimits},
    store::ObjectStore,
    uploader::{UploadJob, UploadSender, UploaderConfig, spawn_uploader_with},
    waiting::{WaitingStream, Waitlist, spawn_heartbeat},
};

/// Reads the indexes a new publish learns its numbering from (its own last one and its peer's).
pub trait IndexReader: Send + Sync + 'static {
    fn read(
        &self,
        az: zonecast_contract::Az,
        name: &StreamName,
    ) -> impl std::future::Future<Output = Option<zonecast_contract::StreamIndex>> + Send;

    /// The renditions `az` lists of `name`'s stream (`renditions.json`); none by default.
    fn read_renditions(
        &self,
        az: zonecast_contract::Az,
        name: &StreamName,
    ) -> impl std::future::Future<Output = Vec<StreamName>> + Send {
        let _ = (az, name);
        async { Vec::new() }
    }
}

/// Shared by all connections of one ingest.
pub struct IngestContext<S, R> {
    pub config: IngestConfig,
    pub store: Arc<S>,
    pub indexes: R,
    pub metrics: Arc<Metrics>,
    /// Set when a CloudFront distribution or a local edge is configured.
    pub invalidator: Option<Invalidator>,
    /// Cancelled on SIGTERM: every task drains and ends (DESIGN.md §5, drain).
    pub shutdown: CancellationToken,
    /// Every task that must finish before the process exits: connections, uploaders,
    /// heartbeats.
    pub tasks: TaskTracker,
    /// How every stream's uploader holds its backlog (memory bound, spool, retry policy).
    pub uploads: UploaderConfig,
    /// Streams being published on this ingest, with a way to stop each publisher.
    live: Arc<Mutex<Publishers>>,
    /// Streams whose publisher went away, within their grace period.
    pub(crate) waiting: Waitlist,
    /// The newest index of each stream an earlier run left in the spool, until a publish of
    /// the stream takes it.
    pub spooled_indexes: SpooledIndexes,
    /// The renditions of each stream listed in the store (streams published at several
    /// qualities).
    pub renditions: crate::renditions::RenditionLists,
}

impl<S: ObjectStore, R: IndexReader> IngestContext<S, R> {
    pub fn new(
        config: IngestConfig,
        store: S,
        indexes: R,
        metrics: Arc<Metrics>,
        invalidator: Option<Invalidator>,
        uploads: UploaderConfig,
    ) -> Arc<Self> {
        let live = Arc::new(Mutex::new(Publishers::new(config.shard)));
        Arc::new(Self {
            uploads,
            config,
            store: Arc::new(store),
            indexes,
            metrics,
            invalidator,
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            live,
            waiting: Waitlist::default(),
            spooled_indexes: SpooledIndexes::default(),
            renditions: Default::default(),
        })
    }

    /// Whether `stream` (`app/stream`) is published or waiting for its encoder here.
    pub fn is_active(&self, stream: &str) -> bool {
        let live = self
            .live
            .lock()
            .map(|live| live.contains(stream))
            .unwrap_or(false);
        live || self.waiting.contains(stream)
    }

    /// Streams waiting for their encoder, for `/healthz`.
    pub fn waiting_count(&self) -> usize {
        self.waiting.len()
    }

    /// A read-only copy of every stream this ingest publishes or waits for, for `/status`.
    pub fn stream_views(&self) -> Vec<crate::status::StreamView> {
        let live = match self.live.lock() {
            Ok(live) => live.views(),
            Err(_) => Vec::new(),
        };
        let mut views: Vec<_> = live
            .into_iter()
            .map(|v| crate::status::StreamView {
                name: v.name,
                publishing: true,
                publisher: Some(v.publisher),
                session: v.session,
                last_index: v.last_index,
                relay: v.relay.as_ref().and_then(|r| r.status()),
            })
            .collect();
        views.extend(self.waiting.views());
        views
    }

    /// Notes the newest index of publish `id` for `/status`.
    fn note_index(&self, name: &StreamName, id: u64, index: &StreamIndex) {
        if let Ok(mut live) = self.live.lock() {
            live.note_index(name, id, index);
        }
    }

    /// Runs `f` on the registry of publishers (a poisoned lock: not at all).
    pub(crate) fn with_publishers(&self, f: impl FnOnce(&mut Publishers)) {
        if let Ok(mut live) = self.live.lock() {
            f(&mut live);
        }
    }
}

/// Indexes found in the spool at startup, by stream.
#[derive(Debug, Default)]
pub struct SpooledIndexes(Mutex<HashMap<StreamName, StreamIndex>>);

impl SpooledIndexes {
    /// Keeps `index` if it is the newest seen for its stream.
    pub fn offer(&self, index: StreamIndex) {
        let Ok(name) = index.name() else { return };
        if let Ok(mut map) = self.0.lock() {
            let newest = newest_index(map.remove(&name), Some(index));
            if let Some(i) = newest {
                map.insert(name, i);
            }
        }
    }

    pub fn take(&self, name: &StreamName) -> Option<StreamIndex> {
        self.0.lock().ok()?.remove(name)
    }
}

/// Accepts RTMP connections until the listener fails or shutdown begins; then stops accepting
/// (the connections drain on their own, tracked by `ctx.tasks`).
pub async fn serve_rtmp<S: ObjectStore, R: IndexReader>(
    listener: TcpListener,
    ctx: Arc<IngestContext<S, R>>,
) -> std::io::Result<()> {
    info!(addr = %listener.local_addr()?, az = %ctx.config.az, "RTMP listening");
    let slots = Arc::new(tokio::sync::Semaphore::new(ctx.config.max_connections));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = ctx.shutdown.cancelled() => {
                info!("no longer accepting RTMP connections: draining");
                return Ok(());
            }
        };
        let (socket, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        Metrics::inc(&ctx.metrics.connections_total);
        // One permit per open connection, taken here and held by the connection's task: the
        // limit holds however many accepts race (a gauge read would not).
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            ctx.metrics.refused(RefusalReason::TooManyConnections);
            warn!(%peer, limit = ctx.config.max_connections, "too many connections; closing the new one");
            continue;
        };
        let task_ctx = ctx.clone();
        let span = info_span!("rtmp", %peer);
        ctx.tasks.spawn(
            async move {
                let _permit = permit;
                let ctx = task_ctx;
                Metrics::inc(&ctx.metrics.connections_open);
                let handle =
                    tokio::spawn(handle_connection(socket, peer, ctx.clone()).in_current_span());
                match handle.await {
                    Ok(Ok(())) => debug!("connection closed"),
                    Ok(Err(e)) if e.is_expected() => debug!(error = %e, "connection closed"),
                    Ok(Err(e)) => {
                        Metrics::inc(&ctx.metrics.connections_failed);
                        if matches!(e, ConnectionError::Rtmp(RtmpError::Panicked { .. })) {
                            Metrics::inc(&ctx.metrics.rtmp_panics);
                        }
                        warn!(error = %e, "connection closed on error");
                    }
                    Err(join) => {
                        Metrics::inc(&ctx.metrics.connections_failed);
                        error!(error = %join, "connection task panicked; connection closed");
                    }
                }
                Metrics::dec(&ctx.metrics.connections_open);
            }
            .instrument(span),
        );
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error(transparent)]
    Rtmp(#[from] RtmpError),
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("{peer}: no data for {secs} s")]
    Idle { peer: SocketAddr, secs: u64 },
    #[error("{peer}: no RTMP handshake within {secs} s")]
    Handshake { peer: SocketAddr, secs: u64 },
    #[error("{peer}: refused: {reason}")]
    Refused { peer: SocketAddr, reason: String },
    /// The peer's relay of a stream that an encoder publishes here directly: direct wins
    /// (README.md, "The relay"). Expected with a dual-output encoder; not a failure.
    #[error("{peer}: refused the relay of {stream}: a direct publish of it is live here")]
    RelayBehindDirect {
        peer: SocketAddr,
        stream: StreamName,
    },
    #[error("{peer} {stream}: {source}")]
    Media {
        peer: SocketAddr,
        stream: StreamName,
        source: Box<crate::packager::PackagerError>,
    },
}

impl ConnectionError {
    /// A close that is part of normal operation, not worth a warning or a failure count.
    pub fn is_expected(&self) -> bool {
        matches!(self, ConnectionError::RelayBehindDirect { .. })
    }
}

/// A claimed name: the claim, the signal that a newer publisher replaced this one, and what
/// this one takes over from the publish it replaced.
type Registered = (Registration, watch::Receiver<bool>, Option<Handover>);

/// A claimed stream name. Dropping it (also while unwinding from a panic) frees the name.
struct Registration {
    registry: Arc<Mutex<Publishers>>,
    name: StreamName,
    id: u64,
    metrics: Arc<Metrics>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Ok(mut live) = self.registry.lock() {
            live.release(&self.name, self.id);
        }
        Metrics::dec(&self.metrics.publishes_active);
    }
}

/// The publish in progress on one connection.
struct Publish {
    name: StreamName,
    registration: Registration,
    packager: Packager,
    uploads: UploadSender,
    stop: watch::Receiver<bool>,
    /// Playlist paths to invalidate once the first index of this publish is in the store
    /// (an ended stream started again: its day-cached ENDLIST chunklist must go). Not
    /// before: a viewer asking in between would cache the old ended index again.
    invalidate_after_first_index: Option<Vec<String>>,
    /// A rendition whose first index is not yet queued: once it is written, the rendition is
    /// listed in the stream's `renditions.json`.
    announce_after_first_index: bool,
    session: String,
    /// The packager's counters as last turned into metrics.
    counted: PackagerStats,
    /// Forwards this publish to the peer ingest (`--relay-to`), if it does.
    relay: Option<crate::relay::RelayHandle>,
}

/// Why a publish ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PublishEnd {
    /// The connection closed or failed without an unpublish.
    Dropped,
    /// `FCUnpublish` / `deleteStream`.
    Unpublished,
    /// A new publisher of the same name took over (duplicate policy `replace-old`).
    Replaced,
    /// This ingest is shutting down.
    Shutdown,
}

async fn handle_connection<S: ObjectStore, R: IndexReader>(
    mut socket: TcpStream,
    peer: SocketAddr,
    ctx: Arc<IngestContext<S, R>>,
) -> Result<(), ConnectionError> {
    let _ = socket.set_nodelay(true);
    let mut conn = RtmpConnection::with_limits(
        peer,
        RtmpLimits {
            max_message_bytes: ctx.config.max_message_bytes,
            max_chunk_size: ctx.config.max_chunk_size,
            ..RtmpLimits::default()
        },
    );
    let mut buf = vec![0u8; 64 * 1024];
    let mut publish: Option<Publish> = None;
    let idle = Duration::from_secs(ctx.config.idle_timeout_secs);
    // A peer gets this long to complete the handshake, however it trickles bytes.
    let handshake_deadline =
        Instant::now() + Duration::from_secs(ctx.config.handshake_timeout_secs);
    // One timer for the connection's life, re-armed only when it fires and input came since:
    // a timer per read (tens per second per stream) showed in the profile.
    let mut last_input = Instant::now();
    let read_timer = tokio::time::sleep_until((last_input + idle).min(handshake_deadline));
    tokio::pin!(read_timer);
    let result = async {
        loop {
            let stopped = async {
                match &mut publish {
                    Some(p) => {
                        let _ = p.stop.changed().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            let n = tokio::select! {
                read = socket.read(&mut buf) => read?,
                () = &mut read_timer => {
                    let handshaking = conn.is_handshaking();
                    let now = Instant::now();
                    let idle_at = last_input + idle;
                    if handshaking && (now >= handshake_deadline || now >= idle_at) {
                        return Err(ConnectionError::Handshake {
                            peer,
                            secs: ctx.config.handshake_timeout_secs,
                        });
                    }
                    if now >= idle_at {
                        return Err(ConnectionError::Idle { peer, secs: idle.as_secs() });
                    }
                    let next = if handshaking { idle_at.min(handshake_deadline) } else { idle_at };
                    read_timer.as_mut().reset(next);
                    continue;
                }
                () = stopped => {
                    info!("replaced by a new publisher of the same stream");
                    return Ok(Some(PublishEnd::Replaced));
                }
                () = ctx.shutdown.cancelled() => return Ok(Some(PublishEnd::Shutdown)),
            };
            last_input = Instant::now();
            if n == 0 {
                return Ok(None);
            }
            let out = conn.handle_input(&buf[..n])?;
            let mut reply = out.send;
            for event in out.events {
                if let Err(e) =
                    on_event(event, &mut conn, &mut reply, &mut publish, peer, &ctx).await
                {
                    // A refusal's status goes out before the connection closes, so the encoder
                    // shows why (ffmpeg: "Server error: <description>"); a peer that does not
                    // read gets a second.
                    if !reply.is_empty() {
                        let flush = async {
                            socket.write_all(&reply).await?;
                            socket.shutdown().await
                        };
                        let _ = tokio::time::timeout(Duration::from_secs(1), flush).await;
                    }
                    return Err(e);
                }
            }
            if !reply.is_empty() {
                socket.write_all(&reply).await?;
            }
        }
    }
    .await;
    if let Some(p) = publish.take() {
        let end = match &result {
            Ok(Some(end)) => *end,
            Ok(None) | Err(_) => PublishEnd::Dropped,
        };
        end_publish(p, end, &ctx);
    }
    result.map(|_| ())
}

async fn on_event<S: ObjectStore, R: IndexReader>(
    event: RtmpEvent,
    conn: &mut RtmpConnection,
    reply: &mut Vec<u8>,
    publish: &mut Option<Publish>,
    peer: SocketAddr,
    ctx: &Arc<IngestContext<S, R>>,
) -> Result<(), ConnectionError> {
    match event {
        RtmpEvent::ConnectRequested { request_id, app } => {
            if let Err(e) = check_component("app", &app) {
                ctx.metrics.refused(RefusalReason::BadName);
                warn!(error = %e, "refusing connect: bad app name");
                reply.extend(conn.reject(
                    request_id,
                    "NetConnection.Connect.Rejected",
                    &e.to_string(),
                )?);
                return Err(ConnectionError::Refused {
                    peer,
                    reason: e.to_string(),
                });
            }
            reply.extend(conn.accept(request_id)?);
        }
        RtmpEvent::PublishRequested {
            request_id,
            app,
            stream_key,
        } => {
            let refuse = |conn: &mut RtmpConnection,
                          reply: &mut Vec<u8>,
                          why: RefusalReason,
                          reason: String| {
                ctx.metrics.refused(why);
                let code = match why {
                    RefusalReason::Auth => "NetStream.Publish.Unauthorized",
                    RefusalReason::RelayBehindDirect => crate::relay::REFUSED_PEER_HAS_DIRECT,
                    _ => "NetStream.Publish.BadName",
                };
                reply.extend(conn.reject(request_id, code, &reason)?);
                Err::<(), _>(ConnectionError::Refused { peer, reason })
            };
            if publish.is_some() {
                let reason = "this connection already publishes".into();
                return refuse(conn, reply, RefusalReason::AlreadyPublishing, reason);
            }
            let name = match StreamName::from_publish(&app, &stream_key) {
                Ok(n) => n,
                Err(e) => {
                    warn!(error = %e, "refusing publish: bad stream name");
                    return refuse(conn, reply, RefusalReason::BadName, e.to_string());
                }
            };
            if let Err(e) =
                crate::auth::check_publish(&ctx.config, &name, &stream_key, SystemTime::now())
            {
                warn!(stream = %name, reason = e.reason(), error = %e, "refusing publish: publish auth");
                return refuse(conn, reply, RefusalReason::Auth, e.to_string());
            }
            let relayed_from = crate::relay::marker_of(&stream_key);
            let request = PublishRequest {
                name: name.clone(),
                publisher: peer,
                relayed: relayed_from.is_some(),
            };
            let (registration, stop, handover) = match register(ctx, &request) {
                Ok(x) => x,
                Err(Refusal::RelayBehindDirect) => {
                    info!(stream = %name, "refusing the peer's relay: a direct publish of this stream is live here (direct wins)");
                    let reason = Refusal::RelayBehindDirect.message(&name);
                    let _ = refuse(conn, reply, RefusalReason::RelayBehindDirect, reason);
                    return Err(ConnectionError::RelayBehindDirect { peer, stream: name });
                }
                Err(refusal) => {
                    let reason = refusal.message(&name);
                    warn!(stream = %name, %reason, "refusing publish");
                    return refuse(conn, reply, refusal.reason(), reason);
                }
            };
            let mut p = start_publish(ctx, name, registration, stop, handover).await;
            info!(stream = %p.name, az = %ctx.config.az, relayed = relayed_from.is_some(), "publishing");
            p.relay = relay_hook::start(ctx, &p.name, p.registration.id, &stream_key, relayed_from);
            *publish = Some(p);
            reply.extend(conn.accept(request_id)?);
        }
        RtmpEvent::PlayRequested {
            request_id,
            stream_key,
        } => {
            warn!(stream_key = %truncate(&stream_key), "refusing play: this is an ingest");
            reply.extend(conn.reject(request_id, "NetStream.Play.Failed", "ingest only")?);
        }
        RtmpEvent::PublishFinished { .. } => {
            if let Some(p) = publish.take() {
                end_publish(p, PublishEnd::Unpublished, ctx);
            }
        }
        RtmpEvent::Video { timestamp, data } => {
            if let Some(p) = publish {
                if let Some(r) = &mut p.relay {
                    r.video(timestamp, &data);
                }
                let effects = p.packager.push_video(timestamp, &data, Utc::now());
                handle_effects(p, effects, peer, ctx)?;
            }
        }
        RtmpEvent::Audio { timestamp, data } => {
            if let Some(p) = publish {
                if let Some(r) = &mut p.relay {
                    r.audio(timestamp, &data);
                }
                let effects = p.packager.push_audio(timestamp, &data, Utc::now());
                handle_effects(p, effects, peer, ctx)?;
            }
        }
        RtmpEvent::Metadata { metadata } => {
            if let Some(r) = publish.as_mut().and_then(|p| p.relay.as_mut()) {
                r.metadata(&metadata);
            }
        }
    }
    Ok(())
}

/// A peer-supplied key for a log line: short, and without its query string (which may carry
/// a publish token).
fn truncate(s: &str) -> String {
    let s = s.split_once('?').map_or(s, |(key, _)| key);
    s.chars().take(80).collect()
}

fn handle_effects<S: ObjectStore, R: IndexReader>(
    p: &mut Publish,
    effects: Result<Vec<PackagerEffect>, crate::packager::PackagerError>,
    peer: SocketAddr,
    ctx: &Arc<IngestContext<S, R>>,
) -> Result<(), ConnectionError> {
    let stats = p.packager.stats();
    let dropped =
        |s: &PackagerStats| s.malformed_tags + s.unsupported_tags + s.frames_before_config;
    ctx.metrics
        .media_tags_dropped
        .inc_by(dropped(&stats).saturating_sub(dropped(&p.counted)));
    ctx.metrics.format_changes.inc_by(
        stats
            .format_changes
            .saturating_sub(p.counted.format_changes),
    );
    p.counted = stats;
    let effects = effects.map_err(|source| ConnectionError::Media {
        peer,
        stream: p.name.clone(),
        source: Box::new(source),
    })?;
    enqueue(p, effects, ctx);
    Ok(())
}

fn enqueue<S: ObjectStore, R: IndexReader>(
    p: &mut Publish,
    effects: Vec<PackagerEffect>,
    ctx: &Arc<IngestContext<S, R>>,
) {
    let now = Instant::now();
    let epoch = p.packager.epoch();
    for effect in effects {
        let first_index = match &effect {
            PackagerEffect::PutIndex { index } => {
                ctx.note_index(&p.name, p.registration.id, index);
                let paths = p.invalidate_after_first_index.take();
                let announce = std::mem::take(&mut p.announce_after_first_index);
                (paths.is_some() || announce).then_some(paths)
            }
            PackagerEffect::PutSegment { .. } => None,
        };
        let mut job = upload_job(ctx.config.az, &p.name, epoch, effect, now);
        if let Some(paths) = first_index {
            job.done = after_first_index_written(ctx, paths, &p.session, &p.name);
        }
        send_job(&p.uploads, job, &ctx.metrics);
    }
}

pub(crate) fn send_job(uploads: &UploadSender, job: UploadJob, metrics: &Metrics) {
    Metrics::inc(&metrics.uploads_pending);
    // The uploader only stops once all senders are gone, so this cannot fail while we hold one.
    let _ = uploads.send(job);
}

/// Once the job carrying the returned sender is written: starts the invalidation of `paths`,
/// and lists a rendition in its stream's `renditions.json`.
fn after_first_index_written<S: ObjectStore, R: IndexReader>(
    ctx: &Arc<IngestContext<S, R>>,
    paths: Option<Vec<String>>,
    session: &str,
    name: &StreamName,
) -> Option<oneshot::Sender<()>> {
    let invalidation = ctx.invalidator.clone().zip(paths);
    if invalidation.is_none() && name.rendition().is_none() {
        return None;
    }
    let (tx, rx) = oneshot::channel();
    let (session, name, task_ctx) = (session.to_owned(), name.clone(), ctx.clone());
    ctx.tasks.spawn(async move {
        // Err: the uploader stopped without writing it (shutdown): nothing to do.
        if rx.await.is_err() {
            return;
        }
        let az = task_ctx.config.az;
        if let Err(e) = task_ctx
            .renditions
            .announce(task_ctx.store.as_ref(), az, &name, Utc::now())
            .await
        {
            error!(stream = %name, error = %e, "cannot list the rendition; viewers will not see it");
        }
        if let Some((invalidator, paths)) = invalidation {
            run_invalidation(invalidator, paths, session, name).await;
        }
    });
    Some(tx)
}

/// Claims a stream name on this ingest ([`Publishers::claim`]: duplicate policy, direct wins,
/// rendition limit, hand-over) and ties the claim's lifetime to a [`Registration`].
fn register<S, R>(
    ctx: &IngestContext<S, R>,
    request: &PublishRequest,
) -> Result<Registered, Refusal> {
    let mut live = ctx.live.lock().map_err(|_| Refusal::Duplicate)?;
    let claim = live.claim(
        request,
        ctx.config.duplicate_publish,
        zonecast_contract::renditions::MAX_RENDITIONS,
    )?;
    Metrics::inc(&ctx.metrics.publishes_active);
    let registration = Registration {
        registry: ctx.live.clone(),
        name: request.name.clone(),
        id: claim.id,
        metrics: ctx.metrics.clone(),
    };
    Ok((registration, claim.replaced, claim.handover))
}

async fn start_publish<S: ObjectStore, R: IndexReader>(
    ctx: &Arc<IngestContext<S, R>>,
    name: StreamName,
    registration: Registration,
    stop: watch::Receiver<bool>,
    handover: Option<Handover>,
) -> Publish {
    let id = registration.id;
    let az = ctx.config.az;
    // Learn the numbering from what is already in S3 (DESIGN.md §4): our own last index and
    // our peer's. A slow store must not hold the encoder for long.
    // A stream waiting for its encoder on this ingest continues from what we hold: its last
    // index (newer than the one in S3 while uploads are queued) and its uploader (so every
    // write stays in order).
    let resumed = ctx.waiting.take(&name);
    if let Some(w) = &resumed {
        info!(stream = %name, "the encoder is back within the grace period");
        w.cancel.cancel();
    }
    let read = |az| tokio::time::timeout(Duration::from_secs(3), ctx.indexes.read(az, &name));
    let held = match (&resumed, &handover) {
        (Some(w), _) => Some(Some(w.last.clone())),
        (None, Some(h)) => {
            info!(stream = %name, "taking over the replaced publisher's uploads");
            Some(h.last_index.clone())
        }
        (None, None) => None,
    };
    let (own, peer) = match held {
        Some(Some(own)) => (Some(own), read(az.peer()).await.ok().flatten()),
        Some(None) | None => {
            let (own, peer) = tokio::join!(read(az), read(az.peer()));
            // An index an earlier run left in the spool (the store was away when it stopped)
            // names segments the store may not have yet: numbering on from the store's older
            // index would give new content their keys.
            let spooled = ctx.spooled_indexes.take(&name);
            (
                newest_index(own.ok().flatten(), spooled),
                peer.ok().flatten(),
            )
        }
    };
    // A rendition numbers its segments like its siblings (aligned renditions).
    let siblings = tokio::time::timeout(
        Duration::from_secs(3),
        crate::renditions::sibling_indexes(&ctx.indexes, &ctx.renditions, az, &name),
    )
    .await
    .unwrap_or_default();
    let session = format!("{}-{}-{id}", az, Utc::now().format("%Y%m%dT%H%M%S%.3fZ"));
    ctx.with_publishers(|p| p.set_session(&name, id, &session));
    let invalidate_after_first_index = paths_to_invalidate(az, &name, own.as_ref());
    let packager = Packager::with_siblings(
        PackagerConfig {
            az,
            target_ms: ctx.config.target_duration_ms,
            window: ctx.config.window,
        },
        name.clone(),
        session.clone(),
        own.as_ref(),
        peer.as_ref(),
        &siblings.iter().collect::<Vec<_>>(),
        Utc::now(),
    );
    let uploads = match (resumed, handover) {
        (Some(w), _) => w.uploads,
        (None, Some(h)) => h.uploads,
        (None, None) => spawn_uploader_with(
            &ctx.tasks,
            ctx.store.clone(),
            ctx.metrics.clone(),
            name.to_string(),
            ctx.uploads.clone(),
        ),
    };
    ctx.with_publishers(|p| p.set_uploads(&name, id, &uploads));
    let name_is_rendition = name.rendition().is_some();
    Publish {
        name,
        registration,
        packager,
        uploads,
        stop,
        invalidate_after_first_index,
        announce_after_first_index: name_is_rendition,
        session,
        counted: PackagerStats::default(),
        relay: None,
    }
}

/// The newer of two copies of this AZ's own index (the store's and the spool's), by when each
/// was written.
fn newest_index(store: Option<StreamIndex>, spooled: Option<StreamIndex>) -> Option<StreamIndex> {
    match (store, spooled) {
        (Some(a), Some(b)) => Some(if b.updated > a.updated { b } else { a }),
        (a, b) => a.or(b),
    }
}

/// Invalidates an ended stream's cached playlists, a few tries; the publish does not wait for
/// it (a day-cached `#EXT-X-ENDLIST` chunklist is the only thing at stake).
async fn run_invalidation(
    invalidator: Invalidator,
    paths: Vec<String>,
    session: String,
    name: StreamName,
) {
    let result = retry(
        &RetryPolicy::INVALIDATION,
        || invalidator.invalidate(paths.clone(), &session),
        |e, failed| {
            warn!(stream = %name, attempt = failed.number, will_retry = failed.wait.is_some(),
                  error = %e, "invalidation failed");
        },
    )
    .await;
    if result.is_ok() {
        info!(stream = %name, ?paths, "invalidated the ended stream's cached playlists");
    }
}

/// Ends a publish. The last segment is closed and uploaded, then the index says what comes
/// next: `waiting` (the encoder may come back within the grace period; heartbeats keep the
/// AZ fresh), `draining` (this ingest is shutting down), or `ended`.
fn end_publish<S: ObjectStore, R: IndexReader>(
    mut p: Publish,
    end: PublishEnd,
    ctx: &Arc<IngestContext<S, R>>,
) {
    let grace = Duration::from_secs(ctx.config.reconnect_grace_secs);
    if let Some(relay) = p.relay.take() {
        relay.end(end == PublishEnd::Unpublished);
    }
    let state = match end {
        PublishEnd::Replaced => {
            // The new publisher carries the stream on (its own packager, our uploader, so
            // what we queued is written before anything of its); our open segment goes, and
            // we write no index after its.
            info!(stream = %p.name, "publish handed over to the new publisher");
            return;
        }
        PublishEnd::Shutdown => StreamState::Draining,
        PublishEnd::Unpublished if ctx.config.on_unpublish == UnpublishPolicy::End => {
            StreamState::Ended
        }
        PublishEnd::Dropped | PublishEnd::Unpublished if grace.is_zero() => StreamState::Ended,
        PublishEnd::Dropped | PublishEnd::Unpublished => StreamState::Waiting,
    };
    let now = Utc::now();
    let effects = p.packager.finish(state, now);
    enqueue(&mut p, effects, ctx);
    let last = p.packager.snapshot(state, now);
    match (state, last) {
        (StreamState::Waiting, Some(last)) => {
            info!(stream = %p.name, ?end, grace_secs = grace.as_secs(), "publisher gone; waiting for the encoder to come back");
            let cancel = ctx.shutdown.child_token();
            let id = p.registration.id;
            ctx.waiting.insert(
                p.name.clone(),
                WaitingStream {
                    id,
                    last,
                    uploads: p.uploads.clone(),
                    cancel: cancel.clone(),
                },
            );
            spawn_heartbeat(ctx, p.name.clone(), id, cancel, grace);
        }
        (state, _) => {
            info!(stream = %p.name, ?end, state = ?state, "publish ended");
        }
    }
}

mod relay_hook;
#[cfg(test)]
mod tests;
