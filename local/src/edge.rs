//! The local edge: behaves like the CloudFront distribution of template.yaml. The viewer's Host
//! picks the AZ (the same rewrite as the viewer-request function), `*.m3u8` goes to the playlist
//! handler (the same code as the Lambda), `*.ts` comes from the store, responses are cached as
//! their Cache-Control says, and every response carries CORS headers.

use std::{
    convert::Infallible,
    sync::{Arc, Mutex},
    time::Instant,
};

use bytes::Bytes;
use chrono::Utc;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::{body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tracing::{debug, warn};
use zonecast_contract::{
    cors,
    host_rewrite::{FORWARDED_PROTO_HEADER, VIEWER_HOST_HEADER, query_value, rewrite},
    index_source::S3IndexSource,
};

use crate::{
    cache::{CacheKey, CacheOutcome, CachedResponse, EdgeCache},
    player,
    procs::IngestAction,
    status::StatusSource,
};

/// Where the ingests send invalidations (the local stand-in for CloudFront's
/// CreateInvalidation): `POST` with `{"paths":["/az1/live/show/chunklist.m3u8", …]}`; each
/// path drops every cached answer whose key starts with it.
pub const PURGE_PATH: &str = "/_zonecast/invalidate";

/// The query parameter that is part of a steering manifest's cache key (as in template.yaml's
/// steering cache policy).
const STEERING_KEY_PARAM: &str = zonecast_lambdas::STEERING_PATHWAY_PARAM;

/// What the edge needs: the store (segments and, through the handler, indexes) and its cache.
pub struct Edge {
    pub s3: aws_sdk_s3::Client,
    pub bucket: String,
    pub indexes: S3IndexSource,
    pub cache: Mutex<EdgeCache>,
    /// The status view and the ingest controls (`zonecast-local` only; `None`: 404).
    pub status: Option<StatusSource>,
}

pub async fn serve_edge(listener: TcpListener, edge: Arc<Edge>) {
    loop {
        let Ok((socket, _)) = listener.accept().await else {
            continue;
        };
        let edge = edge.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<Incoming>| {
                let edge = edge.clone();
                async move { Ok::<_, Infallible>(edge.respond(req).await) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(socket), service)
                .await
            {
                debug!(error = %e, "edge connection");
            }
        });
    }
}

impl Edge {
    async fn respond(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let path = req.uri().path().to_owned();
        let mut resp = match (req.method(), path.as_str()) {
            (&Method::POST, PURGE_PATH) => self.purge(req).await,
            (&Method::GET | &Method::HEAD, "/" | "/index.html") => plain(
                StatusCode::OK,
                "text/html; charset=utf-8",
                player::PAGE.into(),
                "max-age=60",
            ),
            (&Method::GET | &Method::HEAD, "/status" | "/status.html") => plain(
                StatusCode::OK,
                "text/html; charset=utf-8",
                player::STATUS_PAGE.into(),
                "no-store",
            ),
            (&Method::GET | &Method::HEAD, "/status.json") => self.status_json().await,
            (&Method::POST, p) if p.starts_with("/status/") => self.control(&req, p).await,
            (&Method::GET | &Method::HEAD, "/hls.min.js") => plain(
                StatusCode::OK,
                "application/javascript",
                Bytes::from_static(player::HLS_JS),
                "max-age=86400",
            ),
            _ => self.cached(req, &host, &path).await,
        };
        let h = resp.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static(cors::ALLOW_ORIGIN),
        );
        h.insert("via", HeaderValue::from_static("1.1 zonecast-local-edge"));
        resp
    }

    async fn status_json(&self) -> Response<Full<Bytes>> {
        let Some(source) = &self.status else {
            return not_found();
        };
        let doc = crate::status::collect(source, &self.s3, &self.indexes).await;
        plain(
            StatusCode::OK,
            "application/json",
            Bytes::from(serde_json::to_string(&doc).unwrap_or_default() + "\n"),
            "no-store",
        )
    }

    /// `POST /status/<az>/<stop|kill|restart>` (`az1`, or `p1-az1` for pair 1's). A page of another origin must not press the
    /// buttons: a request whose `Origin` is not this host is refused.
    async fn control<B>(&self, req: &Request<B>, path: &str) -> Response<Full<Bytes>> {
        let Some(source) = &self.status else {
            return not_found();
        };
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok());
        let origin = req
            .headers()
            .get(header::ORIGIN)
            .and_then(|h| h.to_str().ok());
        if let Some(origin) = origin {
            let origin_host = origin.split_once("://").map_or(origin, |(_, h)| h);
            if Some(origin_host) != host {
                return plain(
                    StatusCode::FORBIDDEN,
                    "text/plain",
                    Bytes::from_static(b"cross-origin control request refused\n"),
                    "no-store",
                );
            }
        }
        let mut parts = path.trim_start_matches("/status/").split('/');
        let az = parts.next().and_then(crate::procs::IngestId::parse);
        let action = parts.next().and_then(IngestAction::parse);
        let (Some(az), Some(action), None) = (az, action, parts.next()) else {
            return not_found();
        };
        let (status, message) = match source.ingests.act(az, action).await {
            Ok(m) => (StatusCode::OK, m),
            Err(m) => (StatusCode::CONFLICT, m),
        };
        plain(
            status,
            "application/json",
            Bytes::from(
                serde_json::json!({ "ok": status == StatusCode::OK, "message": message })
                    .to_string()
                    + "\n",
            ),
            "no-store",
        )
    }

    /// Drops the cached answers under the given paths.
    async fn purge(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        use http_body_util::BodyExt;
        #[derive(serde::Deserialize)]
        struct Purge {
            paths: Vec<String>,
        }
        let body = match req.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => Bytes::new(),
        };
        let Ok(purge) = serde_json::from_slice::<Purge>(&body) else {
            return plain(
                StatusCode::BAD_REQUEST,
                "text/plain",
                Bytes::from_static(b"expected {\"paths\":[...]}\n"),
                "no-store",
            );
        };
        // One batch, as CloudFront takes one invalidation: an entry goes when the batch
        // names both its viewer URI and its rewritten URI (see `cache`).
        let paths: Vec<String> = purge
            .paths
            .iter()
            .filter(|p| p.starts_with('/'))
            .cloned()
            .collect();
        let dropped = match self.cache.lock() {
            Ok(mut cache) => cache.invalidate(&paths),
            Err(_) => 0,
        };
        tracing::info!(paths = ?purge.paths, dropped, "edge invalidation");
        plain(
            StatusCode::OK,
            "application/json",
            Bytes::from(format!("{{\"dropped\":{dropped}}}\n")),
            "no-store",
        )
    }

    /// The CloudFront part: rewrite, cache lookup, origin.
    async fn cached(
        &self,
        req: Request<Incoming>,
        host: &str,
        path: &str,
    ) -> Response<Full<Bytes>> {
        let origin_path = rewrite(host, path);
        let is_steering =
            origin_path.ends_with(&format!("/{}", zonecast_contract::keys::STEERING_FILE));
        // The function's behaviours: `*.m3u8` and `*/steering.json` (template.yaml).
        let is_playlist = origin_path.ends_with(".m3u8") || is_steering;
        // The steering manifest depends on `_HLS_pathway`, and only on that.
        let steering_param = is_steering
            .then(|| query_value(req.uri().query(), STEERING_KEY_PARAM))
            .flatten()
            .map(str::to_owned);
        // Playlists are rendered for the viewer's host, so that host is part of their key.
        let key = if is_playlist {
            format!(
                "{origin_path}?{} {}",
                steering_param.as_deref().unwrap_or(""),
                host.to_ascii_lowercase()
            )
        } else {
            origin_path.clone()
        };
        if req.method() == Method::OPTIONS {
            // The preflight CloudFront's response headers policy answers (template.yaml), from
            // the contract like the function's.
            let mut resp = plain(
                StatusCode::NO_CONTENT,
                "text/plain",
                Bytes::new(),
                cors::PREFLIGHT_CACHE_CONTROL,
            );
            let h = resp.headers_mut();
            for (name, value) in cors::preflight_headers() {
                h.insert(name, HeaderValue::from_static(value));
            }
            return resp;
        }
        if let Some(hit) = self
            .cache
            .lock()
            .ok()
            .and_then(|mut c| c.get(&key, Instant::now()))
        {
            return to_response(hit, CacheOutcome::Hit.x_cache());
        }
        let fetched = if is_playlist {
            let uri = match &steering_param {
                Some(v) => format!("{origin_path}?{STEERING_KEY_PARAM}={v}"),
                None => origin_path.clone(),
            };
            self.playlist(req, host, &uri).await
        } else if origin_path.ends_with(".ts") {
            self.segment(&origin_path).await
        } else {
            CachedResponse {
                status: StatusCode::NOT_FOUND,
                headers: headers_with("text/plain", "max-age=1"),
                body: Bytes::from_static(b"not found\n"),
            }
        };
        let (answer, outcome) = match self.cache.lock() {
            Ok(mut cache) => cache.resolve(
                CacheKey {
                    key,
                    viewer_path: path.to_owned(),
                },
                fetched,
                Instant::now(),
            ),
            Err(_) => (fetched, CacheOutcome::Miss),
        };
        to_response(answer, outcome.x_cache())
    }

    async fn playlist(
        &self,
        req: Request<Incoming>,
        host: &str,
        origin_path: &str,
    ) -> CachedResponse {
        let (parts, _body) = req.into_parts();
        let mut builder = http::Request::builder()
            .method(parts.method)
            .uri(origin_path);
        for (name, value) in parts.headers.iter() {
            // What the edge sets itself is never taken from the viewer (as CloudFront's
            // viewer-request function overwrites it).
            if name != header::HOST && name != VIEWER_HOST_HEADER && name != FORWARDED_PROTO_HEADER
            {
                builder = builder.header(name, value);
            }
        }
        let lambda_req = builder
            .header(header::HOST, "playlist.lambda-url.localhost")
            .header(VIEWER_HOST_HEADER, host)
            .header(FORWARDED_PROTO_HEADER, "http")
            .body(lambda_http::Body::Empty);
        let Ok(lambda_req) = lambda_req else {
            return CachedResponse {
                status: StatusCode::BAD_REQUEST,
                headers: headers_with("text/plain", "max-age=60"),
                body: Bytes::from_static(b"bad request\n"),
            };
        };
        let resp = zonecast_lambdas::handle(lambda_req, &self.indexes, Utc::now()).await;
        let (parts, body) = resp.into_parts();
        let body = match body {
            lambda_http::Body::Empty => Bytes::new(),
            lambda_http::Body::Text(t) => Bytes::from(t),
            lambda_http::Body::Binary(b) => Bytes::from(b),
            _ => Bytes::new(),
        };
        CachedResponse {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    /// The S3 origin: the origin path is the key.
    async fn segment(&self, origin_path: &str) -> CachedResponse {
        let key = origin_path.trim_start_matches('/');
        match self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => {
                let content_type = out.content_type().unwrap_or("video/mp2t").to_owned();
                let cache_control = out.cache_control().unwrap_or("max-age=60").to_owned();
                match out.body.collect().await {
                    Ok(body) => CachedResponse {
                        status: StatusCode::OK,
                        headers: headers_with(&content_type, &cache_control),
                        body: body.into_bytes(),
                    },
                    Err(e) => {
                        warn!(%key, error = %e, "reading segment from store");
                        bad_gateway()
                    }
                }
            }
            Err(err) => {
                let missing = err
                    .raw_response()
                    .is_some_and(|r| matches!(r.status().as_u16(), 403 | 404));
                if missing {
                    CachedResponse {
                        status: StatusCode::NOT_FOUND,
                        headers: headers_with("text/plain", "max-age=1"),
                        body: Bytes::from_static(b"no such segment\n"),
                    }
                } else {
                    warn!(%key, error = %zonecast_contract::s3::error_text(&err), "store error");
                    bad_gateway()
                }
            }
        }
    }
}

fn not_found() -> Response<Full<Bytes>> {
    plain(
        StatusCode::NOT_FOUND,
        "text/plain",
        Bytes::from_static(b"not found\n"),
        "max-age=1",
    )
}

fn bad_gateway() -> CachedResponse {
    CachedResponse {
        status: StatusCode::BAD_GATEWAY,
        headers: headers_with("text/plain", "max-age=1"),
        body: Bytes::from_static(b"store unavailable\n"),
    }
}

fn headers_with(content_type: &str, cache_control: &str) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(cache_control) {
        h.insert(header::CACHE_CONTROL, v);
    }
    h
}

fn plain(
    status: StatusCode,
    content_type: &str,
    body: Bytes,
    cache_control: &str,
) -> Response<Full<Bytes>> {
    to_response(
        CachedResponse {
            status,
            headers: headers_with(content_type, cache_control),
            body,
        },
        "",
    )
}

fn to_response(cached: CachedResponse, x_cache: &str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(cached.body));
    *resp.status_mut() = cached.status;
    *resp.headers_mut() = cached.headers;
    if !x_cache.is_empty() {
        resp.headers_mut().insert(
            "x-cache",
            HeaderValue::from_str(x_cache).unwrap_or(HeaderValue::from_static("")),
        );
    }
    resp
}
