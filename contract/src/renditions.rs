//! Adaptive bit rate: one stream published at several qualities, each rendition its own
//! publish (`rtmp://host/<app>/<stream>?rendition=<name>`), its own packager, its own index
//! and chunklist under `<az>/<app>/<stream>/<rendition>/` ([`crate::keys`]).
//!
//! - **Discovery.** The playlist function holds no s3:ListBucket on purpose of the layout: each
//!   ingest writes `<az>/<app>/<stream>/renditions.json` ([`RenditionList`]), the renditions
//!   it packages, rewritten only after a new rendition's first index is in the store. So a
//!   listed rendition always has a chunklist to serve.
//! - **Health.** One liveness rule per rendition ([`crate::health::health`]). An AZ is serving only if
//!   every rendition that is serving on its peer is serving on it too ([`az_healths`]): a
//!   viewer may switch to any listed rendition, so one dead rendition makes the AZ dead for
//!   listing and steering, and viewers move to the peer as a whole.
//! - **Multivariant.** For each serving AZ (in [`serving_order`]), one `EXT-X-STREAM-INF` per
//!   rendition serving there, `PATHWAY-ID` the AZ; each rendition carries the same attributes
//!   on every pathway (redundant variants). Lowest bandwidth first: players that start on the
//!   first listed variant (hls.js, AVPlayer) start fast on any network, and their bandwidth
//!   estimate moves them up after the first segments.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    Az, StreamIndex, StreamName,
    health::{DeadReason, Health, health, health_pair},
    playlist::{
        MULTIVARIANT_CACHE_CONTROL, Rendered, serving_order, steering_for, variant_attributes,
        variant_on, write_multivariant,
    },
    url::PublicBase,
};

/// Version of the renditions document.
pub const RENDITIONS_VERSION: u32 = 1;
/// Most renditions one stream may have; the ingest refuses more (each costs the playlist
/// function two index reads per multivariant request).
pub const MAX_RENDITIONS: usize = 8;

/// `<az>/<app>/<stream>/renditions.json`: the renditions one AZ's ingest packages of a stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenditionList {
    pub version: u32,
    pub az: Az,
    pub app: String,
    pub stream: String,
    /// Rendition names, sorted, without duplicates.
    pub renditions: Vec<String>,
    /// When the ingest wrote this document.
    pub updated: DateTime<Utc>,
}

impl RenditionList {
    pub fn to_json(&self) -> Vec<u8> {
        // Plain data with string keys: serializing cannot fail.
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The renditions as names of `stream`; invalid entries are skipped, at most
    /// [`MAX_RENDITIONS`].
    pub fn names(&self, stream: &StreamName) -> Vec<StreamName> {
        self.renditions
            .iter()
            .filter_map(|r| stream.with_rendition(r).ok())
            .take(MAX_RENDITIONS)
            .collect()
    }
}

/// One rendition's indexes in both AZs.
#[derive(Debug, Clone)]
pub struct RenditionIndexes<'a> {
    /// The rendition's name (with its rendition).
    pub name: StreamName,
    pub az1: Option<&'a StreamIndex>,
    pub az2: Option<&'a StreamIndex>,
}

impl<'a> RenditionIndexes<'a> {
    fn index(&self, az: Az) -> Option<&'a StreamIndex> {
        match az {
            Az::Az1 => self.az1,
            Az::Az2 => self.az2,
        }
    }

    /// This rendition's health in `az`, next to its peer (the one liveness rule).
    pub fn health(&self, az: Az, now: DateTime<Utc>) -> Health {
        health(self.index(az), self.index(az.peer()), now)
    }
}

/// The health of each AZ (`[az1, az2]`) for a stream with renditions; see the module doc.
///
/// - some rendition serving on the peer is not serving here: dead (the rendition's own reason,
///   [`DeadReason::Incomplete`] when it is missing or ended here);
/// - else some rendition serving here: live (waiting if none is live);
/// - else missing if every rendition is, dead if one is, ended otherwise.
pub fn az_healths(renditions: &[RenditionIndexes<'_>], now: DateTime<Utc>) -> [Health; 2] {
    Az::ALL.map(|az| {
        let pairs: Vec<(Health, Health)> = renditions
            .iter()
            .map(|r| (r.health(az, now), r.health(az.peer(), now)))
            .collect();
        if let Some((mine, _)) = pairs
            .iter()
            .find(|(mine, theirs)| !mine.is_serving() && theirs.is_serving())
        {
            return match mine {
                Health::Dead(reason) => Health::Dead(*reason),
                _ => Health::Dead(DeadReason::Incomplete),
            };
        }
        let mine = || pairs.iter().map(|(mine, _)| *mine);
        if mine().any(|h| h == Health::Live) {
            Health::Live
        } else if mine().any(|h| h == Health::Waiting) {
            Health::Waiting
        } else if mine().all(|h| h == Health::Missing) {
            Health::Missing
        } else if let Some(dead) = mine().find(|h| h.is_dead()) {
            dead
        } else {
            Health::Ended
        }
    })
}

/// Whether a stream is answered from its renditions rather than its plain index: when a
/// rendition exists and either one is serving or the plain stream is not (a stream published
/// plain again after an ABR publish is not hidden by the old renditions).
pub fn prefer_renditions(
    plain: [Health; 2],
    renditions: &[RenditionIndexes<'_>],
    now: DateTime<Utc>,
) -> bool {
    let r = az_healths(renditions, now);
    let serving = |h: [Health; 2]| h.iter().any(|h| h.is_serving());
    !r.iter().all(|h| *h == Health::Missing) && (serving(r) || !serving(plain))
}

/// The health of each AZ (`[az1, az2]`) for a whole stream, exactly as its multivariant
/// playlist and steering manifest judge it: by its renditions ([`az_healths`]) when they answer
/// ([`prefer_renditions`]), else by the plain index ([`crate::health::health_pair`]). The
/// monitor (lambdas `monitor`) counts served streams with it, so its alarms and the viewers
/// see the same AZs.
pub fn stream_healths(
    plain: [Option<&StreamIndex>; 2],
    renditions: &[RenditionIndexes<'_>],
    now: DateTime<Utc>,
) -> [Health; 2] {
    let [az1, az2] = plain;
    let plain = health_pair(az1, az2, now);
    if prefer_renditions(plain, renditions, now) {
        az_healths(renditions, now)
    } else {
        plain
    }
}

/// The multivariant playlist of a stream with renditions (module doc, DESIGN.md §5): serving
/// AZs in [`serving_order`], each listing its serving renditions; with no AZ serving, the
/// ended AZs and their ended renditions; otherwise 404, 1 s.
pub fn render_multivariant_renditions(
    name: &StreamName,
    renditions: &[RenditionIndexes<'_>],
    base: &PublicBase,
    now: DateTime<Utc>,
) -> Rendered {
    let name = name.base();
    let healths = az_healths(renditions, now);
    let mut order = serving_order(healths, now);
    let listed: fn(Health) -> bool = if order.is_empty() {
        order = Az::ALL
            .into_iter()
            .filter(|az| healths[usize::from(*az == Az::Az2)] == Health::Ended)
            .collect();
        |h| h == Health::Ended
    } else {
        Health::is_serving
    };
    // Each rendition's attributes, from the first AZ in order that lists it.
    let mut templates: Vec<(&RenditionIndexes<'_>, m3u8_rs::VariantStream)> = renditions
        .iter()
        .filter_map(|r| {
            let az = order.iter().find(|az| listed(r.health(**az, now)))?;
            Some((r, variant_attributes(r.index(*az)?)))
        })
        .collect();
    templates.sort_by(|(a, ta), (b, tb)| {
        (ta.bandwidth, a.name.rendition()).cmp(&(tb.bandwidth, b.name.rendition()))
    });
    let variants: Vec<_> = order
        .iter()
        .flat_map(|az| {
            templates
                .iter()
                .filter(|(r, _)| listed(r.health(*az, now)))
                .map(|(r, t)| variant_on(*az, base.chunklist_url(*az, &r.name), t))
        })
        .collect();
    if variants.is_empty() {
        return Rendered::error(
            404,
            if healths.iter().all(|h| *h == Health::Missing) {
                format!("no stream {name}")
            } else {
                format!(
                    "stream {name} is not live in any AZ (az1 {}, az2 {})",
                    healths[0].as_str(),
                    healths[1].as_str()
                )
            },
        );
    }
    Rendered::playlist(
        MULTIVARIANT_CACHE_CONTROL.to_owned(),
        write_multivariant(&name, order.first().copied(), variants, base),
    )
}

/// The steering manifest of a stream with renditions: the pathways by the AZs' healths
/// ([`az_healths`]); the TTL is the shortest target duration of any rendition.
pub fn render_steering_renditions(
    name: &StreamName,
    renditions: &[RenditionIndexes<'_>],
    current: Option<Az>,
    now: DateTime<Utc>,
) -> Rendered {
    let ttl = renditions
        .iter()
        .flat_map(|r| [r.az1, r.az2])
        .flatten()
        .map(StreamIndex::playlist_target_duration)
        .min()
        .unwrap_or(1)
        .max(1);
    steering_for(&name.base(), az_healths(renditions, now), ttl, current, now)
}

#[cfg(test)]
mod tests;
