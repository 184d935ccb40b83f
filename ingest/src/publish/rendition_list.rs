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
//! - **Kept alive**: the bucket's lifecycle rule expires every object `SegmentRetentionDays`
//!   after it was written (template.yaml), `renditions.json` included. A list written once
//!   would expire under a 24/7 stream and take its multivariant playlist with it, so while a
//!   rendition of the stream is published or waiting here, the list is written again every
//!   [`LIST_REFRESH`] (`publish::list_refresh`).

use std::{
    collections::{BTreeSet, HashMap},
    time::Duration,
};
use zonecast_contract::IndexSource;

use chrono::{DateTime, Utc};
use tracing::{debug, info, warn};
use zonecast_contract::{
    Az, RenditionList, StreamIndex, StreamName, keys, renditions::RENDITIONS_VERSION,
};

use crate::storage::object_store::{ObjectStore, PutRequest, StoreError};

/// Writes of `renditions.json` tried at most, a second apart times the attempt.
const ANNOUNCE_ATTEMPTS: u32 = 5;

/// How often the rendition list of a stream being published is written again.
///
/// Why a rewrite and not the alternatives: S3 lifecycle filters select by prefix, tag and
/// size only, so exempting `renditions.json` would need a tag on every other object (or a
/// size threshold) and would leave the lists of ended streams behind forever; folding the
/// list into each index would change the contract every reader shares. A rewrite keeps the
/// object younger than this interval, so it can never reach the retention (at least one day,
/// `SegmentRetentionDays` in template.yaml; `deploy/test_template.py` ties the two), and it
/// comes back within this interval if anything deletes it anyway. Once the stream has ended
/// here the rewrites stop, and the list expires with the stream's other objects.
///
/// Cost: one PUT per stream and AZ every 30 s (2,880 a day), against two PUTs (segment and
/// index) per rendition every target duration (86,400 a day per rendition at 2 s): about 3 %
/// more requests for a one-rendition stream, less with more renditions.
pub const LIST_REFRESH: Duration = Duration::from_secs(30);

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
        let request = list_request(az, &base, set, now);
        let mut attempt = 0;
        loop {
            attempt += 1;
            match store.put(request.clone()).await {
                Ok(()) => {
                    info!(stream = %base, renditions = ?set, "renditions listed");
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

    /// Writes the list again of every stream that has a rendition for which `is_active`
    /// (given the rendition's name, `app/stream/rendition`) holds; returns how many lists were
    /// written. One attempt each: a failure is logged and the next round tries again, well
    /// before the retention is near ([`LIST_REFRESH`]).
    pub async fn refresh<S: ObjectStore>(
        &self,
        store: &S,
        az: Az,
        is_active: impl Fn(&str) -> bool,
        now: DateTime<Utc>,
    ) -> usize {
        // Held across the writes, as in `announce`: a refresh never overwrites a larger set.
        let lists = self.lists.lock().await;
        let mut written = 0;
        for (base, set) in lists.iter() {
            let active = set
                .iter()
                .filter_map(|r| base.with_rendition(r).ok())
                .any(|name| is_active(&name.to_string()));
            if !active {
                continue;
            }
            match store.put(list_request(az, base, set, now)).await {
                Ok(()) => {
                    written += 1;
                    debug!(stream = %base, "rendition list rewritten");
                }
                Err(e) => warn!(stream = %base, error = %e, "rewriting the rendition list"),
            }
        }
        written
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

/// `renditions.json` of `base` naming `set`.
fn list_request(
    az: Az,
    base: &StreamName,
    set: &BTreeSet<String>,
    now: DateTime<Utc>,
) -> PutRequest {
    let doc = RenditionList {
        version: RENDITIONS_VERSION,
        az,
        app: base.app().to_owned(),
        stream: base.stream().to_owned(),
        renditions: set.iter().cloned().collect(),
        updated: now,
    };
    PutRequest {
        key: keys::renditions_key(az, base),
        body: doc.to_json().into(),
        content_type: keys::headers::INDEX_CONTENT_TYPE,
        cache_control: keys::headers::INDEX_CACHE_CONTROL,
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

    #[tokio::test]
    async fn refresh_rewrites_the_lists_of_active_streams_only() {
        let store = Recorder::default();
        let lists = RenditionLists::default();
        let show = StreamName::new("live", "show").unwrap();
        let gone = StreamName::new("live", "gone").unwrap();
        let now = Utc::now();
        for name in [
            show.with_rendition("720p").unwrap(),
            show.with_rendition("360p").unwrap(),
            gone.with_rendition("720p").unwrap(),
        ] {
            lists.announce(&store, Az::Az1, &name, now).await.unwrap();
        }
        store.0.lock().unwrap().clear();
        let later = now + chrono::Duration::hours(1);
        // One rendition of `show` still publishing (or waiting) is enough; `gone` ended.
        let written = lists
            .refresh(&store, Az::Az1, |s| s == "live/show/360p", later)
            .await;
        assert_eq!(written, 1);
        let puts = store.0.lock().unwrap().clone();
        assert_eq!(puts.len(), 1);
        assert_eq!(puts[0].key, "az1/live/show/renditions.json");
        assert_eq!(puts[0].cache_control, keys::headers::INDEX_CACHE_CONTROL);
        let doc = RenditionList::from_json(&puts[0].body).unwrap();
        assert_eq!(doc.renditions, ["360p", "720p"]);
        assert_eq!(doc.updated, later);
        assert_eq!(lists.refresh(&store, Az::Az1, |_| false, later).await, 0);
    }

    #[test]
    fn the_list_is_rewritten_well_inside_the_shortest_retention() {
        // template.yaml: SegmentRetentionDays MinValue 1 (deploy/test_template.py checks the
        // template side). A list must be rewritten many times before it could expire.
        let shortest_retention = Duration::from_secs(24 * 3600);
        assert!(LIST_REFRESH * 100 <= shortest_retention);
    }
}
