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
//!
//! Invalidation ("What you need to know when invalidating paths"): a path names one object
//! and every cached version of it (any query string, any header value it is keyed on), case
//! sensitively; only a trailing `*` widens it to a prefix. With a viewer-request function
//! that changes the URI, the guide asks for both the URI in the viewer request and the URI
//! after the function; the edge drops an entry only when the purge names both (one and the
//! same path when the function left the URI alone), so a local test fails when a purge would
//! not be sure to reach viewers on CloudFront.

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

/// Where a cached answer sits: its cache key, and the URI the viewer asked for it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheKey {
    /// The path after the viewer-request function, then for playlists `?<key query> <host>`
    /// (everything a playlist is keyed on); invalidation matches the part before `?`.
    pub key: String,
    /// The path the viewer requested, before the function changed it.
    pub viewer_path: String,
}

impl CacheKey {
    /// A key whose path is also what the viewer asked for.
    pub fn path(key: impl Into<String>) -> Self {
        let key = key.into();
        let viewer_path = key
            .split_once('?')
            .map_or(key.as_str(), |(p, _)| p)
            .to_owned();
        Self { key, viewer_path }
    }
}

#[derive(Debug)]
struct Entry {
    expires: Instant,
    resp: CachedResponse,
    viewer_path: String,
}

#[derive(Debug, Default)]
pub struct EdgeCache {
    entries: HashMap<String, Entry>,
}

impl EdgeCache {
    /// A fresh entry.
    pub fn get(&mut self, key: &str, now: Instant) -> Option<CachedResponse> {
        match self.entries.get(key) {
            Some(e) if e.expires > now => Some(e.resp.clone()),
            _ => None,
        }
    }

    /// Takes what the origin answered for `key` and decides what the viewer gets: the
    /// answer (cached for as long as the rules allow), or, for a 5xx while an expired copy is
    /// held, that copy.
    pub fn resolve(
        &mut self,
        key: CacheKey,
        fetched: CachedResponse,
        now: Instant,
    ) -> (CachedResponse, CacheOutcome) {
        if fetched.status.is_server_error()
            && let Some(entry) = self.entries.get_mut(&key.key)
            && now.saturating_duration_since(entry.expires) <= STALE_FOR_AT_MOST
        {
            entry.expires = now + ERROR_CACHING_MIN_TTL;
            return (entry.resp.clone(), CacheOutcome::StaleOnError);
        }
        self.put(key, fetched.clone(), now);
        (fetched, CacheOutcome::Miss)
    }

    /// Stores a response for as long as the rules allow; returns that lifetime.
    pub fn put(&mut self, key: CacheKey, resp: CachedResponse, now: Instant) -> Option<Duration> {
        let ttl = ttl(resp.status, &resp.headers)?;
        if self.entries.len() >= SWEEP_AT {
            self.entries
                .retain(|_, e| now.saturating_duration_since(e.expires) < STALE_FOR_AT_MOST);
        }
        let entry = Entry {
            expires: now + ttl,
            resp,
            viewer_path: key.viewer_path,
        };
        self.entries.insert(key.key, entry);
        Some(ttl)
    }

    /// An invalidation of `paths` (see the module doc): drops, expired copies included, every
    /// entry whose path and whose viewer's path both match one of `paths`. Returns how many.
    pub fn invalidate(&mut self, paths: &[String]) -> usize {
        let covered = |path: &str| {
            paths.iter().any(|p| match p.strip_suffix('*') {
                Some(prefix) => path.starts_with(prefix),
                None => path == p,
            })
        };
        let before = self.entries.len();
        self.entries.retain(|key, e| {
            let path = key.split_once('?').map_or(key.as_str(), |(p, _)| p);
            !(covered(path) && covered(&e.viewer_path))
        });
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
        let c = || CacheKey::path("/c");
        let (r, o) = cache.resolve(c(), answer(200, "max-age=1", "v1"), t0);
        assert_eq!((r.status.as_u16(), o), (200, CacheOutcome::Miss));
        assert!(cache.get("/c", t(1500)).is_none(), "expired");
        // The origin fails with a 503: the viewer gets the frozen copy, for the error TTL.
        let (r, o) = cache.resolve(c(), answer(503, "max-age=1", "down"), t(1500));
        assert_eq!(
            (r.status.as_u16(), &r.body[..], o),
            (200, &b"v1"[..], CacheOutcome::StaleOnError)
        );
        assert_eq!(&cache.get("/c", t(2000)).unwrap().body[..], b"v1");
        assert!(cache.get("/c", t(2600)).is_none());
        // A 404 passes through and replaces the copy.
        let (r, o) = cache.resolve(c(), answer(404, "max-age=1", "dead"), t(2600));
        assert_eq!((r.status.as_u16(), o), (404, CacheOutcome::Miss));
        assert_eq!(cache.get("/c", t(3000)).unwrap().status.as_u16(), 404);
        // A 5xx with nothing held is the 5xx.
        let (r, _) = cache.resolve(CacheKey::path("/other"), answer(502, "", "x"), t0);
        assert_eq!(r.status.as_u16(), 502);
        // Invalidation drops expired copies too: nothing stale to serve afterwards.
        cache.invalidate(&["/c".into()]);
        let (r, _) = cache.resolve(c(), answer(503, "", "x"), t(9000));
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
        cache.put(CacheKey::path("/a"), resp, t0);
        assert!(cache.get("/a", t0 + Duration::from_millis(900)).is_some());
        assert!(cache.get("/a", t0 + Duration::from_millis(1100)).is_none());
    }

    /// What a CloudFront invalidation drops, per URL mode: a host-mode chunklist only when
    /// both its viewer URI and the rewritten one are named, a path-mode one by its one path;
    /// another stream's or AZ's playlist never (no prefix match without `*`), whatever it is
    /// keyed on besides the path.
    #[test]
    fn invalidation_drops_what_cloudfront_would_and_nothing_else() {
        let t0 = Instant::now();
        let playlist = || answer(200, "max-age=86400", "#EXTM3U");
        let host_mode = CacheKey {
            key: "/az1/live/show/chunklist.m3u8? media-hls-az1.localhost:8080".into(),
            viewer_path: "/live/show/chunklist.m3u8".into(),
        };
        let path_mode = CacheKey::path("/az1/live/show/chunklist.m3u8? 127.0.0.1:8080");
        let others = [
            CacheKey::path("/az1/live/show2/chunklist.m3u8? 127.0.0.1:8080"),
            CacheKey::path("/az2/live/show/chunklist.m3u8? 127.0.0.1:8080"),
            CacheKey::path("/az1/live/Show/chunklist.m3u8? 127.0.0.1:8080"),
            CacheKey::path("/az1/live/show/1-42.ts"),
        ];
        let fill = |cache: &mut EdgeCache| {
            for key in [host_mode.clone(), path_mode.clone()]
                .into_iter()
                .chain(others.clone())
            {
                cache.put(key, playlist(), t0);
            }
        };
        let cached = |cache: &mut EdgeCache, key: &CacheKey| cache.get(&key.key, t0).is_some();

        // Only the rewritten URI (what the ingest sent before issue 17): the host-mode copy
        // is not sure to go, so it stays; the path-mode copy goes.
        let mut cache = EdgeCache::default();
        fill(&mut cache);
        assert_eq!(
            cache.invalidate(&["/az1/live/show/chunklist.m3u8".into()]),
            1
        );
        assert!(cached(&mut cache, &host_mode));
        assert!(!cached(&mut cache, &path_mode));
        // Only the viewer URI: nothing is keyed on it alone.
        let mut cache = EdgeCache::default();
        fill(&mut cache);
        assert_eq!(cache.invalidate(&["/live/show/chunklist.m3u8".into()]), 0);
        // Both: both copies go; the other stream, the other AZ, another case and the
        // segment stay.
        let mut cache = EdgeCache::default();
        fill(&mut cache);
        let both = [
            "/az1/live/show/chunklist.m3u8".to_string(),
            "/live/show/chunklist.m3u8".to_string(),
        ];
        assert_eq!(cache.invalidate(&both), 2);
        assert!(!cached(&mut cache, &host_mode) && !cached(&mut cache, &path_mode));
        for key in &others {
            assert!(cached(&mut cache, key), "{key:?}");
        }
        // A wildcard is a prefix: `/az1/live/show*` also takes show2 and the segment.
        assert_eq!(cache.invalidate(&["/az1/live/show*".into()]), 2);
        assert!(cached(&mut cache, &others[1]) && cached(&mut cache, &others[2]));
    }
}
