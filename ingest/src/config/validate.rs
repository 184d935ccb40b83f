//! Checks of a resolved [`IngestConfig`] that no single setting's parser can make: ranges, and
//! settings that depend on each other.

use std::net::SocketAddr;

use super::{ConfigError, IngestConfig, PublishAuthPolicy};
use crate::auth::PublishSecret;

impl IngestConfig {
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
