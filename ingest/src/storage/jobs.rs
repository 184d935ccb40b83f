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
        },
        PackagerEffect::PutIndex { index } => index_job(az, name, &index, cut_at),
    }
}

/// The upload of stream `name`'s index document. The key comes from the name the publish
/// holds (checked when the publish began), never from the document: it cannot be empty.
pub fn index_job(az: Az, name: &StreamName, index: &StreamIndex, cut_at: Instant) -> UploadJob {
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
    }
}
