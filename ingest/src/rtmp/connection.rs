use std::net::SocketAddr;

use bytes::Bytes;
use rml_rtmp::{
    handshake::{Handshake, PeerType},
    sessions::{
        ServerSession, ServerSessionConfig, ServerSessionEvent, ServerSessionResult, StreamMetadata,
    },
};

use super::{
    RtmpError,
    driver::{Fault, Faulted, SessionDriver, SessionSide},
    guard::{ChunkGuard, LimitError, RtmpLimits},
};

/// What the application needs to know from the peer.
#[derive(Debug, Clone, PartialEq)]
pub enum RtmpEvent {
    /// `connect(app)`; answered with [`RtmpConnection::accept`] or [`RtmpConnection::reject`].
    ConnectRequested { request_id: u32, app: String },
    /// `publish(stream_key)` on a connected app; answer it the same way.
    PublishRequested {
        request_id: u32,
        app: String,
        stream_key: String,
    },
    /// `deleteStream` / `FCUnpublish`: the encoder stopped cleanly.
    PublishFinished { app: String, stream_key: String },
    /// A `play` request: ZoneCast only ingests, so the caller rejects it.
    PlayRequested { request_id: u32, stream_key: String },
    /// An FLV video tag body with its RTMP timestamp (ms, wraps at 2^32).
    Video { timestamp: u32, data: Bytes },
    /// An FLV audio tag body with its RTMP timestamp.
    Audio { timestamp: u32, data: Bytes },
    /// `@setDataFrame onMetaData`: the encoder's description of the stream (the packager does
    /// not need it; the relay passes it on).
    Metadata { metadata: StreamMetadata },
}

/// Bytes to write back to the peer, in order, and the events raised by the input.
#[derive(Debug, Default)]
pub struct RtmpOutput {
    pub send: Vec<u8>,
    pub events: Vec<RtmpEvent>,
}

/// One server-side RTMP connection: handshake, then chunk stream and commands.
pub struct RtmpConnection {
    peer: SocketAddr,
    driver: SessionDriver<ServerSide>,
    side: ServerSide,
}

/// The server's side of the shared driver: its session, and the guard that enforces the
/// message size, chunk size and buffering limits before rml_rtmp parses.
struct ServerSide {
    guard: ChunkGuard,
}

impl SessionSide for ServerSide {
    type Session = ServerSession;
    type Item = ServerSessionResult;
    type Limit = LimitError;

    fn open(&mut self) -> Result<(ServerSession, Vec<ServerSessionResult>), Fault<LimitError>> {
        let mut config = ServerSessionConfig::new();
        // Larger chunks for what we send; the encoder sets its own for what it sends.
        config.chunk_size = 4096;
        ServerSession::new(config).map_err(|e| Fault::Session(format!("{e:?}")))
    }

    fn feed(
        &mut self,
        session: &mut ServerSession,
        bytes: &[u8],
    ) -> Result<Vec<ServerSessionResult>, Fault<LimitError>> {
        self.guard.push(bytes).map_err(Fault::Limit)?;
        session
            .handle_input(bytes)
            .map_err(|e| Fault::Session(format!("{e:?}")))
    }
}

impl RtmpConnection {
    pub fn new(peer: SocketAddr) -> Self {
        Self::with_limits(peer, RtmpLimits::default())
    }

    pub fn with_limits(peer: SocketAddr, limits: RtmpLimits) -> Self {
        Self {
            peer,
            driver: SessionDriver::new(Handshake::new(PeerType::Server)),
            side: ServerSide {
                guard: ChunkGuard::new(limits),
            },
        }
    }

    /// Whether the handshake is still going on (the server applies its deadline).
    pub fn is_handshaking(&self) -> bool {
        self.driver.is_handshaking()
    }

    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Feeds bytes read from the socket. Any error is final for this connection.
    pub fn handle_input(&mut self, input: &[u8]) -> Result<RtmpOutput, RtmpError> {
        let mut out = RtmpOutput::default();
        let items = self
            .driver
            .input(&mut self.side, input, &mut out.send)
            .map_err(|f| self.error(f))?;
        self.collect(items, &mut out);
        Ok(out)
    }

    /// Accepts a connect or publish request.
    pub fn accept(&mut self, request_id: u32) -> Result<Vec<u8>, RtmpError> {
        self.answer(request_id, None)
    }

    /// Rejects a connect, publish or play request with an `NetStream.Publish.BadName`-style
    /// status the encoder shows to its user.
    pub fn reject(
        &mut self,
        request_id: u32,
        code: &str,
        description: &str,
    ) -> Result<Vec<u8>, RtmpError> {
        self.answer(request_id, Some((code, description)))
    }

    fn answer(
        &mut self,
        request_id: u32,
        rejection: Option<(&str, &str)>,
    ) -> Result<Vec<u8>, RtmpError> {
        let results = self
            .driver
            .with_session(|session| {
                match rejection {
                    None => session.accept_request(request_id),
                    Some((code, description)) => {
                        session.reject_request(request_id, code, description)
                    }
                }
                .map_err(|e| format!("{e:?}"))
            })
            .map_err(|f| self.error(f))?;
        let mut out = RtmpOutput::default();
        self.collect(results, &mut out);
        Ok(out.send)
    }

    fn collect(&mut self, results: Vec<ServerSessionResult>, out: &mut RtmpOutput) {
        for result in results {
            match result {
                ServerSessionResult::OutboundResponse(packet) => {
                    out.send.extend_from_slice(&packet.bytes)
                }
                ServerSessionResult::RaisedEvent(event) => {
                    if let Some(event) = self.translate(event, out) {
                        out.events.push(event);
                    }
                }
                ServerSessionResult::UnhandleableMessageReceived(_) => {}
            }
        }
    }

    fn translate(&mut self, event: ServerSessionEvent, out: &mut RtmpOutput) -> Option<RtmpEvent> {
        match event {
            ServerSessionEvent::ConnectionRequested {
                request_id,
                app_name,
            } => Some(RtmpEvent::ConnectRequested {
                request_id,
                app: app_name,
            }),
            ServerSessionEvent::PublishStreamRequested {
                request_id,
                app_name,
                stream_key,
                ..
            } => Some(RtmpEvent::PublishRequested {
                request_id,
                app: app_name,
                stream_key,
            }),
            ServerSessionEvent::PublishStreamFinished {
                app_name,
                stream_key,
            } => Some(RtmpEvent::PublishFinished {
                app: app_name,
                stream_key,
            }),
            ServerSessionEvent::PlayStreamRequested {
                request_id,
                stream_key,
                ..
            } => Some(RtmpEvent::PlayRequested {
                request_id,
                stream_key,
            }),
            ServerSessionEvent::VideoDataReceived {
                data, timestamp, ..
            } => Some(RtmpEvent::Video {
                timestamp: timestamp.value,
                data,
            }),
            ServerSessionEvent::AudioDataReceived {
                data, timestamp, ..
            } => Some(RtmpEvent::Audio {
                timestamp: timestamp.value,
                data,
            }),
            ServerSessionEvent::StreamMetadataChanged { metadata, .. } => {
                Some(RtmpEvent::Metadata { metadata })
            }
            // releaseStream is harmless to grant: answering keeps encoders that wait for it
            // moving. Nothing else needs an answer.
            ServerSessionEvent::ReleaseStreamRequested { request_id, .. } => {
                if let Ok(results) = self.driver.with_session(|session| {
                    session
                        .accept_request(request_id)
                        .map_err(|e| format!("{e:?}"))
                }) {
                    for r in results {
                        if let ServerSessionResult::OutboundResponse(p) = r {
                            out.send.extend_from_slice(&p.bytes);
                        }
                    }
                }
                None
            }
            _ => None,
        }
    }

    /// The connection's error for a fault of the driver.
    fn error(&self, faulted: Faulted<LimitError>) -> RtmpError {
        let (peer, offset) = (self.peer, faulted.offset);
        match faulted.fault {
            Fault::Handshake(message) => RtmpError::Handshake {
                peer,
                offset,
                message,
            },
            Fault::Session(message) => RtmpError::Session {
                peer,
                offset,
                message,
            },
            Fault::Panicked(message) => RtmpError::Panicked {
                peer,
                offset,
                message,
            },
            Fault::Limit(source) => RtmpError::Limit {
                peer,
                offset,
                source,
            },
        }
    }
}
