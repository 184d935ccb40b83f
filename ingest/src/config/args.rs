//! The command line and the layering: [`IngestArgs`] parses flags and environment over the
//! one definition in [`IngestConfig`], [`IngestArgs::resolve`] puts them over the file and the
//! defaults.

use std::{ffi::OsString, path::PathBuf, time::Duration};

use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, parser::ValueSource};
use serde::Deserialize;

use super::{ConfigError, IngestConfig};
use crate::auth::parse_ttl;

/// Command line and environment. Every setting is optional here: what is not given keeps the
/// value from the file or the default.
#[derive(Debug, Default, Parser)]
#[command(
    name = "zonecast-ingest",
    version,
    about = "ZoneCast ingest: RTMP in, HLS segments and index out, to S3",
    after_help = "Precedence: flag, then environment variable, then the --config file (keys as \
                  the flags without `--`, in snake_case), then the default."
)]
pub struct IngestArgs {
    /// TOML file with any of the settings (snake_case keys: `window = 8`, `[relay]`).
    #[arg(long, env = "ZONECAST_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// The settings given as flags or environment variables.
    #[command(flatten)]
    pub given: Given,
    #[command(subcommand)]
    pub command: Option<IngestCommand>,
}

/// The settings of [`IngestConfig`] given as flags or environment variables: clap's matches
/// without the values it filled in from the defaults (those must not cover the file), and
/// without blank values of settings that have no default (blank means unset, [`Given::blank`]).
#[derive(Debug, Clone, Default)]
pub struct Given {
    /// `None`: nothing given (`IngestArgs::default()`).
    matches: Option<ArgMatches>,
    blank: Vec<String>,
}

impl Given {
    /// The settings given with a blank value: unset, over the file.
    pub fn blank(&self) -> impl Iterator<Item = &str> {
        self.blank.iter().map(String::as_str)
    }

    /// Puts the given settings over `config`.
    pub fn apply(&self, config: &mut IngestConfig) -> Result<(), ConfigError> {
        match &self.matches {
            Some(matches) => config
                .update_from_arg_matches(matches)
                .map_err(|e| ConfigError::Invalid(e.to_string())),
            None => Ok(()),
        }
    }
}

impl Args for Given {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        IngestConfig::augment_args(cmd)
    }
    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        IngestConfig::augment_args_for_update(cmd)
    }
}

impl FromArgMatches for Given {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut given = matches.clone();
        let mut blank = Vec::new();
        let settings = IngestConfig::augment_args(clap::Command::new("settings"));
        for arg in settings.get_arguments() {
            let id = arg.get_id().as_str();
            let from_user = matches!(
                matches.value_source(id),
                Some(ValueSource::CommandLine | ValueSource::EnvVariable)
            );
            let is_blank = matches
                .get_raw(id)
                .is_some_and(|mut raw| raw.all(|v| v.to_string_lossy().trim().is_empty()));
            let optional = arg.get_default_values().is_empty();
            if from_user && optional && is_blank {
                blank.push(id.to_owned());
            }
            if !from_user || (optional && is_blank) {
                let _ = given.try_clear_id(id);
            }
        }
        Ok(Self {
            matches: Some(given),
            blank,
        })
    }
    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl IngestArgs {
    /// Parses `args` as flags alone, ignoring the process's environment (tests, and callers
    /// that build an ingest command line).
    pub fn parse_flags<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let matches = Self::command()
            .mut_args(|arg| arg.env(None))
            .try_get_matches_from(args)?;
        Self::from_arg_matches(&matches)
    }

    /// Layers the defaults, the file, then the flags and environment (clap already put flags
    /// over environment variables); then reads the publish secret file and validates.
    pub fn resolve(self) -> Result<IngestConfig, ConfigError> {
        let mut config = match &self.config {
            Some(path) => IngestConfig::from_file_unsetting(path, self.given.blank())?,
            None => IngestConfig::default(),
        };
        self.given.apply(&mut config)?;
        config.load_publish_secret()?;
        config.validate()?;
        Ok(config)
    }
}

impl IngestConfig {
    pub fn from_file(path: &std::path::Path) -> Result<Self, ConfigError> {
        Self::from_file_unsetting(path, std::iter::empty())
    }

    /// The file's settings, those named in `unset` back at their defaults (given blank).
    fn from_file_unsetting<'a>(
        path: &std::path::Path,
        unset: impl Iterator<Item = &'a str>,
    ) -> Result<Self, ConfigError> {
        let parse_error = |source| ConfigError::Parse {
            path: path.to_owned(),
            source,
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        // Parsed from the text first, for errors with line and column.
        let config: Self = toml::from_str(&text).map_err(parse_error)?;
        let unset: Vec<&str> = unset.collect();
        if unset.is_empty() {
            return Ok(config);
        }
        let mut table: toml::Table = toml::from_str(&text).map_err(parse_error)?;
        for key in unset {
            table.remove(key);
        }
        Self::deserialize(toml::Value::Table(table)).map_err(parse_error)
    }
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
