//! The edge's cache, with CloudFront's rules for a cache policy that honours the origin's
//! Cache-Control (Amazon CloudFront Developer Guide, "Manage how long content stays in the
//! cache", "Control how long CloudFront caches errors" and "How CloudFront processes HTTP 4xx
//! and 5xx status codes from your origin"):
//!
//! - a success is kept for `s-maxage`, else `max-age`; `no-store`, `no-cache`, `private` or
//!   no lifetime at all keep it out (our behaviours have no default TTL);
//! - an error (4xx, 5xx) is kept for the greater of its `max-age`/`s-maxage` and the error
//!   caching minimum TTL; `no-store`, `no-cache` and `private` are honoured only on 404, 410,
//!   414 and 501 and ignored on every other error;
//! - a **5xx** from the origin while an expired copy of the object is still in the cache: the
//!   viewer gets the expired copy (a frozen `200` playlist), kept for the error caching
//!   minimum TTL, not the error. This is why no playlist answer uses a 5xx as a failover
//!   signal: behind CloudFront, players would never see it.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use bytes::Bytes;
use http::{HeaderMap, StatusCode};

/// Error caching minimum TTL, as `ErrorCachingMinTTL` in template.yaml.
pub const ERROR_CACHING_MIN_TTL: Duration = Duration::from_secs(1);

/// Entries kept before the expired ones are swept. Expired entries stay until then: they
/// are what a 5xx from the origin is answered with.
const SWEEP_AT: usize = 4096;

/// Expired entries older than this are never served stale (and are swept first).
const STALE_FOR_AT_MOST: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone)]
pub struct CachedResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Where an answer came from, for the `x-cache` header (CloudFront's words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// From the cache, fresh.
    Hit,
    /// From the origin.
    Miss,
    /// The origin failed with a 5xx and the expired copy was served instead.
    StaleOnError,
}

impl CacheOutcome {
    pub fn x_cache(self) -> &'static str {
        match self {
            CacheOutcome::Hit => "Hit from zonecast-local-edge",
            CacheOutcome::Miss => "Miss from zonecast-local-edge",
            CacheOutcome::StaleOnError => {
                "RefreshHit from zonecast-local-edge (stale: origin error)"
            }
        }
    }
}

#[derive(Debug, Default)]
pub struct EdgeCache {
    entries: HashMap<String, (Instant, CachedResponse)>,
}

impl EdgeCache {
    /// A fresh entry.
    pub fn get(&mut self, key: &str, now: Instant) -> Option<CachedResponse> {
        match self.entries.get(key) {
            Some((expires, resp)) if *expires > now => Some(resp.clone()),
            _ => None,
        }
    }

    /// Takes what the origin answered for `key` and decides what the viewer gets: the
    /// answer (cached for as long as the rules allow), or, for a 5xx while an expired copy is
    /// held, that copy.
    pub fn resolve(
        &mut self,
        key: String,
        fetched: CachedResponse,
        now: Instant,
    ) -> (CachedResponse, CacheOutcome) {
        if fetched.status.is_server_error()
            && let Some((expired, stale)) = self.entries.get(&key)
            && now.saturating_duration_since(*expired) <= STALE_FOR_AT_MOST
        {
            let stale = stale.clone();
            self.entries
                .insert(key, (now + ERROR_CACHING_MIN_TTL, stale.clone()));
            return (stale, CacheOutcome::StaleOnError);
        }
        self.put(key, fetched.clone(), now);
        (fetched, CacheOutcome::Miss)
    }

    /// Stores a response for as long as the rules allow; returns that lifetime.
    pub fn put(&mut self, key: String, resp: CachedResponse, now: Instant) -> Option<Duration> {
        let ttl = ttl(resp.status, &resp.headers)?;
        if self.entries.len() >= SWEEP_AT {
            self.entries.retain(|_, (expires, _)| {
                now.saturating_duration_since(*expires) < STALE_FOR_AT_MOST
            });
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

/// How long a response may be cached, `None` for not at all (see the module doc).
pub fn ttl(status: StatusCode, headers: &HeaderMap) -> Option<Duration> {
    let cc = headers
        .get(http::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut max_age = None;
    let mut s_maxage = None;
    let mut refused = false;
    for directive in cc.split(',').map(str::trim) {
        let (name, value) = directive.split_once('=').unwrap_or((directive, ""));
        match name.to_ascii_lowercase().as_str() {
            "no-store" | "no-cache" | "private" => refused = true,
            "max-age" => max_age = value.trim_matches('"').parse::<u64>().ok(),
            "s-maxage" => s_maxage = value.trim_matches('"').parse::<u64>().ok(),
            _ => {}
        }
    }
    let secs = s_maxage.or(max_age).map(Duration::from_secs);
    if status.is_client_error() || status.is_server_error() {
        let honours_refusal = matches!(status.as_u16(), 404 | 410 | 414 | 501);
        if refused && honours_refusal {
            return None;
        }
        return Some(secs.unwrap_or_default().max(ERROR_CACHING_MIN_TTL));
    }
    if refused {
        return None;
    }
    secs.filter(|s| !s.is_zero())
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
        assert_eq!(ttl(StatusCode::OK, &headers("max-age=0")), None);
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

    /// The error rules, one row each: (status, Cache-Control, lifetime).
    #[test]
    fn error_caching_table() {
        let s = |n| Some(Duration::from_secs(n));
        for (status, cc, want) in [
            (404, "max-age=1", s(1)),
            (404, "max-age=0", s(1)),
            (404, "max-age=60", s(60)),
            (404, "", s(1)),
            (404, "no-store", None),
            (410, "no-cache", None),
            (503, "no-store", s(1)),
            (503, "max-age=5", s(5)),
            (502, "", s(1)),
            (400, "max-age=60", s(60)),
            (403, "private", s(1)),
        ] {
            let h = if cc.is_empty() {
                HeaderMap::new()
            } else {
                headers(cc)
            };
            assert_eq!(
                ttl(StatusCode::from_u16(status).unwrap(), &h),
                want,
                "{status} {cc:?}"
            );
        }
    }

    fn answer(status: u16, cc: &str, body: &'static str) -> CachedResponse {
        CachedResponse {
            status: StatusCode::from_u16(status).unwrap(),
            headers: headers(cc),
            body: Bytes::from_static(body.as_bytes()),
        }
    }

    #[test]
    fn a_5xx_serves_the_expired_copy_a_4xx_passes() {
        let mut cache = EdgeCache::default();
        let t0 = Instant::now();
        let t = |ms| t0 + Duration::from_millis(ms);
        let (r, o) = cache.resolve("/c".into(), answer(200, "max-age=1", "v1"), t0);
        assert_eq!((r.status.as_u16(), o), (200, CacheOutcome::Miss));
        assert!(cache.get("/c", t(1500)).is_none(), "expired");
        // The origin fails with a 503: the viewer gets the frozen copy, for the error TTL.
        let (r, o) = cache.resolve("/c".into(), answer(503, "max-age=1", "down"), t(1500));
        assert_eq!(
            (r.status.as_u16(), &r.body[..], o),
            (200, &b"v1"[..], CacheOutcome::StaleOnError)
        );
        assert_eq!(&cache.get("/c", t(2000)).unwrap().body[..], b"v1");
        assert!(cache.get("/c", t(2600)).is_none());
        // A 404 passes through and replaces the copy.
        let (r, o) = cache.resolve("/c".into(), answer(404, "max-age=1", "dead"), t(2600));
        assert_eq!((r.status.as_u16(), o), (404, CacheOutcome::Miss));
        assert_eq!(cache.get("/c", t(3000)).unwrap().status.as_u16(), 404);
        // A 5xx with nothing held is the 5xx.
        let (r, _) = cache.resolve("/other".into(), answer(502, "", "x"), t0);
        assert_eq!(r.status.as_u16(), 502);
        // Invalidation drops expired copies too: nothing stale to serve afterwards.
        cache.invalidate_prefix("/c");
        let (r, _) = cache.resolve("/c".into(), answer(503, "", "x"), t(9000));
        assert_eq!(r.status.as_u16(), 503);
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
