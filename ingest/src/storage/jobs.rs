//! The one place where the packager's effects become uploads: which key, which headers, which
//! upload kind. The server, the waiting-state heartbeat and the tests all use these functions,
//! so what the tests check is what the server writes (DESIGN.md §3: segment, then index).

use tokio::time::Instant;
use zonecast_contract::{Az, StreamIndex, StreamName, keys};

use crate::{
    media::packager::PackagerEffect,
    storage::object_store::PutRequest,
    storage::uploader::{UploadJob, UploadKind},
};

/// The upload for one packager effect of stream `name` in `az`, numbered in `epoch`.
/// `cut_at` is when the effect was produced (for the cut-to-index latency metric).
pub fn upload_job(
    az: Az,
    name: &StreamName,
    epoch: u64,
    effect: PackagerEffect,
    cut_at: Instant,
) -> UploadJob {
    match effect {
        PackagerEffect::PutSegment { msn, bytes } => UploadJob {
            request: PutRequest {
                key: keys::segment_key(az, name, keys::SegmentId { epoch, msn }),
                body: bytes,
                content_type: keys::headers::SEGMENT_CONTENT_TYPE,
                cache_control: keys::headers::SEGMENT_CACHE_CONTROL,
            },
            kind: UploadKind::Segment { msn },
            cut_at,
            done: None,
            index: None,
        },
        PackagerEffect::PutIndex { index } => owned_index_job(az, name, index, cut_at),
    }
}

/// The upload of stream `name`'s index document. The key comes from the name the publish
/// holds (checked when the publish began), never from the document: it cannot be empty.
pub fn index_job(az: Az, name: &StreamName, index: &StreamIndex, cut_at: Instant) -> UploadJob {
    owned_index_job(az, name, index.clone(), cut_at)
}

/// [`index_job`] for an index the caller hands over: the job carries it, typed, beside its
/// serialized body (the uploader cuts its window without parsing it back).
fn owned_index_job(az: Az, name: &StreamName, index: StreamIndex, cut_at: Instant) -> UploadJob {
    UploadJob {
        request: PutRequest {
            key: keys::index_key(az, name),
            body: index.to_json().into(),
            content_type: keys::headers::INDEX_CONTENT_TYPE,
            cache_control: keys::headers::INDEX_CACHE_CONTROL,
        },
        kind: UploadKind::Index,
        cut_at,
        done: None,
        index: Some(std::sync::Arc::new(index)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An index's key comes from the publish's checked name, never from the document: a
    /// document naming another stream (or none) cannot put the index anywhere else.
    #[test]
    fn the_index_key_comes_from_the_publish_name() {
        let name = StreamName::new("live", "show")
            .and_then(|n| n.with_rendition("720p"))
            .expect("name");
        let index = StreamIndex {
            version: zonecast_contract::INDEX_VERSION,
            az: Az::Az2,
            app: String::new(),
            stream: "../other".into(),
            rendition: None,
            session: "s".into(),
            epoch: 1,
            state: zonecast_contract::StreamState::Live,
            updated: chrono::Utc::now(),
            target_duration_ms: 2000,
            discontinuity_sequence: 0,
            info: Default::default(),
            segments: Vec::new(),
        };
        let job = index_job(Az::Az2, &name, &index, Instant::now());
        assert_eq!(job.request.key, "az2/live/show/720p/index.json");
        assert!(matches!(job.kind, UploadKind::Index));
    }
}
