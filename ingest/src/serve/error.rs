//! Why a connection ended, classified: a normal close is not a failure.

use std::{io::ErrorKind, net::SocketAddr};

use zonecast_contract::StreamName;

use crate::{media::packager::PackagerError, rtmp::RtmpError};

#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error(transparent)]
    Rtmp(#[from] RtmpError),
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("{peer}: no data for {secs} s")]
    Idle { peer: SocketAddr, secs: u64 },
    #[error("{peer}: no RTMP handshake within {secs} s")]
    Handshake { peer: SocketAddr, secs: u64 },
    #[error("{peer}: refused: {reason}")]
    Refused { peer: SocketAddr, reason: String },
    /// The peer's relay of a stream that an encoder publishes here directly: direct wins
    /// (README.md, "The relay"). Expected with a dual-output encoder; not a failure.
    #[error("{peer}: refused the relay of {stream}: a direct publish of it is live here")]
    RelayBehindDirect {
        peer: SocketAddr,
        stream: StreamName,
    },
    #[error("{peer} {stream}: {source}")]
    Media {
        peer: SocketAddr,
        stream: StreamName,
        source: Box<PackagerError>,
    },
}

/// How a connection ended, for the log level and the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseKind {
    /// The peer closed or reset the connection (an encoder that stops, crashes or loses its
    /// network sends a FIN or an RST): normal operation. Logged at debug, counted as closed
    /// by the peer, not as failed.
    PeerClosed,
    /// Ended by a rule that expects it: the peer's relay stood aside for a direct publish.
    /// Logged at debug, counted by its refusal reason only.
    Expected,
    /// Something went wrong: logged as a warning, counted as failed.
    Failed,
}

impl ConnectionError {
    /// Whether this close is part of normal operation (see [`CloseKind`]).
    pub fn close_kind(&self) -> CloseKind {
        match self {
            ConnectionError::RelayBehindDirect { .. } => CloseKind::Expected,
            ConnectionError::Io(e) if is_peer_close(e.kind()) => CloseKind::PeerClosed,
            _ => CloseKind::Failed,
        }
    }
}

/// The socket errors a peer's close or reset shows up as.
pub fn is_peer_close(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::BrokenPipe
            | ErrorKind::UnexpectedEof
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resets_and_relay_refusals_are_normal_closes_and_the_rest_fail() {
        let peer: SocketAddr = "127.0.0.1:1".parse().expect("addr");
        let io = |kind| ConnectionError::Io(std::io::Error::from(kind));
        let cases = [
            (io(ErrorKind::ConnectionReset), CloseKind::PeerClosed),
            (io(ErrorKind::BrokenPipe), CloseKind::PeerClosed),
            (io(ErrorKind::UnexpectedEof), CloseKind::PeerClosed),
            (io(ErrorKind::ConnectionAborted), CloseKind::PeerClosed),
            (
                ConnectionError::RelayBehindDirect {
                    peer,
                    stream: StreamName::new("live", "show").expect("name"),
                },
                CloseKind::Expected,
            ),
            (io(ErrorKind::PermissionDenied), CloseKind::Failed),
            (ConnectionError::Idle { peer, secs: 1 }, CloseKind::Failed),
            (
                ConnectionError::Handshake { peer, secs: 1 },
                CloseKind::Failed,
            ),
            (
                ConnectionError::Refused {
                    peer,
                    reason: "x".into(),
                },
                CloseKind::Failed,
            ),
        ];
        for (error, kind) in cases {
            assert_eq!(error.close_kind(), kind, "{error}");
        }
    }
}
