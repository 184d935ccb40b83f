//! The publish lifecycle: who publishes what on this ingest, and what becomes of a stream when
//! its publisher comes, goes, is replaced or the ingest drains.
//!
//! The core is sans-IO: [`table`] (the stream table, every transition a method fed the time
//! that returns effects as data) and [`claim`] (the naming rules it applies). The shell around
//! it: [`context`] (what connections share), [`session`] (one publish from claim to end),
//! [`deadlines`] (the table's one timer), [`relay_hook`] (starting a publish's relay),
//! and [`rendition_list`] (`renditions.json` and sibling numbering). Indexes are
//! read through the contract's one reader, `zonecast_contract::IndexSource`.

pub mod claim;
pub mod context;
pub mod deadlines;
pub mod list_refresh;
pub mod relay_hook;
pub mod rendition_list;
pub mod session;
pub mod table;
