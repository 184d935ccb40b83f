//! Relay for single-output encoders (issue #10): one ffmpeg publishes to az1 only; az1's
//! ingest relays it to az2 (zonecast-local wires each ingest to the other by default), and
//! az2 serves the same segment numbers, durations and timeline, byte for byte. Then az2's
//! ingest is killed (SIGKILL) and restarted mid-stream: az1 never stops packaging, and az2
//! rejoins the numbering once the relay reconnects.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use serde_json::Value;
use zonecast_contract::{Az, StreamIndex, StreamName, keys};
use zonecast_tests::{
    http::{get, post},
    media::{StreamSpec, ffprobe, make_flv, publish, work_dir},
    require_tool,
    stack::{LocalStack, az_index},
    wait_exit, wait_for,
};

/// An ingest's `/status` stream entry for `live/show`.
async fn ingest_stream(stack: &LocalStack, az: Az) -> Option<Value> {
    let addr = stack.health[az_index(az)];
    let r = get(addr, &addr.to_string(), "/status").await.ok()?;
    let doc: Value = serde_json::from_slice(&r.body).ok()?;
    doc["streams"]
        .as_array()?
        .iter()
        .find(|s| s["name"] == "live/show")
        .cloned()
}

/// `(msn, duration_ms, timeline_ms)` by msn.
fn shape(index: &StreamIndex) -> BTreeMap<u64, (u32, i64)> {
    index
        .segments
        .iter()
        .map(|s| (s.msn, (s.duration_ms, s.timeline_ms)))
        .collect()
}

/// Compares the segments both indexes list: same duration and timeline start, same bytes
/// (deterministic muxing of the same timeline); ffprobe judges az2's copy. Returns how many
/// were compared.
async fn compare(
    stack: &mut LocalStack,
    name: &StreamName,
    a1: &StreamIndex,
    a2: &StreamIndex,
    same_bytes: bool,
) -> (usize, usize) {
    let (s1, s2) = (shape(a1), shape(a2));
    let (mut compared, mut identical) = (0, 0);
    for (msn, got) in &s2 {
        let Some(want) = s1.get(msn) else { continue };
        assert_eq!(
            got, want,
            "segment {msn}: az2 (duration_ms, timeline_ms) differs from az1's"
        );
        let key = |az: Az, index: &StreamIndex| {
            keys::segment_key(
                az,
                name,
                keys::SegmentId {
                    epoch: index.epoch,
                    msn: *msn,
                },
            )
        };
        let b1 = stack.object(&key(Az::Az1, a1)).await.unwrap();
        let b2 = stack.object(&key(Az::Az2, a2)).await.unwrap();
        if b1 == b2 {
            identical += 1;
        } else {
            // Where they differ: byte offsets modulo the TS packet size.
            let at: BTreeMap<usize, usize> = b1
                .iter()
                .zip(&b2)
                .enumerate()
                .filter(|(_, (x, y))| x != y)
                .fold(BTreeMap::new(), |mut m, (i, _)| {
                    *m.entry(i % 188).or_default() += 1;
                    m
                });
            assert!(
                !same_bytes,
                "segment {msn}: az1 and az2 muxed different bytes ({} vs {}), differing at offsets mod 188: {at:?}",
                b1.len(),
                b2.len()
            );
            // A restarted ingest's muxer starts its continuity counters afresh: after a
            // rejoin only they may differ (the low nibble of each TS header's 4th byte).
            assert!(
                at.keys().all(|&o| o == 3) && b1.len() == b2.len(),
                "segment {msn}: az1 and az2 differ beyond the continuity counters: {at:?}"
            );
            println!(
                "segment {msn}: identical but for the continuity counters ({} packets)",
                at[&3]
            );
        }
        let path = work_dir().join(format!("relay-az2-{}-{msn}.ts", std::process::id()));
        std::fs::write(&path, &b2).unwrap();
        let probe = ffprobe(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        let video = probe.codec("video").expect("video in the relayed segment");
        assert_eq!(video["codec_name"], "h264", "segment {msn}");
        assert_eq!(video["width"], 320, "segment {msn}");
        let audio = probe.codec("audio").expect("audio in the relayed segment");
        assert_eq!(audio["codec_name"], "aac", "segment {msn}");
        let duration = probe.duration.expect("a duration");
        assert!(
            (duration - f64::from(got.0) / 1000.0).abs() < 0.2,
            "segment {msn}: ffprobe says {duration} s, the index {} ms",
            got.0
        );
        compared += 1;
    }
    (compared, identical)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_output_encoder_feeds_both_azs_and_a_restarted_peer_rejoins() {
    if !require_tool("ffmpeg") || !require_tool("ffprobe") {
        return;
    }
    let flv = make_flv(StreamSpec {
        seconds: 45,
        ..StreamSpec::FAILOVER
    })
    .unwrap();
    let mut stack = LocalStack::start(&["--target-duration-ms", "1000"]).unwrap();
    let name = StreamName::new("live", "show").unwrap();
    // One output, to az1 only.
    let mut encoder = publish(&flv, &stack.rtmp_url(Az::Az1, "live", "show"), true).unwrap();

    // az2 packages the relayed stream.
    let mut last2 = 0;
    for _ in 0..300 {
        if let Some(i) = stack.index(Az::Az2, &name).await.unwrap()
            && i.segments.len() >= 4
        {
            last2 = i.last_msn().unwrap_or(0);
            break;
        }
        assert!(
            encoder.try_wait().unwrap().is_none(),
            "ffmpeg stopped early"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        last2 > 0,
        "az2 never listed 4 segments; log:\n{}",
        stack.log_text()
    );

    // Each ingest's /status says what the relay does.
    let peer = stack.rtmp[1].to_string();
    let relay1 = wait_for(
        Duration::from_secs(10),
        "az1 says it relays to az2",
        || async {
            let s = ingest_stream(&stack, Az::Az1).await?;
            (s["relay"]["state"] == "relaying").then(|| s["relay"].clone())
        },
    )
    .await;
    assert_eq!(relay1["peer"], peer.as_str());
    assert_eq!(relay1["connects"], 1);
    let relay2 = ingest_stream(&stack, Az::Az2).await.expect("az2 /status");
    assert_eq!(relay2["relay"]["relayed_from"], "az1", "{relay2}");
    assert_eq!(
        relay2["relay"]["state"], "off",
        "a relayed publish is never relayed again"
    );

    // Same numbers, durations, timeline and bytes.
    let a1 = stack.index(Az::Az1, &name).await.unwrap().unwrap();
    let a2 = stack.index(Az::Az2, &name).await.unwrap().unwrap();
    let (before, _) = compare(&mut stack, &name, &a1, &a2, true).await;
    assert!(before >= 3, "only {before} segments in both AZs");
    println!("before the restart: {before} segments identical in both AZs (az2 up to msn {last2})");

    // Kill az2's ingest mid-stream and start it again.
    let edge = stack.edge.to_string();
    let old_pid = stack.ingest_pid(Az::Az2).await.unwrap();
    let az1_at_kill = stack
        .index(Az::Az1, &name)
        .await
        .unwrap()
        .unwrap()
        .last_msn()
        .unwrap_or(0);
    let killed = post(stack.edge, &edge, "/status/az2/kill").await.unwrap();
    assert_eq!(killed.status, 200, "{}", killed.text());
    let killed_at = Instant::now();
    // The relay notices and backs off.
    wait_for(Duration::from_secs(10), "az1's relay backs off", || async {
        let s = ingest_stream(&stack, Az::Az1).await?;
        matches!(
            s["relay"]["state"].as_str(),
            Some("backing-off" | "connecting")
        )
        .then_some(())
    })
    .await;
    let restarted = post(stack.edge, &edge, "/status/az2/restart")
        .await
        .unwrap();
    assert_eq!(restarted.status, 200, "{}", restarted.text());

    // az2 rejoins: a new process, new segments numbered on az1's numbering.
    let rejoined = wait_for(
        Duration::from_secs(30),
        "az2 rejoins after its restart",
        || async {
            let pid = stack.ingest_pid(Az::Az2).await.ok()?;
            let s = ingest_stream(&stack, Az::Az2).await?;
            let msn = s["last_segment"]["msn"].as_u64()?;
            (pid != old_pid && msn > last2 + 2).then_some(msn)
        },
    )
    .await;
    println!(
        "az2 rejoined {:.1} s after the kill, at msn {rejoined} (had {last2})",
        killed_at.elapsed().as_secs_f64()
    );
    let relay1 = ingest_stream(&stack, Az::Az1).await.expect("az1 /status")["relay"].clone();
    assert_eq!(relay1["state"], "relaying", "{relay1}");
    assert!(relay1["connects"].as_u64() >= Some(2), "{relay1}");

    // The restarted az2 follows az1's numbering and timeline for the segments it cut.
    let s3 = stack.s3().await;
    let a2 = wait_for(
        Duration::from_secs(10),
        "two new segments in az2",
        || async {
            let get = zonecast_contract::s3::get_index(
                &s3,
                zonecast_tests::stack::BUCKET,
                Az::Az2,
                &name,
            );
            let i = get.await.ok()??;
            (i.segments.iter().filter(|s| s.msn > last2).count() >= 2).then_some(i)
        },
    )
    .await;
    // az1 is ahead of az2 (its segments are cut first): read it after az2's.
    let a1 = stack.index(Az::Az1, &name).await.unwrap().unwrap();
    // az1 never stopped: its numbering went on through the outage, without a gap, and it has
    // every number the restarted az2 has.
    let last1 = a1.last_msn().unwrap_or(0);
    assert!(
        last1 > az1_at_kill && last1 >= a2.last_msn().unwrap_or(0),
        "az1 stalled: msn {az1_at_kill} at the kill, {last1} now, az2 at {:?}",
        a2.last_msn()
    );
    let msns: Vec<u64> = a1.segments.iter().map(|s| s.msn).collect();
    assert!(
        msns.windows(2).all(|w| w[1] == w[0] + 1),
        "az1 msns: {msns:?}"
    );
    assert!(
        !a1.segments.iter().any(|s| s.discontinuity),
        "az1 index: {a1:?}"
    );
    let (after, identical) = compare(&mut stack, &name, &a1, &a2, false).await;
    assert!(
        after >= 2,
        "only {after} segments in both AZs after the restart"
    );
    println!(
        "after the restart: {after} segments in both AZs' windows, {identical} byte-identical"
    );

    let m = zonecast_tests::prom::scrape(stack.health[0], zonecast_tests::prom::Format::Prometheus)
        .await
        .unwrap();
    let l = ("az", "az1");
    assert!(m.value("zonecast_relay_connects_total", &[l]).unwrap() >= 2.0);
    assert!(m.value("zonecast_relay_failures_total", &[l]).unwrap() >= 1.0);
    assert_eq!(m.value("zonecast_relays_active", &[l]).unwrap(), 1.0);
    let m2 =
        zonecast_tests::prom::scrape(stack.health[1], zonecast_tests::prom::Format::Prometheus)
            .await
            .unwrap();
    assert!(
        m2.value("zonecast_relayed_publishes_total", &[("az", "az2")])
            .unwrap()
            >= 1.0
    );
    assert_eq!(
        m2.value("zonecast_relay_connects_total", &[("az", "az2")])
            .unwrap(),
        0.0
    );

    let _ = encoder.kill();
    let _ = encoder.wait();
}

/// An encoder with two outputs while both ingests relay: on each ingest the encoder's own
/// publish wins over the other's relay (refused, `refused-peer-has-direct`), no connection
/// ends on an error (`zonecast_connections_failed_total` stays 0), and the AZs still cut the
/// same segments.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_publish_wins_over_the_relay() {
    if !require_tool("ffmpeg") {
        return;
    }
    let flv = make_flv(StreamSpec {
        seconds: 12,
        ..StreamSpec::FAILOVER
    })
    .unwrap();
    let mut stack = LocalStack::start(&["--target-duration-ms", "1000"]).unwrap();
    let name = StreamName::new("live", "show").unwrap();
    let urls: Vec<String> = Az::ALL
        .iter()
        .map(|&az| stack.rtmp_url(az, "live", "show"))
        .collect();
    let mut encoder = zonecast_tests::media::publish_tee(&flv, &urls).unwrap();
    for az in Az::ALL {
        let relay = wait_for(
            Duration::from_secs(20),
            "each ingest's relay refused by the other's direct publish",
            || async {
                let s = ingest_stream(&stack, az).await?;
                (s["relay"]["state"] == "refused-peer-has-direct").then(|| s["relay"].clone())
            },
        )
        .await;
        assert_eq!(
            relay["peer"],
            stack.rtmp[1 - az_index(az)].to_string().as_str()
        );
        assert!(relay["relayed_from"].is_null(), "{relay}");
    }
    let status = wait_exit(&mut encoder, "the encoder", Duration::from_secs(60)).await;
    assert!(status.success(), "ffmpeg failed");
    let s3 = stack.s3().await;
    let [a1, a2] = wait_for(
        Duration::from_secs(30),
        "both AZs end the stream",
        || async {
            let get = |az| {
                zonecast_contract::s3::get_index(&s3, zonecast_tests::stack::BUCKET, az, &name)
            };
            let a1 = get(Az::Az1).await.ok()??;
            let a2 = get(Az::Az2).await.ok()??;
            let ended = |i: &StreamIndex| i.state == zonecast_contract::StreamState::Ended;
            (ended(&a1) && ended(&a2)).then_some([a1, a2])
        },
    )
    .await;
    assert_eq!(shape(&a1), shape(&a2), "the AZs disagree");
    assert!(a1.segments.len() >= 5, "{:?}", a1.segments);
    let log = stack.log_text();
    assert!(
        log.contains("direct wins"),
        "no refusal of a relay was logged:\n{log}"
    );
    for az in Az::ALL {
        let m = zonecast_tests::prom::scrape(
            stack.health[az_index(az)],
            zonecast_tests::prom::Format::Prometheus,
        )
        .await
        .unwrap();
        let l = ("az", az.as_str());
        assert!(
            m.value(
                "zonecast_publishes_rejected_total",
                &[l, ("reason", "relay_behind_direct")]
            )
            .unwrap()
                >= 1.0
        );
        assert!(
            m.value("zonecast_relay_refused_direct_total", &[l])
                .unwrap()
                >= 1.0
        );
        // A refused relay is an expected end: no RTMP connection ended on an error.
        assert_eq!(
            m.value("zonecast_connections_failed_total", &[l]).unwrap(),
            0.0,
            "{az} counted an RTMP connection that ended on an error; log:\n{log}"
        );
    }
}
