//! The entry point: one RTMP address for an encoder with a single output, forwarded to an
//! ingest that is alive. It is the local stand-in for `ingest.<domain>` on AWS (Route 53
//! failover records on both ingests, health-checked on `/healthz`; README.md, "Point an
//! encoder at it"), and behaves like it towards an encoder: a new connection lands on az1 while
//! az1 is healthy, on az2 otherwise, and a connection already open stays where it landed.
//!
//! When the AZ an encoder publishes to dies, its connection drops; an encoder that reconnects
//! (OBS, ffmpeg in a `while` loop) comes back here and is forwarded to the live AZ, whose
//! reconnect grace period (DESIGN.md §4) kept the stream live meanwhile. The relay between the
//! ingests carries the stream to the other AZ as for any direct publish.
//!
//! This is a TCP forwarder, not an RTMP proxy: it never reads the stream, so an encoder's
//! handshake, stream key and token reach the ingest unchanged, and the ingest sees the
//! forwarder's address as its publisher.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};
use tracing::{info, warn};
use zonecast_contract::Az;

/// How long a health verdict is reused: a burst of reconnects probes each ingest once, and an
/// ingest that died is noticed by the next connection at most this late (Route 53's checks
/// are far slower: 10 or 30 s intervals, a failure threshold, and the record's TTL).
pub const VERDICT_TTL: Duration = Duration::from_secs(1);
/// A `/healthz` that has not answered by then counts as unhealthy (a frozen ingest accepts
/// TCP in the kernel but never answers).
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(500);
/// Connecting to the chosen ingest's RTMP port.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// One ingest behind the entry point, in order of preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryTarget {
    pub az: Az,
    /// Its RTMP address (where bytes go).
    pub rtmp: SocketAddr,
    /// Its `/healthz` address.
    pub health: SocketAddr,
}

/// The health verdicts the entry point holds, and which target a new connection gets. No I/O
/// and no clock: the caller probes and passes `now` (the sans-IO core under [`serve_entry`]).
#[derive(Debug, Clone)]
pub struct EntryRouter {
    targets: Vec<EntryTarget>,
    verdicts: Vec<Option<(Instant, bool)>>,
    ttl: Duration,
}

/// What the router asks for next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryChoice {
    /// Forward to this target (its verdict is fresh and healthy).
    Forward(usize),
    /// Probe this target's `/healthz` and [`EntryRouter::record`] the answer, then ask again.
    Probe(usize),
    /// Every target is fresh and unhealthy: refuse the connection (the encoder retries).
    NoneHealthy,
}

impl EntryRouter {
    pub fn new(targets: Vec<EntryTarget>, ttl: Duration) -> Self {
        let verdicts = vec![None; targets.len()];
        EntryRouter {
            targets,
            verdicts,
            ttl,
        }
    }

    pub fn targets(&self) -> &[EntryTarget] {
        &self.targets
    }

    /// The first target in order whose verdict is healthy, probing the first one whose verdict
    /// is missing or stale before looking further (az1 is preferred whenever it is healthy,
    /// as a Route 53 failover record prefers its primary). A verdict is fresh while at most
    /// `ttl` old at `now`; one given after `now` is fresh, so a connection that decides at its
    /// own start sees the verdicts it gathered itself even with a zero `ttl`.
    pub fn choose(&self, now: Instant) -> EntryChoice {
        for (i, verdict) in self.verdicts.iter().enumerate() {
            match verdict {
                Some((at, healthy)) if now.saturating_duration_since(*at) <= self.ttl => {
                    if *healthy {
                        return EntryChoice::Forward(i);
                    }
                }
                _ => return EntryChoice::Probe(i),
            }
        }
        EntryChoice::NoneHealthy
    }

    /// Records the verdict on target `i` (a probe's answer, or a failed connect: unhealthy).
    pub fn record(&mut self, i: usize, healthy: bool, now: Instant) {
        if let Some(v) = self.verdicts.get_mut(i) {
            *v = Some((now, healthy));
        }
    }
}

/// Why a connection was not forwarded.
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    #[error("entry point: no ingest is healthy for the encoder at {peer} (tried {tried})")]
    NoneHealthy { peer: SocketAddr, tried: String },
}

/// Whether the ingest's `/healthz` answers 200 with `"status":"ok"` within [`PROBE_TIMEOUT`]
/// (a draining ingest answers 503 and is passed over, as Route 53's check would).
pub async fn probe_health(addr: SocketAddr) -> bool {
    let get = async {
        let mut s = TcpStream::connect(addr).await?;
        let req = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await?;
        let mut buf = Vec::new();
        // The answer is one short JSON line; more than 4 KiB is not a healthy ingest.
        (&mut s).take(4096).read_to_end(&mut buf).await?;
        Ok::<_, std::io::Error>(buf)
    };
    match tokio::time::timeout(PROBE_TIMEOUT, get).await {
        Ok(Ok(buf)) => healthz_says_ok(&buf),
        _ => false,
    }
}

/// A `/healthz` response that says ok: status 200 and `"status":"ok"` in the body.
pub fn healthz_says_ok(response: &[u8]) -> bool {
    let text = String::from_utf8_lossy(response);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    head.starts_with("HTTP/1.1 200") && body.contains("\"status\":\"ok\"")
}

/// Accepts encoders on `listener` for as long as the stack runs; each connection is forwarded
/// in its own task, so a slow probe or a long publish never holds up another connection.
pub async fn serve_entry(listener: TcpListener, router: Arc<Mutex<EntryRouter>>) {
    loop {
        let (client, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                warn!("entry point: accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let router = router.clone();
        tokio::spawn(async move {
            if let Err(e) = forward(client, peer, &router).await {
                warn!("{e}");
            }
        });
    }
}

/// Connects `client` to the first healthy ingest and copies bytes both ways until either side
/// ends; then both are closed.
async fn forward(
    mut client: TcpStream,
    peer: SocketAddr,
    router: &Mutex<EntryRouter>,
) -> Result<(), EntryError> {
    let (mut upstream, target) = connect_healthy(peer, router).await?;
    info!(
        "entry point: encoder {peer} → {} ingest at {}",
        target.az, target.rtmp
    );
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let outcome = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    let how = match outcome {
        Ok((up, down)) => format!("{up} B up, {down} B down"),
        Err(e) => format!("{e}"),
    };
    info!(
        "entry point: encoder {peer} ← {} ingest closed ({how})",
        target.az
    );
    // Dropping both streams closes both sides.
    Ok(())
}

async fn connect_healthy(
    peer: SocketAddr,
    router: &Mutex<EntryRouter>,
) -> Result<(TcpStream, EntryTarget), EntryError> {
    let mut tried = Vec::new();
    // Decided as of the connection's arrival: verdicts gathered since are fresh for it.
    let arrived = Instant::now();
    // At most one probe and one connect per target: the loop ends.
    let bound = 2 * lock(router).targets().len() + 1;
    for _ in 0..bound {
        let choice = lock(router).choose(arrived);
        match choice {
            EntryChoice::Probe(i) => {
                let target = lock(router).targets()[i];
                let healthy = probe_health(target.health).await;
                if !healthy {
                    tried.push(format!("{}: /healthz not ok", target.az));
                }
                lock(router).record(i, healthy, Instant::now());
            }
            EntryChoice::Forward(i) => {
                let target = lock(router).targets()[i];
                match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(target.rtmp)).await {
                    Ok(Ok(stream)) => return Ok((stream, target)),
                    Ok(Err(e)) => tried.push(format!("{}: {e}", target.az)),
                    Err(_) => tried.push(format!("{}: connect timed out", target.az)),
                }
                lock(router).record(i, false, Instant::now());
            }
            EntryChoice::NoneHealthy => break,
        }
    }
    Err(EntryError::NoneHealthy {
        peer,
        tried: if tried.is_empty() {
            "every ingest was unhealthy within the last second".into()
        } else {
            tried.join("; ")
        },
    })
}

/// The router's lock; a panic elsewhere while holding it leaves verdicts that are still valid.
fn lock(router: &Mutex<EntryRouter>) -> std::sync::MutexGuard<'_, EntryRouter> {
    router.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests;
