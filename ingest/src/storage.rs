//! Getting what the media core produced into S3, in order and without loss (invariants 1 and
//! 4): the effect-to-upload mapping ([`jobs`]), the per-stream upload queue with retries
//! ([`uploader`]), the disk spool for what the store cannot take yet ([`spool`]), the object
//! store behind a narrow trait ([`object_store`]), and CloudFront/edge invalidations
//! ([`invalidate`]).

pub mod invalidate;
pub mod jobs;
pub mod object_store;
pub mod spool;
pub mod uploader;
