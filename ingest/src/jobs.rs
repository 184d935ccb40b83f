//! The one place where the packager's effects become uploads: which key, which headers, which
//! upload kind. The server, the waiting-state heartbeat and the tests all use these functions,
//! so what the tests check is what the server writes (DESIGN.md §3: segment, then index).

use tokio::time::Instant;
use zonecast_contract::{Az, StreamIndex, StreamName, keys};

use crate::{
    packager::PackagerEffect,
    store::PutRequest,
    uploader::{UploadJob, UploadKind},
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
        PackagerEffect::PutIndex { index } => owned_index_job(az, index, cut_at),
    }
}

/// The upload of one index document, at the key its own app and stream name.
pub fn index_job(az: Az, index: &StreamIndex, cut_at: Instant) -> UploadJob {
    owned_index_job(az, index.clone(), cut_at)
}

/// [`index_job`] for an index the caller hands over: the job carries it, typed, beside its
/// serialized body (the uploader cuts its window without parsing it back).
fn owned_index_job(az: Az, index: StreamIndex, cut_at: Instant) -> UploadJob {
    let key = index
        .name()
        .map(|name| keys::index_key(az, &name))
        .unwrap_or_default();
    UploadJob {
        request: PutRequest {
            key,
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
