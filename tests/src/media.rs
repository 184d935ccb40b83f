//! Real media for the tests: fixtures made by ffmpeg, publishing with ffmpeg, judging with
//! ffprobe.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{Context, bail};

/// Where generated fixtures live (under the cargo target dir, reused between runs).
pub fn work_dir() -> PathBuf {
    let dir = crate::stack::target_dir().join("zonecast-test-media");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// How a test stream looks.
#[derive(Debug, Clone, Copy)]
pub struct StreamSpec {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub seconds: u32,
    /// Keyframe interval in frames.
    pub gop: u32,
    pub video_kbps: u32,
    pub audio_kbps: u32,
}

impl StreamSpec {
    /// 20 s, 640x360, 30 fps, 2 s GOP: the end-to-end tests' stream.
    pub const E2E: StreamSpec = StreamSpec {
        width: 640,
        height: 360,
        fps: 30,
        seconds: 20,
        gop: 60,
        video_kbps: 800,
        audio_kbps: 96,
    };
    /// 30 s, small, 1 s GOP: the failover test's stream (long enough to outlive a dead AZ's
    /// three target durations of grace and the edge's caching).
    pub const FAILOVER: StreamSpec = StreamSpec {
        width: 320,
        height: 180,
        fps: 30,
        seconds: 30,
        gop: 30,
        video_kbps: 300,
        audio_kbps: 64,
    };
    /// 60 s, small, 2 s GOP (the default target duration): the browser tests' stream, long
    /// enough to play 8 s, lose an AZ and play 20 s more.
    pub const BROWSER: StreamSpec = StreamSpec {
        width: 320,
        height: 180,
        fps: 30,
        seconds: 60,
        gop: 60,
        video_kbps: 300,
        audio_kbps: 64,
    };
    /// 100 s at about 1.6 Mbps: the freeze test's stream. A frozen AZ must be held longer than
    /// the socket buffers toward it can absorb (DESIGN.md §1): 60 s of it is about 12 MB,
    /// well above Linux's largest send buffer (`tcp_wmem`, 4 MiB by default) plus what the
    /// frozen ingest's receive buffer holds.
    pub const BROWSER_FREEZE: StreamSpec = StreamSpec {
        width: 640,
        height: 360,
        fps: 30,
        seconds: 100,
        gop: 60,
        video_kbps: 1500,
        audio_kbps: 64,
    };
    /// 720p at about 3 Mbps: the benchmark's stream.
    pub const BENCH_720P: StreamSpec = StreamSpec {
        width: 1280,
        height: 720,
        fps: 30,
        seconds: 20,
        gop: 60,
        video_kbps: 3000,
        audio_kbps: 128,
    };

    fn file_name(&self) -> String {
        format!(
            "ffmpeg_h264_aac_{}x{}_{}fps_{}s_gop{}_{}k.flv",
            self.width, self.height, self.fps, self.seconds, self.gop, self.video_kbps
        )
    }
}

/// An H.264 + AAC FLV made by ffmpeg from its test sources (made once, then reused).
pub fn make_flv(spec: StreamSpec) -> anyhow::Result<PathBuf> {
    let path = work_dir().join(spec.file_name());
    if path.exists() {
        return Ok(path);
    }
    // Tests run in parallel and may make the same file at once: each writes its own temporary
    // file and the rename is atomic.
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("{}-{n}.tmp.flv", std::process::id()));
    let v = format!(
        "testsrc2=size={}x{}:rate={}",
        spec.width, spec.height, spec.fps
    );
    let kbps = format!("{}k", spec.video_kbps);
    let status = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            &v,
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=44100",
        ])
        .args(["-t", &spec.seconds.to_string()])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-profile:v",
            "high",
            "-pix_fmt",
            "yuv420p",
        ])
        .args([
            "-g",
            &spec.gop.to_string(),
            "-keyint_min",
            &spec.gop.to_string(),
            "-sc_threshold",
            "0",
        ])
        .args(["-b:v", &kbps, "-maxrate", &kbps, "-bufsize", &kbps])
        .args([
            "-c:a",
            "aac",
            "-b:a",
            &format!("{}k", spec.audio_kbps),
            "-f",
            "flv",
        ])
        .arg(&tmp)
        .status()
        .context("running ffmpeg")?;
    if !status.success() {
        bail!("ffmpeg failed to make {}", path.display());
    }
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// The `-f tee` muxer options that give each output a queue of its own, which drops packets
/// when full (DESIGN.md §1): an AZ that hangs without closing its connection (a frozen
/// process, a network black hole) fills only its own queue, and the other AZ goes on being
/// fed. Without them ffmpeg writes all outputs from one thread and, once the socket buffers
/// toward the hung AZ are full (about 15 s), stops feeding both. 600 packets is about 8 s of
/// 30 fps video with AAC.
pub const TEE_QUEUES: [&str; 4] = [
    "-use_fifo",
    "1",
    "-fifo_options",
    "drop_pkts_on_overflow=1:queue_size=600",
];

/// `-f tee` with [`TEE_QUEUES`] to every URL of `urls` (FLV; an output that fails is dropped,
/// `onfail=ignore`): the arguments after the encoding options of an encoder with one output
/// per AZ.
pub fn tee_args<U: std::fmt::Display>(urls: impl IntoIterator<Item = U>) -> Vec<String> {
    let outputs: Vec<String> = urls
        .into_iter()
        .map(|u| format!("[f=flv:onfail=ignore]{u}"))
        .collect();
    ["-f", "tee"]
        .into_iter()
        .chain(TEE_QUEUES)
        .map(str::to_owned)
        .chain([outputs.join("|")])
        .collect()
}

/// Publishes `flv` in real time to every URL at once (`-f tee`, a queue per output), like an
/// encoder with two outputs. The returned child exits when the file is done.
pub fn publish_tee(flv: &Path, urls: &[String]) -> anyhow::Result<std::process::Child> {
    Command::new("ffmpeg")
        .args(["-v", "error", "-re", "-i"])
        .arg(flv)
        .args(["-c", "copy", "-map", "0"])
        .args(tee_args(urls))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting ffmpeg")
}

/// [`publish_tee`] of `flv` looped for ever (`-stream_loop -1`, which offsets each pass's
/// timestamps, so the timeline keeps going up): a 24/7 encoder for the soak and the long runs.
/// The child runs until killed.
pub fn publish_tee_looped(flv: &Path, urls: &[String]) -> anyhow::Result<std::process::Child> {
    Command::new("ffmpeg")
        .args(["-v", "error", "-re", "-stream_loop", "-1", "-i"])
        .arg(flv)
        .args(["-c", "copy", "-map", "0"])
        .args(tee_args(urls))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting ffmpeg")
}

/// Publishes several renditions of one stream from one ffmpeg process, in real time: input
/// `i` is `renditions[i].1`, copied to every URL of `streams` with `?rendition=<name>`
/// appended (`-f tee`). The renditions leave the encoder with identical timestamps, as two
/// outputs of one live encoder do.
pub fn publish_renditions(
    renditions: &[(&str, &Path)],
    streams: &[String],
) -> anyhow::Result<std::process::Child> {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error"]);
    for (_, file) in renditions {
        cmd.arg("-re").arg("-i").arg(file);
    }
    for (i, (rendition, _)) in renditions.iter().enumerate() {
        cmd.args(["-map", &i.to_string(), "-c", "copy"])
            .args(tee_args(
                streams
                    .iter()
                    .map(|url| format!("{url}?rendition={rendition}")),
            ));
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting ffmpeg")
}

/// Publishes `flv` to one URL.
pub fn publish(flv: &Path, url: &str, realtime: bool) -> anyhow::Result<std::process::Child> {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error"]);
    if realtime {
        cmd.arg("-re");
    }
    cmd.arg("-i")
        .arg(flv)
        .args(["-c", "copy", "-f", "flv", url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting ffmpeg")
}

/// What ffprobe says of a file.
#[derive(Debug, Clone)]
pub struct Probe {
    pub stderr: String,
    pub streams: Vec<serde_json::Value>,
    pub duration: Option<f64>,
}

impl Probe {
    pub fn codec(&self, kind: &str) -> Option<&serde_json::Value> {
        self.streams.iter().find(|s| s["codec_type"] == kind)
    }
}

/// `ffprobe -v error -show_streams -show_format -of json`.
pub fn ffprobe(path: &Path) -> anyhow::Result<Probe> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_streams",
            "-show_format",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .context("running ffprobe")?;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    Ok(Probe {
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        streams: json["streams"].as_array().cloned().unwrap_or_default(),
        duration: json["format"]["duration"]
            .as_str()
            .and_then(|d| d.parse().ok()),
    })
}

/// An encoder with one output that reconnects, as a user runs one: ffmpeg publishing `flv` in
/// real time to `url` in a shell `while` loop, one second between runs (each run starts the
/// file again and resolves the host again). Runs in its own process group; dropping it kills
/// the loop and its ffmpeg.
pub struct PublishLoop {
    child: std::process::Child,
}

impl PublishLoop {
    pub fn start(flv: &Path, url: &str) -> anyhow::Result<Self> {
        use std::os::unix::process::CommandExt;
        let child = Command::new("sh")
            .args([
                "-c",
                "while :; do ffmpeg -v error -re -i \"$0\" -c copy -map 0 -f flv \"$1\"; sleep 1; done",
            ])
            .arg(flv)
            .arg(url)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting sh with an ffmpeg loop")?;
        Ok(PublishLoop { child })
    }
}

impl Drop for PublishLoop {
    fn drop(&mut self) {
        if let Ok(pgid) = i32::try_from(self.child.id()) {
            // The whole group: the shell and the ffmpeg it runs.
            let _ = crate::stack::send_signal(-pgid, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}
