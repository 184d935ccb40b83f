//! Publish auth (README.md, "Publish auth"): a publisher proves it may publish `app/stream`
//! with a token in the stream key, `show?token=<expiry>.<signature>`.
//!
//! - `expiry`: Unix time in seconds (decimal, at most 20 digits) after which the token is
//!   refused.
//! - `signature`: HMAC-SHA256 (RFC 2104, FIPS 180-4) keyed with the shared secret over the
//!   canonical string
//!   `zonecast-publish-v1` LF `<app>` LF `<stream>` LF `<expiry>` (no trailing LF; LF is 0x0A;
//!   `<expiry>` exactly as it appears in the token). Names are `[A-Za-z0-9_-]{1,64}`, so the
//!   line breaks cannot be forged by a name. Written as 64 lowercase hex digits (what
//!   `zonecast-ingest token` prints) or 43 base64url characters without padding (RFC 4648 §5).
//!
//! The string names no AZ: both ingests share the secret and accept the same token. The
//! token is checked when a publish starts; a publish that outlives its token goes on, but a
//! reconnect after the expiry is refused. Signatures are compared in constant time
//! ([`Mac::verify_slice`]). Nothing here logs; the caller logs the [`TokenError`], which
//! never contains the secret or the signature.

use std::{
    fmt,
    path::{Path, PathBuf},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zonecast_contract::{StreamName, stream_key::KeyQuery};

/// The first line of the canonical string: the token format's version.
pub const CANONICAL_PREFIX: &str = "zonecast-publish-v1";

/// The query parameter of the stream key that carries the token (the contract's).
pub use zonecast_contract::stream_key::TOKEN_PARAM;

/// The shared secret publish tokens are signed with. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct PublishSecret(Vec<u8>);

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("the publish secret is empty")]
    Empty,
    #[error(
        "the publish secret is {len} bytes; use at least {min} (for example `openssl rand -hex 32`)"
    )]
    TooShort { len: usize, min: usize },
    #[error("reading the publish secret from {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("in {path}: {source}")]
    InFile {
        path: PathBuf,
        source: Box<SecretError>,
    },
}

impl PublishSecret {
    /// Shorter secrets are refused: a token's signature is only as strong as its key.
    pub const MIN_LEN: usize = 16;

    /// The secret is the text's bytes, without surrounding whitespace (a file's trailing
    /// newline, `aws ssm get-parameter --output text`'s).
    pub fn from_text(text: &str) -> Result<Self, SecretError> {
        let bytes = text.trim().as_bytes();
        if bytes.is_empty() {
            return Err(SecretError::Empty);
        }
        if bytes.len() < Self::MIN_LEN {
            return Err(SecretError::TooShort {
                len: bytes.len(),
                min: Self::MIN_LEN,
            });
        }
        Ok(Self(bytes.to_vec()))
    }

    /// Reads the secret from a file; `-` reads standard input.
    pub fn read_file(path: &Path) -> Result<Self, SecretError> {
        let read = if path == Path::new("-") {
            std::io::read_to_string(std::io::stdin())
        } else {
            std::fs::read_to_string(path)
        };
        let text = read.map_err(|source| SecretError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_text(&text).map_err(|e| SecretError::InFile {
            path: path.to_owned(),
            source: Box::new(e),
        })
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes a key of any length (RFC 2104 §2): this cannot fail.
        <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"))
    }
}

impl fmt::Debug for PublishSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublishSecret(<{} bytes, redacted>)", self.0.len())
    }
}

impl<'de> serde::Deserialize<'de> for PublishSecret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::from_text(&text).map_err(serde::de::Error::custom)
    }
}

/// Why a publish token is refused. The message says why without the secret or the signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The stream key has no `token` parameter.
    #[error(
        "no publish token: publish to <app>/<stream>?token=<expiry>.<signature> (zonecast-ingest token <app> <stream>)"
    )]
    Missing,
    /// Not `<expiry>.<signature>`, or more than one `token` parameter.
    #[error("malformed publish token: {0}")]
    Malformed(&'static str),
    /// A genuine token whose time is up.
    #[error("publish token expired at {expiry} (Unix time), {ago} s ago: mint a new one")]
    Expired { expiry: u64, ago: u64 },
    /// Made with another secret, for another app or stream, or altered (its expiry, say).
    #[error(
        "publish token signature does not match: made with another secret, for another app/stream, or altered"
    )]
    BadSignature,
    /// Publish auth is required but this ingest has no secret (the configuration check
    /// prevents this).
    #[error("publish auth is required but no publish secret is configured")]
    NoSecret,
}

impl TokenError {
    /// A short, bounded word for logs.
    pub fn reason(&self) -> &'static str {
        match self {
            TokenError::Missing => "missing",
            TokenError::Malformed(_) => "malformed",
            TokenError::Expired { .. } => "expired",
            TokenError::BadSignature => "bad_signature",
            TokenError::NoSecret => "no_secret",
        }
    }
}

/// The string the signature covers (see the module doc).
pub fn canonical_string(name: &StreamName, expiry: &str) -> String {
    format!(
        "{CANONICAL_PREFIX}\n{}\n{}\n{expiry}",
        name.app(),
        name.stream()
    )
}

fn signer(secret: &PublishSecret, name: &StreamName, expiry: &str) -> Hmac<Sha256> {
    let mut mac = secret.mac();
    mac.update(canonical_string(name, expiry).as_bytes());
    mac
}

/// A token for `name` valid until `expiry` (Unix seconds): `<expiry>.<64 hex digits>`.
pub fn mint(secret: &PublishSecret, name: &StreamName, expiry: u64) -> String {
    let expiry = expiry.to_string();
    let signature = signer(secret, name, &expiry).finalize().into_bytes();
    format!("{expiry}.{}", hex::encode(signature))
}

/// Checks `token` for `name` at `now` (Unix seconds): the signature first (in constant time),
/// then the expiry, so "expired" is only ever said of a genuine token. Returns the expiry.
pub fn verify(
    secret: &PublishSecret,
    name: &StreamName,
    token: &str,
    now: u64,
) -> Result<u64, TokenError> {
    let (expiry_text, signature_text) = token
        .split_once('.')
        .ok_or(TokenError::Malformed("expected <expiry>.<signature>"))?;
    if expiry_text.is_empty()
        || expiry_text.len() > 20
        || !expiry_text.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(TokenError::Malformed(
            "the expiry is not a Unix time in seconds",
        ));
    }
    let expiry: u64 = expiry_text
        .parse()
        .map_err(|_| TokenError::Malformed("the expiry is not a Unix time in seconds"))?;
    let signature = decode_signature(signature_text)?;
    signer(secret, name, expiry_text)
        .verify_slice(&signature)
        .map_err(|_| TokenError::BadSignature)?;
    if expiry <= now {
        return Err(TokenError::Expired {
            expiry,
            ago: now - expiry,
        });
    }
    Ok(expiry)
}

/// 64 hex digits (either case) or 43 base64url characters without padding: 32 bytes.
fn decode_signature(text: &str) -> Result<Vec<u8>, TokenError> {
    const BAD: TokenError =
        TokenError::Malformed("the signature is neither 64 hex digits nor 43 base64url characters");
    let bytes = match text.len() {
        64 => hex::decode(text).map_err(|_| BAD)?,
        43 => URL_SAFE_NO_PAD.decode(text).map_err(|_| BAD)?,
        _ => return Err(BAD),
    };
    if bytes.len() == 32 {
        Ok(bytes)
    } else {
        Err(BAD)
    }
}

/// The `token` parameter of a stream key's query string (`show?token=…&other=…`), if any, as
/// the contract reads it ([`zonecast_contract::stream_key`]: percent-decoded; a bare `token`
/// is an empty one). A key with two `token` parameters is malformed: which one counts would be
/// a guess.
pub fn token_param(stream_key: &str) -> Result<Option<String>, TokenError> {
    let (_, query) = KeyQuery::split(stream_key);
    query
        .token()
        .map(|t| t.map(str::to_owned))
        .map_err(|_| TokenError::Malformed("more than one token parameter"))
}

/// Unix seconds of `time` (0 before 1970).
pub fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Whether a publish must carry a token signed with the shared secret (README.md, "Publish
/// auth"; the token format is in [`crate::auth`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, clap::ValueEnum)]
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

/// Whether the publish of `name` with this stream key may go on under `policy`, with the
/// ingest's publish secret (if it has one).
pub fn check_publish(
    policy: PublishAuthPolicy,
    secret: Option<&PublishSecret>,
    name: &StreamName,
    stream_key: &str,
    now: SystemTime,
) -> Result<(), TokenError> {
    match policy {
        PublishAuthPolicy::Off => Ok(()),
        PublishAuthPolicy::Required => {
            let secret = secret.ok_or(TokenError::NoSecret)?;
            let token = token_param(stream_key)?.ok_or(TokenError::Missing)?;
            if token.is_empty() {
                return Err(TokenError::Missing);
            }
            verify(secret, name, &token, unix_seconds(now)).map(|_| ())
        }
    }
}

/// Parses a TTL: seconds (`3600`) or a number with `s`, `m`, `h` or `d` (`90m`, `24h`, `7d`).
pub fn parse_ttl(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?}: expected a number with s, m, h or d (e.g. 24h)"))?;
    let factor = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{text:?}: unknown unit {unit:?} (s, m, h or d)")),
    };
    let secs = n
        .checked_mul(factor)
        .ok_or_else(|| format!("{text:?} is too long"))?;
    if secs == 0 {
        return Err("a TTL of 0 makes a token that is already expired".into());
    }
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests;
