//! A small fault-injecting TCP/HTTP proxy for the outage test: it sits between the ingests
//! and the local store (`zonecast-local --ingest-endpoint`) and, on command, answers every
//! request with S3's `503 SlowDown`, resets connections, or stalls them.
//!
//! Connections opened while the proxy passes are spliced byte for byte to the store; switching
//! to a fault closes them all (HTTP keep-alive would otherwise carry requests past the fault),
//! so every request after a switch meets the new mode.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::watch,
};

/// What the proxy does with a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultMode {
    /// Splice to the store.
    Pass,
    /// Read the request head, answer `503 SlowDown` (S3's throttling error), close.
    SlowDown,
    /// Close at once with a TCP reset (SO_LINGER 0).
    Reset,
    /// Accept and read, never answer, until the mode changes (the client's timeout fires
    /// first, or the connection is closed when the stall ends).
    Stall,
}

/// Counts of what the proxy did.
#[derive(Debug, Default)]
pub struct FaultCounts {
    pub passed: AtomicU64,
    pub slow_down: AtomicU64,
    pub reset: AtomicU64,
    pub stalled: AtomicU64,
}

impl FaultCounts {
    /// Connections or requests that met a fault.
    pub fn faults(&self) -> u64 {
        self.slow_down.load(Ordering::Relaxed)
            + self.reset.load(Ordering::Relaxed)
            + self.stalled.load(Ordering::Relaxed)
    }
}

/// A running proxy; it stops when dropped.
pub struct FaultProxy {
    pub addr: SocketAddr,
    upstream: Arc<Mutex<Option<SocketAddr>>>,
    mode: watch::Sender<FaultMode>,
    pub counts: Arc<FaultCounts>,
    task: tokio::task::JoinHandle<()>,
}

const SLOW_DOWN_BODY: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>zonecast-fault</RequestId></Error>";

impl FaultProxy {
    /// Listens on a free loopback port; passes nothing until [`FaultProxy::set_upstream`].
    pub async fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let upstream = Arc::new(Mutex::new(None));
        let (mode, mode_rx) = watch::channel(FaultMode::Pass);
        let counts = Arc::new(FaultCounts::default());
        let task = tokio::spawn(accept_loop(
            listener,
            upstream.clone(),
            mode_rx,
            counts.clone(),
        ));
        Ok(Self {
            addr,
            upstream,
            mode,
            counts,
            task,
        })
    }

    pub fn set_upstream(&self, addr: SocketAddr) {
        if let Ok(mut u) = self.upstream.lock() {
            *u = Some(addr);
        }
    }

    pub fn set_mode(&self, mode: FaultMode) {
        self.mode.send_replace(mode);
    }

    pub fn mode(&self) -> FaultMode {
        *self.mode.borrow()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: Arc<Mutex<Option<SocketAddr>>>,
    mode: watch::Receiver<FaultMode>,
    counts: Arc<FaultCounts>,
) {
    loop {
        let Ok((socket, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let upstream = upstream.lock().ok().and_then(|u| *u);
        let mode = mode.clone();
        let counts = counts.clone();
        tokio::spawn(async move {
            let _ = handle(socket, upstream, mode, counts).await;
        });
    }
}

async fn handle(
    mut socket: TcpStream,
    upstream: Option<SocketAddr>,
    mut mode: watch::Receiver<FaultMode>,
    counts: Arc<FaultCounts>,
) -> std::io::Result<()> {
    let now = *mode.borrow_and_update();
    match now {
        FaultMode::Pass => {
            let Some(upstream) = upstream else {
                counts.reset.fetch_add(1, Ordering::Relaxed);
                return reset(socket);
            };
            counts.passed.fetch_add(1, Ordering::Relaxed);
            let mut store = TcpStream::connect(upstream).await?;
            tokio::select! {
                r = tokio::io::copy_bidirectional(&mut socket, &mut store) => r.map(|_| ()),
                // A fault begins: close the spliced connection so the next request meets it.
                _ = mode.wait_for(|m| *m != FaultMode::Pass) => Ok(()),
            }
        }
        FaultMode::Reset => {
            counts.reset.fetch_add(1, Ordering::Relaxed);
            reset(socket)
        }
        FaultMode::SlowDown => {
            counts.slow_down.fetch_add(1, Ordering::Relaxed);
            // Read the request head (bounded), answer, then drain what the client still
            // sends (its body) so that closing does not turn into a reset before it reads.
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
                let n = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buf))
                    .await
                    .map_err(std::io::Error::other)??;
                if n == 0 {
                    return Ok(());
                }
                head.extend_from_slice(&buf[..n]);
            }
            let response = format!(
                "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nx-amz-request-id: zonecast-fault\r\nConnection: close\r\n\r\n{SLOW_DOWN_BODY}",
                SLOW_DOWN_BODY.len()
            );
            socket.write_all(response.as_bytes()).await?;
            socket.shutdown().await?;
            let drain = async { while socket.read(&mut buf).await.is_ok_and(|n| n > 0) {} };
            let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
            Ok(())
        }
        FaultMode::Stall => {
            counts.stalled.fetch_add(1, Ordering::Relaxed);
            let mut buf = [0u8; 4096];
            let swallow = async {
                while socket.read(&mut buf).await.is_ok_and(|n| n > 0) {}
                // The client gave up: hold nothing more.
            };
            tokio::select! {
                () = swallow => {}
                _ = mode.wait_for(|m| *m != FaultMode::Stall) => {}
            }
            Ok(())
        }
    }
}

/// Closes with RST instead of FIN.
fn reset(socket: TcpStream) -> std::io::Result<()> {
    socket.set_zero_linger()?;
    drop(socket);
    Ok(())
}
