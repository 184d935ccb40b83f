//! Our own small RTMP server connection on top of rml_rtmp.
//!
//! rml_rtmp is unmaintained since 2023 and panics on some malformed input (an AMF0 data message
//! `["@setDataFrame"]` alone panics `ServerSession::handle_input`). Everything that touches it
//! goes through [`RtmpConnection`], which is sans-IO (bytes in, bytes to send and events out)
//! and turns a panic inside rml_rtmp into [`RtmpError::Panicked`] for this one connection.

mod connection;
pub(crate) mod driver;
mod error;
mod guard;

pub use connection::{RtmpConnection, RtmpEvent, RtmpOutput};
pub use error::RtmpError;
pub use guard::{ChunkGuard, LimitError, RtmpLimits};

#[cfg(test)]
mod tests;
