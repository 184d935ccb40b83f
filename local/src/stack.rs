//! Starts the whole system on loopback: the store, two ingests (each in its own OS process, so
//! one AZ can be killed for real), the edge with the playlist handler, and the player page.
//!
//! With `--pairs K`, K instance pairs (2K ingests), pair k with `--shard k/K`, all writing to
//! the one store and read through the one edge: the scale-out of README.md ("Capacity of one
//! instance pair, and scaling out") on loopback. Pair k listens on the pair-0 ports plus 2k
//! ([`pair_addr`]).

use std::{net::SocketAddr, path::PathBuf, process::Stdio, sync::Arc, time::Duration};

use tokio::{
    io::{AsyncBufReadExt, BufReader},
    net::TcpListener,
    process::{Child, Command},
};
use tracing::info;
use zonecast_contract::{
    Az, ShardSpec,
    s3::{S3ClientConfig, s3_client},
};

use crate::{
    edge::{Edge, serve_edge},
    procs::{IngestId, IngestProcesses},
    status::StatusSource,
    store::{ACCESS_KEY, SECRET_KEY, serve_store},
};

/// `zonecast-local` settings (flags; the ones passed to the ingests default to the ingest's
/// defaults).
#[derive(Debug, Clone, clap::Args)]
pub struct StackArgs {
    /// Where the store keeps its objects.
    #[arg(long, default_value = "zonecast-data")]
    pub data_dir: PathBuf,
    /// The CloudFront-like edge and player page.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub edge_listen: SocketAddr,
    /// The embedded S3-compatible store.
    #[arg(long, default_value = "127.0.0.1:9000")]
    pub store_listen: SocketAddr,
    /// RTMP of the az1 ingest.
    #[arg(long, default_value = "127.0.0.1:1935")]
    pub az1_listen: SocketAddr,
    /// RTMP of the az2 ingest.
    #[arg(long, default_value = "127.0.0.1:1936")]
    pub az2_listen: SocketAddr,
    /// Health and metrics of the az1 ingest.
    #[arg(long, default_value = "127.0.0.1:8935")]
    pub az1_health: SocketAddr,
    /// Health and metrics of the az2 ingest.
    #[arg(long, default_value = "127.0.0.1:8936")]
    pub az2_health: SocketAddr,
    /// Segment target duration in milliseconds, passed to both ingests.
    #[arg(long, default_value_t = ingest_default().target_duration_ms)]
    pub target_duration_ms: u32,
    /// Live window in segments, passed to both ingests.
    #[arg(long, default_value_t = ingest_default().window)]
    pub window: usize,
    /// How long a stream whose encoder went away stays live waiting for it, passed to both
    /// ingests.
    #[arg(long, default_value_t = ingest_default().reconnect_grace_secs)]
    pub reconnect_grace_secs: u64,
    /// Turn publish auth on in both ingests (`--publish-auth required`) with the secret in this
    /// file (at least 16 bytes, e.g. `openssl rand -hex 32 > secret`). Mint a token with
    /// `zonecast-local ingest token live show --ttl 24h --publish-secret-file FILE`. Off
    /// without it.
    #[arg(long)]
    pub publish_secret_file: Option<PathBuf>,
    /// The S3 endpoint the ingests write to, when it is not the store's own address (e.g. a
    /// fault-injecting proxy in front of it, as the outage test does). The edge still reads
    /// the store directly.
    #[arg(long)]
    pub ingest_endpoint: Option<String>,
    /// Segment bytes each ingest holds in memory per stream while the store is away, before
    /// it spools them to `<data-dir>/spool/<az>` (the ingest's `--upload-memory-max-bytes`).
    #[arg(long)]
    pub upload_memory_max_bytes: Option<u64>,
    /// Whether each ingest relays what is published to it to the other one (az1 → az2 and
    /// az2 → az1), so an encoder with one output feeds both AZs.
    #[arg(long, value_enum, default_value_t = RelayPolicy::On)]
    pub relay: RelayPolicy,
    /// Instance pairs (each an az1 and an az2 ingest): pair k gets `--shard k/K` and takes
    /// only its streams; its ports are pair 0's plus 2k (RTMP 1937/1938 and health 8937/8938
    /// for pair 1 by default). One store, one edge, one playlist function for all.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub pairs: u16,
}

/// The ingest's defaults (its one definition), for the settings the stack passes on.
fn ingest_default() -> zonecast_ingest::config::IngestConfig {
    zonecast_ingest::config::IngestConfig::default()
}

impl StackArgs {
    /// Ingest `id`'s RTMP and health addresses (pair 0: the `--azN-*` flags).
    pub fn ingest_addrs(&self, id: IngestId) -> (SocketAddr, SocketAddr) {
        let (listen, health) = match id.az {
            Az::Az1 => (self.az1_listen, self.az1_health),
            Az::Az2 => (self.az2_listen, self.az2_health),
        };
        (pair_addr(listen, id.pair), pair_addr(health, id.pair))
    }

    /// Every ingest's RTMP and health address must be its own. With `--pairs K`, pair k's
    /// ports are pair 0's plus 2k, so two of pair 0's ports that differ by an even number
    /// below 2K collide (the defaults differ by 1 and interleave: 1935, 1936, 1937, …).
    pub fn check_ports(&self) -> Result<(), StackError> {
        let mut seen = std::collections::HashMap::new();
        for id in IngestId::all(self.pairs) {
            let (rtmp, health) = self.ingest_addrs(id);
            for addr in [rtmp, health] {
                if addr.port() == u16::MAX {
                    return Err(StackError::PortClash(format!(
                        "{id}'s port is beyond 65534 (fewer --pairs or lower ports)"
                    )));
                }
                if let Some(other) = seen.insert(addr, id) {
                    return Err(StackError::PortClash(format!(
                        "{id} and {other} would both listen on {addr} (pair k uses pair 0's ports plus 2k)"
                    )));
                }
            }
        }
        Ok(())
    }

    /// The `--shard` of pair `pair`; none with one pair (as a lone ingest on AWS).
    pub fn shard(&self, pair: u16) -> Option<ShardSpec> {
        (self.pairs > 1)
            .then(|| ShardSpec::new(pair, self.pairs).ok())
            .flatten()
    }
}

/// `zonecast-local shard-of <app>/<stream> [--pairs K]`.
#[derive(Debug, Clone, clap::Args)]
pub struct ShardOfArgs {
    /// `app/stream` (a `?rendition=` or token on the stream key does not change the pair).
    pub name: String,
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub pairs: u16,
}

/// What `shard-of` prints: `live/show: pair 1 of 2 (rtmp://127.0.0.1:1937/live/show, …)`.
pub fn shard_of(args: &ShardOfArgs) -> Result<String, zonecast_contract::NameError> {
    let (app, key) = args.name.split_once('/').unwrap_or(("", &args.name));
    let name = zonecast_contract::StreamName::from_publish(app, key)?.base();
    let pair = zonecast_contract::shard::pair_of(&name, args.pairs);
    let defaults = <StackDefaults as clap::Parser>::parse_from(["zonecast-local"]);
    let [a1, a2] = Az::ALL.map(|az| defaults.stack.ingest_addrs(IngestId { pair, az }).0);
    Ok(format!(
        "{name}: pair {pair} of {} (with the default ports: rtmp://{a1}/{name} for az1, rtmp://{a2}/{name} for az2)",
        args.pairs
    ))
}

/// The stack's flags at their defaults (for `shard-of`'s URLs).
#[derive(clap::Parser)]
struct StackDefaults {
    #[command(flatten)]
    stack: StackArgs,
}

/// Pair `pair`'s address for pair 0's `base`: the port plus 2 × `pair` (az1 and az2 ports of a
/// pair are next to each other by default, so pairs take the next two). Saturates at 65535,
/// which then fails to bind with a clear error.
pub fn pair_addr(base: SocketAddr, pair: u16) -> SocketAddr {
    let port = u32::from(base.port()) + 2 * u32::from(pair);
    SocketAddr::new(base.ip(), u16::try_from(port).unwrap_or(u16::MAX))
}

/// Whether the local ingests relay to each other (README.md, "The relay").
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RelayPolicy {
    /// Each ingest relays every direct publish to the other (`--relay-to`): publish to either
    /// AZ and both package it. An encoder that publishes to both still works: on each ingest
    /// its direct publish wins over the other's relay.
    On,
    /// No relay: an encoder must publish to both AZs itself (`-f tee`, two outputs).
    Off,
}

pub const BUCKET: &str = "zonecast";
const REGION: &str = "us-east-1";

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error(
        "binding {what} on {addr}: {source} (is another zonecast-local running? pick another port with --{flag})"
    )]
    Bind {
        what: &'static str,
        flag: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("starting the {ingest} ingest process: {source}")]
    Spawn {
        ingest: IngestId,
        source: std::io::Error,
    },
    #[error("the {ingest} ingest did not become healthy on {addr}")]
    Unhealthy { ingest: IngestId, addr: SocketAddr },
    #[error("ingest ports: {0}")]
    PortClash(String),
    #[error(transparent)]
    PublishSecret(#[from] zonecast_ingest::auth::SecretError),
}

async fn bind(
    what: &'static str,
    flag: &'static str,
    addr: SocketAddr,
) -> Result<TcpListener, StackError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StackError::Bind {
            what,
            flag,
            addr,
            source,
        })
}

/// Runs the stack until Ctrl-C / SIGTERM; children are stopped on the way out.
pub async fn run_stack(args: StackArgs) -> Result<(), StackError> {
    std::fs::create_dir_all(&args.data_dir).map_err(|source| {
        crate::store::StoreError::DataDir {
            path: args.data_dir.display().to_string(),
            source,
        }
    })?;
    let data_dir = args
        .data_dir
        .canonicalize()
        .unwrap_or(args.data_dir.clone());
    args.check_ports()?;
    let store_listener = bind("the store", "store-listen", args.store_listen).await?;
    let store_addr = store_listener.local_addr().unwrap_or(args.store_listen);
    let edge_listener = bind("the edge", "edge-listen", args.edge_listen).await?;
    let edge_addr = edge_listener.local_addr().unwrap_or(args.edge_listen);
    // The secret is checked here, once, so a bad file fails before any ingest starts; the
    // ingests get the file's path (never the secret) through their environment.
    let publish_secret_file = match &args.publish_secret_file {
        Some(path) => {
            zonecast_ingest::auth::PublishSecret::read_file(path)?;
            Some(path.canonicalize().unwrap_or(path.clone()))
        }
        None => None,
    };
    let store = serve_store(store_listener, &data_dir, BUCKET).await?;
    tokio::spawn(store);
    let endpoint = format!("http://{store_addr}");

    let ingest_endpoint = args.ingest_endpoint.clone().unwrap_or(endpoint.clone());
    let purge_url = format!("http://{edge_addr}{}", crate::edge::PURGE_PATH);
    let spawner: crate::procs::Spawner = {
        let (endpoint, args, secret, data_dir) = (
            ingest_endpoint.clone(),
            args.clone(),
            publish_secret_file.clone(),
            data_dir.clone(),
        );
        Box::new(move |id: IngestId| {
            let (listen, health) = args.ingest_addrs(id);
            let (peer, _) = args.ingest_addrs(id.peer());
            spawn_ingest(
                id,
                listen,
                health,
                &IngestTargets {
                    endpoint: &endpoint,
                    purge_url: &purge_url,
                    spool_dir: &data_dir.join("spool").join(id.to_string()),
                    relay_to: (args.relay == RelayPolicy::On).then_some(peer),
                    shard: args.shard(id.pair),
                },
                &args,
                secret.as_deref(),
            )
        })
    };
    let ingests = Arc::new(IngestProcesses::start(spawner, args.pairs)?);

    let client = s3_client(&S3ClientConfig {
        region: REGION.into(),
        endpoint: Some(endpoint.clone()),
        static_credentials: Some((ACCESS_KEY.into(), SECRET_KEY.into())),
    })
    .await;
    let edge = Arc::new(Edge {
        s3: client.clone(),
        bucket: BUCKET.into(),
        indexes: zonecast_contract::store::S3IndexSource::new(
            client,
            BUCKET.into(),
            zonecast_contract::store::IndexReaderRole::Playlist,
        ),
        cache: Default::default(),
        status: Some(StatusSource {
            ingests: ingests.clone(),
            health: IngestId::all(args.pairs)
                .map(|id| (id, args.ingest_addrs(id).1))
                .collect(),
            pairs: args.pairs,
            edge_port: edge_addr.port(),
        }),
    });
    tokio::spawn(serve_edge(edge_listener, edge));

    for id in IngestId::all(args.pairs) {
        wait_healthy(id, args.ingest_addrs(id).1).await?;
    }
    print_banner(
        &args,
        edge_addr,
        &endpoint,
        &data_dir,
        publish_secret_file.as_deref(),
    );

    zonecast_ingest::shutdown_signal().await;
    info!("stopping");
    ingests.stop_all().await;
    Ok(())
}

/// Where an ingest writes: the S3 endpoint, the edge's purge URL, its spool directory.
#[derive(Clone, Copy)]
struct IngestTargets<'a> {
    endpoint: &'a str,
    purge_url: &'a str,
    spool_dir: &'a std::path::Path,
    /// The other ingest's RTMP address, when relaying.
    relay_to: Option<SocketAddr>,
    /// Its pair, with several pairs.
    shard: Option<ShardSpec>,
}

fn spawn_ingest(
    id: IngestId,
    listen: SocketAddr,
    health: SocketAddr,
    targets: &IngestTargets<'_>,
    args: &StackArgs,
    publish_secret_file: Option<&std::path::Path>,
) -> Result<Child, StackError> {
    let exe = std::env::current_exe().map_err(|source| StackError::Spawn { ingest: id, source })?;
    let mut cmd = Command::new(exe);
    cmd.arg("ingest")
        .args(ingest_flags(
            id,
            listen,
            health,
            targets,
            args,
            publish_secret_file.is_some(),
        ))
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        // Publish auth comes from our flag alone, whatever this shell exports.
        .env_remove("ZONECAST_PUBLISH_SECRET")
        .env_remove("ZONECAST_PUBLISH_SECRET_FILE")
        .env_remove("ZONECAST_CONFIG")
        .env_remove("ZONECAST_RELAY_TO")
        .env_remove("ZONECAST_SHARD")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(path) = publish_secret_file {
        // The path in the environment, never the secret on a command line.
        cmd.env("ZONECAST_PUBLISH_SECRET_FILE", path);
    }
    // The ingest dies with us even if we are killed without a chance to clean up.
    #[cfg(target_os = "linux")]
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|source| StackError::Spawn { ingest: id, source })?;
    // Prefix the child's log lines with its name (its AZ, `p1-az1` beyond pair 0).
    if let Some(out) = child.stdout.take() {
        tokio::spawn(forward_lines(id, out, false));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(forward_lines(id, err, true));
    }
    Ok(child)
}

/// The command line of ingest `id` after `zonecast-local ingest`: the ingest's own flags
/// (`zonecast_ingest::config::IngestConfig`), checked against that definition by a test here.
/// Settings the stack does not set keep the ingest's defaults.
fn ingest_flags(
    id: IngestId,
    listen: SocketAddr,
    health: SocketAddr,
    targets: &IngestTargets<'_>,
    args: &StackArgs,
    publish_auth: bool,
) -> Vec<std::ffi::OsString> {
    let IngestTargets {
        endpoint,
        purge_url,
        spool_dir,
        relay_to,
        shard,
    } = *targets;
    let mut flags: Vec<(&str, std::ffi::OsString)> = vec![
        ("--az", id.az.as_str().into()),
        ("--listen", listen.to_string().into()),
        ("--health-listen", health.to_string().into()),
        ("--bucket", BUCKET.into()),
        ("--region", REGION.into()),
        ("--endpoint", endpoint.into()),
        (
            "--target-duration-ms",
            args.target_duration_ms.to_string().into(),
        ),
        ("--window", args.window.to_string().into()),
        (
            "--reconnect-grace-secs",
            args.reconnect_grace_secs.to_string().into(),
        ),
        ("--edge-purge-url", purge_url.into()),
        ("--spool-dir", spool_dir.into()),
        (
            "--publish-auth",
            if publish_auth { "required" } else { "off" }.into(),
        ),
    ];
    if let Some(peer) = relay_to {
        flags.push(("--relay-to", peer.to_string().into()));
    }
    if let Some(shard) = shard {
        flags.push(("--shard", shard.to_string().into()));
    }
    if let Some(bytes) = args.upload_memory_max_bytes {
        flags.push(("--upload-memory-max-bytes", bytes.to_string().into()));
    }
    flags
        .into_iter()
        .flat_map(|(flag, value)| [flag.into(), value])
        .collect()
}

/// `report_exit`: say so when the stream closes, which is when the process is gone (an AZ
/// that died is worth a line).
async fn forward_lines(az: IngestId, stream: impl tokio::io::AsyncRead + Unpin, report_exit: bool) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        eprintln!("[{az}] {line}");
    }
    if report_exit {
        eprintln!("[{az}] the {az} ingest process exited");
    }
}

async fn wait_healthy(ingest: IngestId, addr: SocketAddr) -> Result<(), StackError> {
    for _ in 0..100 {
        if let Ok(mut s) = tokio::net::TcpStream::connect(addr).await {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let req = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
            if s.write_all(req.as_bytes()).await.is_ok() {
                let mut buf = Vec::new();
                let _ = s.read_to_end(&mut buf).await;
                if buf.starts_with(b"HTTP/1.1 200") {
                    return Ok(());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(StackError::Unhealthy { ingest, addr })
}

fn print_banner(
    args: &StackArgs,
    edge: SocketAddr,
    endpoint: &str,
    data_dir: &std::path::Path,
    publish_secret_file: Option<&std::path::Path>,
) {
    let port = edge.port();
    // The example stream's pair: with one pair, pair 0's (the --azN-listen) addresses.
    let pair = zonecast_contract::shard::pair_for("live", "show", args.pairs);
    let a1 = args.ingest_addrs(IngestId { pair, az: Az::Az1 }).0;
    let a2 = args.ingest_addrs(IngestId { pair, az: Az::Az2 }).0;
    let (key, auth) = match publish_secret_file {
        Some(file) => (
            "show?token=$TOKEN",
            format!(
                "\n  Publish auth is on: every publish needs a token, minted with\n    TOKEN=$(zonecast-local ingest token live show --ttl 24h --publish-secret-file {})\n",
                file.display()
            ),
        ),
        None => (
            "show",
            "\n  Publish auth is off (--publish-secret-file FILE turns it on).\n".to_owned(),
        ),
    };
    // One queue per output, which drops when full and reconnects by itself (README.md,
    // "Publish"): a hung AZ must not stall the other.
    const TEE_QUEUE: &str = "drop_pkts_on_overflow=1:queue_size=600:attempt_recovery=1:recover_any_error=1:recovery_wait_time=1:max_recovery_attempts=0:restart_with_keyframe=1";
    let publish = match args.relay {
        RelayPolicy::On => format!(
            "\n  Publish to either AZ (each ingest relays to the other; --relay off to stop it):\n    ffmpeg -re -i in.flv -c copy -map 0 -f flv \"rtmp://{a1}/live/{key}\"\n\
             \x20   OBS: server rtmp://{a1}/live, stream key {key}\n\
             \x20   or to both AZs at once (the encoder's own outputs win over the relay):\n    ffmpeg -re -i in.flv -c copy -map 0 -f tee -use_fifo 1 -fifo_options {TEE_QUEUE} \"[f=flv:onfail=ignore]rtmp://{a1}/live/{key}|[f=flv:onfail=ignore]rtmp://{a2}/live/{key}\"\n"
        ),
        RelayPolicy::Off => format!(
            "\n  Publish (both AZs at once; the relay is off):\n    ffmpeg -re -i in.flv -c copy -map 0 -f tee -use_fifo 1 -fifo_options {TEE_QUEUE} \"[f=flv:onfail=ignore]rtmp://{a1}/live/{key}|[f=flv:onfail=ignore]rtmp://{a2}/live/{key}\"\n\
             \x20   OBS: server rtmp://{a1}/live, stream key {key} (and a second output to rtmp://{a2}/live)\n"
        ),
    };
    let pairs = if args.pairs > 1 {
        let mut text = format!(
            "\n  {} instance pairs: a stream goes to pair FNV-1a-64(\"app/stream\") mod {} and the\n\
             \x20 other pairs refuse it (live/show is pair {pair}; `zonecast-local shard-of APP/STREAM --pairs {}`)\n",
            args.pairs, args.pairs, args.pairs
        );
        for k in 0..args.pairs {
            let [r1, r2] = Az::ALL.map(|az| args.ingest_addrs(IngestId { pair: k, az }).0);
            text.push_str(&format!(
                "    pair {k}: rtmp://{r1} (az1), rtmp://{r2} (az2)\n"
            ));
        }
        text
    } else {
        String::new()
    };
    let health = IngestId::all(args.pairs)
        .map(|id| format!("http://{}/healthz", args.ingest_addrs(id).1))
        .collect::<Vec<_>>()
        .join("  ");
    println!(
        "\nZoneCast local stack is up.\n{auth}{pairs}{publish}\
         \n  Watch:\n    player page     http://localhost:{port}/\n\
         \x20   status page     http://localhost:{port}/status   (stop, kill, restart an AZ's ingest)\n\
         \x20   multivariant    http://media-hls.localhost:{port}/live/show/playlist.m3u8   (browsers, curl: host pinning)\n\
         \x20   path mode       http://{edge}/live/show/playlist.m3u8   (ffmpeg, ffplay, VLC)\n\
         \n  Inside:\n    S3 store        {endpoint} (bucket {BUCKET}, data in {})\n\
         \x20   ingest health   {health}  (and /metrics, /status)\n\
         \nCtrl-C stops everything.",
        data_dir.display(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_ports_and_shards() {
        let args =
            <StackDefaults as clap::Parser>::parse_from(["zonecast-local", "--pairs", "2"]).stack;
        let addrs: Vec<String> = IngestId::all(args.pairs)
            .map(|id| {
                let (rtmp, health) = args.ingest_addrs(id);
                format!("{id} {rtmp} {health}")
            })
            .collect();
        assert_eq!(
            addrs,
            [
                "az1 127.0.0.1:1935 127.0.0.1:8935",
                "az2 127.0.0.1:1936 127.0.0.1:8936",
                "p1-az1 127.0.0.1:1937 127.0.0.1:8937",
                "p1-az2 127.0.0.1:1938 127.0.0.1:8938",
            ]
        );
        assert_eq!(args.shard(1), Some(ShardSpec::new(1, 2).unwrap()));
        args.check_ports().unwrap();
        let clash = <StackDefaults as clap::Parser>::parse_from([
            "zonecast-local",
            "--pairs",
            "2",
            "--az2-listen",
            "127.0.0.1:1937",
        ])
        .stack;
        let err = clash.check_ports().unwrap_err().to_string();
        assert!(
            err.contains("p1-az1 and az2 would both listen on 127.0.0.1:1937"),
            "{err}"
        );
        let one = <StackDefaults as clap::Parser>::parse_from(["zonecast-local"]).stack;
        assert_eq!((one.pairs, one.shard(0)), (1, None));
        assert!(
            <StackDefaults as clap::Parser>::try_parse_from(["zonecast-local", "--pairs", "0"])
                .is_err()
        );
    }

    /// The stack's ingest command line parses with the ingest's own definition and sets what
    /// it means to (a renamed ingest flag fails here, not at `zonecast-local` start-up).
    #[test]
    fn ingest_flags_are_the_ingests_own() {
        use zonecast_ingest::config::{IngestArgs, PublishAuthPolicy};
        let args = <StackDefaults as clap::Parser>::parse_from([
            "zonecast-local",
            "--pairs",
            "2",
            "--window",
            "8",
            "--upload-memory-max-bytes",
            "2000000",
        ])
        .stack;
        let id = IngestId {
            pair: 1,
            az: Az::Az2,
        };
        let (listen, health) = args.ingest_addrs(id);
        let spool = std::path::Path::new("/tmp/zc/spool/p1-az2");
        let targets = IngestTargets {
            endpoint: "http://127.0.0.1:9000",
            purge_url: "http://127.0.0.1:8080/_zonecast/invalidate",
            spool_dir: spool,
            relay_to: Some(args.ingest_addrs(id.peer()).0),
            shard: args.shard(1),
        };
        let flags = ingest_flags(id, listen, health, &targets, &args, false);
        let argv = std::iter::once("zonecast-ingest".into()).chain(flags);
        let config = IngestArgs::parse_flags(argv).unwrap().resolve().unwrap();
        assert_eq!(
            (config.az, config.listen, config.health_listen),
            (Az::Az2, listen, health)
        );
        assert_eq!(config.endpoint.as_deref(), Some(targets.endpoint));
        assert_eq!(config.edge_purge_url.as_deref(), Some(targets.purge_url));
        assert_eq!(config.spool_dir.as_deref(), Some(spool));
        assert_eq!(config.relay_to, Some("127.0.0.1:1937".to_owned()));
        assert_eq!(config.shard, args.shard(1));
        assert_eq!(
            (config.window, config.upload_memory_max_bytes),
            (8, 2_000_000)
        );
        assert_eq!(config.publish_auth, PublishAuthPolicy::Off);
        // What the stack does not set is the ingest's default, as are the stack's own defaults.
        let defaults = zonecast_ingest::config::IngestConfig::default();
        assert_eq!(config.target_duration_ms, defaults.target_duration_ms);
        assert_eq!(config.reconnect_grace_secs, defaults.reconnect_grace_secs);
        assert_eq!(config.duplicate_publish, defaults.duplicate_publish);
    }

    #[test]
    fn shard_of_names_the_pair_and_its_urls() {
        let out = shard_of(&ShardOfArgs {
            name: "live/show?rendition=720p".into(),
            pairs: 2,
        })
        .unwrap();
        assert!(out.starts_with("live/show: pair 1 of 2"), "{out}");
        assert!(
            out.contains("rtmp://127.0.0.1:1937/live/show for az1"),
            "{out}"
        );
        assert!(
            shard_of(&ShardOfArgs {
                name: "show".into(),
                pairs: 2
            })
            .is_err()
        );
    }
}
