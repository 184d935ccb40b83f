//! Harness for ZoneCast's end-to-end tests and benchmark: starts the real `zonecast-local`
//! binary (store, two ingest processes, edge), makes fixtures and publishes with the real
//! ffmpeg, talks HTTP to the edge and S3 to the store, and plays with hls.js in Chromium.

pub mod browser;
pub mod faults;
pub mod http;
pub mod lambda_init;
pub mod media;
pub mod peer;
pub mod procstat;
pub mod prom;
pub mod stack;
pub mod tool;

/// The missing-tool policy (fail in CI, skip elsewhere): see [`tool`].
pub use tool::require_tool;

/// Polls `check` every 100 ms until it gives `Some`, or fails the test after `limit`, naming
/// `what`: the tests wait for conditions with a deadline, never with fixed sleeps.
pub async fn wait_for<T, F, Fut>(limit: std::time::Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {limit:?}: {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Waits for `child` to exit, polling every 100 ms; after `limit` kills it and fails the test,
/// naming `what`: a process a test waits for cannot hang the run.
pub async fn wait_exit(
    child: &mut std::process::Child,
    what: &str,
    limit: std::time::Duration,
) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {limit:?}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Every URI of a media playlist; panics (failing the test) on anything else.
pub fn media_uris(text: &str) -> Vec<String> {
    match m3u8_rs::parse_playlist_res(text.as_bytes()) {
        Ok(m3u8_rs::Playlist::MediaPlaylist(p)) => p.segments.into_iter().map(|s| s.uri).collect(),
        other => panic!("not a media playlist: {other:?}\n{text}"),
    }
}
