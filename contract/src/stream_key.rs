//! The RTMP stream key, `<stream>?<query>`: the one parser of what a publisher (or a relaying
//! peer) puts in it (DESIGN.md §2, "one parser in `contract` reads them").
//!
//! The part before the first `?` is the stream name, checked as is (no percent-decoding: it
//! becomes an S3 key and a URL, [`crate::name`]). The query is
//! `application/x-www-form-urlencoded` (WHATWG URL §5.1, decoded by the `form_urlencoded`
//! crate): pairs split on `&`, each on its first `=`, `+` and `%XX` decoded in names and
//! values (invalid UTF-8 becomes U+FFFD, which no valid name, token or AZ contains). Empty
//! pairs (`show?&&token=…`) are skipped.
//!
//! The parameters the contract knows:
//!
//! | parameter | meaning | repeated | without `=` |
//! | --- | --- | --- | --- |
//! | [`RENDITION_PARAM`] | the rendition, part of the name | refused ([`NameError::DuplicateRendition`]): which one would be a guess | no rendition |
//! | [`TOKEN_PARAM`] | the publish token | refused when the token is read ([`StreamKey::token`]): a publish without auth never reads it | an empty token |
//! | [`RELAY_MARKER_PARAM`] | a relayed publish, and the AZ that relayed it | the first counts: any marker stops a relay loop | relayed, AZ unknown |
//!
//! Any other parameter is kept, in order and byte for byte, and passed on by the relay
//! ([`StreamKey::relayed`]); it means nothing to ZoneCast.

use crate::{Az, NameError, StreamName};

/// The query parameter that names the rendition (`show?rendition=720p`).
pub const RENDITION_PARAM: &str = "rendition";

/// The query parameter that carries the publish token (`show?token=<expiry>.<signature>`).
pub const TOKEN_PARAM: &str = "token";

/// The query parameter that marks a relayed publish; its value is the AZ that relayed it. A
/// publish carrying it is packaged like any other but never relayed again.
pub const RELAY_MARKER_PARAM: &str = "zonecast-relay";

/// A parameter appears more than once where only one can count.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the stream key has more than one {param:?} parameter")]
pub struct DuplicateParam {
    pub param: &'static str,
}

/// One `name[=value]` pair of the query: decoded, and as it was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Param {
    /// Exactly as in the stream key (what the relay passes on).
    raw: String,
    name: String,
    /// `None` for a bare name (`show?flag`).
    value: Option<String>,
}

/// The query of a stream key, parsed (see the module doc for the rules). Any text is a query:
/// what the parameters must hold is checked where they are read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyQuery {
    params: Vec<Param>,
}

impl KeyQuery {
    pub fn parse(query: &str) -> Self {
        let params = query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                // One pair: `form_urlencoded` splits it on its first `=` and decodes both sides.
                let (name, value) = form_urlencoded::parse(pair.as_bytes())
                    .next()
                    .unwrap_or_default();
                Param {
                    raw: pair.to_owned(),
                    name: name.into_owned(),
                    value: pair.contains('=').then(|| value.into_owned()),
                }
            })
            .collect();
        Self { params }
    }

    /// Splits a stream key at its first `?`: the stream component as it is, and the query.
    pub fn split(stream_key: &str) -> (&str, Self) {
        let (stream, query) = stream_key.split_once('?').unwrap_or((stream_key, ""));
        (stream, Self::parse(query))
    }

    /// The rendition the query names: `Ok(None)` without one (a bare `rendition` names none),
    /// an error for two. Checked as a name by [`StreamName::with_rendition`].
    pub fn rendition(&self) -> Result<Option<&str>, NameError> {
        let mut renditions = self
            .params_named(RENDITION_PARAM)
            .filter_map(|p| p.value.as_deref());
        match (renditions.next(), renditions.next()) {
            (None, _) => Ok(None),
            (Some(r), None) => Ok(Some(r)),
            (Some(_), Some(_)) => Err(NameError::DuplicateRendition),
        }
    }

    /// The publish token: `Ok(None)` without one, `Ok(Some(""))` for a bare or empty
    /// `token`, an error when there are several (which one counts would be a guess).
    pub fn token(&self) -> Result<Option<&str>, DuplicateParam> {
        let mut tokens = self.params_named(TOKEN_PARAM);
        match (tokens.next(), tokens.next()) {
            (None, _) => Ok(None),
            (Some(t), None) => Ok(Some(t.value.as_deref().unwrap_or(""))),
            (Some(_), Some(_)) => Err(DuplicateParam { param: TOKEN_PARAM }),
        }
    }

    /// `Some` when the publish is relayed by a peer ingest (never relay it again), with the AZ
    /// its first marker names, if that is an AZ.
    pub fn relayed_from(&self) -> Option<Option<Az>> {
        self.params_named(RELAY_MARKER_PARAM)
            .next()
            .map(|p| p.value.as_deref().and_then(|v| v.parse::<Az>().ok()))
    }

    /// The query a relay from `from` publishes with: this one as it was sent (token,
    /// rendition, anything else) minus any marker, plus this AZ's marker; `token`, when given,
    /// replaces every token (a fresh one minted by the relaying ingest).
    pub fn relayed(&self, from: Az, token: Option<&str>) -> String {
        let kept = self
            .params
            .iter()
            .filter(|p| p.name != RELAY_MARKER_PARAM && !(token.is_some() && p.name == TOKEN_PARAM))
            .map(|p| p.raw.as_str());
        // New pairs are encoded by the crate, after the kept ones (`&` only when there are).
        let mut added =
            form_urlencoded::Serializer::for_suffix(kept.collect::<Vec<_>>().join("&"), 0);
        if let Some(t) = token {
            added.append_pair(TOKEN_PARAM, t);
        }
        added.append_pair(RELAY_MARKER_PARAM, from.as_str());
        added.finish()
    }

    fn params_named(&self, name: &'static str) -> impl Iterator<Item = &Param> {
        self.params.iter().filter(move |p| p.name == name)
    }
}

/// A parsed stream key of a publish to an app: the validated name and the query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamKey {
    name: StreamName,
    /// The text before the `?` (the stream component of the name).
    stream: String,
    query: KeyQuery,
}

impl StreamKey {
    /// Parses the stream key of a publish to `app` (see the module doc for the rules). Fails
    /// when the stream or the rendition is not a valid name, or the query names two
    /// renditions.
    pub fn parse(app: &str, stream_key: &str) -> Result<Self, NameError> {
        let (stream, query) = KeyQuery::split(stream_key);
        let name = StreamName::new(app, stream)?;
        let name = match query.rendition()? {
            Some(r) => name.with_rendition(r)?,
            None => name,
        };
        Ok(Self {
            name,
            stream: stream.to_owned(),
            query,
        })
    }

    /// The stream (with its rendition, if the key names one).
    pub fn name(&self) -> &StreamName {
        &self.name
    }

    pub fn into_name(self) -> StreamName {
        self.name
    }

    pub fn query(&self) -> &KeyQuery {
        &self.query
    }

    /// See [`KeyQuery::token`].
    pub fn token(&self) -> Result<Option<&str>, DuplicateParam> {
        self.query.token()
    }

    /// See [`KeyQuery::relayed_from`].
    pub fn relayed_from(&self) -> Option<Option<Az>> {
        self.query.relayed_from()
    }

    /// The stream key a relay from `from` publishes with (see [`KeyQuery::relayed`]).
    pub fn relayed(&self, from: Az, token: Option<&str>) -> String {
        format!("{}?{}", self.stream, self.query.relayed(from, token))
    }
}

#[cfg(test)]
mod tests;
