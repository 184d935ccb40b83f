//! How a new publish reads the indexes it learns its numbering from (its own last one, its
//! peer's, its sibling renditions').

use zonecast_contract::{Az, StreamIndex, StreamName};

/// Reads indexes from the store; a read error is taken as "no index" (and logged by the
/// implementation): a publish never waits on a broken store for long.
pub trait IndexReader: Send + Sync + 'static {
    fn read(
        &self,
        az: Az,
        name: &StreamName,
    ) -> impl std::future::Future<Output = Option<StreamIndex>> + Send;

    /// The renditions `az` lists of `name`'s stream (`renditions.json`); none by default.
    fn read_renditions(
        &self,
        az: Az,
        name: &StreamName,
    ) -> impl std::future::Future<Output = Vec<StreamName>> + Send {
        let _ = (az, name);
        async { Vec::new() }
    }
}
