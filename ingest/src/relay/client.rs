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
use crate::rtmp::driver::{Fault, Faulted, SessionDriver, SessionSide, guard};

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

/// One publishing connection to the peer.
pub struct RelayClient {
    peer: String,
    stream_key: String,
    driver: SessionDriver<ClientSide>,
    side: ClientSide,
    publishing: bool,
}

/// The client's side of the shared driver: its session opens with `connect(app)`.
struct ClientSide {
    peer: String,
    app: String,
}

impl SessionSide for ClientSide {
    type Session = ClientSession;
    type Item = ClientSessionResult;
    type Limit = std::convert::Infallible;

    fn open(&mut self) -> Result<(ClientSession, Vec<ClientSessionResult>), Fault<Self::Limit>> {
        let mut config = ClientSessionConfig::new();
        config.tc_url = Some(format!("rtmp://{}/{}", self.peer, self.app));
        let open = || {
            let (mut session, mut results) = ClientSession::new(config)?;
            results.push(session.request_connection(self.app.clone())?);
            Ok::<_, rml_rtmp::sessions::ClientSessionError>((session, results))
        };
        open().map_err(|e| Fault::Session(format!("{e:?}")))
    }

    fn feed(
        &mut self,
        session: &mut ClientSession,
        bytes: &[u8],
    ) -> Result<Vec<ClientSessionResult>, Fault<Self::Limit>> {
        session
            .handle_input(bytes)
            .map_err(|e| Fault::Session(format!("{e:?}")))
    }
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
            stream_key: stream_key.to_owned(),
            driver: SessionDriver::new(handshake),
            side: ClientSide {
                peer: peer.to_owned(),
                app: app.to_owned(),
            },
            publishing: false,
        };
        Ok((client, c0c1))
    }

    pub fn is_publishing(&self) -> bool {
        self.publishing
    }

    /// Feeds bytes read from the peer. Any error is final for this client.
    pub fn handle_input(&mut self, input: &[u8]) -> Result<ClientOutput, ClientError> {
        let mut out = ClientOutput::default();
        let items = self
            .driver
            .input(&mut self.side, input, &mut out.send)
            .map_err(|f| self.error(f))?;
        self.collect(items, &mut out)?;
        Ok(out)
    }

    /// The bytes that carry `out` to the peer. Only once published.
    pub fn send(&mut self, out: &RelayOut) -> Result<Vec<u8>, ClientError> {
        if !self.publishing {
            return Err(ClientError::NotPublishing {
                peer: self.peer.clone(),
                what: "media",
            });
        }
        let results = self
            .driver
            .with_session(|session| {
                match out {
                    RelayOut::Metadata(m) => session.publish_metadata(m).map(|r| vec![r]),
                    RelayOut::Video { timestamp, data } => session
                        .publish_video_data(data.clone(), RtmpTimestamp::new(*timestamp), false)
                        .map(|r| vec![r]),
                    RelayOut::Audio { timestamp, data } => session
                        .publish_audio_data(data.clone(), RtmpTimestamp::new(*timestamp), false)
                        .map(|r| vec![r]),
                    RelayOut::Unpublish => session.stop_publishing(),
                }
                .map_err(|e| format!("{e:?}"))
            })
            .map_err(|f| self.error(f))?;
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

    fn collect(
        &mut self,
        results: Vec<ClientSessionResult>,
        out: &mut ClientOutput,
    ) -> Result<(), ClientError> {
        for result in results {
            match result {
                ClientSessionResult::OutboundResponse(p) => out.send.extend_from_slice(&p.bytes),
                ClientSessionResult::RaisedEvent(event) => self.on_event(event, out)?,
                ClientSessionResult::UnhandleableMessageReceived(_) => {}
            }
        }
        Ok(())
    }

    fn on_event(
        &mut self,
        event: ClientSessionEvent,
        out: &mut ClientOutput,
    ) -> Result<(), ClientError> {
        match event {
            ClientSessionEvent::ConnectionRequestAccepted => {
                let key = self.stream_key.clone();
                let result = self
                    .driver
                    .with_session(|session| {
                        session
                            .request_publishing(key, PublishRequestType::Live)
                            .map_err(|e| format!("{e:?}"))
                    })
                    .map_err(|f| self.error(f))?;
                if let ClientSessionResult::OutboundResponse(p) = result {
                    out.send.extend_from_slice(&p.bytes)
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

    /// This attempt's error for a fault of the driver; the client is not publishing any more.
    fn error(&mut self, faulted: Faulted<std::convert::Infallible>) -> ClientError {
        self.publishing = false;
        let (peer, offset) = (self.peer.clone(), faulted.offset);
        match faulted.fault {
            Fault::Handshake(message) => ClientError::Handshake { peer, message },
            Fault::Session(message) => ClientError::Session {
                peer,
                offset,
                message,
            },
            Fault::Panicked(message) => ClientError::Panicked {
                peer,
                offset,
                message,
            },
            Fault::Limit(never) => match never {},
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
