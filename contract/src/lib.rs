//! The contract between ZoneCast's ingest and its playlist functions: the S3 key layout, the
//! index document, the URL scheme, the health rules and the playlist rendering. Both sides
//! import it; neither re-derives any of it (DESIGN.md §3).

pub mod az;
pub mod cors;
pub mod health;
pub mod host_rewrite;
pub mod index;
pub mod index_source;
pub mod keys;
pub mod name;
pub mod playlist;
pub mod renditions;
pub mod retry;
pub mod route;
pub mod shard;
pub mod stream_key;
#[doc(hidden)]
pub mod testing;
pub mod url;
pub mod window;

pub use az::{Az, AzError};
pub use health::{DeadReason, Health, health};
pub use host_rewrite::{VIEWER_HOST_HEADER, rewrite};
pub use index::{INDEX_VERSION, IndexSegment, Resolution, StreamIndex, StreamInfo, StreamState};
pub use index_source::{IndexSource, IndexSourceError, MemoryIndexSource};
pub use name::{NameError, StreamName};
pub use playlist::{Rendered, render_chunklist, render_multivariant, render_steering};
pub use renditions::{RenditionIndexes, RenditionList};
pub use retry::{RetryPolicy, Retryable};
pub use route::{Route, RouteError};
pub use shard::{ShardError, ShardSpec};
pub use stream_key::{DuplicateParam, StreamKey};
pub use url::{PublicBase, Scheme, UrlError};
pub use window::SegmentWindow;
#[cfg(feature = "s3")]
pub mod s3;
