//! Drives [`RtmpConnection`] with rml_rtmp's own client session, in memory.

use std::net::SocketAddr;

use bytes::Bytes;
use rml_amf0::Amf0Value;
use rml_rtmp::{
    chunk_io::ChunkSerializer,
    handshake::{Handshake, HandshakeProcessResult, PeerType},
    messages::RtmpMessage,
    sessions::{
        ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult,
        PublishRequestType,
    },
    time::RtmpTimestamp,
};

use super::*;

fn peer() -> SocketAddr {
    "192.0.2.7:50000".parse().unwrap()
}

/// A publishing client and our server connection wired back to back.
struct Pair {
    client: ClientSession,
    server: RtmpConnection,
    events: Vec<RtmpEvent>,
    client_events: Vec<ClientSessionEvent>,
}

impl Pair {
    fn connect() -> Self {
        let mut server = RtmpConnection::new(peer());
        let mut hs = Handshake::new(PeerType::Client);
        let mut to_server = hs.generate_outbound_p0_and_p1().unwrap();
        let session_start = loop {
            let out = server.handle_input(&to_server).unwrap();
            match hs.process_bytes(&out.send).unwrap() {
                HandshakeProcessResult::InProgress { response_bytes } => to_server = response_bytes,
                HandshakeProcessResult::Completed { response_bytes, .. } => {
                    break server.handle_input(&response_bytes).unwrap().send;
                }
            }
        };
        let (mut client, mut initial) = ClientSession::new(ClientSessionConfig::new()).unwrap();
        initial.extend(client.handle_input(&session_start).unwrap());
        let mut pair = Pair {
            client,
            server,
            events: Vec::new(),
            client_events: Vec::new(),
        };
        pair.send_to_server(initial);
        pair
    }

    fn send_to_server(&mut self, results: Vec<ClientSessionResult>) {
        for r in results {
            match r {
                ClientSessionResult::OutboundResponse(p) => self.feed_server(&p.bytes).unwrap(),
                ClientSessionResult::RaisedEvent(e) => self.client_events.push(e),
                _ => {}
            }
        }
    }

    /// Feeds the server, auto-accepting requests, and delivers its answers to the client.
    fn feed_server(&mut self, bytes: &[u8]) -> Result<(), RtmpError> {
        let out = self.server.handle_input(bytes)?;
        let mut reply = out.send;
        for e in out.events {
            match &e {
                RtmpEvent::ConnectRequested { request_id, .. }
                | RtmpEvent::PublishRequested { request_id, .. } => {
                    reply.extend(self.server.accept(*request_id)?)
                }
                _ => {}
            }
            self.events.push(e);
        }
        if !reply.is_empty() {
            let results = self.client.handle_input(&reply).unwrap();
            self.send_to_server(results);
        }
        Ok(())
    }

    fn publish(&mut self, app: &str, key: &str) {
        let r = self.client.request_connection(app.to_owned()).unwrap();
        self.send_to_server(vec![r]);
        let r = self
            .client
            .request_publishing(key.to_owned(), PublishRequestType::Live)
            .unwrap();
        self.send_to_server(vec![r]);
    }
}

#[test]
fn connect_publish_and_media() {
    let mut pair = Pair::connect();
    pair.publish("live", "show?token=x");
    assert!(
        pair.client_events
            .iter()
            .any(|e| matches!(e, ClientSessionEvent::PublishRequestAccepted)),
        "client never saw its publish accepted: {:?}",
        pair.client_events
    );
    let video = Bytes::from_static(&[0x17, 0x01, 0, 0, 0, 0, 0, 0, 2, 0x65, 0x88]);
    let r = pair
        .client
        .publish_video_data(video.clone(), RtmpTimestamp::new(40), false)
        .unwrap();
    pair.send_to_server(vec![r]);
    assert!(
        pair.events.contains(&RtmpEvent::ConnectRequested {
            request_id: 0,
            app: "live".into()
        }) || pair
            .events
            .iter()
            .any(|e| matches!(e, RtmpEvent::ConnectRequested { app, .. } if app == "live"))
    );
    assert!(pair.events.iter().any(|e| matches!(e,
        RtmpEvent::PublishRequested { app, stream_key, .. } if app == "live" && stream_key == "show?token=x")));
    assert!(pair.events.contains(&RtmpEvent::Video {
        timestamp: 40,
        data: video
    }));
}

#[test]
fn garbage_on_the_port_is_a_handshake_error() {
    let mut server = RtmpConnection::new(peer());
    let err = server
        .handle_input(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap_err();
    assert!(matches!(err, RtmpError::Handshake { .. }), "{err}");
    assert!(err.to_string().contains("192.0.2.7:50000"), "{err}");
    // Nothing more is parsed after a failure.
    assert!(server.handle_input(&[3; 10]).is_err());
}

/// `["@setDataFrame"]` alone panics rml_rtmp's ServerSession; we get an error instead.
#[test]
fn lone_set_data_frame_is_contained() {
    let mut pair = Pair::connect();
    pair.publish("live", "show");
    let payload = RtmpMessage::Amf0Data {
        values: vec![Amf0Value::Utf8String("@setDataFrame".into())],
    }
    .into_message_payload(RtmpTimestamp::new(0), 1)
    .unwrap();
    let packet = ChunkSerializer::new()
        .serialize(&payload, true, false)
        .unwrap();
    let err = pair.feed_server(&packet.bytes).unwrap_err();
    assert!(matches!(err, RtmpError::Panicked { .. }), "{err}");
}

/// The connection gives the same events however the bytes are split.
#[test]
fn split_point_independence_of_the_handshake() {
    let mut hs = Handshake::new(PeerType::Client);
    let c0c1 = hs.generate_outbound_p0_and_p1().unwrap();
    for cut in 0..=c0c1.len() {
        let mut server = RtmpConnection::new(peer());
        let mut sent = server.handle_input(&c0c1[..cut]).unwrap().send;
        sent.extend(server.handle_input(&c0c1[cut..]).unwrap().send);
        // S0 + S1 + S2.
        assert_eq!(sent.len(), 1 + 1536 + 1536, "cut at {cut}");
    }
}
