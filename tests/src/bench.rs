//! `zonecast-bench`: one 720p ~3 Mbps H.264/AAC stream through the local stack, in real time;
//! prints JSON with the ingest's CPU per stream-second, its peak RSS, TS bytes relative to the
//! input, and the time from a segment's cut to its index being written (p50/p95, estimated
//! from the ingest's `zonecast_cut_to_index_seconds` histogram).
//!
//! `zonecast-bench --peer [--n 1,10,50,100] [--seconds 20] [--only nginx|zonecast]`: the peer benchmark (see
//! [`zonecast_tests::peer`]): N concurrent publishers to nginx-rtmp and to ZoneCast, one JSON
//! line per server and N.
//!
//! Run with `tests/bench` (builds release binaries first; `tests/bench --peer ...`).

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use zonecast_contract::{Az, StreamName, StreamState};
use zonecast_tests::{
    media::{StreamSpec, make_flv, publish},
    peer::{PeerRun, nginx},
    procstat::{child, cpu_ms, load_average, peak_rss_kib},
    prom::{Exposition, Format, scrape},
    stack::LocalStack,
};

/// Command line: `--peer`, `--n 1,10`, `--seconds 20`.
struct Args {
    peer: bool,
    n: Vec<usize>,
    seconds: u32,
    /// Which servers the peer run measures (both unless `--only nginx` or `--only zonecast`).
    only: Option<String>,
    /// `--lambda-init BIN`: time the playlist function binary's init instead.
    lambda_init: Option<std::path::PathBuf>,
}

fn args() -> anyhow::Result<Args> {
    let mut out = Args {
        peer: false,
        n: vec![1, 10, 50, 100],
        seconds: StreamSpec::BENCH_720P.seconds,
        only: None,
        lambda_init: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--peer" => out.peer = true,
            "--n" => {
                let v = it.next().context("--n needs a list, e.g. 1,10")?;
                out.n = v
                    .split(',')
                    .map(|x| x.trim().parse())
                    .collect::<Result<_, _>>()
                    .context("--n: numbers separated by commas")?;
            }
            "--seconds" => {
                out.seconds = it.next().context("--seconds needs a number")?.parse()?;
            }
            "--lambda-init" => {
                out.lambda_init = Some(it.next().context("--lambda-init BIN")?.into());
            }
            "--only" => out.only = Some(it.next().context("--only nginx|zonecast")?),
            other => bail!(
                "unknown argument {other} (--peer, --n 1,10,50,100, --seconds 20, --only nginx|zonecast)"
            ),
        }
    }
    Ok(out)
}

/// The machine, for the record.
fn machine() -> serde_json::Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    serde_json::json!({
        "date": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "cpu": cpu,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "kernel": kernel.trim(),
        "load": load_average(),
    })
}

async fn peer(args: &Args) -> anyhow::Result<()> {
    nginx::ensure_installed()?;
    let spec = StreamSpec {
        seconds: args.seconds,
        ..StreamSpec::BENCH_720P
    };
    eprintln!("making the 720p fixture with ffmpeg (once)...");
    let flv = make_flv(spec)?;
    let input_bytes = std::fs::metadata(&flv)?.len();
    println!(
        "{}",
        serde_json::json!({ "machine": machine(), "input": {
        "width": spec.width, "height": spec.height, "fps": spec.fps, "video_kbps": spec.video_kbps,
        "audio_kbps": spec.audio_kbps, "seconds": spec.seconds, "bytes": input_bytes } })
    );
    let run = PeerRun {
        spec,
        flv,
        input_bytes,
    };
    for &n in &args.n {
        let wants = |s: &str| args.only.as_deref().is_none_or(|o| o == s);
        if wants("nginx") {
            eprintln!("nginx-rtmp, {n} publishers, {} s...", spec.seconds);
            println!("{}", run.nginx(n)?);
        }
        if wants("zonecast") {
            eprintln!("zonecast, {n} publishers, {} s...", spec.seconds);
            println!("{}", run.zonecast(n).await?);
        }
    }
    Ok(())
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
    let args = args()?;
    if let Some(bin) = &args.lambda_init {
        let us = zonecast_tests::lambda_init::init_times_us(bin, 20)?;
        let at = |q: f64| us[((q * us.len() as f64).ceil() as usize).clamp(1, us.len()) - 1];
        println!(
            "{}",
            serde_json::json!({ "machine": machine(), "binary": bin.display().to_string(),
                "binary_bytes": std::fs::metadata(bin)?.len(), "runs": us.len(),
                "init_ms": { "p50": at(0.5) as f64 / 1000.0, "p95": at(0.95) as f64 / 1000.0,
                             "max": at(1.0) as f64 / 1000.0 } })
        );
        return Ok(());
    }
    if args.peer {
        return peer(&args).await;
    }
    let spec = StreamSpec::BENCH_720P;
    eprintln!("making the 720p fixture with ffmpeg (once)...");
    let flv = make_flv(spec)?;
    let input_bytes = std::fs::metadata(&flv)?.len();
    let mut stack = LocalStack::start(&["--window", "100"])?;
    let pid = child(stack.pid(), "az1")?;
    let name = StreamName::new("bench", "720p")?;
    let cpu_before = cpu_ms(pid)?;
    eprintln!(
        "publishing {} s of 720p to az1 in real time...",
        spec.seconds
    );
    let started = Instant::now();
    let mut encoder = publish(&flv, &stack.rtmp_url(Az::Az1, "bench", "720p"), true)?;
    // Real time, so the media's length and a margin for a loaded machine.
    let deadline = started + Duration::from_secs(u64::from(spec.seconds) + 60);
    while encoder.try_wait()?.is_none() {
        if Instant::now() > deadline {
            let _ = encoder.kill();
            bail!(
                "the publish did not end within {} s; log:\n{}",
                spec.seconds + 60,
                stack.log_text()
            );
        }
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
