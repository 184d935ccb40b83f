//! The edge's cache, like CloudFront's with a cache policy that honours the origin's
//! Cache-Control: `s-maxage`, else `max-age`; `no-store`, `no-cache` and `private` are not
//! cached; errors (404, 503, 502) without a lifetime are kept for the error caching minimum
//! TTL (1 s in our distribution).

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use bytes::Bytes;
use http::{HeaderMap, StatusCode};

/// Error caching minimum TTL, as `ErrorCachingMinTTL` in template.yaml.
pub const ERROR_CACHING_MIN_TTL: Duration = Duration::from_secs(1);

/// Entries kept before the oldest expired ones are swept.
const SWEEP_AT: usize = 4096;

#[derive(Debug, Clone)]
pub struct CachedResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

#[derive(Debug, Default)]
pub struct EdgeCache {
    entries: HashMap<String, (Instant, CachedResponse)>,
}

impl EdgeCache {
    pub fn get(&mut self, key: &str, now: Instant) -> Option<CachedResponse> {
        match self.entries.get(key) {
            Some((expires, resp)) if *expires > now => Some(resp.clone()),
            Some(_) => {
                self.entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// Stores a response for as long as its headers allow; returns that lifetime.
    pub fn put(&mut self, key: String, resp: CachedResponse, now: Instant) -> Option<Duration> {
        let ttl = ttl(resp.status, &resp.headers)?;
        if self.entries.len() >= SWEEP_AT {
            self.entries.retain(|_, (expires, _)| *expires > now);
        }
        self.entries.insert(key, (now + ttl, resp));
        Some(ttl)
    }

    /// Drops every entry whose key starts with `prefix` (an invalidation of `prefix*`).
    pub fn invalidate_prefix(&mut self, prefix: &str) -> usize {
        let before = self.entries.len();
        self.entries.retain(|k, _| !k.starts_with(prefix));
        before - self.entries.len()
    }
}

/// How long a response may be cached, `None` for not at all.
pub fn ttl(status: StatusCode, headers: &HeaderMap) -> Option<Duration> {
    let cc = headers
        .get(http::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut max_age = None;
    let mut s_maxage = None;
    for directive in cc.split(',').map(str::trim) {
        let (name, value) = directive.split_once('=').unwrap_or((directive, ""));
        match name.to_ascii_lowercase().as_str() {
            "no-store" | "no-cache" | "private" => return None,
            "max-age" => max_age = value.trim_matches('"').parse::<u64>().ok(),
            "s-maxage" => s_maxage = value.trim_matches('"').parse::<u64>().ok(),
            _ => {}
        }
    }
    let secs = s_maxage.or(max_age);
    let cacheable = matches!(
        status.as_u16(),
        200 | 203 | 204 | 206 | 300 | 301 | 404 | 405 | 410 | 414 | 501
    );
    let error = status.is_client_error() || status.is_server_error();
    match (secs, cacheable, error) {
        (Some(0), ..) => None,
        (Some(s), true, _) => Some(Duration::from_secs(s)),
        // CloudFront keeps errors at least ErrorCachingMinTTL when configured for them.
        (Some(s), false, true) => Some(Duration::from_secs(s).max(ERROR_CACHING_MIN_TTL)),
        (None, _, true) => Some(ERROR_CACHING_MIN_TTL),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(cc: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::CACHE_CONTROL, cc.parse().unwrap());
        h
    }

    #[test]
    fn honours_cache_control() {
        assert_eq!(
            ttl(StatusCode::OK, &headers("max-age=1")),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            ttl(StatusCode::OK, &headers("max-age=31536000, immutable")),
            Some(Duration::from_secs(31_536_000))
        );
        assert_eq!(
            ttl(StatusCode::OK, &headers("max-age=5, s-maxage=2")),
            Some(Duration::from_secs(2))
        );
        assert_eq!(ttl(StatusCode::OK, &headers("no-cache")), None);
        assert_eq!(ttl(StatusCode::OK, &HeaderMap::new()), None);
        assert_eq!(
            ttl(StatusCode::NOT_FOUND, &headers("max-age=1")),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            ttl(StatusCode::SERVICE_UNAVAILABLE, &headers("max-age=1")),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            ttl(StatusCode::NOT_FOUND, &HeaderMap::new()),
            Some(ERROR_CACHING_MIN_TTL)
        );
    }

    #[test]
    fn entries_expire() {
        let mut cache = EdgeCache::default();
        let t0 = Instant::now();
        let resp = CachedResponse {
            status: StatusCode::OK,
            headers: headers("max-age=1"),
            body: Bytes::from_static(b"x"),
        };
        cache.put("/a".into(), resp, t0);
        assert!(cache.get("/a", t0 + Duration::from_millis(900)).is_some());
        assert!(cache.get("/a", t0 + Duration::from_millis(1100)).is_none());
    }
}
