//! Playlists rendered from the AZ indexes (DESIGN.md §3, §5), and the decisions around them:
//! which AZ a multivariant playlist lists first, when a chunklist is a 503 instead of a stale
//! 200, and how long each answer may be cached.
//!
//! Rendering goes through m3u8-rs's writer; every URI is absolute and on its AZ's host
//! ([`PublicBase`]), so a player pinned to az1 never fetches from az2 except by failing over.

use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};
use m3u8_rs::{MasterPlaylist, MediaPlaylist, MediaSegment, VariantStream};

use crate::{
    Az, StreamIndex, StreamName, StreamState,
    health::{Health, health},
    keys::headers::PLAYLIST_CONTENT_TYPE,
    url::PublicBase,
};

/// `#EXT-X-VERSION`: 3 for floating-point EXTINF (RFC 8216 §7).
pub const PLAYLIST_VERSION: usize = 3;
/// Content-Type of error answers.
pub const ERROR_CONTENT_TYPE: &str = "text/plain; charset=utf-8";
/// Errors and unknown streams: short, so a freshly started or recovered stream shows up fast.
pub const ERROR_CACHE_CONTROL: &str = "max-age=1";
/// Multivariant playlists: a few seconds; failover happens in the player, not here.
pub const MULTIVARIANT_CACHE_CONTROL: &str = "max-age=5";
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
    fn playlist(cache_control: String, body: String) -> Self {
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
/// live (RFC 8216 §6.2.2 lets a client reload after half a target duration), a day once ended.
pub fn chunklist_cache_control(index: &StreamIndex) -> String {
    match index.state {
        StreamState::Ended => ENDED_CACHE_CONTROL.to_owned(),
        StreamState::Live => format!("max-age={}", (index.playlist_target_duration() / 2).max(1)),
    }
}

/// Whether answering `az`'s chunklist needs the peer's index: only when its own is stale
/// (then a live peer turns the answer into a 503).
pub fn chunklist_needs_peer(own: Option<&StreamIndex>, now: DateTime<Utc>) -> bool {
    health(own, now) == Health::Stale
}

/// Answers a chunklist request for `az`. `peer` is the other AZ's index, needed only when
/// [`chunklist_needs_peer`] says so (otherwise `None` is fine).
///
/// - no index: 404, 1 s;
/// - stale while the peer is live: 503, 1 s (players fail over on errors, not on a playlist
///   that silently stops moving);
/// - otherwise the playlist, even a stale one with no live peer: its last window is the best
///   there is.
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
    if health(own, now) == Health::Stale && health(peer, now) == Health::Live {
        return Rendered::error(
            503,
            format!("stream {name} is stale in {az}; {} is live", az.peer()),
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
            uri: base.segment_url(az, name, s.msn),
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

/// Answers a multivariant request from both AZs' indexes (DESIGN.md §5).
///
/// - Live AZs are listed, the one furthest ahead (highest last msn, az1 on a tie) first, the
///   other as a redundant backup (Apple's redundant streams) with identical attributes;
/// - no live AZ: the ended ones, the same way (the end of the stream stays watchable);
/// - both missing: 404; only stale ones: 503; both 1 s.
pub fn render_multivariant(
    name: &StreamName,
    az1: Option<&StreamIndex>,
    az2: Option<&StreamIndex>,
    base: &PublicBase,
    now: DateTime<Utc>,
) -> Rendered {
    let judged = [(Az::Az1, az1), (Az::Az2, az2)].map(|(az, i)| (az, i, health(i, now)));
    let pick = |wanted: Health| -> Vec<(Az, &StreamIndex)> {
        let mut picked: Vec<(Az, &StreamIndex)> = judged
            .iter()
            .filter(|(_, _, h)| *h == wanted)
            .filter_map(|(az, i, _)| i.map(|i| (*az, i)))
            .collect();
        // Stable sort: on a tie az1 (listed first in `judged`) stays first.
        picked.sort_by_key(|(_, i)| std::cmp::Reverse(i.last_msn()));
        picked
    };
    let mut variants = pick(Health::Live);
    if variants.is_empty() {
        variants = pick(Health::Ended);
    }
    if !variants.is_empty() {
        return Rendered::playlist(
            MULTIVARIANT_CACHE_CONTROL.to_owned(),
            multivariant_playlist(name, &variants, base),
        );
    }
    if judged.iter().all(|(_, _, h)| *h == Health::Missing) {
        Rendered::error(404, format!("no stream {name}"))
    } else {
        Rendered::error(503, format!("stream {name} is stale in every AZ"))
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
    let playlist = MasterPlaylist {
        version: Some(PLAYLIST_VERSION),
        independent_segments: true,
        variants: variants
            .iter()
            .map(|(az, _)| VariantStream {
                uri: base.chunklist_url(*az, name),
                ..template.clone()
            })
            .collect(),
        ..MasterPlaylist::default()
    };
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = playlist.write_to(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// EXT-X-STREAM-INF attributes from the index's codec facts (RFC 8216 §4.3.4.2).
fn variant_attributes(index: &StreamIndex) -> VariantStream {
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
