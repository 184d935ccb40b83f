//! One typed configuration for the ingest: defaults here, then a TOML file (`--config`), then
//! environment variables (`ZONECAST_*`), then command-line flags. Unknown keys are rejected.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::Parser;
use serde::Deserialize;
use zonecast_contract::{Az, ShardSpec};

use crate::{
    auth::{PublishSecret, SecretError, parse_ttl},
    relay::RelayConfig,
    storage::spool::SpoolFullPolicy,
};

/// What to do when a second encoder publishes a stream that is already live on this ingest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum DuplicatePublishPolicy {
    /// Refuse the newcomer (nginx-rtmp's behaviour). Safe against a stray second encoder
    /// hijacking a live show; but an encoder that reconnects after an uplink blip, before the
    /// ingest noticed its old connection is dead (the idle timeout, 30 s), is refused until
    /// then, longer than the reconnect grace period: the show ends for its viewers.
    RejectNew,
    /// Drop the old connection and take the new one (the default). Encoder reconnects work
    /// however the old connection died, at the price that a second publisher with the name
    /// takes the stream over: turn publish auth on (`--publish-auth required`, the default on
    /// AWS) so that only token holders can.
    ReplaceOld,
}

/// What an explicit unpublish (`FCUnpublish` / `deleteStream` before closing) means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum UnpublishPolicy {
    /// Treat it like a dropped connection: the stream waits for the encoder for the grace
    /// period, then ends. ffmpeg and OBS unpublish on every normal stop, also when they are
    /// about to reconnect (an operator restarting the encoder), so this keeps viewers playing
    /// through a restart, at the price of the end of a show reaching players a grace period
    /// late.
    Grace,
    /// End the stream at once (`#EXT-X-ENDLIST`): players stop as soon as the encoder says it
    /// is done; a restart of the encoder ends the show for everyone watching.
    End,
}

/// Whether a publish must carry a token signed with the shared secret (README.md, "Publish
/// auth"; the token format is in [`crate::auth`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum PublishAuthPolicy {
    /// Anyone who reaches the RTMP port may publish any valid name; tokens are ignored. The
    /// default, for the local stack and a network where only encoders reach the port.
    Off,
    /// Every publish needs `?token=<expiry>.<signature>` made with the publish secret; a
    /// missing, expired or wrong one is refused (`NetStream.Publish.Unauthorized`). Needs a
    /// secret. The default on AWS (template.yaml, `PublishAuth`).
    Required,
}

/// The ingest's settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Which AZ this ingest packages for; it writes only under this prefix.
    pub az: Az,
    /// RTMP listen address.
    pub listen: SocketAddr,
    /// Health and metrics HTTP listen address (`/healthz`, `/metrics`).
    pub health_listen: SocketAddr,
    /// Bucket for segments and indexes.
    pub bucket: String,
    /// AWS region of the bucket.
    pub region: String,
    /// S3-compatible endpoint; unset means AWS S3.
    pub endpoint: Option<String>,
    /// Segment cut interval on the encoder timeline, in milliseconds (DESIGN.md §4).
    pub target_duration_ms: u32,
    /// Segments listed in the index (the live window).
    pub window: usize,
    /// CloudFront distribution whose cached playlists are invalidated when an ended stream
    /// starts again; unset disables invalidation.
    pub distribution_id: Option<String>,
    /// See [`DuplicatePublishPolicy`].
    pub duplicate_publish: DuplicatePublishPolicy,
    /// A connection that sends nothing for this long is closed.
    pub idle_timeout_secs: u64,
    /// At most this many RTMP connections at once; more are closed on accept.
    pub max_connections: usize,
    /// A connection must complete the RTMP handshake within this many seconds.
    pub handshake_timeout_secs: u64,
    /// The largest RTMP message accepted (its declared length), in bytes; a peer announcing
    /// more is disconnected. Bounds what one message can make the ingest buffer.
    pub max_message_bytes: u32,
    /// The largest chunk size a peer may set (`Set Chunk Size`), in bytes.
    pub max_chunk_size: u32,
    /// How long a stream whose publisher went away stays live (no ENDLIST, index kept fresh)
    /// waiting for the encoder to come back; only then is it `ended` (DESIGN.md §4).
    pub reconnect_grace_secs: u64,
    /// See [`UnpublishPolicy`].
    pub on_unpublish: UnpublishPolicy,
    /// On SIGTERM: how long to close and upload open segments and write the final `draining`
    /// indexes before exiting anyway. The systemd unit's `TimeoutStopSec` exceeds it.
    pub drain_timeout_secs: u64,
    /// The local edge's purge endpoint (`http://127.0.0.1:8080/_zonecast/invalidate`), used
    /// like a CloudFront invalidation when an ended stream starts again; `zonecast-local` sets
    /// it.
    pub edge_purge_url: Option<String>,
    /// See [`PublishAuthPolicy`].
    pub publish_auth: PublishAuthPolicy,
    /// The secret publish tokens are signed with (at least 16 bytes; surrounding whitespace is
    /// ignored). Prefer `publish_secret_file`, or the environment: a command line is visible
    /// to every local user.
    pub publish_secret: Option<PublishSecret>,
    /// A file holding the publish secret (`-`: standard input), read at startup. On AWS,
    /// systemd hands the ingest the copy of the SSM parameter `deploy/boot.sh` fetched.
    pub publish_secret_file: Option<PathBuf>,
    /// Segment bytes each stream's uploader holds in memory while the store is slow or away;
    /// beyond that they go to the spool.
    pub upload_memory_max_bytes: u64,
    /// Where uploads beyond the memory bound wait for the store (one file per upload); a
    /// restarted ingest finishes what it finds there. Unset: no spool, and the memory bound is
    /// all there is (`spool_full` decides what goes).
    pub spool_dir: Option<PathBuf>,
    /// The spool's size limit over all streams, in bytes.
    pub spool_max_bytes: u64,
    /// See [`SpoolFullPolicy`].
    pub spool_full: SpoolFullPolicy,
    /// The peer ingest's RTMP address (`host:port`): every stream published here directly is
    /// relayed there, so an encoder with one output feeds both AZs (README.md, "The relay").
    /// Unset: no relay.
    pub relay_to: Option<String>,
    /// Queue bounds and backoff of the relay (`[relay]`).
    pub relay: RelayConfig,
    /// Which instance pair this ingest belongs to, of how many (`k/K`): a publish of a stream
    /// that [`zonecast_contract::shard`] maps to another pair is refused (`wrong_shard`).
    /// Unset: one pair, every stream accepted (README.md, "Capacity of one instance pair, and
    /// scaling out").
    pub shard: Option<ShardSpec>,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            az: Az::Az1,
            listen: ([0, 0, 0, 0], 1935).into(),
            health_listen: ([0, 0, 0, 0], 8935).into(),
            bucket: "zonecast".into(),
            region: "us-east-1".into(),
            endpoint: None,
            target_duration_ms: 2000,
            window: 6,
            distribution_id: None,
            duplicate_publish: DuplicatePublishPolicy::ReplaceOld,
            idle_timeout_secs: 30,
            max_connections: 256,
            handshake_timeout_secs: 10,
            max_message_bytes: 8 << 20,
            max_chunk_size: 1 << 20,
            reconnect_grace_secs: 10,
            on_unpublish: UnpublishPolicy::Grace,
            drain_timeout_secs: 10,
            edge_purge_url: None,
            publish_auth: PublishAuthPolicy::Off,
            publish_secret: None,
            publish_secret_file: None,
            upload_memory_max_bytes: 64 << 20,
            spool_dir: None,
            spool_max_bytes: 2 << 30,
            spool_full: SpoolFullPolicy::DropOldest,
            relay_to: None,
            relay: RelayConfig::default(),
            shard: None,
        }
    }
}

/// Command line and environment. Every flag is optional: what is not given keeps the value
/// from the file or the default.
#[derive(Debug, Default, Parser)]
#[command(
    name = "zonecast-ingest",
    version,
    about = "ZoneCast ingest: RTMP in, HLS segments and index out, to S3"
)]
pub struct IngestArgs {
    /// TOML file with any of the settings below (snake_case keys).
    #[arg(long, env = "ZONECAST_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    #[arg(long, env = "ZONECAST_AZ")]
    pub az: Option<Az>,
    #[arg(long, env = "ZONECAST_LISTEN")]
    pub listen: Option<SocketAddr>,
    #[arg(long, env = "ZONECAST_HEALTH_LISTEN")]
    pub health_listen: Option<SocketAddr>,
    #[arg(long, env = "ZONECAST_BUCKET")]
    pub bucket: Option<String>,
    #[arg(long, env = "ZONECAST_REGION")]
    pub region: Option<String>,
    #[arg(long, env = "ZONECAST_ENDPOINT")]
    pub endpoint: Option<String>,
    #[arg(long, env = "ZONECAST_TARGET_DURATION_MS")]
    pub target_duration_ms: Option<u32>,
    #[arg(long, env = "ZONECAST_WINDOW")]
    pub window: Option<usize>,
    #[arg(long, env = "ZONECAST_DISTRIBUTION_ID")]
    pub distribution_id: Option<String>,
    #[arg(long, env = "ZONECAST_DUPLICATE_PUBLISH", value_enum)]
    pub duplicate_publish: Option<DuplicatePublishPolicy>,
    #[arg(long, env = "ZONECAST_IDLE_TIMEOUT_SECS")]
    pub idle_timeout_secs: Option<u64>,
    #[arg(long, env = "ZONECAST_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    #[arg(long, env = "ZONECAST_HANDSHAKE_TIMEOUT_SECS")]
    pub handshake_timeout_secs: Option<u64>,
    #[arg(long, env = "ZONECAST_MAX_MESSAGE_BYTES")]
    pub max_message_bytes: Option<u32>,
    #[arg(long, env = "ZONECAST_MAX_CHUNK_SIZE")]
    pub max_chunk_size: Option<u32>,
    #[arg(long, env = "ZONECAST_RECONNECT_GRACE_SECS")]
    pub reconnect_grace_secs: Option<u64>,
    #[arg(long, env = "ZONECAST_ON_UNPUBLISH", value_enum)]
    pub on_unpublish: Option<UnpublishPolicy>,
    #[arg(long, env = "ZONECAST_DRAIN_TIMEOUT_SECS")]
    pub drain_timeout_secs: Option<u64>,
    #[arg(long, env = "ZONECAST_EDGE_PURGE_URL")]
    pub edge_purge_url: Option<String>,
    /// `off` or `required`: whether a publish needs a token (README.md, "Publish auth").
    #[arg(long, env = "ZONECAST_PUBLISH_AUTH", value_enum)]
    pub publish_auth: Option<PublishAuthPolicy>,
    /// The publish token secret. Prefer --publish-secret-file or the environment: a command
    /// line is visible to every local user.
    #[arg(
        long,
        env = "ZONECAST_PUBLISH_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub publish_secret: Option<String>,
    /// A file holding the publish token secret (`-`: standard input).
    #[arg(long, env = "ZONECAST_PUBLISH_SECRET_FILE", global = true)]
    pub publish_secret_file: Option<PathBuf>,
    #[arg(long, env = "ZONECAST_UPLOAD_MEMORY_MAX_BYTES")]
    pub upload_memory_max_bytes: Option<u64>,
    #[arg(long, env = "ZONECAST_SPOOL_DIR")]
    pub spool_dir: Option<PathBuf>,
    #[arg(long, env = "ZONECAST_SPOOL_MAX_BYTES")]
    pub spool_max_bytes: Option<u64>,
    /// `drop-oldest` or `drop-newest`: which segments go when the spool is full.
    #[arg(long, env = "ZONECAST_SPOOL_FULL", value_enum)]
    pub spool_full: Option<SpoolFullPolicy>,
    /// The peer ingest's RTMP address (`host:port`) to relay every direct publish to.
    #[arg(long, env = "ZONECAST_RELAY_TO")]
    pub relay_to: Option<String>,
    /// `k/K`: this ingest is pair k of K and refuses streams of the other pairs; empty or
    /// unset: one pair, every stream.
    #[arg(long, env = "ZONECAST_SHARD")]
    pub shard: Option<String>,
    #[command(subcommand)]
    pub command: Option<IngestCommand>,
}

/// What `zonecast-ingest` does besides running the ingest.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum IngestCommand {
    /// Mint a publish token for <app>/<stream>: prints `<expiry>.<signature>`; publish to
    /// rtmp://<ingest>/<app>/<stream>?token=<that>. Reads the secret as the ingest does
    /// (--publish-secret-file, ZONECAST_PUBLISH_SECRET_FILE, ZONECAST_PUBLISH_SECRET, --config).
    Token(TokenArgs),
}

/// `zonecast-ingest token <app> <stream> [--ttl 24h]`.
#[derive(Debug, Clone, clap::Args)]
pub struct TokenArgs {
    pub app: String,
    pub stream: String,
    /// How long the token is valid: seconds, or a number with s, m, h or d (90m, 24h, 7d).
    /// A publish running when it expires goes on; a reconnect after that is refused.
    #[arg(long, default_value = "24h", value_parser = parse_ttl)]
    pub ttl: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("in {path}: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("invalid setting: {0}")]
    Invalid(String),
    #[error(transparent)]
    Secret(#[from] SecretError),
}

impl IngestArgs {
    /// Layers defaults, file, then these arguments (which already include the environment).
    pub fn resolve(self) -> Result<IngestConfig, ConfigError> {
        let mut config = match &self.config {
            Some(path) => IngestConfig::from_file(path)?,
            None => IngestConfig::default(),
        };
        macro_rules! set {
            ($($field:ident),*) => { $(if let Some(v) = self.$field { config.$field = v; })* };
        }
        set!(
            az,
            listen,
            health_listen,
            bucket,
            region,
            target_duration_ms,
            window,
            duplicate_publish,
            idle_timeout_secs,
            max_connections,
            handshake_timeout_secs,
            max_message_bytes,
            max_chunk_size,
            reconnect_grace_secs,
            on_unpublish,
            drain_timeout_secs,
            publish_auth,
            upload_memory_max_bytes,
            spool_max_bytes,
            spool_full
        );
        if self.spool_dir.is_some() {
            config.spool_dir = self.spool_dir;
        }
        if self.edge_purge_url.is_some() {
            config.edge_purge_url = self.edge_purge_url;
        }
        if self.endpoint.is_some() {
            config.endpoint = self.endpoint;
        }
        if self.distribution_id.is_some() {
            config.distribution_id = self.distribution_id;
        }
        if let Some(to) = self.relay_to {
            // An empty value (`ZONECAST_RELAY_TO=`) turns the relay off.
            config.relay_to = Some(to).filter(|t| !t.trim().is_empty());
        }
        if let Some(shard) = self.shard {
            // An empty value (`ZONECAST_SHARD=`) means one pair, as in a unit file's
            // environment with the variable left blank.
            config.shard = match shard.trim() {
                "" => None,
                text => Some(text.parse().map_err(|e: zonecast_contract::ShardError| {
                    ConfigError::Invalid(e.to_string())
                })?),
            };
        }
        if let Some(secret) = &self.publish_secret {
            config.publish_secret = Some(PublishSecret::from_text(secret)?);
        }
        if self.publish_secret_file.is_some() {
            config.publish_secret_file = self.publish_secret_file;
        }
        config.load_publish_secret()?;
        config.validate()?;
        Ok(config)
    }
}

impl IngestConfig {
    pub fn from_file(path: &std::path::Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source,
        })
    }

    /// Reads `publish_secret_file` into `publish_secret`. Giving both is refused: which one
    /// the ingest checks tokens against would be a surprise.
    pub fn load_publish_secret(&mut self) -> Result<(), ConfigError> {
        let Some(path) = &self.publish_secret_file else {
            return Ok(());
        };
        if self.publish_secret.is_some() {
            return Err(ConfigError::Invalid(
                "both publish_secret and publish_secret_file are set: give one".into(),
            ));
        }
        self.publish_secret = Some(PublishSecret::read_file(path)?);
        Ok(())
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.publish_auth == PublishAuthPolicy::Required && self.publish_secret.is_none() {
            return Err(ConfigError::Invalid(
                "publish_auth is required but there is no publish secret (--publish-secret-file, ZONECAST_PUBLISH_SECRET_FILE or ZONECAST_PUBLISH_SECRET)".into(),
            ));
        }
        if !(500..=10_000).contains(&self.target_duration_ms) {
            return Err(ConfigError::Invalid(format!(
                "target_duration_ms {} is outside 500..=10000",
                self.target_duration_ms
            )));
        }
        if !(3..=1000).contains(&self.window) {
            return Err(ConfigError::Invalid(format!(
                "window {} is outside 3..=1000 segments",
                self.window
            )));
        }
        if self.reconnect_grace_secs > 3600 {
            return Err(ConfigError::Invalid(format!(
                "reconnect_grace_secs {} is more than an hour",
                self.reconnect_grace_secs
            )));
        }
        if !(1..=600).contains(&self.drain_timeout_secs) {
            return Err(ConfigError::Invalid(format!(
                "drain_timeout_secs {} is outside 1..=600",
                self.drain_timeout_secs
            )));
        }
        if self.upload_memory_max_bytes < 1 << 20 && self.spool_dir.is_none() {
            return Err(ConfigError::Invalid(format!(
                "upload_memory_max_bytes {} is below 1 MiB with no spool_dir: every segment of an outage would be dropped",
                self.upload_memory_max_bytes
            )));
        }
        if !(1..=100_000).contains(&self.max_connections) {
            return Err(ConfigError::Invalid(format!(
                "max_connections {} is outside 1..=100000",
                self.max_connections
            )));
        }
        if !(1..=300).contains(&self.handshake_timeout_secs) {
            return Err(ConfigError::Invalid(format!(
                "handshake_timeout_secs {} is outside 1..=300",
                self.handshake_timeout_secs
            )));
        }
        if !(128..=(1 << 24)).contains(&self.max_message_bytes) {
            return Err(ConfigError::Invalid(format!(
                "max_message_bytes {} is outside 128..=16777216 (RTMP lengths are 24 bits)",
                self.max_message_bytes
            )));
        }
        if !(128..=(1 << 24)).contains(&self.max_chunk_size) {
            return Err(ConfigError::Invalid(format!(
                "max_chunk_size {} is outside 128..=16777216",
                self.max_chunk_size
            )));
        }
        if let Some(to) = &self.relay_to {
            let port = to
                .rsplit_once(':')
                .map(|(host, port)| (host, port.parse::<u16>()));
            if !matches!(port, Some((host, Ok(p))) if !host.is_empty() && p != 0) {
                return Err(ConfigError::Invalid(format!(
                    "relay_to {to:?} is not host:port"
                )));
            }
            if to.parse::<SocketAddr>().ok() == Some(self.listen)
                && !self.listen.ip().is_unspecified()
            {
                return Err(ConfigError::Invalid(format!(
                    "relay_to {to} is this ingest's own listen address"
                )));
            }
        }
        if self.relay.max_queue_messages == 0 || self.relay.max_queue_bytes < 64 << 10 {
            return Err(ConfigError::Invalid(
                "relay.max_queue_messages must be at least 1 and relay.max_queue_bytes at least 64 KiB".into(),
            ));
        }
        if self.bucket.is_empty() {
            return Err(ConfigError::Invalid("bucket is empty".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_flags() {
        let dir = std::env::temp_dir().join(format!("zc-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ingest.toml");
        std::fs::write(
            &path,
            "az = \"az2\"\nwindow = 8\nduplicate_publish = \"reject-new\"\non_unpublish = \"end\"\nreconnect_grace_secs = 4\n",
        )
        .unwrap();
        let args = IngestArgs {
            config: Some(path),
            window: Some(10),
            ..Default::default()
        };
        let config = args.resolve().unwrap();
        assert_eq!(config.az, Az::Az2);
        assert_eq!(config.window, 10);
        assert_eq!(config.duplicate_publish, DuplicatePublishPolicy::RejectNew);
        assert_eq!(config.target_duration_ms, 2000);
        assert_eq!(config.on_unpublish, UnpublishPolicy::End);
        assert_eq!(config.reconnect_grace_secs, 4);
        assert_eq!(config.drain_timeout_secs, 10);
        assert_eq!(config.spool_full, SpoolFullPolicy::DropOldest);
        let spool: IngestConfig = toml::from_str(
            "spool_dir = \"/var/spool/zc\"\nspool_max_bytes = 1000\nspool_full = \"drop-newest\"\n",
        )
        .unwrap();
        assert_eq!(spool.spool_full, SpoolFullPolicy::DropNewest);
        assert_eq!(spool.spool_max_bytes, 1000);
        let args = IngestArgs::try_parse_from([
            "zonecast-ingest",
            "--spool-dir",
            "/tmp/s",
            "--spool-max-bytes",
            "5",
            "--spool-full",
            "drop-newest",
        ])
        .unwrap();
        let config = args.resolve().unwrap();
        assert_eq!(config.spool_dir, Some(PathBuf::from("/tmp/s")));
        assert_eq!(config.spool_full, SpoolFullPolicy::DropNewest);
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = toml::from_str::<IngestConfig>("azz = \"az1\"").unwrap_err();
        assert!(err.to_string().contains("azz"), "{err}");
    }

    #[test]
    fn publish_auth_needs_a_secret_from_one_place() {
        let dir = std::env::temp_dir().join(format!("zc-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("secret");
        std::fs::write(&path, "0123456789abcdef0123456789abcdef\n").unwrap();
        let required = || IngestArgs {
            publish_auth: Some(PublishAuthPolicy::Required),
            ..Default::default()
        };
        let err = required().resolve().unwrap_err();
        assert!(err.to_string().contains("no publish secret"), "{err}");
        let config = IngestArgs {
            publish_secret_file: Some(path.clone()),
            ..required()
        }
        .resolve()
        .unwrap();
        assert_eq!(
            config.publish_secret,
            Some(PublishSecret::from_text("0123456789abcdef0123456789abcdef").unwrap())
        );
        let both = IngestArgs {
            publish_secret: Some("0123456789abcdef0123456789abcdef".into()),
            publish_secret_file: Some(path),
            ..required()
        };
        assert!(both.resolve().unwrap_err().to_string().contains("both"));
        let missing = IngestArgs {
            publish_secret_file: Some(dir.join("nope")),
            ..required()
        };
        let err = missing.resolve().unwrap_err().to_string();
        assert!(err.contains("nope"), "{err}");
        let short = IngestArgs {
            publish_secret: Some("short".into()),
            ..required()
        };
        assert!(
            short
                .resolve()
                .unwrap_err()
                .to_string()
                .contains("at least")
        );
        let from_toml: IngestConfig =
            toml::from_str("publish_auth = \"required\"\npublish_secret_file = \"/run/x\"\n")
                .unwrap();
        assert_eq!(from_toml.publish_auth, PublishAuthPolicy::Required);
    }

    #[test]
    fn the_token_subcommand_parses() {
        let args = IngestArgs::try_parse_from([
            "zonecast-ingest",
            "token",
            "live",
            "show",
            "--ttl",
            "90m",
            "--publish-secret-file",
            "/tmp/s",
        ])
        .unwrap();
        assert_eq!(args.publish_secret_file, Some(PathBuf::from("/tmp/s")));
        match args.command {
            Some(IngestCommand::Token(t)) => {
                assert_eq!((t.app.as_str(), t.stream.as_str()), ("live", "show"));
                assert_eq!(t.ttl, Duration::from_secs(5400));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn out_of_range_is_rejected() {
        let args = IngestArgs {
            target_duration_ms: Some(50),
            ..Default::default()
        };
        assert!(args.resolve().is_err());
    }

    #[test]
    fn shard_from_flag_environment_text_and_file() {
        let config = IngestArgs::try_parse_from(["zonecast-ingest", "--shard", "1/2"])
            .unwrap()
            .resolve()
            .unwrap();
        assert_eq!(config.shard, Some(ShardSpec::new(1, 2).unwrap()));
        assert_eq!(IngestConfig::default().shard, None);
        let blank = IngestArgs {
            shard: Some(" ".into()),
            ..Default::default()
        };
        assert_eq!(blank.resolve().unwrap().shard, None);
        for bad in ["2/2", "0/0", "1", "a/b"] {
            let args = IngestArgs {
                shard: Some(bad.into()),
                ..Default::default()
            };
            let err = args.resolve().unwrap_err().to_string();
            assert!(err.contains("shard"), "{bad}: {err}");
        }
        let file: IngestConfig = toml::from_str("shard = \"0/3\"\n").unwrap();
        assert_eq!(file.shard, Some(ShardSpec::new(0, 3).unwrap()));
        assert!(toml::from_str::<IngestConfig>("shard = \"3/3\"\n").is_err());
    }

    #[test]
    fn relay_to_and_relay_settings() {
        let config =
            IngestArgs::try_parse_from(["zonecast-ingest", "--relay-to", "10.0.2.15:1935"])
                .unwrap()
                .resolve()
                .unwrap();
        assert_eq!(config.relay_to.as_deref(), Some("10.0.2.15:1935"));
        assert_eq!(config.relay, RelayConfig::default());
        // Empty: off (an unset ZONECAST_RELAY_TO in a unit file's environment).
        let args = IngestArgs {
            relay_to: Some(String::new()),
            ..Default::default()
        };
        assert_eq!(args.resolve().unwrap().relay_to, None);
        for bad in ["no-port", ":1935", "host:0", "host:http"] {
            let args = IngestArgs {
                relay_to: Some(bad.into()),
                ..Default::default()
            };
            assert!(args.resolve().is_err(), "{bad}");
        }
        // A name is fine (resolved at each attempt), and the queue and backoff from the file.
        let file: IngestConfig = toml::from_str(
            "relay_to = \"ec2-203-0-113-20.eu-west-1.compute.amazonaws.com:1935\"\n[relay]\nmax_queue_messages = 100\nbackoff_max_ms = 8000\n",
        )
        .unwrap();
        file.validate().unwrap();
        assert_eq!(file.relay.max_queue_messages, 100);
        assert_eq!(file.relay.backoff_max_ms, 8000);
        assert_eq!(
            file.relay.backoff_min_ms,
            RelayConfig::default().backoff_min_ms
        );
        assert!(toml::from_str::<IngestConfig>("[relay]\nbogus = 1\n").is_err());
    }
}
