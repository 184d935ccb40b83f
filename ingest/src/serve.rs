//! The RTMP-facing shell: the accept loop ([`listener`]), one task per connection doing the
//! handshake, the bounded reads and the writes ([`connection_task`]), and the protocol policy that
//! turns RTMP requests into publishes of the stream table ([`events`]: names, auth, refusals).
//! Whatever goes wrong in a connection (an error, bad input, a panic) ends that connection
//! only; other streams never notice.

pub mod connection_task;
pub mod error;
pub mod events;
pub mod listener;

pub use error::ConnectionError;
pub use listener::serve_rtmp;

#[cfg(test)]
mod tests;
