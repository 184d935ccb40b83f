use chrono::TimeDelta;
use m3u8_rs::Playlist;

use super::*;
use crate::{IndexSegment, Resolution, StreamInfo, health::DeadReason, url::Scheme};

fn show() -> StreamName {
    StreamName::new("live", "show").unwrap()
}

fn t0() -> DateTime<Utc> {
    // Chosen so that `now()` falls in an even 5 s slot: az1 is offered first.
    "2025-03-01T11:59:55Z".parse().unwrap()
}

/// A live window of `count` segments ending at msn `last`, updated when the last one was
/// uploaded (0.5 s after it ended).
fn index(az: Az, last: u64, count: u64) -> StreamIndex {
    let durations = [2000, 2002, 1998, 2000];
    let first = last + 1 - count;
    let mut pdt = t0();
    let segments: Vec<IndexSegment> = (first..=last)
        .enumerate()
        .map(|(i, msn)| {
            let duration_ms = durations[i % durations.len()];
            let s = IndexSegment {
                msn,
                duration_ms,
                timeline_ms: 2000 * msn as i64,
                program_date_time: pdt,
                discontinuity: false,
                bytes: 500_000,
            };
            pdt += TimeDelta::milliseconds(duration_ms.into());
            s
        })
        .collect();
    StreamIndex::builder(az)
        .session("20250301T115500Z-1")
        .epoch(EPOCH)
        .updated(pdt + TimeDelta::milliseconds(500))
        .info(StreamInfo {
            codecs: "avc1.64001f,mp4a.40.2".into(),
            resolution: Some(Resolution {
                width: 1280,
                height: 720,
            }),
            bandwidth: 2_500_000,
            average_bandwidth: 2_000_000,
            frame_rate: Some(30000.0 / 1001.0),
        })
        .segments(segments)
        .build()
}

const EPOCH: u64 = 1_740_830_100_000;

fn with_state(mut i: StreamIndex, state: StreamState) -> StreamIndex {
    i.state = state;
    i
}

fn stale(mut i: StreamIndex) -> StreamIndex {
    i.updated -= TimeDelta::seconds(60);
    i
}

fn ended(mut i: StreamIndex) -> StreamIndex {
    i.state = StreamState::Ended;
    i
}

/// Just after the fixture's last update: fresh.
fn now() -> DateTime<Utc> {
    index(Az::Az1, 102, 3).updated + TimeDelta::seconds(1)
}

fn host_base() -> PublicBase {
    PublicBase::new(Scheme::Https, "media-hls-az1.example.com").unwrap()
}

fn neutral_base() -> PublicBase {
    PublicBase::new(Scheme::Https, "media-hls.example.com").unwrap()
}

fn path_base() -> PublicBase {
    PublicBase::new(Scheme::Https, "d111111abcdef8.cloudfront.net").unwrap()
}

/// Compares with `testdata/golden/<name>`; `ZONECAST_UPDATE_GOLDEN=1` rewrites it instead.
fn golden(name: &str, actual: &str) {
    let path = format!("{}/testdata/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("ZONECAST_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e} (ZONECAST_UPDATE_GOLDEN=1 writes it)"));
    assert_eq!(actual, expected, "{name} differs from its golden");
}

fn parse_media(body: &str) -> MediaPlaylist {
    match m3u8_rs::parse_playlist_res(body.as_bytes()) {
        Ok(Playlist::MediaPlaylist(p)) => p,
        other => panic!("not a media playlist: {other:?}\n{body}"),
    }
}

fn parse_master(body: &str) -> MasterPlaylist {
    match m3u8_rs::parse_playlist_res(body.as_bytes()) {
        Ok(Playlist::MasterPlaylist(p)) => p,
        other => panic!("not a master playlist: {other:?}\n{body}"),
    }
}

fn uris(body: &str) -> Vec<&str> {
    body.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

#[test]
fn chunklist_host_mode_golden() {
    let i = index(Az::Az1, 102, 3);
    let r = render_chunklist(Az::Az1, &show(), Some(&i), None, &host_base(), now());
    assert_eq!(r.status, 200);
    assert_eq!(r.cache_control, "max-age=1");
    assert_eq!(r.content_type, "application/vnd.apple.mpegurl");
    golden("chunklist_host_mode.m3u8", &r.body);
    for uri in uris(&r.body) {
        assert!(uri.starts_with("https://media-hls-az1."), "{uri}");
    }
    let p = parse_media(&r.body);
    assert_eq!(p.version, Some(3));
    assert!(p.independent_segments);
    assert_eq!(p.target_duration, 2);
    assert_eq!(p.media_sequence, 100);
    assert!(!p.end_list);
    assert_eq!(p.segments.len(), 3);
    assert_eq!(p.segments[1].duration, 2.002);
    assert_eq!(
        p.segments[2].uri,
        "https://media-hls-az1.example.com/live/show/1740830100000-102.ts"
    );
    assert_eq!(p.segments[0].program_date_time, Some(t0().fixed_offset()));
    assert!(p.segments.iter().all(|s| s.program_date_time.is_some()));
}

#[test]
fn chunklist_path_mode_golden() {
    let i = index(Az::Az1, 102, 3);
    let r = render_chunklist(Az::Az1, &show(), Some(&i), None, &path_base(), now());
    assert_eq!(r.status, 200);
    golden("chunklist_path_mode.m3u8", &r.body);
    for uri in uris(&r.body) {
        assert!(
            uri.starts_with("https://d111111abcdef8.cloudfront.net/az1/"),
            "{uri}"
        );
        assert!(uri.contains("/az1/"), "{uri}");
    }
    assert_eq!(parse_media(&r.body).segments.len(), 3);
}

#[test]
fn chunklist_ended_with_discontinuity_golden() {
    let mut i = ended(index(Az::Az2, 43, 4));
    i.discontinuity_sequence = 2;
    i.segments[2].discontinuity = true;
    let base = PublicBase::new(Scheme::Https, "media-hls-az2.example.com").unwrap();
    // Ended is final however old: no 404, a day of caching.
    let later = i.updated + TimeDelta::hours(3);
    let r = render_chunklist(Az::Az2, &show(), Some(&i), None, &base, later);
    assert_eq!(r.status, 200);
    assert_eq!(r.cache_control, "max-age=86400");
    golden("chunklist_ended_discontinuity.m3u8", &r.body);
    let p = parse_media(&r.body);
    assert!(p.end_list);
    assert_eq!(p.discontinuity_sequence, 2);
    assert_eq!(p.media_sequence, 40);
    let flags: Vec<bool> = p.segments.iter().map(|s| s.discontinuity).collect();
    assert_eq!(flags, [false, false, true, false]);
    for uri in uris(&r.body) {
        assert!(uri.starts_with("https://media-hls-az2."), "{uri}");
    }
}

#[test]
fn multivariant_two_live_golden() {
    let (a1, a2) = (index(Az::Az1, 102, 3), index(Az::Az2, 102, 3));
    let r = render_multivariant(&show(), Some(&a1), Some(&a2), &neutral_base(), now());
    assert_eq!(r.status, 200);
    assert_eq!(r.cache_control, "max-age=5");
    golden("multivariant_two_live.m3u8", &r.body);
    let p = parse_master(&r.body);
    assert_eq!(p.version, Some(3));
    assert!(p.independent_segments);
    assert_eq!(p.variants.len(), 2);
    assert_eq!(
        p.variants[0].uri,
        "https://media-hls-az1.example.com/live/show/chunklist.m3u8"
    );
    assert_eq!(
        p.variants[1].uri,
        "https://media-hls-az2.example.com/live/show/chunklist.m3u8"
    );
    let v = &p.variants[0];
    assert_eq!(v.bandwidth, 2_500_000);
    assert_eq!(v.average_bandwidth, Some(2_000_000));
    assert_eq!(v.codecs.as_deref(), Some("avc1.64001f,mp4a.40.2"));
    assert_eq!(v.frame_rate, Some(29.97));
    let strip = |v: &VariantStream| VariantStream {
        uri: String::new(),
        other_attributes: None,
        ..v.clone()
    };
    assert_eq!(strip(&p.variants[0]), strip(&p.variants[1]));
}

#[test]
fn multivariant_one_az_golden() {
    let a2 = index(Az::Az2, 102, 3);
    let r = render_multivariant(&show(), None, Some(&a2), &neutral_base(), now());
    assert_eq!(r.status, 200);
    golden("multivariant_one_az.m3u8", &r.body);
    let p = parse_master(&r.body);
    assert_eq!(p.variants.len(), 1);
    assert_eq!(
        p.variants[0].uri,
        "https://media-hls-az2.example.com/live/show/chunklist.m3u8"
    );
}

#[test]
fn multivariant_carries_content_steering() {
    let (a1, a2) = (index(Az::Az1, 102, 3), index(Az::Az2, 102, 3));
    let r = render_multivariant(&show(), Some(&a1), Some(&a2), &neutral_base(), now());
    let p = parse_master(&r.body);
    let pathways: Vec<String> = p
        .variants
        .iter()
        .map(
            |v| match &v.other_attributes.as_ref().unwrap()["PATHWAY-ID"] {
                m3u8_rs::QuotedOrUnquoted::Quoted(s) => s.clone(),
                other => panic!("PATHWAY-ID not quoted: {other:?}"),
            },
        )
        .collect();
    assert_eq!(pathways, ["az1", "az2"]);
    let tag = p
        .unknown_tags
        .iter()
        .find(|t| t.tag == "X-CONTENT-STEERING")
        .expect("EXT-X-CONTENT-STEERING");
    assert_eq!(
        tag.rest.as_deref(),
        Some(
            "SERVER-URI=\"https://media-hls.example.com/live/show/steering.json\",PATHWAY-ID=\"az1\""
        )
    );
}

#[test]
fn multivariant_spreads_new_viewers_and_the_backup_copies_the_primary() {
    let a1 = index(Az::Az1, 101, 3);
    let mut a2 = index(Az::Az2, 102, 3);
    a2.info.bandwidth = 3_000_000;
    a2.info.codecs = "avc1.640028,mp4a.40.2".into();
    let listed = |at: DateTime<Utc>| {
        // Both indexes rewritten a moment before `at`.
        let shift = at - now();
        let (mut a1, mut a2) = (a1.clone(), a2.clone());
        a1.updated += shift;
        a2.updated += shift;
        let r = render_multivariant(&show(), Some(&a1), Some(&a2), &path_base(), at);
        parse_master(&r.body)
    };
    // One 5 s slot offers az1 first, the next az2 first: cached copies alternate.
    let p = listed(now());
    assert_eq!(p.variants.len(), 2);
    assert!(p.variants[0].uri.contains("/az1/"), "{}", p.variants[0].uri);
    assert!(p.variants[1].uri.contains("/az2/"), "{}", p.variants[1].uri);
    for v in &p.variants {
        assert_eq!(v.bandwidth, 2_500_000);
        assert_eq!(v.codecs.as_deref(), Some("avc1.64001f,mp4a.40.2"));
    }
    let p = listed(now() + TimeDelta::seconds(5));
    assert!(p.variants[0].uri.contains("/az2/"), "{}", p.variants[0].uri);
    for v in &p.variants {
        assert_eq!(v.bandwidth, 3_000_000);
        assert_eq!(v.codecs.as_deref(), Some("avc1.640028,mp4a.40.2"));
        assert!(
            v.uri
                .starts_with("https://d111111abcdef8.cloudfront.net/az")
        );
    }
}

#[test]
fn serving_order_prefers_live_then_alternates() {
    use Health::*;
    let even = now();
    let odd = now() + TimeDelta::seconds(5);
    assert_eq!(serving_order([Live, Live], even), [Az::Az1, Az::Az2]);
    assert_eq!(serving_order([Live, Live], odd), [Az::Az2, Az::Az1]);
    assert_eq!(serving_order([Waiting, Live], even), [Az::Az2, Az::Az1]);
    assert_eq!(serving_order([Live, Waiting], odd), [Az::Az1, Az::Az2]);
    assert_eq!(
        serving_order([Dead(DeadReason::Stale), Live], even),
        [Az::Az2]
    );
    assert_eq!(serving_order([Ended, Missing], even), []);
}

#[test]
fn multivariant_decisions() {
    let base = neutral_base();
    let n = now();
    let (l1, l2) = (index(Az::Az1, 102, 3), index(Az::Az2, 102, 3));
    let (s1, s2) = (stale(l1.clone()), stale(l2.clone()));
    let (e1, e2) = (ended(l1.clone()), ended(l2.clone()));
    let (w1, w2) = (
        with_state(l1.clone(), StreamState::Waiting),
        with_state(l2.clone(), StreamState::Waiting),
    );
    let d1 = with_state(l1.clone(), StreamState::Draining);
    let behind1 = index(Az::Az1, 100, 3);
    let listed = |a1: Option<&StreamIndex>, a2: Option<&StreamIndex>| -> Vec<String> {
        let r = render_multivariant(&show(), a1, a2, &base, n);
        assert_eq!(r.status, 200, "{}", r.body);
        parse_master(&r.body)
            .variants
            .into_iter()
            .map(|v| v.uri)
            .collect()
    };
    let az = |uri: &String| {
        if uri.contains("-az1.") { "az1" } else { "az2" }
    };
    let order = |v: Vec<String>| v.iter().map(az).collect::<Vec<_>>();

    // Never a 5xx: nothing to list is a 404 with a 1 s lifetime.
    for (a1, a2) in [
        (None, None),
        (Some(&s1), Some(&s2)),
        (Some(&s1), None),
        (Some(&d1), None),
    ] {
        let r = render_multivariant(&show(), a1, a2, &base, n);
        assert_eq!((r.status, r.cache_control.as_str()), (404, "max-age=1"));
        assert!(!r.is_playlist());
    }

    assert_eq!(order(listed(Some(&l1), Some(&s2))), ["az1"]);
    assert_eq!(order(listed(Some(&s1), Some(&l2))), ["az2"]);
    assert_eq!(order(listed(Some(&e1), Some(&l2))), ["az2"]);
    assert_eq!(order(listed(Some(&d1), Some(&l2))), ["az2"]);
    assert_eq!(order(listed(Some(&behind1), Some(&l2))), ["az2"]);
    assert_eq!(order(listed(Some(&w1), Some(&w2))), ["az1", "az2"]);
    assert_eq!(order(listed(Some(&w1), Some(&l2))), ["az2", "az1"]);
    assert_eq!(order(listed(Some(&e1), Some(&e2))), ["az1", "az2"]);
    assert_eq!(order(listed(Some(&s1), Some(&e2))), ["az2"]);
    assert_eq!(order(listed(None, Some(&e2))), ["az2"]);
}

#[test]
fn chunklist_decisions() {
    let base = host_base();
    let n = now();
    let live = index(Az::Az1, 102, 3);
    let peer_live = index(Az::Az2, 102, 3);
    let own_stale = stale(live.clone());
    let render = |own: Option<&StreamIndex>, peer: Option<&StreamIndex>| {
        render_chunklist(Az::Az1, &show(), own, peer, &base, n)
    };

    let r = render(None, Some(&peer_live));
    assert_eq!((r.status, r.cache_control.as_str()), (404, "max-age=1"));
    assert_eq!(r.content_type, ERROR_CONTENT_TYPE);

    // Dead while the peer serves: a 404 (never a 5xx), 1 s, saying why.
    for (own, peer, why) in [
        (own_stale.clone(), peer_live.clone(), "stale"),
        (
            own_stale.clone(),
            with_state(peer_live.clone(), StreamState::Waiting),
            "stale",
        ),
        (index(Az::Az1, 100, 3), peer_live.clone(), "behind"),
        (
            with_state(live.clone(), StreamState::Draining),
            peer_live.clone(),
            "draining",
        ),
    ] {
        let r = render(Some(&own), Some(&peer));
        assert_eq!((r.status, r.cache_control.as_str()), (404, "max-age=1"));
        assert!(r.body.contains(why), "{}", r.body);
    }
    // Dead with no serving peer: the last window is still the best answer.
    for peer in [
        None,
        Some(stale(peer_live.clone())),
        Some(ended(peer_live.clone())),
        Some(with_state(peer_live.clone(), StreamState::Draining)),
    ] {
        let r = render(Some(&own_stale), peer.as_ref());
        assert_eq!(r.status, 200);
        assert!(r.is_playlist());
    }
    let draining_alone = with_state(live.clone(), StreamState::Draining);
    let r = render(Some(&draining_alone), None);
    assert_eq!((r.status, r.cache_control.as_str()), (200, "max-age=1"));
    assert!(!parse_media(&r.body).end_list);
    let r = render(Some(&live), None);
    assert_eq!(r.status, 200);
    let r = render(Some(&live), Some(&peer_live));
    assert_eq!(r.status, 200);
}

#[test]
fn chunklist_waiting_for_the_encoder_golden() {
    // The publisher went away within the grace period: live, no ENDLIST, short lifetime, in
    // both AZs at once (neither is dead).
    let own = with_state(index(Az::Az1, 102, 3), StreamState::Waiting);
    let peer = with_state(index(Az::Az2, 102, 3), StreamState::Waiting);
    let r = render_chunklist(
        Az::Az1,
        &show(),
        Some(&own),
        Some(&peer),
        &host_base(),
        now(),
    );
    assert_eq!((r.status, r.cache_control.as_str()), (200, "max-age=1"));
    golden("chunklist_waiting.m3u8", &r.body);
    assert!(!parse_media(&r.body).end_list);
    let r = render_multivariant(&show(), Some(&own), Some(&peer), &neutral_base(), now());
    assert_eq!(r.status, 200);
    golden("multivariant_waiting.m3u8", &r.body);
}

#[test]
fn steering_manifest() {
    let n = now();
    let (l1, l2) = (index(Az::Az1, 102, 3), index(Az::Az2, 102, 3));
    let s1 = stale(l1.clone());
    let priority = |a1: Option<&StreamIndex>, a2: Option<&StreamIndex>, current, at| {
        let r = render_steering(&show(), a1, a2, current, at);
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.content_type, "application/json");
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v["VERSION"], 1);
        assert_eq!(v["TTL"], 2);
        assert_eq!(r.cache_control, "max-age=2");
        v["PATHWAY-PRIORITY"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let r = render_steering(&show(), Some(&l1), Some(&l2), None, n);
    assert_eq!(
        r.body,
        r#"{"VERSION":1,"TTL":2,"PATHWAY-PRIORITY":["az1","az2"]}"#
    );
    // Both live: the current pathway stays first; without one, the alternation decides.
    assert_eq!(
        priority(Some(&l1), Some(&l2), Some(Az::Az2), n),
        ["az2", "az1"]
    );
    assert_eq!(
        priority(Some(&l1), Some(&l2), Some(Az::Az1), n),
        ["az1", "az2"]
    );
    let odd = n + TimeDelta::seconds(5);
    let l2_later = {
        let mut i = l2.clone();
        i.updated += TimeDelta::seconds(5);
        i
    };
    let l1_later = {
        let mut i = l1.clone();
        i.updated += TimeDelta::seconds(5);
        i
    };
    assert_eq!(
        priority(Some(&l1_later), Some(&l2_later), None, odd),
        ["az2", "az1"]
    );
    // A dead AZ goes last even when it is the current pathway.
    assert_eq!(
        priority(Some(&s1), Some(&l2), Some(Az::Az1), n),
        ["az2", "az1"]
    );
    assert_eq!(priority(None, Some(&l2), None, n), ["az2", "az1"]);
    let r = render_steering(&show(), None, None, None, n);
    assert_eq!((r.status, r.cache_control.as_str()), (404, "max-age=1"));
}

#[test]
fn chunklist_cache_lifetimes() {
    let mut i = index(Az::Az1, 102, 3);
    assert_eq!(chunklist_cache_control(&i), "max-age=1");
    i.target_duration_ms = 6000;
    assert_eq!(chunklist_cache_control(&i), "max-age=3");
    i.target_duration_ms = 1000;
    i.segments.iter_mut().for_each(|s| s.duration_ms = 1000);
    assert_eq!(chunklist_cache_control(&i), "max-age=1");
    assert_eq!(chunklist_cache_control(&ended(i)), "max-age=86400");
}

#[test]
fn empty_window_and_unmeasured_bandwidth() {
    let mut i = index(Az::Az1, 102, 3);
    i.info.bandwidth = 0;
    i.info.average_bandwidth = 0;
    i.info.resolution = None;
    i.info.frame_rate = None;
    let body = multivariant_playlist(&show(), &[(Az::Az1, &i)], &neutral_base());
    let p = parse_master(&body);
    // 500 kB in 1.998 s is the peak.
    assert_eq!(p.variants[0].bandwidth, 500_000 * 8000 / 1998);
    assert_eq!(p.variants[0].average_bandwidth, None);
    i.segments.clear();
    let body = chunklist_playlist(Az::Az1, &show(), &i, &host_base());
    let p = parse_media(&body);
    assert!(p.segments.is_empty());
    assert_eq!(p.target_duration, 2);
}
