//! The entry point for an encoder with one output (issue 17, part 5): `zonecast-local`'s
//! `--entry-listen` forwards each new connection to a live ingest, as `ingest.<domain>` does on
//! AWS. ffmpeg publishes to it in a shell `while` loop (one output, reconnecting), hls.js plays
//! the neutral host in Chromium, and the ingest the entry point forwarded to is SIGKILLed: the
//! encoder's connection drops, the loop reconnects, the entry point now forwards to the other
//! AZ, whose reconnect grace period kept the stream live meanwhile.
//!
//! Ignored by default like the other browser tests (the stack and a Chromium to itself):
//! `cargo test -p zonecast-tests --test entry_point -- --ignored --test-threads=1 --nocapture`.

use std::time::{Duration, Instant};

use serde_json::Value;
use zonecast_contract::Az;
use zonecast_tests::{
    browser::{Player, epoch_ms, require_browser, timeline},
    http::get,
    media::{PublishLoop, StreamSpec, make_flv},
    require_tool,
    stack::{LocalStack, send_signal},
};

/// The stack's default reconnect grace period (`--reconnect-grace-secs`).
const GRACE: Duration = Duration::from_secs(10);
/// The stack's default target duration.
const TARGET: Duration = Duration::from_secs(2);

/// The AZ whose ingest has `live/show` straight from an encoder (not from its peer's relay),
/// from the ingests' `/status`: the AZ the entry point forwarded to.
async fn direct_publish_az(stack: &LocalStack) -> Option<Az> {
    for az in Az::ALL {
        let addr = stack.health_of(0, az);
        let Ok(resp) = get(addr, &addr.to_string(), "/status").await else {
            continue;
        };
        let Ok(doc) = serde_json::from_slice::<Value>(&resp.body) else {
            continue;
        };
        let direct = doc["streams"].as_array().into_iter().flatten().any(|s| {
            s["name"] == "live/show"
                && s["state"] == "publishing"
                && s["relay"]["relayed_from"].is_null()
        });
        if direct {
            return Some(az);
        }
    }
    None
}

async fn wait_both_azs_listed(stack: &LocalStack) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Ok(resp) = get(stack.edge, &stack.host(None), "/live/show/playlist.m3u8").await {
            last = format!("{} {}", resp.status, resp.text());
            let variants = resp
                .text()
                .lines()
                .filter(|l| l.starts_with("#EXT-X-STREAM-INF"))
                .count();
            if resp.status == 200 && variants == 2 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!(
        "the multivariant playlist never listed both AZs; last answer: {last}\nlog:\n{}",
        stack.log_text()
    );
}

fn progress_f64(events: &[Value], field: &str) -> Option<f64> {
    events
        .iter()
        .rev()
        .find(|e| e["event"] == "progress")
        .and_then(|p| p[field].as_f64())
}

/// Plays 8 s, SIGKILLs the ingest the entry point forwarded the encoder to, and plays 20 s
/// more. The viewer may stall while the encoder reconnects, but at most the grace period plus
/// one target duration (the first segment of the new publish has to be cut before it can be
/// listed), never sees a fatal error or ENDLIST, and ends on the other AZ, which by then has the
/// encoder directly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "browser: tests/run runs these with --ignored --test-threads=1"]
async fn single_output_encoder_reconnects_through_the_entry_point_to_the_live_az() {
    const HOLD: Duration = Duration::from_secs(20);
    if !require_tool("ffmpeg") || !require_browser() {
        return;
    }
    let flv = make_flv(StreamSpec {
        seconds: 90,
        ..StreamSpec::BROWSER
    })
    .unwrap();
    let stack = LocalStack::start(&[]).unwrap();
    let _encoder = PublishLoop::start(&flv, &stack.entry_url("live", "show")).unwrap();
    wait_both_azs_listed(&stack).await;
    let mut player = Player::start(&format!(
        "http://{}/live/show/playlist.m3u8",
        stack.host(None)
    ))
    .unwrap();
    let settled = player
        .wait_for(Duration::from_secs(60), |ev| {
            progress_f64(ev, "az_played_s").is_some_and(|s| s >= 8.0)
        })
        .await
        .unwrap();
    assert!(
        settled,
        "the player did not play 8 s from one AZ; its lines: {:?}\nstderr: {}",
        player.events(),
        player.stderr()
    );
    let played_before = progress_f64(&player.events(), "played_s").unwrap();
    let playing_az = player.progress().unwrap()["az"]
        .as_str()
        .unwrap_or("?")
        .to_owned();

    let killed = direct_publish_az(&stack)
        .await
        .unwrap_or_else(|| panic!("no ingest has the encoder directly\n{}", stack.log_text()));
    assert!(
        stack.log_text().contains(&format!(
            "→ {killed} ingest at {}",
            stack.rtmp_of(0, killed)
        )),
        "the entry point's log does not say it forwarded to {killed}"
    );
    let pid = stack.ingest_pid(killed).await.unwrap();
    let killed_ms = epoch_ms();
    let killed_at = Instant::now();
    send_signal(pid, libc::SIGKILL).unwrap();

    // The encoder's next run lands on the other AZ.
    let survivor = killed.peer();
    let mut reconnected = None;
    while killed_at.elapsed() < GRACE {
        if direct_publish_az(&stack).await == Some(survivor) {
            reconnected = Some(killed_at.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let played_on = player
        .wait_for(HOLD + Duration::from_secs(40), |ev| {
            progress_f64(ev, "played_s").is_some_and(|s| s >= played_before + HOLD.as_secs_f64())
        })
        .await
        .unwrap();
    let events = player.events();
    let summary = player.stop().await.unwrap();
    println!(
        "entry point: SIGKILL of {killed} (the encoder's AZ; the player was on {playing_az}) after \
         {played_before:.1} s played; the encoder published to {survivor} directly {}: \
         {summary}\n  after SIGKILL: {}",
        reconnected.map_or("never (within the grace period)".into(), |d| format!(
            "{:.1} s later",
            d.as_secs_f64()
        )),
        timeline(&events, killed_ms)
    );
    assert!(
        reconnected.is_some(),
        "the encoder did not reach {survivor} through the entry point within {GRACE:?}\n{}",
        stack.log_text()
    );
    assert!(summary.started, "playback never started");
    assert!(
        summary.fatal_errors.is_empty(),
        "fatal hls.js errors: {:?}",
        summary.fatal_errors
    );
    assert!(
        !summary.saw_endlist,
        "the player saw #EXT-X-ENDLIST while the encoder reconnected"
    );
    assert!(
        played_on,
        "played less than {HOLD:?} after SIGKILL of {killed}: {summary}"
    );
    let limit = GRACE + TARGET;
    assert!(
        u128::from(summary.rebuffer_ms) <= limit.as_millis(),
        "{} ms of rebuffering (stalls {:?}) after SIGKILL of the encoder's AZ (limit {limit:?}: \
         the grace period plus one target duration)",
        summary.rebuffer_ms,
        summary.stalls_ms
    );
    assert_eq!(
        summary.last_az(),
        Some(survivor.as_str()),
        "the player did not end on {survivor}"
    );
}
