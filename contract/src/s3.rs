//! The S3 side of the contract: one way to build the client (lean TLS: rustls on ring) and one
//! way to read an index, shared by the ingest, the playlist functions and the local stack.

use aws_sdk_s3::{Client, error::SdkError, operation::get_object::GetObjectError};

use crate::{
    Az, RenditionList, StreamIndex, StreamName, keys,
    retry::{RetryPolicy, Retryable, retry},
};

/// Where the store is and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3ClientConfig {
    /// AWS region of the bucket.
    pub region: String,
    /// A custom endpoint (an S3-compatible store such as the local stack's); `None` is AWS.
    /// A custom endpoint also selects path-style addressing.
    pub endpoint: Option<String>,
    /// Fixed access key and secret (the local stack's store); `None` uses the default chain.
    pub static_credentials: Option<(String, String)>,
}

/// The shared AWS configuration every ZoneCast client starts from: lean TLS (rustls on ring),
/// credentials from the usual chain (environment, profile, IMDS for an instance role, the
/// Lambda environment).
pub async fn sdk_config(region: &str) -> aws_config::SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    // A request that hangs becomes an error (and, for the ingest's uploads, a retry) instead
    // of holding a stream's upload queue for ever.
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(3))
        .operation_attempt_timeout(std::time::Duration::from_secs(10))
        .build();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_owned()))
        .http_client(http)
        .timeout_config(timeouts)
        .load()
        .await
}

/// Builds an S3 client on [`sdk_config`].
pub async fn s3_client(config: &S3ClientConfig) -> Client {
    let shared = sdk_config(&config.region).await;
    let mut builder = aws_sdk_s3::config::Builder::from(&shared);
    if let Some((key, secret)) = &config.static_credentials {
        builder = builder.credentials_provider(aws_credential_types::Credentials::new(
            key,
            secret,
            None,
            None,
            "zonecast-static",
        ));
    }
    if let Some(endpoint) = &config.endpoint {
        builder = builder.endpoint_url(endpoint).force_path_style(true);
    }
    Client::from_conf(builder.build())
}

/// Why an index could not be read.
#[derive(Debug, thiserror::Error)]
pub enum IndexReadError {
    #[error("reading s3://{bucket}/{key}: {message}")]
    Store {
        bucket: String,
        key: String,
        message: String,
        /// Throttling, timeouts, 5xx: worth another try.
        retryable: bool,
    },
    /// The object's body broke off while it was read (it was being replaced).
    #[error("reading s3://{bucket}/{key}: body interrupted: {message}")]
    BodyInterrupted {
        bucket: String,
        key: String,
        message: String,
    },
    /// S3 refused (403) while the reader can tell a missing key apart (it holds
    /// `s3:ListBucket`): a permission or configuration problem, not an absent stream.
    #[error("reading s3://{bucket}/{key}: access denied ({message})")]
    Denied {
        bucket: String,
        key: String,
        message: String,
    },
    #[error("s3://{bucket}/{key} is not a valid index: {source}")]
    Invalid {
        bucket: String,
        key: String,
        #[source]
        source: serde_json::Error,
    },
}

/// What a 403 from S3 means to a reader of indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeniedMeans {
    /// The reader has no `s3:ListBucket` (the ingest roles): S3 answers a missing key with
    /// 403, so a 403 is taken as "no index". A real permission problem looks like an absent
    /// stream; the ingest then starts its numbering fresh, which is safe.
    Missing,
    /// The reader holds `s3:ListBucket` (the playlist function): a missing key is a 404
    /// `NoSuchKey`, and a 403 is an error worth telling apart ([`IndexReadError::Denied`]).
    Denied,
}

/// Reads `<az>/<app>/<stream>/index.json`; `Ok(None)` when there is none. Without
/// s3:ListBucket, S3 answers a missing key with 403 AccessDenied: that is taken as missing too.
/// Retries with [`RetryPolicy::PUBLISH_INDEX_READ`] (the ingest, learning its numbering).
pub async fn get_index(
    client: &Client,
    bucket: &str,
    az: Az,
    name: &StreamName,
) -> Result<Option<StreamIndex>, IndexReadError> {
    get_index_with(
        client,
        bucket,
        az,
        name,
        DeniedMeans::Missing,
        &RetryPolicy::PUBLISH_INDEX_READ,
    )
    .await
}

/// [`get_index`], saying what a 403 means and how to retry. A read that races the index
/// being replaced can fail mid-body (the object changed under it, in S3-compatible stores that
/// stream from a file): that is retryable like throttling, and the next read gets the new one.
pub async fn get_index_with(
    client: &Client,
    bucket: &str,
    az: Az,
    name: &StreamName,
    denied: DeniedMeans,
    policy: &RetryPolicy,
) -> Result<Option<StreamIndex>, IndexReadError> {
    read_json(
        client,
        bucket,
        keys::index_key(az, name),
        denied,
        policy,
        StreamIndex::from_json,
    )
    .await
}

/// Throttling, timeouts, 5xx and a body cut off mid-read are worth another try.
impl Retryable for IndexReadError {
    fn is_retryable(&self) -> bool {
        matches!(
            self,
            IndexReadError::Store {
                retryable: true,
                ..
            } | IndexReadError::BodyInterrupted { .. }
        )
    }
}

/// Reads `<az>/<app>/<stream>/renditions.json` (the renditions one AZ packages of a stream);
/// `Ok(None)` when there is none (a stream without renditions), like [`get_index_with`].
pub async fn get_renditions(
    client: &Client,
    bucket: &str,
    az: Az,
    name: &StreamName,
    denied: DeniedMeans,
    policy: &RetryPolicy,
) -> Result<Option<RenditionList>, IndexReadError> {
    let key = keys::renditions_key(az, name);
    read_json(
        client,
        bucket,
        key,
        denied,
        policy,
        RenditionList::from_json,
    )
    .await
}

/// Reads and parses one JSON object with `policy`; `Ok(None)` when there is none.
async fn read_json<T>(
    client: &Client,
    bucket: &str,
    key: String,
    denied: DeniedMeans,
    policy: &RetryPolicy,
    parse: fn(&[u8]) -> Result<T, serde_json::Error>,
) -> Result<Option<T>, IndexReadError> {
    retry(
        policy,
        || read_json_once(client, bucket, &key, denied, parse),
        |err, attempt| {
            tracing::debug!(%key, attempt = attempt.number, last = attempt.wait.is_none(),
                            error = %err, "read failed");
        },
    )
    .await
}

async fn read_json_once<T>(
    client: &Client,
    bucket: &str,
    key: &str,
    denied: DeniedMeans,
    parse: fn(&[u8]) -> Result<T, serde_json::Error>,
) -> Result<Option<T>, IndexReadError> {
    let store_err = |message: String, retryable: bool| IndexReadError::Store {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        message,
        retryable,
    };
    let out = match client.get_object().bucket(bucket).key(key).send().await {
        Ok(out) => out,
        Err(err) => {
            let forbidden =
                matches!(&err, SdkError::ServiceError(e) if e.raw().status().as_u16() == 403);
            if forbidden && denied == DeniedMeans::Denied {
                return Err(IndexReadError::Denied {
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                    message: error_text(&err),
                });
            }
            if is_missing(&err) {
                return Ok(None);
            }
            let retryable = is_retryable(&err);
            return Err(store_err(error_text(&err), retryable));
        }
    };
    let bytes = out
        .body
        .collect()
        .await
        .map_err(|e| IndexReadError::BodyInterrupted {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            message: error_text(&e),
        })?
        .into_bytes();
    parse(&bytes)
        .map(Some)
        .map_err(|source| IndexReadError::Invalid {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            source,
        })
}

fn is_missing(err: &SdkError<GetObjectError>) -> bool {
    match err {
        SdkError::ServiceError(e) => {
            matches!(e.err(), GetObjectError::NoSuchKey(_))
                || matches!(e.raw().status().as_u16(), 403 | 404)
        }
        _ => false,
    }
}

/// Classifies an SDK error: transport failures, timeouts, throttling and 5xx are retryable.
pub fn is_retryable<E>(err: &SdkError<E>) -> bool {
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(e) => {
            let status = e.raw().status().as_u16();
            status >= 500 || status == 429 || status == 408
        }
        _ => false,
    }
}

/// The SDK's Display is terse ("service error"); include the source chain for operators.
pub fn error_text<E: std::error::Error + 'static>(err: &E) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
