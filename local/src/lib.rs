//! The local stack behind `zonecast-local` (DESIGN.md §7).

pub mod cache;
pub mod edge;
pub mod entry;
pub mod player;
pub mod procs;
pub mod stack;
pub mod status;
pub mod store;
