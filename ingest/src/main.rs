//! `zonecast-ingest`: parse the config, run the service until Ctrl-C or SIGTERM; or
//! `zonecast-ingest token <app> <stream>`: mint a publish token.

use anyhow::Context;
use clap::Parser;
use zonecast_ingest::{
    config::{IngestArgs, IngestCommand},
    init_logging, print_token, service, shutdown_signal,
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = IngestArgs::parse();
    if let Some(IngestCommand::Token(token)) = args.command.take() {
        return Ok(print_token(args, &token)?);
    }
    init_logging();
    let config = args.resolve().context("reading the configuration")?;
    tracing::info!(az = %config.az, listen = %config.listen, bucket = %config.bucket, "starting");
    service::run(config, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}
