//! ZoneCast ingest: RTMP in, MPEG-TS segments and an index out, to S3.
//!
//! Grouped by what happens:
//! - [`media`]: the sans-IO media core (FLV demux, encoder clock, MPEG-TS mux, segmenter).
//! - [`publish`]: the publish lifecycle: the sans-IO stream table and the shell around it.
//! - [`serve`]: the RTMP listener and one task per connection, feeding the publish.
//! - [`rtmp`]: our wrapper around rml_rtmp (bounds, panics contained).
//! - [`relay`]: forwarding a publish to the peer ingest.
//! - [`storage`]: uploads in order, the spool, the object store, invalidations.
//! - [`ops`]: the admin HTTP server, metrics, `/status`, memory settings.
//! - [`auth`] (publish tokens and the auth policy), [`config`] (settings), [`token_command`]
//!   (minting a token with the ingest's own secret) and [`service`] (wiring it together).

pub mod auth;
pub mod config;
pub mod media;
pub mod ops;
pub mod publish;
pub mod relay;
pub mod rtmp;
pub mod serve;
pub mod service;
pub mod storage;
pub mod token_command;

/// Structured logs: JSON when `ZONECAST_LOG_FORMAT=json` (on AWS), human-readable otherwise;
/// filtered by `RUST_LOG` (default `info`).
pub fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("ZONECAST_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// `token <app> <stream>`: mints a publish token and prints it alone on standard output (for
/// `TOKEN=$(zonecast-ingest token live show)`), with its expiry on standard error.
pub fn print_token(
    args: config::IngestArgs,
    token: &config::TokenArgs,
) -> Result<(), token_command::TokenCommandError> {
    let minted = token_command::token_command(args, token, std::time::SystemTime::now())?;
    let until = i64::try_from(minted.expiry)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map(|t| t.to_rfc3339())
        .unwrap_or_else(|| minted.expiry.to_string());
    eprintln!(
        "publish token for {} valid until {until}: publish to rtmp://<ingest>/{}/{}?token=<token>",
        minted.name,
        minted.name.app(),
        minted.name.stream()
    );
    println!("{}", minted.token);
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
