//! The contract between ZoneCast's ingest and its playlist functions: the S3 key layout, the
//! index document, the URL scheme, the health rules and the playlist rendering. Both sides
//! import it; neither re-derives any of it (DESIGN.md §3).

pub mod az;
pub mod index;
pub mod keys;
pub mod name;

pub use az::{Az, AzError};
pub use index::{INDEX_VERSION, IndexSegment, Resolution, StreamIndex, StreamInfo, StreamState};
pub use name::{NameError, StreamName};
#[cfg(feature = "s3")]
pub mod s3;
