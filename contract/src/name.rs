//! Stream names: `app` and `stream` become S3 keys and URLs, so both are restricted to
//! `[A-Za-z0-9_-]{1,64}` (DESIGN.md §2) and checked once, here.

use std::fmt;

/// Longest accepted `app` or `stream` component.
pub const MAX_NAME_LEN: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("{what} is empty")]
    Empty { what: &'static str },
    #[error("{what} is {len} bytes long, more than {MAX_NAME_LEN}")]
    TooLong { what: &'static str, len: usize },
    #[error("{what} {value:?} has a character outside [A-Za-z0-9_-] at byte {offset}")]
    BadCharacter {
        what: &'static str,
        value: String,
        offset: usize,
    },
}

/// Checks one component (`app` or `stream`).
pub fn check_component(what: &'static str, value: &str) -> Result<(), NameError> {
    if value.is_empty() {
        return Err(NameError::Empty { what });
    }
    if value.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong {
            what,
            len: value.len(),
        });
    }
    if let Some(offset) = value
        .bytes()
        .position(|b| !(b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
    {
        // Keep hostile input short in logs.
        let shown: String = value.chars().take(80).collect();
        return Err(NameError::BadCharacter {
            what,
            value: shown,
            offset,
        });
    }
    Ok(())
}

/// A validated `app/stream` pair.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamName {
    app: String,
    stream: String,
}

impl StreamName {
    pub fn new(app: &str, stream: &str) -> Result<Self, NameError> {
        check_component("app", app)?;
        check_component("stream", stream)?;
        Ok(Self {
            app: app.to_owned(),
            stream: stream.to_owned(),
        })
    }

    /// Parses an RTMP publish: the stream key may carry a token as a query string
    /// (`show?token=…`), which is not part of the name.
    pub fn from_publish(app: &str, stream_key: &str) -> Result<Self, NameError> {
        let stream = stream_key.split_once('?').map_or(stream_key, |(s, _)| s);
        Self::new(app, stream)
    }

    pub fn app(&self) -> &str {
        &self.app
    }

    pub fn stream(&self) -> &str {
        &self.stream
    }
}

impl fmt::Display for StreamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.app, self.stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_names() {
        let n = StreamName::new("live", "show_1-A").unwrap();
        assert_eq!(n.to_string(), "live/show_1-A");
        assert!(StreamName::new(&"a".repeat(64), "b").is_ok());
    }

    #[test]
    fn refuses_hostile_names() {
        for (app, stream) in [
            ("live", ""),
            ("", "show"),
            ("live", "../etc"),
            ("live", "a/b"),
            ("live", "show.ts"),
            ("live", "sh%2fow"),
            ("live", "show\n"),
            ("live", "shöw"),
            ("li ve", "show"),
            ("live", &"x".repeat(65)),
        ] {
            assert!(
                StreamName::new(app, stream).is_err(),
                "{app:?}/{stream:?} was accepted"
            );
        }
    }

    #[test]
    fn publish_token_is_not_part_of_the_name() {
        let n = StreamName::from_publish("live", "show?token=abc").unwrap();
        assert_eq!(n.stream(), "show");
        assert!(StreamName::from_publish("live", "../x?token=abc").is_err());
    }
}
