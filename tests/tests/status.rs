//! The status view end to end, on the real `zonecast-local`: `/status.json` shows both AZs
//! live while ffmpeg publishes to both; the page's stop button (SIGTERM) makes az1 draining
//! (or stale) while az2 stays live; restart brings az1's ingest back.

use std::time::{Duration, Instant};

use serde_json::Value;
use zonecast_contract::Az;
use zonecast_tests::{
    http::{get, post},
    media::{StreamSpec, make_flv, publish_tee},
    require_tool,
    stack::LocalStack,
};

/// Polls `check` every 100 ms until it gives `Some`, or fails after `limit` with `what` and
/// the last document seen.
async fn wait_status<T>(
    stack: &LocalStack,
    limit: Duration,
    what: &str,
    mut check: impl FnMut(&Value) -> Option<T>,
) -> T {
    let deadline = Instant::now() + limit;
    let mut last = Value::Null;
    loop {
        if let Ok(r) = get(stack.edge, &stack.edge.to_string(), "/status.json").await {
            assert_eq!(r.status, 200, "{}", r.text());
            assert_eq!(r.header("content-type"), Some("application/json"));
            last = serde_json::from_slice(&r.body).expect("status.json is JSON");
            if let Some(v) = check(&last) {
                return v;
            }
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?}: {what}\nlast status.json: {last:#}\n{}",
            stack.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The row of `live/show` in `az`.
fn az_row(doc: &Value, az: Az) -> Option<&Value> {
    doc["streams"]
        .as_array()?
        .iter()
        .find(|s| s["name"] == "live/show")?["azs"]
        .as_array()?
        .iter()
        .find(|a| a["az"] == az.as_str())
}

fn ingest(doc: &Value, az: Az) -> Option<&Value> {
    doc["ingests"]
        .as_array()?
        .iter()
        .find(|i| i["az"] == az.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_both_azs_and_follows_a_stopped_ingest() {
    if !require_tool("ffmpeg") {
        return;
    }
    let flv = make_flv(StreamSpec::FAILOVER).unwrap();
    let stack = LocalStack::start(&["--target-duration-ms", "1000"]).unwrap();
    let edge = stack.edge.to_string();

    // The page and the player's link to it.
    let page = get(stack.edge, &edge, "/status").await.unwrap();
    assert_eq!(page.status, 200);
    assert!(page.text().contains("/status.json"), "{}", page.text());
    let player = get(stack.edge, &edge, "/").await.unwrap();
    assert!(player.text().contains("href=\"/status\""));

    // Before any publish: both ingests answer, no stream.
    wait_status(
        &stack,
        Duration::from_secs(10),
        "both ingests answer",
        |d| {
            let ok = Az::ALL.iter().all(|&az| {
                ingest(d, az)
                    .is_some_and(|i| i["running"] == true && i["status"]["draining"] == false)
            });
            (ok && d["streams"] == serde_json::json!([])).then_some(())
        },
    )
    .await;

    let urls = [
        stack.rtmp_url(Az::Az1, "live", "show"),
        stack.rtmp_url(Az::Az2, "live", "show"),
    ];
    let mut encoder = publish_tee(&flv, &urls).unwrap();

    let doc = wait_status(&stack, Duration::from_secs(30), "both AZs live", |d| {
        let live = |az| {
            az_row(d, az).is_some_and(|a| {
                a["verdict"] == "live"
                    && a["last_segment"]["msn"].as_u64().is_some_and(|m| m >= 2)
                    && a["ingest"]["state"] == "publishing"
            })
        };
        (live(Az::Az1) && live(Az::Az2)).then(|| d.clone())
    })
    .await;
    let e = stack.edge.port();
    let stream = doc["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "live/show")
        .unwrap();
    assert_eq!(
        stream["urls"]["host"],
        format!("http://media-hls.localhost:{e}/live/show/playlist.m3u8")
    );
    assert_eq!(
        stream["urls"]["path"],
        format!("http://127.0.0.1:{e}/live/show/playlist.m3u8")
    );
    for az in Az::ALL {
        let a = az_row(&doc, az).unwrap();
        assert_eq!(a["index_state"], "live");
        assert!(a["bandwidth"].as_u64().unwrap() > 0, "{a:#}");
        assert_eq!(a["renditions"].as_array().unwrap().len(), 1, "{a:#}");
        assert_eq!(a["renditions"][0]["resolution"], "320x180");
        assert!(
            a["last_segment"]["age_ms"].as_u64().unwrap() < 5000,
            "{a:#}"
        );
        let publisher = a["ingest"]["publisher"].as_str().unwrap();
        assert!(publisher.starts_with("127.0.0.1:"), "{publisher}");
        assert!(
            a["ingest"]["session"]
                .as_str()
                .unwrap()
                .starts_with(az.as_str())
        );
        assert_eq!(
            a["chunklist"]["path"],
            format!("http://127.0.0.1:{e}/{az}/live/show/chunklist.m3u8")
        );
        // The ingest's own /status says the same.
        let health = stack.health[zonecast_tests::stack::az_index(az)];
        let own: Value = serde_json::from_slice(
            &get(health, &health.to_string(), "/status")
                .await
                .unwrap()
                .body,
        )
        .unwrap();
        assert_eq!(own["az"], az.as_str());
        assert_eq!(own["streams"][0]["name"], "live/show");
        assert_eq!(own["streams"][0]["state"], "publishing");
    }

    // A bad control request changes nothing.
    let bad = post(stack.edge, &edge, "/status/az3/stop").await.unwrap();
    assert_eq!(bad.status, 404);

    // Stop az1 through the page's button: its ingest drains and exits.
    let az1_pid = ingest(&doc, Az::Az1).unwrap()["pid"].as_u64().unwrap();
    let stopped = post(stack.edge, &edge, "/status/az1/stop").await.unwrap();
    assert_eq!(stopped.status, 200, "{}", stopped.text());
    let (az2_msn, verdict) =
        wait_status(&stack, Duration::from_secs(15), "az1 dead, az2 live", |d| {
            let a1 = az_row(d, Az::Az1)?;
            let a2 = az_row(d, Az::Az2)?;
            let dead = matches!(
                a1["verdict"].as_str(),
                Some("draining" | "stale" | "behind")
            );
            (dead && a2["verdict"] == "live")
                .then(|| (a2["last_segment"]["msn"].as_u64(), a1["verdict"].clone()))
        })
        .await;
    assert_eq!(verdict, "draining", "SIGTERM drains");
    // az2 goes on.
    wait_status(&stack, Duration::from_secs(10), "az2 moves on", |d| {
        let a2 = az_row(d, Az::Az2)?;
        (a2["verdict"] == "live" && a2["last_segment"]["msn"].as_u64() > az2_msn).then_some(())
    })
    .await;
    wait_status(&stack, Duration::from_secs(15), "az1's process gone", |d| {
        let i = ingest(d, Az::Az1)?;
        (i["running"] == false && i["status"].is_null()).then_some(())
    })
    .await;
    // Stopping what is not running is refused.
    let again = post(stack.edge, &edge, "/status/az1/stop").await.unwrap();
    assert_eq!(again.status, 409, "{}", again.text());

    // Restart: a new az1 ingest process answers.
    let restarted = post(stack.edge, &edge, "/status/az1/restart")
        .await
        .unwrap();
    assert_eq!(restarted.status, 200, "{}", restarted.text());
    wait_status(&stack, Duration::from_secs(15), "az1's ingest back", |d| {
        let i = ingest(d, Az::Az1)?;
        (i["running"] == true
            && i["status"]["draining"] == false
            && i["pid"].as_u64() != Some(az1_pid))
        .then_some(())
    })
    .await;

    // Kill (SIGKILL) az1's new process, and restart az2 while it runs (it drains first).
    let killed = post(stack.edge, &edge, "/status/az1/kill").await.unwrap();
    assert_eq!(killed.status, 200, "{}", killed.text());
    wait_status(&stack, Duration::from_secs(10), "az1 killed", |d| {
        (ingest(d, Az::Az1)?["running"] == false).then_some(())
    })
    .await;
    let az2_pid = ingest(&doc, Az::Az2).unwrap()["pid"].as_u64().unwrap();
    let restarted = post(stack.edge, &edge, "/status/az2/restart")
        .await
        .unwrap();
    assert_eq!(restarted.status, 200, "{}", restarted.text());
    wait_status(&stack, Duration::from_secs(15), "a new az2 ingest", |d| {
        let i = ingest(d, Az::Az2)?;
        (i["running"] == true
            && i["status"]["draining"] == false
            && i["pid"].as_u64() != Some(az2_pid))
        .then_some(())
    })
    .await;
    let log = stack.log_text();
    assert!(
        log.lines()
            .any(|l| l.starts_with("[az2]") && l.contains("drained")),
        "the restarted az2 ingest drained first:\n{log}"
    );
    let _ = encoder.kill();
    let _ = encoder.wait();
}
