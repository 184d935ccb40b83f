//! One PUT: its headers by kind, and the retries around it.

use super::*;

pub(super) fn request_for(kind: UploadKind, key: String, body: bytes::Bytes) -> PutRequest {
    let (content_type, cache_control) = match kind {
        UploadKind::Segment { .. } => (
            keys::headers::SEGMENT_CONTENT_TYPE,
            keys::headers::SEGMENT_CACHE_CONTROL,
        ),
        UploadKind::Index => (
            keys::headers::INDEX_CONTENT_TYPE,
            keys::headers::INDEX_CACHE_CONTROL,
        ),
    };
    PutRequest {
        key,
        body,
        content_type,
        cache_control,
    }
}

/// Puts one object with the uploader's [`RetryPolicy`] (normally [`RetryPolicy::UPLOAD`]:
/// until the store takes it); `Err` once a non-retryable error has had its tries.
pub(super) async fn put_with_retry<S: ObjectStore>(
    store: Arc<S>,
    metrics: Arc<Metrics>,
    stream: String,
    kind: UploadKind,
    request: PutRequest,
    policy: RetryPolicy,
) -> Result<(), StoreError> {
    let target = match kind {
        UploadKind::Segment { .. } => UploadTarget::Segment,
        UploadKind::Index => UploadTarget::Index,
    };
    let attempt = || {
        let (store, metrics, request) = (store.clone(), metrics.clone(), request.clone());
        async move {
            let started = Instant::now();
            let result = store.put(request).await;
            let outcome = match result {
                Ok(()) => UploadOutcome::Ok,
                Err(_) => UploadOutcome::Error,
            };
            metrics.record_upload(target, outcome, started.elapsed());
            result
        }
    };
    retry(&policy, attempt, |err: &StoreError, failed| {
        let Some(wait) = failed.wait else { return };
        Metrics::inc(&metrics.upload_retries);
        warn!(%stream, key = %request.key, attempt = failed.number, retryable = err.retryable,
              error = %err, wait_ms = wait.as_millis() as u64,
              "put failed; keeping the object and retrying");
    })
    .await
}
