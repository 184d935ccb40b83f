//! The ingest's health and metrics endpoint: `GET /healthz` (200 while the process serves),
//! `GET /metrics` (Prometheus text, or OpenMetrics when the `Accept` header asks for it) and
//! `GET /status` (the streams this ingest publishes or waits for, JSON: [`crate::ops::status_json`]).

use std::{convert::Infallible, net::SocketAddr, sync::Arc, time::Duration};

use bytes::Bytes;
use chrono::Utc;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode, body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use zonecast_contract::Az;

use crate::{
    ops::metrics::{Metrics, MetricsFormat},
    ops::status_json::{StreamView, build_status},
};

/// Figures read from the ingest at each request (the waiting streams live in the ingest's
/// context, not in a metric).
pub type WaitingCount = Arc<dyn Fn() -> usize + Send + Sync>;

/// A copy of the ingest's registry, taken at each `/status` request.
pub type StreamViews = Arc<dyn Fn() -> Vec<StreamView> + Send + Sync>;

/// Where the admin server gets its connections: a TCP listener, or (in tests) one that fails
/// first.
pub trait Acceptor: Send + 'static {
    fn accept(
        &mut self,
    ) -> impl std::future::Future<Output = std::io::Result<(TcpStream, SocketAddr)>> + Send;
}

impl Acceptor for TcpListener {
    async fn accept(&mut self) -> std::io::Result<(TcpStream, SocketAddr)> {
        TcpListener::accept(self).await
    }
}

/// How long the admin server waits after a failed accept (EMFILE and friends) before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves `/healthz`, `/metrics` and `/status` for as long as the ingest runs. A failed accept
/// (out of file descriptors, a connection reset before it was accepted) is logged and retried
/// after a short pause: the instance health check must never fail a working ingest because
/// one accept failed. The service supervises this task: if it ends anyway (a panic), the
/// process exits and systemd restarts it.
pub async fn serve_health(
    listener: TcpListener,
    az: Az,
    metrics: Arc<Metrics>,
    draining: CancellationToken,
    waiting: WaitingCount,
    views: StreamViews,
) -> std::io::Result<()> {
    info!(addr = %listener.local_addr()?, "health endpoint listening");
    serve_admin(listener, az, metrics, draining, waiting, views).await;
    Ok(())
}

/// The accept loop of [`serve_health`]; never returns.
pub async fn serve_admin(
    mut acceptor: impl Acceptor,
    az: Az,
    metrics: Arc<Metrics>,
    draining: CancellationToken,
    waiting: WaitingCount,
    views: StreamViews,
) {
    loop {
        let socket = match acceptor.accept().await {
            Ok((socket, _peer)) => socket,
            Err(e) => {
                warn!(error = %e, "admin server: accept failed; retrying");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
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

    /// Fails its first `failures` accepts (as EMFILE would), then accepts for real.
    struct FailingFirst {
        listener: TcpListener,
        failures: usize,
    }

    impl Acceptor for FailingFirst {
        async fn accept(&mut self) -> std::io::Result<(TcpStream, SocketAddr)> {
            if self.failures > 0 {
                self.failures -= 1;
                return Err(std::io::Error::other("Too many open files (os error 24)"));
            }
            self.listener.accept().await
        }
    }

    /// Failed accepts do not end the admin server: `/healthz` answers after them.
    #[tokio::test]
    async fn the_admin_server_survives_failed_accepts() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(serve_admin(
            FailingFirst {
                listener,
                failures: 3,
            },
            Az::Az1,
            Arc::new(Metrics::new(Az::Az1)),
            CancellationToken::new(),
            Arc::new(|| 0),
            Arc::new(Vec::new),
        ));
        let ask = async {
            let mut socket = TcpStream::connect(addr).await.unwrap();
            socket
                .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                .await
                .unwrap();
            let mut answer = String::new();
            socket.read_to_string(&mut answer).await.unwrap();
            answer
        };
        let answer = tokio::time::timeout(Duration::from_secs(10), ask)
            .await
            .expect("an answer within 10 s");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(!server.is_finished(), "the admin server ended");
        server.abort();
    }

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
