//! One typed configuration for the ingest, declared once: each setting of [`IngestConfig`] is
//! one field whose attributes give its flag (`--window`), its environment variable
//! (`ZONECAST_WINDOW`), its key in the TOML file (`window`, the field name), its default and
//! its doc (`--help` and the README's flag table, which a test checks against this definition:
//! [`flag_table`]).
//!
//! Precedence, highest first: command-line flag, environment variable, the TOML file given with
//! `--config` / `ZONECAST_CONFIG`, the default. Unknown file keys and unknown flags are
//! rejected. An empty value of a setting without a default (a unit file's `ZONECAST_SHARD=`
//! left blank) means unset, also over the file. The layering is in [`IngestArgs::resolve`].

mod args;
mod flag_table;
mod policy;
mod validate;

use std::{net::SocketAddr, path::PathBuf};

use clap::{Args, FromArgMatches};
use serde::Deserialize;
use zonecast_contract::{Az, ShardSpec};

pub use self::{
    args::{Given, IngestArgs, IngestCommand, TokenArgs},
    flag_table::{FLAG_TABLE_BEGIN, FLAG_TABLE_END, flag_table},
    policy::{DuplicatePublishPolicy, PublishAuthPolicy, UnpublishPolicy},
};
use crate::{
    auth::{PublishSecret, SecretError},
    relay::RelayConfig,
    storage::spool::SpoolFullPolicy,
};

/// The ingest's settings: the one definition of each (see the module doc).
///
/// The first paragraph of a field's doc is its `-h` line and its meaning in the README table;
/// the whole doc is its `--help` text.
#[derive(Debug, Clone, PartialEq, Deserialize, Args)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Which AZ prefix this ingest writes (`az1` or `az2`).
    #[arg(long, env = "ZONECAST_AZ", default_value_t = Az::Az1)]
    pub az: Az,
    /// RTMP listen address.
    #[arg(long, env = "ZONECAST_LISTEN", default_value = "0.0.0.0:1935")]
    pub listen: SocketAddr,
    /// HTTP listen address of `/healthz`, `/metrics` (Prometheus) and `/status` (JSON: the
    /// streams it publishes or waits for).
    #[arg(long, env = "ZONECAST_HEALTH_LISTEN", default_value = "0.0.0.0:8935")]
    pub health_listen: SocketAddr,
    /// S3 bucket for segments and indexes.
    #[arg(long, env = "ZONECAST_BUCKET", default_value = "zonecast")]
    pub bucket: String,
    /// AWS region of the bucket.
    #[arg(long, env = "ZONECAST_REGION", default_value = "us-east-1")]
    pub region: String,
    /// S3-compatible endpoint; unset: AWS S3.
    #[arg(long, env = "ZONECAST_ENDPOINT")]
    pub endpoint: Option<String>,
    /// Segment cut interval on the encoder timeline, in milliseconds (500 to 10000; DESIGN.md
    /// §4).
    #[arg(long, env = "ZONECAST_TARGET_DURATION_MS", default_value_t = 2000)]
    pub target_duration_ms: u32,
    /// Segments listed in the index: the live window (3 to 1000).
    #[arg(long, env = "ZONECAST_WINDOW", default_value_t = 6)]
    pub window: usize,
    /// CloudFront distribution whose cached playlists are invalidated when an ended stream
    /// starts again; unset: no invalidation.
    #[arg(long, env = "ZONECAST_DISTRIBUTION_ID")]
    pub distribution_id: Option<String>,
    /// What to do when a stream is already live here and a second encoder publishes it.
    ///
    /// With `replace-old` the old connection is closed, and the new publish continues its
    /// numbering and its upload queue, so what the old one queued is written first and the
    /// index never goes back.
    #[arg(
        long,
        env = "ZONECAST_DUPLICATE_PUBLISH",
        value_enum,
        default_value_t = DuplicatePublishPolicy::ReplaceOld
    )]
    pub duplicate_publish: DuplicatePublishPolicy,
    /// Seconds after which a connection that sends nothing is closed.
    #[arg(long, env = "ZONECAST_IDLE_TIMEOUT_SECS", default_value_t = 30)]
    pub idle_timeout_secs: u64,
    /// RTMP connections at once (a semaphore: more are closed on accept, counted as
    /// `too_many_connections`).
    #[arg(long, env = "ZONECAST_MAX_CONNECTIONS", default_value_t = 256)]
    pub max_connections: usize,
    /// Seconds a connection has to complete the RTMP handshake, however it trickles bytes.
    #[arg(long, env = "ZONECAST_HANDSHAKE_TIMEOUT_SECS", default_value_t = 10)]
    pub handshake_timeout_secs: u64,
    /// The largest RTMP message a peer may announce, in bytes; more closes the connection.
    ///
    /// Bounds what one message can make the ingest buffer.
    #[arg(long, env = "ZONECAST_MAX_MESSAGE_BYTES", default_value_t = 8 << 20)]
    pub max_message_bytes: u32,
    /// The largest chunk size a peer may set (`Set Chunk Size`), in bytes; more closes the
    /// connection.
    #[arg(long, env = "ZONECAST_MAX_CHUNK_SIZE", default_value_t = 1 << 20)]
    pub max_chunk_size: u32,
    /// Seconds a stream whose encoder went away stays live (`waiting`: no ENDLIST, index kept
    /// fresh) before it is `ended` (DESIGN.md §4).
    #[arg(long, env = "ZONECAST_RECONNECT_GRACE_SECS", default_value_t = 10)]
    pub reconnect_grace_secs: u64,
    /// What an explicit unpublish (`FCUnpublish` / `deleteStream` before closing) means.
    #[arg(
        long,
        env = "ZONECAST_ON_UNPUBLISH",
        value_enum,
        default_value_t = UnpublishPolicy::Grace
    )]
    pub on_unpublish: UnpublishPolicy,
    /// On SIGTERM: seconds to close and upload open segments and write the final `draining`
    /// indexes before exiting anyway.
    ///
    /// The systemd unit's `TimeoutStopSec` exceeds it.
    #[arg(long, env = "ZONECAST_DRAIN_TIMEOUT_SECS", default_value_t = 10)]
    pub drain_timeout_secs: u64,
    /// The local edge's purge endpoint, used like a CloudFront invalidation when an ended
    /// stream starts again (`zonecast-local` sets it).
    #[arg(long, env = "ZONECAST_EDGE_PURGE_URL")]
    pub edge_purge_url: Option<String>,
    /// Whether a publish needs a token signed with the publish secret ("Publish auth").
    #[arg(
        long,
        env = "ZONECAST_PUBLISH_AUTH",
        value_enum,
        default_value_t = PublishAuthPolicy::Off
    )]
    pub publish_auth: PublishAuthPolicy,
    /// The publish token secret itself (at least 16 bytes; surrounding whitespace ignored);
    /// prefer the file or the environment: a command line is visible to every local user.
    #[arg(
        long,
        env = "ZONECAST_PUBLISH_SECRET",
        hide_env_values = true,
        global = true,
        value_parser = SecretParser
    )]
    pub publish_secret: Option<PublishSecret>,
    /// A file holding the publish token secret (`-`: standard input), read at startup.
    ///
    /// On AWS, systemd hands the ingest the copy of the SSM parameter `deploy/boot.sh` fetched.
    #[arg(long, env = "ZONECAST_PUBLISH_SECRET_FILE", global = true)]
    pub publish_secret_file: Option<PathBuf>,
    /// Segment bytes each stream's uploader holds in memory while S3 is slow or away; the
    /// rest goes to the spool.
    #[arg(long, env = "ZONECAST_UPLOAD_MEMORY_MAX_BYTES", default_value_t = 64 << 20)]
    pub upload_memory_max_bytes: u64,
    /// On-disk spool for uploads beyond the memory bound, one file per upload; a restarted
    /// ingest finishes what it finds there (`zonecast-local`: `<data-dir>/spool/azN`; on AWS
    /// `/var/lib/zonecast/spool`, the unit's `StateDirectory`). Unset: no spool.
    #[arg(long, env = "ZONECAST_SPOOL_DIR")]
    pub spool_dir: Option<PathBuf>,
    /// The spool's size limit over all streams, in bytes.
    #[arg(long, env = "ZONECAST_SPOOL_MAX_BYTES", default_value_t = 2 << 30)]
    pub spool_max_bytes: u64,
    /// Which segments go when one must be spooled and does not fit.
    #[arg(
        long,
        env = "ZONECAST_SPOOL_FULL",
        value_enum,
        default_value_t = SpoolFullPolicy::DropOldest
    )]
    pub spool_full: SpoolFullPolicy,
    /// The peer ingest's RTMP `host:port`: relay every direct publish there, so an encoder
    /// with one output feeds both AZs ("The relay"); empty or unset: no relay.
    #[arg(long, env = "ZONECAST_RELAY_TO")]
    pub relay_to: Option<String>,
    /// Queue bounds and backoff of the relay: the `[relay]` table of the file only.
    #[arg(skip)]
    pub relay: RelayConfig,
    /// `k/K`: this ingest belongs to instance pair k of K and refuses a publish of a stream
    /// that maps to another pair (`wrong_shard`); both ingests of a pair get the same value;
    /// empty or unset: one pair, every stream accepted.
    ///
    /// See README.md, "Capacity of one instance pair, and scaling out", and
    /// `zonecast_contract::shard`.
    #[arg(long, env = "ZONECAST_SHARD", value_parser = parse_shard)]
    pub shard: Option<ShardSpec>,
}

/// The defaults are the `#[arg]` attributes' (an empty command line, no environment).
impl Default for IngestConfig {
    fn default() -> Self {
        let command = IngestConfig::augment_args(clap::Command::new("defaults"))
            .mut_args(|arg| arg.env(None));
        let matches = command
            .try_get_matches_from(["defaults"])
            .unwrap_or_else(|e| panic!("a default in IngestConfig's #[arg] attributes: {e}"));
        IngestConfig::from_arg_matches(&matches)
            .unwrap_or_else(|e| panic!("a default in IngestConfig's #[arg] attributes: {e}"))
    }
}

/// `--shard k/K`. A blank value parses to `0/1` (one pair: every stream accepted) only so that
/// clap accepts it; [`Given`] then drops it as "unset", so the setting ends up `None`.
fn parse_shard(text: &str) -> Result<ShardSpec, zonecast_contract::ShardError> {
    match text.trim() {
        "" => ShardSpec::new(0, 1),
        text => text.parse(),
    }
}

/// `--publish-secret`: [`PublishSecret::from_text`], with an error that does not quote the
/// value (clap's own errors do, and a secret one byte too short is still nearly the secret).
#[derive(Debug, Clone, Copy)]
struct SecretParser;

impl clap::builder::TypedValueParser for SecretParser {
    type Value = PublishSecret;
    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<PublishSecret, clap::Error> {
        let invalid = |e: &dyn std::fmt::Display| {
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("--publish-secret / ZONECAST_PUBLISH_SECRET: {e}\n"),
            )
            .with_cmd(cmd)
        };
        let text = value.to_str().ok_or_else(|| invalid(&"not UTF-8"))?;
        PublishSecret::from_text(text).map_err(|e| invalid(&e))
    }
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

#[cfg(test)]
mod tests;
