//! Playlists rendered from the AZ indexes (DESIGN.md §3, §5), and the decisions around them:
//! which AZs a multivariant playlist lists and in which order, the steering manifest, when a
//! chunklist is a 404 (fail over) instead of a frozen 200, and how long each answer may be
//! cached.
//!
//! A stream published at several qualities is rendered by [`crate::renditions`] on the same
//! building blocks; a rendition's chunklist is an ordinary chunklist of its own name.
//!
//! Rendering goes through m3u8-rs's writer; every URI is absolute and on its AZ's host
//! ([`PublicBase`]), so a player pinned to az1 never fetches from az2 except by failing over.

use std::{collections::HashMap, sync::atomic::Ordering};

use chrono::{DateTime, Utc};
use m3u8_rs::{
    ExtTag, MasterPlaylist, MediaPlaylist, MediaSegment, QuotedOrUnquoted, VariantStream,
};

use crate::{
    Az, StreamIndex, StreamName, StreamState,
    health::{Health, health, health_pair},
    keys::{SegmentId, headers::PLAYLIST_CONTENT_TYPE},
    url::PublicBase,
};

/// `#EXT-X-VERSION`: 3 for floating-point EXTINF (RFC 8216 §7).
pub const PLAYLIST_VERSION: usize = 3;
/// Content-Type of error answers.
pub const ERROR_CONTENT_TYPE: &str = "text/plain; charset=utf-8";
/// Errors and unknown streams: short, so a freshly started or recovered stream shows up fast.
pub const ERROR_CACHE_CONTROL: &str = "max-age=1";
/// Multivariant playlists: a few seconds; failover happens in the player, not here.
pub const MULTIVARIANT_MAX_AGE: i64 = 5;
pub const MULTIVARIANT_CACHE_CONTROL: &str = "max-age=5";
/// Content-Type of the steering manifest.
pub const STEERING_CONTENT_TYPE: &str = "application/json";
/// An ended chunklist (`#EXT-X-ENDLIST`) no longer changes until the stream restarts, and the
/// ingest invalidates it then (DESIGN.md §5).
pub const ENDED_CACHE_CONTROL: &str = "max-age=86400";

/// An HTTP answer: a playlist or a short error text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub status: u16,
    pub content_type: &'static str,
    pub cache_control: String,
    pub body: String,
}

impl Rendered {
    pub(crate) fn playlist(cache_control: String, body: String) -> Self {
        Self {
            status: 200,
            content_type: PLAYLIST_CONTENT_TYPE,
            cache_control,
            body,
        }
    }

    /// A short human-readable error with a 1 s cache lifetime.
    pub fn error(status: u16, message: impl Into<String>) -> Self {
        let mut body = message.into();
        body.push('\n');
        Self {
            status,
            content_type: ERROR_CONTENT_TYPE,
            cache_control: ERROR_CACHE_CONTROL.to_owned(),
            body,
        }
    }

    pub fn is_playlist(&self) -> bool {
        self.content_type == PLAYLIST_CONTENT_TYPE
    }
}

/// Cache-Control of a chunklist: half the target duration in whole seconds (at least 1) while
/// live or waiting (RFC 8216 §6.2.2 lets a client reload after half a target duration), a day
/// once ended.
pub fn chunklist_cache_control(index: &StreamIndex) -> String {
    match index.state {
        StreamState::Ended => ENDED_CACHE_CONTROL.to_owned(),
        StreamState::Live | StreamState::Waiting | StreamState::Draining => {
            format!("max-age={}", (index.playlist_target_duration() / 2).max(1))
        }
    }
}

/// Answers a chunklist request for `az` from its own index and its peer's (DESIGN.md §5).
///
/// - no index: 404, 1 s;
/// - dead ([`health`]: stale, behind or draining) while the peer is live or waiting: **404**,
///   1 s. A 4xx, never a 5xx: CloudFront answers a 5xx with its expired cached copy (a frozen
///   `200`), a 4xx it passes on; and hls.js fails over at once on a 4xx while it retries a 5xx
///   twice (1 s, 2 s) first;
/// - otherwise the playlist, even a dead AZ's when the peer is no better: its last window is
///   the best there is.
pub fn render_chunklist(
    az: Az,
    name: &StreamName,
    own: Option<&StreamIndex>,
    peer: Option<&StreamIndex>,
    base: &PublicBase,
    now: DateTime<Utc>,
) -> Rendered {
    let Some(index) = own else {
        return Rendered::error(404, format!("no stream {name} in {az}"));
    };
    let mine = health(own, peer, now);
    let theirs = health(peer, own, now);
    if mine.is_dead() && theirs.is_serving() {
        return Rendered::error(
            404,
            format!(
                "stream {name} is {} in {az}; {} is {}: fail over",
                mine.as_str(),
                az.peer(),
                theirs.as_str()
            ),
        );
    }
    Rendered::playlist(
        chunklist_cache_control(index),
        chunklist_playlist(az, name, index, base),
    )
}

/// The media playlist of one AZ's window.
pub fn chunklist_playlist(
    az: Az,
    name: &StreamName,
    index: &StreamIndex,
    base: &PublicBase,
) -> String {
    let segments = index
        .segments
        .iter()
        .map(|s| MediaSegment {
            uri: base.segment_url(
                az,
                name,
                SegmentId {
                    epoch: index.epoch,
                    msn: s.msn,
                },
            ),
            duration: s.duration_ms as f32 / 1000.0,
            discontinuity: s.discontinuity,
            program_date_time: Some(s.program_date_time.fixed_offset()),
            ..MediaSegment::default()
        })
        .collect();
    let playlist = MediaPlaylist {
        version: Some(PLAYLIST_VERSION),
        independent_segments: true,
        target_duration: index.playlist_target_duration(),
        media_sequence: index.media_sequence(),
        discontinuity_sequence: index.discontinuity_sequence,
        end_list: index.state == StreamState::Ended,
        segments,
        ..MediaPlaylist::default()
    };
    // EXTINF with millisecond precision (`2.002`, `2.000`). m3u8-rs takes the precision from a
    // process-wide setting; ZoneCast uses 3 everywhere, so setting it here is idempotent.
    m3u8_rs::WRITE_OPT_FLOAT_PRECISION.store(3, Ordering::Relaxed);
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = playlist.write_to(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The AZs worth sending viewers to, in the order to offer them: live before waiting, and
/// between equals, alternating every [`MULTIVARIANT_MAX_AGE`] seconds of `now`, so new viewers
/// spread over both AZs (each cached copy of the multivariant playlist sends its viewers to
/// one AZ first, the next copy to the other).
pub fn serving_order(healths: [Health; 2], now: DateTime<Utc>) -> Vec<Az> {
    let flip = now.timestamp().div_euclid(MULTIVARIANT_MAX_AGE) % 2 == 1;
    let mut azs = if flip {
        vec![Az::Az2, Az::Az1]
    } else {
        vec![Az::Az1, Az::Az2]
    };
    let health_of = |az: Az| healths[usize::from(az == Az::Az2)];
    azs.retain(|az| health_of(*az).is_serving());
    // Stable: the alternation survives among equals.
    azs.sort_by_key(|az| health_of(*az) != Health::Live);
    azs
}

/// Answers a multivariant request from both AZs' indexes (DESIGN.md §5).
///
/// - Live and waiting AZs are listed (a dead one is not), in [`serving_order`], each variant
///   with identical attributes: Apple's redundant streams, so players that do not steer fail
///   over to the other on an error. Each variant carries its AZ as `PATHWAY-ID`, and
///   `EXT-X-CONTENT-STEERING` names the steering manifest and the first AZ as the default
///   pathway: players that steer (hls.js, Shaka, video.js, Media3) move before their buffer
///   drains.
/// - no AZ serving: the ended ones, the same way (the end of the stream stays watchable);
/// - otherwise 404, 1 s: no index at all, or every AZ dead (a new viewer would stall on it).
pub fn render_multivariant(
    name: &StreamName,
    az1: Option<&StreamIndex>,
    az2: Option<&StreamIndex>,
    base: &PublicBase,
    now: DateTime<Utc>,
) -> Rendered {
    let healths = health_pair(az1, az2, now);
    let index_of = |az: Az| if az == Az::Az1 { az1 } else { az2 };
    let mut order = serving_order(healths, now);
    if order.is_empty() {
        order = [Az::Az1, Az::Az2]
            .into_iter()
            .filter(|az| healths[usize::from(*az == Az::Az2)] == Health::Ended)
            .collect();
    }
    let variants: Vec<(Az, &StreamIndex)> = order
        .iter()
        .filter_map(|az| index_of(*az).map(|i| (*az, i)))
        .collect();
    if !variants.is_empty() {
        return Rendered::playlist(
            MULTIVARIANT_CACHE_CONTROL.to_owned(),
            multivariant_playlist(name, &variants, base),
        );
    }
    if healths.iter().all(|h| *h == Health::Missing) {
        Rendered::error(404, format!("no stream {name}"))
    } else {
        Rendered::error(
            404,
            format!(
                "stream {name} is not live in any AZ (az1 {}, az2 {})",
                healths[0].as_str(),
                healths[1].as_str()
            ),
        )
    }
}

/// The multivariant playlist listing `variants` in order. Every entry carries the first
/// entry's attributes: redundant streams must be identical variants, or a player would treat
/// the backup as a different rendition instead of failing over to it.
pub fn multivariant_playlist(
    name: &StreamName,
    variants: &[(Az, &StreamIndex)],
    base: &PublicBase,
) -> String {
    let template = variants
        .first()
        .map(|(_, primary)| variant_attributes(primary))
        .unwrap_or_default();
    let entries = variants
        .iter()
        .map(|(az, _)| variant_on(*az, base.chunklist_url(*az, name), &template))
        .collect();
    write_multivariant(name, variants.first().map(|(az, _)| *az), entries, base)
}

/// One `EXT-X-STREAM-INF` on pathway `az`: the attributes of `template`, this AZ's chunklist.
pub(crate) fn variant_on(az: Az, uri: String, template: &VariantStream) -> VariantStream {
    VariantStream {
        uri,
        other_attributes: Some(HashMap::from([(
            "PATHWAY-ID".to_owned(),
            QuotedOrUnquoted::Quoted(az.as_str().to_owned()),
        )])),
        ..template.clone()
    }
}

/// Writes a multivariant playlist of `variants`, with `EXT-X-CONTENT-STEERING` naming the
/// steering manifest and `default_pathway`.
pub(crate) fn write_multivariant(
    name: &StreamName,
    default_pathway: Option<Az>,
    variants: Vec<VariantStream>,
    base: &PublicBase,
) -> String {
    let steering = default_pathway.map(|default| ExtTag {
        tag: "X-CONTENT-STEERING".to_owned(),
        rest: Some(format!(
            "SERVER-URI=\"{}\",PATHWAY-ID=\"{default}\"",
            base.steering_url(name)
        )),
    });
    let playlist = MasterPlaylist {
        version: Some(PLAYLIST_VERSION),
        independent_segments: true,
        variants,
        unknown_tags: steering.into_iter().collect(),
        ..MasterPlaylist::default()
    };
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = playlist.write_to(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The steering manifest (HLS content steering, draft-pantos-hls-rfc8216bis §7): the pathways
/// `az1` and `az2` by priority. `current` is the pathway the player uses now (`_HLS_pathway`):
/// it stays first while it serves, so steering never moves a viewer without a reason. Other
/// serving AZs follow in [`serving_order`], then the rest (dead, ended, missing) last. `TTL`
/// and the cache lifetime are one target duration: a player learns of a dead AZ within about
/// two target durations even if its chunklist requests still succeed.
pub fn render_steering(
    name: &StreamName,
    az1: Option<&StreamIndex>,
    az2: Option<&StreamIndex>,
    current: Option<Az>,
    now: DateTime<Utc>,
) -> Rendered {
    let ttl = [az1, az2]
        .into_iter()
        .flatten()
        .map(StreamIndex::playlist_target_duration)
        .min()
        .unwrap_or(1)
        .max(1);
    steering_for(name, health_pair(az1, az2, now), ttl, current, now)
}

/// [`render_steering`] from the AZs' healths and the TTL in seconds.
pub(crate) fn steering_for(
    name: &StreamName,
    healths: [Health; 2],
    ttl: u64,
    current: Option<Az>,
    now: DateTime<Utc>,
) -> Rendered {
    if healths.iter().all(|h| *h == Health::Missing) {
        return Rendered::error(404, format!("no stream {name}"));
    }
    let mut priority = serving_order(healths, now);
    if let Some(current) = current
        && let Some(pos) = priority.iter().position(|az| *az == current)
    {
        priority.remove(pos);
        priority.insert(0, current);
    }
    for az in [Az::Az1, Az::Az2] {
        if !priority.contains(&az) {
            priority.push(az);
        }
    }
    let manifest = SteeringManifest {
        version: 1,
        ttl,
        pathway_priority: priority.iter().map(|az| az.as_str()).collect(),
    };
    Rendered {
        status: 200,
        content_type: STEERING_CONTENT_TYPE,
        cache_control: format!("max-age={ttl}"),
        body: manifest.to_json(),
    }
}

/// The steering manifest document.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "SCREAMING-KEBAB-CASE")]
pub struct SteeringManifest {
    pub version: u32,
    /// Seconds until the player asks again.
    pub ttl: u64,
    pub pathway_priority: Vec<&'static str>,
}

impl SteeringManifest {
    pub fn to_json(&self) -> String {
        // Plain data with string keys: serializing cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// EXT-X-STREAM-INF attributes from the index's codec facts (RFC 8216 §4.3.4.2).
pub(crate) fn variant_attributes(index: &StreamIndex) -> VariantStream {
    let info = &index.info;
    let bandwidth = if info.bandwidth > 0 {
        info.bandwidth
    } else {
        measured_peak_bandwidth(index)
    };
    VariantStream {
        bandwidth,
        average_bandwidth: (info.average_bandwidth > 0).then_some(info.average_bandwidth),
        codecs: (!info.codecs.is_empty()).then(|| info.codecs.clone()),
        resolution: info.resolution.map(|r| m3u8_rs::Resolution {
            width: r.width.into(),
            height: r.height.into(),
        }),
        // Three decimals (29.970, not 29.97002997…), as RFC 8216 §4.3.4.2 suggests.
        frame_rate: info
            .frame_rate
            .filter(|f| f.is_finite() && *f > 0.0)
            .map(|f| (f * 1000.0).round() / 1000.0),
        ..VariantStream::default()
    }
}

/// BANDWIDTH is mandatory; when the ingest has not measured it yet, the peak segment bit rate
/// of the window stands in.
fn measured_peak_bandwidth(index: &StreamIndex) -> u64 {
    index
        .segments
        .iter()
        .filter(|s| s.duration_ms > 0)
        .map(|s| s.bytes.saturating_mul(8000) / u64::from(s.duration_ms))
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
