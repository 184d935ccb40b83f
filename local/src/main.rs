use clap::{Parser, Subcommand};
use zonecast_ingest::config::IngestCommand;

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
    /// Run one AZ's ingest (what the stack starts twice, each in its own process), or mint a
    /// publish token with `ingest token <app> <stream>`.
    Ingest(Box<zonecast_ingest::config::IngestArgs>),
    /// Which instance pair publishes <app>/<stream> with --pairs K (`zonecast-local shard-of
    /// live/show --pairs 2`): prints the pair and its RTMP URLs with the default ports.
    ShardOf(zonecast_local::stack::ShardOfArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Cmd::Ingest(args)) => {
            let mut args = *args;
            if let Some(IngestCommand::Token(token)) = args.command.take() {
                return Ok(zonecast_ingest::print_token(args, &token)?);
            }
            zonecast_ingest::init_logging();
            let config = args.resolve()?;
            zonecast_ingest::service::run(config, zonecast_ingest::shutdown_signal()).await?;
        }
        Some(Cmd::ShardOf(args)) => println!("{}", zonecast_local::stack::shard_of(&args)?),
        None => {
            zonecast_ingest::init_logging();
            zonecast_local::stack::run_stack(cli.stack).await?
        }
    }
    Ok(())
}
