//! The playlist function: answers `*.m3u8` requests from the AZ indexes in S3 (DESIGN.md §5).
//!
//! [`handle`] is the whole function: the Lambda `main` wraps it in `lambda_http::run`, and the
//! local edge calls it directly. It takes its index source as an argument (the contract's
//! [`IndexSource`]: [`S3IndexSource`] in Lambda, [`MemoryIndexSource`] in tests).

pub mod monitor;

use std::time::Instant;

use chrono::{DateTime, Utc};
use http::{HeaderValue, Method, Response, StatusCode, header};
use lambda_http::{Body, Request, RequestExt};
use tracing::{error, info, warn};
pub use zonecast_contract::index_source::{
    IndexReaderRole, IndexSource, IndexSourceError, MemoryIndexSource, S3IndexSource,
};
use zonecast_contract::{
    Az, PublicBase, Rendered, Route, StreamIndex, StreamName, VIEWER_HOST_HEADER, cors,
    health::health_pair,
    playlist::{render_chunklist, render_multivariant, render_steering},
    renditions::{
        MAX_RENDITIONS, RenditionIndexes, prefer_renditions, render_multivariant_renditions,
        render_steering_renditions,
    },
};

pub use zonecast_contract::host_rewrite::FORWARDED_PROTO_HEADER;
/// The query parameter in which an HLS client names the pathway it uses when it asks for the
/// steering manifest (HLS content steering).
pub const STEERING_PATHWAY_PARAM: &str = "_HLS_pathway";
/// Methods the function answers (the contract's CORS methods).
pub const ALLOWED_METHODS: &str = cors::ALLOW_METHODS_HEADER;
/// Cache lifetime of answers that depend only on the request (400, 404 for a segment path,
/// 405): they will not change.
pub const CLIENT_ERROR_CACHE_CONTROL: &str = "max-age=60";

/// Answers one request. Never fails: every problem is an HTTP status with a short text body,
/// and every answer carries `Access-Control-Allow-Origin: *` (browser players on any origin).
pub async fn handle(req: Request, store: &impl IndexSource, now: DateTime<Utc>) -> Response<Body> {
    let started = Instant::now();
    let path = routed_path(&req).to_owned();
    let viewer_host = header_str(&req, VIEWER_HOST_HEADER)
        .or_else(|| header_str(&req, header::HOST.as_str()))
        .unwrap_or("")
        .chars()
        .take(100)
        .collect::<String>();
    let (rendered, route) = respond(&req, &path, store, now).await;
    let status = rendered.status;
    let mut resp = into_response(rendered, req.method() == Method::HEAD);
    if req.method() == Method::OPTIONS || status == 405 {
        let h = resp.headers_mut();
        h.insert(header::ALLOW, HeaderValue::from_static(ALLOWED_METHODS));
        for (name, value) in cors::preflight_headers() {
            h.insert(name, HeaderValue::from_static(value));
        }
    }
    info!(
        method = %req.method(),
        path = %path.chars().take(200).collect::<String>(),
        viewer_host = %viewer_host,
        route = %route.as_ref().map(ToString::to_string).unwrap_or_default(),
        status,
        elapsed_us = started.elapsed().as_micros() as u64,
        "playlist request"
    );
    resp
}

/// The path to route: the raw path of a function URL event (exactly what CloudFront sent,
/// before lambda_http resolves `..` while building the URI), else the URI's path.
fn routed_path(req: &Request) -> &str {
    match req.raw_http_path() {
        "" => req.uri().path(),
        raw => raw,
    }
}

/// A query parameter: from the Lambda event's parsed parameters, else from the URI (requests
/// built by the local edge). Values are compared as they are, without percent-decoding: the
/// ones the function reads (`az1`, `az2`) never need it.
fn query_param<'r>(req: &'r Request, name: &str) -> Option<&'r str> {
    if let Some(v) = req
        .query_string_parameters_ref()
        .and_then(|q| q.first(name))
    {
        return Some(v);
    }
    zonecast_contract::host_rewrite::query_value(req.uri().query(), name)
}

fn header_str<'r>(req: &'r Request, name: &str) -> Option<&'r str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

async fn respond(
    req: &Request,
    path: &str,
    store: &impl IndexSource,
    now: DateTime<Utc>,
) -> (Rendered, Option<Route>) {
    match *req.method() {
        Method::OPTIONS => {
            let mut r = Rendered::error(204, "");
            r.body.clear();
            r.cache_control = cors::PREFLIGHT_CACHE_CONTROL.to_owned();
            return (r, None);
        }
        Method::GET | Method::HEAD => {}
        _ => {
            return (
                client_error(405, "method not allowed: use GET or HEAD"),
                None,
            );
        }
    }
    let route = match Route::parse(path) {
        Ok(route) => route,
        Err(e) => {
            warn!(error = %e, "bad playlist path");
            return (client_error(400, "bad request: not a playlist path"), None);
        }
    };
    let base = match PublicBase::from_headers(
        header_str(req, VIEWER_HOST_HEADER),
        header_str(req, header::HOST.as_str()),
        header_str(req, FORWARDED_PROTO_HEADER),
    ) {
        Ok(base) => base,
        Err(e) => {
            warn!(error = %e, "bad viewer host");
            return (client_error(400, "bad request: bad host"), Some(route));
        }
    };
    let rendered = match &route {
        Route::Segment(..) => client_error(404, "not found: segments are not served here"),
        Route::Multivariant(name) => multivariant(store, name, &base, now).await,
        Route::Steering(name) => {
            let current =
                query_param(req, STEERING_PATHWAY_PARAM).and_then(|p| p.parse::<Az>().ok());
            steering(store, name, current, now).await
        }
        Route::Chunklist(az, name) => chunklist(store, *az, name, &base, now).await,
    };
    (rendered, Some(route))
}

/// Both AZs' indexes, read at once.
async fn both(
    store: &impl IndexSource,
    name: &StreamName,
) -> Result<[Option<StreamIndex>; 2], Rendered> {
    let (az1, az2) = tokio::join!(
        store.read_index(Az::Az1, name),
        store.read_index(Az::Az2, name)
    );
    let az1 = az1.map_err(|e| store_failed(Az::Az1, name, &e))?;
    let az2 = az2.map_err(|e| store_failed(Az::Az2, name, &e))?;
    Ok([az1, az2])
}

/// What a multivariant or steering request is answered from: the plain stream's indexes and,
/// for a stream with renditions, each rendition's.
struct Loaded {
    plain: [Option<StreamIndex>; 2],
    renditions: Vec<(StreamName, [Option<StreamIndex>; 2])>,
}

impl Loaded {
    fn views(&self) -> Vec<RenditionIndexes<'_>> {
        self.renditions
            .iter()
            .map(|(name, [az1, az2])| RenditionIndexes {
                name: name.clone(),
                az1: az1.as_ref(),
                az2: az2.as_ref(),
            })
            .collect()
    }

    /// The renditions, when they rather than the plain index answer (see
    /// [`prefer_renditions`]).
    fn rendition_views(&self, now: DateTime<Utc>) -> Option<Vec<RenditionIndexes<'_>>> {
        let views = self.views();
        let [az1, az2] = &self.plain;
        let plain = health_pair(az1.as_ref(), az2.as_ref(), now);
        prefer_renditions(plain, &views, now).then_some(views)
    }
}

/// The plain indexes and the renditions both AZs list (at most [`MAX_RENDITIONS`]), with
/// their indexes.
async fn load(store: &impl IndexSource, name: &StreamName) -> Result<Loaded, Rendered> {
    let (plain, list1, list2) = tokio::join!(
        both(store, name),
        store.read_renditions(Az::Az1, name),
        store.read_renditions(Az::Az2, name)
    );
    let plain = plain?;
    let mut names = list1.map_err(|e| store_failed(Az::Az1, name, &e))?;
    names.extend(list2.map_err(|e| store_failed(Az::Az2, name, &e))?);
    names.sort();
    names.dedup();
    names.truncate(MAX_RENDITIONS);
    let mut renditions = Vec::with_capacity(names.len());
    for r in names {
        let indexes = both(store, &r).await?;
        renditions.push((r, indexes));
    }
    Ok(Loaded { plain, renditions })
}

async fn multivariant(
    store: &impl IndexSource,
    name: &StreamName,
    base: &PublicBase,
    now: DateTime<Utc>,
) -> Rendered {
    let loaded = match load(store, name).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    if let Some(views) = loaded.rendition_views(now) {
        return render_multivariant_renditions(name, &views, base, now);
    }
    let [az1, az2] = &loaded.plain;
    render_multivariant(name, az1.as_ref(), az2.as_ref(), base, now)
}

async fn steering(
    store: &impl IndexSource,
    name: &StreamName,
    current: Option<Az>,
    now: DateTime<Utc>,
) -> Rendered {
    let loaded = match load(store, name).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    if let Some(views) = loaded.rendition_views(now) {
        return render_steering_renditions(name, &views, current, now);
    }
    let [az1, az2] = &loaded.plain;
    render_steering(name, az1.as_ref(), az2.as_ref(), current, now)
}

async fn chunklist(
    store: &impl IndexSource,
    az: Az,
    name: &StreamName,
    base: &PublicBase,
    now: DateTime<Utc>,
) -> Rendered {
    // The liveness rule needs the peer (is it ahead? is it live?); both are read at once.
    let (own, peer) = tokio::join!(
        store.read_index(az, name),
        store.read_index(az.peer(), name)
    );
    let own = match own {
        Ok(i) => i,
        Err(e) => return store_failed(az, name, &e),
    };
    // If the peer cannot be read, judge without it and serve our window: failing over to a
    // peer nobody can read would take viewers nowhere.
    let peer = peer.unwrap_or_else(|e| {
        warn!(az = %az.peer(), stream = %name, error = %e, "reading the peer index; judging without it");
        None
    });
    render_chunklist(az, name, own.as_ref(), peer.as_ref(), base, now)
}

fn store_failed(az: Az, name: &StreamName, e: &IndexSourceError) -> Rendered {
    error!(%az, stream = %name, error = %e, "reading index");
    if e.is_denied() {
        // A deployment problem (wrong bucket, missing permission), not an absent stream: say
        // so with a 403, cached 1 s. Not a 5xx: for a 5xx CloudFront serves its expired copy
        // of the playlist (a frozen `200`) and viewers and monitors would see a stalled stream
        // instead of the error (DESIGN.md §5). Not `no-store`: CloudFront honours it on an
        // error only for 404, 410, 414 and 501 and keeps a 403 for the error caching minimum
        // TTL (1 s in template.yaml) anyway; the errors' `max-age=1` says what happens.
        return Rendered::error(403, "storage access denied (see function logs)");
    }
    Rendered::error(502, "bad gateway: the index store is unavailable")
}

fn client_error(status: u16, message: &str) -> Rendered {
    let mut r = Rendered::error(status, message);
    r.cache_control = CLIENT_ERROR_CACHE_CONTROL.to_owned();
    r
}

fn into_response(r: Rendered, head: bool) -> Response<Body> {
    let body = if head || r.body.is_empty() {
        Body::Empty
    } else {
        Body::Text(r.body)
    };
    let mut resp = Response::new(body);
    *resp.status_mut() =
        StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(r.content_type),
    );
    if let Ok(v) = HeaderValue::from_str(&r.cache_control) {
        h.insert(header::CACHE_CONTROL, v);
    }
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static(cors::ALLOW_ORIGIN),
    );
    resp
}

#[cfg(test)]
mod tests;
