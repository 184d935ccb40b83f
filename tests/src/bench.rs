//! `zonecast-bench`: one 720p ~3 Mbps H.264/AAC stream through the local stack, in real time;
//! prints JSON with the ingest's CPU per stream-second, its peak RSS, TS bytes relative to the
//! input, and the time from a segment's cut to its index being written (p50/p95, estimated
//! from the ingest's `zonecast_cut_to_index_seconds` histogram).
//!
//! Run with `tests/bench` (builds release binaries first).

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use zonecast_contract::{Az, StreamName, StreamState};
use zonecast_tests::{
    media::{StreamSpec, make_flv, publish},
    prom::{Exposition, Format, scrape},
    stack::LocalStack,
};

/// CPU time (user + system) of a process in milliseconds, from /proc.
fn cpu_ms(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after_comm = stat.rsplit_once(')').context("bad stat")?.1;
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let utime: u64 = fields.get(11).context("utime")?.parse()?;
    let stime: u64 = fields.get(12).context("stime")?.parse()?;
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Ok((utime + stime) * 1000 / hz)
}

/// Peak resident set size in KiB (VmHWM).
fn peak_rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .context("no VmHWM")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .context("VmHWM value")?
        .parse()?)
}

/// The az1 ingest: the child of the stack whose command line says `--az az1`.
fn ingest_pid(stack_pid: u32) -> anyhow::Result<u32> {
    for entry in std::fs::read_dir("/proc")? {
        let Ok(pid) = entry?.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().nth(1))
            .unwrap_or("");
        let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if ppid == stack_pid.to_string() && cmdline.contains("az1") {
            return Ok(pid);
        }
    }
    bail!("az1 ingest process not found")
}

/// The q-quantile of the cut-to-index histogram, in milliseconds (bucket-interpolated, as
/// Prometheus' `histogram_quantile` does).
fn quantile(metrics: &Exposition, q: f64) -> Option<u64> {
    metrics
        .histogram_quantile("zonecast_cut_to_index_seconds", &[], q)
        .map(|s| (s * 1000.0).round() as u64)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let spec = StreamSpec::BENCH_720P;
    eprintln!("making the 720p fixture with ffmpeg (once)...");
    let flv = make_flv(spec)?;
    let input_bytes = std::fs::metadata(&flv)?.len();
    let mut stack = LocalStack::start(&["--window", "100"])?;
    let pid = ingest_pid(stack.pid())?;
    let name = StreamName::new("bench", "720p")?;
    let cpu_before = cpu_ms(pid)?;
    eprintln!(
        "publishing {} s of 720p to az1 in real time...",
        spec.seconds
    );
    let started = Instant::now();
    let mut encoder = publish(&flv, &stack.rtmp_url(Az::Az1, "bench", "720p"), true)?;
    while encoder.try_wait()?.is_none() {
        tokio::time::sleep(Duration::from_millis(500)).await;
        eprint!(
            "\r  {:>4.1} s / {} s",
            started.elapsed().as_secs_f64(),
            spec.seconds
        );
    }
    eprintln!();
    let deadline = Instant::now() + Duration::from_secs(15);
    let index = loop {
        if let Some(i) = stack.index(Az::Az1, &name).await?
            && i.state == StreamState::Ended
        {
            break i;
        }
        if Instant::now() > deadline {
            bail!("the stream never ended; log:\n{}", stack.log_text());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let cpu = cpu_ms(pid)? - cpu_before;
    let rss = peak_rss_kib(pid)?;
    let metrics = scrape(stack.health[0], Format::Prometheus).await?;
    let ts_bytes: u64 = index.segments.iter().map(|s| s.bytes).sum();
    let ts_ms: u64 = index
        .segments
        .iter()
        .map(|s| u64::from(s.duration_ms))
        .sum();
    // The window may not hold the whole run: compare TS bytes with the input's share of it.
    let covered = ts_ms as f64 / (f64::from(spec.seconds) * 1000.0);
    let report = serde_json::json!({
        "stream": { "width": spec.width, "height": spec.height, "fps": spec.fps,
                    "video_kbps": spec.video_kbps, "audio_kbps": spec.audio_kbps, "seconds": spec.seconds },
        "ingest_cpu_ms_per_stream_second": cpu as f64 / f64::from(spec.seconds),
        "ingest_peak_rss_mib": rss as f64 / 1024.0,
        "ts_bytes_relative_to_input": ts_bytes as f64 / (input_bytes as f64 * covered),
        "cut_to_index_ms": { "p50": quantile(&metrics, 0.5), "p95": quantile(&metrics, 0.95) },
        "segments_measured": index.segments.len(),
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
