//! The peer benchmark: the same FLV pushed in real time by N concurrent `ffmpeg -re -c copy`
//! publishers to nginx-rtmp (HLS) and to ZoneCast's az1 ingest, one server after the other, in
//! one run on one machine; one JSON line per server and N.

pub mod listing;
pub mod nginx;
pub mod proxy;

use std::{
    path::{Path, PathBuf},
    process::Child,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use zonecast_contract::Az;

use crate::{
    media::{StreamSpec, publish},
    procstat::{cpu_ms, load_average, peak_rss_kib},
    stack::{BUCKET, LocalStack},
};
use listing::{ListFormat, Listed, Watcher};

/// What one run of one server measures, before it becomes JSON.
struct Measured {
    /// CPU ms per process group, named ("server", or "ingest" and "store").
    cpu_ms: Vec<(&'static str, u64)>,
    rss_kib: Vec<(&'static str, u64)>,
    listed: Vec<Vec<Listed>>,
    /// When each stream's publisher connected.
    origins: Vec<Instant>,
    /// Where a stream's segments are on disk.
    segment_dirs: Vec<PathBuf>,
    failed_publishers: usize,
    load_before: String,
}

/// Settings of a peer run.
pub struct PeerRun {
    pub spec: StreamSpec,
    pub flv: PathBuf,
    pub input_bytes: u64,
}

impl PeerRun {
    /// nginx-rtmp with N publishers.
    pub fn nginx(&self, n: usize) -> anyhow::Result<Value> {
        let port = 19_350 + (std::process::id() % 500) as u16;
        let dir = std::env::temp_dir().join(format!("zonecast-peer-nginx-{}", std::process::id()));
        let server = nginx::NginxRtmp::start(&dir, port, 2)?;
        let pids = server.pids()?;
        let streams: Vec<String> = (0..n).map(|i| format!("s{i}")).collect();
        let lists = streams.iter().map(|s| server.playlist(s)).collect();
        let urls: Vec<String> = streams.iter().map(|s| server.rtmp_url(s)).collect();
        let m = self.measure(
            &urls,
            lists,
            ListFormat::M3u8,
            &|| {
                let cpu = pids
                    .iter()
                    .map(|p| cpu_ms(*p))
                    .sum::<anyhow::Result<u64>>()?;
                Ok(vec![("server", cpu)])
            },
            &|| {
                let rss = pids
                    .iter()
                    .map(|p| peak_rss_kib(*p))
                    .sum::<anyhow::Result<u64>>()?;
                Ok(vec![("server", rss)])
            },
        )?;
        let dirs = streams
            .iter()
            .map(|s| server.dir.join("hls").join(s))
            .collect();
        self.report(
            "nginx-rtmp",
            n,
            Measured {
                segment_dirs: dirs,
                ..m
            },
        )
    }

    /// ZoneCast's local stack (az1 ingest; the store is `zonecast-local`'s embedded s3s-fs)
    /// with N publishers. The relay is off: nginx-rtmp packages one copy, and with the relay
    /// on az1 would also forward every stream to az2, whose uploads would go through the same
    /// store and double its figure.
    pub async fn zonecast(&self, n: usize) -> anyhow::Result<Value> {
        let stack = LocalStack::start(&[
            "--window",
            "1000",
            "--reconnect-grace-secs",
            "1",
            "--relay",
            "off",
        ])?;
        let ingest = u32::try_from(stack.ingest_pid(Az::Az1).await?)?;
        let store = stack.pid();
        let streams: Vec<String> = (0..n).map(|i| format!("s{i}")).collect();
        let base = stack.data_dir.join(BUCKET).join("az1").join("bench");
        let lists = streams
            .iter()
            .map(|s| base.join(s).join("index.json"))
            .collect();
        let urls: Vec<String> = streams
            .iter()
            .map(|s| stack.rtmp_url(Az::Az1, "bench", s))
            .collect();
        let m = self.measure(
            &urls,
            lists,
            ListFormat::IndexJson,
            &|| Ok(vec![("ingest", cpu_ms(ingest)?), ("store", cpu_ms(store)?)]),
            &|| {
                Ok(vec![
                    ("ingest", peak_rss_kib(ingest)?),
                    ("store", peak_rss_kib(store)?),
                ])
            },
        )?;
        let dirs = streams.iter().map(|s| base.join(s)).collect();
        let out = self.report(
            "zonecast",
            n,
            Measured {
                segment_dirs: dirs,
                ..m
            },
        );
        let _ = std::fs::remove_dir_all(&stack.data_dir);
        out
    }

    #[allow(clippy::type_complexity)]
    fn measure(
        &self,
        urls: &[String],
        lists: Vec<PathBuf>,
        format: ListFormat,
        cpu: &dyn Fn() -> anyhow::Result<Vec<(&'static str, u64)>>,
        rss: &dyn Fn() -> anyhow::Result<Vec<(&'static str, u64)>>,
    ) -> anyhow::Result<Measured> {
        let load_before = load_average();
        let cpu_before = cpu()?;
        let watcher = Watcher::start(lists, format);
        let mut publishers: Vec<(proxy::Connected, Child)> = Vec::with_capacity(urls.len());
        for url in urls {
            let (via, connected) = proxy::start(upstream(url)?)?;
            let url = url.replacen(&upstream(url)?.to_string(), &via.to_string(), 1);
            publishers.push((connected, publish(&self.flv, &url, true)?));
        }
        let deadline = Instant::now() + Duration::from_secs(u64::from(self.spec.seconds) + 60);
        let mut failed = 0;
        for (_, p) in &mut publishers {
            loop {
                if let Some(status) = p.try_wait()? {
                    failed += usize::from(!status.success());
                    break;
                }
                if Instant::now() > deadline {
                    let _ = p.kill();
                    failed += 1;
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        // The last segment is listed when the publisher goes: wait until every stream lists all
        // but its last target duration of media, or 15 s.
        let want = u64::from(self.spec.seconds) * 1000 - 2_500;
        let settle = Instant::now() + Duration::from_secs(15);
        while watcher.listed_ms().iter().any(|ms| *ms < want) && Instant::now() < settle {
            std::thread::sleep(Duration::from_millis(50));
        }
        let cpu_after = cpu()?;
        let rss = rss()?;
        let listed = watcher.finish();
        let started = Instant::now();
        let origins: Vec<Instant> = publishers
            .iter()
            .map(|(c, _)| c.lock().ok().and_then(|c| *c).unwrap_or(started))
            .collect();
        let cpu_ms = cpu_after
            .iter()
            .zip(&cpu_before)
            .map(|((name, a), (_, b))| (*name, a - b))
            .collect();
        Ok(Measured {
            cpu_ms,
            rss_kib: rss,
            listed,
            origins,
            segment_dirs: Vec::new(),
            failed_publishers: failed,
            load_before,
        })
    }

    fn report(&self, server: &str, n: usize, m: Measured) -> anyhow::Result<Value> {
        let stream_seconds = n as f64 * f64::from(self.spec.seconds);
        let cpu: serde_json::Map<String, Value> = m
            .cpu_ms
            .iter()
            .map(|(k, v)| (k.to_string(), json!(round2(*v as f64 / stream_seconds))))
            .collect();
        let mut cpu = Value::Object(cpu);
        if server == "zonecast" {
            let total: u64 = m.cpu_ms.iter().map(|(_, v)| v).sum();
            cpu["ingest+store"] = json!(round2(total as f64 / stream_seconds));
        }
        let rss: serde_json::Map<String, Value> = m
            .rss_kib
            .iter()
            .map(|(k, v)| (k.to_string(), json!(round2(*v as f64 / 1024.0))))
            .collect();
        // TS bytes per second of listed media against the input's bytes per second.
        let (mut ts_bytes, mut ts_ms) = (0u64, 0u64);
        for (segs, dir) in m.listed.iter().zip(&m.segment_dirs) {
            for s in segs {
                ts_bytes += match s.bytes {
                    Some(b) => b,
                    None => std::fs::metadata(dir.join(&s.file)).map(|m| m.len())?,
                };
                ts_ms += s.duration_ms;
            }
        }
        let input_rate = self.input_bytes as f64 / f64::from(self.spec.seconds);
        let ts_rate = ts_bytes as f64 / (ts_ms.max(1) as f64 / 1000.0);
        // Due: the segment's end on the stream's timeline after its publisher started. The
        // last segment of each stream is cut by the publisher leaving, not by a keyframe:
        // left out.
        let mut late_ms: Vec<i64> = Vec::new();
        for (segs, origin) in m.listed.iter().zip(&m.origins) {
            for s in segs.iter().take(segs.len().saturating_sub(1)) {
                let due = *origin + Duration::from_millis(s.end_ms);
                late_ms.push(if s.seen >= due {
                    s.seen.duration_since(due).as_millis() as i64
                } else {
                    -(due.duration_since(s.seen).as_millis() as i64)
                });
            }
        }
        late_ms.sort_unstable();
        let errors = probe_sample(&m.listed, &m.segment_dirs)?;
        Ok(json!({
            "server": server,
            "n": n,
            "seconds": self.spec.seconds,
            "cpu_ms_per_stream_second": cpu,
            "peak_rss_mib": rss,
            "ts_bytes_relative_to_input": round3(ts_rate / input_rate),
            "ffprobe": errors,
            "listed_after_due_ms": {
                "p50": percentile(&late_ms, 0.50),
                "p95": percentile(&late_ms, 0.95),
                "max": late_ms.last(),
                "segments": late_ms.len(),
                "poll_ms": listing::POLL.as_millis(),
            },
            "failed_publishers": m.failed_publishers,
            "load_before": m.load_before,
            "load_after": load_average(),
        }))
    }
}

/// `127.0.0.1:1935` of `rtmp://127.0.0.1:1935/app/stream`.
fn upstream(url: &str) -> anyhow::Result<std::net::SocketAddr> {
    let rest = url.strip_prefix("rtmp://").context("not an rtmp:// URL")?;
    let host = rest.split('/').next().context("no host")?;
    Ok(host.parse()?)
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[i64], q: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// ffprobe (`-v error`, decoding every frame) on the first, a middle and the last-but-one
/// segment of up to 5 streams; counts the segments with any error output and the error lines.
fn probe_sample(listed: &[Vec<Listed>], dirs: &[PathBuf]) -> anyhow::Result<Value> {
    let (mut probed, mut bad, mut lines) = (0, 0, 0);
    let mut first_error = None;
    for (segs, dir) in listed.iter().zip(dirs).take(5) {
        if segs.len() < 2 {
            continue;
        }
        let mut picks = vec![0, segs.len() / 2, segs.len() - 2];
        picks.dedup();
        for i in picks {
            let errors = ffprobe_errors(&dir.join(&segs[i].file))?;
            probed += 1;
            if !errors.is_empty() {
                bad += 1;
                lines += errors.lines().count();
                first_error.get_or_insert(errors);
            }
        }
    }
    Ok(
        json!({ "segments": probed, "with_errors": bad, "error_lines": lines,
               "first_error": first_error.map(|e| e.chars().take(200).collect::<String>()) }),
    )
}

fn ffprobe_errors(path: &Path) -> anyhow::Result<String> {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-show_frames", "-of", "compact"])
        .arg(path)
        .stdout(std::process::Stdio::null())
        .output()
        .context("running ffprobe")?;
    if !path.exists() {
        bail!("{} is missing", path.display());
    }
    Ok(String::from_utf8_lossy(&out.stderr).into_owned())
}
