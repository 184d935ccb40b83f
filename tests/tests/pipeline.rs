//! End to end with real parts: ffmpeg publishes RTMP to both ingest processes, aws-sdk-s3 checks
//! the S3-compatible store, the edge serves host-pinned playlists, ffprobe judges every segment
//! and ffmpeg plays the live stream as an HLS client.

use std::{
    collections::BTreeMap,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use m3u8_rs::Playlist;
use zonecast_contract::{Az, StreamName, keys};
use zonecast_tests::{
    http::{get, get_url},
    media::{StreamSpec, ffprobe, make_flv, publish, publish_tee},
    media_uris, require_tool,
    stack::LocalStack,
};

fn parse_playlist(text: &str) -> Playlist {
    m3u8_rs::parse_playlist_res(text.as_bytes())
        .unwrap_or_else(|e| panic!("playlist does not parse: {e:?}\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_both_azs_and_play_through_the_edge() {
    if !require_tool("ffmpeg") || !require_tool("ffprobe") {
        return;
    }
    let flv = make_flv(StreamSpec::E2E).unwrap();
    // A short grace period: the stream ends soon after the encoder does.
    let mut stack = LocalStack::start(&["--reconnect-grace-secs", "2"]).unwrap();
    let name = StreamName::new("live", "show").unwrap();
    let urls = [
        stack.rtmp_url(Az::Az1, "live", "show"),
        stack.rtmp_url(Az::Az2, "live", "show"),
    ];
    let mut encoder = publish_tee(&flv, &urls).unwrap();
    let started = Instant::now();

    // A real HLS client plays the live stream in path mode (ffmpeg resolves no *.localhost).
    let mut player: Option<std::process::Child> = None;
    let playlist_url = format!("http://{}/live/show/playlist.m3u8", stack.edge);

    // Throughout the run: every segment an index or a playlist names exists at that moment.
    let mut checks = 0usize;
    let mut seen_live = [false, false];
    loop {
        let done = encoder.try_wait().unwrap().is_some();
        for az in Az::ALL {
            if let Some(index) = stack.index(az, &name).await.unwrap() {
                seen_live[zonecast_tests::stack::az_index(az)] = true;
                for seg in &index.segments {
                    let key = keys::segment_key(
                        az,
                        &name,
                        keys::SegmentId {
                            epoch: index.epoch,
                            msn: seg.msn,
                        },
                    );
                    assert!(
                        stack.exists(&key).await.unwrap(),
                        "{az} index names {key}, which is not in the store"
                    );
                    checks += 1;
                }
            }
            let resp = get(
                stack.edge,
                &stack.edge.to_string(),
                &format!("/{az}/live/show/chunklist.m3u8"),
            )
            .await
            .unwrap();
            if resp.status == 200 {
                for uri in media_uris(&resp.text()) {
                    let prefix = format!("http://{}/", stack.edge);
                    let key = uri
                        .strip_prefix(&prefix)
                        .unwrap_or_else(|| panic!("{uri} is not on {prefix}"));
                    assert!(
                        stack.exists(key).await.unwrap(),
                        "{az} chunklist lists {uri}, which is not in the store"
                    );
                    checks += 1;
                }
            }
        }
        if player.is_none() && started.elapsed() > Duration::from_secs(7) {
            player = Some(
                Command::new("ffmpeg")
                    .args(["-v", "error", "-i", &playlist_url, "-f", "null", "-"])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap(),
            );
        }
        if done {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "publishing took too long"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let encoder_out = encoder.wait_with_output().unwrap();
    assert!(
        encoder_out.status.success(),
        "ffmpeg publish failed: {}",
        String::from_utf8_lossy(&encoder_out.stderr)
    );
    assert!(
        seen_live[0] && seen_live[1],
        "an AZ never wrote an index; log:\n{}",
        stack.log_text()
    );
    assert!(checks > 20, "too few existence checks ({checks})");

    // Wait for both ingests to mark the stream ended.
    let deadline = Instant::now() + Duration::from_secs(15);
    let (idx1, idx2) = loop {
        let i1 = stack.index(Az::Az1, &name).await.unwrap().unwrap();
        let i2 = stack.index(Az::Az2, &name).await.unwrap().unwrap();
        if i1.state == zonecast_contract::StreamState::Ended
            && i2.state == zonecast_contract::StreamState::Ended
        {
            break (i1, i2);
        }
        assert!(
            Instant::now() < deadline,
            "streams never ended; log:\n{}",
            stack.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    // The live HLS client decoded the whole run without a complaint.
    let player = player
        .expect("player never started")
        .wait_with_output()
        .unwrap();
    let player_err = String::from_utf8_lossy(&player.stderr);
    assert!(
        player.status.success() && player_err.trim().is_empty(),
        "ffmpeg as HLS client reported:\n{player_err}"
    );

    // Same timeline in → same numbers and durations out, in both AZs.
    let shape = |i: &zonecast_contract::StreamIndex| {
        i.segments
            .iter()
            .map(|s| (s.msn, s.duration_ms))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        shape(&idx1),
        shape(&idx2),
        "AZs disagree on segment numbers/durations"
    );
    assert!(idx1.segments.len() >= 3);
    // Deterministic muxing: the same timeline gives the same bytes in both AZs.
    let mut identical = 0;
    for seg in &idx1.segments {
        let id = |index: &zonecast_contract::StreamIndex| keys::SegmentId {
            epoch: index.epoch,
            msn: seg.msn,
        };
        let a = stack
            .object(&keys::segment_key(Az::Az1, &name, id(&idx1)))
            .await
            .unwrap();
        let b = stack
            .object(&keys::segment_key(Az::Az2, &name, id(&idx2)))
            .await
            .unwrap();
        identical += usize::from(a == b);
    }
    println!(
        "byte-identical segments across AZs: {identical}/{}",
        idx1.segments.len()
    );
    assert_eq!(
        identical,
        idx1.segments.len(),
        "the AZs muxed the same timeline into different bytes"
    );

    // Through the edge on the neutral host: multivariant → chunklists → every segment.
    let neutral = stack.host(None);
    let master = get(stack.edge, &neutral, "/live/show/playlist.m3u8")
        .await
        .unwrap();
    assert_eq!(master.status, 200, "{}", master.text());
    assert_eq!(master.header("access-control-allow-origin"), Some("*"));
    let Playlist::MasterPlaylist(mv) = parse_playlist(&master.text()) else {
        panic!("not a multivariant playlist:\n{}", master.text());
    };
    assert_eq!(
        mv.variants.len(),
        2,
        "expected the primary and the redundant AZ:\n{}",
        master.text()
    );
    let mut by_az = BTreeMap::new();
    for v in &mv.variants {
        assert!(
            v.codecs
                .as_deref()
                .is_some_and(|c| c.contains("avc1.") && c.contains("mp4a.40.2")),
            "{:?}",
            v.codecs
        );
        let res = v.resolution.expect("RESOLUTION");
        assert_eq!((res.width, res.height), (640, 360));
        assert!(v.bandwidth > 100_000, "BANDWIDTH {}", v.bandwidth);
        let az = if v
            .uri
            .starts_with(&format!("http://{}/", stack.host(Some(Az::Az1))))
        {
            Az::Az1
        } else if v
            .uri
            .starts_with(&format!("http://{}/", stack.host(Some(Az::Az2))))
        {
            Az::Az2
        } else {
            panic!("variant {} is on neither AZ host", v.uri)
        };
        by_az.insert(az, v.uri.clone());
    }
    assert_eq!(by_az.len(), 2);
    let seg_dir = std::env::temp_dir().join(format!("zonecast-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&seg_dir).unwrap();
    for (az, uri) in &by_az {
        let chunklist = get_url(stack.edge, uri).await.unwrap();
        assert_eq!(chunklist.status, 200);
        assert!(chunklist.text().contains("#EXT-X-ENDLIST"));
        let host_prefix = format!("http://{}/live/show/", stack.host(Some(*az)));
        let uris = media_uris(&chunklist.text());
        assert!(!uris.is_empty());
        for uri in uris {
            // Invariant 2: absolute and on this AZ's host.
            assert!(
                uri.starts_with(&host_prefix),
                "{az} chunklist URI {uri} is not on {host_prefix}"
            );
            let seg = get_url(stack.edge, &uri).await.unwrap();
            assert_eq!(seg.status, 200, "{uri}");
            assert_eq!(
                seg.header("cache-control"),
                Some("max-age=31536000, immutable")
            );
            let file = seg_dir.join(format!("{az}-{}", uri.rsplit('/').next().unwrap()));
            std::fs::write(&file, &seg.body).unwrap();
            let probe = ffprobe(&file).unwrap();
            assert!(
                probe.stderr.trim().is_empty(),
                "ffprobe on {uri}: {}",
                probe.stderr
            );
            assert!(
                probe
                    .codec("video")
                    .is_some_and(|s| s["codec_name"] == "h264"),
                "{uri}: no h264 stream"
            );
            assert!(
                probe
                    .codec("audio")
                    .is_some_and(|s| s["codec_name"] == "aac"),
                "{uri}: no aac stream"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&seg_dir);

    // Path mode: every URI carries its /azN/ prefix.
    for az in Az::ALL {
        let resp = get(
            stack.edge,
            &stack.edge.to_string(),
            &format!("/{az}/live/show/chunklist.m3u8"),
        )
        .await
        .unwrap();
        let prefix = format!("http://{}/{az}/live/show/", stack.edge);
        for uri in media_uris(&resp.text()) {
            assert!(
                uri.starts_with(&prefix),
                "path mode URI {uri} lacks {prefix}"
            );
        }
    }

    // The player page and its hls.js come from the edge itself (no CDN).
    let page = get(stack.edge, &stack.edge.to_string(), "/").await.unwrap();
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .is_some_and(|c| c.starts_with("text/html"))
    );
    assert!(
        page.text().contains("hls.min.js"),
        "player page does not load hls.js"
    );
    let hls = get(stack.edge, &stack.edge.to_string(), "/hls.min.js")
        .await
        .unwrap();
    assert_eq!(hls.status, 200);
    assert!(
        hls.body.len() > 100_000,
        "hls.min.js is {} bytes",
        hls.body.len()
    );

    // Each ingest's metrics count what it uploaded.
    for (i, az) in Az::ALL.iter().enumerate() {
        let health = stack.health[i];
        let metrics = get(health, &health.to_string(), "/metrics")
            .await
            .unwrap()
            .text();
        let uploaded = metrics
            .lines()
            .find(|l| l.starts_with("zonecast_segments_uploaded_total"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok());
        assert!(
            uploaded.is_some_and(|n| n >= 6.0),
            "{az} metrics: {metrics}"
        );
    }
}

/// Hostile names and garbage are refused with a log line; a good stream next to them goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_and_others_never_notice() {
    if !require_tool("ffmpeg") {
        return;
    }
    let flv = make_flv(StreamSpec::E2E).unwrap();
    let mut stack = LocalStack::start(&[]).unwrap();
    let good = StreamName::new("live", "good").unwrap();
    let mut encoder = publish(&flv, &stack.rtmp_url(Az::Az1, "live", "good"), true).unwrap();

    // Wait for the good stream to be live.
    let deadline = Instant::now() + Duration::from_secs(20);
    while stack.index(Az::Az1, &good).await.unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "good stream never indexed; log:\n{}",
            stack.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let before = stack
        .index(Az::Az1, &good)
        .await
        .unwrap()
        .unwrap()
        .last_msn();

    // Garbage on the RTMP port.
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(stack.rtmp[0]).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 64];
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("garbage connection not closed");
        assert!(matches!(n, Ok(0) | Err(_)), "server answered garbage");
    }
    assert!(
        stack.wait_log("handshake failed", Duration::from_secs(5)),
        "no log line for garbage:\n{}",
        stack.log_text()
    );

    // Hostile names: refused at publish, with a clear log line.
    let long = "x".repeat(65);
    for (app, stream) in [
        ("live", "bad.name"),
        ("live", long.as_str()),
        ("li$ve", "show"),
        ("live", "sh%2F..%2Fow"),
    ] {
        let url = format!("rtmp://{}/{app}/{stream}", stack.rtmp[0]);
        let out = publish(&flv, &url, false)
            .unwrap()
            .wait_with_output()
            .unwrap();
        assert!(!out.status.success(), "publish to {url} was accepted");
    }
    assert!(
        stack.wait_log("bad stream name", Duration::from_secs(5))
            || stack.wait_log("bad app name", Duration::from_secs(1)),
        "no refusal log line:\n{}",
        stack.log_text()
    );
    assert!(!stack.data_dir.join("zonecast/az1/live/bad.name").exists());

    // rml_rtmp panics on a lone `["@setDataFrame"]` data message: replay ffmpeg's captured
    // publish (as live/boom) to the real ingest, then send that message. The connection is
    // closed with a log line; the process and the other stream go on.
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../ingest/tests/fixtures/");
        let capture =
            std::fs::read(format!("{fixtures}ffmpeg5_publish_live_show.rtmp.bin")).unwrap();
        let sync: Vec<usize> =
            std::fs::read_to_string(format!("{fixtures}ffmpeg5_publish_live_show.sync.txt"))
                .unwrap()
                .lines()
                .map(|l| l.parse().unwrap())
                .collect();
        let mut publish_bytes = capture[..sync[1]].to_vec();
        for i in 0..publish_bytes.len().saturating_sub(4) {
            if &publish_bytes[i..i + 4] == b"show" {
                publish_bytes[i..i + 4].copy_from_slice(b"boom");
            }
        }
        let mut s = tokio::net::TcpStream::connect(stack.rtmp[0]).await.unwrap();
        let mut buf = vec![0u8; 16 * 1024];
        for piece in [&publish_bytes[..sync[0]], &publish_bytes[sync[0]..]] {
            s.write_all(piece).await.unwrap();
            // Take the server's answers before sending on, as ffmpeg did.
            while let Ok(Ok(n)) =
                tokio::time::timeout(Duration::from_millis(500), s.read(&mut buf)).await
            {
                assert!(
                    n > 0,
                    "ingest closed the replayed publish early:\n{}",
                    stack.log_text()
                );
            }
        }
        // AMF0 data message (type 18) on message stream 1, chunk stream 4: the string
        // "@setDataFrame" and nothing else.
        let mut msg = vec![0x04, 0, 0, 0, 0, 0, 16, 18, 1, 0, 0, 0, 0x02, 0x00, 0x0d];
        msg.extend_from_slice(b"@setDataFrame");
        s.write_all(&msg).await.unwrap();
        let closed = loop {
            match tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break true,
                Ok(Ok(_)) => continue,
                Err(_) => break false,
            }
        };
        assert!(closed, "the connection survived a parser panic");
    }
    assert!(
        stack.wait_log("RTMP parser panicked", Duration::from_secs(5)),
        "no log line for the contained panic:\n{}",
        stack.log_text()
    );
    let health = get(stack.health[0], &stack.health[0].to_string(), "/healthz")
        .await
        .unwrap();
    assert_eq!(health.status, 200, "the az1 ingest process is gone");

    // The good stream kept going.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let after = stack
            .index(Az::Az1, &good)
            .await
            .unwrap()
            .unwrap()
            .last_msn();
        if after > before {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "good stream stalled ({before:?} → {after:?}); log:\n{}",
            stack.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = encoder.kill();
    let _ = encoder.wait();
}

/// Each AZ's ingest is its own process: kill az1 for real mid-stream. Once its index is older
/// than 1.5 target durations, the multivariant playlist lists only az2 and az1's chunklist
/// answers 404 (players fail over at once on a 4xx), within 3 s of az1's last segment, while
/// az2 goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_one_az_moves_viewers_to_the_other() {
    if !require_tool("ffmpeg") {
        return;
    }
    let flv = make_flv(StreamSpec::FAILOVER).unwrap();
    let mut stack = LocalStack::start(&["--target-duration-ms", "1000"]).unwrap();
    let name = StreamName::new("live", "show").unwrap();
    let urls = [
        stack.rtmp_url(Az::Az1, "live", "show"),
        stack.rtmp_url(Az::Az2, "live", "show"),
    ];
    let mut encoder = publish_tee(&flv, &urls).unwrap();
    let neutral = stack.host(None);
    let variants = |text: &str| match parse_playlist(text) {
        Playlist::MasterPlaylist(m) => m.variants.into_iter().map(|v| v.uri).collect::<Vec<_>>(),
        Playlist::MediaPlaylist(_) => panic!("expected a multivariant playlist:\n{text}"),
    };

    // Both AZs live, both listed.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let both = stack
            .index(Az::Az1, &name)
            .await
            .unwrap()
            .is_some_and(|i| i.segments.len() >= 2)
            && stack
                .index(Az::Az2, &name)
                .await
                .unwrap()
                .is_some_and(|i| i.segments.len() >= 2);
        if both {
            let mv = get(stack.edge, &neutral, "/live/show/playlist.m3u8")
                .await
                .unwrap();
            if mv.status == 200 && variants(&mv.text()).len() == 2 {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "both AZs never went live; log:\n{}",
            stack.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Kill az1's ingest process (its pid comes from its health endpoint).
    let health = stack.health[0];
    let body = get(health, &health.to_string(), "/healthz")
        .await
        .unwrap()
        .text();
    let pid: serde_json::Value = serde_json::from_str(&body).unwrap();
    let pid = pid["pid"].as_u64().expect("pid in /healthz").to_string();
    assert!(
        Command::new("kill")
            .args(["-9", &pid])
            .status()
            .unwrap()
            .success()
    );
    let killed = Instant::now();
    let last_az1 = stack
        .index(Az::Az1, &name)
        .await
        .unwrap()
        .expect("az1 index")
        .updated;

    // Within 3 s of az1's last segment: az1 is dead, az2 live.
    let az2_prefix = format!("http://{}/", stack.host(Some(Az::Az2)));
    let deadline = Instant::now() + Duration::from_secs(20);
    let chunklist1 = loop {
        let c1 = get(
            stack.edge,
            &stack.host(Some(Az::Az1)),
            "/live/show/chunklist.m3u8",
        )
        .await
        .unwrap();
        if c1.status == 404 {
            break c1;
        }
        assert!(
            Instant::now() < deadline,
            "az1's chunklist still answers {} {:?} after the kill",
            c1.status,
            killed.elapsed(),
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Detection: the last index az1 wrote, to the first 404 through the edge (its cache
    // included).
    let detected_after = (chrono::Utc::now() - last_az1).num_milliseconds();
    println!(
        "dead AZ detected {detected_after} ms after its last segment ({:?} after the kill)",
        killed.elapsed()
    );
    assert!(
        detected_after < 3000,
        "az1 was declared dead {detected_after} ms after its last segment (limit 3000)"
    );
    // New viewers: the multivariant playlist (cached up to 5 s) lists az2 alone.
    let mv = loop {
        let mv = get(stack.edge, &neutral, "/live/show/playlist.m3u8")
            .await
            .unwrap();
        if mv.status == 200 && variants(&mv.text()).len() == 1 {
            break mv;
        }
        assert!(
            Instant::now() < deadline,
            "the multivariant playlist still lists {} variants {:?} after the kill",
            variants(&mv.text()).len(),
            killed.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let only = variants(&mv.text());
    assert!(
        only[0].starts_with(&az2_prefix),
        "remaining variant {} is not on az2",
        only[0]
    );
    assert_eq!(chunklist1.header("cache-control"), Some("max-age=1"));
    assert_eq!(chunklist1.header("access-control-allow-origin"), Some("*"));

    // az2 keeps moving.
    let last = |text: &str| media_uris(text).last().cloned();
    let before = get(
        stack.edge,
        &stack.host(Some(Az::Az2)),
        "/live/show/chunklist.m3u8",
    )
    .await
    .unwrap();
    assert_eq!(before.status, 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let after = get(
            stack.edge,
            &stack.host(Some(Az::Az2)),
            "/live/show/chunklist.m3u8",
        )
        .await
        .unwrap();
        assert_eq!(after.status, 200);
        if last(&before.text()) != last(&after.text()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "az2 stopped moving after az1 died"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = encoder.kill();
    let _ = encoder.wait();
}
