//! An encoder that goes away (issue 11): the stream stays live, without ENDLIST, for the grace
//! period, so that viewers keep reloading and play on after a reconnect; only a longer gap ends
//! it. Playing across a short gap is measured in a browser (`tests/browser.rs`); this checks
//! the end of the grace period over HTTP.

use std::time::{Duration, Instant};

use zonecast_contract::Az;
use zonecast_tests::{
    http::get,
    media::{StreamSpec, make_flv, publish_tee},
    require_tool,
    stack::{LocalStack, az_index},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gap_longer_than_the_grace_period_ends_the_stream() {
    const GRACE: Duration = Duration::from_secs(3);
    if !require_tool("ffmpeg") {
        return;
    }
    let flv = make_flv(StreamSpec {
        seconds: 10,
        ..StreamSpec::BROWSER
    })
    .unwrap();
    let grace = GRACE.as_secs().to_string();
    let stack = LocalStack::start(&["--reconnect-grace-secs", &grace]).unwrap();
    let urls: Vec<String> = Az::ALL
        .iter()
        .map(|&az| stack.rtmp_url(az, "live", "show"))
        .collect();
    let mut encoder = publish_tee(&flv, &urls).unwrap();
    let chunklist = |az: Az| {
        let host = stack.host(Some(az));
        async move {
            get(stack.edge, &host, "/live/show/chunklist.m3u8")
                .await
                .unwrap()
        }
    };

    // Both AZs list segments while the encoder publishes.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut listed = 0;
        for az in Az::ALL {
            let resp = chunklist(az).await;
            if resp.status == 200 && resp.text().matches("#EXTINF").count() >= 2 {
                listed += 1;
            }
        }
        if listed == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the AZs never listed segments; log:\n{}",
            stack.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The encoder leaves for good.
    let deadline = Instant::now() + Duration::from_secs(60);
    while encoder.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the publish did not end");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let left = Instant::now();

    // Until the grace period is over the chunklists stay live (200, no ENDLIST); then both end.
    let mut ended: [Option<(Duration, String)>; 2] = [None, None];
    let deadline = left + GRACE + Duration::from_secs(10);
    while ended.iter().any(Option::is_none) {
        for az in Az::ALL {
            if ended[az_index(az)].is_some() {
                continue;
            }
            let resp = chunklist(az).await;
            assert_eq!(
                resp.status,
                200,
                "{az} chunklist answered {} {:.1} s after the publisher left: {}",
                resp.status,
                left.elapsed().as_secs_f64(),
                resp.text()
            );
            if resp.text().contains("#EXT-X-ENDLIST") {
                let cache = resp.header("cache-control").unwrap_or_default().to_owned();
                ended[az_index(az)] = Some((left.elapsed(), cache));
            }
        }
        assert!(
            Instant::now() < deadline,
            "no #EXT-X-ENDLIST {:?} after the publisher left (grace {GRACE:?}): {ended:?}",
            left.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let [Some((az1, cache1)), Some((az2, cache2))] = ended else {
        unreachable!()
    };
    println!(
        "#EXT-X-ENDLIST after the publisher left, grace {} s: az1 {:.1} s, az2 {:.1} s",
        GRACE.as_secs(),
        az1.as_secs_f64(),
        az2.as_secs_f64()
    );
    for (az, at, cache) in [(Az::Az1, az1, cache1), (Az::Az2, az2, cache2)] {
        assert!(
            at + Duration::from_secs(1) >= GRACE,
            "{az} carried #EXT-X-ENDLIST {at:?} after the publisher left, within the {GRACE:?} grace period"
        );
        assert_eq!(
            cache, "max-age=86400",
            "{az}: an ended chunklist is cached a day"
        );
    }
}
