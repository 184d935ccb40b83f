//! CloudFront invalidation when a stream that ended starts again (DESIGN.md §5).
//!
//! An ended stream's chunklist carries `#EXT-X-ENDLIST` and is cached for a day; without an
//! invalidation, viewers of a restarted show would keep getting the old, finished playlist.
//! Live playlists expire within seconds on their own, so only a restart after `ended` needs
//! this. The decision is a pure function; [`Invalidator`] is the thin shell, with two targets
//! behind one interface: CloudFront on AWS, the local edge's purge endpoint in
//! `zonecast-local`, so the local tests exercise the same path.

use zonecast_contract::{
    Az, PublicBase, Scheme, StreamIndex, StreamName, StreamState, host_rewrite,
};

/// Viewer hosts standing for the two URL modes (DESIGN.md §2) when the invalidation paths are
/// worked out: host mode (a custom domain; the viewer-request function moves the AZ from the
/// host into the path) and path mode (the distribution's own name; URLs carry the `/azN`
/// prefix themselves). An invalidation is for the whole distribution, whatever host a viewer
/// used, so only the paths matter; `.invalid` names nothing real.
const MODE_HOSTS: [&str; 2] = [
    "media-hls.zonecast.invalid",
    "distribution.zonecast.invalid",
];

/// The cached playlist paths to invalidate when this AZ starts a new publish, or `None` when
/// nothing stale can be cached: when our last index ended the stream (its ENDLIST chunklist is
/// cached for a day), and when we have no index at all (retention may have deleted an ended
/// stream's index while a CDN still holds its ENDLIST chunklist). A stream that is live,
/// waiting or draining here has only short-lived playlists cached.
///
/// Each changed playlist is invalidated under every URI a viewer requests it by, in host mode
/// and in path mode, and under what the viewer-request function makes of that URI: CloudFront's
/// guide ("What you need to know when invalidating paths": a function that changes the URI)
/// asks for both the URI in the viewer request and the URI after the function changed it. The
/// URIs come from the contract's URL rules ([`PublicBase`]) and its rewrite ([`host_rewrite::rewrite`]),
/// the ones the playlist function and the CloudFront Function use. For `az1` and `live/show`:
/// `/az1/live/show/chunklist.m3u8`, `/live/show/chunklist.m3u8` (host mode's viewer URI on
/// `media-hls-az1.<domain>`) and `/live/show/playlist.m3u8`.
pub fn paths_to_invalidate(
    az: Az,
    name: &StreamName,
    own: Option<&StreamIndex>,
) -> Option<Vec<String>> {
    let maybe_ended = own.is_none_or(|i| i.state == StreamState::Ended);
    maybe_ended.then(|| playlist_uris(az, name))
}

/// Every URI (viewer's, and after the viewer-request function) of the AZ's chunklist and of
/// the stream's multivariant playlist, in both URL modes; the origin's (rewritten) URI first.
fn playlist_uris(az: Az, name: &StreamName) -> Vec<String> {
    let mut uris: Vec<String> = Vec::new();
    let mut add = |uri: String| {
        if !uris.contains(&uri) {
            uris.push(uri);
        }
    };
    let bases = MODE_HOSTS
        .iter()
        .filter_map(|host| PublicBase::new(Scheme::Https, host).ok());
    for base in bases {
        for url in [base.chunklist_url(az, name), base.multivariant_url(name)] {
            let Some((host, uri)) = split_url(&url) else {
                continue;
            };
            add(host_rewrite::rewrite(host, uri));
            add(uri.to_owned());
        }
    }
    uris
}

/// `https://host/path` → (`host`, `/path`).
fn split_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.split_once("://")?.1;
    let slash = rest.find('/')?;
    Some(rest.split_at(slash))
}

/// Where cached playlists are invalidated.
#[derive(Debug, Clone)]
pub enum Invalidator {
    CloudFront(CloudFrontInvalidator),
    /// The local edge (`zonecast-local`): `POST <url>` with `{"paths":[...]}`.
    Edge(EdgePurge),
}

impl Invalidator {
    /// `caller_reference` makes a retried request idempotent (use the publish session).
    pub async fn invalidate(
        &self,
        paths: Vec<String>,
        caller_reference: &str,
    ) -> Result<(), InvalidateError> {
        match self {
            Invalidator::CloudFront(c) => c.invalidate(paths, caller_reference).await,
            Invalidator::Edge(e) => e.invalidate(paths).await,
        }
    }
}

/// The local edge's purge endpoint, `http://<host:port>/<path>`.
#[derive(Debug, Clone)]
pub struct EdgePurge {
    url: String,
}

impl EdgePurge {
    pub fn new(url: String) -> Self {
        Self { url }
    }

    async fn invalidate(&self, paths: Vec<String>) -> Result<(), InvalidateError> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let error = |message: String, retryable: bool| InvalidateError {
            distribution: self.url.clone(),
            paths: paths.clone(),
            message,
            retryable,
        };
        let rest = self
            .url
            .strip_prefix("http://")
            .ok_or_else(|| error("only http:// purge URLs are supported".into(), false))?;
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let body = serde_json::json!({ "paths": paths }).to_string();
        let request = format!(
            "POST /{path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let exchange = async {
            let mut socket = tokio::net::TcpStream::connect(authority).await?;
            socket.write_all(request.as_bytes()).await?;
            let mut answer = Vec::new();
            socket.read_to_end(&mut answer).await?;
            Ok::<_, std::io::Error>(answer)
        };
        let answer = tokio::time::timeout(std::time::Duration::from_secs(5), exchange)
            .await
            .map_err(|_| error("timed out".into(), true))?
            .map_err(|e| error(e.to_string(), true))?;
        let status_line =
            String::from_utf8_lossy(answer.split(|b| *b == b'\n').next().unwrap_or(&[]))
                .trim()
                .to_owned();
        if status_line.starts_with("HTTP/1.1 2") || status_line.starts_with("HTTP/1.0 2") {
            Ok(())
        } else {
            let server_error = status_line
                .split(' ')
                .nth(1)
                .is_some_and(|c| c.starts_with('5'));
            Err(error(format!("answered {status_line:?}"), server_error))
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalidating {paths:?} on {distribution}: {message}")]
pub struct InvalidateError {
    pub distribution: String,
    pub paths: Vec<String>,
    pub message: String,
    /// Throttling (CloudFront allows few concurrent invalidations), 5xx, transport: another
    /// try can succeed. A 4xx (bad batch, no permission) cannot.
    pub retryable: bool,
}

impl zonecast_contract::Retryable for InvalidateError {
    fn is_retryable(&self) -> bool {
        self.retryable
    }
}

/// Creates invalidations on one distribution.
#[derive(Debug, Clone)]
pub struct CloudFrontInvalidator {
    client: aws_sdk_cloudfront::Client,
    distribution_id: String,
}

impl CloudFrontInvalidator {
    pub fn new(client: aws_sdk_cloudfront::Client, distribution_id: String) -> Self {
        Self {
            client,
            distribution_id,
        }
    }

    /// `caller_reference` makes a retried request idempotent (use the publish session).
    pub async fn invalidate(
        &self,
        paths: Vec<String>,
        caller_reference: &str,
    ) -> Result<(), InvalidateError> {
        use aws_sdk_cloudfront::types::{InvalidationBatch, Paths};
        let error = |message: String, retryable: bool| InvalidateError {
            distribution: self.distribution_id.clone(),
            paths: paths.clone(),
            message,
            retryable,
        };
        let batch = Paths::builder()
            .quantity(paths.len() as i32)
            .set_items(Some(paths.clone()))
            .build()
            .and_then(|p| {
                InvalidationBatch::builder()
                    .paths(p)
                    .caller_reference(caller_reference)
                    .build()
            })
            .map_err(|e| error(e.to_string(), false))?;
        self.client
            .create_invalidation()
            .distribution_id(&self.distribution_id)
            .invalidation_batch(batch)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                let retryable = zonecast_contract::s3::is_retryable(&e);
                error(zonecast_contract::s3::error_text(&e), retryable)
            })
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    fn index(state: StreamState) -> StreamIndex {
        StreamIndex::builder(Az::Az2)
            .state(state)
            .updated(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap())
            .build()
    }

    #[test]
    fn only_a_restart_after_an_end_invalidates() {
        let name = StreamName::new("live", "show").unwrap();
        for state in [
            StreamState::Live,
            StreamState::Waiting,
            StreamState::Draining,
        ] {
            assert_eq!(
                paths_to_invalidate(Az::Az2, &name, Some(&index(state))),
                None
            );
        }
        assert!(paths_to_invalidate(Az::Az2, &name, None).is_some());
        assert_eq!(
            paths_to_invalidate(Az::Az2, &name, Some(&index(StreamState::Ended))),
            Some(vec![
                "/az2/live/show/chunklist.m3u8".to_string(),
                "/live/show/chunklist.m3u8".to_string(),
                "/live/show/playlist.m3u8".to_string()
            ])
        );
        // A rendition: its own chunklist, its stream's multivariant playlist.
        let r = name.with_rendition("360p").unwrap();
        assert_eq!(
            paths_to_invalidate(Az::Az1, &r, None),
            Some(vec![
                "/az1/live/show/360p/chunklist.m3u8".to_string(),
                "/live/show/360p/chunklist.m3u8".to_string(),
                "/live/show/playlist.m3u8".to_string()
            ])
        );
    }

    /// Per URL mode, every playlist URL a viewer of the stream can hold (as the playlist
    /// function renders them, on the hosts viewers use) is invalidated both as requested and
    /// as the viewer-request function rewrites it.
    #[test]
    fn every_viewer_uri_and_its_rewrite_is_invalidated_in_both_modes() {
        let name = StreamName::new("live", "show").unwrap();
        for az in Az::ALL {
            for stream in [name.clone(), name.with_rendition("720p").unwrap()] {
                let paths = paths_to_invalidate(az, &stream, None).unwrap();
                for (mode, host) in [
                    ("host", "media-hls.example.com"),
                    ("host", "media-hls-az2.example.com"),
                    ("host, local", "media-hls.localhost:8080"),
                    ("path", "d111111abcdef8.cloudfront.net"),
                    ("path, local", "127.0.0.1:8080"),
                ] {
                    let base = PublicBase::new(Scheme::Https, host).unwrap();
                    for url in [
                        base.chunklist_url(az, &stream),
                        base.multivariant_url(&stream),
                    ] {
                        let (viewer_host, uri) = split_url(&url).unwrap();
                        for wanted in [uri.to_owned(), host_rewrite::rewrite(viewer_host, uri)] {
                            assert!(
                                paths.contains(&wanted),
                                "{mode} mode ({host}): {url} needs {wanted} in {paths:?}"
                            );
                        }
                    }
                }
                // Nothing else: no other AZ's chunklist, no wildcard.
                assert_eq!(paths.len(), 3, "{paths:?}");
                assert!(paths.iter().all(|p| !p.contains('*')), "{paths:?}");
                assert!(
                    !paths
                        .iter()
                        .any(|p| p.starts_with(&format!("/{}/", az.peer())))
                );
            }
        }
    }
}
