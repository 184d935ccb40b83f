//! The ingest's health and metrics endpoint: `GET /healthz` (200 while the process serves),
//! `GET /metrics` (Prometheus text, or OpenMetrics when the `Accept` header asks for it) and
//! `GET /status` (the streams this ingest publishes or waits for, JSON: [`crate::status`]).

use std::{convert::Infallible, net::SocketAddr, sync::Arc};

use bytes::Bytes;
use chrono::Utc;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode, body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use zonecast_contract::Az;

use crate::{
    metrics::{Metrics, MetricsFormat},
    status::{StreamView, build_status},
};

/// Figures read from the ingest at each request (the waiting streams live in the ingest's
/// context, not in a metric).
pub type WaitingCount = Arc<dyn Fn() -> usize + Send + Sync>;

/// A copy of the ingest's registry, taken at each `/status` request.
pub type StreamViews = Arc<dyn Fn() -> Vec<StreamView> + Send + Sync>;

pub async fn serve_health(
    listener: TcpListener,
    az: Az,
    metrics: Arc<Metrics>,
    draining: CancellationToken,
    waiting: WaitingCount,
    views: StreamViews,
) -> std::io::Result<()> {
    info!(addr = %listener.local_addr()?, "health endpoint listening");
    loop {
        let (socket, _peer): (_, SocketAddr) = listener.accept().await?;
        let metrics = metrics.clone();
        let draining = draining.clone();
        let waiting = waiting.clone();
        let views = views.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<Incoming>| {
                let metrics = metrics.clone();
                let draining = draining.is_cancelled();
                let waiting = waiting();
                let resp = if req.uri().path() == "/status" {
                    status_response(az, draining, views())
                } else {
                    respond(&req, az, &metrics, draining, waiting)
                };
                async move { Ok::<_, Infallible>(resp) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(socket), service)
                .await
            {
                warn!(error = %e, "health connection");
            }
        });
    }
}

/// `/status`: always 200 (a draining ingest says so in the document).
fn status_response(az: Az, draining: bool, views: Vec<StreamView>) -> Response<Full<Bytes>> {
    let doc = build_status(az, std::process::id(), draining, Utc::now(), views);
    let body = serde_json::to_string(&doc).unwrap_or_default() + "\n";
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    resp.headers_mut().insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-store"),
    );
    resp
}

/// `/healthz` answers 200 `"status":"ok"` while serving and 503 `"status":"draining"` once
/// shutdown began (a health checker must not take a draining ingest for a ready one).
fn respond<B>(
    req: &Request<B>,
    az: Az,
    metrics: &Metrics,
    draining: bool,
    waiting: usize,
) -> Response<Full<Bytes>> {
    let waiting = i64::try_from(waiting).unwrap_or(i64::MAX);
    let (status, content_type, body) = match req.uri().path() {
        "/healthz" => {
            let active = metrics.publishes_active.get();
            let (status, word) = if draining {
                (StatusCode::SERVICE_UNAVAILABLE, "draining")
            } else {
                (StatusCode::OK, "ok")
            };
            (
                status,
                "application/json",
                format!(
                    "{{\"az\":\"{az}\",\"status\":\"{word}\",\"draining\":{draining},\"publishes\":{active},\"waiting\":{waiting},\"pid\":{}}}\n",
                    std::process::id()
                ),
            )
        }
        "/metrics" => {
            metrics.streams_waiting.set(waiting);
            let accept = req
                .headers()
                .get(hyper::header::ACCEPT)
                .and_then(|v| v.to_str().ok());
            let format = MetricsFormat::from_accept(accept);
            (
                StatusCode::OK,
                format.content_type(),
                metrics.render(format),
            )
        }
        _ => (StatusCode::NOT_FOUND, "text/plain", "not found\n".into()),
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str, accept: Option<&str>) -> Request<()> {
        let mut req = Request::builder().uri(path);
        if let Some(a) = accept {
            req = req.header(hyper::header::ACCEPT, a);
        }
        req.body(()).unwrap()
    }

    async fn body(resp: Response<Full<Bytes>>) -> String {
        use http_body_util::BodyExt;
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn healthz_keeps_its_fields() {
        let m = Metrics::new(Az::Az1);
        Metrics::inc(&m.publishes_active);
        let resp = respond(&get("/healthz", None), Az::Az1, &m, false, 2);
        assert_eq!(resp.status(), StatusCode::OK);
        let v: serde_json::Value = serde_json::from_str(&body(resp).await).unwrap();
        assert_eq!(v["az"], "az1");
        assert_eq!(v["status"], "ok");
        assert_eq!(v["draining"], false);
        assert_eq!(v["publishes"], 1);
        assert_eq!(v["waiting"], 2);
        assert_eq!(v["pid"], std::process::id());
        let resp = respond(&get("/healthz", None), Az::Az1, &m, true, 0);
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    }

    #[tokio::test]
    async fn status_is_json_and_never_cached() {
        let resp = status_response(Az::Az2, true, Vec::new());
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(
            resp.headers()[hyper::header::CONTENT_TYPE],
            "application/json"
        );
        assert_eq!(resp.headers()[hyper::header::CACHE_CONTROL], "no-store");
        let v: serde_json::Value = serde_json::from_str(&body(resp).await).unwrap();
        assert_eq!(v["az"], "az2");
        assert_eq!(v["draining"], true);
        assert_eq!(v["pid"], std::process::id());
        assert_eq!(v["streams"], serde_json::json!([]));
    }

    #[tokio::test]
    async fn metrics_negotiate_the_format() {
        let m = Metrics::new(Az::Az1);
        let plain = respond(&get("/metrics", None), Az::Az1, &m, false, 3);
        assert_eq!(
            plain.headers()[hyper::header::CONTENT_TYPE],
            "text/plain; version=0.0.4; charset=utf-8"
        );
        let text = body(plain).await;
        assert!(
            text.contains("zonecast_streams_waiting{az=\"az1\"} 3"),
            "{text}"
        );
        let om = respond(
            &get(
                "/metrics",
                Some("application/openmetrics-text;version=1.0.0"),
            ),
            Az::Az1,
            &m,
            false,
            0,
        );
        assert!(
            om.headers()[hyper::header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("application/openmetrics-text")
        );
        assert!(body(om).await.ends_with("# EOF\n"));
    }
}
