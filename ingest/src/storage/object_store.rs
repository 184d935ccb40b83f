//! Where segments and indexes go. [`ObjectStore`] is the narrow trait the uploader needs;
//! [`S3Store`] implements it with aws-sdk-s3 (AWS or any S3-compatible endpoint).

use std::future::Future;

use bytes::Bytes;
use zonecast_contract::s3::{error_text, is_retryable};

/// One object to write, with the headers CloudFront will serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutRequest {
    pub key: String,
    pub body: Bytes,
    pub content_type: &'static str,
    pub cache_control: &'static str,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("writing s3://{bucket}/{key}: {message}")]
pub struct StoreError {
    pub bucket: String,
    pub key: String,
    pub message: String,
    /// Transport failures, throttling, 5xx: try again. Otherwise (403, 400) retrying will not
    /// help, but the uploader keeps the object and retries slower anyway: nothing is lost.
    pub retryable: bool,
}

impl zonecast_contract::Retryable for StoreError {
    fn is_retryable(&self) -> bool {
        self.retryable
    }
}

/// Writes objects. Implemented by S3 and by test recorders.
pub trait ObjectStore: Send + Sync + 'static {
    fn put(&self, req: PutRequest) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// aws-sdk-s3 against one bucket.
#[derive(Debug, Clone)]
pub struct S3Store {
    pub client: aws_sdk_s3::Client,
    pub bucket: String,
}

impl ObjectStore for S3Store {
    async fn put(&self, req: PutRequest) -> Result<(), StoreError> {
        let result = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&req.key)
            .content_type(req.content_type)
            .cache_control(req.cache_control)
            .body(req.body.into())
            // Signed as UNSIGNED-PAYLOAD: SigV4 would hash every segment body with SHA-256
            // (5 % of the ingest's CPU in the profile) for an integrity check that TLS and the
            // SDK's CRC32 checksum header (which S3 verifies) already give.
            .customize()
            .disable_payload_signing()
            .send()
            .await;
        result.map(|_| ()).map_err(|err| StoreError {
            bucket: self.bucket.clone(),
            key: req.key,
            retryable: is_retryable(&err),
            message: error_text(&err),
        })
    }
}
