use std::net::SocketAddr;

/// Errors of one RTMP connection. Each ends that connection only.
#[derive(Debug, thiserror::Error)]
pub enum RtmpError {
    /// The first bytes were not an RTMP handshake (C0 must be 0x03): garbage on the port, TLS,
    /// HTTP, a port scanner.
    #[error("{peer}: RTMP handshake failed after {offset} bytes: {message}")]
    Handshake {
        peer: SocketAddr,
        offset: u64,
        message: String,
    },
    /// rml_rtmp rejected a chunk or message.
    #[error("{peer}: bad RTMP message near byte {offset}: {message}")]
    Session {
        peer: SocketAddr,
        offset: u64,
        message: String,
    },
    /// rml_rtmp panicked on this input; the connection's state can no longer be trusted.
    #[error("{peer}: RTMP parser panicked near byte {offset}: {message}")]
    Panicked {
        peer: SocketAddr,
        offset: u64,
        message: String,
    },
    /// The peer went beyond a limit (message size, chunk size, messages in progress).
    #[error("{peer}: near byte {offset}: {source}")]
    Limit {
        peer: SocketAddr,
        offset: u64,
        source: super::LimitError,
    },
}
