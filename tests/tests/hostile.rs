//! 10,000 hostile connections while streams play (issue 17, part 7): four looped streams are
//! published to both AZs and played in hls.js (Chromium), while the test opens 10,000 RTMP
//! connections to the two ingests, a quarter of each kind:
//!
//! - **garbage**: 1–4 KiB of random bytes, then waits for the ingest to close;
//! - **slowloris**: C0, then one handshake byte every 500 ms, given up after 3 s;
//! - **oversize**: a full handshake, then a chunk announcing a 16 MiB message (over
//!   `--max-message-bytes`, 8 MiB) or a `Set Chunk Size` of 2^31 − 1 (over `--max-chunk-size`);
//! - **half-open handshake**: C0 and C1, the server's S0, S1 and S2 read, C2 never sent; given
//!   up after 3 s.
//!
//! It asserts 0 fatal hls.js errors and no stall in any player, that both ingests are the same
//! processes afterwards, and that every stream kept producing segments in both AZs; it prints
//! the connections' outcomes and the rate. Not part of `tests/run` (about 2 minutes and four
//! Chromiums):
//! `cargo test -p zonecast-tests --test hostile -- --ignored --nocapture`.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::Semaphore,
};
use zonecast_contract::{Az, StreamName, s3::get_index};
use zonecast_tests::{
    browser::{Player, require_browser},
    media::{StreamSpec, make_flv, publish_tee_looped},
    require_tool,
    stack::{BUCKET, LocalStack},
    wait_for,
};

const CONNECTIONS: u64 = 10_000;
/// Hostile connections open at once, over both ingests (each admits 256).
const AT_ONCE: usize = 200;
/// How long the test holds a slow or half-open connection before giving up on it.
const HOLD: Duration = Duration::from_secs(3);
const STREAMS: usize = 4;

#[derive(Default)]
struct Outcomes {
    /// The ingest closed the connection (EOF or reset) before the test gave up on it.
    closed_by_ingest: AtomicU64,
    /// Still open when the test gave up (slowloris and half-open: the handshake deadline is
    /// 10 s, longer than the test holds them).
    given_up: AtomicU64,
    /// The connection was refused or failed at connect.
    connect_failed: AtomicU64,
}

/// xorshift64*: random bytes without a dependency.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

/// Reads until the ingest closes the connection or `limit` passes: true when it closed.
async fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

/// C0 + C1, then S0 + S1 + S2 read (3073 bytes); `None` when the ingest closed first.
async fn handshake_c0c1(s: &mut TcpStream, seed: u64) -> Option<Vec<u8>> {
    let mut c0c1 = vec![3u8];
    c0c1.extend_from_slice(&[0; 8]);
    c0c1.extend(noise(seed, 1528));
    s.write_all(&c0c1).await.ok()?;
    let mut s0s1s2 = vec![0u8; 3073];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut s0s1s2))
        .await
        .ok()?
        .ok()?;
    Some(s0s1s2)
}

/// One hostile connection of kind `n % 4`; returns whether the ingest closed it.
async fn hostile(addr: SocketAddr, n: u64) -> anyhow::Result<bool> {
    let mut s = TcpStream::connect(addr).await?;
    Ok(match n % 4 {
        0 => {
            let len = 1024 + (n as usize * 7) % 3072;
            // A peer may close while we still write: that is the ingest closing it.
            if s.write_all(&noise(n, len)).await.is_err() {
                return Ok(true);
            }
            closed_within(&mut s, Duration::from_secs(15)).await
        }
        1 => {
            let bytes = noise(n, 16);
            if s.write_all(&[3]).await.is_err() {
                return Ok(true);
            }
            let deadline = Instant::now() + HOLD;
            let mut i = 0;
            loop {
                if closed_within(&mut s, Duration::from_millis(500)).await {
                    return Ok(true);
                }
                if Instant::now() >= deadline || s.write_all(&bytes[i..=i]).await.is_err() {
                    break Instant::now() < deadline;
                }
                i = (i + 1) % bytes.len();
            }
        }
        2 => {
            let Some(s0s1s2) = handshake_c0c1(&mut s, n).await else {
                return Ok(true);
            };
            // C2: S1 echoed.
            if s.write_all(&s0s1s2[1..1537]).await.is_err() {
                return Ok(true);
            }
            let msg: Vec<u8> = if n % 8 == 2 {
                // Type 0 chunk, csid 3, timestamp 0, length 0xFFFFFF (16 MiB), type 20
                // (AMF0 command), stream 0, then some of the body.
                let mut m = vec![0x03, 0, 0, 0, 0xff, 0xff, 0xff, 20, 0, 0, 0, 0];
                m.extend(noise(n, 128));
                m
            } else {
                // Set Chunk Size (type 1) on csid 2 to 2^31 - 1.
                vec![
                    0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff,
                ]
            };
            if s.write_all(&msg).await.is_err() {
                return Ok(true);
            }
            closed_within(&mut s, Duration::from_secs(15)).await
        }
        _ => {
            if handshake_c0c1(&mut s, n).await.is_none() {
                return Ok(true);
            }
            closed_within(&mut s, HOLD).await
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long run with four Chromiums: cargo test -p zonecast-tests --test hostile -- --ignored"]
async fn ten_thousand_hostile_connections_while_four_streams_play() {
    if !require_tool("ffmpeg") || !require_browser() {
        return;
    }
    let flv = make_flv(StreamSpec::BROWSER).unwrap();
    let mut stack = LocalStack::start(&[]).unwrap();
    let s3 = stack.s3().await;
    let names: Vec<StreamName> = (0..STREAMS)
        .map(|i| StreamName::new("live", &format!("hostile{i}")).unwrap())
        .collect();
    let mut encoders = Vec::new();
    for name in &names {
        let urls = [Az::Az1, Az::Az2].map(|az| stack.rtmp_url(az, name.app(), name.stream()));
        encoders.push(publish_tee_looped(&flv, &urls).unwrap());
    }
    wait_for(
        Duration::from_secs(60),
        "every stream live in both AZs with 3 segments",
        || {
            let (s3, names) = (s3.clone(), names.clone());
            async move {
                for name in &names {
                    for az in [Az::Az1, Az::Az2] {
                        let index = get_index(&s3, BUCKET, az, name).await.ok()??;
                        (index.segments.len() >= 3).then_some(())?;
                    }
                }
                Some(())
            }
        },
    )
    .await;
    let pids = [
        stack.ingest_pid(Az::Az1).await.unwrap(),
        stack.ingest_pid(Az::Az2).await.unwrap(),
    ];
    let mut players = Vec::new();
    for name in &names {
        let url = format!(
            "http://{}/{}/{}/playlist.m3u8",
            stack.host(None),
            name.app(),
            name.stream()
        );
        players.push(Player::start(&url).unwrap());
    }
    for (player, name) in players.iter_mut().zip(&names) {
        let playing = player
            .wait_for(Duration::from_secs(60), |ev| {
                ev.iter().any(|e| {
                    e["event"] == "progress" && e["played_s"].as_f64().unwrap_or(0.0) >= 4.0
                })
            })
            .await
            .unwrap();
        assert!(playing, "{name} never played 4 s:\n{}", player.stderr());
    }
    let msn_before = last_msns(&s3, &names).await;

    // The attack.
    let outcomes = Arc::new(Outcomes::default());
    let gate = Arc::new(Semaphore::new(AT_ONCE));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..CONNECTIONS {
        let permit = gate.clone().acquire_owned().await.unwrap();
        let addr = stack.rtmp[(n % 2) as usize];
        let outcomes = outcomes.clone();
        tasks.spawn(async move {
            let counter = match hostile(addr, n).await {
                Ok(true) => &outcomes.closed_by_ingest,
                Ok(false) => &outcomes.given_up,
                Err(_) => &outcomes.connect_failed,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            drop(permit);
        });
        while tasks.try_join_next().is_some() {}
    }
    let limit = Duration::from_secs(60);
    tokio::time::timeout(limit, async { while tasks.join_next().await.is_some() {} })
        .await
        .expect("hostile connections still open a minute after the last was opened");
    let attack = started.elapsed();

    // The streams went on in both AZs; the players are still playing.
    wait_for(
        Duration::from_secs(10),
        "every stream moved on in both AZs after the attack",
        || {
            let (s3, names, before) = (s3.clone(), names.clone(), msn_before.clone());
            async move {
                let after = last_msns(&s3, &names).await;
                after.iter().zip(&before).all(|(a, b)| a > b).then_some(())
            }
        },
    )
    .await;
    for (i, az) in [Az::Az1, Az::Az2].into_iter().enumerate() {
        assert_eq!(
            stack.ingest_pid(az).await.unwrap(),
            pids[i],
            "{az}'s ingest is not the same process"
        );
    }
    let mut summaries = Vec::new();
    for player in players {
        summaries.push(player.stop().await.unwrap());
    }
    for mut e in encoders {
        let _ = e.kill();
        let _ = e.wait();
    }
    let o = &outcomes;
    println!(
        "hostile: {CONNECTIONS} connections ({AT_ONCE} at once, a quarter each garbage, slowloris, \
         oversize, half-open handshake) in {:.1} s ({:.0}/s): closed by the ingest {}, given up \
         by the test after {HOLD:?} {}, connect failed {}",
        attack.as_secs_f64(),
        CONNECTIONS as f64 / attack.as_secs_f64(),
        o.closed_by_ingest.load(Ordering::Relaxed),
        o.given_up.load(Ordering::Relaxed),
        o.connect_failed.load(Ordering::Relaxed),
    );
    for (name, s) in names.iter().zip(&summaries) {
        println!("  {name}: {s}");
    }
    for (name, s) in names.iter().zip(&summaries) {
        assert!(s.fatal_errors.is_empty(), "{name}: fatal errors: {s}");
        assert_eq!(s.rebuffer_ms, 0, "{name} stalled: {s}");
        assert!(s.skipped_s < 0.1, "{name} skipped content: {s}");
    }
}

/// Each stream's last segment number in each AZ, in order (0 when there is none).
async fn last_msns(s3: &aws_sdk_s3::Client, names: &[StreamName]) -> Vec<u64> {
    let mut out = Vec::new();
    for name in names {
        for az in [Az::Az1, Az::Az2] {
            let index = get_index(s3, BUCKET, az, name).await.ok().flatten();
            out.push(index.and_then(|i| i.last_msn()).unwrap_or(0));
        }
    }
    out
}
