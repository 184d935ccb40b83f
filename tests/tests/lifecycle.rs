//! The life of a stream end to end, on the real `zonecast-local`: a planned drain on SIGTERM
//! and a stream that ends and is published again (edge purge, unique segment URLs).

use std::{
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use zonecast_contract::{Az, StreamName, StreamState, keys};
use zonecast_tests::{
    faults::{FaultMode, FaultProxy},
    http::get,
    media::{StreamSpec, make_flv, publish, publish_tee},
    media_uris, require_tool,
    stack::LocalStack,
    wait_for,
};

/// SIGTERM to az1's ingest while it packages a live stream: it closes its open segment,
/// uploads it and a final index that says `draining`, and exits; az1's chunklist answers 404
/// at once (viewers move) and the multivariant playlist lists az2 alone, which goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_the_az_and_viewers_move_at_once() {
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
    let s3 = stack.s3().await;
    let index = |az| {
        let s3 = s3.clone();
        let name = name.clone();
        async move {
            zonecast_contract::s3::get_index(&s3, zonecast_tests::stack::BUCKET, az, &name)
                .await
                .unwrap()
        }
    };
    wait_for(
        Duration::from_secs(30),
        "both AZs live with 3 segments",
        || async {
            let a = index(Az::Az1).await?;
            let b = index(Az::Az2).await?;
            (a.segments.len() >= 3 && b.segments.len() >= 3).then_some(())
        },
    )
    .await;

    let pid = stack.ingest_pid(Az::Az1).await.unwrap();
    let before = index(Az::Az1).await.unwrap();
    zonecast_tests::stack::send_signal(pid, libc::SIGTERM).unwrap();
    let signalled = Instant::now();
    let drained = wait_for(
        Duration::from_secs(12),
        "az1 writes a draining index",
        || async {
            index(Az::Az1)
                .await
                .filter(|i| i.state == StreamState::Draining)
        },
    )
    .await;
    println!(
        "az1 draining index written {:?} after SIGTERM",
        signalled.elapsed()
    );
    // The open segment was closed and uploaded, not dropped.
    assert!(
        drained.last_msn() > before.last_msn(),
        "the open segment was lost: {:?} then {:?}",
        before.last_msn(),
        drained.last_msn()
    );
    for seg in &drained.segments {
        let key = keys::segment_key(
            Az::Az1,
            &name,
            keys::SegmentId {
                epoch: drained.epoch,
                msn: seg.msn,
            },
        );
        assert!(stack.exists(&key).await.unwrap(), "{key} missing");
    }
    // Viewers move at once: a 404 with a 1 s lifetime, and az2 alone in the multivariant.
    let c1 = wait_for(
        Duration::from_secs(2),
        "az1 chunklist answers 404",
        || async {
            let c1 = get(
                stack.edge,
                &stack.host(Some(Az::Az1)),
                "/live/show/chunklist.m3u8",
            )
            .await
            .unwrap();
            (c1.status == 404).then_some(c1)
        },
    )
    .await;
    assert_eq!(c1.header("cache-control"), Some("max-age=1"));
    assert!(c1.text().contains("draining"), "{}", c1.text());
    let az2_host = stack.host(Some(Az::Az2));
    wait_for(
        Duration::from_secs(6),
        "multivariant lists az2 alone",
        || async {
            let mv = get(stack.edge, &stack.host(None), "/live/show/playlist.m3u8")
                .await
                .unwrap();
            let text = mv.text();
            (mv.status == 200 && text.contains(&az2_host) && !text.contains("media-hls-az1"))
                .then_some(())
        },
    )
    .await;
    // The process exits by itself, having drained.
    assert!(
        stack.wait_log("drained", Duration::from_secs(12)),
        "az1 never logged that it drained:\n{}",
        stack.log_text()
    );
    assert!(
        stack.wait_log("the az1 ingest process exited", Duration::from_secs(5)),
        "az1 did not exit after draining:\n{}",
        stack.log_text()
    );
    // az2 carries on.
    let az2_last = index(Az::Az2).await.unwrap().last_msn();
    wait_for(Duration::from_secs(5), "az2 keeps producing", || async {
        (index(Az::Az2).await?.last_msn() > az2_last).then_some(())
    })
    .await;
    let _ = encoder.kill();
    let _ = encoder.wait();
}

/// A stream ends (ENDLIST, cached for a day at the edge), every object of it is deleted (as
/// the bucket's retention would), and it is published again: the edge serves the new live
/// chunklist within 2 s of its first index, in host mode and in path mode (the ingest purged
/// the edge through the same invalidation interface as CloudFront's, both URIs of each
/// playlist: the edge, like CloudFront's guide, drops a host-mode copy only when both are
/// named), and no segment URL names new content.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_published_again_is_clean_everywhere() {
    if !require_tool("ffmpeg") {
        return;
    }
    let flv = make_flv(StreamSpec::FAILOVER).unwrap();
    let mut stack = LocalStack::start(&[
        "--target-duration-ms",
        "1000",
        "--reconnect-grace-secs",
        "1",
    ])
    .unwrap();
    let name = StreamName::new("live", "again").unwrap();
    let urls = [
        stack.rtmp_url(Az::Az1, "live", "again"),
        stack.rtmp_url(Az::Az2, "live", "again"),
    ];
    let s3 = stack.s3().await;
    let (edge, az1_host) = (stack.edge, stack.host(Some(Az::Az1)));
    let chunklist = || async {
        get(edge, &az1_host, "/live/again/chunklist.m3u8")
            .await
            .unwrap()
    };
    let path_mode = edge.to_string();
    let path_chunklist = || async {
        get(edge, &path_mode, "/az1/live/again/chunklist.m3u8")
            .await
            .unwrap()
    };

    // First show: publish a few seconds, stop, wait for the end.
    let mut encoder = publish_tee(&flv, &urls).unwrap();
    let index = |az| {
        let s3 = s3.clone();
        let name = name.clone();
        async move {
            zonecast_contract::s3::get_index(&s3, zonecast_tests::stack::BUCKET, az, &name)
                .await
                .unwrap()
        }
    };
    wait_for(
        Duration::from_secs(30),
        "first show has 3 segments",
        || async { (index(Az::Az1).await?.segments.len() >= 3).then_some(()) },
    )
    .await;
    let _ = encoder.kill();
    let _ = encoder.wait();
    let ended = wait_for(Duration::from_secs(10), "edge serves ENDLIST", || async {
        let c = chunklist().await;
        (c.status == 200 && c.text().contains("#EXT-X-ENDLIST")).then_some(c)
    })
    .await;
    assert_eq!(ended.header("cache-control"), Some("max-age=86400"));
    assert!(
        chunklist()
            .await
            .header("x-cache")
            .unwrap_or("")
            .starts_with("Hit")
    );
    let old_uris = media_uris(&ended.text());
    let ended_path_mode = path_chunklist().await;
    assert!(ended_path_mode.text().contains("#EXT-X-ENDLIST"));
    assert!(
        path_chunklist()
            .await
            .header("x-cache")
            .unwrap_or("")
            .starts_with("Hit")
    );

    // Retention deletes everything of the stream, in both AZs.
    let listed = s3
        .list_objects_v2()
        .bucket(zonecast_tests::stack::BUCKET)
        .send()
        .await
        .unwrap();
    let mut deleted = 0;
    for obj in listed.contents() {
        let key = obj.key().unwrap_or_default();
        if key.contains("/live/again/") {
            s3.delete_object()
                .bucket(zonecast_tests::stack::BUCKET)
                .key(key)
                .send()
                .await
                .unwrap();
            deleted += 1;
        }
    }
    assert!(deleted > 6, "deleted only {deleted} objects");
    assert!(index(Az::Az1).await.is_none());

    // Second show, same name.
    let mut encoder = publish_tee(&flv, &urls).unwrap();
    let first = wait_for(
        Duration::from_secs(20),
        "second show's first index",
        || async {
            index(Az::Az1)
                .await
                .filter(|i| i.state == StreamState::Live)
        },
    )
    .await;
    let first_seen = Instant::now();
    let live = wait_for(
        Duration::from_secs(5),
        "edge serves the new live chunklist",
        || async {
            let (c, p) = (chunklist().await, path_chunklist().await);
            let fresh = |c: &zonecast_tests::http::HttpResponse| {
                c.status == 200 && !c.text().contains("#EXT-X-ENDLIST")
            };
            (fresh(&c) && fresh(&p)).then_some(c)
        },
    )
    .await;
    let took = first_seen.elapsed();
    println!("new live chunklist at the edge {took:?} after its first index");
    assert!(
        took < Duration::from_secs(2),
        "the ended chunklist stayed cached for {took:?}"
    );
    assert!(
        stack.log_text().contains("edge invalidation"),
        "the edge was never purged:\n{}",
        stack.log_text()
    );
    let new_uris = media_uris(&live.text());
    assert!(!new_uris.is_empty());
    for uri in &new_uris {
        assert!(
            !old_uris.contains(uri),
            "{uri} named the first show's content and now names the second's"
        );
    }
    assert_ne!(first.segments.first().map(|s| s.msn), None);
    let _ = encoder.kill();
    let _ = encoder.wait();
}

/// A second encoder publishes a name that is already live on az1 (an encoder restarted while
/// its old connection lingers) while the store throttles (`503 SlowDown`, so the old publish
/// has a backlog): with the default duplicate policy (`replace-old`) the new one takes over,
/// the old connection is closed, and the stream goes on through the replaced publish's
/// uploader and numbering, so az1's index never goes back to the old session or to an older
/// segment, and every segment it names is in the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_publisher_replaces_the_old_one_and_the_index_never_goes_back() {
    if !require_tool("ffmpeg") {
        return;
    }
    let flv = make_flv(StreamSpec::FAILOVER).unwrap();
    let proxy = FaultProxy::start().await.unwrap();
    let endpoint = format!("http://{}", proxy.addr);
    let mut stack = LocalStack::start(&[
        "--target-duration-ms",
        "1000",
        "--ingest-endpoint",
        &endpoint,
    ])
    .unwrap();
    proxy.set_upstream(stack.store);
    let name = StreamName::new("live", "twice").unwrap();
    let url = stack.rtmp_url(Az::Az1, "live", "twice");
    let first = publish(&flv, &url, true).unwrap();
    let s3 = stack.s3().await;
    let index = || {
        let (s3, name) = (s3.clone(), name.clone());
        async move {
            zonecast_contract::s3::get_index(&s3, zonecast_tests::stack::BUCKET, Az::Az1, &name)
                .await
                .unwrap()
        }
    };
    let before = wait_for(
        Duration::from_secs(30),
        "az1 live with 2 segments",
        || async { index().await.filter(|i| i.segments.len() >= 2) },
    )
    .await;
    // The store throttles while the second encoder takes over, then recovers: both the old
    // publish's backlog and the new publish's first uploads are waiting when it does.
    proxy.set_mode(FaultMode::SlowDown);
    let mut second = publish(&flv, &url, true).unwrap();
    assert!(
        stack.wait_log("replaced by a new publisher", Duration::from_secs(10)),
        "the second encoder never took over:\n{}",
        stack.log_text()
    );
    let throttled = proxy.counts.slow_down.load(Ordering::Relaxed);
    wait_for(
        Duration::from_secs(10),
        "more throttled uploads",
        || async {
            (proxy.counts.slow_down.load(Ordering::Relaxed) >= throttled + 10).then_some(())
        },
    )
    .await;
    proxy.set_mode(FaultMode::Pass);
    // Every index az1 writes from now on, until the new session has cut 3 segments.
    let mut seen = vec![before.clone()];
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(
            Instant::now() < deadline,
            "the new session never cut 3 segments: {:?}",
            seen.last().map(|i| (&i.session, i.last_msn()))
        );
        if let Some(i) = index().await
            && seen.last() != Some(&i)
        {
            let new_session_segments = i
                .segments
                .iter()
                .filter(|s| s.msn > before.last_msn().unwrap_or(0) + 1)
                .count();
            let done = i.session != before.session && new_session_segments >= 3;
            seen.push(i);
            if done {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for pair in seen.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        assert!(b.updated >= a.updated, "the index went back in time");
        assert!(
            b.last_msn() >= a.last_msn(),
            "the index went back: {:?} then {:?}",
            a.last_msn(),
            b.last_msn()
        );
        assert!(
            !(a.session != before.session && b.session == before.session),
            "the old session's index overwrote the new one's"
        );
    }
    let last = seen.last().unwrap();
    assert_eq!(
        last.epoch, before.epoch,
        "a replacement keeps the numbering epoch"
    );
    assert!(
        last.segments.iter().any(|s| s.discontinuity),
        "the new session starts with a discontinuity"
    );
    for seg in &last.segments {
        let key = keys::segment_key(
            Az::Az1,
            &name,
            keys::SegmentId {
                epoch: last.epoch,
                msn: seg.msn,
            },
        );
        assert!(stack.exists(&key).await.unwrap(), "{key} missing");
    }
    // The old connection was closed: the first ffmpeg ends on its own, long before its file.
    let first = std::sync::Mutex::new(first);
    let closed = wait_for(
        Duration::from_secs(10),
        "the first encoder's connection closed",
        || {
            let status = first.lock().unwrap().try_wait().ok().flatten();
            async move { status }
        },
    )
    .await;
    println!(
        "replace-old: first encoder exited with {closed}, {} indexes observed",
        seen.len()
    );
    let _ = second.kill();
    let _ = second.wait();
}
