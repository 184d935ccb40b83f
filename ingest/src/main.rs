//! `zonecast-ingest`: parse the config, run the service until Ctrl-C or SIGTERM.

use anyhow::Context;
use clap::Parser;
use zonecast_ingest::{config::IngestArgs, init_logging, service, shutdown_signal};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    init_logging();
    let config = IngestArgs::parse()
        .resolve()
        .context("reading the configuration")?;
    tracing::info!(az = %config.az, listen = %config.listen, bucket = %config.bucket, "starting");
    service::run(config, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}
