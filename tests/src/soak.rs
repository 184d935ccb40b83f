//! `soak`: memory over time (issue 17, part 7). Starts the local stack, publishes K looped
//! streams to both AZs (one ffmpeg per stream, `-f tee` with a queue per output), samples each
//! ingest process's resident memory (`VmRSS` in `/proc/PID/status`, the pid from its
//! `/healthz`) every `--sample-secs`, prints a progress line per sample and, at the end, JSON:
//! per ingest its RSS samples and first, min, max, last, and the least-squares slope in MiB
//! per hour over the samples after the warm-up, and whether it stayed flat.
//!
//! **Flat** means: the slope after the warm-up is at most `--flat-mib-per-hour` (default
//! [`FLAT_MIB_PER_HOUR`]) *and* no sample after the warm-up is more than
//! [`FLAT_MAX_ABOVE_WARM_MIB`] above the first one after it. A leak of one segment's buffers
//! per segment (a few hundred KiB every 2 s) is hundreds of MiB an hour and fails both;
//! allocator noise (a few MiB up and down) passes. The slope needs a long run to mean
//! anything: the 60-minute run is the one to judge by.
//!
//! Exit status 0 when every ingest stayed flat and every stream kept producing segments in
//! both AZs, 1 otherwise. Run with `tests/soak --minutes 60 [--streams 3]`.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use zonecast_contract::{Az, StreamName, s3::get_index};
use zonecast_tests::{
    media::{StreamSpec, make_flv, publish_tee_looped},
    procstat::load_average,
    stack::{BUCKET, LocalStack},
};

/// The default flatness threshold: RSS slope after the warm-up, MiB per hour.
const FLAT_MIB_PER_HOUR: f64 = 8.0;

/// The most any sample after the warm-up may stand above the first one after it, MiB.
const FLAT_MAX_ABOVE_WARM_MIB: f64 = 32.0;

/// The streams' source: 60 s, 320x180, 2 s GOP (the default target), looped.
const SOAK: StreamSpec = StreamSpec::BROWSER;

struct Args {
    minutes: f64,
    streams: usize,
    sample_secs: u64,
    warmup_secs: Option<u64>,
    flat_mib_per_hour: f64,
}

fn args() -> anyhow::Result<Args> {
    let mut out = Args {
        minutes: 60.0,
        streams: 3,
        sample_secs: 10,
        warmup_secs: None,
        flat_mib_per_hour: FLAT_MIB_PER_HOUR,
    };
    let mut it = std::env::args().skip(1);
    let usage = "--minutes N, --streams K, --sample-secs S, --warmup-secs W, --flat-mib-per-hour F";
    while let Some(a) = it.next() {
        let mut value = |what: &str| it.next().with_context(|| format!("{what} needs a value"));
        match a.as_str() {
            "--minutes" => out.minutes = value("--minutes")?.parse()?,
            "--streams" => out.streams = value("--streams")?.parse()?,
            "--sample-secs" => out.sample_secs = value("--sample-secs")?.parse()?,
            "--warmup-secs" => out.warmup_secs = Some(value("--warmup-secs")?.parse()?),
            "--flat-mib-per-hour" => {
                out.flat_mib_per_hour = value("--flat-mib-per-hour")?.parse()?;
            }
            "-h" | "--help" => {
                println!("soak {usage}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other} ({usage})"),
        }
    }
    if out.minutes <= 0.0 || out.streams == 0 || out.sample_secs == 0 {
        bail!("--minutes, --streams and --sample-secs must be positive");
    }
    Ok(out)
}

/// `VmRSS` of `pid` in MiB.
fn rss_mib(pid: i32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .context("no VmRSS")?
        .parse()?;
    Ok(kib / 1024.0)
}

/// Least-squares slope of `(t seconds, MiB)` in MiB per hour; `None` under two points.
fn slope_per_hour(points: &[(f64, f64)]) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let n = points.len() as f64;
    let (mt, mv) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), (t, v)| (a + t / n, b + v / n));
    let (num, den) = points.iter().fold((0.0, 0.0), |(num, den), (t, v)| {
        (num + (t - mt) * (v - mv), den + (t - mt) * (t - mt))
    });
    (den > 0.0).then(|| num / den * 3600.0)
}

fn round(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    let total = Duration::from_secs_f64(args.minutes * 60.0);
    // Warm-up: a fifth of the run, at most 5 minutes (buffers, pools and the window fill up).
    let warmup = Duration::from_secs(
        args.warmup_secs
            .unwrap_or_else(|| (total.as_secs() / 5).min(300)),
    );
    let flv = make_flv(SOAK)?;
    let mut stack = LocalStack::start(&[])?;
    let s3 = stack.s3().await;
    let streams: Vec<String> = (0..args.streams).map(|i| format!("soak{i}")).collect();
    let urls = |stream: &str| [Az::Az1, Az::Az2].map(|az| stack.rtmp_url(az, "live", stream));
    let mut encoders = Vec::new();
    for s in &streams {
        encoders.push(publish_tee_looped(&flv, &urls(s))?);
    }
    let mut restarts = 0u32;
    let azs = [Az::Az1, Az::Az2];
    let mut pids = [0i32; 2];
    for (i, az) in azs.into_iter().enumerate() {
        pids[i] = stack.ingest_pid(az).await?;
    }
    eprintln!(
        "soak: {} streams for {:.1} min, sampling every {} s, warm-up {} s; ingest pids az1 {} az2 {}",
        args.streams,
        args.minutes,
        args.sample_secs,
        warmup.as_secs(),
        pids[0],
        pids[1]
    );
    let start = Instant::now();
    let mut samples: [Vec<(f64, f64)>; 2] = [Vec::new(), Vec::new()];
    // Per stream and AZ: the first and the last segment number seen.
    let mut msns: Vec<[Option<(u64, u64)>; 2]> = vec![[None, None]; streams.len()];
    let mut next = start;
    loop {
        let t = start.elapsed().as_secs_f64();
        for (i, az) in azs.into_iter().enumerate() {
            // The ingest must be the one we started with: a restart would hide a leak.
            let pid = stack.ingest_pid(az).await?;
            if pid != pids[i] {
                bail!(
                    "{az}'s ingest changed pid ({} -> {pid}): it restarted",
                    pids[i]
                );
            }
            samples[i].push((t, rss_mib(pid)?));
        }
        for (s, stream) in streams.iter().enumerate() {
            let name = StreamName::new("live", stream)?;
            for (i, az) in azs.into_iter().enumerate() {
                if let Ok(Some(index)) = get_index(&s3, BUCKET, az, &name).await
                    && let Some(last) = index.last_msn()
                {
                    let first = msns[s][i].map_or(last, |(f, _)| f);
                    msns[s][i] = Some((first, last));
                }
            }
        }
        for (k, enc) in encoders.iter_mut().enumerate() {
            if enc.try_wait()?.is_some() {
                eprintln!("soak: ffmpeg of {} exited; starting it again", streams[k]);
                *enc = publish_tee_looped(&flv, &urls(&streams[k]))?;
                restarts += 1;
            }
        }
        let segments: u64 = msns
            .iter()
            .flat_map(|m| m.iter().flatten().map(|(f, l)| l - f))
            .sum();
        eprintln!(
            "soak: {:>6.0} s  rss az1 {:>6.1} MiB  az2 {:>6.1} MiB  segments (both AZs) {segments}  load {}",
            t,
            samples[0].last().map_or(0.0, |s| s.1),
            samples[1].last().map_or(0.0, |s| s.1),
            load_average()
        );
        if start.elapsed() >= total {
            break;
        }
        next += Duration::from_secs(args.sample_secs);
        tokio::time::sleep_until(tokio::time::Instant::from_std(next)).await;
    }
    for mut e in encoders {
        let _ = e.kill();
        let _ = e.wait();
    }

    let mut all_flat = true;
    let mut ingests = Vec::new();
    for (i, az) in azs.into_iter().enumerate() {
        let s = &samples[i];
        let values = || s.iter().map(|p| p.1);
        let warm: Vec<(f64, f64)> = s
            .iter()
            .copied()
            .filter(|(t, _)| *t >= warmup.as_secs_f64())
            .collect();
        let slope = slope_per_hour(&warm);
        let above_warm = warm
            .first()
            .map(|(_, w)| warm.iter().map(|(_, v)| v - w).fold(0.0, f64::max));
        let flat = slope.is_some_and(|v| v <= args.flat_mib_per_hour)
            && above_warm.is_some_and(|v| v <= FLAT_MAX_ABOVE_WARM_MIB);
        all_flat &= flat;
        ingests.push(serde_json::json!({
            "az": az.as_str(),
            "pid": pids[i],
            "rss_mib": {
                "first": s.first().map(|p| round(p.1)),
                "min": values().reduce(f64::min).map(round),
                "max": values().reduce(f64::max).map(round),
                "last": s.last().map(|p| round(p.1)),
                "first_after_warmup": warm.first().map(|p| round(p.1)),
                "most_above_first_after_warmup": above_warm.map(round),
            },
            "slope_mib_per_hour_after_warmup": slope.map(round),
            "flat": flat,
            "samples": s.iter().map(|(t, v)| [t.round(), round(*v)]).collect::<Vec<_>>(),
        }));
    }
    let mut all_moving = true;
    let produced: Vec<serde_json::Value> = streams
        .iter()
        .zip(&msns)
        .map(|(stream, m)| {
            let per_az = m.map(|x| x.map_or(0, |(f, l)| l - f));
            all_moving &= per_az.iter().all(|n| *n > 0);
            serde_json::json!({ "stream": format!("live/{stream}"), "segments_az1": per_az[0], "segments_az2": per_az[1] })
        })
        .collect();
    let report = serde_json::json!({
        "minutes": args.minutes,
        "streams": args.streams,
        "sample_secs": args.sample_secs,
        "warmup_secs": warmup.as_secs(),
        "flat_when": {
            "slope_mib_per_hour_at_most": args.flat_mib_per_hour,
            "mib_above_first_after_warmup_at_most": FLAT_MAX_ABOVE_WARM_MIB,
        },
        "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
        "load_average_at_end": load_average(),
        "encoder_restarts": restarts,
        "ingests": ingests,
        "segments_produced": produced,
        "flat": all_flat,
        "streams_kept_producing": all_moving,
    });
    println!("{}", serde_json::to_string(&report)?);
    drop(stack);
    if !(all_flat && all_moving) {
        std::process::exit(1);
    }
    Ok(())
}
