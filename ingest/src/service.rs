//! Wires the ingest together: S3 client, listeners, health endpoint.

use std::{future::Future, sync::Arc, time::Duration};

use tokio::net::TcpListener;
use tracing::{info, warn};
use zonecast_contract::{
    Az, StreamIndex, StreamName,
    s3::{S3ClientConfig, get_index, s3_client, sdk_config},
};

use crate::{
    config::{IngestConfig, PublishAuthPolicy},
    health::serve_health,
    invalidate::{CloudFrontInvalidator, EdgePurge, Invalidator},
    metrics::Metrics,
    server::{IndexReader, IngestContext, serve_rtmp},
    store::S3Store,
};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("binding {what} on {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("{what} stopped: {source}")]
    Serve {
        what: &'static str,
        source: std::io::Error,
    },
}

/// Reads indexes from S3; a read error is logged and taken as "no index".
pub struct S3IndexReader {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl IndexReader for S3IndexReader {
    async fn read(&self, az: Az, name: &StreamName) -> Option<StreamIndex> {
        match get_index(&self.client, &self.bucket, az, name).await {
            Ok(index) => index,
            Err(e) => {
                warn!(stream = %name, %az, error = %e, "cannot read index; numbering starts fresh");
                None
            }
        }
    }
}

/// Runs the ingest until `shutdown` resolves or a listener fails. On `shutdown` it drains
/// (DESIGN.md §5): it stops accepting, closes and uploads every open segment, writes each
/// stream's final index in state `draining` (viewers move to the peer AZ at once), and returns
/// once every upload is done or `drain_timeout_secs` has passed.
pub async fn run(
    config: IngestConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServiceError> {
    let rtmp = TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServiceError::Bind {
            what: "RTMP",
            addr: config.listen,
            source,
        })?;
    let health = TcpListener::bind(config.health_listen)
        .await
        .map_err(|source| ServiceError::Bind {
            what: "health",
            addr: config.health_listen,
            source,
        })?;
    let client = s3_client(&S3ClientConfig {
        region: config.region.clone(),
        endpoint: config.endpoint.clone(),
        static_credentials: None,
    })
    .await;
    let store = S3Store {
        client: client.clone(),
        bucket: config.bucket.clone(),
    };
    let reader = S3IndexReader {
        client,
        bucket: config.bucket.clone(),
    };
    let metrics = Arc::new(Metrics::new(config.az));
    let az = config.az;
    let invalidator = match (&config.distribution_id, &config.edge_purge_url) {
        (Some(id), _) => {
            let shared = sdk_config(&config.region).await;
            Some(Invalidator::CloudFront(CloudFrontInvalidator::new(
                aws_sdk_cloudfront::Client::new(&shared),
                id.clone(),
            )))
        }
        (None, Some(url)) => Some(Invalidator::Edge(EdgePurge::new(url.clone()))),
        (None, None) => None,
    };
    let drain_timeout = Duration::from_secs(config.drain_timeout_secs);
    match config.publish_auth {
        PublishAuthPolicy::Required => {
            info!("publish auth required: a publish needs ?token=<expiry>.<signature>")
        }
        PublishAuthPolicy::Off => info!("publish auth off: any publisher may publish"),
    }
    let ctx = IngestContext::new(config, store, reader, metrics.clone(), invalidator);
    let mut rtmp_task = tokio::spawn(serve_rtmp(rtmp, ctx.clone()));
    let waiting_ctx = ctx.clone();
    let health_task = tokio::spawn(serve_health(
        health,
        az,
        metrics,
        ctx.shutdown.clone(),
        Arc::new(move || waiting_ctx.waiting_count()),
        {
            let ctx = ctx.clone();
            Arc::new(move || ctx.stream_views())
        },
    ));
    let result = tokio::select! {
        r = &mut rtmp_task => match r {
            Ok(r) => r.map_err(|source| ServiceError::Serve { what: "RTMP", source }),
            Err(e) => Err(ServiceError::Serve { what: "RTMP", source: std::io::Error::other(e) }),
        },
        () = shutdown => Ok(()),
    };
    drain(&ctx, drain_timeout).await;
    rtmp_task.abort();
    health_task.abort();
    result
}

/// The one shutdown path: cancel, let every tracked task finish its work, bounded in time.
async fn drain<S: crate::store::ObjectStore, R: IndexReader>(
    ctx: &IngestContext<S, R>,
    timeout: Duration,
) {
    info!(
        timeout_secs = timeout.as_secs(),
        "draining: closing open segments and writing final indexes"
    );
    ctx.shutdown.cancel();
    ctx.tasks.close();
    match tokio::time::timeout(timeout, ctx.tasks.wait()).await {
        Ok(()) => info!("drained"),
        Err(_) => warn!(
            unfinished = ctx.tasks.len(),
            "drain timed out; exiting with uploads unfinished"
        ),
    }
}
