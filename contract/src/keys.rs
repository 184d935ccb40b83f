//! The S3 key layout (DESIGN.md §2): `<az>/<app>/<stream>/<epoch>-<msn>.ts` and
//! `<az>/<app>/<stream>/index.json`. The epoch ([`crate::StreamIndex::epoch`]) keeps segment
//! keys unique for ever: numbers may start again after retention deleted a stream's objects. The viewer path of a segment on an AZ host is the same key
//! without the AZ prefix, so after the edge adds the prefix the path *is* the key.
//!
//! A rendition of a stream published at several qualities nests under the stream:
//! `<az>/<app>/<stream>/<rendition>/index.json` and `…/<rendition>/<epoch>-<msn>.ts`. Each
//! ingest lists the renditions it packages in `<az>/<app>/<stream>/renditions.json`
//! ([`crate::renditions::RenditionList`]), so the playlist function finds them without
//! listing the bucket. Rendition names have no `.`, so they never collide with a file.

use crate::{Az, StreamName};

pub const INDEX_FILE: &str = "index.json";
pub const SEGMENT_EXT: &str = "ts";
/// The per-AZ media playlist, rendered by the playlist function.
pub const CHUNKLIST_FILE: &str = "chunklist.m3u8";
/// The multivariant playlist on the neutral host, rendered by the playlist function.
pub const MULTIVARIANT_FILE: &str = "playlist.m3u8";

/// The list of renditions one AZ packages of a stream, next to the stream's files.
pub const RENDITIONS_FILE: &str = "renditions.json";

/// `live/show/` (or `live/show/720p/` for a rendition): the viewer path of a stream on an AZ
/// host (or the neutral host).
pub fn stream_path(name: &StreamName) -> String {
    match name.rendition() {
        Some(r) => format!("{}/{}/{r}/", name.app(), name.stream()),
        None => format!("{}/{}/", name.app(), name.stream()),
    }
}

/// `az1/live/show/renditions.json` (of the stream, whatever rendition `name` names).
pub fn renditions_key(az: Az, name: &StreamName) -> String {
    format!("{}{RENDITIONS_FILE}", stream_prefix(az, &name.base()))
}

/// The steering manifest (HLS content steering), rendered by the playlist function on the
/// neutral host.
pub const STEERING_FILE: &str = "steering.json";

/// Which segment: the AZ's numbering epoch and the media sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SegmentId {
    pub epoch: u64,
    pub msn: u64,
}

/// `1795003200000-42.ts`
pub fn segment_file(id: SegmentId) -> String {
    format!("{}-{}.{SEGMENT_EXT}", id.epoch, id.msn)
}

/// `az1/live/show/`
pub fn stream_prefix(az: Az, name: &StreamName) -> String {
    format!("{az}/{}", stream_path(name))
}

/// `az1/live/show/1795003200000-42.ts`
pub fn segment_key(az: Az, name: &StreamName, id: SegmentId) -> String {
    format!("{}{}", stream_prefix(az, name), segment_file(id))
}

/// `az1/live/show/index.json`
pub fn index_key(az: Az, name: &StreamName) -> String {
    format!("{}{INDEX_FILE}", stream_prefix(az, name))
}

/// Content-Type and Cache-Control of what the ingest writes (DESIGN.md §5).
pub mod headers {
    pub const SEGMENT_CONTENT_TYPE: &str = "video/mp2t";
    /// Segments never change once written.
    pub const SEGMENT_CACHE_CONTROL: &str = "max-age=31536000, immutable";
    pub const INDEX_CONTENT_TYPE: &str = "application/json";
    /// The index is read by the functions only, never cached by a CDN.
    pub const INDEX_CACHE_CONTROL: &str = "no-cache";
    pub const PLAYLIST_CONTENT_TYPE: &str = "application/vnd.apple.mpegurl";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let n = StreamName::new("live", "show").unwrap();
        let id = |epoch, msn| SegmentId { epoch, msn };
        assert_eq!(
            segment_key(Az::Az1, &n, id(1_795_003_200_000, 42)),
            "az1/live/show/1795003200000-42.ts"
        );
        assert_eq!(index_key(Az::Az2, &n), "az2/live/show/index.json");
        assert_eq!(stream_path(&n), "live/show/");
        assert_eq!(segment_file(id(5, 7)), "5-7.ts");
    }

    #[test]
    fn rendition_layout() {
        let n = StreamName::new("live", "show")
            .unwrap()
            .with_rendition("720p")
            .unwrap();
        assert_eq!(
            segment_key(Az::Az1, &n, SegmentId { epoch: 5, msn: 42 }),
            "az1/live/show/720p/5-42.ts"
        );
        assert_eq!(index_key(Az::Az2, &n), "az2/live/show/720p/index.json");
        assert_eq!(stream_path(&n), "live/show/720p/");
        assert_eq!(renditions_key(Az::Az1, &n), "az1/live/show/renditions.json");
        assert_eq!(
            renditions_key(Az::Az1, &n.base()),
            "az1/live/show/renditions.json"
        );
    }
}
