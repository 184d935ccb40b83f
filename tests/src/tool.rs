//! The one policy for tests that need an external program (ffmpeg, ffprobe, gst-launch-1.0,
//! node, Chromium, ...): where `CI` is set (`.ci/run` sets `CI=1`; hosted CI sets `CI=true`) a
//! missing tool fails the test, because CI installs every tool and a skip there would be a
//! pass by accident; anywhere else the test skips, saying which test did not run, what is
//! missing and how to install it. `CI=1 cargo test` makes a local run as strict as CI.
//!
//! This file is the `zonecast_tests::tool` module and is also `#[path]`-included by the
//! ingest's integration tests (`ingest/tests/*.rs`), which cannot depend on this crate (it
//! depends on the ingest): so it uses `std` alone and no `crate::` paths.

use std::{io::Write, path::Path};

/// Whether `tool` can run: an executable file at `tool` when it names a path, else in a
/// directory of `PATH`. When it cannot, see [`missing`]: fails in CI, else `false` (skip).
pub fn require_tool(tool: &str) -> bool {
    on_path(tool) || missing(&format!("{tool} is not installed ({})", install_hint(tool)))
}

/// Reports something a test needs that is not there (`what` says what and how to install
/// it): panics in CI; elsewhere prints a loud SKIPPED line (uncaptured, so `cargo test` shows
/// it) and returns `false`, for the test to return early.
pub fn missing(what: &str) -> bool {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    assert!(
        !in_ci(),
        "{test}: {what}. CI is set, so this fails instead of skipping: CI must install every \
         tool the tests use"
    );
    // Straight to the process's stderr: libtest captures `eprintln!` of a passing test, and a
    // skip must be seen.
    let line = format!(
        "\n*** SKIPPED {test}: {what}; it did not run (set CI=1 to make this fail) ***\n\n"
    );
    let _ = std::io::stderr().write_all(line.as_bytes());
    false
}

/// Whether this is a CI run: `CI` set to anything but empty, `0` or `false`.
pub fn in_ci() -> bool {
    std::env::var("CI")
        .is_ok_and(|v| !matches!(v.trim().to_ascii_lowercase().as_str(), "" | "0" | "false"))
}

/// Whether `tool` is an executable file: `tool` itself when it holds a `/`, else the first
/// match in `PATH` (no process is started: some tools have no harmless `-version`).
pub fn on_path(tool: &str) -> bool {
    if tool.contains('/') {
        return is_executable(Path::new(tool));
    }
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| is_executable(&dir.join(tool)))
    })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The Debian packages that bring `tool` (what `.ci/run` installs).
fn install_hint(tool: &str) -> &'static str {
    match tool.rsplit('/').next().unwrap_or(tool) {
        "ffmpeg" | "ffprobe" => "apt-get install -y ffmpeg",
        "gst-launch-1.0" | "gst-inspect-1.0" => "apt-get install -y gstreamer1.0-tools",
        "node" => "apt-get install -y nodejs",
        "npm" => "apt-get install -y npm",
        "chromium" => "apt-get install -y chromium",
        "nginx" => "apt-get install -y nginx libnginx-mod-rtmp",
        _ => "install it and put it on PATH",
    }
}
