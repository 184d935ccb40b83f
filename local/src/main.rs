use clap::{Parser, Subcommand};

/// ZoneCast on this machine: two AZ ingests, an S3-compatible store, the playlist functions,
/// a CloudFront-like edge and a player page.
#[derive(Debug, Parser)]
#[command(name = "zonecast-local", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    #[command(flatten)]
    stack: zonecast_local::stack::StackArgs,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run one AZ's ingest (what the stack starts twice, each in its own process).
    Ingest(zonecast_ingest::config::IngestArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    zonecast_ingest::init_logging();
    let cli = Cli::parse();
    match cli.command {
        Some(Cmd::Ingest(args)) => {
            let config = args.resolve()?;
            zonecast_ingest::service::run(config, zonecast_ingest::shutdown_signal()).await?;
        }
        None => zonecast_local::stack::run_stack(cli.stack).await?,
    }
    Ok(())
}
