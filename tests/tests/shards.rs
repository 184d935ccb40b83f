//! Scale-out on loopback (issue #9, item 4): `zonecast-local --pairs 2` runs two instance
//! pairs (four ingest processes, pair k with `--shard k/2`) writing to one store, read through
//! one edge and one playlist function. Two streams of different pairs, each published with one
//! output to its pair's az1 (the pair's relay feeds its az2), are served exactly as with one
//! pair: the same playlists, URLs and keys; the read path never learns there are two pairs.
//! A stream published to the wrong pair is refused (`wrong_shard`) and its own pair's publish
//! never notices.

use std::{collections::BTreeSet, time::Duration};

use m3u8_rs::Playlist;
use serde_json::Value;
use zonecast_contract::{Az, StreamIndex, StreamName, keys, s3::get_index, shard::pair_of};
use zonecast_tests::{
    http::{get, get_url},
    media::{StreamSpec, ffprobe, make_flv, publish, work_dir},
    media_uris,
    prom::{Format, scrape},
    require_tool,
    stack::{BUCKET, LocalStack},
    wait_for,
};

const PAIRS: u16 = 2;

/// The first `live/shard-<i>` of pair `pair`, by the contract's rule (not hard-coded: the test
/// follows the rule wherever it maps).
fn stream_of_pair(pair: u16) -> StreamName {
    (0..)
        .map(|i| StreamName::new("live", &format!("shard-{i}")).unwrap())
        .find(|n| pair_of(n, PAIRS) == pair)
        .unwrap()
}

/// The `wrong_shard` refusals counted by pair `pair`'s ingest in `az`.
async fn wrong_shard_refusals(stack: &LocalStack, pair: u16, az: Az) -> f64 {
    scrape(stack.health_of(pair, az), Format::Prometheus)
        .await
        .unwrap()
        .value(
            "zonecast_publishes_rejected_total",
            &[("az", az.as_str()), ("reason", "wrong_shard")],
        )
        .unwrap()
}

/// Both AZs' indexes of `name`, once each lists at least `min` segments.
async fn indexes(s3: &aws_sdk_s3::Client, name: &StreamName, min: usize) -> [StreamIndex; 2] {
    let what = format!("{name}: both AZs list {min} segments");
    let read = |az: Az| {
        wait_for(Duration::from_secs(40), &what, move || async move {
            get_index(s3, BUCKET, az, name)
                .await
                .ok()
                .flatten()
                .filter(|i| i.segments.len() >= min)
        })
    };
    [read(Az::Az1).await, read(Az::Az2).await]
}

/// Through the one edge on the neutral host, as with one pair: the multivariant playlist lists
/// both AZs, every chunklist URI stays on its AZ's host under the stream's path, and every
/// segment is there and decodes. Returns the segments checked.
async fn check_through_the_edge(stack: &LocalStack, name: &StreamName) -> usize {
    let path = format!("/{name}/playlist.m3u8");
    let master = get(stack.edge, &stack.host(None), &path).await.unwrap();
    assert_eq!(master.status, 200, "{path}: {}", master.text());
    let Ok(Playlist::MasterPlaylist(mv)) = m3u8_rs::parse_playlist_res(&master.body) else {
        panic!("{path} is not a multivariant playlist:\n{}", master.text());
    };
    let mut azs = BTreeSet::new();
    let mut checked = 0;
    for v in &mv.variants {
        let az = Az::ALL
            .into_iter()
            .find(|&az| {
                v.uri
                    .starts_with(&format!("http://{}/", stack.host(Some(az))))
            })
            .unwrap_or_else(|| panic!("{name}: variant {} is on neither AZ host", v.uri));
        azs.insert(az);
        let chunklist = get_url(stack.edge, &v.uri).await.unwrap();
        assert_eq!(chunklist.status, 200, "{}", v.uri);
        let prefix = format!("http://{}/{name}/", stack.host(Some(az)));
        let uris = media_uris(&chunklist.text());
        assert!(uris.len() >= 3, "{}: {uris:?}", v.uri);
        for uri in uris {
            assert!(
                uri.starts_with(&prefix),
                "{az} chunklist URI {uri} is not on {prefix}"
            );
            let seg = get_url(stack.edge, &uri).await.unwrap();
            assert_eq!(seg.status, 200, "{uri}");
            let file = work_dir().join(format!(
                "shards-{}-{az}-{}",
                std::process::id(),
                uri.rsplit('/').next().unwrap_or("seg.ts")
            ));
            std::fs::write(&file, &seg.body).unwrap();
            let probe = ffprobe(&file).unwrap();
            let _ = std::fs::remove_file(&file);
            assert!(
                probe.stderr.trim().is_empty(),
                "ffprobe on {uri}: {}",
                probe.stderr
            );
            assert_eq!(probe.codec("video").unwrap()["codec_name"], "h264", "{uri}");
            assert_eq!(probe.codec("audio").unwrap()["codec_name"], "aac", "{uri}");
            checked += 1;
        }
    }
    assert_eq!(
        azs,
        BTreeSet::from(Az::ALL),
        "{name}: the multivariant playlist does not list both AZs:\n{}",
        master.text()
    );
    checked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pairs_share_one_store_and_one_read_path() {
    if !require_tool("ffmpeg") || !require_tool("ffprobe") {
        return;
    }
    let flv = make_flv(StreamSpec {
        seconds: 25,
        ..StreamSpec::FAILOVER
    })
    .unwrap();
    let mut stack = LocalStack::start_pairs(PAIRS, &["--target-duration-ms", "1000"]).unwrap();
    let names = [stream_of_pair(0), stream_of_pair(1)];
    println!(
        "pair 0 publishes {}, pair 1 publishes {}",
        names[0], names[1]
    );

    // Each stream with one output to its own pair's az1; that pair's relay feeds its az2.
    let mut encoders: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(pair, n)| {
            let url = stack.pair_rtmp_url(pair as u16, Az::Az1, n.app(), n.stream());
            publish(&flv, &url, true).unwrap()
        })
        .collect();
    let s3 = stack.s3().await;
    let before = indexes(&s3, &names[0], 2).await;
    indexes(&s3, &names[1], 2).await;

    // The wrong pair: pair 0's stream published to pair 1's az1 is refused at publish time,
    // counted, and logged; pair 0's publish of it goes on.
    assert_eq!(wrong_shard_refusals(&stack, 1, Az::Az1).await, 0.0);
    let wrong = stack.pair_rtmp_url(1, Az::Az1, names[0].app(), names[0].stream());
    let mut intruder = publish(&flv, &wrong, true).unwrap();
    let status = wait_for(
        Duration::from_secs(15),
        "the wrong-pair publish to end",
        || {
            let exited = intruder.try_wait().unwrap();
            async move { exited }
        },
    )
    .await;
    assert!(
        !status.success(),
        "ffmpeg's publish to the wrong pair was not refused"
    );
    assert_eq!(wrong_shard_refusals(&stack, 1, Az::Az1).await, 1.0);
    assert_eq!(wrong_shard_refusals(&stack, 0, Az::Az1).await, 0.0);
    assert!(
        stack.wait_log(
            &format!("{} belongs to pair 0 of 2; this ingest is pair 1", names[0]),
            Duration::from_secs(5)
        ),
        "no log line for the refusal; log:\n{}",
        stack.log_text()
    );

    // Both pairs keep packaging: the right pair's stream went on, same session, more segments.
    let after = indexes(&s3, &names[0], 2).await;
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(
            a.session, b.session,
            "the refused publish disturbed {}",
            names[0]
        );
    }
    let more = before[0].segments.last().map_or(0, |s| s.msn) + 3;
    wait_for(
        Duration::from_secs(20),
        "pair 0's stream to keep going",
        || async {
            let i = get_index(&s3, BUCKET, Az::Az1, &names[0]).await.ok()??;
            (i.segments.last()?.msn >= more).then_some(())
        },
    )
    .await;
    let live = indexes(&s3, &names[1], 4).await;

    // Each pair's ingests hold only their own stream (their `/status`).
    for pair in 0..PAIRS {
        for az in Az::ALL {
            let addr = stack.health_of(pair, az);
            let doc: Value = serde_json::from_slice(
                &get(addr, &addr.to_string(), "/status").await.unwrap().body,
            )
            .unwrap();
            let held: Vec<&str> = doc["streams"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|s| s["name"].as_str())
                .collect();
            assert_eq!(
                held,
                [names[usize::from(pair)].to_string()],
                "pair {pair} {az} holds {held:?}"
            );
        }
    }

    // The read path: one edge, one playlist function, both pairs' streams, as with one pair.
    let mut segments = 0;
    for name in &names {
        segments += check_through_the_edge(&stack, name).await;
    }
    println!("segments fetched through the edge and probed: {segments}");

    // One store, the one-pair layout: every object is `<az>/<app>/<stream>/…` of one of the
    // two streams, and both streams' indexes and segments are where the contract puts them.
    let mut keys_seen = Vec::new();
    let mut pages = s3.list_objects_v2().bucket(BUCKET).into_paginator().send();
    while let Some(page) = pages.next().await {
        for o in page.unwrap().contents() {
            keys_seen.push(o.key().unwrap_or_default().to_owned());
        }
    }
    for key in &keys_seen {
        let ok = Az::ALL
            .iter()
            .any(|az| names.iter().any(|n| key.starts_with(&format!("{az}/{n}/"))));
        assert!(
            ok,
            "{key} is outside the one-pair layout <az>/<app>/<stream>/"
        );
    }
    for (name, index) in names.iter().zip([&after[0], &live[0]]) {
        for az in Az::ALL {
            assert!(
                keys_seen.contains(&keys::index_key(az, name)),
                "no {} in the store",
                keys::index_key(az, name)
            );
        }
        let last = index.segments.last().unwrap();
        let key = keys::segment_key(
            Az::Az1,
            name,
            keys::SegmentId {
                epoch: index.epoch,
                msn: last.msn,
            },
        );
        assert!(
            stack.exists(&key).await.unwrap(),
            "{key} is not in the store"
        );
    }

    // The stack's status page knows the pairs and which stream is whose.
    let status = get(stack.edge, &stack.edge.to_string(), "/status.json")
        .await
        .unwrap();
    let doc: Value = serde_json::from_slice(&status.body).unwrap();
    assert_eq!(doc["pairs"], 2);
    let ids: Vec<&str> = doc["ingests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|g| g["id"].as_str())
        .collect();
    assert_eq!(ids, ["az1", "az2", "p1-az1", "p1-az2"]);
    for (pair, name) in names.iter().enumerate() {
        let row = doc["streams"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name.to_string().as_str())
            .unwrap_or_else(|| panic!("{name} is not on the status page"));
        assert_eq!(row["pair"], pair, "{name}");
        for a in row["azs"].as_array().unwrap() {
            assert_eq!(a["verdict"], "live", "{name}: {a}");
            assert_eq!(a["ingest"]["state"], "publishing", "{name}: {a}");
        }
    }

    for mut e in encoders.drain(..) {
        let _ = e.kill();
        let _ = e.wait();
    }
}
