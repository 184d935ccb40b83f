//! The listener's bounds against hostile peers: the connection limit (a semaphore, held by
//! each connection's task) and the handshake deadline.

use std::time::Duration;

use tokio::{io::AsyncReadExt, net::TcpStream};

use super::*;
use crate::{
    config::DuplicatePublishPolicy,
    store::{PutRequest, StoreError},
};

struct NoStore;

impl ObjectStore for NoStore {
    async fn put(&self, _: PutRequest) -> Result<(), StoreError> {
        Ok(())
    }
}

struct NoIndexes;

impl IndexReader for NoIndexes {
    async fn read(&self, _: zonecast_contract::Az, _: &StreamName) -> Option<StreamIndex> {
        None
    }
}

async fn start(config: IngestConfig) -> (SocketAddr, Arc<IngestContext<NoStore, NoIndexes>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let ctx = IngestContext::new(
        config,
        NoStore,
        NoIndexes,
        Arc::new(Metrics::default()),
        None,
        UploaderConfig::default(),
    );
    tokio::spawn(serve_rtmp(listener, ctx.clone()));
    (addr, ctx)
}

/// Whether the server closes `socket` within `limit` (EOF or reset).
async fn closed_within(socket: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, socket.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn the_connection_limit_holds_and_frees_its_slot() {
    let (addr, ctx) = start(IngestConfig {
        max_connections: 2,
        handshake_timeout_secs: 30,
        ..Default::default()
    })
    .await;
    let mut first = TcpStream::connect(addr).await.unwrap();
    let mut second = TcpStream::connect(addr).await.unwrap();
    // A burst of newcomers: every one is refused, however the accepts race.
    let mut burst = Vec::new();
    for _ in 0..5 {
        burst.push(TcpStream::connect(addr).await.unwrap());
    }
    for s in &mut burst {
        assert!(closed_within(s, Duration::from_secs(5)).await);
    }
    assert!(!closed_within(&mut first, Duration::from_millis(100)).await);
    assert!(!closed_within(&mut second, Duration::from_millis(10)).await);
    assert_eq!(ctx.metrics.refusals(RefusalReason::TooManyConnections), 5);
    // One leaves; its slot goes to the next.
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut next = TcpStream::connect(addr).await.unwrap();
        if !closed_within(&mut next, Duration::from_millis(200)).await {
            break;
        }
        assert!(Instant::now() < deadline, "the slot was never freed");
    }
}

#[tokio::test]
async fn a_peer_that_never_completes_the_handshake_is_closed() {
    let (addr, _ctx) = start(IngestConfig {
        handshake_timeout_secs: 1,
        idle_timeout_secs: 30,
        ..Default::default()
    })
    .await;
    let mut socket = TcpStream::connect(addr).await.unwrap();
    // C0 and part of C1, then a byte now and then: never idle, never done.
    use tokio::io::AsyncWriteExt;
    socket.write_all(&[3; 100]).await.unwrap();
    let started = Instant::now();
    let mut closed = false;
    while started.elapsed() < Duration::from_secs(5) {
        if socket.write_all(&[0]).await.is_err() {
            closed = true;
            break;
        }
        if closed_within(&mut socket, Duration::from_millis(200)).await {
            closed = true;
            break;
        }
    }
    assert!(closed, "still open after {:?}", started.elapsed());
    assert!(started.elapsed() >= Duration::from_millis(800));
}

fn index_at(stream: &str, updated_secs: i64, last_msn: u64) -> StreamIndex {
    use chrono::TimeZone;
    let at = Utc.timestamp_opt(1_800_000_000 + updated_secs, 0).unwrap();
    StreamIndex {
        version: zonecast_contract::INDEX_VERSION,
        az: zonecast_contract::Az::Az1,
        app: "live".into(),
        stream: stream.into(),
        rendition: None,
        session: format!("s{updated_secs}"),
        epoch: 7,
        state: StreamState::Draining,
        updated: at,
        target_duration_ms: 2000,
        discontinuity_sequence: 0,
        info: Default::default(),
        segments: vec![zonecast_contract::IndexSegment {
            msn: last_msn,
            duration_ms: 2000,
            timeline_ms: 0,
            program_date_time: at,
            discontinuity: false,
            bytes: 1,
        }],
    }
}

/// A publish after a restart numbers on from the newest of the store's index and the one the
/// spool kept (the store's may be older while the spool is still being uploaded), so no new
/// segment takes the key of a spooled one.
#[test]
fn the_newest_own_index_wins_whether_in_the_store_or_the_spool() {
    let store = index_at("show", 10, 40);
    let spooled = index_at("show", 20, 45);
    let pick = |a: Option<&StreamIndex>, b: Option<&StreamIndex>| {
        newest_index(a.cloned(), b.cloned()).and_then(|i| i.last_msn())
    };
    assert_eq!(pick(Some(&store), Some(&spooled)), Some(45));
    assert_eq!(pick(Some(&spooled), Some(&store)), Some(45));
    assert_eq!(pick(None, Some(&spooled)), Some(45));
    assert_eq!(pick(Some(&store), None), Some(40));
    assert_eq!(pick(None, None), None);

    // The spool offers every stream's indexes; each stream keeps its newest, taken once.
    let spool = SpooledIndexes::default();
    spool.offer(index_at("show", 20, 45));
    spool.offer(index_at("show", 15, 44));
    spool.offer(index_at("other", 5, 3));
    let show = StreamName::new("live", "show").unwrap();
    assert_eq!(spool.take(&show).and_then(|i| i.last_msn()), Some(45));
    assert_eq!(spool.take(&show), None, "taken once");
    let other = StreamName::new("live", "other").unwrap();
    assert_eq!(spool.take(&other).and_then(|i| i.last_msn()), Some(3));
}

#[tokio::test]
async fn renditions_of_one_stream_are_not_duplicates() {
    let (_addr, ctx) = start(IngestConfig {
        duplicate_publish: DuplicatePublishPolicy::RejectNew,
        ..Default::default()
    })
    .await;
    let req = |name: &StreamName| PublishRequest {
        name: name.clone(),
        publisher: "127.0.0.1:9".parse().unwrap(),
        relayed: false,
    };
    let show = StreamName::new("live", "show").unwrap();
    let hi = show.with_rendition("720p").unwrap();
    let lo = show.with_rendition("360p").unwrap();
    let _a = register(&ctx, &req(&hi)).expect("720p");
    let _b = register(&ctx, &req(&lo)).expect("360p: another rendition, not a duplicate");
    let _c = register(&ctx, &req(&show)).expect("the plain stream is a name of its own");
    assert!(register(&ctx, &req(&hi)).is_err(), "720p twice");
    let names: Vec<String> = ctx
        .stream_views()
        .iter()
        .map(|v| v.name.to_string())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
}

/// The connection's one read timer is re-armed while input keeps coming, and fires once it
/// stops: a peer trickling bytes faster than the idle timeout stays, a silent one goes.
#[tokio::test]
async fn the_idle_timer_follows_the_last_input() {
    let (addr, _ctx) = start(IngestConfig {
        handshake_timeout_secs: 30,
        idle_timeout_secs: 1,
        ..Default::default()
    })
    .await;
    let mut socket = TcpStream::connect(addr).await.unwrap();
    use tokio::io::AsyncWriteExt;
    socket.write_all(&[3]).await.unwrap();
    // 2.5 idle timeouts of trickling (a C1 takes 1536 bytes, so the handshake never ends).
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(2500) {
        socket.write_all(&[0; 4]).await.unwrap();
        assert!(
            !closed_within(&mut socket, Duration::from_millis(300)).await,
            "closed after {:?} although input kept coming",
            started.elapsed()
        );
    }
    let silent = Instant::now();
    assert!(
        closed_within(&mut socket, Duration::from_secs(5)).await,
        "a silent peer stays open"
    );
    assert!(silent.elapsed() >= Duration::from_millis(600));
}
