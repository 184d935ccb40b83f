use chrono::TimeDelta;
use zonecast_contract::{StreamInfo, s3::IndexReadError};

use super::*;

fn t0() -> DateTime<Utc> {
    "2025-03-01T12:00:00Z".parse().unwrap()
}

/// A live `live/show` window of msns 10..=12, updated at `t0() + 6.5 s`.
fn index(az: Az) -> StreamIndex {
    StreamIndex::builder(az)
        .session("s1")
        .epoch(7)
        .updated(t0() + TimeDelta::milliseconds(6500))
        .info(StreamInfo {
            codecs: "avc1.64001f,mp4a.40.2".into(),
            resolution: None,
            bandwidth: 1_000_000,
            average_bandwidth: 900_000,
            frame_rate: None,
        })
        .window(10..=12, 2000, t0(), 250_000)
        .build()
}

fn now() -> DateTime<Utc> {
    t0() + TimeDelta::seconds(7)
}

fn stale(mut i: StreamIndex) -> StreamIndex {
    i.updated -= TimeDelta::seconds(60);
    i
}

fn store(indexes: impl IntoIterator<Item = StreamIndex>) -> MemoryIndexSource {
    let mut s = MemoryIndexSource::new();
    for i in indexes {
        s.insert(i).unwrap();
    }
    s
}

fn both_live() -> MemoryIndexSource {
    store([index(Az::Az1), index(Az::Az2)])
}

/// Fails for the AZs in `failing`, answers from `inner` otherwise; counts reads.
struct FailingStore {
    inner: MemoryIndexSource,
    failing: Vec<Az>,
    reads: std::sync::Mutex<Vec<Az>>,
}

impl FailingStore {
    fn new(inner: MemoryIndexSource, failing: &[Az]) -> Self {
        Self {
            inner,
            failing: failing.to_vec(),
            reads: Default::default(),
        }
    }
}

impl IndexSource for FailingStore {
    async fn read_index(
        &self,
        az: Az,
        name: &StreamName,
    ) -> Result<Option<StreamIndex>, IndexSourceError> {
        self.reads.lock().unwrap().push(az);
        if self.failing.contains(&az) {
            return Err(IndexSourceError::Other(format!("{az} is down")));
        }
        self.inner.read_index(az, name).await
    }
}

fn request(method: &str, path: &str, viewer_host: Option<&str>) -> Request {
    let mut b = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "abcdefghij.lambda-url.eu-west-1.on.aws")
        .header(FORWARDED_PROTO_HEADER, "https");
    if let Some(h) = viewer_host {
        b = b.header(VIEWER_HOST_HEADER, h);
    }
    b.body(Body::Empty).unwrap()
}

fn get(path: &str, viewer_host: &str) -> Request {
    request("GET", path, Some(viewer_host))
}

struct Answer {
    status: u16,
    content_type: String,
    cache_control: String,
    body: String,
    headers: http::HeaderMap,
}

async fn call(req: Request, store: &impl IndexSource) -> Answer {
    let resp = handle(req, store, now()).await;
    let h = resp.headers().clone();
    let s = |name: header::HeaderName| {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    assert_eq!(
        s(header::ACCESS_CONTROL_ALLOW_ORIGIN),
        "*",
        "CORS missing on {}",
        resp.status()
    );
    let body = match resp.body() {
        Body::Empty => String::new(),
        Body::Text(t) => t.clone(),
        Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    };
    Answer {
        status: resp.status().as_u16(),
        content_type: s(header::CONTENT_TYPE),
        cache_control: s(header::CACHE_CONTROL),
        body,
        headers: h,
    }
}

fn uris(body: &str) -> Vec<&str> {
    body.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

#[tokio::test]
async fn chunklist_host_mode() {
    let a = call(
        get("/az1/live/show/chunklist.m3u8", "media-hls-az1.example.com"),
        &both_live(),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.content_type, "application/vnd.apple.mpegurl");
    assert_eq!(a.cache_control, "max-age=1");
    assert!(a.body.starts_with("#EXTM3U\n"));
    let u = uris(&a.body);
    assert_eq!(u.len(), 3);
    assert!(
        u.iter()
            .all(|u| u.starts_with("https://media-hls-az1.example.com/live/show/")),
        "{u:?}"
    );
}

#[tokio::test]
async fn chunklist_path_mode_and_host_fallback() {
    let a = call(
        get(
            "/az2/live/show/chunklist.m3u8",
            "d111111abcdef8.cloudfront.net",
        ),
        &both_live(),
    )
    .await;
    assert_eq!(a.status, 200);
    assert!(
        uris(&a.body)
            .iter()
            .all(|u| u.starts_with("https://d111111abcdef8.cloudfront.net/az2/live/show/"))
    );
    // No viewer-host header: the Host header is the viewer's (a direct call).
    let a = call(
        request("GET", "/az1/live/show/chunklist.m3u8", None),
        &both_live(),
    )
    .await;
    assert_eq!(a.status, 200);
    assert!(
        uris(&a.body)
            .iter()
            .all(|u| u.starts_with("https://abcdefghij.lambda-url.eu-west-1.on.aws/az1/"))
    );
}

#[tokio::test]
async fn http_scheme_is_kept() {
    let req = http::Request::builder()
        .uri("/az1/live/show/chunklist.m3u8")
        .header(VIEWER_HOST_HEADER, "media-hls-az1.localhost:8080")
        .header(FORWARDED_PROTO_HEADER, "http")
        .body(Body::Empty)
        .unwrap();
    let a = call(req, &both_live()).await;
    assert!(
        uris(&a.body)
            .iter()
            .all(|u| u.starts_with("http://media-hls-az1.localhost:8080/live/show/"))
    );
}

#[tokio::test]
async fn multivariant_lists_both_azs() {
    let a = call(
        get("/live/show/playlist.m3u8", "media-hls.example.com"),
        &both_live(),
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.cache_control, "max-age=5");
    assert_eq!(a.content_type, "application/vnd.apple.mpegurl");
    // Which AZ comes first alternates with time (spreading new viewers); both are there.
    let mut listed = uris(&a.body);
    listed.sort();
    assert_eq!(
        listed,
        [
            "https://media-hls-az1.example.com/live/show/chunklist.m3u8",
            "https://media-hls-az2.example.com/live/show/chunklist.m3u8"
        ]
    );
}

#[tokio::test]
async fn unknown_stream_is_404() {
    let s = both_live();
    for (path, host) in [
        ("/live/other/playlist.m3u8", "media-hls.example.com"),
        (
            "/az1/live/other/chunklist.m3u8",
            "media-hls-az1.example.com",
        ),
    ] {
        let a = call(get(path, host), &s).await;
        assert_eq!(
            (a.status, a.cache_control.as_str()),
            (404, "max-age=1"),
            "{path}"
        );
        assert!(a.content_type.starts_with("text/plain"));
        assert!(!a.body.is_empty());
    }
}

#[tokio::test]
async fn stale_az_with_live_peer_is_404() {
    let s = store([stale(index(Az::Az1)), index(Az::Az2)]);
    let a = call(
        get("/az1/live/show/chunklist.m3u8", "media-hls-az1.example.com"),
        &s,
    )
    .await;
    assert_eq!((a.status, a.cache_control.as_str()), (404, "max-age=1"));
    assert!(a.body.contains("stale"), "{}", a.body);
    // The live AZ still answers, and the multivariant playlist lists only it.
    let a = call(
        get("/az2/live/show/chunklist.m3u8", "media-hls-az2.example.com"),
        &s,
    )
    .await;
    assert_eq!(a.status, 200);
    let a = call(get("/live/show/playlist.m3u8", "media-hls.example.com"), &s).await;
    assert_eq!(
        uris(&a.body),
        ["https://media-hls-az2.example.com/live/show/chunklist.m3u8"]
    );
}

#[tokio::test]
async fn stale_everywhere() {
    let s = store([stale(index(Az::Az1)), stale(index(Az::Az2))]);
    let a = call(
        get("/az1/live/show/chunklist.m3u8", "media-hls-az1.example.com"),
        &s,
    )
    .await;
    assert_eq!(
        a.status, 200,
        "a stale AZ with no live peer keeps its window"
    );
    let a = call(get("/live/show/playlist.m3u8", "media-hls.example.com"), &s).await;
    assert_eq!((a.status, a.cache_control.as_str()), (404, "max-age=1"));
}

#[tokio::test]
async fn chunklist_reads_the_peer_and_survives_its_failure() {
    let s = FailingStore::new(both_live(), &[]);
    call(
        get("/az1/live/show/chunklist.m3u8", "media-hls-az1.example.com"),
        &s,
    )
    .await;
    let mut reads = s.reads.lock().unwrap().clone();
    reads.sort_by_key(|az| az.as_str());
    assert_eq!(reads, [Az::Az1, Az::Az2]);

    // Stale, and the peer cannot be read: the stale window rather than a 502.
    let s = FailingStore::new(store([stale(index(Az::Az1)), index(Az::Az2)]), &[Az::Az2]);
    let a = call(
        get("/az1/live/show/chunklist.m3u8", "media-hls-az1.example.com"),
        &s,
    )
    .await;
    assert_eq!(a.status, 200);
}

#[tokio::test]
async fn steering_manifest_keeps_the_current_pathway_and_drops_a_dead_one() {
    let s = both_live();
    for (query, first) in [("?_HLS_pathway=az2", "az2"), ("?_HLS_pathway=az1", "az1")] {
        let a = call(
            get(
                &format!("/live/show/steering.json{query}"),
                "media-hls.example.com",
            ),
            &s,
        )
        .await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(a.content_type, "application/json");
        assert_eq!(a.cache_control, "max-age=2");
        let v: serde_json::Value = serde_json::from_str(&a.body).unwrap();
        assert_eq!(v["PATHWAY-PRIORITY"][0], first, "{}", a.body);
    }
    let s = store([stale(index(Az::Az1)), index(Az::Az2)]);
    let a = call(
        get(
            "/live/show/steering.json?_HLS_pathway=az1&_HLS_throughput=5000000",
            "media-hls.example.com",
        ),
        &s,
    )
    .await;
    assert_eq!(
        a.body,
        r#"{"VERSION":1,"TTL":2,"PATHWAY-PRIORITY":["az2","az1"]}"#
    );
    let a = call(
        get("/live/other/steering.json", "media-hls.example.com"),
        &s,
    )
    .await;
    assert_eq!((a.status, a.cache_control.as_str()), (404, "max-age=1"));
}

#[tokio::test]
async fn store_errors_are_502() {
    let s = FailingStore::new(both_live(), &[Az::Az2]);
    let a = call(get("/live/show/playlist.m3u8", "media-hls.example.com"), &s).await;
    assert_eq!((a.status, a.cache_control.as_str()), (502, "max-age=1"));
    assert!(a.content_type.starts_with("text/plain"));
    let a = call(
        get("/az2/live/show/chunklist.m3u8", "media-hls-az2.example.com"),
        &s,
    )
    .await;
    assert_eq!((a.status, a.cache_control.as_str()), (502, "max-age=1"));
    // The healthy AZ is unaffected.
    let a = call(
        get("/az1/live/show/chunklist.m3u8", "media-hls-az1.example.com"),
        &s,
    )
    .await;
    assert_eq!(a.status, 200);
}

#[tokio::test]
async fn bad_paths_are_400() {
    for path in [
        "/",
        "/live/../etc/passwd",
        "/live/sh%20ow/playlist.m3u8",
        "/az3/live/show/chunklist.m3u8",
        "/az1/live/show/index.json",
        "/live/show/chunklist.m3u8",
        "/az1/live/show/chunklist.m3u8/x",
    ] {
        let a = call(get(path, "media-hls.example.com"), &both_live()).await;
        assert_eq!(
            (a.status, a.cache_control.as_str()),
            (400, "max-age=60"),
            "{path}"
        );
        assert!(a.content_type.starts_with("text/plain"));
    }
}

#[tokio::test]
async fn segments_are_404() {
    let a = call(
        get("/az1/live/show/7-11.ts", "media-hls-az1.example.com"),
        &both_live(),
    )
    .await;
    assert_eq!(a.status, 404);
}

#[tokio::test]
async fn bad_hosts_are_400() {
    for host in ["evil.com/x", "a b", "host:abc"] {
        let a = call(get("/live/show/playlist.m3u8", host), &both_live()).await;
        assert_eq!(a.status, 400, "{host}");
    }
    // An empty viewer host and no Host at all.
    let req = http::Request::builder()
        .uri("/live/show/playlist.m3u8")
        .body(Body::Empty)
        .unwrap();
    assert_eq!(call(req, &both_live()).await.status, 400);
}

#[tokio::test]
async fn methods() {
    let s = both_live();
    let a = call(
        request(
            "OPTIONS",
            "/live/show/playlist.m3u8",
            Some("media-hls.example.com"),
        ),
        &s,
    )
    .await;
    assert_eq!(a.status, 204);
    assert!(a.body.is_empty());
    assert!(
        a.headers
            .get(header::ACCESS_CONTROL_ALLOW_METHODS)
            .is_some_and(|v| v == "GET, HEAD, OPTIONS")
    );
    // The contract's preflight, the one CloudFront's response headers policy answers too.
    for (name, value) in zonecast_contract::cors::preflight_headers() {
        assert_eq!(
            a.headers.get(name).map(|v| v.to_str().unwrap()),
            Some(value),
            "{name}"
        );
    }
    assert_eq!(
        a.headers.get(header::CACHE_CONTROL).unwrap(),
        zonecast_contract::cors::PREFLIGHT_CACHE_CONTROL
    );
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        let a = call(
            request(
                method,
                "/live/show/playlist.m3u8",
                Some("media-hls.example.com"),
            ),
            &s,
        )
        .await;
        assert_eq!(a.status, 405, "{method}");
        assert!(a.headers.get(header::ALLOW).is_some());
    }
    let get_answer = call(
        get("/az1/live/show/chunklist.m3u8", "media-hls-az1.example.com"),
        &s,
    )
    .await;
    let head = call(
        request(
            "HEAD",
            "/az1/live/show/chunklist.m3u8",
            Some("media-hls-az1.example.com"),
        ),
        &s,
    )
    .await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(head.content_type, get_answer.content_type);
    assert_eq!(head.cache_control, get_answer.cache_control);
    // HEAD of an error is the error's status, without a body.
    let head = call(
        request(
            "HEAD",
            "/live/nope/playlist.m3u8",
            Some("media-hls.example.com"),
        ),
        &s,
    )
    .await;
    assert_eq!((head.status, head.body.as_str()), (404, ""));
}

#[tokio::test]
async fn raw_path_is_routed_not_the_normalised_uri() {
    // lambda_http resolves `..` when it builds the URI from a function URL event; the raw
    // path is what CloudFront sent and what must be judged.
    let req = get("/az1/live/show/chunklist.m3u8", "media-hls-az1.example.com")
        .with_raw_http_path("/az1/live/x/../show/chunklist.m3u8");
    assert_eq!(call(req, &both_live()).await.status, 400);
}

/// S3 refusing the function's read is a deployment problem: a distinct 403 cached 1 s (what
/// CloudFront does with it whatever the header says), not a quiet "no stream", and not a 5xx
/// (CloudFront would serve a frozen cached playlist instead).
#[tokio::test]
async fn access_denied_is_a_distinct_403_cached_one_second() {
    struct Denied;
    impl IndexSource for Denied {
        async fn read_index(
            &self,
            az: Az,
            name: &StreamName,
        ) -> Result<Option<StreamIndex>, IndexSourceError> {
            Err(IndexSourceError::S3(IndexReadError::Denied {
                bucket: "MediaBucket".into(),
                key: zonecast_contract::keys::index_key(az, name),
                message: "AccessDenied".into(),
            }))
        }
    }
    for (path, host) in [
        ("/live/show/playlist.m3u8", "media-hls.example.com"),
        ("/az1/live/show/chunklist.m3u8", "media-hls-az1.example.com"),
    ] {
        let a = call(get(path, host), &Denied).await;
        assert_eq!((a.status, a.cache_control.as_str()), (403, "max-age=1"));
        assert!(a.body.contains("access denied"), "{}", a.body);
    }
}

/// Rendition `r` of `live/show` in `az`: the plain fixture, nested, its own bandwidth.
fn rendition(az: Az, r: &str, bandwidth: u64) -> StreamIndex {
    let mut i = index(az);
    i.rendition = Some(r.into());
    i.info.bandwidth = bandwidth;
    i
}

#[tokio::test]
async fn multivariant_lists_every_rendition_per_az() {
    let s = store([
        rendition(Az::Az1, "720p", 2_500_000),
        rendition(Az::Az1, "360p", 800_000),
        rendition(Az::Az2, "720p", 2_500_000),
        rendition(Az::Az2, "360p", 800_000),
    ]);
    let a = call(get("/live/show/playlist.m3u8", "media-hls.example.com"), &s).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let listed: Vec<&str> = uris(&a.body);
    assert_eq!(listed.len(), 4, "{}", a.body);
    assert!(
        listed[0].ends_with("/live/show/360p/chunklist.m3u8"),
        "{}",
        a.body
    );
    assert!(
        listed[1].ends_with("/live/show/720p/chunklist.m3u8"),
        "{}",
        a.body
    );
    assert!(a.body.contains("BANDWIDTH=800000"));
    // The rendition's chunklist is served on its AZ host, its segments nested too.
    let c = call(
        get(
            "/az2/live/show/720p/chunklist.m3u8",
            "media-hls-az2.example.com",
        ),
        &s,
    )
    .await;
    assert_eq!(c.status, 200, "{}", c.body);
    assert!(
        uris(&c.body)
            .iter()
            .all(|u| u.starts_with("https://media-hls-az2.example.com/live/show/720p/7-")),
        "{}",
        c.body
    );
    // No plain index: the plain chunklist is 404, the rendition's steering is the stream's.
    let p = call(
        get("/az1/live/show/chunklist.m3u8", "media-hls-az1.example.com"),
        &s,
    )
    .await;
    assert_eq!(p.status, 404);
    let st = call(get("/live/show/steering.json", "media-hls.example.com"), &s).await;
    assert_eq!(st.status, 200, "{}", st.body);
}

#[tokio::test]
async fn a_stale_rendition_takes_its_az_out_of_the_multivariant_and_steering() {
    let s = store([
        rendition(Az::Az1, "720p", 2_500_000),
        stale(rendition(Az::Az1, "360p", 800_000)),
        rendition(Az::Az2, "720p", 2_500_000),
        rendition(Az::Az2, "360p", 800_000),
    ]);
    let a = call(get("/live/show/playlist.m3u8", "media-hls.example.com"), &s).await;
    assert_eq!(a.status, 200);
    let listed = uris(&a.body);
    assert_eq!(listed.len(), 2, "{}", a.body);
    assert!(
        listed
            .iter()
            .all(|u| u.starts_with("https://media-hls-az2."))
    );
    let st = call(
        get(
            "/live/show/steering.json?_HLS_pathway=az1",
            "media-hls.example.com",
        ),
        &s,
    )
    .await;
    assert!(
        st.body.contains(r#""PATHWAY-PRIORITY":["az2","az1"]"#),
        "{}",
        st.body
    );
    // The dead rendition's own chunklist fails over; az1's live 720p still plays.
    let dead = call(
        get(
            "/az1/live/show/360p/chunklist.m3u8",
            "media-hls-az1.example.com",
        ),
        &s,
    )
    .await;
    assert_eq!(dead.status, 404);
    let live = call(
        get(
            "/az1/live/show/720p/chunklist.m3u8",
            "media-hls-az1.example.com",
        ),
        &s,
    )
    .await;
    assert_eq!(live.status, 200);
}

#[tokio::test]
async fn a_plain_stream_is_answered_as_before() {
    // Plain streams answer exactly as before (the golden playlists stay byte for byte).
    let s = both_live();
    let a = call(get("/live/show/playlist.m3u8", "media-hls.example.com"), &s).await;
    assert_eq!(a.status, 200);
    let mut listed = uris(&a.body);
    listed.sort();
    assert_eq!(
        listed,
        [
            "https://media-hls-az1.example.com/live/show/chunklist.m3u8",
            "https://media-hls-az2.example.com/live/show/chunklist.m3u8"
        ]
    );
}
