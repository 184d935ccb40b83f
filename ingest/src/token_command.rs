//! `zonecast-ingest token <app> <stream>`: mints a publish token with the secret the ingest
//! itself would read (flags, environment, `--config`). Apart from [`crate::auth`] (the token
//! and the policy) so that the token code does not depend on the configuration.

use std::time::{Duration, SystemTime};

use zonecast_contract::StreamName;

use crate::{
    auth::{mint, unix_seconds},
    config::{IngestArgs, TokenArgs},
};

/// Errors of `zonecast-ingest token`.
#[derive(Debug, thiserror::Error)]
pub enum TokenCommandError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(
        "no publish secret: give --publish-secret-file FILE (or `-` for standard input), ZONECAST_PUBLISH_SECRET_FILE, ZONECAST_PUBLISH_SECRET or publish_secret_file in --config"
    )]
    NoSecret,
    #[error(transparent)]
    Name(#[from] zonecast_contract::name::NameError),
    #[error("--ttl {0:?} is too long")]
    TtlTooLong(Duration),
}

/// A token minted by `zonecast-ingest token`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MintedToken {
    pub name: StreamName,
    pub expiry: u64,
    pub token: String,
}

/// `zonecast-ingest token <app> <stream> --ttl 24h`: reads the secret the way the ingest does
/// (flags, environment, `--config`) and mints a token valid for the TTL from `now`.
pub fn token_command(
    args: IngestArgs,
    token: &TokenArgs,
    now: SystemTime,
) -> Result<MintedToken, TokenCommandError> {
    let config = args.resolve()?;
    let secret = config
        .publish_secret
        .as_ref()
        .ok_or(TokenCommandError::NoSecret)?;
    let name = StreamName::new(&token.app, &token.stream)?;
    let expiry = unix_seconds(now)
        .checked_add(token.ttl.as_secs())
        .ok_or(TokenCommandError::TtlTooLong(token.ttl))?;
    let minted = mint(secret, &name, expiry);
    Ok(MintedToken {
        name,
        expiry,
        token: minted,
    })
}

#[cfg(test)]
mod tests;
