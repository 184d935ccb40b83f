//! Detection of a dead AZ, end to end at the default 2 s target (issue 17, part 6): ffmpeg
//! publishes two streams to both AZs, az1's ingest is killed (SIGKILL), and the test measures,
//! per stream, the time from az1's last index update (the `updated` time the ingest wrote with
//! its last segment, and the moment a poller of the store saw that index appear) to the first
//! `404` of az1's chunklist through the edge in host mode, polled every 100 ms.
//!
//! The bound asserted is derived from the rule's constants, not a timing target: the index
//! goes stale [`freshness`] after its `updated` time (1.5 target durations), the edge may hold
//! a `200` fetched just before that for one chunklist cache lifetime (half a target, at least
//! 1 s), the poller looks every [`POLL`], and [`SLACK`] covers a request through the edge and
//! a loaded machine. At 2 s: 3 s + 1 s + 0.1 s + 0.5 s = 4.6 s.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use zonecast_contract::{
    Az, StreamIndex, StreamName, health::freshness, playlist::chunklist_cache_control,
    s3::get_index,
};
use zonecast_tests::{
    http::get,
    media::{StreamSpec, make_flv, publish_tee},
    require_tool,
    stack::{BUCKET, LocalStack, send_signal},
    wait_for,
};

/// How often the viewer side asks for az1's chunklist.
const POLL: Duration = Duration::from_millis(100);

/// One request through the edge (origin handler plus a store read) and scheduling on a
/// loaded two-core machine.
const SLACK: Duration = Duration::from_millis(500);

/// The streams: two, started a second apart, so the kill lands at two phases of the 2 s
/// segment cycle.
const STREAMS: [&str; 2] = ["detect-a", "detect-b"];

/// The chunklist cache lifetime the edge gives a live chunklist of `index`.
fn chunklist_lifetime(index: &StreamIndex) -> Duration {
    let cc = chunklist_cache_control(index);
    let secs = cc
        .strip_prefix("max-age=")
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("unexpected chunklist Cache-Control {cc:?}"));
    Duration::from_secs(secs)
}

/// When each stream's az1 index last changed, as seen by a poller of the store (every 50 ms).
#[derive(Default)]
struct Appeared {
    last: [Option<(DateTime<Utc>, DateTime<Utc>)>; STREAMS.len()],
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_az_answers_404_within_the_rules_bound() {
    if !require_tool("ffmpeg") {
        return;
    }
    let flv = make_flv(StreamSpec::BROWSER).unwrap();
    // The default target duration (2 s): no --target-duration-ms.
    let mut stack = LocalStack::start(&[]).unwrap();
    let s3 = stack.s3().await;
    let names: Vec<StreamName> = STREAMS
        .iter()
        .map(|s| StreamName::new("live", s).unwrap())
        .collect();

    // The store poller: when did each az1 index (its `updated`) last appear?
    let appeared = Arc::new(Mutex::new(Appeared::default()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poller = {
        let (s3, names, appeared, stop) =
            (s3.clone(), names.clone(), appeared.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for (i, name) in names.iter().enumerate() {
                    if let Ok(Some(index)) = get_index(&s3, BUCKET, Az::Az1, name).await {
                        let mut a = appeared.lock().unwrap();
                        if a.last[i].is_none_or(|(updated, _)| updated != index.updated) {
                            a.last[i] = Some((index.updated, Utc::now()));
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };

    let mut encoders = Vec::new();
    for stream in STREAMS {
        let urls = [
            stack.rtmp_url(Az::Az1, "live", stream),
            stack.rtmp_url(Az::Az2, "live", stream),
        ];
        encoders.push(publish_tee(&flv, &urls).unwrap());
        tokio::time::sleep(Duration::from_millis(1000)).await;
    }
    wait_for(
        Duration::from_secs(30),
        "both streams live in both AZs with 2 segments",
        || {
            let (s3, names) = (s3.clone(), names.clone());
            async move {
                for name in &names {
                    for az in [Az::Az1, Az::Az2] {
                        let index = get_index(&s3, BUCKET, az, name).await.ok()??;
                        (index.segments.len() >= 2).then_some(())?;
                    }
                }
                Some(())
            }
        },
    )
    .await;
    let az1_host = stack.host(Some(Az::Az1));
    for stream in STREAMS {
        let c = get(
            stack.edge,
            &az1_host,
            &format!("/live/{stream}/chunklist.m3u8"),
        )
        .await
        .unwrap();
        assert_eq!(c.status, 200, "az1's {stream} chunklist before the kill");
    }

    let pid = stack.ingest_pid(Az::Az1).await.unwrap();
    send_signal(pid, libc::SIGKILL).unwrap();
    let killed = Instant::now();

    // Every 100 ms through the edge, host mode, until each stream's az1 chunklist is a 404.
    let mut first_404: [Option<DateTime<Utc>>; STREAMS.len()] = [None; STREAMS.len()];
    let deadline = Instant::now() + Duration::from_secs(15);
    while first_404.iter().any(Option::is_none) {
        for (i, stream) in STREAMS.iter().enumerate() {
            if first_404[i].is_some() {
                continue;
            }
            let c = get(
                stack.edge,
                &az1_host,
                &format!("/live/{stream}/chunklist.m3u8"),
            )
            .await
            .unwrap();
            if c.status == 404 {
                first_404[i] = Some(Utc::now());
            } else {
                assert_eq!(c.status, 200, "az1's {stream} chunklist: {}", c.text());
            }
        }
        assert!(
            Instant::now() < deadline,
            "az1's chunklists still answer 200 {:?} after the kill",
            killed.elapsed()
        );
        tokio::time::sleep(POLL).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    poller.await.unwrap();

    let appeared = appeared.lock().unwrap().last;
    let mut report = Vec::new();
    for (i, name) in names.iter().enumerate() {
        // The index az1 left behind (read after the 404: an upload in flight at the kill has
        // landed or never will).
        let index = get_index(&s3, BUCKET, Az::Az1, name)
            .await
            .unwrap()
            .expect("az1's index");
        let stale_after = freshness(&index).to_std().unwrap();
        let cache = chunklist_lifetime(&index);
        let bound = stale_after + cache + POLL + SLACK;
        let detected = first_404[i].unwrap();
        let from_updated = (detected - index.updated).to_std().unwrap_or_default();
        let from_appeared = appeared[i]
            .filter(|(updated, _)| *updated == index.updated)
            .map(|(_, seen)| (detected - seen).to_std().unwrap_or_default());
        report.push(format!(
            "{name}: 404 {} ms after az1's last index update, {} after it appeared in the store \
             (bound {} ms = stale {} ms + chunklist cache {} ms + poll {} ms + slack {} ms)",
            from_updated.as_millis(),
            from_appeared.map_or("?".into(), |d| format!("{} ms", d.as_millis())),
            bound.as_millis(),
            stale_after.as_millis(),
            cache.as_millis(),
            POLL.as_millis(),
            SLACK.as_millis(),
        ));
        assert_eq!(
            index.playlist_target_duration(),
            2,
            "not the default 2 s target"
        );
        assert!(
            from_updated <= bound,
            "{name}: az1 answered 404 {from_updated:?} after its last index update (bound {bound:?})"
        );
        // The rule itself: never before the index went stale.
        assert!(
            from_updated > stale_after,
            "{name}: 404 {from_updated:?} after the last update, before the index was stale ({stale_after:?})"
        );
    }
    println!(
        "detection at the default 2 s target, {:?} after the kill:",
        killed.elapsed()
    );
    for line in &report {
        println!("  {line}");
    }
    for mut e in encoders {
        let _ = e.kill();
        let _ = e.wait();
    }
}
