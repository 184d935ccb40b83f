//! What an operator sees of a running ingest: the admin HTTP server (`/healthz`, `/metrics`,
//! `/status`: [`admin`]), the Prometheus metrics ([`metrics`]), the `/status` document
//! ([`status_json`]) and the allocator setting for large media buffers ([`memory`]).

pub mod admin;
pub mod memory;
pub mod metrics;
pub mod status_json;
