//! The monitor Lambda, run by an EventBridge schedule every minute: `run(service_fn(...))`
//! around [`zonecast_lambdas::monitor::monitor`], printing its EMF documents on stdout, one
//! line each (CloudWatch Logs extracts the metrics; no SDK call).
//!
//! Environment: `ZONECAST_BUCKET` (required), `ZONECAST_STACK` (the metrics' `Stack`
//! dimension, required), `ZONECAST_ABANDONED_AFTER_MINUTES` (optional, default 60),
//! `ZONECAST_S3_ENDPOINT` (optional, an S3-compatible store), `AWS_REGION` (set by Lambda),
//! `RUST_LOG` (default `info`). Logs go to stderr, so stdout carries the EMF lines only.

use std::io::Write;

use anyhow::Context;
use chrono::{TimeDelta, Utc};
use lambda_http::{LambdaEvent, lambda_runtime, service_fn};
use serde_json::{Value, json};
use tracing_subscriber::EnvFilter;
use zonecast_contract::s3::{S3ClientConfig, s3_client};
use zonecast_lambdas::{
    IndexReaderRole, S3IndexSource,
    monitor::{DEFAULT_ABANDONED_AFTER, MonitorConfig, monitor},
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .json()
        .with_ansi(false)
        .with_current_span(false)
        .with_writer(std::io::stderr)
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();

    let bucket = std::env::var("ZONECAST_BUCKET").context("ZONECAST_BUCKET is not set")?;
    let stack = std::env::var("ZONECAST_STACK").context("ZONECAST_STACK is not set")?;
    let abandoned_after = match std::env::var("ZONECAST_ABANDONED_AFTER_MINUTES") {
        Ok(m) => TimeDelta::minutes(
            m.parse::<u32>()
                .context("ZONECAST_ABANDONED_AFTER_MINUTES is not a number of minutes")?
                .into(),
        ),
        Err(_) => DEFAULT_ABANDONED_AFTER,
    };
    let config = MonitorConfig {
        stack,
        abandoned_after,
    };
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
    // The role lists with prefix conditions only (template.yaml), so S3 answers a missing
    // index with 403: `Publish` takes a 403 as "no index", as the ingest does.
    let source = S3IndexSource::new(client, bucket, IndexReaderRole::Publish);
    let (source, config) = (&source, &config);

    lambda_runtime::run(service_fn(move |_event: LambdaEvent<Value>| async move {
        // Boxed: the run's future nests deep (S3 reads with retries inside the runtime's
        // loop), too deep for the compiler's layout query when inlined into `main`'s.
        let (report, docs) = Box::pin(monitor(source, config, Utc::now())).await?;
        let mut out = std::io::stdout().lock();
        for doc in &docs {
            writeln!(out, "{doc}")?;
        }
        out.flush()?;
        Ok::<_, lambda_http::Error>(json!({
            "twoAzs": report.two_azs,
            "oneAz": report.one_az,
            "noAz": report.no_az,
            "idle": report.idle,
        }))
    }))
    .await
    .map_err(|e| anyhow::anyhow!(e))
}
