//! Wires the ingest together: S3 client, listeners, health endpoint.

use std::{future::Future, sync::Arc, time::Duration};

use tokio::net::TcpListener;
use tracing::{info, warn};
use zonecast_contract::{
    IndexSource, StreamIndex,
    index_source::{IndexReaderRole, S3IndexSource},
    s3::{S3ClientConfig, s3_client, sdk_config},
};

use crate::{
    config::{IngestConfig, PublishAuthPolicy},
    ops::admin::serve_health,
    ops::metrics::Metrics,
    publish::context::IngestContext,
    serve::serve_rtmp,
    storage::invalidate::{CloudFrontInvalidator, EdgePurge, Invalidator},
    storage::object_store::S3Store,
    storage::spool::{Spool, SpoolError},
    storage::uploader::{RetryPolicy, UploaderConfig, recover_spool},
};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("binding {what} on {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("opening the upload spool: {0}")]
    Spool(#[from] SpoolError),
    #[error("{what} stopped: {source}")]
    Serve {
        what: &'static str,
        source: std::io::Error,
    },
}

/// How long the uploaders get to write their in-memory backlog to the spool once the drain
/// timed out.
const PERSIST_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs the ingest until `shutdown` resolves or a listener fails. On `shutdown` it drains
/// (DESIGN.md §5): it stops accepting, closes and uploads every open segment, writes each
/// stream's final index in state `draining` (viewers move to the peer AZ at once), and returns
/// once every upload is done or `drain_timeout_secs` has passed.
pub async fn run(
    config: IngestConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServiceError> {
    crate::ops::memory::keep_large_buffers_out_of_the_heap();
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
    let reader = S3IndexSource::new(client, config.bucket.clone(), IndexReaderRole::Publish);
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
    match config.shard {
        Some(shard) => {
            info!(%shard, "shard {shard}: this ingest is pair {} of {} and refuses streams of the other pairs", shard.index(), shard.count())
        }
        None => info!("no shard: one instance pair, every stream accepted"),
    }
    let (spool, recovered) = match &config.spool_dir {
        Some(dir) => {
            let (spool, recovered) = Spool::open(
                dir,
                config.spool_max_bytes,
                config.spool_full,
                metrics.clone(),
            )?;
            info!(dir = %dir.display(), max_bytes = config.spool_max_bytes, used = spool.used(),
                  policy = ?config.spool_full, "upload spool ready");
            (Some(spool), recovered)
        }
        None => (None, Vec::new()),
    };
    let uploads = UploaderConfig {
        memory_max_bytes: config.upload_memory_max_bytes,
        spool,
        policy: config.spool_full,
        retry: RetryPolicy::UPLOAD,
        persist: tokio_util::sync::CancellationToken::new(),
    };
    let ctx = IngestContext::new(config, store, reader, metrics.clone(), invalidator, uploads);
    if let Some(spool) = &ctx.uploads.spool {
        for stream in &recovered {
            // The newest spooled index of the stream is its last entry of that kind.
            let Some(entry) = stream
                .entries
                .iter()
                .rev()
                .find(|e| e.header.segment_msn.is_none())
            else {
                continue;
            };
            match spool.read(entry).await.map(|b| StreamIndex::from_json(&b)) {
                Ok(Ok(index)) => ctx.table().offer_spooled(index),
                Ok(Err(e)) => {
                    warn!(stream = %stream.stream, error = %e, "a spooled index does not parse")
                }
                Err(e) => warn!(stream = %stream.stream, error = %e, "cannot read a spooled index"),
            }
        }
    }
    let active = ctx.clone();
    recover_spool(
        &ctx.tasks,
        ctx.store.clone(),
        ctx.metrics.clone(),
        ctx.uploads.clone(),
        recovered,
        Arc::new(move |stream: &str| active.is_active(stream)),
    );
    // Keeps every running stream's renditions.json younger than the bucket's retention.
    ctx.tasks
        .spawn(crate::publish::list_refresh::keep_listed(ctx.clone()));
    let mut rtmp_task = tokio::spawn(serve_rtmp(rtmp, ctx.clone()));
    // The admin server never ends on its own (failed accepts are retried); if it ends anyway
    // (a panic), the ingest stops with an error so that systemd restarts it: an ingest whose
    // health check cannot answer would be replaced by its group anyway, streams and all.
    let waiting_ctx = ctx.clone();
    let mut health_task = tokio::spawn(serve_health(
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
        r = &mut health_task => Err(ServiceError::Serve {
            what: "admin HTTP server",
            source: match r {
                Ok(Err(e)) => e,
                Ok(Ok(())) => std::io::Error::other("ended"),
                Err(e) => std::io::Error::other(e),
            },
        }),
        () = shutdown => Ok(()),
    };
    drain(&ctx, drain_timeout).await;
    rtmp_task.abort();
    health_task.abort();
    result
}

/// The one shutdown path: cancel, let every tracked task finish its work, bounded in time.
/// When the time is up, the uploaders write what they still hold to the spool (if there is
/// one) for the next start, bounded by a few more seconds.
async fn drain<S: crate::storage::object_store::ObjectStore, R: IndexSource>(
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
        Err(_) => {
            warn!(
                unfinished = ctx.tasks.len(),
                "drain timed out; leaving unfinished uploads in the spool"
            );
            ctx.uploads.persist.cancel();
            if tokio::time::timeout(PERSIST_TIMEOUT, ctx.tasks.wait())
                .await
                .is_err()
            {
                warn!(
                    unfinished = ctx.tasks.len(),
                    "exiting with uploads unfinished"
                );
            }
        }
    }
}
