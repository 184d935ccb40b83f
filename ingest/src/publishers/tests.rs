//! The rules for a name published twice, as a table, and the life of one claim.

use super::*;

const A: &str = "127.0.0.1:5000";
const B: &str = "127.0.0.1:6000";

fn request(name: &StreamName, publisher: &str, relayed: bool) -> PublishRequest {
    PublishRequest {
        name: name.clone(),
        publisher: publisher.parse().unwrap(),
        relayed,
    }
}

fn show() -> StreamName {
    StreamName::new("live", "show").unwrap()
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
        let mut p = Publishers::default();
        let first = p
            .claim(&request(&show(), A, old_relayed), policy, 8)
            .unwrap();
        let second = p.claim(&request(&show(), B, new_relayed), policy, 8);
        let case = format!("{policy:?}, old relayed {old_relayed}, new relayed {new_relayed}");
        match expected {
            Ok(()) => {
                let second = second.unwrap_or_else(|e| panic!("{case}: refused {e:?}"));
                assert!(*first.replaced.borrow(), "{case}: the old one was not told");
                assert!(!*second.replaced.borrow());
                let views = p.views();
                assert_eq!(views.len(), 1);
                assert_eq!(views[0].publisher, B.parse().unwrap(), "{case}");
            }
            Err(refusal) => {
                assert_eq!(second.unwrap_err(), refusal, "{case}");
                assert!(
                    !*first.replaced.borrow(),
                    "{case}: the live one was stopped"
                );
                assert_eq!(p.views()[0].publisher, A.parse().unwrap(), "{case}");
            }
        }
    }
}

/// A replacement takes over the stream's uploader and newest index; the replaced publish's
/// later updates and release do not touch its successor's entry.
#[test]
fn a_replacement_takes_over_the_uploader_and_the_old_claim_is_inert() {
    let mut p = Publishers::default();
    let policy = DuplicatePublishPolicy::ReplaceOld;
    let old = p.claim(&request(&show(), A, false), policy, 8).unwrap();
    // Before it has an uploader there is nothing to hand over.
    let early = p.claim(&request(&show(), B, false), policy, 8).unwrap();
    assert!(early.handover.is_none());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    p.set_uploads(&show(), early.id, &tx);
    p.set_session(&show(), early.id, "s-early");
    let third = p.claim(&request(&show(), A, false), policy, 8).unwrap();
    let handover = third.handover.expect("the uploader is handed over");
    assert!(handover.last_index.is_none());
    // It is the same queue.
    drop(tx);
    drop(handover.uploads);
    assert!(rx.try_recv().is_err());
    // The replaced claims are inert.
    p.set_session(&show(), old.id, "stale");
    p.release(&show(), old.id);
    p.release(&show(), early.id);
    assert!(
        p.contains("live/show"),
        "a replaced publish freed its successor's name"
    );
    assert_eq!(p.views()[0].session, None);
    p.release(&show(), third.id);
    assert!(!p.contains("live/show"));
}

#[test]
fn renditions_of_one_stream_are_names_of_their_own_up_to_the_limit() {
    let mut p = Publishers::default();
    let policy = DuplicatePublishPolicy::RejectNew;
    for i in 0..3 {
        let r = show().with_rendition(&format!("r{i}")).unwrap();
        p.claim(&request(&r, A, false), policy, 3).unwrap();
    }
    // The plain stream and another stream are not counted.
    p.claim(&request(&show(), A, false), policy, 3).unwrap();
    let other = StreamName::new("live", "other")
        .unwrap()
        .with_rendition("r0")
        .unwrap();
    p.claim(&request(&other, A, false), policy, 3).unwrap();
    let fourth = show().with_rendition("r3").unwrap();
    let refused = p.claim(&request(&fourth, A, false), policy, 3).unwrap_err();
    assert_eq!(refused, Refusal::TooManyRenditions { max: 3 });
    assert_eq!(refused.reason(), RefusalReason::TooManyRenditions);
    assert!(
        refused
            .message(&fourth)
            .contains("live/show has 3 renditions")
    );
    // A rendition already published is a duplicate, not over the limit.
    let again = show().with_rendition("r0").unwrap();
    assert_eq!(
        p.claim(&request(&again, A, false), policy, 3).unwrap_err(),
        Refusal::Duplicate
    );
    assert!(p.contains("live/show/r2"));
}

/// (shard, name, relayed?) → taken or refused. `live/show` is pair 1 of 2, `live/show1` pair
/// 0 of 2 (the contract's golden values); a rendition goes where its stream goes.
#[test]
fn a_publish_of_another_pairs_stream_is_refused() {
    let shard = |k, n| Some(ShardSpec::new(k, n).unwrap());
    let show1 = StreamName::new("live", "show1").unwrap();
    let show_720p = show().with_rendition("720p").unwrap();
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
        let mut p = Publishers::new(spec);
        let case = format!("shard {spec:?}, {name}, relayed {relayed}");
        let got = p.claim(
            &request(&name, A, relayed),
            DuplicatePublishPolicy::ReplaceOld,
            8,
        );
        match refused_owner {
            None => {
                got.unwrap_or_else(|e| panic!("{case}: refused {e:?}"));
                assert!(p.contains(&name.to_string()), "{case}");
            }
            Some(owner) => {
                let spec = spec.unwrap();
                let refusal = got.unwrap_err();
                assert_eq!(
                    refusal,
                    Refusal::WrongShard { shard: spec, owner },
                    "{case}"
                );
                assert_eq!(refusal.reason(), RefusalReason::WrongShard);
                assert_eq!(refusal.reason().as_str(), "wrong_shard");
                let message = refusal.message(&name);
                assert!(
                    message.contains(&format!("{} belongs to pair {owner} of 2", name.base())),
                    "{case}: {message}"
                );
                assert!(p.views().is_empty(), "{case}");
            }
        }
    }
}

/// A refused publish of another pair's stream leaves this pair's live stream alone.
#[test]
fn a_wrong_shard_refusal_does_not_touch_a_live_stream() {
    let mut p = Publishers::new(Some(ShardSpec::new(1, 2).unwrap()));
    let policy = DuplicatePublishPolicy::ReplaceOld;
    let live = p.claim(&request(&show(), A, false), policy, 8).unwrap();
    let show1 = StreamName::new("live", "show1").unwrap();
    assert!(p.claim(&request(&show1, B, false), policy, 8).is_err());
    assert!(!*live.replaced.borrow());
    let views = p.views();
    assert_eq!(views.len(), 1);
    assert_eq!(views[0].name, show());
}
