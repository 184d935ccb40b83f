use std::sync::atomic::{AtomicBool, Ordering};

use super::*;

fn targets() -> Vec<EntryTarget> {
    let addr = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
    vec![
        EntryTarget {
            az: Az::Az1,
            rtmp: addr(1935),
            health: addr(8935),
        },
        EntryTarget {
            az: Az::Az2,
            rtmp: addr(1936),
            health: addr(8936),
        },
    ]
}

#[test]
fn prefers_az1_and_falls_back_to_az2() {
    let t0 = Instant::now();
    let mut r = EntryRouter::new(targets(), VERDICT_TTL);
    assert_eq!(r.choose(t0), EntryChoice::Probe(0));
    r.record(0, true, t0);
    assert_eq!(r.choose(t0), EntryChoice::Forward(0));
    // az1 dies: az2 is probed (never az1 again within the TTL).
    r.record(0, false, t0);
    assert_eq!(r.choose(t0), EntryChoice::Probe(1));
    r.record(1, true, t0);
    assert_eq!(
        r.choose(t0 + Duration::from_millis(999)),
        EntryChoice::Forward(1)
    );
    // Once the verdict on az1 is stale, az1 is asked again first.
    assert_eq!(
        r.choose(t0 + VERDICT_TTL + Duration::from_millis(1)),
        EntryChoice::Probe(0)
    );
    r.record(1, false, t0);
    assert_eq!(r.choose(t0), EntryChoice::NoneHealthy);
}

#[test]
fn healthz_must_say_ok_with_200() {
    let ok = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{\"az\":\"az1\",\"status\":\"ok\"}\n";
    let draining =
        b"HTTP/1.1 503 Service Unavailable\r\n\r\n{\"az\":\"az1\",\"status\":\"draining\"}\n";
    assert!(healthz_says_ok(ok));
    assert!(!healthz_says_ok(draining));
    assert!(!healthz_says_ok(b"HTTP/1.1 200 OK\r\n\r\nnot json"));
    assert!(!healthz_says_ok(b""));
}

/// A fake ingest: `/healthz` answers ok while `healthy`, and the RTMP port echoes with a
/// prefix naming the AZ.
async fn fake_ingest(az: Az, healthy: Arc<AtomicBool>) -> EntryTarget {
    let rtmp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let health = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = EntryTarget {
        az,
        rtmp: rtmp.local_addr().unwrap(),
        health: health.local_addr().unwrap(),
    };
    tokio::spawn(async move {
        while let Ok((mut s, _)) = rtmp.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 64];
                while let Ok(n @ 1..) = s.read(&mut buf).await {
                    let reply = [az.as_str().as_bytes(), b":", &buf[..n]].concat();
                    if s.write_all(&reply).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    tokio::spawn(async move {
        while let Ok((mut s, _)) = health.accept().await {
            let healthy = healthy.load(Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let answer: &[u8] = if healthy {
                    b"HTTP/1.1 200 OK\r\n\r\n{\"status\":\"ok\"}\n"
                } else {
                    b"HTTP/1.1 503 Service Unavailable\r\n\r\n{\"status\":\"draining\"}\n"
                };
                let _ = s.write_all(answer).await;
            });
        }
    });
    target
}

async fn round_trip(entry: SocketAddr) -> String {
    let mut s = TcpStream::connect(entry).await.unwrap();
    s.write_all(b"hi").await.unwrap();
    let mut buf = vec![0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test]
async fn forwards_to_the_first_healthy_ingest() {
    let az1_ok = Arc::new(AtomicBool::new(true));
    let az2_ok = Arc::new(AtomicBool::new(true));
    let t1 = fake_ingest(Az::Az1, az1_ok.clone()).await;
    let t2 = fake_ingest(Az::Az2, az2_ok.clone()).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let entry = listener.local_addr().unwrap();
    // No verdict reuse, so each connection sees the current health.
    let router = Arc::new(Mutex::new(EntryRouter::new(vec![t1, t2], Duration::ZERO)));
    tokio::spawn(serve_entry(listener, router));

    assert_eq!(round_trip(entry).await, "az1:hi");
    az1_ok.store(false, Ordering::SeqCst);
    assert_eq!(round_trip(entry).await, "az2:hi");
    az1_ok.store(true, Ordering::SeqCst);
    assert_eq!(round_trip(entry).await, "az1:hi");
    // Nobody healthy: the connection is closed without a byte.
    az1_ok.store(false, Ordering::SeqCst);
    az2_ok.store(false, Ordering::SeqCst);
    let mut s = TcpStream::connect(entry).await.unwrap();
    let mut buf = [0u8; 8];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0);
}

#[tokio::test]
async fn a_dead_rtmp_port_counts_as_unhealthy() {
    let t1 = fake_ingest(Az::Az1, Arc::new(AtomicBool::new(true))).await;
    let t2 = fake_ingest(Az::Az2, Arc::new(AtomicBool::new(true))).await;
    // az1's health says ok but nothing listens on its RTMP port.
    let dead = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let t1 = EntryTarget {
        rtmp: dead.local_addr().unwrap(),
        ..t1
    };
    drop(dead);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let entry = listener.local_addr().unwrap();
    let router = Arc::new(Mutex::new(EntryRouter::new(vec![t1, t2], VERDICT_TTL)));
    tokio::spawn(serve_entry(listener, router));
    assert_eq!(round_trip(entry).await, "az2:hi");
}
