//! Real encoders publish to both AZs of the real `zonecast-local` (issue 7, the encoder
//! matrix): ffmpeg `-f tee` without `-flags +global_header` (the README's test-pattern command),
//! ffmpeg audio-only and video-only, ffmpeg switching resolution mid-stream (720p then 360p from
//! one concat input), and GStreamer `rtmp2sink`. For each: the publish is never dropped, both
//! AZs index the same segments, ffprobe accepts every segment with the tracks the encoder sent,
//! and ffmpeg plays the HLS through the edge without an error.
//!
//! Each case is about 12 s of media. A missing tool or GStreamer element fails the test in CI
//! and skips it elsewhere ([`zonecast_tests::tool`]).

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use zonecast_contract::{Az, StreamIndex, StreamName, StreamState, keys};
use zonecast_tests::{
    media::{StreamSpec, ffprobe, make_flv, tee_args, work_dir},
    prom::{Format, scrape},
    require_tool,
    stack::{LocalStack, az_index},
    tool, wait_exit,
};

/// Seconds of media each case publishes.
const SECONDS: u32 = 12;

/// Like [`require_tool`] for GStreamer elements (`gst-inspect-1.0 --exists`).
fn require_gst_elements(elements: &[&str]) -> bool {
    if !require_tool("gst-launch-1.0") || !require_tool("gst-inspect-1.0") {
        return false;
    }
    let missing: Vec<&str> = elements
        .iter()
        .copied()
        .filter(|e| {
            !Command::new("gst-inspect-1.0")
                .args(["--exists", e])
                .status()
                .is_ok_and(|s| s.success())
        })
        .collect();
    missing.is_empty()
        || tool::missing(&format!(
            "GStreamer elements {missing:?} are not installed (apt-get install -y \
             gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly \
             gstreamer1.0-libav)"
        ))
}

fn ffmpeg_tools() -> bool {
    require_tool("ffmpeg") && require_tool("ffprobe")
}

/// A scratch directory for one case's logs and segments.
fn case_dir(case: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zonecast-encoders-{}-{case}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Starts `cmd` with its stderr in `log` (a file: a pipe nobody drains could stall it).
fn spawn(cmd: &mut Command, log: &Path) -> Child {
    let file = std::fs::File::create(log).unwrap();
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(file)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"))
}

/// `-f tee` (a queue per output, as the README's commands) to one FLV muxer per AZ: one
/// encode, two outputs.
fn tee_outputs(stack: &LocalStack, stream: &str) -> Vec<String> {
    tee_args(Az::ALL.iter().map(|az| stack.rtmp_url(*az, "live", stream)))
}

/// What every segment must carry.
#[derive(Debug, Clone)]
struct Expect {
    /// Picture sizes, in the order the stream shows them; empty for no video.
    sizes: Vec<(u64, u64)>,
    audio: bool,
    /// Discontinuities in the index (parameter changes).
    discontinuities: usize,
}

/// Both AZs' indexes once each has a segment, or the deadline.
async fn wait_both_live(stack: &mut LocalStack, name: &StreamName, deadline: Instant) {
    loop {
        let mut live = 0;
        for az in Az::ALL {
            if stack
                .index(az, name)
                .await
                .unwrap()
                .is_some_and(|i| !i.segments.is_empty())
            {
                live += 1;
            }
        }
        if live == 2 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name} never had a segment in both AZs; log:\n{}",
            stack.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn wait_both_ended(
    stack: &mut LocalStack,
    name: &StreamName,
    deadline: Instant,
) -> [StreamIndex; 2] {
    loop {
        let a = stack.index(Az::Az1, name).await.unwrap();
        let b = stack.index(Az::Az2, name).await.unwrap();
        if let (Some(a), Some(b)) = (a, b)
            && a.state == StreamState::Ended
            && b.state == StreamState::Ended
        {
            return [a, b];
        }
        assert!(
            Instant::now() < deadline,
            "{name} never ended in both AZs; log:\n{}",
            stack.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs one encoder case: the encoder is started by `start` once the stack is up; a player
/// starts once both AZs have a segment; then every segment and the player are judged.
async fn encoder_case(case: &str, expect: Expect, start: impl FnOnce(&LocalStack, &Path) -> Child) {
    let dir = case_dir(case);
    let mut stack = LocalStack::start(&[]).unwrap();
    let name = StreamName::new("live", case).unwrap();
    let encoder_log = dir.join("encoder.log");
    let mut encoder = start(&stack, &encoder_log);
    let began = Instant::now();

    wait_both_live(&mut stack, &name, began + Duration::from_secs(40)).await;
    // A real HLS client plays the live stream through the edge, in path mode.
    let playlist = format!("http://{}/live/{case}/playlist.m3u8", stack.edge);
    let player_log = dir.join("player.log");
    let mut player = spawn(
        Command::new("ffmpeg").args([
            "-hide_banner",
            "-v",
            "error",
            "-i",
            &playlist,
            "-f",
            "null",
            "-",
        ]),
        &player_log,
    );

    let status = wait_exit(&mut encoder, "the encoder", Duration::from_secs(120)).await;
    let encoder_err = std::fs::read_to_string(&encoder_log).unwrap_or_default();
    assert!(
        status.success(),
        "{case}: the encoder failed ({status}):\n{encoder_err}\ningest log:\n{}",
        stack.log_text()
    );
    let [idx1, idx2] =
        wait_both_ended(&mut stack, &name, Instant::now() + Duration::from_secs(30)).await;
    // No publish was dropped: neither ingest counted an RTMP connection that ended on an error.
    for az in Az::ALL {
        let metrics = scrape(stack.health[az_index(az)], Format::Prometheus)
            .await
            .unwrap();
        let failed = metrics
            .value("zonecast_connections_failed_total", &[("az", az.as_str())])
            .unwrap();
        assert_eq!(
            failed,
            0.0,
            "{case}: {az} counted RTMP connections that ended on an error (a dropped \
             publish); log:\n{}",
            stack.log_text()
        );
    }

    // Same timeline in, same segments out (invariant 3).
    let shape = |i: &StreamIndex| {
        i.segments
            .iter()
            .map(|s| (s.msn, s.duration_ms, s.discontinuity))
            .collect::<Vec<_>>()
    };
    assert_eq!(shape(&idx1), shape(&idx2), "{case}: the AZs disagree");
    assert!(idx1.segments.len() >= 3, "{case}: {:?}", idx1.segments);
    assert_eq!(
        idx1.segments.iter().filter(|s| s.discontinuity).count(),
        expect.discontinuities,
        "{case}: {:?}",
        idx1.segments
    );
    assert_eq!(idx1.info.codecs.contains("avc1."), !expect.sizes.is_empty());
    // 4:2:0 profiles only (Baseline, Main, High: avc1.42/4d/64), which every player decodes.
    assert!(
        idx1.info.codecs.split(',').all(|c| !c.starts_with("avc1.")
            || ["avc1.42", "avc1.4d", "avc1.64"]
                .iter()
                .any(|p| c.starts_with(p))),
        "{case}: CODECS {}",
        idx1.info.codecs
    );
    assert_eq!(idx1.info.codecs.contains("mp4a.40."), expect.audio);

    // ffprobe on every listed segment of both AZs.
    let mut identical = 0;
    for (az, index) in [(Az::Az1, &idx1), (Az::Az2, &idx2)] {
        let mut sizes_seen: Vec<(u64, u64)> = Vec::new();
        for seg in &index.segments {
            let key = keys::segment_key(
                az,
                &name,
                keys::SegmentId {
                    epoch: index.epoch,
                    msn: seg.msn,
                },
            );
            let bytes = stack.object(&key).await.unwrap();
            if az == Az::Az1 {
                let other = stack
                    .object(&keys::segment_key(
                        Az::Az2,
                        &name,
                        keys::SegmentId {
                            epoch: idx2.epoch,
                            msn: seg.msn,
                        },
                    ))
                    .await
                    .unwrap();
                identical += usize::from(other == bytes);
            }
            let file = dir.join(format!("{az}-{}.ts", seg.msn));
            std::fs::write(&file, &bytes).unwrap();
            let probe = ffprobe(&file).unwrap();
            assert!(
                probe.stderr.trim().is_empty(),
                "{case} {key}: ffprobe: {}",
                probe.stderr
            );
            match probe.codec("video") {
                Some(v) => {
                    assert!(!expect.sizes.is_empty(), "{case} {key}: unexpected video");
                    assert_eq!(v["codec_name"], "h264", "{case} {key}");
                    let size = (
                        v["width"].as_u64().unwrap_or(0),
                        v["height"].as_u64().unwrap_or(0),
                    );
                    if sizes_seen.last() != Some(&size) {
                        sizes_seen.push(size);
                    }
                }
                None => assert!(expect.sizes.is_empty(), "{case} {key}: no video stream"),
            }
            match probe.codec("audio") {
                Some(a) => {
                    assert!(expect.audio, "{case} {key}: unexpected audio");
                    assert_eq!(a["codec_name"], "aac", "{case} {key}");
                }
                None => assert!(!expect.audio, "{case} {key}: no audio stream"),
            }
        }
        assert_eq!(
            sizes_seen, expect.sizes,
            "{case} {az}: picture sizes in order"
        );
    }
    println!(
        "{case}: {} segments per AZ, {identical} byte-identical across AZs",
        idx1.segments.len()
    );
    assert_eq!(
        identical,
        idx1.segments.len(),
        "{case}: the AZs muxed the same timeline into different bytes (invariant 3)"
    );

    // The HLS client played to the end (ENDLIST) without an error.
    let status = wait_exit(&mut player, "the HLS player", Duration::from_secs(60)).await;
    let player_err = std::fs::read_to_string(&player_log).unwrap_or_default();
    assert!(
        status.success() && player_err.trim().is_empty(),
        "{case}: ffmpeg as HLS client ({status}) reported:\n{player_err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The README's test-pattern command (smaller picture, 12 s): `-f tee` without
/// `-flags +global_header`, so ffmpeg's FLV muxers send an empty AVC sequence header and the
/// SPS/PPS in band. Every ingest used to drop this publish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_tee_without_global_header() {
    if !ffmpeg_tools() {
        return;
    }
    let expect = Expect {
        sizes: vec![(640, 360)],
        audio: true,
        discontinuities: 0,
    };
    encoder_case("tee", expect, |stack, log| {
        spawn(
            Command::new("ffmpeg")
                .args(["-hide_banner", "-v", "error", "-re"])
                .args(["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30"])
                .args(["-f", "lavfi", "-i", "sine=frequency=440"])
                .args(["-t", &SECONDS.to_string()])
                .args([
                    "-c:v", "libx264", "-preset", "veryfast", "-g", "60", "-b:v", "1M",
                ])
                .args(["-c:a", "aac", "-map", "0:v", "-map", "1:a"])
                .args(tee_outputs(stack, "tee")),
            log,
        )
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_audio_only() {
    if !ffmpeg_tools() {
        return;
    }
    let expect = Expect {
        sizes: vec![],
        audio: true,
        discontinuities: 0,
    };
    encoder_case("audioonly", expect, |stack, log| {
        spawn(
            Command::new("ffmpeg")
                .args(["-hide_banner", "-v", "error", "-re"])
                .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
                .args(["-t", &SECONDS.to_string()])
                .args(["-c:a", "aac", "-b:a", "96k", "-map", "0:a"])
                .args(tee_outputs(stack, "audioonly")),
            log,
        )
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_video_only() {
    if !ffmpeg_tools() {
        return;
    }
    let expect = Expect {
        sizes: vec![(640, 360)],
        audio: false,
        discontinuities: 0,
    };
    encoder_case("videoonly", expect, |stack, log| {
        spawn(
            Command::new("ffmpeg")
                .args(["-hide_banner", "-v", "error", "-re"])
                .args(["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30"])
                .args(["-t", &SECONDS.to_string()])
                .args([
                    "-c:v", "libx264", "-preset", "veryfast", "-g", "60", "-b:v", "800k",
                ])
                .args(["-map", "0:v", "-flags", "+global_header"])
                .args(tee_outputs(stack, "videoonly")),
            log,
        )
    })
    .await;
}

/// 720p then 360p from one concat input, copied: the 360p part's SPS arrives in band.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_resolution_switch_mid_stream() {
    if !ffmpeg_tools() {
        return;
    }
    let part = |width, height, video_kbps| StreamSpec {
        width,
        height,
        fps: 30,
        seconds: SECONDS / 2,
        gop: 60,
        video_kbps,
        audio_kbps: 96,
    };
    let hd = make_flv(part(1280, 720, 1500)).unwrap();
    let sd = make_flv(part(640, 360, 600)).unwrap();
    let list = work_dir().join(format!("concat-720p-360p-{}.txt", std::process::id()));
    std::fs::write(
        &list,
        format!("file '{}'\nfile '{}'\n", hd.display(), sd.display()),
    )
    .unwrap();
    let expect = Expect {
        sizes: vec![(1280, 720), (640, 360)],
        audio: true,
        discontinuities: 1,
    };
    encoder_case("switch", expect, |stack, log| {
        spawn(
            Command::new("ffmpeg")
                .args(["-hide_banner", "-v", "error", "-re"])
                .args(["-f", "concat", "-safe", "0", "-i"])
                .arg(&list)
                .args(["-c", "copy", "-map", "0"])
                .args(tee_outputs(stack, "switch")),
            log,
        )
    })
    .await;
    let _ = std::fs::remove_file(&list);
}

/// GStreamer: x264enc + voaacenc into `flvmux streamable=true`, teed to one `rtmp2sink` per AZ.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gstreamer_rtmp2sink() {
    if !ffmpeg_tools()
        || !require_gst_elements(&[
            "videotestsrc",
            "audiotestsrc",
            "x264enc",
            "voaacenc",
            "h264parse",
            "aacparse",
            "flvmux",
            "rtmp2sink",
        ])
    {
        return;
    }
    let expect = Expect {
        sizes: vec![(640, 360)],
        audio: true,
        discontinuities: 0,
    };
    encoder_case("gst", expect, |stack, log| {
        let video_buffers = (SECONDS * 30).to_string();
        // 1024 samples per buffer at 48 kHz.
        let audio_buffers = (SECONDS * 48_000 / 1024).to_string();
        let mut cmd = Command::new("gst-launch-1.0");
        cmd.args(["-q", "-e"])
            .args([
                "videotestsrc",
                "is-live=true",
                &format!("num-buffers={video_buffers}"),
            ])
            .args([
                "!",
                "video/x-raw,width=640,height=360,framerate=30/1",
                "!",
                "videoconvert",
            ])
            // 4:2:0, or x264enc picks 4:4:4 from videotestsrc (High 4:4:4: browsers do not play it).
            .args(["!", "video/x-raw,format=I420"])
            // zerolatency (no B-frames), as live GStreamer senders use it: with B-frames, flvmux's
            // millisecond timestamps of a live source give two frames one time, and ffmpeg
            // complains decoding the FLV itself, before any packaging.
            .args(["!", "x264enc", "tune=zerolatency", "speed-preset=veryfast"])
            .args(["key-int-max=60", "bitrate=800"])
            .args(["!", "h264parse", "!", "queue", "!", "mux."])
            .args([
                "audiotestsrc",
                "is-live=true",
                "wave=sine",
                "samplesperbuffer=1024",
            ])
            .arg(format!("num-buffers={audio_buffers}"))
            .args([
                "!",
                "audio/x-raw,rate=48000,channels=2",
                "!",
                "audioconvert",
            ])
            .args([
                "!",
                "voaacenc",
                "bitrate=96000",
                "!",
                "aacparse",
                "!",
                "queue",
                "!",
                "mux.",
            ])
            .args([
                "flvmux",
                "name=mux",
                "streamable=true",
                "!",
                "tee",
                "name=t",
            ]);
        for az in Az::ALL {
            cmd.args(["t.", "!", "queue", "leaky=downstream", "!", "rtmp2sink"])
                .arg(format!("location={}", stack.rtmp_url(az, "live", "gst")));
        }
        spawn(&mut cmd, log)
    })
    .await;
}
