//! The stream table, transition by transition (the table in the module doc), with plain values
//! for the shell's handles: an upload queue is a number, a stop signal a label.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use zonecast_contract::{ShardSpec, StreamIndex, StreamName, StreamState};

use super::*;
use crate::{config::DuplicatePublishPolicy, ops::metrics::RefusalReason};

const A: &str = "127.0.0.1:5000";
const B: &str = "127.0.0.1:6000";
const GRACE: Duration = Duration::from_secs(10);
const BEAT: Duration = Duration::from_secs(1);

type Table = StreamTable<u32, &'static str>;

fn config() -> StreamTableConfig {
    StreamTableConfig {
        shard: None,
        duplicate: DuplicatePublishPolicy::ReplaceOld,
        max_renditions: 8,
        on_unpublish: UnpublishPolicy::Grace,
        grace: GRACE,
        heartbeat: BEAT,
    }
}

fn table() -> Table {
    StreamTable::new(config())
}

fn request(name: &StreamName, publisher: &str, relayed: bool) -> PublishRequest {
    PublishRequest {
        name: name.clone(),
        publisher: publisher.parse().expect("addr"),
        relayed,
    }
}

fn show() -> StreamName {
    StreamName::new("live", "show").expect("name")
}

fn wall(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + secs, 0)
        .single()
        .expect("time")
}

fn index(name: &StreamName, updated: i64, state: StreamState) -> StreamIndex {
    StreamIndex {
        version: zonecast_contract::INDEX_VERSION,
        az: zonecast_contract::Az::Az1,
        app: name.app().into(),
        stream: name.stream().into(),
        rendition: name.rendition().map(Into::into),
        session: "s1".into(),
        epoch: 7,
        state,
        updated: wall(updated),
        target_duration_ms: 2000,
        discontinuity_sequence: 0,
        info: Default::default(),
        segments: Vec::new(),
    }
}

/// Claims `show` from A and gives it upload queue `queue` and a last index.
fn live(t: &mut Table, queue: u32) -> u64 {
    let claimed = t.claim(&request(&show(), A, false), "a").expect("claim");
    t.attach(&show(), claimed.id, "s1", &queue);
    t.note_index(&show(), claimed.id, &index(&show(), 0, StreamState::Live));
    claimed.id
}

/// Ends publish `id` as the shell does: the state for `end`, then `ended` with the last index.
fn end(t: &mut Table, id: u64, end: PublishEnd, queue: u32, now: Instant) -> Ended {
    let Some(state) = t.end_state(end) else {
        return Ended::Superseded;
    };
    let last = Some(index(&show(), 1, state));
    let (ended, effects) = t.ended(&show(), id, state, last, &queue, now);
    assert!(effects.is_empty());
    ended
}

fn written(effects: &[PublishEffect<u32>]) -> Vec<(String, StreamState, u32)> {
    effects
        .iter()
        .map(
            |PublishEffect::WriteIndex {
                 name,
                 index,
                 uploads,
             }| (name.to_string(), index.state, *uploads),
        )
        .collect()
}

/// (policy, live publish relayed?, new publish relayed?) → what happens to the new one.
#[test]
fn a_second_publish_of_a_live_name() {
    use DuplicatePublishPolicy::{RejectNew, ReplaceOld};
    let cases = [
        (ReplaceOld, false, false, Ok(())),
        (RejectNew, false, false, Err(Refusal::Duplicate)),
        // Direct wins, whatever the policy.
        (ReplaceOld, false, true, Err(Refusal::RelayBehindDirect)),
        (RejectNew, false, true, Err(Refusal::RelayBehindDirect)),
        (ReplaceOld, true, false, Ok(())),
        (RejectNew, true, false, Ok(())),
        // Two relays: the policy decides.
        (ReplaceOld, true, true, Ok(())),
        (RejectNew, true, true, Err(Refusal::Duplicate)),
    ];
    for (policy, old_relayed, new_relayed, expected) in cases {
        let mut t: Table = StreamTable::new(StreamTableConfig {
            duplicate: policy,
            ..config()
        });
        t.claim(&request(&show(), A, old_relayed), "first")
            .expect("first");
        let second = t.claim(&request(&show(), B, new_relayed), "second");
        let case = format!("{policy:?}, old relayed {old_relayed}, new relayed {new_relayed}");
        match expected {
            Ok(()) => {
                let second = second.unwrap_or_else(|e| panic!("{case}: refused {e:?}"));
                assert_eq!(
                    second.replaced,
                    Some("first"),
                    "{case}: old one not stopped"
                );
                let views = t.views();
                assert_eq!(views.len(), 1);
                assert_eq!(views[0].publisher, B.parse().ok(), "{case}");
            }
            Err(refusal) => {
                assert_eq!(second.expect_err("refused"), refusal, "{case}");
                assert_eq!(t.views()[0].publisher, A.parse().ok(), "{case}");
            }
        }
    }
}

/// Where a claimed publish starts from, by what the table holds of its name.
#[test]
fn a_claim_starts_fresh_takes_over_or_resumes() {
    // Nothing here: fresh, with the newest spooled index an earlier run left (taken once).
    let mut t = table();
    t.offer_spooled(index(&show(), 5, StreamState::Live));
    t.offer_spooled(index(&show(), 3, StreamState::Live));
    let first = t.claim(&request(&show(), A, false), "a").expect("claim");
    match first.start {
        PublishStart::Fresh { spooled: Some(s) } => assert_eq!(s.updated, wall(5)),
        other => panic!("fresh with the newest spooled index expected, got {other:?}"),
    }
    // Replaced before it had an upload queue: nothing to take over, fresh (spool taken).
    let early = t.claim(&request(&show(), B, false), "b").expect("claim");
    assert!(
        matches!(early.start, PublishStart::Fresh { spooled: None }),
        "{:?}",
        early.start
    );
    assert_eq!(early.replaced, Some("a"));
    t.attach(&show(), early.id, "s-early", &7);
    t.note_index(&show(), early.id, &index(&show(), 9, StreamState::Live));
    // Replaced with a queue: its queue and newest index are taken over.
    let third = t.claim(&request(&show(), A, false), "c").expect("claim");
    match third.start {
        PublishStart::TakeOver {
            last: Some(last),
            uploads: 7,
        } => assert_eq!(last.updated, wall(9)),
        other => panic!("take-over expected, got {other:?}"),
    }
    // The replaced publishes are inert: their updates, end and release touch nothing.
    t.attach(&show(), first.id, "stale", &1);
    t.release(&show(), first.id);
    let now = Instant::now();
    assert_eq!(
        end(&mut t, early.id, PublishEnd::Replaced, 7, now),
        Ended::Superseded
    );
    let (ended, _) = t.ended(&show(), early.id, StreamState::Waiting, None, &7, now);
    assert_eq!(ended, Ended::Superseded);
    assert!(
        t.is_active("live/show"),
        "a replaced publish freed its successor's name"
    );
    assert_eq!(t.views()[0].session, None);
    t.release(&show(), third.id);
    assert!(!t.is_active("live/show"));
}

/// (end, grace, on-unpublish, shutting down) → the final index state and what the table holds.
#[test]
fn how_a_publish_ends() {
    use PublishEnd::{Dropped, Replaced, Shutdown, Unpublished};
    use StreamState::{Draining, Ended as Over, Waiting};
    use UnpublishPolicy::{End, Grace as Wait};
    let zero = Duration::ZERO;
    let cases = [
        (Dropped, GRACE, Wait, false, Some(Waiting)),
        (Unpublished, GRACE, Wait, false, Some(Waiting)),
        (Unpublished, GRACE, End, false, Some(Over)),
        (Dropped, GRACE, End, false, Some(Waiting)),
        (Dropped, zero, Wait, false, Some(Over)),
        (Unpublished, zero, Wait, false, Some(Over)),
        (Shutdown, GRACE, Wait, false, Some(Draining)),
        (Replaced, GRACE, Wait, false, None),
        // Once the ingest shuts down, every end drains (none waits: nothing would beat).
        (Dropped, GRACE, Wait, true, Some(Draining)),
        (Unpublished, GRACE, End, true, Some(Draining)),
        (Replaced, GRACE, Wait, true, None),
    ];
    for (how, grace, on_unpublish, shutting_down, expected) in cases {
        let case =
            format!("{how:?}, grace {grace:?}, {on_unpublish:?}, shutting down {shutting_down}");
        let mut t: Table = StreamTable::new(StreamTableConfig {
            grace,
            on_unpublish,
            ..config()
        });
        let id = live(&mut t, 1);
        if shutting_down {
            assert!(t.shutdown(wall(0)).is_empty(), "{case}");
        }
        assert_eq!(t.end_state(how), expected, "{case}");
        let ended = end(&mut t, id, how, 1, Instant::now());
        match expected {
            Some(Waiting) => {
                assert_eq!(ended, Ended::Waiting { grace }, "{case}");
                assert_eq!(t.waiting_count(), 1, "{case}");
                assert!(t.is_active("live/show"), "{case}");
            }
            Some(state) => {
                assert_eq!(ended, Ended::Over(state), "{case}");
                assert!(!t.is_active("live/show"), "{case}");
            }
            None => assert_eq!(ended, Ended::Superseded, "{case}"),
        }
    }
}

/// A waiting stream beats every heartbeat through its own queue, then ends when its grace is
/// over; the table's next deadline is always the earliest of them.
#[test]
fn a_waiting_stream_beats_then_ends() {
    let mut t = table();
    let t0 = Instant::now();
    let id = live(&mut t, 4);
    assert_eq!(t.next_deadline(), None, "a live stream has no deadline");
    let ended = end(&mut t, id, PublishEnd::Dropped, 4, t0);
    assert_eq!(ended, Ended::Waiting { grace: GRACE });
    assert_eq!(t.next_deadline(), Some(t0 + BEAT));
    assert!(
        t.tick(t0 + BEAT / 2, wall(1)).is_empty(),
        "nothing is due before the beat"
    );
    let beat = t.tick(t0 + BEAT, wall(2));
    assert_eq!(
        written(&beat),
        [("live/show".into(), StreamState::Waiting, 4)]
    );
    let PublishEffect::WriteIndex { index, .. } = &beat[0];
    assert_eq!(
        index.updated,
        wall(2),
        "a heartbeat is stamped when it is written"
    );
    assert_eq!(t.next_deadline(), Some(t0 + 2 * BEAT));
    // A late tick beats once, not once per missed beat, and the next beat is a beat away.
    let late = t0 + BEAT * 5 + BEAT / 2;
    assert_eq!(t.tick(late, wall(6)).len(), 1);
    assert_eq!(t.next_deadline(), Some(late + BEAT));
    // The grace period ends: `ended`, and the stream is gone.
    let over = t.tick(t0 + GRACE, wall(10));
    assert_eq!(
        written(&over),
        [("live/show".into(), StreamState::Ended, 4)]
    );
    assert_eq!(t.next_deadline(), None);
    assert!(!t.is_active("live/show"));
    assert!(t.tick(t0 + GRACE * 2, wall(20)).is_empty());
}

/// The encoder comes back within the grace period: the publish resumes from the waiting index
/// and queue, and the heartbeats stop.
#[test]
fn the_encoder_comes_back_within_the_grace_period() {
    let mut t = table();
    let t0 = Instant::now();
    let id = live(&mut t, 4);
    end(&mut t, id, PublishEnd::Dropped, 4, t0);
    let views = t.views();
    assert!(!views[0].publishing);
    assert_eq!(views[0].publisher, None);
    let back = t.claim(&request(&show(), B, false), "back").expect("claim");
    match back.start {
        PublishStart::Resume { last, uploads: 4 } => assert_eq!(last.state, StreamState::Waiting),
        other => panic!("resume expected, got {other:?}"),
    }
    assert_eq!(
        back.replaced, None,
        "nothing to stop: the old publish is gone"
    );
    assert_eq!(t.next_deadline(), None);
    assert!(
        t.tick(t0 + GRACE, wall(10)).is_empty(),
        "no heartbeat and no end after the resume"
    );
    // The old publish's late release does not free the resumed stream.
    t.release(&show(), id);
    assert!(t.views()[0].publishing);
}

/// Shutdown: every waiting stream says `draining` through its own queue and leaves the table.
#[test]
fn shutdown_drains_the_waiting_streams() {
    let mut t = table();
    let id = live(&mut t, 4);
    end(&mut t, id, PublishEnd::Dropped, 4, Instant::now());
    let other = StreamName::new("live", "other").expect("name");
    let o = t.claim(&request(&other, B, false), "o").expect("claim");
    t.attach(&other, o.id, "s", &5);
    let effects = t.shutdown(wall(3));
    assert_eq!(
        written(&effects),
        [("live/show".into(), StreamState::Draining, 4)]
    );
    assert_eq!(t.waiting_count(), 0);
    assert!(
        t.is_active("live/other"),
        "a live publish drains on its own connection"
    );
    assert_eq!(t.next_deadline(), None);
}

#[test]
fn renditions_of_one_stream_are_names_of_their_own_up_to_the_limit() {
    let mut t: Table = StreamTable::new(StreamTableConfig {
        duplicate: DuplicatePublishPolicy::RejectNew,
        max_renditions: 3,
        ..config()
    });
    for i in 0..3 {
        let r = show().with_rendition(&format!("r{i}")).expect("name");
        t.claim(&request(&r, A, false), "r").expect("claim");
    }
    // The plain stream and another stream are not counted.
    t.claim(&request(&show(), A, false), "p").expect("claim");
    let other = StreamName::new("live", "other")
        .and_then(|n| n.with_rendition("r0"))
        .expect("name");
    t.claim(&request(&other, A, false), "o").expect("claim");
    let fourth = show().with_rendition("r3").expect("name");
    let refused = t
        .claim(&request(&fourth, A, false), "x")
        .expect_err("over the limit");
    assert_eq!(refused, Refusal::TooManyRenditions { max: 3 });
    assert_eq!(refused.reason(), RefusalReason::TooManyRenditions);
    assert!(
        refused
            .message(&fourth)
            .contains("live/show has 3 renditions")
    );
    // A rendition already published is a duplicate, not over the limit.
    let again = show().with_rendition("r0").expect("name");
    assert_eq!(
        t.claim(&request(&again, A, false), "y")
            .expect_err("duplicate"),
        Refusal::Duplicate
    );
    assert!(t.is_active("live/show/r2"));
}

/// (shard, name, relayed?) → taken or refused. `live/show` is pair 1 of 2, `live/show1` pair
/// 0 of 2 (the contract's golden values); a rendition goes where its stream goes.
#[test]
fn a_publish_of_another_pairs_stream_is_refused() {
    let shard = |k, n| ShardSpec::new(k, n).ok();
    let show1 = StreamName::new("live", "show1").expect("name");
    let show_720p = show().with_rendition("720p").expect("name");
    let cases = [
        // One pair, said or not: everything.
        (None, show(), false, None),
        (None, show1.clone(), true, None),
        (shard(0, 1), show(), false, None),
        (shard(0, 1), show1.clone(), false, None),
        // Two pairs.
        (shard(1, 2), show(), false, None),
        (shard(1, 2), show_720p.clone(), false, None),
        (shard(0, 2), show1.clone(), false, None),
        (shard(0, 2), show(), false, Some(1)),
        (shard(0, 2), show_720p.clone(), false, Some(1)),
        (shard(1, 2), show1.clone(), false, Some(0)),
        // A relay is checked like any publish (in shard by construction between the two AZs
        // of a pair; a misconfigured peer of another pair is refused too).
        (shard(0, 2), show(), true, Some(1)),
        (shard(1, 2), show(), true, None),
    ];
    for (spec, name, relayed, refused_owner) in cases {
        let mut t: Table = StreamTable::new(StreamTableConfig {
            shard: spec,
            ..config()
        });
        let case = format!("shard {spec:?}, {name}, relayed {relayed}");
        let got = t.claim(&request(&name, A, relayed), "x");
        match refused_owner {
            None => {
                got.unwrap_or_else(|e| panic!("{case}: refused {e:?}"));
                assert!(t.is_active(&name.to_string()), "{case}");
            }
            Some(owner) => {
                let spec = spec.expect("a shard");
                let refusal = got.expect_err("refused");
                assert_eq!(
                    refusal,
                    Refusal::WrongShard { shard: spec, owner },
                    "{case}"
                );
                assert_eq!(refusal.reason().as_str(), "wrong_shard");
                let message = refusal.message(&name);
                assert!(
                    message.contains(&format!("{} belongs to pair {owner} of 2", name.base())),
                    "{case}: {message}"
                );
                assert!(t.views().is_empty(), "{case}");
            }
        }
    }
}

/// A refused publish of another pair's stream leaves this pair's live stream alone.
#[test]
fn a_wrong_shard_refusal_does_not_touch_a_live_stream() {
    let mut t: Table = StreamTable::new(StreamTableConfig {
        shard: ShardSpec::new(1, 2).ok(),
        ..config()
    });
    t.claim(&request(&show(), A, false), "live").expect("claim");
    let show1 = StreamName::new("live", "show1").expect("name");
    assert!(t.claim(&request(&show1, B, false), "x").is_err());
    let views = t.views();
    assert_eq!(views.len(), 1);
    assert_eq!(views[0].name, show());
}

/// A publish after a restart numbers on from the newest of the store's index and the one the
/// spool kept (the store's may be older while the spool is still being uploaded), so no new
/// segment takes the key of a spooled one.
#[test]
fn the_newest_own_index_wins_whether_in_the_store_or_the_spool() {
    let older = Some(index(&show(), 1, StreamState::Live));
    let newer = Some(index(&show(), 2, StreamState::Live));
    let pick = |a: &Option<StreamIndex>, b: &Option<StreamIndex>| {
        newest_index(a.clone(), b.clone()).map(|i| i.updated)
    };
    assert_eq!(pick(&older, &newer), Some(wall(2)));
    assert_eq!(pick(&newer, &older), Some(wall(2)));
    assert_eq!(pick(&None, &older), Some(wall(1)));
    assert_eq!(pick(&older, &None), Some(wall(1)));
    assert_eq!(pick(&None, &None), None);
    // The spool offers every stream's indexes; each stream keeps its newest, taken once.
    let other = StreamName::new("live", "other").expect("name");
    let mut t = table();
    t.offer_spooled(index(&show(), 2, StreamState::Live));
    t.offer_spooled(index(&show(), 1, StreamState::Live));
    t.offer_spooled(index(&other, 5, StreamState::Live));
    for (name, updated) in [(show(), 2), (other, 5)] {
        let claimed = t.claim(&request(&name, A, false), "x").expect("claim");
        match claimed.start {
            PublishStart::Fresh { spooled: Some(s) } => assert_eq!(s.updated, wall(updated)),
            other => panic!("{name}: fresh with its spooled index expected, got {other:?}"),
        }
        t.release(&name, claimed.id);
        let again = t.claim(&request(&name, A, false), "y").expect("claim");
        assert!(
            matches!(again.start, PublishStart::Fresh { spooled: None }),
            "{name}: taken once"
        );
    }
}
