//! `zonecast-local`'s flags, the pair layout of its ports, and `shard-of`.

use super::*;

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
    /// The entry point: one RTMP address for an encoder with a single output, forwarded to
    /// az1's ingest while its `/healthz` says ok and to az2's otherwise (the local
    /// `ingest.<domain>`; with `--pairs K`, pair 0's ingests).
    #[arg(long, default_value = "127.0.0.1:1934")]
    pub entry_listen: SocketAddr,
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
pub(super) fn ingest_default() -> zonecast_ingest::config::IngestConfig {
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
        let entry = self.entry_listen;
        for id in IngestId::all(self.pairs) {
            let (rtmp, health) = self.ingest_addrs(id);
            for addr in [rtmp, health] {
                if addr == entry {
                    return Err(StackError::PortClash(format!(
                        "{id} and the entry point (--entry-listen) would both listen on {addr}"
                    )));
                }
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
pub(super) struct StackDefaults {
    #[command(flatten)]
    pub(super) stack: StackArgs,
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
