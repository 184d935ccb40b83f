//! The relay on captured bytes, without a network: ffmpeg's recorded publish
//! (`fixtures/ffmpeg5_publish_live_show.rtmp.bin`) goes into a server connection as on the
//! ingest it was published to; its events go through the relay's feed and core into our RTMP
//! client, whose bytes go into a second server connection, the peer. The peer must see the
//! same media with the same timestamps, and after a reconnect mid-stream the decoder
//! configuration first, then everything from the next keyframe on, timestamps untouched.

use zonecast_contract::Az;
use zonecast_ingest::{
    relay::{
        MediaKind, RelayClient, RelayCore, RelayFeed, RelayItem, client::ClientEvent,
        feed::FeedAction, marker_of, relay_key,
    },
    rtmp::{RtmpConnection, RtmpEvent},
};

const CAPTURE_PATH: &str = "tests/fixtures/ffmpeg5_publish_live_show.rtmp.bin";
const SYNC_PATH: &str = "tests/fixtures/ffmpeg5_publish_live_show.sync.txt";

/// The encoder's events as the first ingest sees them (connect and publish accepted).
fn encoder_events() -> Vec<RtmpEvent> {
    let bytes = std::fs::read(CAPTURE_PATH).expect("capture fixture");
    let mut cuts: Vec<usize> = std::fs::read_to_string(SYNC_PATH)
        .expect("sync fixture")
        .lines()
        .map(|l| l.trim().parse().expect("offset"))
        .collect();
    cuts.push(bytes.len());
    let mut conn = RtmpConnection::new(([203, 0, 113, 9], 40000).into());
    let mut events = Vec::new();
    let mut from = 0;
    for c in cuts {
        let out = conn.handle_input(&bytes[from..c]).expect("capture parses");
        from = c;
        for e in out.events {
            match &e {
                RtmpEvent::ConnectRequested { request_id, .. }
                | RtmpEvent::PublishRequested { request_id, .. } => {
                    conn.accept(*request_id).unwrap();
                }
                _ => events.push(e),
            }
        }
    }
    events
}

/// A relay client talking to an in-memory peer.
struct Link {
    client: RelayClient,
    peer: RtmpConnection,
    /// What the peer raised: the publish request and then media.
    seen: Vec<RtmpEvent>,
}

impl Link {
    fn open(key: &str) -> Self {
        let (client, c0c1) = RelayClient::start("10.0.2.15:1935", "live", key).unwrap();
        let mut link = Link {
            client,
            peer: RtmpConnection::new(([10, 0, 1, 10], 50000).into()),
            seen: Vec::new(),
        };
        link.deliver(c0c1);
        assert!(
            link.client.is_publishing(),
            "the peer did not accept the publish"
        );
        link
    }

    /// Delivers client bytes to the peer and the peer's answers back, until both are quiet.
    fn deliver(&mut self, mut bytes: Vec<u8>) {
        while !bytes.is_empty() {
            let out = self
                .peer
                .handle_input(&bytes)
                .expect("peer parses the relay");
            let mut answer = out.send;
            for e in out.events {
                match &e {
                    RtmpEvent::ConnectRequested { request_id, .. }
                    | RtmpEvent::PublishRequested { request_id, .. } => {
                        answer.extend(self.peer.accept(*request_id).unwrap());
                    }
                    _ => {}
                }
                self.seen.push(e);
            }
            bytes = Vec::new();
            if !answer.is_empty() {
                let back = self
                    .client
                    .handle_input(&answer)
                    .expect("client parses the peer");
                assert!(
                    !back
                        .events
                        .iter()
                        .any(|e| matches!(e, ClientEvent::Refused { .. })),
                    "{:?}",
                    back.events
                );
                bytes = back.send;
            }
        }
    }

    fn relay(&mut self, core: &mut RelayCore, item: RelayItem) {
        for out in core.on_item(item) {
            let bytes = self.client.send(&out).unwrap();
            self.deliver(bytes);
        }
    }

    fn media(&self) -> Vec<RtmpEvent> {
        self.seen
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    RtmpEvent::Video { .. } | RtmpEvent::Audio { .. } | RtmpEvent::Metadata { .. }
                )
            })
            .cloned()
            .collect()
    }
}

fn feed_event(feed: &mut RelayFeed, e: &RtmpEvent) -> Vec<RelayItem> {
    let action = match e {
        RtmpEvent::Video { timestamp, data } => feed.video(*timestamp, data.clone()),
        RtmpEvent::Audio { timestamp, data } => feed.audio(*timestamp, data.clone()),
        RtmpEvent::Metadata { metadata } => feed.metadata(metadata.clone()),
        _ => return Vec::new(),
    };
    match action {
        FeedAction::Queue(items) => items,
        FeedAction::Drop => panic!("nothing is dropped without a full queue"),
    }
}

#[test]
fn the_peer_sees_the_encoders_media_and_timestamps_and_rejoins_at_a_keyframe() {
    let events = encoder_events();
    assert!(events.len() > 50, "capture too short: {}", events.len());
    let key = relay_key("show?token=x", Az::Az1, None);
    let mut link = Link::open(&key);
    match &link.seen[..] {
        [
            RtmpEvent::ConnectRequested { app, .. },
            RtmpEvent::PublishRequested { stream_key, .. },
        ] => {
            assert_eq!(app, "live");
            assert_eq!(stream_key, "show?token=x&zonecast-relay=az1");
            assert_eq!(marker_of(stream_key), Some(Some(Az::Az1)));
        }
        other => panic!("unexpected requests: {other:?}"),
    }
    let mut feed = RelayFeed::new();
    let mut core = RelayCore::new();
    core.on_published();

    // First half over the first link: everything, as sent (the capture starts with the
    // configuration and a keyframe).
    let half = events.len() / 2;
    for e in &events[..half] {
        for item in feed_event(&mut feed, e) {
            link.relay(&mut core, item);
        }
    }
    assert_eq!(link.media(), events[..half].to_vec());

    // The peer restarts: a new link; the relay resumes at the next keyframe.
    core.on_disconnected();
    let mut link = Link::open(&key);
    core.on_published();
    for e in &events[half..] {
        for item in feed_event(&mut feed, e) {
            link.relay(&mut core, item);
        }
    }
    let media = link.media();
    let keyframe = half
        + events[half..]
            .iter()
            .position(|e| {
                matches!(e, RtmpEvent::Video { data, .. }
                    if MediaKind::of_video(data) == MediaKind::VideoKeyframe)
            })
            .expect("a keyframe in the second half");
    let RtmpEvent::Video {
        timestamp: key_ts, ..
    } = &events[keyframe]
    else {
        unreachable!()
    };
    let config = |video: bool| {
        events
            .iter()
            .find_map(|e| match e {
                RtmpEvent::Video { data, .. }
                    if video && MediaKind::of_video(data) == MediaKind::VideoConfig =>
                {
                    Some(data.clone())
                }
                RtmpEvent::Audio { data, .. }
                    if !video && MediaKind::of_audio(data) == MediaKind::AudioConfig =>
                {
                    Some(data.clone())
                }
                _ => None,
            })
            .expect("configuration in the capture")
    };
    let metadata = events
        .iter()
        .find(|e| matches!(e, RtmpEvent::Metadata { .. }))
        .cloned();
    let mut expected: Vec<RtmpEvent> = metadata.into_iter().collect();
    expected.push(RtmpEvent::Video {
        timestamp: *key_ts,
        data: config(true),
    });
    expected.push(RtmpEvent::Audio {
        timestamp: *key_ts,
        data: config(false),
    });
    expected.extend(
        events[keyframe..]
            .iter()
            .filter(|e| !matches!(e, RtmpEvent::PublishFinished { .. }))
            .cloned(),
    );
    let brief = |v: &[RtmpEvent]| {
        v.iter()
            .take(4)
            .map(|e| match e {
                RtmpEvent::Video { timestamp, data } => format!("V{timestamp}:{}", data.len()),
                RtmpEvent::Audio { timestamp, data } => format!("A{timestamp}:{}", data.len()),
                other => format!("{other:?}"),
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        media.len(),
        expected.len(),
        "{:?}\n{:?}",
        brief(&media),
        brief(&expected)
    );
    assert_eq!(media, expected);
}

/// A peer that refuses the publish the way our server does (direct wins): the client says
/// so with the code, so the relay can tell this refusal from a failure.
#[test]
fn a_refused_publish_is_reported_with_its_code() {
    use zonecast_ingest::relay::REFUSED_PEER_HAS_DIRECT;
    let (mut client, c0c1) =
        RelayClient::start("10.0.2.15:1935", "live", "show?zonecast-relay=az1").unwrap();
    let mut peer = RtmpConnection::new(([10, 0, 1, 10], 50000).into());
    let mut bytes = c0c1;
    let mut refused = None;
    for _ in 0..20 {
        if bytes.is_empty() {
            break;
        }
        let out = peer.handle_input(&bytes).unwrap();
        let mut answer = out.send;
        for e in out.events {
            match e {
                RtmpEvent::ConnectRequested { request_id, .. } => {
                    answer.extend(peer.accept(request_id).unwrap())
                }
                RtmpEvent::PublishRequested { request_id, .. } => answer.extend(
                    peer.reject(request_id, REFUSED_PEER_HAS_DIRECT, "direct wins")
                        .unwrap(),
                ),
                _ => {}
            }
        }
        let back = client.handle_input(&answer).unwrap();
        for e in back.events {
            if let ClientEvent::Refused { code, description } = e {
                refused = Some((code, description));
            }
        }
        bytes = back.send;
    }
    assert_eq!(
        refused,
        Some((REFUSED_PEER_HAS_DIRECT.to_owned(), "direct wins".to_owned()))
    );
    assert!(!client.is_publishing());
}
