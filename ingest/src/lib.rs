//! ZoneCast ingest: RTMP in, MPEG-TS segments and an index out, to S3.
//!
//! The media core (`flv`, `clock`, `ts`, `packager`) is sans-IO and deterministic; `server`,
//! `uploader`, `waiting`, `store` and `service` are the thin async shell around it.

pub mod auth;
pub mod clock;
pub mod config;
pub mod flv;
pub mod health;
pub mod invalidate;
pub mod jobs;
pub mod media;
pub mod memory;
pub mod metrics;
pub mod packager;
pub mod publishers;
pub mod relay;
pub mod renditions;
pub mod rtmp;
pub mod server;
pub mod service;
pub mod spool;
pub mod status;
pub mod store;
pub mod ts;
pub mod uploader;
pub mod waiting;

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
) -> Result<(), auth::TokenCommandError> {
    let minted = auth::token_command(args, token, std::time::SystemTime::now())?;
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
