//! Wires the ingest together: S3 client, listeners, health endpoint.

use std::{future::Future, sync::Arc};

use tokio::net::TcpListener;
use tracing::warn;
use zonecast_contract::{
    Az, StreamIndex, StreamName,
    s3::{S3ClientConfig, get_index, s3_client, sdk_config},
};

use crate::{
    config::IngestConfig,
    health::serve_health,
    invalidate::CloudFrontInvalidator,
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

/// Runs the ingest until `shutdown` resolves or a listener fails.
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
    let metrics = Arc::new(Metrics::default());
    let az = config.az;
    let invalidator = match &config.distribution_id {
        Some(id) => {
            let shared = sdk_config(&config.region).await;
            Some(CloudFrontInvalidator::new(
                aws_sdk_cloudfront::Client::new(&shared),
                id.clone(),
            ))
        }
        None => None,
    };
    let ctx = IngestContext::new(config, store, reader, metrics.clone(), invalidator);
    tokio::select! {
        r = serve_rtmp(rtmp, ctx) => r.map_err(|source| ServiceError::Serve { what: "RTMP", source }),
        r = serve_health(health, az, metrics) => r.map_err(|source| ServiceError::Serve { what: "health", source }),
        () = shutdown => Ok(()),
    }
}
