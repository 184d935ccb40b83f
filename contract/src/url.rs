//! The public URL scheme (DESIGN.md §2): every URL a playlist carries is absolute and on the
//! host of the AZ it belongs to, so a player that fetched an az1 chunklist stays on az1.
//!
//! - **Host mode** (custom domain): the viewer reached us on `media-hls.D`, `media-hls-az1.D` or
//!   `media-hls-az2.D`; AZ N's URLs are on `media-hls-azN.D`, the multivariant playlist on
//!   `media-hls.D`.
//! - **Path mode** (the distribution's own domain, `127.0.0.1:8080` locally): AZ N's URLs carry
//!   the `/azN` prefix themselves, on the host the viewer used.

use std::fmt;

use crate::{Az, StreamName, keys};

/// First DNS label of the neutral host in host mode.
pub const NEUTRAL_LABEL: &str = "media-hls";

/// Longest accepted host, port included (a DNS name is at most 253 bytes).
const MAX_HOST_LEN: usize = 253 + 6;

/// Why no public base could be built from the request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Neither `x-zonecast-viewer-host` nor `Host` was present.
    #[error("no viewer host: neither x-zonecast-viewer-host nor Host is set")]
    MissingHost,
    /// The host is not `[A-Za-z0-9.-]+` with an optional `:port`.
    #[error("bad viewer host {host:?}: expected [A-Za-z0-9.-]+ with an optional :port")]
    BadHost { host: String },
}

/// `http` or `https`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scheme {
    Http,
    #[default]
    Https,
}

impl Scheme {
    /// From `cloudfront-forwarded-proto`: `http` (any case) is plain HTTP; anything else,
    /// absent included, is HTTPS (what the distribution serves viewers by default).
    pub fn from_forwarded_proto(value: Option<&str>) -> Self {
        match value {
            Some(v) if v.trim().eq_ignore_ascii_case("http") => Scheme::Http,
            _ => Scheme::Https,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How AZ URLs are formed; see the module doc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlMode {
    /// Custom domain: `rest` is what follows the first label, port included
    /// (`.example.com`, `.localhost:8080`, or just `:8080`).
    Host { rest: String },
    /// No custom domain: `/azN` path prefix on the viewer's host.
    Path,
}

/// Scheme and host the viewer used: the base of every absolute URL in a playlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicBase {
    scheme: Scheme,
    /// Lowercased, validated, port included.
    host: String,
    mode: UrlMode,
}

impl PublicBase {
    /// Validates `host` (`[A-Za-z0-9.-]+` with an optional `:port`) and picks the mode.
    pub fn new(scheme: Scheme, host: &str) -> Result<Self, UrlError> {
        let bad = || UrlError::BadHost {
            host: host.chars().take(80).collect(),
        };
        if host.is_empty() || host.len() > MAX_HOST_LEN {
            return Err(bad());
        }
        let (name, port) = match host.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        };
        let name_ok = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        let port_ok = port
            .is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
        if !name_ok || !port_ok {
            return Err(bad());
        }
        let host = host.to_ascii_lowercase();
        let label_end = host.find(['.', ':']).unwrap_or(host.len());
        let (label, rest) = host.split_at(label_end);
        let mode = match label {
            "media-hls" | "media-hls-az1" | "media-hls-az2" => UrlMode::Host {
                rest: rest.to_owned(),
            },
            _ => UrlMode::Path,
        };
        Ok(Self { scheme, host, mode })
    }

    /// From the request headers the playlist function sees: the viewer host is
    /// `x-zonecast-viewer-host` (set by the viewer-request function), else `Host`; the scheme
    /// is `cloudfront-forwarded-proto`.
    pub fn from_headers(
        viewer_host: Option<&str>,
        host: Option<&str>,
        forwarded_proto: Option<&str>,
    ) -> Result<Self, UrlError> {
        let host = viewer_host
            .filter(|h| !h.is_empty())
            .or(host)
            .ok_or(UrlError::MissingHost)?;
        Self::new(Scheme::from_forwarded_proto(forwarded_proto), host)
    }

    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The viewer's host, lowercased, port included.
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn mode(&self) -> &UrlMode {
        &self.mode
    }

    /// `https://media-hls-az1.example.com/` (host mode) or `https://dxxxx.cloudfront.net/az1/`
    /// (path mode): what every URL of this AZ starts with.
    pub fn az_base(&self, az: Az) -> String {
        match &self.mode {
            UrlMode::Host { rest } => format!("{}://{NEUTRAL_LABEL}-{az}{rest}/", self.scheme),
            UrlMode::Path => format!("{}://{}/{az}/", self.scheme, self.host),
        }
    }

    /// The AZ's chunklist: `…/live/show/chunklist.m3u8`.
    pub fn chunklist_url(&self, az: Az, name: &StreamName) -> String {
        format!(
            "{}{}{}",
            self.az_base(az),
            keys::stream_path(name),
            keys::CHUNKLIST_FILE
        )
    }

    /// One segment of the AZ: `…/live/show/<epoch>-42.ts`.
    pub fn segment_url(&self, az: Az, name: &StreamName, id: keys::SegmentId) -> String {
        format!(
            "{}{}{}",
            self.az_base(az),
            keys::stream_path(name),
            keys::segment_file(id)
        )
    }

    /// The steering manifest, next to the multivariant playlist (same host).
    pub fn steering_url(&self, name: &StreamName) -> String {
        let multivariant = self.multivariant_url(name);
        let dir = multivariant
            .strip_suffix(keys::MULTIVARIANT_FILE)
            .unwrap_or(&multivariant);
        format!("{dir}{}", keys::STEERING_FILE)
    }

    /// The multivariant playlist: on `media-hls.D` in host mode, on the viewer's host in path
    /// mode. One per stream: a rendition's name gives its stream's.
    pub fn multivariant_url(&self, name: &StreamName) -> String {
        let origin = match &self.mode {
            UrlMode::Host { rest } => format!("{}://{NEUTRAL_LABEL}{rest}", self.scheme),
            UrlMode::Path => format!("{}://{}", self.scheme, self.host),
        };
        format!(
            "{origin}/{}{}",
            keys::stream_path(&name.base()),
            keys::MULTIVARIANT_FILE
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SegmentId;

    fn show() -> StreamName {
        StreamName::new("live", "show").unwrap()
    }

    fn seg(msn: u64) -> SegmentId {
        SegmentId { epoch: 9, msn }
    }

    #[test]
    fn host_mode_from_any_media_host() {
        for host in [
            "media-hls.example.com",
            "media-hls-az1.example.com",
            "MEDIA-HLS-AZ2.Example.com",
        ] {
            let b = PublicBase::new(Scheme::Https, host).unwrap();
            assert_eq!(
                b.chunklist_url(Az::Az1, &show()),
                "https://media-hls-az1.example.com/live/show/chunklist.m3u8"
            );
            assert_eq!(
                b.segment_url(Az::Az2, &show(), seg(42)),
                "https://media-hls-az2.example.com/live/show/9-42.ts"
            );
            assert_eq!(
                b.multivariant_url(&show()),
                "https://media-hls.example.com/live/show/playlist.m3u8"
            );
            assert_eq!(
                b.steering_url(&show()),
                "https://media-hls.example.com/live/show/steering.json"
            );
        }
    }

    #[test]
    fn host_mode_keeps_the_port() {
        let b = PublicBase::new(Scheme::Http, "media-hls.localhost:8080").unwrap();
        assert_eq!(
            b.chunklist_url(Az::Az2, &show()),
            "http://media-hls-az2.localhost:8080/live/show/chunklist.m3u8"
        );
        let b = PublicBase::new(Scheme::Http, "media-hls:8080").unwrap();
        assert_eq!(
            b.segment_url(Az::Az1, &show(), seg(0)),
            "http://media-hls-az1:8080/live/show/9-0.ts"
        );
    }

    #[test]
    fn path_mode() {
        let b = PublicBase::new(Scheme::Https, "d111111abcdef8.cloudfront.net").unwrap();
        assert_eq!(b.mode(), &UrlMode::Path);
        assert_eq!(
            b.chunklist_url(Az::Az1, &show()),
            "https://d111111abcdef8.cloudfront.net/az1/live/show/chunklist.m3u8"
        );
        assert_eq!(
            b.segment_url(Az::Az2, &show(), seg(7)),
            "https://d111111abcdef8.cloudfront.net/az2/live/show/9-7.ts"
        );
        let b = PublicBase::new(Scheme::Http, "127.0.0.1:8080").unwrap();
        assert_eq!(
            b.segment_url(Az::Az1, &show(), seg(3)),
            "http://127.0.0.1:8080/az1/live/show/9-3.ts"
        );
        assert_eq!(
            b.multivariant_url(&show()),
            "http://127.0.0.1:8080/live/show/playlist.m3u8"
        );
        assert_eq!(
            b.steering_url(&show()),
            "http://127.0.0.1:8080/live/show/steering.json"
        );
        let r = show().with_rendition("360p").unwrap();
        assert_eq!(
            b.chunklist_url(Az::Az2, &r),
            "http://127.0.0.1:8080/az2/live/show/360p/chunklist.m3u8"
        );
        assert_eq!(
            b.segment_url(Az::Az1, &r, seg(3)),
            "http://127.0.0.1:8080/az1/live/show/360p/9-3.ts"
        );
        assert_eq!(
            b.multivariant_url(&r),
            "http://127.0.0.1:8080/live/show/playlist.m3u8"
        );
        // Not the media label, only a prefix of it.
        let b = PublicBase::new(Scheme::Https, "media-hls-az3.example.com").unwrap();
        assert_eq!(b.mode(), &UrlMode::Path);
        let b = PublicBase::new(Scheme::Https, "media-hlsx.example.com").unwrap();
        assert_eq!(b.mode(), &UrlMode::Path);
    }

    #[test]
    fn bad_hosts() {
        for host in [
            "",
            "evil.com/x",
            "a b",
            "host:abc",
            "host:",
            ":8080",
            "host:1:2",
            "host:123456",
            "[::1]:8080",
            "evil.com\r\nx: y",
            "exämple.com",
            "user@host",
        ] {
            assert!(
                matches!(
                    PublicBase::new(Scheme::Https, host),
                    Err(UrlError::BadHost { .. })
                ),
                "{host:?} accepted"
            );
        }
        assert!(PublicBase::new(Scheme::Https, &"a".repeat(300)).is_err());
    }

    #[test]
    fn headers() {
        let b = PublicBase::from_headers(
            Some("media-hls.example.com"),
            Some("abc.lambda-url.eu-west-1.on.aws"),
            None,
        )
        .unwrap();
        assert_eq!(b.host(), "media-hls.example.com");
        assert_eq!(b.scheme(), Scheme::Https);
        let b = PublicBase::from_headers(None, Some("127.0.0.1:8080"), Some("http")).unwrap();
        assert_eq!(b.host(), "127.0.0.1:8080");
        assert_eq!(b.scheme(), Scheme::Http);
        let b = PublicBase::from_headers(Some(""), Some("x.example"), Some("gopher")).unwrap();
        assert_eq!((b.host(), b.scheme()), ("x.example", Scheme::Https));
        assert_eq!(
            PublicBase::from_headers(None, None, None),
            Err(UrlError::MissingHost)
        );
    }
}
