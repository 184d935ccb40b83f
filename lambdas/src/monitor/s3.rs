//! [`StreamLister`] on S3: two levels of `ListObjectsV2` with delimiter `/` per AZ (`az1/` for
//! the apps, then `az1/<app>/` for the streams), so a run reads common prefixes only and never
//! a segment key, whatever the retention holds. The function's role may list only with that
//! delimiter and those prefixes (template.yaml, `MonitorFunction`).

use aws_sdk_s3::Client;
use zonecast_contract::{Az, StreamName, index_source::S3IndexSource, s3::error_text};

use super::{MonitorError, StreamLister};

/// Most apps, and most streams per app, one run lists: a bound on the run's S3 requests and
/// time (1000 common prefixes per page).
pub const MAX_LISTED: usize = 10_000;

/// The common prefixes directly under `prefix`, each without `prefix` and without its
/// trailing `/`.
async fn children(
    client: &Client,
    bucket: &str,
    az: Az,
    prefix: &str,
) -> Result<Vec<String>, MonitorError> {
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .delimiter("/")
        .into_paginator()
        .send();
    let mut names = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| MonitorError::List {
            az,
            message: format!("s3://{bucket}/{prefix}: {}", error_text(&e)),
        })?;
        names.extend(
            page.common_prefixes()
                .iter()
                .filter_map(|p| p.prefix())
                .filter_map(|p| p.strip_prefix(prefix))
                .map(|p| p.trim_end_matches('/').to_owned()),
        );
        if names.len() >= MAX_LISTED {
            tracing::warn!(%az, prefix, "more than {MAX_LISTED} prefixes; the rest are not judged");
            names.truncate(MAX_LISTED);
            break;
        }
    }
    Ok(names)
}

/// Every `<app>/<stream>` under `az`'s prefix in `bucket`; a prefix that is not a valid
/// stream name is skipped.
pub async fn list_streams_s3(
    client: &Client,
    bucket: &str,
    az: Az,
) -> Result<Vec<StreamName>, MonitorError> {
    let mut streams = Vec::new();
    for app in children(client, bucket, az, &format!("{az}/")).await? {
        for stream in children(client, bucket, az, &format!("{az}/{app}/")).await? {
            match StreamName::new(&app, &stream) {
                Ok(name) => streams.push(name),
                Err(e) => tracing::debug!(%az, app, stream, error = %e, "not a stream prefix"),
            }
        }
    }
    streams.sort();
    Ok(streams)
}

impl StreamLister for S3IndexSource {
    async fn list_streams(&self, az: Az) -> Result<Vec<StreamName>, MonitorError> {
        list_streams_s3(self.client(), self.bucket(), az).await
    }
}
