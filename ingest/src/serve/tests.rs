//! The listener's bounds against hostile peers: the connection limit (a semaphore, held by
//! each connection's task) and the handshake deadline.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use tokio::{
    io::AsyncReadExt,
    net::{TcpListener, TcpStream},
    time::Instant,
};
use zonecast_contract::{MemoryIndexSource, StreamName};

use super::*;
use crate::{
    config::{DuplicatePublishPolicy, IngestConfig},
    ops::metrics::{Metrics, RefusalReason},
    publish::{claim::PublishRequest, context::IngestContext, session},
    storage::{
        object_store::{ObjectStore, PutRequest, StoreError},
        uploader::UploaderConfig,
    },
};

struct NoStore;

impl ObjectStore for NoStore {
    async fn put(&self, _: PutRequest) -> Result<(), StoreError> {
        Ok(())
    }
}

async fn start(
    config: IngestConfig,
) -> (SocketAddr, Arc<IngestContext<NoStore, MemoryIndexSource>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let ctx = IngestContext::new(
        config,
        NoStore,
        MemoryIndexSource::new(),
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
    let _a = session::begin(&ctx, &req(&hi)).await.expect("720p");
    let _b = session::begin(&ctx, &req(&lo))
        .await
        .expect("360p: another rendition, not a duplicate");
    let _c = session::begin(&ctx, &req(&show))
        .await
        .expect("the plain stream is a name of its own");
    assert!(session::begin(&ctx, &req(&hi)).await.is_err(), "720p twice");
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

/// A connection that panics while holding the stream table does not poison it for good: the
/// next publish of the same name is taken, not refused as a duplicate.
#[tokio::test]
async fn a_panic_holding_the_table_does_not_refuse_later_publishes() {
    let (_addr, ctx) = start(IngestConfig::default()).await;
    let show = StreamName::new("live", "show").unwrap();
    let panicking = ctx.clone();
    let joined = std::thread::spawn(move || {
        let _table = panicking.table();
        panic!("a connection panics while holding the table");
    })
    .join();
    assert!(joined.is_err(), "the thread panicked");
    let req = PublishRequest {
        name: show.clone(),
        publisher: "127.0.0.1:9".parse().unwrap(),
        relayed: false,
    };
    let publish = session::begin(&ctx, &req)
        .await
        .expect("taken after the panic");
    assert!(ctx.is_active("live/show"));
    drop(publish);
    assert!(
        !ctx.is_active("live/show"),
        "a dropped publish frees its name"
    );
}
