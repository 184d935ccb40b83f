//! The RTMP wrapper on captured bytes: what ffmpeg really sends when it publishes
//! (`fixtures/ffmpeg5_publish_live_show.rtmp.bin`, recorded by the ignored
//! `capture_ffmpeg_publish` test below). The same bytes cut at any position give the same
//! events, and the media that comes out is exactly the FLV file ffmpeg published.
//!
//! ffmpeg waits for the server's answer to `connect` and `publish` before it sends more; a
//! replay must not hand the connection bytes from after such a wait before it has answered.
//! The capture records those sync points (`….sync.txt`, byte offsets) and every replay is
//! also cut there.

use bytes::Bytes;
use zonecast_ingest::{
    media::flv::{FlvReader, FlvTagKind},
    rtmp::{RtmpConnection, RtmpEvent},
};

const CAPTURE_PATH: &str = "tests/fixtures/ffmpeg5_publish_live_show.rtmp.bin";
const SYNC_PATH: &str = "tests/fixtures/ffmpeg5_publish_live_show.sync.txt";
const PUBLISHED_FLV: &str = "tests/fixtures/ffmpeg5_h264_high_aac_320x240_25fps.flv";

/// What a replay yields, with request ids kept (they are part of the stream).
#[derive(Debug, PartialEq)]
enum Seen {
    Connect(String),
    Publish(String, String),
    Finished,
    Video(u32, Bytes),
    Audio(u32, Bytes),
}

fn sync_points() -> Vec<usize> {
    std::fs::read_to_string(SYNC_PATH)
        .expect("sync points fixture")
        .lines()
        .map(|l| l.trim().parse().expect("byte offset"))
        .collect()
}

/// Replays `bytes` cut at `cuts` and at the sync points.
fn replay_cut(bytes: &[u8], cuts: &[usize]) -> Vec<Seen> {
    let mut at: Vec<usize> = cuts
        .iter()
        .chain(&sync_points())
        .copied()
        .filter(|&c| c > 0 && c < bytes.len())
        .collect();
    at.sort_unstable();
    at.dedup();
    let mut pieces = Vec::new();
    let mut from = 0;
    for c in at.into_iter().chain([bytes.len()]) {
        pieces.push(&bytes[from..c]);
        from = c;
    }
    replay(&pieces)
}

/// Feeds `chunks` into a fresh connection, accepting connect and publish like the server does.
fn replay(chunks: &[&[u8]]) -> Vec<Seen> {
    let mut conn = RtmpConnection::new(([203, 0, 113, 9], 40000).into());
    let mut seen = Vec::new();
    for chunk in chunks {
        let out = conn.handle_input(chunk).expect("captured publish parses");
        for event in out.events {
            match event {
                RtmpEvent::ConnectRequested { request_id, app } => {
                    conn.accept(request_id).unwrap();
                    seen.push(Seen::Connect(app));
                }
                RtmpEvent::PublishRequested {
                    request_id,
                    app,
                    stream_key,
                } => {
                    conn.accept(request_id).unwrap();
                    seen.push(Seen::Publish(app, stream_key));
                }
                RtmpEvent::PublishFinished { .. } => seen.push(Seen::Finished),
                RtmpEvent::PlayRequested { .. } => panic!("ffmpeg published, it did not play"),
                RtmpEvent::Video { timestamp, data } => seen.push(Seen::Video(timestamp, data)),
                RtmpEvent::Audio { timestamp, data } => seen.push(Seen::Audio(timestamp, data)),
                RtmpEvent::Metadata { .. } => {}
            }
        }
    }
    seen
}

fn capture() -> Vec<u8> {
    std::fs::read(CAPTURE_PATH).expect("capture fixture (regenerate: cargo test -p zonecast-ingest --test rtmp_capture -- --ignored)")
}

#[test]
fn captured_publish_yields_the_published_flv() {
    let seen = replay_cut(&capture(), &[]);
    assert_eq!(seen.first(), Some(&Seen::Connect("live".into())));
    assert_eq!(
        seen.get(1),
        Some(&Seen::Publish("live".into(), "show".into()))
    );
    let media: Vec<(bool, u32, Bytes)> = seen
        .iter()
        .filter_map(|s| match s {
            Seen::Video(t, b) => Some((true, *t, b.clone())),
            Seen::Audio(t, b) => Some((false, *t, b.clone())),
            _ => None,
        })
        .collect();
    let mut reader = FlvReader::default();
    reader.push(&std::fs::read(PUBLISHED_FLV).unwrap());
    let mut tags = Vec::new();
    while let Some(tag) = reader.pull().unwrap() {
        if tag.kind != FlvTagKind::Script {
            tags.push((tag.kind == FlvTagKind::Video, tag.timestamp, tag.body));
        }
    }
    assert_eq!(media.len(), tags.len(), "media messages vs FLV tags");
    assert_eq!(
        media, tags,
        "RTMP media differs from the FLV that was published"
    );
}

#[test]
fn captured_publish_is_split_point_independent() {
    let bytes = capture();
    let whole = replay_cut(&bytes, &[]);
    // Every position through the handshake (3073 bytes), connect, publish and the first
    // frames; then a sample across the rest.
    let every = (1..bytes.len().min(6000)).chain((6000..bytes.len()).step_by(1009));
    for cut in every {
        assert_eq!(replay_cut(&bytes, &[cut]), whole, "cut at byte {cut}");
    }
    // And in small uneven pieces.
    let pieces: Vec<usize> = (0..bytes.len()).step_by(37).collect();
    assert_eq!(replay_cut(&bytes, &pieces), whole);
}

/// Records what ffmpeg sends when it publishes the FLV fixture to an ingest that answers with
/// our own RtmpConnection. Run by hand to regenerate the fixture (and say so in the README).
#[tokio::test]
#[ignore = "regenerates tests/fixtures/ffmpeg5_publish_live_show.rtmp.bin; needs ffmpeg"]
async fn capture_ffmpeg_publish() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut ffmpeg = tokio::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-i",
            PUBLISHED_FLV,
            "-c",
            "copy",
            "-f",
            "flv",
        ])
        .arg(format!("rtmp://127.0.0.1:{port}/live/show"))
        .spawn()
        .expect("ffmpeg");
    let (mut socket, peer) = listener.accept().await.unwrap();
    let mut conn = RtmpConnection::new(peer);
    let mut recorded = Vec::new();
    let mut sync = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = socket.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        recorded.extend_from_slice(&buf[..n]);
        let out = conn.handle_input(&buf[..n]).unwrap();
        let mut reply = out.send;
        for event in out.events {
            match event {
                RtmpEvent::ConnectRequested { request_id, .. }
                | RtmpEvent::PublishRequested { request_id, .. } => {
                    reply.extend(conn.accept(request_id).unwrap());
                    sync.push(recorded.len().to_string());
                }
                _ => {}
            }
        }
        if !reply.is_empty() && socket.write_all(&reply).await.is_err() {
            break;
        }
    }
    assert!(ffmpeg.wait().await.unwrap().success());
    std::fs::write(CAPTURE_PATH, &recorded).unwrap();
    std::fs::write(SYNC_PATH, sync.join("\n") + "\n").unwrap();
}
