//! The packager on real FLV (fixtures made with ffmpeg, see fixtures/README.md), through the
//! real uploader into a recording store: storage order (invariant 1), retries (invariant 4),
//! and identical numbering and bytes for two AZs fed the same timeline (invariant 3).

use std::{
    collections::HashSet,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use chrono::{DateTime, Duration, TimeZone, Utc};
use zonecast_contract::{Az, StreamIndex, StreamName, StreamState, keys};
use zonecast_ingest::{
    media::flv::{FlvReader, FlvTag, FlvTagKind},
    media::packager::{Packager, PackagerConfig, PackagerEffect},
    ops::metrics::Metrics,
    storage::jobs::upload_job,
    storage::object_store::{ObjectStore, PutRequest, StoreError},
    storage::uploader::{UploadJob, UploadKind, spawn_uploader},
};

const FIXTURE: &[u8] = include_bytes!("fixtures/ffmpeg5_h264_high_aac_320x240_25fps.flv");

fn tags(flv: &[u8]) -> Vec<FlvTag> {
    let mut reader = FlvReader::default();
    reader.push(flv);
    let mut tags = Vec::new();
    while let Some(tag) = reader.pull().expect("fixture parses") {
        tags.push(tag);
    }
    tags
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap()
}

fn packager(az: Az, target_ms: u32, peer: Option<&StreamIndex>, now: DateTime<Utc>) -> Packager {
    Packager::new(
        PackagerConfig {
            az,
            target_ms,
            window: 4,
        },
        StreamName::new("live", "show").unwrap(),
        format!("{az}-test"),
        None,
        peer,
        now,
    )
}

/// Feeds tags with `now` following the encoder timeline (as a real-time publish would).
fn feed(p: &mut Packager, tags: &[FlvTag], base: DateTime<Utc>) -> Vec<PackagerEffect> {
    let mut effects = Vec::new();
    for tag in tags {
        let now = base + Duration::milliseconds(i64::from(tag.timestamp));
        let out = match tag.kind {
            FlvTagKind::Video => p.push_video(tag.timestamp, &tag.body, now),
            FlvTagKind::Audio => p.push_audio(tag.timestamp, &tag.body, now),
            FlvTagKind::Script => continue,
        };
        effects.extend(out.expect("fixture packages"));
    }
    effects
}

fn segments(effects: &[PackagerEffect]) -> Vec<(u64, bytes::Bytes)> {
    effects
        .iter()
        .filter_map(|e| match e {
            PackagerEffect::PutSegment { msn, bytes } => Some((*msn, bytes.clone())),
            PackagerEffect::PutIndex { .. } => None,
        })
        .collect()
}

#[test]
fn effects_put_each_segment_before_the_index_naming_it() {
    let mut p = packager(Az::Az1, 1000, None, start());
    let mut effects = feed(&mut p, &tags(FIXTURE), start());
    effects.extend(p.finish(StreamState::Ended, start() + Duration::seconds(10)));
    let mut written = HashSet::new();
    let mut indexes = 0;
    for e in &effects {
        match e {
            PackagerEffect::PutSegment { msn, .. } => {
                written.insert(*msn);
            }
            PackagerEffect::PutIndex { index } => {
                indexes += 1;
                for s in &index.segments {
                    assert!(
                        written.contains(&s.msn),
                        "index names {} before it is put",
                        s.msn
                    );
                }
            }
        }
    }
    assert!(
        indexes >= 2,
        "expected several index updates, got {indexes}"
    );
    let last = effects.iter().rev().find_map(|e| match e {
        PackagerEffect::PutIndex { index } => Some(index),
        PackagerEffect::PutSegment { .. } => None,
    });
    assert_eq!(last.map(|i| i.state), Some(StreamState::Ended));
}

/// Records every successful put in order; fails the first attempt of every third put so the
/// uploader's retry path runs too.
#[derive(Default)]
struct RecordingStore {
    puts: Mutex<Vec<PutRequest>>,
    attempts: AtomicU64,
    failed: Mutex<HashSet<String>>,
}

impl ObjectStore for RecordingStore {
    async fn put(&self, req: PutRequest) -> Result<(), StoreError> {
        let n = self.attempts.fetch_add(1, Ordering::SeqCst);
        if n % 3 == 2 && self.failed.lock().unwrap().insert(req.key.clone()) {
            return Err(StoreError {
                bucket: "test".into(),
                key: req.key,
                message: "injected failure".into(),
                retryable: true,
            });
        }
        self.puts.lock().unwrap().push(req);
        Ok(())
    }
}

/// The fixture's storage jobs, as the server enqueues them, with their keys.
fn upload_jobs(name: &StreamName) -> Vec<UploadJob> {
    let mut p = packager(Az::Az1, 1000, None, start());
    let mut effects = feed(&mut p, &tags(FIXTURE), start());
    effects.extend(p.finish(StreamState::Ended, start() + Duration::seconds(10)));
    let epoch = p.epoch();
    let now = tokio::time::Instant::now();
    effects
        .into_iter()
        .map(|effect| upload_job(Az::Az1, name, epoch, effect, now))
        .collect()
}

/// Invariant 1 on what the store received: each index names only segments already written.
fn assert_segments_before_indexes(puts: &[PutRequest], name: &StreamName) {
    let mut present = HashSet::new();
    for put in puts {
        if put.key.ends_with(".json") {
            let index = StreamIndex::from_json(&put.body).unwrap();
            for s in &index.segments {
                let key = keys::segment_key(
                    Az::Az1,
                    name,
                    keys::SegmentId {
                        epoch: index.epoch,
                        msn: s.msn,
                    },
                );
                assert!(present.contains(&key), "{key} listed before it was written");
            }
        } else {
            assert_eq!(put.content_type, "video/mp2t");
            present.insert(put.key.clone());
        }
    }
}

#[tokio::test]
async fn uploader_writes_segments_before_their_index_and_retries_failures() {
    let name = StreamName::new("live", "show").unwrap();
    let jobs = upload_jobs(&name);
    let expected: Vec<String> = jobs.iter().map(|j| j.request.key.clone()).collect();
    let store = Arc::new(RecordingStore::default());
    let metrics = Arc::new(Metrics::default());
    let tasks = tokio_util::task::TaskTracker::new();
    let tx = spawn_uploader(&tasks, store.clone(), metrics.clone(), name.to_string());
    // One job at a time, as a publish produces them when S3 keeps up.
    for job in jobs {
        let key = job.request.key.clone();
        Metrics::inc(&metrics.uploads_pending);
        tx.send(job).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while metrics.uploads_pending.get() > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "{key} still pending after 10 s: the uploader never finished it"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
    drop(tx);
    tasks.close();
    tasks.wait().await;

    let puts = store.puts.lock().unwrap();
    let keys_in_order: Vec<&str> = puts.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys_in_order, expected,
        "every job is written once, in order, despite failures"
    );
    assert!(
        !store.failed.lock().unwrap().is_empty(),
        "the retry path never ran"
    );
    assert_segments_before_indexes(&puts, &name);
}

#[tokio::test]
async fn a_backlog_writes_every_segment_and_only_the_newest_index() {
    let name = StreamName::new("live", "show").unwrap();
    let jobs = upload_jobs(&name);
    let segments: Vec<String> = jobs
        .iter()
        .filter(|j| j.kind != UploadKind::Index)
        .map(|j| j.request.key.clone())
        .collect();
    let indexes = jobs.iter().filter(|j| j.kind == UploadKind::Index).count() as u64;
    let last = jobs.last().map(|j| j.request.body.clone());
    let store = Arc::new(RecordingStore::default());
    let metrics = Arc::new(Metrics::default());
    let tasks = tokio_util::task::TaskTracker::new();
    let tx = spawn_uploader(&tasks, store.clone(), metrics.clone(), name.to_string());
    // Everything queued before the uploader runs: S3 was away for a while.
    for job in jobs {
        tx.send(job).unwrap();
    }
    drop(tx);
    tasks.close();
    tasks.wait().await;

    let puts = store.puts.lock().unwrap();
    let written_segments: Vec<String> = puts
        .iter()
        .filter(|p| !p.key.ends_with(".json"))
        .map(|p| p.key.clone())
        .collect();
    assert_eq!(written_segments, segments, "every segment, in order");
    assert_eq!(
        puts.last().map(|p| p.body.clone()),
        last,
        "the newest (ended) index is written last"
    );
    assert_eq!(puts.iter().filter(|p| p.key.ends_with(".json")).count(), 1);
    assert!(indexes > 1);
    assert_eq!(metrics.indexes_superseded.get(), indexes - 1);
    assert_segments_before_indexes(&puts, &name);
}

#[test]
fn two_azs_fed_the_same_timeline_cut_the_same_segments_byte_for_byte() {
    let tags = tags(FIXTURE);
    let mut a = packager(Az::Az1, 1000, None, start());
    // AZ2 connects 300 ms later: its wall clock differs, its encoder timeline does not.
    let mut b = packager(Az::Az2, 1000, None, start() + Duration::milliseconds(300));
    let sa = segments(&feed(&mut a, &tags, start()));
    let sb = segments(&feed(&mut b, &tags, start() + Duration::milliseconds(300)));
    assert!(sa.len() >= 2, "fixture too short: {} segments", sa.len());
    let msns = |s: &[(u64, bytes::Bytes)]| s.iter().map(|(m, _)| *m).collect::<Vec<_>>();
    assert_eq!(msns(&sa), msns(&sb));
    assert_eq!(sa, sb, "segment bytes differ between AZs");
}

#[test]
fn a_late_joiner_takes_its_peers_numbers() {
    let tags = tags(FIXTURE);
    let mut a = packager(Az::Az1, 1000, None, start());
    // AZ1 runs through the first half of the stream...
    let half = tags.len() / 2;
    let early = feed(&mut a, &tags[..half], start());
    let peer_index = early
        .iter()
        .rev()
        .find_map(|e| match e {
            PackagerEffect::PutIndex { index } => Some(index.clone()),
            PackagerEffect::PutSegment { .. } => None,
        })
        .expect("AZ1 wrote an index in the first half");
    let mut late = feed(&mut a, &tags[half..], start());
    late.extend(a.finish(StreamState::Ended, start() + Duration::seconds(10)));
    // ...then AZ2 starts, reads AZ1's index, and receives only the second half.
    let join_at = start() + Duration::milliseconds(i64::from(tags[half].timestamp));
    let mut b = packager(Az::Az2, 1000, Some(&peer_index), join_at);
    // A new connection gets the decoder configurations first, then the live frames.
    let configs = tags
        .iter()
        .filter(|t| t.kind != FlvTagKind::Script && t.body.get(1) == Some(&0));
    let joined: Vec<FlvTag> = configs
        .map(|t| FlvTag {
            timestamp: tags[half].timestamp,
            ..t.clone()
        })
        .chain(tags[half..].iter().cloned())
        .collect();
    let mut effects_b = feed(&mut b, &joined, start());
    effects_b.extend(b.finish(StreamState::Ended, start() + Duration::seconds(10)));
    let sb = segments(&effects_b);
    let sa = segments(&late);
    assert!(!sb.is_empty(), "the joiner cut no segment");
    // Every segment the joiner cut has AZ1's number and size for the same timeline (not its
    // bytes: continuity counters start over in a new muxer).
    for (msn, bytes) in &sb {
        let theirs = sa.iter().find(|(m, _)| m == msn);
        assert!(
            theirs.is_some(),
            "AZ2 segment {msn} has no AZ1 counterpart: AZ1 {:?}",
            sa.iter().map(|s| s.0).collect::<Vec<_>>()
        );
        assert_eq!(
            theirs.map(|t| t.1.len()),
            Some(bytes.len()),
            "segment {msn} differs in size"
        );
    }
}

/// Byte count and FNV-1a 64 (the contract's) of all segments, in order: a fingerprint of the
/// TS bytes.
fn fingerprint(effects: &[PackagerEffect]) -> String {
    let segments = segments(effects);
    let total: usize = segments.iter().map(|(_, b)| b.len()).sum();
    let hash =
        zonecast_contract::shard::fnv1a64(segments.iter().flat_map(|(_, b)| b.iter().copied()));
    format!("{total}:{hash:016x}")
}

/// The TS bytes of every fixture, byte for byte. A change here changes what both AZs write
/// (and what players get); a refactor of the remux path must leave it alone. Recorded when
/// payloads began to travel as slices of the RTMP message (the bytes were those of the muxer
/// that staged each access unit in one buffer), then once more when audio grouping took
/// nginx-rtmp's 150/300 ms rule (1.3–3.5 % fewer bytes on these low-bitrate fixtures).
#[test]
fn golden_ts_bytes_per_fixture() {
    let golden = [
        (
            "ffmpeg5_h264_high_aac_320x240_25fps.flv",
            "87984:316da134969995ce",
        ),
        (
            "ffmpeg5_h264_baseline_aac_426x240_25fps.flv",
            "96820:0b25bdf066205cd7",
        ),
        (
            "ffmpeg5_h264_main_aac_mono_44100hz.flv",
            "64296:c979f2f95996f51d",
        ),
        (
            "ffmpeg5_tee_no_global_header_h264_aac_320x240.flv",
            "66364:292c788fd14cdf6a",
        ),
        (
            "ffmpeg5_concat_copy_h264_320x240_then_160x120.flv",
            "59408:f4d79f6984aaf687",
        ),
    ];
    let mut seen = Vec::new();
    for (file, _) in golden {
        let path = format!("{}/tests/fixtures/{file}", env!("CARGO_MANIFEST_DIR"));
        let tags = tags(&std::fs::read(&path).expect("fixture"));
        let mut p = packager(Az::Az1, 2000, None, start());
        let effects = feed(&mut p, &tags, start());
        seen.push((file, fingerprint(&effects)));
    }
    for ((file, want), (_, got)) in golden.iter().zip(&seen) {
        assert_eq!(got, want, "{file}");
    }
}
