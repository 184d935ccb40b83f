//! Runs the real `zonecast-local` binary on free loopback ports.

use std::{
    io::{BufRead, BufReader},
    net::{SocketAddr, TcpListener},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU32, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use zonecast_contract::{
    Az, StreamIndex, StreamName,
    s3::{S3ClientConfig, get_index, s3_client},
};
use zonecast_local::store::{ACCESS_KEY, SECRET_KEY};

/// The cargo target dir this test binary was built into (`target/debug/deps/..` → `target`).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let mut dir = exe.parent().map(PathBuf::from).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    // target/debug or target/release → target
    dir.parent().map(PathBuf::from).unwrap_or(dir)
}

/// The `zonecast-local` binary of the same profile as this test, or `ZONECAST_LOCAL_BIN` (useful
/// when several checkouts share one cargo target dir and so one `target/debug/zonecast-local`).
pub fn local_binary() -> anyhow::Result<PathBuf> {
    if let Some(bin) = std::env::var_os("ZONECAST_LOCAL_BIN") {
        let bin = PathBuf::from(bin);
        if !bin.exists() {
            bail!("ZONECAST_LOCAL_BIN={} does not exist", bin.display());
        }
        return Ok(bin);
    }
    let exe = std::env::current_exe()?;
    let mut dir = exe.parent().context("no exe dir")?.to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let bin = dir.join("zonecast-local");
    if !bin.exists() {
        bail!(
            "{} is missing: build it first (`cargo build --workspace --bins`; tests/run does)",
            bin.display()
        );
    }
    Ok(bin)
}

/// The next port `free_port` tries, as an offset from its base.
static NEXT: AtomicU32 = AtomicU32::new(0);

/// A port that is free now, below Linux's ephemeral range (32768+): a port the kernel handed
/// out for port 0 can be taken again by any outgoing connection (the S3 client's, say) before
/// the stack binds it.
fn free_port() -> anyhow::Result<SocketAddr> {
    let base = 20_000 + (std::process::id() * 7919) % 10_000;
    for _ in 0..2_000 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = u16::try_from(base + n % 12_000).unwrap_or(20_000);
        if let Ok(l) = TcpListener::bind(("127.0.0.1", port)) {
            return Ok(l.local_addr()?);
        }
    }
    anyhow::bail!("no free port between 20000 and 32000")
}

/// `len` consecutive ports that are free now (`zonecast-local --pairs K` puts pair k on pair
/// 0's ports plus 2k), as `free_port` picks them.
fn free_block(len: u16) -> anyhow::Result<SocketAddr> {
    for _ in 0..200 {
        let first = free_port()?;
        let all_free = (1..len).all(|i| {
            first
                .port()
                .checked_add(i)
                .is_some_and(|p| TcpListener::bind(("127.0.0.1", p)).is_ok())
        });
        if all_free {
            // The rest of the block is ours: later `free_port` calls start after it.
            NEXT.fetch_add(u32::from(len) - 1, Ordering::Relaxed);
            return Ok(first);
        }
    }
    anyhow::bail!("no {len} consecutive free ports between 20000 and 32000")
}

/// A running stack. Dropping it stops it (and its ingest children).
pub struct LocalStack {
    child: Child,
    pub edge: SocketAddr,
    pub store: SocketAddr,
    /// Pair 0's ingests (the only ones unless started with [`LocalStack::start_pairs`]).
    pub rtmp: [SocketAddr; 2],
    pub health: [SocketAddr; 2],
    /// The entry point (`--entry-listen`): forwarded to a live ingest of pair 0.
    pub entry: SocketAddr,
    /// Instance pairs (`--pairs`).
    pub pairs: u16,
    pub data_dir: PathBuf,
    /// Everything the stack and its ingests logged so far.
    pub log: Arc<Mutex<String>>,
    s3: Option<aws_sdk_s3::Client>,
}

pub use zonecast_local::stack::BUCKET;

impl LocalStack {
    pub fn start(extra_args: &[&str]) -> anyhow::Result<Self> {
        Self::start_pairs(1, extra_args)
    }

    /// The stack with `pairs` instance pairs (`--pairs`): pair k's ports are pair 0's plus
    /// 2k, so the RTMP and the health ports each come as one block of consecutive free ports.
    pub fn start_pairs(pairs: u16, extra_args: &[&str]) -> anyhow::Result<Self> {
        let bin = local_binary()?;
        let mut ports: Vec<SocketAddr> = (0..7).map(|_| free_port()).collect::<Result<_, _>>()?;
        if pairs > 1 {
            for (az1, az2) in [(2, 3), (4, 5)] {
                let first = free_block(2 * pairs)?;
                ports[az1] = first;
                ports[az2] = SocketAddr::new(first.ip(), first.port() + 1);
            }
        }
        let data_dir = std::env::temp_dir().join(format!(
            "zonecast-test-{}-{}",
            std::process::id(),
            ports[0].port()
        ));
        let _ = std::fs::remove_dir_all(&data_dir);
        let mut child = Command::new(&bin)
            .arg("--data-dir")
            .arg(&data_dir)
            .args(["--edge-listen", &ports[0].to_string()])
            .args(["--store-listen", &ports[1].to_string()])
            .args(["--az1-listen", &ports[2].to_string()])
            .args(["--az2-listen", &ports[3].to_string()])
            .args(["--az1-health", &ports[4].to_string()])
            .args(["--az2-health", &ports[5].to_string()])
            .args(["--entry-listen", &ports[6].to_string()])
            .args(["--pairs", &pairs.to_string()])
            .args(extra_args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let log = Arc::new(Mutex::new(String::new()));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        if let Some(out) = child.stdout.take() {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    if line.contains("ZoneCast local stack is up") {
                        let _ = ready_tx.send(());
                    }
                    if let Ok(mut l) = log.lock() {
                        l.push_str(&line);
                        l.push('\n');
                    }
                }
            });
        }
        if let Some(err) = child.stderr.take() {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    if let Ok(mut l) = log.lock() {
                        l.push_str(&line);
                        l.push('\n');
                    }
                }
            });
        }
        let stack = LocalStack {
            child,
            edge: ports[0],
            store: ports[1],
            rtmp: [ports[2], ports[3]],
            health: [ports[4], ports[5]],
            entry: ports[6],
            pairs,
            data_dir,
            log,
            s3: None,
        };
        if ready_rx.recv_timeout(Duration::from_secs(60)).is_err() {
            bail!(
                "zonecast-local did not come up in 60 s; its log:\n{}",
                stack.log_text()
            );
        }
        Ok(stack)
    }

    pub fn log_text(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    pub fn rtmp_url(&self, az: Az, app: &str, stream: &str) -> String {
        self.pair_rtmp_url(0, az, app, stream)
    }

    /// Pair `pair`'s RTMP address in `az`.
    pub fn rtmp_of(&self, pair: u16, az: Az) -> SocketAddr {
        zonecast_local::stack::pair_addr(self.rtmp[az_index(az)], pair)
    }

    /// Pair `pair`'s health and metrics address in `az`.
    pub fn health_of(&self, pair: u16, az: Az) -> SocketAddr {
        zonecast_local::stack::pair_addr(self.health[az_index(az)], pair)
    }

    pub fn pair_rtmp_url(&self, pair: u16, az: Az, app: &str, stream: &str) -> String {
        format!("rtmp://{}/{app}/{stream}", self.rtmp_of(pair, az))
    }

    /// The entry point's RTMP URL for `app/stream`.
    pub fn entry_url(&self, app: &str, stream: &str) -> String {
        format!("rtmp://{}/{app}/{stream}", self.entry)
    }

    /// `media-hls.localhost:PORT` and friends.
    pub fn host(&self, az: Option<Az>) -> String {
        match az {
            None => format!("media-hls.localhost:{}", self.edge.port()),
            Some(az) => format!("media-hls-{az}.localhost:{}", self.edge.port()),
        }
    }

    /// An aws-sdk-s3 client for the stack's store.
    pub async fn s3(&mut self) -> aws_sdk_s3::Client {
        if let Some(c) = &self.s3 {
            return c.clone();
        }
        let client = s3_client(&S3ClientConfig {
            region: "us-east-1".into(),
            endpoint: Some(format!("http://{}", self.store)),
            static_credentials: Some((ACCESS_KEY.into(), SECRET_KEY.into())),
        })
        .await;
        self.s3 = Some(client.clone());
        client
    }

    pub async fn index(
        &mut self,
        az: Az,
        name: &StreamName,
    ) -> anyhow::Result<Option<StreamIndex>> {
        let s3 = self.s3().await;
        Ok(get_index(&s3, BUCKET, az, name).await?)
    }

    /// Whether `key` exists in the store right now (HeadObject).
    pub async fn exists(&mut self, key: &str) -> anyhow::Result<bool> {
        let s3 = self.s3().await;
        match s3.head_object().bucket(BUCKET).key(key).send().await {
            Ok(_) => Ok(true),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(false),
            Err(e) => Err(anyhow::anyhow!(zonecast_contract::s3::error_text(&e))),
        }
    }

    pub async fn object(&mut self, key: &str) -> anyhow::Result<Vec<u8>> {
        let s3 = self.s3().await;
        let out = s3.get_object().bucket(BUCKET).key(key).send().await?;
        Ok(out.body.collect().await?.into_bytes().to_vec())
    }

    /// Waits until the log contains `needle`.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.log_text().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The pid of `az`'s ingest process (pair 0's), from its `/healthz` (`{"pid": P, ...}`).
    pub async fn ingest_pid(&self, az: Az) -> anyhow::Result<i32> {
        self.pair_ingest_pid(0, az).await
    }

    /// The pid of pair `pair`'s ingest process in `az`.
    pub async fn pair_ingest_pid(&self, pair: u16, az: Az) -> anyhow::Result<i32> {
        let addr = self.health_of(pair, az);
        let resp = crate::http::get(addr, &addr.to_string(), "/healthz").await?;
        let body: serde_json::Value = serde_json::from_slice(&resp.body)
            .with_context(|| format!("{az} /healthz is not JSON: {}", resp.text()))?;
        let pid = body["pid"]
            .as_i64()
            .with_context(|| format!("no pid in {az} /healthz: {body}"))?;
        Ok(i32::try_from(pid)?)
    }
}

/// Sends `signal` (`libc::SIGKILL`, `SIGSTOP`, ...) to `pid`.
pub fn send_signal(pid: i32, signal: i32) -> anyhow::Result<()> {
    if unsafe { libc::kill(pid, signal) } != 0 {
        bail!("kill({pid}, {signal}): {}", std::io::Error::last_os_error());
    }
    Ok(())
}

pub fn az_index(az: Az) -> usize {
    match az {
        Az::Az1 => 0,
        Az::Az2 => 1,
    }
}

impl Drop for LocalStack {
    fn drop(&mut self) {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                let _ = std::fs::remove_dir_all(&self.data_dir);
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}
