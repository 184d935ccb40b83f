//! One typed configuration for the ingest: defaults here, then a TOML file (`--config`), then
//! environment variables (`ZONECAST_*`), then command-line flags. Unknown keys are rejected.

use std::{net::SocketAddr, path::PathBuf};

use clap::Parser;
use serde::Deserialize;
use zonecast_contract::Az;

/// What to do when a second encoder publishes a stream that is already live on this ingest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum DuplicatePublishPolicy {
    /// Refuse the newcomer (nginx-rtmp's behaviour). Safe against a stray second encoder
    /// hijacking a live show; an encoder that reconnects before its old TCP connection times
    /// out is refused until then.
    RejectNew,
    /// Drop the old connection and take the new one. Fast encoder reconnects, at the price
    /// that any publisher with the name can take the stream over.
    ReplaceOld,
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
            duplicate_publish: DuplicatePublishPolicy::RejectNew,
            idle_timeout_secs: 30,
            max_connections: 256,
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
    #[arg(long, env = "ZONECAST_CONFIG")]
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
            max_connections
        );
        if self.endpoint.is_some() {
            config.endpoint = self.endpoint;
        }
        if self.distribution_id.is_some() {
            config.distribution_id = self.distribution_id;
        }
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

    pub fn validate(&self) -> Result<(), ConfigError> {
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
            "az = \"az2\"\nwindow = 8\nduplicate_publish = \"replace-old\"\n",
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
        assert_eq!(config.duplicate_publish, DuplicatePublishPolicy::ReplaceOld);
        assert_eq!(config.target_duration_ms, 2000);
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = toml::from_str::<IngestConfig>("azz = \"az1\"").unwrap_err();
        assert!(err.to_string().contains("azz"), "{err}");
    }

    #[test]
    fn out_of_range_is_rejected() {
        let args = IngestArgs {
            target_duration_ms: Some(50),
            ..Default::default()
        };
        assert!(args.resolve().is_err());
    }
}
