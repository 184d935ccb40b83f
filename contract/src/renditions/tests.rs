use chrono::TimeDelta;
use m3u8_rs::{MasterPlaylist, Playlist, QuotedOrUnquoted};

use super::*;
use crate::{Resolution, StreamInfo, StreamState, health::health_pair, url::Scheme};

const EPOCH: u64 = 1_740_830_100_000;

fn show() -> StreamName {
    StreamName::new("live", "show").unwrap()
}

fn t0() -> DateTime<Utc> {
    // An even 5 s slot at `now()`: az1 is offered first.
    "2025-03-01T11:59:55Z".parse().unwrap()
}

/// A live window of three segments ending at msn `last` of rendition `r` (`720p` or `360p`).
fn index(az: Az, r: &str, last: u64) -> StreamIndex {
    let (w, h, bw, codecs) = match r {
        "720p" => (1280, 720, 2_500_000, "avc1.64001f,mp4a.40.2"),
        _ => (640, 360, 800_000, "avc1.64001e,mp4a.40.2"),
    };
    StreamIndex::builder(az)
        .rendition(r)
        .session("20250301T115500Z-1")
        .epoch(EPOCH)
        .updated(t0() + TimeDelta::milliseconds(6500))
        .window(last - 2..=last, 2000, t0(), bw / 4)
        .info(StreamInfo {
            codecs: codecs.into(),
            resolution: Some(Resolution {
                width: w,
                height: h,
            }),
            bandwidth: bw,
            average_bandwidth: bw * 4 / 5,
            frame_rate: Some(30.0),
        })
        .build()
}

fn now() -> DateTime<Utc> {
    t0() + TimeDelta::milliseconds(7500)
}

fn stale(mut i: StreamIndex) -> StreamIndex {
    i.updated -= TimeDelta::seconds(60);
    i
}

fn ended(mut i: StreamIndex) -> StreamIndex {
    i.state = StreamState::Ended;
    i
}

fn rendition<'a>(
    r: &str,
    az1: Option<&'a StreamIndex>,
    az2: Option<&'a StreamIndex>,
) -> RenditionIndexes<'a> {
    RenditionIndexes {
        name: show().with_rendition(r).unwrap(),
        az1,
        az2,
    }
}

fn neutral() -> PublicBase {
    PublicBase::new(Scheme::Https, "media-hls.example.com").unwrap()
}

fn golden(name: &str, actual: &str) {
    let path = format!("{}/testdata/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("ZONECAST_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e} (ZONECAST_UPDATE_GOLDEN=1 writes it)"));
    assert_eq!(actual, expected, "{name} differs from its golden");
}

fn parse_master(body: &str) -> MasterPlaylist {
    match m3u8_rs::parse_playlist_res(body.as_bytes()) {
        Ok(Playlist::MasterPlaylist(p)) => p,
        other => panic!("not a master playlist: {other:?}\n{body}"),
    }
}

fn pathway(v: &m3u8_rs::VariantStream) -> String {
    match &v.other_attributes.as_ref().unwrap()["PATHWAY-ID"] {
        QuotedOrUnquoted::Quoted(s) => s.clone(),
        other => panic!("PATHWAY-ID not quoted: {other:?}"),
    }
}

#[test]
fn two_renditions_in_two_azs_golden() {
    let (a720, b720) = (index(Az::Az1, "720p", 102), index(Az::Az2, "720p", 102));
    let (a360, b360) = (index(Az::Az1, "360p", 102), index(Az::Az2, "360p", 102));
    let rs = [
        rendition("720p", Some(&a720), Some(&b720)),
        rendition("360p", Some(&a360), Some(&b360)),
    ];
    assert_eq!(az_healths(&rs, now()), [Health::Live, Health::Live]);
    let r = render_multivariant_renditions(&show(), &rs, &neutral(), now());
    assert_eq!(r.status, 200);
    assert_eq!(r.cache_control, "max-age=5");
    golden("multivariant_renditions_two_live.m3u8", &r.body);
    let p = parse_master(&r.body);
    let listed: Vec<(String, &str, u64)> = p
        .variants
        .iter()
        .map(|v| (pathway(v), v.uri.as_str(), v.resolution.unwrap().height))
        .collect();
    assert_eq!(
        listed,
        [
            (
                "az1".into(),
                "https://media-hls-az1.example.com/live/show/360p/chunklist.m3u8",
                360
            ),
            (
                "az1".into(),
                "https://media-hls-az1.example.com/live/show/720p/chunklist.m3u8",
                720
            ),
            (
                "az2".into(),
                "https://media-hls-az2.example.com/live/show/360p/chunklist.m3u8",
                360
            ),
            (
                "az2".into(),
                "https://media-hls-az2.example.com/live/show/720p/chunklist.m3u8",
                720
            ),
        ]
    );
    // Redundant variants: the same rendition carries the same attributes on both pathways.
    let strip = |v: &m3u8_rs::VariantStream| m3u8_rs::VariantStream {
        uri: String::new(),
        other_attributes: None,
        ..v.clone()
    };
    assert_eq!(strip(&p.variants[0]), strip(&p.variants[2]));
    assert_eq!(strip(&p.variants[1]), strip(&p.variants[3]));
    assert_eq!(
        p.variants[0].codecs.as_deref(),
        Some("avc1.64001e,mp4a.40.2")
    );
    assert_eq!(p.variants[1].bandwidth, 2_500_000);
    assert_eq!(p.variants[1].average_bandwidth, Some(2_000_000));
    assert_eq!(p.variants[1].frame_rate, Some(30.0));
    assert!(r.body.contains(
        "#EXT-X-CONTENT-STEERING:SERVER-URI=\"https://media-hls.example.com/live/show/steering.json\",PATHWAY-ID=\"az1\""
    ));
}

#[test]
fn a_dead_rendition_takes_its_az_out_golden() {
    let (a720, b720) = (index(Az::Az1, "720p", 102), index(Az::Az2, "720p", 102));
    // az1's 360p ingest stopped; its 720p is fine.
    let (a360, b360) = (
        stale(index(Az::Az1, "360p", 99)),
        index(Az::Az2, "360p", 102),
    );
    let rs = [
        rendition("720p", Some(&a720), Some(&b720)),
        rendition("360p", Some(&a360), Some(&b360)),
    ];
    assert_eq!(
        az_healths(&rs, now()),
        [Health::Dead(DeadReason::Stale), Health::Live]
    );
    let r = render_multivariant_renditions(&show(), &rs, &neutral(), now());
    golden("multivariant_renditions_dead_az.m3u8", &r.body);
    let p = parse_master(&r.body);
    assert_eq!(p.variants.len(), 2);
    assert!(p.variants.iter().all(|v| pathway(v) == "az2"));
    // Steering sends everyone to az2, even a player on az1.
    let s = render_steering_renditions(&show(), &rs, Some(Az::Az1), now());
    assert_eq!(s.status, 200);
    assert_eq!(
        s.body,
        r#"{"VERSION":1,"TTL":2,"PATHWAY-PRIORITY":["az2","az1"]}"#
    );
    // The rendition missing in az1 altogether: incomplete.
    let rs = [
        rendition("720p", Some(&a720), Some(&b720)),
        rendition("360p", None, Some(&b360)),
    ];
    assert_eq!(
        az_healths(&rs, now()),
        [Health::Dead(DeadReason::Incomplete), Health::Live]
    );
}

#[test]
fn a_rendition_gone_everywhere_is_dropped_and_the_rest_plays() {
    let (a720, b720) = (index(Az::Az1, "720p", 102), index(Az::Az2, "720p", 102));
    let (a360, b360) = (
        ended(index(Az::Az1, "360p", 90)),
        ended(index(Az::Az2, "360p", 90)),
    );
    let rs = [
        rendition("720p", Some(&a720), Some(&b720)),
        rendition("360p", Some(&a360), Some(&b360)),
    ];
    assert_eq!(az_healths(&rs, now()), [Health::Live, Health::Live]);
    let p = parse_master(&render_multivariant_renditions(&show(), &rs, &neutral(), now()).body);
    assert_eq!(p.variants.len(), 2);
    assert!(p.variants.iter().all(|v| v.uri.contains("/720p/")));
}

#[test]
fn ended_renditions_stay_watchable_and_nothing_is_404() {
    let (a720, a360) = (
        ended(index(Az::Az1, "720p", 102)),
        ended(index(Az::Az1, "360p", 102)),
    );
    let later = now() + TimeDelta::hours(2);
    let rs = [
        rendition("720p", Some(&a720), None),
        rendition("360p", Some(&a360), None),
    ];
    assert_eq!(az_healths(&rs, later), [Health::Ended, Health::Missing]);
    let r = render_multivariant_renditions(&show(), &rs, &neutral(), later);
    assert_eq!(r.status, 200);
    assert_eq!(parse_master(&r.body).variants.len(), 2);
    let none = [rendition("720p", None, None)];
    let r = render_multivariant_renditions(&show(), &none, &neutral(), now());
    assert_eq!(r.status, 404);
    assert_eq!(
        render_steering_renditions(&show(), &none, None, now()).status,
        404
    );
    let (s1, s2) = (
        stale(index(Az::Az1, "720p", 102)),
        stale(index(Az::Az2, "720p", 102)),
    );
    let dead = [rendition("720p", Some(&s1), Some(&s2))];
    let r = render_multivariant_renditions(&show(), &dead, &neutral(), now());
    assert_eq!(r.status, 404);
    assert!(r.body.contains("not live in any AZ"), "{}", r.body);
}

#[test]
fn plain_or_renditions() {
    let p = index(Az::Az1, "720p", 102);
    let mut plain = p.clone();
    plain.rendition = None;
    let plain_live = health_pair(Some(&plain), None, now());
    let plain_missing = health_pair(None, None, now());
    let live = [rendition("720p", Some(&p), None)];
    let old = ended(p.clone());
    let gone = [rendition("720p", Some(&old), None)];
    let none: [RenditionIndexes<'_>; 0] = [];
    assert!(prefer_renditions(plain_missing, &live, now()));
    assert!(prefer_renditions(plain_live, &live, now()));
    assert!(prefer_renditions(plain_missing, &gone, now()));
    // Published plain again after an ABR publish: the plain stream wins.
    assert!(!prefer_renditions(plain_live, &gone, now()));
    assert!(!prefer_renditions(plain_missing, &none, now()));
}

#[test]
fn stream_healths_judge_as_the_multivariant_playlist_does() {
    let (a1, a2) = (index(Az::Az1, "720p", 102), index(Az::Az2, "720p", 102));
    let (b1, b2) = (index(Az::Az1, "360p", 102), index(Az::Az2, "360p", 102));
    let mut plain = a1.clone();
    plain.rendition = None;
    let old_plain = ended(plain.clone());
    let both = [
        rendition("720p", Some(&a1), Some(&a2)),
        rendition("360p", Some(&b1), Some(&b2)),
    ];
    // 360p is missing in az2: az2 is incomplete, as its multivariant playlist says.
    let az2_lacks_one = [
        rendition("720p", Some(&a1), Some(&a2)),
        rendition("360p", Some(&b1), None),
    ];
    let none: [RenditionIndexes<'_>; 0] = [];
    assert_eq!(
        stream_healths([Some(&old_plain), None], &both, now()),
        [Health::Live, Health::Live]
    );
    assert_eq!(
        stream_healths([None, None], &az2_lacks_one, now()),
        [Health::Live, Health::Dead(DeadReason::Incomplete)]
    );
    assert_eq!(
        stream_healths([Some(&plain), None], &none, now()),
        [Health::Live, Health::Missing]
    );
    assert_eq!(
        stream_healths([None, None], &none, now()),
        [Health::Missing, Health::Missing]
    );
}

#[test]
fn rendition_list_document() {
    let list = RenditionList {
        version: RENDITIONS_VERSION,
        az: Az::Az1,
        app: "live".into(),
        stream: "show".into(),
        renditions: vec!["360p".into(), "720p".into(), "../x".into()],
        updated: t0(),
    };
    let again = RenditionList::from_json(&list.to_json()).unwrap();
    assert_eq!(again, list);
    let names: Vec<String> = again.names(&show()).iter().map(|n| n.to_string()).collect();
    assert_eq!(names, ["live/show/360p", "live/show/720p"]);
    let extra = String::from_utf8(list.to_json()).unwrap().replacen(
        "\"version\": 1,",
        "\"version\": 1, \"x\": 1,",
        1,
    );
    assert!(RenditionList::from_json(extra.as_bytes()).is_err());
}
