//! hls.js in Debian's Chromium as a test oracle: runs `tests/browser/play.mjs` (playwright-core,
//! hls.js with its default settings) on a multivariant URL and collects the JSON lines it
//! prints: playback start, each fragment played, errors, stalls, progress, and a summary of
//! what the viewer got when it is stopped.

use std::{
    fmt,
    io::{BufRead, BufReader, Write},
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use serde::Deserialize;
use serde_json::Value;

/// Debian's Chromium; the tests never download a browser.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// `tests/browser`: the harness, its package.json and lockfile.
pub fn harness_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("browser")
}

/// Whether the browser tests can run: Chromium, node and `npm ci --prefix tests/browser`.
/// What is missing fails the test in CI and skips it elsewhere ([`crate::tool`]).
pub fn require_browser() -> bool {
    let modules = harness_dir().join("node_modules");
    crate::tool::require_tool(CHROMIUM)
        && crate::tool::require_tool("node")
        && (modules.join("playwright-core").exists()
            || crate::tool::missing(&format!(
                "{} is missing (npm ci --prefix tests/browser)",
                modules.display()
            )))
}

/// One AZ's share of the playback, in the order the player used them.
#[derive(Debug, Clone, Deserialize)]
pub struct AzRun {
    pub az: String,
    pub seconds: f64,
}

/// The harness's last line: what the viewer got (see `tests/browser/meter.js`).
#[derive(Debug, Clone, Deserialize)]
pub struct PlaybackSummary {
    pub started: bool,
    /// Media time actually played, in seconds.
    pub played_s: f64,
    /// Time stalled after playback first started (`waiting`→`playing`, and currentTime not
    /// advancing while neither paused nor ended).
    pub rebuffer_ms: u64,
    /// Each stall's length, in order (the last one may still be open).
    pub stalls_ms: Vec<u64>,
    /// Content skipped: forward jumps of currentTime beyond the wall time elapsed, and gaps in
    /// the sequence numbers of the fragments played.
    pub skipped_s: f64,
    pub jumps: Vec<Value>,
    pub sn_gaps: Vec<Value>,
    pub fatal_errors: Vec<Value>,
    /// Every hls.js error, fatal or not: `type`, `details`, `fatal`, `code`, `url`.
    pub errors: Vec<Value>,
    pub azs_played: Vec<AzRun>,
    /// Any media playlist loaded with `#EXT-X-ENDLIST`.
    pub saw_endlist: bool,
    pub max_latency_s: f64,
}

impl PlaybackSummary {
    /// The AZ playing at the end.
    pub fn last_az(&self) -> Option<&str> {
        self.azs_played.last().map(|r| r.az.as_str())
    }
}

impl fmt::Display for PlaybackSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let azs: Vec<String> = self
            .azs_played
            .iter()
            .map(|r| format!("{} {:.1} s", r.az, r.seconds))
            .collect();
        let errors: Vec<String> = self
            .errors
            .iter()
            .map(|e| {
                let fatal = if e["fatal"] == true { "fatal " } else { "" };
                let code = e["code"]
                    .as_u64()
                    .map_or(String::new(), |c| format!(" {c}"));
                format!("{fatal}{}{code}", e["details"].as_str().unwrap_or("?"))
            })
            .collect();
        write!(
            f,
            "played {:.1} s, rebuffering {} ms (stalls {:?}), skipped {:.3} s, fatal errors {}, \
             AZs played [{}], max latency {:.1} s, endlist seen {}, hls.js errors [{}]",
            self.played_s,
            self.rebuffer_ms,
            self.stalls_ms,
            self.skipped_s,
            self.fatal_errors.len(),
            azs.join(" → "),
            self.max_latency_s,
            self.saw_endlist,
            errors.join(", ")
        )
    }
}

/// Milliseconds since the Unix epoch: the clock of the harness's `t` fields.
pub fn epoch_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

/// What happened from `since_ms` (epoch ms) on, one line: errors, level switches, stalls,
/// ENDLIST, and the fragments where the AZ changed, each at its offset in seconds.
pub fn timeline(events: &[Value], since_ms: f64) -> String {
    let mut out = Vec::new();
    let mut frag_az = None;
    for e in events {
        let at = (e["t"].as_f64().unwrap_or(0.0) - since_ms) / 1e3;
        let text = match e["event"].as_str().unwrap_or("") {
            "frag" => {
                let az = e["az"].as_str().map(str::to_owned);
                let changed = frag_az.is_some() && frag_az != az;
                frag_az = az;
                if !changed {
                    continue;
                }
                format!("frag {} from {}", e["sn"], e["az"].as_str().unwrap_or("?"))
            }
            "error" => format!(
                "{}{}{}",
                if e["fatal"] == true { "fatal " } else { "" },
                e["details"].as_str().unwrap_or("?"),
                e["code"]
                    .as_u64()
                    .map_or(String::new(), |c| format!(" {c}"))
            ),
            "level" => format!(
                "level {} ({}{})",
                e["level"],
                e["az"].as_str().unwrap_or("?"),
                e["height"]
                    .as_u64()
                    .map_or(String::new(), |h| format!(", {h}p"))
            ),
            "stall" => format!("stall of {} ms ended", e["ms"]),
            "endlist" => "ENDLIST".to_owned(),
            _ => continue,
        };
        if at >= 0.0 {
            out.push(format!("{at:+.1} s {text}"));
        }
    }
    out.join(", ")
}

/// A running harness: Chromium playing one URL.
pub struct Player {
    child: Child,
    stdin: Option<ChildStdin>,
    events: Arc<Mutex<Vec<Value>>>,
    stderr: Arc<Mutex<String>>,
}

impl Player {
    /// Starts `node tests/browser/play.mjs URL`; `*.localhost` resolves to 127.0.0.1 inside.
    pub fn start(url: &str) -> anyhow::Result<Self> {
        let script = harness_dir().join("play.mjs");
        let mut child = Command::new("node")
            .arg(&script)
            .arg(url)
            // Its own process group, so that Chromium goes too if it ever has to be killed.
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting node {}", script.display()))?;
        let events = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        if let Some(out) = child.stdout.take() {
            let events = events.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    let value = serde_json::from_str(&line).unwrap_or_else(
                        |_| serde_json::json!({ "event": "unparsed", "line": line }),
                    );
                    if let Ok(mut e) = events.lock() {
                        e.push(value);
                    }
                }
            });
        }
        if let Some(err) = child.stderr.take() {
            let stderr = stderr.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    if let Ok(mut s) = stderr.lock() {
                        s.push_str(&line);
                        s.push('\n');
                    }
                }
            });
        }
        let stdin = child.stdin.take();
        Ok(Player {
            child,
            stdin,
            events,
            stderr,
        })
    }

    /// Every line so far.
    pub fn events(&self) -> Vec<Value> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// The lines of one kind (`frag`, `progress`, `error`, `stall`, ...).
    pub fn events_of(&self, kind: &str) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|e| e["event"] == kind)
            .collect()
    }

    /// The latest `progress` line: `played_s`, `az`, `az_played_s`, `rebuffer_ms`, ...
    pub fn progress(&self) -> Option<Value> {
        self.events_of("progress").pop()
    }

    /// What the harness wrote on stderr.
    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Fails when the harness exited early: it cannot measure (no browser, no MSE support).
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("the browser harness exited ({status}):\n{}", self.stderr());
        }
        Ok(())
    }

    /// Polls `cond` on the lines so far every 100 ms until it holds (true) or `timeout` passes
    /// (false). Fails when the harness exits meanwhile.
    pub async fn wait_for(
        &mut self,
        timeout: Duration,
        mut cond: impl FnMut(&[Value]) -> bool,
    ) -> anyhow::Result<bool> {
        let deadline = Instant::now() + timeout;
        loop {
            if cond(&self.events()) {
                return Ok(true);
            }
            self.check_running()?;
            if Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Makes the player play `level` (an index into hls.js's levels; -1 is automatic) from the
    /// next fragment on.
    pub fn set_level(&mut self, level: i64) -> anyhow::Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .context("the harness's stdin is closed")?;
        stdin.write_all(format!("level {level}\n").as_bytes())?;
        stdin.flush()?;
        Ok(())
    }

    /// Tells the harness to stop and returns its summary.
    pub async fn stop(mut self) -> anyhow::Result<PlaybackSummary> {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"stop\n");
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait()?.is_none() {
            if Instant::now() >= deadline {
                self.kill_group();
                bail!("the browser harness did not stop:\n{}", self.stderr());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The reader thread may still be taking the last lines.
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            if let Some(summary) = self.events_of("summary").pop() {
                return serde_json::from_value(summary).context("reading the harness summary");
            }
            if Instant::now() >= deadline {
                bail!("the browser harness printed no summary:\n{}", self.stderr());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Player {
    /// SIGKILL to the harness's process group (node and its Chromium), then reap node.
    fn kill_group(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
        let _ = self.child.wait();
    }
}

impl Drop for Player {
    fn drop(&mut self) {
        // Closing stdin makes the harness stop Chromium and exit on its own.
        self.stdin.take();
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(self.child.try_wait(), Ok(None)) {
            if Instant::now() >= deadline {
                self.kill_group();
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
