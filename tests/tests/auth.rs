//! Publish auth end to end, on the real `zonecast-local` with `--publish-secret-file`: ffmpeg
//! with a token minted by `zonecast-ingest token` publishes to both AZs (both accept the same
//! token); with a wrong, an expired or no token ffmpeg fails with the ingest's reason, and the
//! ingest's log says why without showing the secret or the token. Then `/metrics` of both
//! ingests, scraped in both text formats, passes the exposition checker and counts the
//! refusals.

use std::{
    path::Path,
    process::{Child, Command},
    time::{Duration, Instant, SystemTime},
};

use zonecast_contract::{Az, StreamName};
use zonecast_ingest::auth::{PublishSecret, mint, unix_seconds};
use zonecast_tests::{
    media::{StreamSpec, make_flv, publish, publish_tee},
    prom::{Format, scrape},
    require_tool,
    stack::{LocalStack, az_index, local_binary},
};

const SECRET: &str = "zonecast-e2e-publish-secret-0123456789";

/// Mints a token with the real `zonecast-ingest token` command (built next to
/// `zonecast-local`).
fn cli_token(secret_file: &Path, app: &str, stream: &str) -> String {
    let bin = local_binary()
        .unwrap()
        .with_file_name(format!("zonecast-ingest{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: cargo build -p zonecast-ingest --bins (tests/run builds every binary)",
        bin.display()
    );
    let out = Command::new(&bin)
        .args(["token", app, stream, "--ttl", "1h", "--publish-secret-file"])
        .arg(secret_file)
        .env_remove("ZONECAST_PUBLISH_SECRET")
        .env_remove("ZONECAST_CONFIG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "zonecast-ingest token failed: {stderr}"
    );
    assert!(stderr.contains("valid until"), "{stderr}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The log without terminal colours.
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters final-byte.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Waits for a refused encoder to give up; returns what it printed.
fn refused(mut encoder: Child, what: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = encoder.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = encoder.kill();
            panic!("{what}: ffmpeg still publishing after 20 s: the ingest did not refuse it");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    if let Some(mut err) = encoder.stderr.take() {
        use std::io::Read;
        let _ = err.read_to_string(&mut stderr);
    }
    assert!(!status.success(), "{what}: ffmpeg succeeded:\n{stderr}");
    stderr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_auth_admits_a_valid_token_on_both_azs_and_refuses_wrong_expired_and_missing_ones()
{
    if !require_tool("ffmpeg") {
        return;
    }
    let flv = make_flv(StreamSpec::FAILOVER).unwrap();
    let dir = std::env::temp_dir().join(format!("zonecast-auth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let secret_file = dir.join("publish-secret");
    std::fs::write(&secret_file, format!("{SECRET}\n")).unwrap();
    let secret_arg = secret_file.to_string_lossy().into_owned();
    let mut stack = LocalStack::start(&[
        "--target-duration-ms",
        "1000",
        "--publish-secret-file",
        &secret_arg,
    ])
    .unwrap();
    assert!(stack.wait_log("Publish auth is on", Duration::from_secs(5)));
    assert!(stack.wait_log("publish auth required", Duration::from_secs(5)));

    // A token from the CLI; the same one to both AZs.
    let good = StreamName::new("live", "good").unwrap();
    let token = cli_token(&secret_file, "live", "good");
    let urls = [Az::Az1, Az::Az2].map(|az| {
        format!(
            "{}?token={token}",
            stack.rtmp_url(az, good.app(), good.stream())
        )
    });
    let mut encoder = publish_tee(&flv, &urls).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let a = stack.index(Az::Az1, &good).await.unwrap();
        let b = stack.index(Az::Az2, &good).await.unwrap();
        if a.is_some_and(|i| i.segments.len() >= 2) && b.is_some_and(|i| i.segments.len() >= 2) {
            break;
        }
        if let Some(status) = encoder.try_wait().unwrap() {
            panic!(
                "the encoder with a valid token exited ({status}); log:\n{}",
                stack.log_text()
            );
        }
        assert!(
            Instant::now() < deadline,
            "no index with 2 segments on both AZs within 30 s; log:\n{}",
            stack.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("a valid token publishes on both AZs");

    let secret = PublishSecret::from_text(SECRET).unwrap();
    let now = unix_seconds(SystemTime::now());
    let other = PublishSecret::from_text("not the secret the ingests were given").unwrap();
    let wrong = StreamName::new("live", "wrong").unwrap();
    let expired = StreamName::new("live", "expired").unwrap();
    let missing = StreamName::new("live", "missing").unwrap();
    let cases = [
        (
            &wrong,
            format!("?token={}", mint(&other, &wrong, now + 3600)),
            "signature does not match",
        ),
        (
            &expired,
            format!("?token={}", mint(&secret, &expired, now - 60)),
            "expired at",
        ),
        (&missing, String::new(), "no publish token"),
    ];
    for (name, query, why) in &cases {
        let url = format!(
            "{}{query}",
            stack.rtmp_url(Az::Az1, name.app(), name.stream())
        );
        let stderr = refused(publish(&flv, &url, false).unwrap(), why);
        // The encoder shows the ingest's reason (ffmpeg: "Server error: <description>").
        assert!(
            stderr.contains(why),
            "{name}: ffmpeg does not show {why:?}:\n{stderr}"
        );
        let line = format!("refusing publish: publish auth stream={name}");
        let logged = strip_ansi(&stack.log_text()).lines().any(|l| {
            l.contains("refusing publish: publish auth")
                && l.contains(&format!("stream={name}"))
                && l.contains(why)
        });
        assert!(
            logged,
            "no log line {line:?} saying {why:?}:\n{}",
            stack.log_text()
        );
        println!("{name}: refused, ffmpeg shows: {}", stderr.trim());
    }
    let _ = encoder.kill();
    let _ = encoder.wait();

    for (name, _, _) in &cases {
        for az in [Az::Az1, Az::Az2] {
            assert!(
                stack.index(az, name).await.unwrap().is_none(),
                "a refused publish wrote an index for {name} in {az}"
            );
        }
    }
    let log = stack.log_text();
    assert!(!log.contains(SECRET), "the secret is in the log");
    let signature = |t: &str| t.split_once('.').map(|(_, s)| s.to_owned()).unwrap();
    assert!(
        !log.contains(&signature(&token)),
        "a token's signature is in the log"
    );
    assert!(
        !log.contains(&signature(&mint(&other, &wrong, now + 3600))[..16]),
        "the wrong token's signature is in the log"
    );

    // /metrics: both formats, both AZs, checked by the exposition checker.
    for az in [Az::Az1, Az::Az2] {
        let health = stack.health[az_index(az)];
        for format in [Format::Prometheus, Format::OpenMetrics] {
            let m = scrape(health, format).await.unwrap();
            let l = ("az", az.as_str());
            let auth_refusals = m
                .value(
                    "zonecast_publishes_rejected_total",
                    &[l, ("reason", "auth")],
                )
                .unwrap();
            let expected = if az == Az::Az1 {
                cases.len() as f64
            } else {
                0.0
            };
            assert_eq!(auth_refusals, expected, "{az} {format:?}");
            assert!(m.value("zonecast_segments_uploaded_total", &[l]).unwrap() >= 2.0);
            assert!(m.value("zonecast_indexes_uploaded_total", &[l]).unwrap() >= 2.0);
            assert!(
                m.value("zonecast_cut_to_index_seconds_count", &[l])
                    .unwrap()
                    >= 2.0
            );
            assert!(
                m.value(
                    "zonecast_upload_duration_seconds_count",
                    &[l, ("kind", "segment"), ("outcome", "ok")]
                )
                .unwrap()
                    >= 2.0
            );
            m.value("zonecast_upload_retries_total", &[l]).unwrap();
            m.value("zonecast_uploads_pending", &[l]).unwrap();
            m.value("zonecast_streams_waiting", &[l]).unwrap();
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
