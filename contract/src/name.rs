//! Stream names: `app` and `stream` become S3 keys and URLs, so both are restricted to
//! `[A-Za-z0-9_-]{1,64}` (DESIGN.md §2) and checked once, here.
//!
//! A stream may be published at several qualities (adaptive bit rate): each rendition is its
//! own publish, `rtmp://host/<app>/<stream>?rendition=<name>`, and its own name here. The
//! rendition name is restricted like the others; it becomes a path component nested under the
//! stream (`az1/live/show/720p/…`, see [`crate::keys`]).

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
    /// The stream key's query names the rendition twice: which one counts would be a guess.
    #[error("the stream key names more than one rendition")]
    DuplicateRendition,
}

pub use crate::stream_key::RENDITION_PARAM;

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

/// A validated `app/stream` pair, with the rendition when the stream is published at several
/// qualities. Without a rendition everything (keys, URLs, index) is exactly a plain stream's.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamName {
    app: String,
    stream: String,
    rendition: Option<String>,
}

impl StreamName {
    pub fn new(app: &str, stream: &str) -> Result<Self, NameError> {
        check_component("app", app)?;
        check_component("stream", stream)?;
        Ok(Self {
            app: app.to_owned(),
            stream: stream.to_owned(),
            rendition: None,
        })
    }

    /// The rendition `rendition` of this stream (replacing any rendition it names).
    pub fn with_rendition(&self, rendition: &str) -> Result<Self, NameError> {
        check_component("rendition", rendition)?;
        Ok(Self {
            rendition: Some(rendition.to_owned()),
            ..self.base()
        })
    }

    /// The name an RTMP publish to `app` with `stream_key` (`show?rendition=720p&token=…`)
    /// names: [`crate::StreamKey::parse`]'s, without the rest of the query.
    pub fn from_publish(app: &str, stream_key: &str) -> Result<Self, NameError> {
        crate::StreamKey::parse(app, stream_key).map(crate::StreamKey::into_name)
    }

    /// The stream without its rendition: what the multivariant playlist, the steering manifest
    /// and the publish token are about.
    pub fn base(&self) -> Self {
        Self {
            app: self.app.clone(),
            stream: self.stream.clone(),
            rendition: None,
        }
    }

    pub fn app(&self) -> &str {
        &self.app
    }

    pub fn stream(&self) -> &str {
        &self.stream
    }

    pub fn rendition(&self) -> Option<&str> {
        self.rendition.as_deref()
    }
}

/// `live/show`, or `live/show/720p` for a rendition.
impl fmt::Display for StreamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.app, self.stream)?;
        match &self.rendition {
            Some(r) => write!(f, "/{r}"),
            None => Ok(()),
        }
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
        assert_eq!(n.rendition(), None);
    }

    #[test]
    fn rendition_from_the_stream_key() {
        let n = StreamName::from_publish("live", "show?rendition=720p&token=abc").unwrap();
        assert_eq!((n.stream(), n.rendition()), ("show", Some("720p")));
        assert_eq!(n.to_string(), "live/show/720p");
        assert_eq!(n.base(), StreamName::new("live", "show").unwrap());
        let m = StreamName::from_publish("live", "show?token=abc&rendition=720p").unwrap();
        assert_eq!(m, n);
        assert_ne!(n.base(), n);
        for key in [
            "show?rendition=",
            "show?rendition=a.b",
            "show?rendition=../x",
            "show?rendition=7%2f2",
        ] {
            assert!(StreamName::from_publish("live", key).is_err(), "{key:?}");
        }
        assert_eq!(
            StreamName::from_publish("live", "show?rendition=a&rendition=b"),
            Err(NameError::DuplicateRendition)
        );
    }
}
