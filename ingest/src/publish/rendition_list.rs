//! Renditions: one stream published at several qualities, one RTMP publish per rendition
//! (`rtmp://host/<app>/<stream>?rendition=<name>`; see `zonecast_contract::renditions`).
//!
//! Each rendition is packaged like a stream of its own (its own registry entry, packager,
//! uploader and index). Two things tie them together here:
//! - **Discovery**: once a rendition's first index is in the store, this ingest rewrites
//!   `<az>/<app>/<stream>/renditions.json` with every rendition it has packaged of the stream
//!   since it started ([`RenditionLists::announce`]). The playlist function lists only what
//!   that document names, so it never lists a rendition whose chunklist cannot be served.
//! - **Aligned numbers**: a rendition that starts reads its siblings' indexes (both AZs) and
//!   numbers its segments like them ([`sibling_indexes`], `ClockAnchor::from_references`).

use std::{
    collections::{BTreeSet, HashMap},
    time::Duration,
};
use zonecast_contract::IndexSource;

use chrono::{DateTime, Utc};
use tracing::{info, warn};
use zonecast_contract::{
    Az, RenditionList, StreamIndex, StreamName, keys, renditions::RENDITIONS_VERSION,
};

use crate::storage::object_store::{ObjectStore, PutRequest, StoreError};

/// Writes of `renditions.json` tried at most, a second apart times the attempt.
const ANNOUNCE_ATTEMPTS: u32 = 5;

/// The renditions this ingest has packaged, per stream (the name without rendition).
#[derive(Debug, Default)]
pub struct RenditionLists {
    /// Held across the write, so the last document written is the largest set.
    lists: tokio::sync::Mutex<HashMap<StreamName, BTreeSet<String>>>,
}

impl RenditionLists {
    /// Adds `name`'s rendition to its stream's list and writes the list to the store, unless
    /// it is there already. Call it once the rendition's first index is written. A plain
    /// stream (no rendition) has no list: nothing happens.
    pub async fn announce<S: ObjectStore>(
        &self,
        store: &S,
        az: Az,
        name: &StreamName,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let Some(rendition) = name.rendition() else {
            return Ok(());
        };
        let base = name.base();
        let mut lists = self.lists.lock().await;
        let set = lists.entry(base.clone()).or_default();
        if !set.insert(rendition.to_owned()) {
            return Ok(());
        }
        let doc = RenditionList {
            version: RENDITIONS_VERSION,
            az,
            app: base.app().to_owned(),
            stream: base.stream().to_owned(),
            renditions: set.iter().cloned().collect(),
            updated: now,
        };
        let request = PutRequest {
            key: keys::renditions_key(az, &base),
            body: doc.to_json().into(),
            content_type: keys::headers::INDEX_CONTENT_TYPE,
            cache_control: keys::headers::INDEX_CACHE_CONTROL,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            match store.put(request.clone()).await {
                Ok(()) => {
                    info!(stream = %base, renditions = ?doc.renditions, "renditions listed");
                    return Ok(());
                }
                Err(e) if attempt < ANNOUNCE_ATTEMPTS => {
                    warn!(stream = %base, attempt, error = %e, "writing the rendition list");
                    tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
                }
                Err(e) => {
                    // Not listed: the next publish of this rendition tries again.
                    set.remove(rendition);
                    return Err(e);
                }
            }
        }
    }

    /// Whether `name`'s rendition is listed in the store already.
    pub async fn is_listed(&self, name: &StreamName) -> bool {
        let lists = self.lists.lock().await;
        name.rendition()
            .is_some_and(|r| lists.get(&name.base()).is_some_and(|set| set.contains(r)))
    }

    /// The renditions of `name`'s stream this ingest has listed.
    pub async fn listed(&self, name: &StreamName) -> Vec<StreamName> {
        let lists = self.lists.lock().await;
        let base = name.base();
        lists
            .get(&base)
            .into_iter()
            .flatten()
            .filter_map(|r| base.with_rendition(r).ok())
            .collect()
    }
}

/// The indexes of the other renditions of `name`'s stream, in both AZs: the renditions either
/// AZ lists in the store plus the ones this ingest listed. Empty for a plain stream.
pub async fn sibling_indexes<R: IndexSource>(
    reader: &R,
    lists: &RenditionLists,
    az: Az,
    name: &StreamName,
) -> Vec<StreamIndex> {
    if name.rendition().is_none() {
        return Vec::new();
    }
    let (mine, theirs) = tokio::join!(
        reader.read_renditions_or_none(az, name),
        reader.read_renditions_or_none(az.peer(), name)
    );
    let mut names: BTreeSet<StreamName> = mine.into_iter().chain(theirs).collect();
    names.extend(lists.listed(name).await);
    names.remove(name);
    let mut found = Vec::new();
    for sibling in names
        .into_iter()
        .take(zonecast_contract::renditions::MAX_RENDITIONS)
    {
        let (a, b) = tokio::join!(
            reader.read_index_or_none(az, &sibling),
            reader.read_index_or_none(az.peer(), &sibling)
        );
        found.extend(a);
        found.extend(b);
    }
    found
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<PutRequest>>);

    impl ObjectStore for Recorder {
        async fn put(&self, req: PutRequest) -> Result<(), StoreError> {
            self.0.lock().unwrap().push(req);
            Ok(())
        }
    }

    #[tokio::test]
    async fn announce_writes_the_growing_list_once_per_rendition() {
        let store = Recorder::default();
        let lists = RenditionLists::default();
        let show = StreamName::new("live", "show").unwrap();
        let now = Utc::now();
        for r in ["720p", "360p", "720p"] {
            let name = show.with_rendition(r).unwrap();
            lists.announce(&store, Az::Az2, &name, now).await.unwrap();
        }
        lists.announce(&store, Az::Az2, &show, now).await.unwrap();
        let written = store.0.lock().unwrap().clone();
        assert_eq!(written.len(), 2);
        assert!(
            written
                .iter()
                .all(|w| w.key == "az2/live/show/renditions.json")
        );
        let last = RenditionList::from_json(&written[1].body).unwrap();
        assert_eq!(last.renditions, ["360p", "720p"]);
        assert_eq!((last.app.as_str(), last.stream.as_str()), ("live", "show"));
        assert!(lists.is_listed(&show.with_rendition("360p").unwrap()).await);
        assert!(!lists.is_listed(&show).await);
        assert_eq!(lists.listed(&show).await.len(), 2);
    }
}
