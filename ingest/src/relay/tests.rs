use bytes::Bytes;

use super::{
    core::{Backoff, RelayCore, RelayOut},
    feed::{FeedAction, MediaKind, RelayFeed, RelayItem},
    *,
};

const AVC_CONFIG: &[u8] = &[0x17, 0, 0, 0, 0, 1, 0x64];
const AVC_KEY: &[u8] = &[0x17, 1, 0, 0, 0, 0xaa];
const AVC_INTER: &[u8] = &[0x27, 1, 0, 0, 0, 0xbb];
const AAC_CONFIG: &[u8] = &[0xaf, 0, 0x12, 0x10];
const AAC_FRAME: &[u8] = &[0xaf, 1, 0x21];

fn media(kind: MediaKind, timestamp: u32, data: &'static [u8]) -> RelayItem {
    RelayItem::Media {
        kind,
        timestamp,
        data: Bytes::from_static(data),
    }
}

#[test]
fn classifies_flv_bodies() {
    assert_eq!(MediaKind::of_video(AVC_CONFIG), MediaKind::VideoConfig);
    assert_eq!(MediaKind::of_video(AVC_KEY), MediaKind::VideoKeyframe);
    assert_eq!(MediaKind::of_video(AVC_INTER), MediaKind::VideoFrame);
    assert_eq!(MediaKind::of_video(&[]), MediaKind::VideoFrame);
    // Enhanced RTMP: IsExHeader | KeyFrame | SequenceStart, then a key frame's CodedFrames.
    assert_eq!(
        MediaKind::of_video(&[0x90, b'h', b'v', b'c', b'1']),
        MediaKind::VideoConfig
    );
    assert_eq!(
        MediaKind::of_video(&[0x91, b'h', b'v', b'c', b'1']),
        MediaKind::VideoKeyframe
    );
    assert_eq!(MediaKind::of_audio(AAC_CONFIG), MediaKind::AudioConfig);
    assert_eq!(MediaKind::of_audio(AAC_FRAME), MediaKind::AudioFrame);
    assert_eq!(MediaKind::of_audio(&[0x2f, 0]), MediaKind::AudioFrame);
}

#[test]
fn marker_and_relay_key() {
    assert_eq!(marker_of("show"), None);
    assert_eq!(marker_of("show?token=1.ab"), None);
    assert_eq!(
        marker_of("show?token=1.ab&zonecast-relay=az1"),
        Some(Some(Az::Az1))
    );
    // Unknown value: still a relayed publish (never relayed again).
    assert_eq!(marker_of("show?zonecast-relay=x"), Some(None));
    assert_eq!(relay_key("show", Az::Az1, None), "show?zonecast-relay=az1");
    // The encoder's query is kept (token, rendition); an old marker is not doubled.
    assert_eq!(
        relay_key("show?token=1.ab&rendition=720p", Az::Az2, None),
        "show?token=1.ab&rendition=720p&zonecast-relay=az2"
    );
    assert_eq!(
        relay_key("show?token=1.ab&zonecast-relay=az1", Az::Az2, Some("9.cd")),
        "show?token=9.cd&zonecast-relay=az2"
    );
    // The relayed key still names the same stream.
    let key = relay_key("show?token=1.ab", Az::Az1, None);
    assert_eq!(
        zonecast_contract::StreamName::from_publish("live", &key)
            .unwrap()
            .to_string(),
        "live/show"
    );
}

#[test]
fn after_connect_headers_come_first_then_the_next_keyframe() {
    let mut core = RelayCore::new();
    // Before the peer accepts: configuration remembered, media dropped.
    assert!(
        core.on_item(media(MediaKind::VideoConfig, 0, AVC_CONFIG))
            .is_empty()
    );
    assert!(
        core.on_item(media(MediaKind::AudioConfig, 0, AAC_CONFIG))
            .is_empty()
    );
    assert!(
        core.on_item(media(MediaKind::VideoKeyframe, 0, AVC_KEY))
            .is_empty()
    );
    core.on_published();
    // Not a sync point.
    assert!(
        core.on_item(media(MediaKind::VideoFrame, 33, AVC_INTER))
            .is_empty()
    );
    assert!(
        core.on_item(media(MediaKind::AudioFrame, 40, AAC_FRAME))
            .is_empty()
    );
    let out = core.on_item(media(MediaKind::VideoKeyframe, 2000, AVC_KEY));
    assert_eq!(
        out,
        vec![
            RelayOut::Video {
                timestamp: 2000,
                data: Bytes::from_static(AVC_CONFIG)
            },
            RelayOut::Audio {
                timestamp: 2000,
                data: Bytes::from_static(AAC_CONFIG)
            },
            RelayOut::Video {
                timestamp: 2000,
                data: Bytes::from_static(AVC_KEY)
            },
        ]
    );
    // Then everything, timestamps untouched.
    assert_eq!(
        core.on_item(media(MediaKind::AudioFrame, 2010, AAC_FRAME)),
        vec![RelayOut::Audio {
            timestamp: 2010,
            data: Bytes::from_static(AAC_FRAME)
        }]
    );
    // A reconnect starts over at the next keyframe.
    core.on_disconnected();
    assert!(
        core.on_item(media(MediaKind::VideoFrame, 2033, AVC_INTER))
            .is_empty()
    );
    core.on_published();
    assert!(
        core.on_item(media(MediaKind::VideoFrame, 2066, AVC_INTER))
            .is_empty()
    );
    assert_eq!(
        core.on_item(media(MediaKind::VideoKeyframe, 4000, AVC_KEY))
            .len(),
        3
    );
    // An unpublish is passed on; a drop is not.
    assert_eq!(
        core.on_item(RelayItem::End { unpublished: true }),
        vec![RelayOut::Unpublish]
    );
    assert!(core.is_ended());
}

#[test]
fn audio_only_streams_sync_on_any_audio_frame() {
    let mut core = RelayCore::new();
    core.on_item(media(MediaKind::AudioConfig, 0, AAC_CONFIG));
    core.on_published();
    assert_eq!(
        core.on_item(media(MediaKind::AudioFrame, 23, AAC_FRAME))
            .len(),
        2
    );
}

#[test]
fn a_full_queue_drops_to_the_next_keyframe_and_resends_the_configuration() {
    let mut feed = RelayFeed::new();
    let queued = |a: FeedAction| match a {
        FeedAction::Queue(items) => items,
        FeedAction::Drop => Vec::new(),
    };
    assert_eq!(
        queued(feed.video(0, Bytes::from_static(AVC_CONFIG))).len(),
        1
    );
    assert_eq!(
        queued(feed.audio(0, Bytes::from_static(AAC_CONFIG))).len(),
        1
    );
    assert_eq!(queued(feed.video(0, Bytes::from_static(AVC_KEY))).len(), 1);
    // The queue refused something: a drop starts (said once).
    assert!(feed.queue_full());
    assert!(!feed.queue_full());
    assert_eq!(
        feed.video(33, Bytes::from_static(AVC_INTER)),
        FeedAction::Drop
    );
    assert_eq!(
        feed.audio(40, Bytes::from_static(AAC_FRAME)),
        FeedAction::Drop
    );
    // A new configuration during the drop is remembered, not queued.
    assert_eq!(
        feed.audio(50, Bytes::from_static(&[0xaf, 0, 0x11, 0x90])),
        FeedAction::Drop
    );
    let items = queued(feed.video(2000, Bytes::from_static(AVC_KEY)));
    let RelayItem::Resync(headers) = &items[0] else {
        panic!("no resync first: {items:?}");
    };
    assert_eq!(
        headers.video.as_ref().unwrap().1,
        Bytes::from_static(AVC_CONFIG)
    );
    assert_eq!(
        headers.audio.as_ref().unwrap().1,
        Bytes::from_static(&[0xaf, 0, 0x11, 0x90])
    );
    assert_eq!(items[1], media(MediaKind::VideoKeyframe, 2000, AVC_KEY));
    // Two refused items, two frames dropped; the configuration is not lost.
    assert_eq!(feed.dropped(), 4);
    assert!(!feed.is_dropping());

    // The core sends the resync's configuration before that keyframe.
    let mut core = RelayCore::new();
    core.on_published();
    core.on_item(media(MediaKind::VideoKeyframe, 0, AVC_KEY));
    let mut out = Vec::new();
    for item in items {
        out.extend(core.on_item(item));
    }
    assert_eq!(out.len(), 3, "{out:?}");
}

#[test]
fn backoff_doubles_to_its_max_and_resets() {
    let ms = std::time::Duration::from_millis;
    let mut b = Backoff::new(ms(250), ms(1000));
    let delays: Vec<_> = (0..5).map(|_| b.next_delay()).collect();
    assert_eq!(delays, [ms(250), ms(500), ms(1000), ms(1000), ms(1000)]);
    b.reset();
    assert_eq!(b.next_delay(), ms(250));
}

/// A peer that accepts TCP and never answers: the first attempt holds the queue until its
/// connect timeout, so the queue fills. The publishing side must never wait: it drops up to
/// the next keyframe, counts it, and the status says so.
#[tokio::test]
async fn a_full_queue_never_blocks_the_publish_and_is_counted() {
    use std::sync::Arc;
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let peer = silent.local_addr().unwrap().to_string();
    let metrics = Arc::new(crate::ops::metrics::Metrics::default());
    let tasks = tokio_util::task::TaskTracker::new();
    let mut handle = task::spawn_relay(
        task::RelayParams {
            peer: peer.clone(),
            from: Az::Az1,
            name: zonecast_contract::StreamName::new("live", "show").unwrap(),
            stream_key: "show".into(),
            config: RelayConfig {
                max_queue_messages: 8,
                max_queue_bytes: 64 << 10,
                connect_timeout_ms: 60_000,
                ..RelayConfig::default()
            },
            metrics: metrics.clone(),
            secret: None,
        },
        &tasks,
    );
    let started = std::time::Instant::now();
    handle.video(0, &Bytes::from_static(AVC_CONFIG));
    handle.audio(0, &Bytes::from_static(AAC_CONFIG));
    for i in 0..1000u32 {
        let frame = if i % 30 == 0 { AVC_KEY } else { AVC_INTER };
        handle.video(i * 33, &Bytes::from_static(frame));
        handle.audio(i * 33 + 5, &Bytes::from_static(AAC_FRAME));
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    let status = handle.shared().status().unwrap();
    assert_eq!(status.peer.as_deref(), Some(peer.as_str()));
    assert_eq!(status.state, RelayState::Connecting);
    // 8 queued, the rest dropped.
    assert!(status.dropped > 1900, "{status:?}");
    assert_eq!(metrics.relay_dropped.get(), status.dropped);
    handle.end(false);
    tasks.close();
}
