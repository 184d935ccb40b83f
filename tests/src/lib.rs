//! Harness for ZoneCast's end-to-end tests and benchmark: starts the real `zonecast-local`
//! binary (store, two ingest processes, edge), makes fixtures and publishes with the real
//! ffmpeg, talks HTTP to the edge and S3 to the store, and plays with hls.js in Chromium.

pub mod browser;
pub mod faults;
pub mod http;
pub mod media;
pub mod prom;
pub mod stack;

/// Fails with a clear message when a tool the tests need is missing (CI installs them all; a
/// developer may set `ZONECAST_SKIP_MISSING_TOOLS=1` to skip instead).
pub fn require_tool(tool: &str) -> bool {
    let found = std::process::Command::new(tool)
        .arg("-version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok();
    if found {
        return true;
    }
    if std::env::var("ZONECAST_SKIP_MISSING_TOOLS").as_deref() == Ok("1") {
        eprintln!("SKIPPED: {tool} is not installed (ZONECAST_SKIP_MISSING_TOOLS=1)");
        return false;
    }
    panic!(
        "{tool} is not installed: apt-get install -y ffmpeg (or set ZONECAST_SKIP_MISSING_TOOLS=1 to skip)"
    );
}
