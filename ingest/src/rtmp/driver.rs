//! The one state machine both ends of our RTMP connections share (the server connection in
//! [`super::RtmpConnection`], the relay's publishing client in `relay::client`): handshake,
//! then rml_rtmp's session, then failed for good. Every call into rml_rtmp runs behind
//! [`guard`] (it panics on some odd input), and every fault carries the byte offset it
//! happened near, so it can be found in a packet capture.
//!
//! A side (server or client) says how its session is made once the handshake completes and
//! how bytes are fed to it; the driver does the rest: C2/S2 replies, the bytes that follow the
//! handshake in the same read, and the bookkeeping of offsets and failures.

use std::panic::AssertUnwindSafe;

use rml_rtmp::handshake::{Handshake, HandshakeProcessResult};

/// What went wrong, before it is given the side's own error type.
#[derive(Debug)]
pub(crate) enum Fault<L> {
    /// The peer's bytes are not an RTMP handshake.
    Handshake(String),
    /// rml_rtmp refused a chunk, a message or a call.
    Session(String),
    /// rml_rtmp panicked (its message); its state is not trusted any more.
    Panicked(String),
    /// The side's own limit on the input (the server's chunk guard).
    Limit(L),
}

/// A fault and the offset (bytes received before the input that caused it).
#[derive(Debug)]
pub(crate) struct Faulted<L> {
    pub offset: u64,
    pub fault: Fault<L>,
}

/// A session just made (with the results it produced on the way), or why not.
pub(crate) type Opened<S, I, L> = Result<(S, Vec<I>), Fault<L>>;

/// One end of an RTMP connection, as the driver needs it.
pub(crate) trait SessionSide {
    type Session;
    /// One of rml_rtmp's session results (`ServerSessionResult`, `ClientSessionResult`).
    type Item;
    /// The side's limit error (never, for a side without limits).
    type Limit;

    /// The session, once the handshake completed, with its first results.
    fn open(&mut self) -> Opened<Self::Session, Self::Item, Self::Limit>;

    /// Feeds bytes that follow the handshake to the session.
    fn feed(
        &mut self,
        session: &mut Self::Session,
        bytes: &[u8],
    ) -> Result<Vec<Self::Item>, Fault<Self::Limit>>;
}

enum State<S> {
    Handshaking(Box<Handshake>),
    Session(Box<S>),
    Failed,
}

/// Drives one side of an RTMP connection; see the module docs.
pub(crate) struct SessionDriver<S: SessionSide> {
    state: State<S::Session>,
    /// Bytes received so far.
    offset: u64,
}

impl<S: SessionSide> SessionDriver<S> {
    /// A driver in the handshake (C0/C1 already sent, for a client).
    pub fn new(handshake: Handshake) -> Self {
        Self {
            state: State::Handshaking(Box::new(handshake)),
            offset: 0,
        }
    }

    pub fn is_handshaking(&self) -> bool {
        matches!(self.state, State::Handshaking(_))
    }

    /// Feeds bytes read from the peer: handshake replies are appended to `send`, the session's
    /// results returned. Any fault is final.
    pub fn input(
        &mut self,
        side: &mut S,
        input: &[u8],
        send: &mut Vec<u8>,
    ) -> Result<Vec<S::Item>, Faulted<S::Limit>> {
        let start = self.offset;
        self.offset += input.len() as u64;
        let result = match &mut self.state {
            State::Failed => Err(Fault::Session("input after a failure".into())),
            State::Session(session) => guarded(|| side.feed(session, input)),
            State::Handshaking(handshake) => {
                match guarded(|| {
                    handshake
                        .process_bytes(input)
                        .map_err(|e| Fault::Handshake(format!("{e:?}")))
                }) {
                    Ok(HandshakeProcessResult::InProgress { response_bytes }) => {
                        send.extend_from_slice(&response_bytes);
                        Ok(Vec::new())
                    }
                    Ok(HandshakeProcessResult::Completed {
                        response_bytes,
                        remaining_bytes,
                    }) => {
                        send.extend_from_slice(&response_bytes);
                        return self.open(side, &remaining_bytes, start);
                    }
                    Err(fault) => Err(fault),
                }
            }
        };
        result.map_err(|fault| self.fail(start, fault))
    }

    /// Opens the session, then feeds it `rest` (what followed the handshake in the same read).
    fn open(
        &mut self,
        side: &mut S,
        rest: &[u8],
        start: u64,
    ) -> Result<Vec<S::Item>, Faulted<S::Limit>> {
        let (mut session, mut items) = guarded(|| side.open()).map_err(|f| self.fail(start, f))?;
        if !rest.is_empty() {
            let at = self.offset - rest.len() as u64;
            let more = guarded(|| side.feed(&mut session, rest)).map_err(|f| self.fail(at, f))?;
            items.extend(more);
        }
        self.state = State::Session(Box::new(session));
        Ok(items)
    }

    /// Runs `f` on the open session (answering a request, sending media), rml_rtmp's panics
    /// caught. Before the handshake completed, or after a failure, it is a fault.
    pub fn with_session<T>(
        &mut self,
        f: impl FnOnce(&mut S::Session) -> Result<T, String>,
    ) -> Result<T, Faulted<S::Limit>> {
        let offset = self.offset;
        let State::Session(session) = &mut self.state else {
            let fault = Fault::Session("no session (handshake not completed, or failed)".into());
            return Err(self.fail(offset, fault));
        };
        guarded(|| f(session).map_err(Fault::Session)).map_err(|fault| self.fail(offset, fault))
    }

    /// Marks the connection failed for good.
    fn fail(&mut self, offset: u64, fault: Fault<S::Limit>) -> Faulted<S::Limit> {
        self.state = State::Failed;
        Faulted { offset, fault }
    }
}

/// Runs `f` with rml_rtmp's panics turned into [`Fault::Panicked`].
fn guarded<T, L>(f: impl FnOnce() -> Result<T, Fault<L>>) -> Result<T, Fault<L>> {
    guard(f).unwrap_or_else(|message| Err(Fault::Panicked(message)))
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
