//! The playlist Lambda: `run(service_fn(...))` around [`zonecast_lambdas::handle`].
//!
//! Environment: `ZONECAST_BUCKET` (required), `ZONECAST_S3_ENDPOINT` (optional, an
//! S3-compatible store), `AWS_REGION` (set by Lambda), `RUST_LOG` (default `info`).

use std::convert::Infallible;

use anyhow::Context;
use chrono::Utc;
use lambda_http::{Request, service_fn};
use tracing_subscriber::EnvFilter;
use zonecast_contract::s3::{S3ClientConfig, s3_client};
use zonecast_lambdas::{IndexReaderRole, S3IndexSource, handle};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .json()
        .with_ansi(false)
        .with_current_span(false)
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();

    let bucket = std::env::var("ZONECAST_BUCKET").context("ZONECAST_BUCKET is not set")?;
    let region = std::env::var("AWS_REGION")
        .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
        .unwrap_or_else(|_| "us-east-1".to_owned());
    let endpoint = std::env::var("ZONECAST_S3_ENDPOINT")
        .ok()
        .filter(|e| !e.is_empty());
    let client = s3_client(&S3ClientConfig {
        region,
        endpoint,
        static_credentials: None,
    })
    .await;
    let store = S3IndexSource::new(client, bucket, IndexReaderRole::Playlist);
    let store = &store;

    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, Infallible>(handle(req, store, Utc::now()).await)
    }))
    .await
    .map_err(|e| anyhow::anyhow!(e))
}
