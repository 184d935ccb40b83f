//! Starts the whole system on loopback: the store, two ingests (each in its own OS process, so
//! one AZ can be killed for real), the edge with the playlist handler, and the player page.
//!
//! With `--pairs K`, K instance pairs (2K ingests), pair k with `--shard k/K`, all writing to
//! the one store and read through the one edge: the scale-out of README.md ("Capacity of one
//! instance pair, and scaling out") on loopback. Pair k listens on the pair-0 ports plus 2k
//! ([`pair_addr`]).

use std::{net::SocketAddr, path::PathBuf, process::Stdio, sync::Arc, time::Duration};

use tokio::{
    io::{AsyncBufReadExt, BufReader},
    net::TcpListener,
    process::{Child, Command},
};
use tracing::info;
use zonecast_contract::{
    Az, ShardSpec,
    s3::{S3ClientConfig, s3_client},
};

mod args;
mod banner;
mod spawn;
#[cfg(test)]
mod tests;

pub use args::{RelayPolicy, ShardOfArgs, StackArgs, pair_addr, shard_of};
use banner::print_banner;
use spawn::{IngestTargets, spawn_ingest, wait_healthy};

use crate::{
    edge::{Edge, serve_edge},
    entry::{EntryRouter, EntryTarget, serve_entry},
    procs::{IngestId, IngestProcesses, SpawnError},
    status::StatusSource,
    store::{ACCESS_KEY, SECRET_KEY, serve_store},
};

pub const BUCKET: &str = "zonecast";
const REGION: &str = "us-east-1";

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error(
        "binding {what} on {addr}: {source} (is another zonecast-local running? pick another port with --{flag})"
    )]
    Bind {
        what: &'static str,
        flag: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    #[error("the {ingest} ingest did not become healthy on {addr}")]
    Unhealthy { ingest: IngestId, addr: SocketAddr },
    #[error("ingest ports: {0}")]
    PortClash(String),
    #[error(transparent)]
    PublishSecret(#[from] zonecast_ingest::auth::SecretError),
}

async fn bind(
    what: &'static str,
    flag: &'static str,
    addr: SocketAddr,
) -> Result<TcpListener, StackError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StackError::Bind {
            what,
            flag,
            addr,
            source,
        })
}

/// Runs the stack until Ctrl-C / SIGTERM; children are stopped on the way out.
pub async fn run_stack(args: StackArgs) -> Result<(), StackError> {
    std::fs::create_dir_all(&args.data_dir).map_err(|source| {
        crate::store::StoreError::DataDir {
            path: args.data_dir.display().to_string(),
            source,
        }
    })?;
    let data_dir = args
        .data_dir
        .canonicalize()
        .unwrap_or(args.data_dir.clone());
    args.check_ports()?;
    let store_listener = bind("the store", "store-listen", args.store_listen).await?;
    let store_addr = store_listener.local_addr().unwrap_or(args.store_listen);
    let edge_listener = bind("the edge", "edge-listen", args.edge_listen).await?;
    let edge_addr = edge_listener.local_addr().unwrap_or(args.edge_listen);
    let entry_listener = bind("the entry point", "entry-listen", args.entry_listen).await?;
    let entry_addr = entry_listener.local_addr().unwrap_or(args.entry_listen);
    // The secret is checked here, once, so a bad file fails before any ingest starts; the
    // ingests get the file's path (never the secret) through their environment.
    let publish_secret_file = match &args.publish_secret_file {
        Some(path) => {
            zonecast_ingest::auth::PublishSecret::read_file(path)?;
            Some(path.canonicalize().unwrap_or(path.clone()))
        }
        None => None,
    };
    let store = serve_store(store_listener, &data_dir, BUCKET).await?;
    tokio::spawn(store);
    let endpoint = format!("http://{store_addr}");

    let ingest_endpoint = args.ingest_endpoint.clone().unwrap_or(endpoint.clone());
    let purge_url = format!("http://{edge_addr}{}", crate::edge::PURGE_PATH);
    let spawner: crate::procs::Spawner = {
        let (endpoint, args, secret, data_dir) = (
            ingest_endpoint.clone(),
            args.clone(),
            publish_secret_file.clone(),
            data_dir.clone(),
        );
        Box::new(move |id: IngestId| {
            let (listen, health) = args.ingest_addrs(id);
            let (peer, _) = args.ingest_addrs(id.peer());
            spawn_ingest(
                id,
                listen,
                health,
                &IngestTargets {
                    endpoint: &endpoint,
                    purge_url: &purge_url,
                    spool_dir: &data_dir.join("spool").join(id.to_string()),
                    relay_to: (args.relay == RelayPolicy::On).then_some(peer),
                    shard: args.shard(id.pair),
                },
                &args,
                secret.as_deref(),
            )
        })
    };
    let ingests = Arc::new(IngestProcesses::start(spawner, args.pairs)?);

    let client = s3_client(&S3ClientConfig {
        region: REGION.into(),
        endpoint: Some(endpoint.clone()),
        static_credentials: Some((ACCESS_KEY.into(), SECRET_KEY.into())),
    })
    .await;
    let edge = Arc::new(Edge {
        s3: client.clone(),
        bucket: BUCKET.into(),
        indexes: zonecast_contract::index_source::S3IndexSource::new(
            client,
            BUCKET.into(),
            zonecast_contract::index_source::IndexReaderRole::Playlist,
        ),
        cache: Default::default(),
        status: Some(StatusSource {
            ingests: ingests.clone(),
            health: IngestId::all(args.pairs)
                .map(|id| (id, args.ingest_addrs(id).1))
                .collect(),
            pairs: args.pairs,
            edge_port: edge_addr.port(),
        }),
    });
    tokio::spawn(serve_edge(edge_listener, edge));
    // The entry point fronts pair 0 (another pair's stream is refused there by its shard).
    let entry_targets = Az::ALL
        .map(|az| {
            let (rtmp, health) = args.ingest_addrs(IngestId { pair: 0, az });
            EntryTarget { az, rtmp, health }
        })
        .to_vec();
    tokio::spawn(serve_entry(
        entry_listener,
        Arc::new(std::sync::Mutex::new(EntryRouter::new(
            entry_targets,
            crate::entry::VERDICT_TTL,
        ))),
    ));

    for id in IngestId::all(args.pairs) {
        wait_healthy(id, args.ingest_addrs(id).1).await?;
    }
    print_banner(
        &args,
        edge_addr,
        entry_addr,
        &endpoint,
        &data_dir,
        publish_secret_file.as_deref(),
    );

    zonecast_ingest::shutdown_signal().await;
    info!("stopping");
    ingests.stop_all().await;
    Ok(())
}
