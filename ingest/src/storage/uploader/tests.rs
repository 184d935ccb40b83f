//! The uploader against a store that goes away: spill, backfill, drop policies, persist and
//! recovery. Invariant 1 is checked on everything the store received.

use std::{
    collections::HashSet,
    sync::{
        Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use chrono::Utc;
use zonecast_contract::{Az, StreamName, index::IndexSegment};

use super::*;
use crate::storage::spool::Spool;

#[derive(Default)]
struct FlakyStore {
    down: AtomicBool,
    /// Keys refused for good (a 403).
    refused: Mutex<HashSet<String>>,
    puts: Mutex<Vec<PutRequest>>,
}

impl ObjectStore for FlakyStore {
    async fn put(&self, req: PutRequest) -> Result<(), StoreError> {
        let refused = self.refused.lock().unwrap().contains(&req.key);
        if refused || self.down.load(Ordering::SeqCst) {
            return Err(StoreError {
                bucket: "b".into(),
                key: req.key,
                message: "injected".into(),
                retryable: !refused,
            });
        }
        self.puts.lock().unwrap().push(req);
        Ok(())
    }
}

fn name() -> StreamName {
    StreamName::new("live", "show").unwrap()
}

fn segment(msn: u64) -> UploadJob {
    UploadJob {
        request: request_for(
            UploadKind::Segment { msn },
            keys::segment_key(Az::Az1, &name(), keys::SegmentId { epoch: 7, msn }),
            Bytes::from(vec![msn as u8; 1000]),
        ),
        kind: UploadKind::Segment { msn },
        cut_at: Instant::now(),
        done: None,
        index: None,
    }
}

/// The index after segment `last`, window 3.
fn index(last: u64) -> UploadJob {
    let segments: Vec<_> = (last.saturating_sub(2)..=last)
        .map(|msn| IndexSegment {
            msn,
            duration_ms: 1000,
            timeline_ms: msn as i64 * 1000,
            program_date_time: Utc::now(),
            discontinuity: msn == 3,
            bytes: 1000,
        })
        .collect();
    let index = StreamIndex::builder(Az::Az1)
        .epoch(7)
        .updated(Utc::now())
        .target_duration_ms(1000)
        .segments(segments)
        .build();
    let name = index.name().expect("a valid test name");
    crate::storage::jobs::index_job(Az::Az1, &name, &index, Instant::now())
}

/// Segment then index, `n` times, as a publish produces them.
fn jobs(n: u64) -> Vec<UploadJob> {
    (0..n).flat_map(|m| [segment(m), index(m)]).collect()
}

/// Invariant 1 on what the store received; returns the segment msns written.
fn check(puts: &[PutRequest]) -> Vec<u64> {
    let mut present = HashSet::new();
    let mut msns = Vec::new();
    for put in puts {
        if put.key.ends_with(".json") {
            let index = StreamIndex::from_json(&put.body).unwrap();
            for s in &index.segments {
                let key = keys::segment_key(
                    Az::Az1,
                    &name(),
                    keys::SegmentId {
                        epoch: index.epoch,
                        msn: s.msn,
                    },
                );
                assert!(present.contains(&key), "{key} listed before it was written");
            }
        } else {
            present.insert(put.key.clone());
            msns.push(
                put.key
                    .rsplit('-')
                    .next()
                    .unwrap()
                    .trim_end_matches(".ts")
                    .parse()
                    .unwrap(),
            );
        }
    }
    msns
}

fn spool_dir(test: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("zc-uploader-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Segments dropped for any reason.
fn dropped(metrics: &Metrics) -> u64 {
    crate::ops::metrics::DropReason::ALL
        .iter()
        .map(|r| metrics.segments_dropped(*r))
        .sum()
}

/// An uploader of `live/show` on `store` with `config`, sent the first `n` of [`jobs`]; the
/// sender keeps its input open.
fn feed(
    tasks: &TaskTracker,
    store: &Arc<FlakyStore>,
    metrics: &Arc<Metrics>,
    config: UploaderConfig,
    n: u64,
) -> UploadSender {
    let tx = spawn_uploader_with(
        tasks,
        store.clone(),
        metrics.clone(),
        "live/show".into(),
        config,
    );
    for job in jobs(n) {
        Metrics::inc(&metrics.uploads_pending);
        tx.send(job).unwrap();
    }
    tx
}

fn fast() -> RetryPolicy {
    RetryPolicy {
        first_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        attempts: zonecast_contract::retry::Attempts::Unlimited,
        refused_attempts: 2,
    }
}

async fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test]
async fn an_outage_spills_to_the_spool_and_backfills_in_order() {
    let dir = spool_dir("outage");
    let metrics = Arc::new(Metrics::default());
    let (spool, _) =
        Spool::open(&dir, 1 << 20, SpoolFullPolicy::DropOldest, metrics.clone()).unwrap();
    let store = Arc::new(FlakyStore::default());
    store.down.store(true, Ordering::SeqCst);
    let tasks = TaskTracker::new();
    let config = UploaderConfig {
        memory_max_bytes: 2500,
        spool: Some(spool.clone()),
        retry: fast(),
        ..Default::default()
    };
    let tx = feed(&tasks, &store, &metrics, config, 20);
    // Two segments in memory (one of them in flight), the rest on disk.
    wait_for("the spool to fill", || spool.used() > 15_000).await;
    assert!(metrics.spool_bytes.get() > 15_000);
    store.down.store(false, Ordering::SeqCst);
    drop(tx);
    tasks.close();
    tasks.wait().await;
    let puts = store.puts.lock().unwrap();
    assert_eq!(
        check(&puts),
        (0..20).collect::<Vec<_>>(),
        "every segment, in order"
    );
    assert_eq!(
        puts.last().map(|p| p.key.ends_with("index.json")),
        Some(true)
    );
    assert_eq!(spool.used(), 0, "the spool is empty once backfilled");
    assert_eq!(metrics.segment_bytes_uploaded.get(), 20 * 1000);
    assert_eq!(dropped(&metrics), 0);
    assert_eq!(metrics.uploads_pending.get(), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_full_spool_drops_the_oldest_and_no_index_names_them() {
    let dir = spool_dir("full");
    let metrics = Arc::new(Metrics::default());
    // Room for about four segments on disk.
    let (spool, _) = Spool::open(&dir, 4500, SpoolFullPolicy::DropOldest, metrics.clone()).unwrap();
    let store = Arc::new(FlakyStore::default());
    store.down.store(true, Ordering::SeqCst);
    let tasks = TaskTracker::new();
    let config = UploaderConfig {
        memory_max_bytes: 1000,
        spool: Some(spool.clone()),
        retry: fast(),
        ..Default::default()
    };
    let tx = feed(&tasks, &store, &metrics, config, 12);
    wait_for("drops", || {
        dropped(&metrics) > 0 && metrics.uploads_pending.get() <= 6
    })
    .await;
    store.down.store(false, Ordering::SeqCst);
    drop(tx);
    tasks.close();
    tasks.wait().await;
    let puts = store.puts.lock().unwrap();
    let written = check(&puts);
    let dropped = dropped(&metrics);
    assert!(dropped > 0);
    assert_eq!(written.len() as u64 + dropped, 12, "{written:?}");
    assert_eq!(
        written.last(),
        Some(&11),
        "the newest segments survive: {written:?}"
    );
    let last = StreamIndex::from_json(&puts.last().unwrap().body).unwrap();
    assert!(last.segments.iter().all(|s| written.contains(&s.msn)));
    assert_eq!(spool.used(), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn drop_newest_keeps_the_backlog_and_cuts_the_index() {
    let metrics = Arc::new(Metrics::default());
    let store = Arc::new(FlakyStore::default());
    store.down.store(true, Ordering::SeqCst);
    let tasks = TaskTracker::new();
    let config = UploaderConfig {
        memory_max_bytes: 3000,
        policy: SpoolFullPolicy::DropNewest,
        retry: fast(),
        ..Default::default()
    };
    let tx = feed(&tasks, &store, &metrics, config, 6);
    wait_for("drops", || dropped(&metrics) >= 2).await;
    store.down.store(false, Ordering::SeqCst);
    drop(tx);
    tasks.close();
    tasks.wait().await;
    let puts = store.puts.lock().unwrap();
    let written = check(&puts);
    assert_eq!(written[0], 0, "the oldest survive: {written:?}");
    assert_eq!(written.len() as u64 + dropped(&metrics), 6);
}

#[tokio::test]
async fn a_non_retryable_error_gives_the_segment_up_and_the_index_skips_it() {
    let metrics = Arc::new(Metrics::default());
    let store = Arc::new(FlakyStore::default());
    let refused = keys::segment_key(Az::Az1, &name(), keys::SegmentId { epoch: 7, msn: 3 });
    store.refused.lock().unwrap().insert(refused);
    let tasks = TaskTracker::new();
    let config = UploaderConfig {
        retry: fast(),
        ..Default::default()
    };
    let tx = feed(&tasks, &store, &metrics, config, 6);
    drop(tx);
    tasks.close();
    tasks.wait().await;
    let puts = store.puts.lock().unwrap();
    assert_eq!(check(&puts), vec![0, 1, 2, 4, 5]);
    let last = StreamIndex::from_json(&puts.last().unwrap().body).unwrap();
    let msns: Vec<_> = last.segments.iter().map(|s| s.msn).collect();
    assert_eq!(msns, vec![4, 5], "cut after the lost segment");
    assert_eq!(
        metrics.segments_dropped(crate::ops::metrics::DropReason::Refused),
        1
    );
    assert_eq!(dropped(&metrics), 1);
    // Segment 3 carried a discontinuity: the sequence moves past it.
    assert_eq!(last.discontinuity_sequence, 1);
}

#[tokio::test]
async fn a_drain_that_times_out_leaves_the_backlog_for_the_next_start() {
    let dir = spool_dir("persist");
    let metrics = Arc::new(Metrics::default());
    let (spool, _) =
        Spool::open(&dir, 1 << 20, SpoolFullPolicy::DropOldest, metrics.clone()).unwrap();
    let store = Arc::new(FlakyStore::default());
    store.down.store(true, Ordering::SeqCst);
    let tasks = TaskTracker::new();
    let persist = CancellationToken::new();
    let config = UploaderConfig {
        memory_max_bytes: 1 << 20,
        spool: Some(spool.clone()),
        retry: fast(),
        persist: persist.clone(),
        ..Default::default()
    };
    let tx = feed(&tasks, &store, &metrics, config.clone(), 5);
    tasks.close();
    assert!(
        tokio::time::timeout(Duration::from_millis(50), tasks.wait())
            .await
            .is_err()
    );
    persist.cancel();
    tasks.wait().await;
    drop(tx);
    assert!(store.puts.lock().unwrap().is_empty());
    drop(spool);

    // The next start: the spool is found and finished, the index last.
    let metrics = Arc::new(Metrics::default());
    let (spool, recovered) =
        Spool::open(&dir, 1 << 20, SpoolFullPolicy::DropOldest, metrics.clone()).unwrap();
    assert_eq!(recovered.len(), 1);
    store.down.store(false, Ordering::SeqCst);
    let tasks = TaskTracker::new();
    let config = UploaderConfig {
        spool: Some(spool.clone()),
        retry: fast(),
        ..Default::default()
    };
    recover_spool(
        &tasks,
        store.clone(),
        metrics.clone(),
        config,
        recovered,
        Arc::new(|_: &str| false),
    );
    tasks.close();
    tasks.wait().await;
    let puts = store.puts.lock().unwrap();
    assert_eq!(check(&puts), vec![0, 1, 2, 3, 4]);
    assert!(puts.last().unwrap().key.ends_with("index.json"));
    assert_eq!(spool.used(), 0);
    let _ = std::fs::remove_dir_all(&dir);
}
