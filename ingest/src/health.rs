//! The ingest's health and metrics endpoint: `GET /healthz` (200 while the process serves)
//! and `GET /metrics` (Prometheus text).

use std::{convert::Infallible, net::SocketAddr, sync::Arc};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode, body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use zonecast_contract::Az;

use crate::metrics::Metrics;

pub async fn serve_health(
    listener: TcpListener,
    az: Az,
    metrics: Arc<Metrics>,
    draining: CancellationToken,
) -> std::io::Result<()> {
    info!(addr = %listener.local_addr()?, "health endpoint listening");
    loop {
        let (socket, _peer): (_, SocketAddr) = listener.accept().await?;
        let metrics = metrics.clone();
        let draining = draining.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<Incoming>| {
                let metrics = metrics.clone();
                let draining = draining.is_cancelled();
                async move { Ok::<_, Infallible>(respond(&req, az, &metrics, draining)) }
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

/// `/healthz` answers 200 `"status":"ok"` while serving and 503 `"status":"draining"` once
/// shutdown began (a health checker must not take a draining ingest for a ready one).
fn respond(
    req: &Request<Incoming>,
    az: Az,
    metrics: &Metrics,
    draining: bool,
) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match req.uri().path() {
        "/healthz" => {
            let active = metrics
                .publishes_active
                .load(std::sync::atomic::Ordering::Relaxed);
            let (status, word) = if draining {
                (StatusCode::SERVICE_UNAVAILABLE, "draining")
            } else {
                (StatusCode::OK, "ok")
            };
            (
                status,
                "application/json",
                format!(
                    "{{\"az\":\"{az}\",\"status\":\"{word}\",\"draining\":{draining},\"publishes\":{active},\"pid\":{}}}\n",
                    std::process::id()
                ),
            )
        }
        "/metrics" => (
            StatusCode::OK,
            "text/plain; version=0.0.4",
            metrics.render_prometheus(az.as_str()),
        ),
        _ => (StatusCode::NOT_FOUND, "text/plain", "not found\n".into()),
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    resp
}
