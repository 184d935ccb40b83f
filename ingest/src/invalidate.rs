//! CloudFront invalidation when a stream that ended starts again (DESIGN.md §5).
//!
//! An ended stream's chunklist carries `#EXT-X-ENDLIST` and is cached for a day; without an
//! invalidation, viewers of a restarted show would keep getting the old, finished playlist.
//! Live playlists expire within seconds on their own, so only a restart after `ended` needs
//! this. The decision is a pure function; [`CloudFrontInvalidator`] is the thin shell.

use zonecast_contract::{Az, StreamIndex, StreamName, StreamState, keys};

/// The cached playlist paths (CloudFront cache keys after the viewer-request rewrite) to
/// invalidate when this AZ starts a new publish, or `None` when nothing stale can be cached.
pub fn paths_to_invalidate(
    az: Az,
    name: &StreamName,
    own: Option<&StreamIndex>,
) -> Option<Vec<String>> {
    let ended = own.is_some_and(|i| i.state == StreamState::Ended);
    ended.then(|| {
        vec![
            format!("/{}{}", keys::stream_prefix(az, name), keys::CHUNKLIST_FILE),
            format!("/{}{}", keys::stream_path(name), keys::MULTIVARIANT_FILE),
        ]
    })
}

#[derive(Debug, thiserror::Error)]
#[error("invalidating {paths:?} on distribution {distribution}: {message}")]
pub struct InvalidateError {
    pub distribution: String,
    pub paths: Vec<String>,
    pub message: String,
}

/// Creates invalidations on one distribution.
#[derive(Debug, Clone)]
pub struct CloudFrontInvalidator {
    client: aws_sdk_cloudfront::Client,
    distribution_id: String,
}

impl CloudFrontInvalidator {
    pub fn new(client: aws_sdk_cloudfront::Client, distribution_id: String) -> Self {
        Self {
            client,
            distribution_id,
        }
    }

    /// `caller_reference` makes a retried request idempotent (use the publish session).
    pub async fn invalidate(
        &self,
        paths: Vec<String>,
        caller_reference: &str,
    ) -> Result<(), InvalidateError> {
        use aws_sdk_cloudfront::types::{InvalidationBatch, Paths};
        let error = |message: String| InvalidateError {
            distribution: self.distribution_id.clone(),
            paths: paths.clone(),
            message,
        };
        let batch = Paths::builder()
            .quantity(paths.len() as i32)
            .set_items(Some(paths.clone()))
            .build()
            .and_then(|p| {
                InvalidationBatch::builder()
                    .paths(p)
                    .caller_reference(caller_reference)
                    .build()
            })
            .map_err(|e| error(e.to_string()))?;
        self.client
            .create_invalidation()
            .distribution_id(&self.distribution_id)
            .invalidation_batch(batch)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| error(zonecast_contract::s3::error_text(&e)))
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use zonecast_contract::{INDEX_VERSION, StreamInfo};

    use super::*;

    fn index(state: StreamState) -> StreamIndex {
        StreamIndex {
            version: INDEX_VERSION,
            az: Az::Az2,
            app: "live".into(),
            stream: "show".into(),
            session: "s".into(),
            state,
            updated: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            target_duration_ms: 2000,
            discontinuity_sequence: 0,
            info: StreamInfo::default(),
            segments: Vec::new(),
        }
    }

    #[test]
    fn only_a_restart_after_end_invalidates() {
        let name = StreamName::new("live", "show").unwrap();
        assert_eq!(paths_to_invalidate(Az::Az2, &name, None), None);
        assert_eq!(
            paths_to_invalidate(Az::Az2, &name, Some(&index(StreamState::Live))),
            None
        );
        assert_eq!(
            paths_to_invalidate(Az::Az2, &name, Some(&index(StreamState::Ended))),
            Some(vec![
                "/az2/live/show/chunklist.m3u8".to_string(),
                "/live/show/playlist.m3u8".to_string()
            ])
        );
    }
}
