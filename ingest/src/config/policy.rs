//! The named policies of the ingest's settings: each behaviour with trade-offs is an enum with
//! a doc comment per variant, which `--help` and the README's flag table show.

use serde::Deserialize;

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

pub use crate::auth::PublishAuthPolicy;
