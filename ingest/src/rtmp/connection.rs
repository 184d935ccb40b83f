use std::{net::SocketAddr, panic::AssertUnwindSafe};

use bytes::Bytes;
use rml_rtmp::{
    handshake::{Handshake, HandshakeProcessResult, PeerType},
    sessions::{
        ServerSession, ServerSessionConfig, ServerSessionEvent, ServerSessionResult, StreamMetadata,
    },
};

use super::{
    RtmpError,
    guard::{ChunkGuard, RtmpLimits},
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

enum State {
    Handshaking(Box<Handshake>),
    Session(Box<ServerSession>),
    /// After an error or a panic nothing more is parsed.
    Failed,
}

/// One server-side RTMP connection: handshake, then chunk stream and commands.
pub struct RtmpConnection {
    peer: SocketAddr,
    state: State,
    /// Bytes consumed so far, to point at the offending byte in a packet capture.
    offset: u64,
    /// Enforces the message size, chunk size and buffering limits before rml_rtmp parses.
    guard: ChunkGuard,
}

impl RtmpConnection {
    pub fn new(peer: SocketAddr) -> Self {
        Self::with_limits(peer, RtmpLimits::default())
    }

    pub fn with_limits(peer: SocketAddr, limits: RtmpLimits) -> Self {
        Self {
            peer,
            state: State::Handshaking(Box::new(Handshake::new(PeerType::Server))),
            offset: 0,
            guard: ChunkGuard::new(limits),
        }
    }

    /// Whether the handshake is still going on (the server applies its deadline).
    pub fn is_handshaking(&self) -> bool {
        matches!(self.state, State::Handshaking(_))
    }

    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Feeds bytes read from the socket. Any error is final for this connection.
    pub fn handle_input(&mut self, input: &[u8]) -> Result<RtmpOutput, RtmpError> {
        let mut out = RtmpOutput::default();
        let start = self.offset;
        self.offset += input.len() as u64;
        match &mut self.state {
            State::Failed => Err(self.session_error(start, "input after a failed connection")),
            State::Handshaking(handshake) => match handshake_step(handshake, input) {
                HandshakeStep::InProgress(reply) => {
                    out.send = reply;
                    Ok(out)
                }
                HandshakeStep::Completed { reply, rest } => {
                    out.send = reply;
                    self.start_session(&mut out, start)?;
                    if !rest.is_empty() {
                        let rest_offset = self.offset - rest.len() as u64;
                        self.session_input(&rest, rest_offset, &mut out)?;
                    }
                    Ok(out)
                }
                HandshakeStep::Failed(message) => {
                    self.state = State::Failed;
                    Err(RtmpError::Handshake {
                        peer: self.peer,
                        offset: start,
                        message,
                    })
                }
                HandshakeStep::Panicked(message) => Err(self.panicked(start, message)),
            },
            State::Session(_) => {
                self.session_input(input, start, &mut out)?;
                Ok(out)
            }
        }
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
        let offset = self.offset;
        let State::Session(session) = &mut self.state else {
            return Err(self.session_error(offset, "answer before the handshake completed"));
        };
        let result = guard(|| match rejection {
            None => session.accept_request(request_id),
            Some((code, description)) => session.reject_request(request_id, code, description),
        });
        let mut out = RtmpOutput::default();
        match result {
            Ok(Ok(results)) => {
                self.collect(results, &mut out);
                Ok(out.send)
            }
            Ok(Err(e)) => Err(self.session_error(offset, &format!("{e:?}"))),
            Err(message) => Err(self.panicked(offset, message)),
        }
    }

    fn start_session(&mut self, out: &mut RtmpOutput, offset: u64) -> Result<(), RtmpError> {
        let mut config = ServerSessionConfig::new();
        // Larger chunks for what we send; the encoder sets its own for what it sends.
        config.chunk_size = 4096;
        match guard(|| ServerSession::new(config)) {
            Ok(Ok((session, results))) => {
                self.state = State::Session(Box::new(session));
                self.collect(results, out);
                Ok(())
            }
            Ok(Err(e)) => Err(self.session_error(offset, &format!("{e:?}"))),
            Err(message) => Err(self.panicked(offset, message)),
        }
    }

    fn session_input(
        &mut self,
        input: &[u8],
        offset: u64,
        out: &mut RtmpOutput,
    ) -> Result<(), RtmpError> {
        if let Err(source) = self.guard.push(input) {
            self.state = State::Failed;
            return Err(RtmpError::Limit {
                peer: self.peer,
                offset,
                source,
            });
        }
        let State::Session(session) = &mut self.state else {
            return Err(self.session_error(offset, "no session"));
        };
        match guard(|| session.handle_input(input)) {
            Ok(Ok(results)) => {
                self.collect(results, out);
                Ok(())
            }
            Ok(Err(e)) => Err(self.session_error(offset, &format!("{e:?}"))),
            Err(message) => Err(self.panicked(offset, message)),
        }
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
                if let State::Session(session) = &mut self.state
                    && let Ok(Ok(results)) = guard(|| session.accept_request(request_id))
                {
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

    fn session_error(&mut self, offset: u64, message: &str) -> RtmpError {
        self.state = State::Failed;
        RtmpError::Session {
            peer: self.peer,
            offset,
            message: message.to_owned(),
        }
    }

    fn panicked(&mut self, offset: u64, message: String) -> RtmpError {
        self.state = State::Failed;
        RtmpError::Panicked {
            peer: self.peer,
            offset,
            message,
        }
    }
}

/// One step of an RTMP handshake (either side), rml_rtmp's panics caught.
pub(crate) enum HandshakeStep {
    /// Send these bytes and wait for more.
    InProgress(Vec<u8>),
    /// Send `reply`; the session starts, with `rest` as its first input.
    Completed { reply: Vec<u8>, rest: Vec<u8> },
    /// The peer's bytes are not a handshake.
    Failed(String),
    /// rml_rtmp panicked (its message).
    Panicked(String),
}

/// Feeds `input` to `handshake`: what the server connection and the relay client share.
pub(crate) fn handshake_step(handshake: &mut Handshake, input: &[u8]) -> HandshakeStep {
    match guard(|| handshake.process_bytes(input)) {
        Ok(Ok(HandshakeProcessResult::InProgress { response_bytes })) => {
            HandshakeStep::InProgress(response_bytes)
        }
        Ok(Ok(HandshakeProcessResult::Completed {
            response_bytes,
            remaining_bytes,
        })) => HandshakeStep::Completed {
            reply: response_bytes,
            rest: remaining_bytes,
        },
        Ok(Err(e)) => HandshakeStep::Failed(format!("{e:?}")),
        Err(message) => HandshakeStep::Panicked(message),
    }
}

/// Runs `f`, turning a panic into its message. rml_rtmp's state after a panic is not trusted:
/// callers mark the connection failed.
pub(crate) fn guard<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned())
    })
}
