//! Adaptive bit rate (issue 10, item 2): one ffmpeg process publishes the same source at 720p
//! and 360p (same GOP, same timestamps) as two renditions, `?rendition=720p` and
//! `?rendition=360p`, to both AZs of the real `zonecast-local`. The multivariant playlist lists
//! both renditions on both pathways, with RESOLUTION, FRAME-RATE and CODECS matching what
//! ffprobe says of the segments; the renditions share their segment numbers (the same msn
//! starts at the same point of the encoder timeline), and every segment decodes. A rendition
//! that starts while another is live joins its numbering; a dead AZ takes every rendition out
//! of the multivariant playlist and the steering manifest.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use m3u8_rs::{MasterPlaylist, Playlist, QuotedOrUnquoted, VariantStream};
use zonecast_contract::{Az, RenditionList, StreamName, keys};
use zonecast_tests::{
    http::{get, get_url},
    media::{StreamSpec, ffprobe, make_flv, publish_renditions, tee_args},
    media_uris, require_tool,
    stack::LocalStack,
    wait_for,
};

const RENDITIONS: [(&str, StreamSpec); 2] = [
    (
        "720p",
        StreamSpec {
            width: 1280,
            height: 720,
            fps: 30,
            seconds: 16,
            gop: 60,
            video_kbps: 1800,
            audio_kbps: 96,
        },
    ),
    (
        "360p",
        StreamSpec {
            width: 640,
            height: 360,
            fps: 30,
            seconds: 16,
            gop: 60,
            video_kbps: 500,
            audio_kbps: 96,
        },
    ),
];

/// The FLV of each of [`RENDITIONS`] (made once by ffmpeg, then reused).
fn rendition_files() -> Vec<(&'static str, PathBuf)> {
    RENDITIONS
        .iter()
        .map(|(r, spec)| (*r, make_flv(*spec).unwrap()))
        .collect()
}

/// One ffmpeg process publishing every rendition of `files` to each of `urls`.
fn publish_all(files: &[(&str, PathBuf)], urls: &[String]) -> Child {
    let refs: Vec<(&str, &Path)> = files.iter().map(|(r, f)| (*r, f.as_path())).collect();
    publish_renditions(&refs, urls).unwrap()
}

fn master(text: &str) -> Option<MasterPlaylist> {
    match m3u8_rs::parse_playlist_res(text.as_bytes()) {
        Ok(Playlist::MasterPlaylist(p)) => Some(p),
        _ => None,
    }
}

fn pathway(v: &VariantStream) -> String {
    match v
        .other_attributes
        .as_ref()
        .and_then(|a| a.get("PATHWAY-ID"))
    {
        Some(QuotedOrUnquoted::Quoted(s)) => s.clone(),
        other => panic!("no quoted PATHWAY-ID: {other:?}"),
    }
}

/// RFC 6381 `avc1.PPCCLL` from what ffprobe says of an H.264 stream (profile name, level).
fn avc1_of(probe: &serde_json::Value) -> String {
    let profile = match probe["profile"].as_str().unwrap_or_default() {
        "High" => "6400",
        "Main" => "4d40",
        "Constrained Baseline" => "42c0",
        "Baseline" => "4200",
        other => panic!("unexpected H.264 profile {other:?}"),
    };
    let level = probe["level"].as_u64().expect("level");
    format!("avc1.{profile}{level:02x}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_renditions_in_both_azs_are_listed_aligned_and_decodable() {
    if !require_tool("ffmpeg") || !require_tool("ffprobe") {
        return;
    }
    let files = rendition_files();
    let mut stack = LocalStack::start(&["--reconnect-grace-secs", "2"]).unwrap();
    let streams: Vec<String> = Az::ALL
        .iter()
        .map(|az| stack.rtmp_url(*az, "live", "abr"))
        .collect();
    let mut encoder = publish_all(&files, &streams);
    let started = Instant::now();

    // The multivariant playlist (neutral host, through the edge) lists both renditions on
    // both pathways.
    let neutral = stack.host(None);
    let edge = stack.edge;
    let playlist = wait_for(
        Duration::from_secs(40),
        "a multivariant playlist with 2 renditions x 2 AZs",
        || {
            let neutral = neutral.clone();
            async move {
                let r = get(edge, &neutral, "/live/abr/playlist.m3u8").await.ok()?;
                let p = master(&r.text())?;
                (p.variants.len() == 4).then_some(p)
            }
        },
    )
    .await;
    eprintln!(
        "multivariant with both renditions in both AZs after {:?}",
        started.elapsed()
    );
    let mut by_pathway: BTreeMap<String, Vec<&VariantStream>> = BTreeMap::new();
    for v in &playlist.variants {
        by_pathway.entry(pathway(v)).or_default().push(v);
    }
    assert_eq!(
        by_pathway.keys().collect::<Vec<_>>(),
        ["az1", "az2"],
        "{playlist:?}"
    );
    for (az, variants) in &by_pathway {
        let heights: Vec<u64> = variants
            .iter()
            .map(|v| v.resolution.expect("RESOLUTION").height)
            .collect();
        // Lowest bandwidth first.
        assert_eq!(heights, [360, 720], "{az}: {variants:?}");
        assert!(variants[0].bandwidth < variants[1].bandwidth);
        for v in variants {
            assert!(v.uri.contains(&format!("media-hls-{az}.")), "{}", v.uri);
        }
    }
    // Each rendition: identical attributes on both pathways (redundant variants).
    for (a, b) in by_pathway["az1"].iter().zip(&by_pathway["az2"]) {
        assert_eq!(
            (a.bandwidth, &a.codecs, a.resolution, a.frame_rate),
            (b.bandwidth, &b.codecs, b.resolution, b.frame_rate)
        );
    }

    let out = wait_for(Duration::from_secs(60), "the encoder to finish", || {
        let done = encoder.try_wait().ok().flatten();
        async move { done }
    })
    .await;
    let mut stderr = String::new();
    if let Some(mut e) = encoder.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut stderr);
    }
    assert!(out.success(), "ffmpeg failed: {stderr}");

    // Discovery: each AZ lists both renditions.
    for az in Az::ALL {
        let base = StreamName::new("live", "abr").unwrap();
        let doc = stack
            .object(&keys::renditions_key(az, &base))
            .await
            .unwrap();
        let list = RenditionList::from_json(&doc).unwrap();
        assert_eq!(list.renditions, ["360p", "720p"], "{az}");
    }

    // Aligned numbers: the same msn starts at the same timeline point in every rendition and
    // AZ, and the renditions have most of their numbers in common.
    let mut starts: BTreeMap<u64, Vec<(String, i64)>> = BTreeMap::new();
    for (rendition, _) in &RENDITIONS {
        let name = StreamName::new("live", "abr")
            .unwrap()
            .with_rendition(rendition)
            .unwrap();
        for az in Az::ALL {
            let index = stack.index(az, &name).await.unwrap().expect("an index");
            assert_eq!(index.rendition.as_deref(), Some(*rendition));
            for s in &index.segments {
                starts
                    .entry(s.msn)
                    .or_default()
                    .push((format!("{az}/{rendition}"), s.timeline_ms));
            }
        }
    }
    let mut common = 0;
    for (msn, seen) in &starts {
        let first = seen[0].1;
        assert!(
            seen.iter().all(|(_, t)| *t == first),
            "msn {msn} starts at different points: {seen:?}"
        );
        if seen.len() == 4 {
            common += 1;
        }
    }
    eprintln!(
        "{} msns, {common} in all four chunklists (2 renditions x 2 AZs)",
        starts.len()
    );
    assert!(common >= 4, "too few shared msns: {starts:?}");

    // Every segment of every chunklist decodes, and the playlist's attributes match ffprobe.
    let mut decoded = 0;
    for v in &playlist.variants {
        let chunklist = get_url(edge, &v.uri).await.unwrap();
        assert_eq!(chunklist.status, 200, "{}: {}", v.uri, chunklist.text());
        let uris = media_uris(&chunklist.text());
        assert!(uris.len() >= 4, "{}: {uris:?}", v.uri);
        let dir = std::env::temp_dir().join(format!("zonecast-abr-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (i, uri) in uris.iter().enumerate() {
            let seg = get_url(edge, uri).await.unwrap();
            assert_eq!(seg.status, 200, "{uri}");
            let path = dir.join("seg.ts");
            std::fs::write(&path, &seg.body).unwrap();
            let out = Command::new("ffmpeg")
                .args(["-v", "error", "-i"])
                .arg(&path)
                .args(["-f", "null", "-"])
                .output()
                .unwrap();
            assert!(
                out.status.success() && out.stderr.is_empty(),
                "{uri} does not decode cleanly: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            decoded += 1;
            if i > 0 {
                continue;
            }
            let probe = ffprobe(&path).unwrap();
            let video = probe.codec("video").expect("a video stream");
            let audio = probe.codec("audio").expect("an audio stream");
            let res = v.resolution.expect("RESOLUTION");
            assert_eq!(
                (video["width"].as_u64(), video["height"].as_u64()),
                (Some(res.width), Some(res.height)),
                "{uri}"
            );
            assert_eq!(video["r_frame_rate"], "30/1", "{uri}");
            assert_eq!(v.frame_rate, Some(30.0), "{}", v.uri);
            assert_eq!(audio["codec_name"], "aac");
            assert_eq!(audio["profile"], "LC");
            let expected = format!("{},mp4a.40.2", avc1_of(video));
            assert_eq!(v.codecs.as_deref(), Some(expected.as_str()), "{}", v.uri);
        }
    }
    eprintln!("{decoded} segments decoded across 4 chunklists");
}

/// `ffmpeg -re [input_args] -i file -c copy -f tee` (a queue per output) of one rendition to
/// both AZs.
fn publish_one(stack: &LocalStack, rendition: &str, file: &Path, input_args: &[&str]) -> Child {
    let urls = Az::ALL.iter().map(|az| {
        format!(
            "{}?rendition={rendition}",
            stack.rtmp_url(*az, "live", "late")
        )
    });
    Command::new("ffmpeg")
        .args(["-v", "error", "-re"])
        .args(input_args)
        .arg("-i")
        .arg(file)
        .args(["-c", "copy", "-map", "0"])
        .args(tee_args(urls))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting ffmpeg")
}

/// A rendition that starts while another is live (same encoder timeline: `-ss -copyts` of the
/// same source, as a second output of a running encoder would send) takes the live
/// rendition's numbers: the same msn at the same timeline point, no discontinuity.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rendition_that_starts_later_joins_the_live_numbering() {
    if !require_tool("ffmpeg") {
        return;
    }
    let hi = make_flv(RENDITIONS[0].1).unwrap();
    let lo = make_flv(RENDITIONS[1].1).unwrap();
    let mut stack = LocalStack::start(&["--reconnect-grace-secs", "2"]).unwrap();
    let stream = StreamName::new("live", "late").unwrap();
    let (name_hi, name_lo) = (
        stream.with_rendition("720p").unwrap(),
        stream.with_rendition("360p").unwrap(),
    );
    let mut first = publish_one(&stack, "720p", &hi, &[]);
    let started = Instant::now();
    // Three segments of 720p in both AZs.
    for az in Az::ALL {
        let s3 = stack.s3().await;
        let name = name_hi.clone();
        wait_for(Duration::from_secs(30), "720p to have 3 segments", || {
            let (s3, name) = (s3.clone(), name.clone());
            async move {
                let index = zonecast_contract::s3::get_index(&s3, "zonecast", az, &name)
                    .await
                    .ok()??;
                (index.segments.len() >= 3).then_some(())
            }
        })
        .await;
    }
    // The same source from where the encoder is now, on its timeline.
    let at = format!("{}", started.elapsed().as_secs().saturating_sub(1));
    let mut second = publish_one(&stack, "360p", &lo, &["-ss", &at, "-copyts"]);
    let ended = wait_for(Duration::from_secs(40), "both encoders to finish", || {
        let done =
            first.try_wait().ok().flatten().is_some() && second.try_wait().ok().flatten().is_some();
        async move { done.then_some(()) }
    })
    .await;
    let () = ended;
    let mut starts: BTreeMap<u64, Vec<(String, i64)>> = BTreeMap::new();
    for az in Az::ALL {
        let lo_index = stack
            .index(az, &name_lo)
            .await
            .unwrap()
            .expect("a 360p index");
        let hi_index = stack
            .index(az, &name_hi)
            .await
            .unwrap()
            .expect("a 720p index");
        assert!(
            lo_index.segments.len() >= 3,
            "{az}: 360p has {} segments",
            lo_index.segments.len()
        );
        assert!(
            lo_index.segments.iter().all(|s| !s.discontinuity)
                && lo_index.discontinuity_sequence == 0,
            "{az}: the late rendition started a discontinuity instead of joining: {lo_index:?}"
        );
        for (label, index) in [("360p", &lo_index), ("720p", &hi_index)] {
            for s in &index.segments {
                starts
                    .entry(s.msn)
                    .or_default()
                    .push((format!("{az}/{label}"), s.timeline_ms));
            }
        }
        let shared = lo_index
            .segments
            .iter()
            .filter(|s| hi_index.segments.iter().any(|h| h.msn == s.msn))
            .count();
        eprintln!(
            "{az}: 720p msns {:?}..={:?}, 360p msns {:?}..={:?}, {shared} shared",
            hi_index.media_sequence(),
            hi_index.last_msn(),
            lo_index.media_sequence(),
            lo_index.last_msn()
        );
        assert!(shared >= 3, "{az}: only {shared} msns shared");
    }
    for (msn, seen) in &starts {
        assert!(
            seen.iter().all(|(_, t)| *t == seen[0].1),
            "msn {msn} starts at different points: {seen:?}"
        );
    }
}

/// SIGKILL of az1's ingest while both renditions play: within a few seconds the multivariant
/// playlist lists both renditions on az2 only, the steering manifest puts az2 first, and az1's
/// rendition chunklists answer 404 (fail over), while az2's serve.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_az_takes_all_its_renditions_out() {
    if !require_tool("ffmpeg") {
        return;
    }
    let files = rendition_files();
    let stack = LocalStack::start(&["--target-duration-ms", "1000"]).unwrap();
    let streams: Vec<String> = Az::ALL
        .iter()
        .map(|az| stack.rtmp_url(*az, "live", "abr"))
        .collect();
    let mut encoder = publish_all(&files, &streams);
    let (edge, neutral) = (stack.edge, stack.host(None));
    let listed = |want: usize| {
        let neutral = neutral.clone();
        move || {
            let neutral = neutral.clone();
            async move {
                let r = get(edge, &neutral, "/live/abr/playlist.m3u8").await.ok()?;
                let p = master(&r.text())?;
                (p.variants.len() == want).then_some(p)
            }
        }
    };
    wait_for(Duration::from_secs(30), "2 renditions x 2 AZs", listed(4)).await;
    let pid = stack.ingest_pid(Az::Az1).await.unwrap();
    zonecast_tests::stack::send_signal(pid, libc::SIGKILL).unwrap();
    let killed = Instant::now();
    let after = wait_for(
        Duration::from_secs(10),
        "the multivariant playlist without az1",
        listed(2),
    )
    .await;
    eprintln!(
        "az1 out of the multivariant playlist {:.1} s after SIGKILL",
        killed.elapsed().as_secs_f64()
    );
    let mut heights: Vec<u64> = after
        .variants
        .iter()
        .map(|v| {
            assert_eq!(pathway(v), "az2", "{}", v.uri);
            v.resolution.expect("RESOLUTION").height
        })
        .collect();
    heights.sort_unstable();
    assert_eq!(heights, [360, 720]);
    let steering = get(edge, &neutral, "/live/abr/steering.json?_HLS_pathway=az1")
        .await
        .unwrap();
    assert!(
        steering
            .text()
            .contains(r#""PATHWAY-PRIORITY":["az2","az1"]"#),
        "{}",
        steering.text()
    );
    for (rendition, _) in &RENDITIONS {
        for (az, status) in [(Az::Az1, 404), (Az::Az2, 200)] {
            let path = format!("/{az}/live/abr/{rendition}/chunklist.m3u8");
            let r = wait_for(Duration::from_secs(5), &format!("{path} {status}"), || {
                let path = path.clone();
                async move {
                    let r = get(edge, &edge.to_string(), &path).await.ok()?;
                    (r.status == status).then_some(r)
                }
            })
            .await;
            assert_eq!(r.status, status, "{path}");
        }
    }
    let _ = encoder.kill();
    let _ = encoder.wait();
}

/// A single-output encoder with renditions: one ffmpeg publishes 720p and 360p to az1 only;
/// az1's relay forwards each rendition (its `?rendition=` kept) to az2, so the multivariant
/// playlist lists both renditions on both pathways, and az2 numbers every rendition exactly
/// like az1 (same msn, same start on the encoder timeline, same duration).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renditions_published_to_one_az_are_relayed_to_the_other() {
    if !require_tool("ffmpeg") {
        return;
    }
    let files = rendition_files();
    let mut stack = LocalStack::start(&["--reconnect-grace-secs", "2"]).unwrap();
    let az1_only = [stack.rtmp_url(Az::Az1, "live", "abrrelay")];
    let mut encoder = publish_all(&files, &az1_only);
    let (neutral, edge) = (stack.host(None), stack.edge);
    let playlist = wait_for(
        Duration::from_secs(40),
        "a multivariant playlist with 2 renditions x 2 AZs from one output",
        || {
            let neutral = neutral.clone();
            async move {
                let r = get(edge, &neutral, "/live/abrrelay/playlist.m3u8")
                    .await
                    .ok()?;
                let p = master(&r.text())?;
                (p.variants.len() == 4).then_some(p)
            }
        },
    )
    .await;
    let pathways: Vec<String> = playlist.variants.iter().map(pathway).collect();
    assert_eq!(
        pathways.iter().filter(|p| *p == "az2").count(),
        2,
        "{pathways:?}"
    );
    // Let each AZ cut a few segments of every rendition, then compare them number by number.
    let base = StreamName::new("live", "abrrelay").unwrap();
    let s3 = stack.s3().await;
    let mut compared = 0;
    for (rendition, _) in &RENDITIONS {
        let name = base.with_rendition(rendition).unwrap();
        let [a, b] = wait_for(
            Duration::from_secs(30),
            "3 segments of the rendition in both AZs",
            || {
                let (s3, name) = (s3.clone(), name.clone());
                async move {
                    let mut out = Vec::new();
                    for az in Az::ALL {
                        let i = zonecast_contract::s3::get_index(
                            &s3,
                            zonecast_tests::stack::BUCKET,
                            az,
                            &name,
                        )
                        .await
                        .ok()??;
                        (i.segments.len() >= 3).then_some(())?;
                        out.push(i);
                    }
                    <[_; 2]>::try_from(out).ok()
                }
            },
        )
        .await;
        assert_eq!(b.rendition.as_deref(), Some(*rendition));
        for s in &b.segments {
            if let Some(t) = a.segments.iter().find(|t| t.msn == s.msn) {
                assert_eq!(
                    (t.timeline_ms, t.duration_ms),
                    (s.timeline_ms, s.duration_ms),
                    "{rendition} msn {} differs between the AZs",
                    s.msn
                );
                compared += 1;
            }
        }
    }
    eprintln!("relayed renditions: {compared} segments compared across the AZs");
    assert!(compared >= 4, "too few segments in common");
    let _ = encoder.kill();
    let _ = encoder.wait();
}

/// Issue 17, part 1: the lifecycle rule expires `renditions.json` like any other object. On a
/// stream that runs longer than the retention it is gone one night; the ingest writes it
/// again while a rendition is published (`zonecast_ingest::publish::rendition_list::LIST_REFRESH`), so the
/// multivariant playlist comes back within that interval plus its cache lifetime. Deleted here
/// from both AZs, as the lifecycle rule would, from a stream that keeps running (looped input).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_rendition_list_is_written_again_while_the_stream_runs() {
    if !require_tool("ffmpeg") {
        return;
    }
    let small = |width, height, video_kbps| StreamSpec {
        width,
        height,
        fps: 15,
        seconds: 10,
        gop: 30,
        video_kbps,
        audio_kbps: 64,
    };
    let files = [
        ("180p", make_flv(small(320, 180, 250)).unwrap()),
        ("144p", make_flv(small(256, 144, 150)).unwrap()),
    ];
    let mut stack = LocalStack::start(&[]).unwrap();
    let urls: Vec<String> = Az::ALL
        .iter()
        .map(|az| stack.rtmp_url(*az, "live", "day2"))
        .collect();
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error"]);
    for (_, file) in &files {
        cmd.args(["-stream_loop", "-1", "-re", "-i"]).arg(file);
    }
    for (i, (rendition, _)) in files.iter().enumerate() {
        cmd.args(["-map", &i.to_string(), "-c", "copy"])
            .args(tee_args(
                urls.iter()
                    .map(|url| format!("{url}?rendition={rendition}")),
            ));
    }
    let mut encoder = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (edge, neutral) = (stack.edge, stack.host(None));
    let listed = || {
        let neutral = neutral.clone();
        async move {
            let r = get(edge, &neutral, "/live/day2/playlist.m3u8").await.ok()?;
            let p = master(&r.text())?;
            (p.variants.len() == 4).then_some(())
        }
    };
    wait_for(Duration::from_secs(40), "2 renditions x 2 AZs", listed).await;

    let base = StreamName::new("live", "day2").unwrap();
    let s3 = stack.s3().await;
    for az in Az::ALL {
        s3.delete_object()
            .bucket(zonecast_tests::stack::BUCKET)
            .key(keys::renditions_key(az, &base))
            .send()
            .await
            .unwrap();
    }
    let deleted = Instant::now();
    // The rewrite interval, the multivariant playlist's cache lifetime (a few seconds) and
    // slack for a loaded machine.
    let bound = zonecast_ingest::publish::rendition_list::LIST_REFRESH + Duration::from_secs(15);
    for az in Az::ALL {
        let key = keys::renditions_key(az, &base);
        // Read until a whole document parses: a GET racing the rewrite of the object in the
        // local store can see it half written (a checksum mismatch), as a real reader would
        // retry.
        let list = loop {
            if stack.exists(&key).await.unwrap_or(false)
                && let Ok(bytes) = stack.object(&key).await
                && let Ok(list) = RenditionList::from_json(&bytes)
            {
                break list;
            }
            assert!(
                deleted.elapsed() < bound,
                "{key} not written again in {bound:?}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        assert_eq!(list.renditions, ["144p", "180p"], "{az}");
    }
    let left = bound.saturating_sub(deleted.elapsed());
    wait_for(left, "the multivariant playlist back", listed).await;
    eprintln!(
        "rendition lists and multivariant playlist back {:.1} s after the delete (bound {bound:?})",
        deleted.elapsed().as_secs_f64()
    );
    assert!(encoder.try_wait().unwrap().is_none(), "the encoder stopped");
    let _ = encoder.kill();
    let _ = encoder.wait();
}
