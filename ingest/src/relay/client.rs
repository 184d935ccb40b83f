//! Our own small RTMP publishing client on rml_rtmp's `ClientSession`: sans-IO (bytes in,
//! bytes to send and events out), with every call into rml_rtmp behind `catch_unwind` (it
//! panics on some odd input, see [`crate::rtmp`]): a panic fails this relay attempt only.
//!
//! Sequence: C0+C1 from [`RelayClient::start`], the handshake, `connect(app)`, then
//! `createStream` + `publish(stream_key, live)`; [`ClientEvent::Published`] once the peer
//! answers `NetStream.Publish.Start`.

use rml_rtmp::{
    handshake::{Handshake, PeerType},
    sessions::{
        ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult,
        PublishRequestType,
    },
    time::RtmpTimestamp,
};

use rml_rtmp::rml_amf0::Amf0Value;

use super::core::RelayOut;
use crate::rtmp::{HandshakeStep, guard, handshake_step};

/// What the relay needs to know from the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// The peer accepted the publish: media may flow.
    Published,
    /// The peer refused the connect or the publish; `code` is its status code
    /// (`NetStream.Publish.Unauthorized`, [`super::REFUSED_PEER_HAS_DIRECT`], …), with the
    /// description it gave.
    Refused { code: String, description: String },
}

/// Errors of one relay attempt; each ends that attempt (the relay backs off and retries).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("relay to {peer}: RTMP handshake failed: {message}")]
    Handshake { peer: String, message: String },
    #[error("relay to {peer}: RTMP session error near byte {offset}: {message}")]
    Session {
        peer: String,
        offset: u64,
        message: String,
    },
    #[error("relay to {peer}: rml_rtmp panicked near byte {offset}: {message}")]
    Panicked {
        peer: String,
        offset: u64,
        message: String,
    },
    #[error("relay to {peer}: {what} before the publish was accepted")]
    NotPublishing { peer: String, what: &'static str },
}

/// Bytes to write to the peer, in order, and the events raised by its input.
#[derive(Debug, Default)]
pub struct ClientOutput {
    pub send: Vec<u8>,
    pub events: Vec<ClientEvent>,
}

enum State {
    Handshaking(Box<Handshake>),
    Session(Box<ClientSession>),
    Failed,
}

/// One publishing connection to the peer.
pub struct RelayClient {
    peer: String,
    app: String,
    stream_key: String,
    state: State,
    publishing: bool,
    /// Bytes received so far, to point into a packet capture.
    offset: u64,
}

impl RelayClient {
    /// A client that will publish `app/stream_key` to `peer`, and the C0+C1 bytes to send.
    pub fn start(peer: &str, app: &str, stream_key: &str) -> Result<(Self, Vec<u8>), ClientError> {
        let mut handshake = Handshake::new(PeerType::Client);
        let c0c1 = match guard(|| handshake.generate_outbound_p0_and_p1()) {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(e)) => {
                return Err(ClientError::Handshake {
                    peer: peer.to_owned(),
                    message: format!("{e:?}"),
                });
            }
            Err(message) => {
                return Err(ClientError::Panicked {
                    peer: peer.to_owned(),
                    offset: 0,
                    message,
                });
            }
        };
        let client = Self {
            peer: peer.to_owned(),
            app: app.to_owned(),
            stream_key: stream_key.to_owned(),
            state: State::Handshaking(Box::new(handshake)),
            publishing: false,
            offset: 0,
        };
        Ok((client, c0c1))
    }

    pub fn is_publishing(&self) -> bool {
        self.publishing
    }

    /// Feeds bytes read from the peer. Any error is final for this client.
    pub fn handle_input(&mut self, input: &[u8]) -> Result<ClientOutput, ClientError> {
        let start = self.offset;
        self.offset += input.len() as u64;
        let mut out = ClientOutput::default();
        match &mut self.state {
            State::Failed => Err(self.session_error(start, "input after a failure".into())),
            State::Handshaking(handshake) => match handshake_step(handshake, input) {
                HandshakeStep::InProgress(reply) => {
                    out.send = reply;
                    Ok(out)
                }
                HandshakeStep::Completed { reply, rest } => {
                    out.send = reply;
                    self.start_session(&mut out, start)?;
                    if !rest.is_empty() {
                        let at = self.offset - rest.len() as u64;
                        self.session_input(&rest, at, &mut out)?;
                    }
                    Ok(out)
                }
                HandshakeStep::Failed(message) => {
                    self.state = State::Failed;
                    Err(ClientError::Handshake {
                        peer: self.peer.clone(),
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

    /// The bytes that carry `out` to the peer. Only once published.
    pub fn send(&mut self, out: &RelayOut) -> Result<Vec<u8>, ClientError> {
        let offset = self.offset;
        if !self.publishing {
            return Err(ClientError::NotPublishing {
                peer: self.peer.clone(),
                what: "media",
            });
        }
        let State::Session(session) = &mut self.state else {
            return Err(self.session_error(offset, "no session".into()));
        };
        let result = guard(|| match out {
            RelayOut::Metadata(m) => session.publish_metadata(m).map(|r| vec![r]),
            RelayOut::Video { timestamp, data } => session
                .publish_video_data(data.clone(), RtmpTimestamp::new(*timestamp), false)
                .map(|r| vec![r]),
            RelayOut::Audio { timestamp, data } => session
                .publish_audio_data(data.clone(), RtmpTimestamp::new(*timestamp), false)
                .map(|r| vec![r]),
            RelayOut::Unpublish => session.stop_publishing(),
        });
        match result {
            Ok(Ok(results)) => {
                let mut bytes = Vec::new();
                for r in results {
                    if let ClientSessionResult::OutboundResponse(p) = r {
                        bytes.extend_from_slice(&p.bytes);
                    }
                }
                if matches!(out, RelayOut::Unpublish) {
                    self.publishing = false;
                }
                Ok(bytes)
            }
            Ok(Err(e)) => Err(self.session_error(offset, format!("{e:?}"))),
            Err(message) => Err(self.panicked(offset, message)),
        }
    }

    fn start_session(&mut self, out: &mut ClientOutput, offset: u64) -> Result<(), ClientError> {
        let mut config = ClientSessionConfig::new();
        config.tc_url = Some(format!("rtmp://{}/{}", self.peer, self.app));
        let app = self.app.clone();
        let result = guard(|| {
            let (mut session, mut results) = ClientSession::new(config)?;
            results.push(session.request_connection(app)?);
            Ok::<_, rml_rtmp::sessions::ClientSessionError>((session, results))
        });
        match result {
            Ok(Ok((session, results))) => {
                self.state = State::Session(Box::new(session));
                self.collect(results, out, offset)
            }
            Ok(Err(e)) => Err(self.session_error(offset, format!("{e:?}"))),
            Err(message) => Err(self.panicked(offset, message)),
        }
    }

    fn session_input(
        &mut self,
        input: &[u8],
        offset: u64,
        out: &mut ClientOutput,
    ) -> Result<(), ClientError> {
        let State::Session(session) = &mut self.state else {
            return Err(self.session_error(offset, "no session".into()));
        };
        match guard(|| session.handle_input(input)) {
            Ok(Ok(results)) => self.collect(results, out, offset),
            Ok(Err(e)) => Err(self.session_error(offset, format!("{e:?}"))),
            Err(message) => Err(self.panicked(offset, message)),
        }
    }

    fn collect(
        &mut self,
        results: Vec<ClientSessionResult>,
        out: &mut ClientOutput,
        offset: u64,
    ) -> Result<(), ClientError> {
        for result in results {
            match result {
                ClientSessionResult::OutboundResponse(p) => out.send.extend_from_slice(&p.bytes),
                ClientSessionResult::RaisedEvent(event) => self.on_event(event, out, offset)?,
                ClientSessionResult::UnhandleableMessageReceived(_) => {}
            }
        }
        Ok(())
    }

    fn on_event(
        &mut self,
        event: ClientSessionEvent,
        out: &mut ClientOutput,
        offset: u64,
    ) -> Result<(), ClientError> {
        match event {
            ClientSessionEvent::ConnectionRequestAccepted => {
                let State::Session(session) = &mut self.state else {
                    return Err(self.session_error(offset, "no session".into()));
                };
                let key = self.stream_key.clone();
                match guard(|| session.request_publishing(key, PublishRequestType::Live)) {
                    Ok(Ok(ClientSessionResult::OutboundResponse(p))) => {
                        out.send.extend_from_slice(&p.bytes)
                    }
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return Err(self.session_error(offset, format!("{e:?}"))),
                    Err(message) => return Err(self.panicked(offset, message)),
                }
            }
            ClientSessionEvent::ConnectionRequestRejected { description } => {
                out.events.push(ClientEvent::Refused {
                    code: "NetConnection.Connect.Rejected".into(),
                    description,
                });
            }
            // rml_rtmp's server (ours) refuses a publish with `_error` on transaction 0, which
            // its client does not know: the status object carries the code.
            ClientSessionEvent::UnknownTransactionResultReceived {
                additional_values, ..
            } => {
                if let Some((code, description)) = status_of(&additional_values)
                    && code.starts_with("NetStream.Publish.")
                    && code != "NetStream.Publish.Start"
                {
                    self.publishing = false;
                    out.events.push(ClientEvent::Refused { code, description });
                }
            }
            ClientSessionEvent::PublishRequestAccepted => {
                self.publishing = true;
                out.events.push(ClientEvent::Published);
            }
            // Anything but Start about our publish is a refusal (BadName, Unauthorized, ours)
            // from a server that answers with `onStatus`; other statuses are informational.
            ClientSessionEvent::UnhandleableOnStatusCode { code }
                if code.starts_with("NetStream.Publish.") =>
            {
                self.publishing = false;
                out.events.push(ClientEvent::Refused {
                    code,
                    description: String::new(),
                });
            }
            _ => {}
        }
        Ok(())
    }

    fn session_error(&mut self, offset: u64, message: String) -> ClientError {
        self.state = State::Failed;
        self.publishing = false;
        ClientError::Session {
            peer: self.peer.clone(),
            offset,
            message,
        }
    }

    fn panicked(&mut self, offset: u64, message: String) -> ClientError {
        self.state = State::Failed;
        self.publishing = false;
        ClientError::Panicked {
            peer: self.peer.clone(),
            offset,
            message,
        }
    }
}

/// `(code, description)` of an AMF0 status object (`{level, code, description}`), the first
/// value of a command's arguments.
fn status_of(values: &[Amf0Value]) -> Option<(String, String)> {
    let Some(Amf0Value::Object(props)) = values.first() else {
        return None;
    };
    let text = |key: &str| match props.get(key) {
        Some(Amf0Value::Utf8String(s)) => Some(s.clone()),
        _ => None,
    };
    Some((text("code")?, text("description").unwrap_or_default()))
}
