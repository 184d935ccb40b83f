//! Reading the indexes (DESIGN.md §3, §8: `contract` owns the index reader): one trait for
//! every reader, the ingest learning its numbering when a publish starts and the playlist
//! function (and the local edge and status page, which run the same code) answering viewers.
//! Each takes its source as an argument, so tests run them against [`MemoryIndexSource`]
//! instead of S3.

use std::{collections::HashMap, future::Future};

use crate::{Az, NameError, StreamIndex, StreamName};

/// Why an index (or a rendition list) could not be read.
#[derive(Debug, thiserror::Error)]
pub enum IndexSourceError {
    /// S3 failed, refused, or held an invalid document.
    #[cfg(feature = "s3")]
    #[error(transparent)]
    S3(#[from] crate::s3::IndexReadError),
    /// Any other source (tests, local tools).
    #[error("index source: {0}")]
    Other(String),
}

impl IndexSourceError {
    /// The store refused the read (403 to a reader that can tell a missing key apart): a
    /// deployment problem, not an absent stream, and nothing to cache.
    pub fn is_denied(&self) -> bool {
        match self {
            #[cfg(feature = "s3")]
            IndexSourceError::S3(crate::s3::IndexReadError::Denied { .. }) => true,
            _ => false,
        }
    }
}

/// Where indexes are read from: `<az>/<app>/<stream>/index.json` (a rendition's nested under
/// the stream) and `<az>/<app>/<stream>/renditions.json` ([`crate::keys`]). `'static`, and
/// every future `Send`: the ingest holds its source in a context shared by spawned tasks.
pub trait IndexSource: Send + Sync + 'static {
    /// The index `az` holds for `name`; `Ok(None)` when there is none.
    fn read_index(
        &self,
        az: Az,
        name: &StreamName,
    ) -> impl Future<Output = Result<Option<StreamIndex>, IndexSourceError>> + Send;

    /// The renditions `az` packages of `name`'s stream (its `renditions.json`), each a full
    /// name; empty for a stream without renditions. A source that holds none need not
    /// implement it.
    fn read_renditions(
        &self,
        az: Az,
        name: &StreamName,
    ) -> impl Future<Output = Result<Vec<StreamName>, IndexSourceError>> + Send {
        let _ = (az, name);
        async { Ok(Vec::new()) }
    }

    /// [`Self::read_index`] for a reader to which a failed read means "no index" (the ingest
    /// at publish: a fresh numbering is safe, a refused publish is not): the error is logged.
    fn read_index_or_none(
        &self,
        az: Az,
        name: &StreamName,
    ) -> impl Future<Output = Option<StreamIndex>> + Send {
        async move {
            self.read_index(az, name).await.unwrap_or_else(|e| {
                tracing::warn!(%az, stream = %name, error = %e, "cannot read the index; taken as none");
                None
            })
        }
    }

    /// [`Self::read_renditions`], a failed read logged and taken as no renditions.
    fn read_renditions_or_none(
        &self,
        az: Az,
        name: &StreamName,
    ) -> impl Future<Output = Vec<StreamName>> + Send {
        async move {
            self.read_renditions(az, name).await.unwrap_or_else(|e| {
                tracing::warn!(%az, stream = %name, error = %e, "cannot read the rendition list; taken as none");
                Vec::new()
            })
        }
    }
}

/// Indexes held in memory: for tests and tools that run a reader without S3. Empty, it is the
/// source of a store that holds nothing yet.
#[derive(Debug, Clone, Default)]
pub struct MemoryIndexSource {
    indexes: HashMap<(Az, StreamName), StreamIndex>,
}

impl MemoryIndexSource {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `index` under its own AZ and name; an index with an invalid name is refused.
    pub fn insert(&mut self, index: StreamIndex) -> Result<(), NameError> {
        let name = index.name()?;
        self.indexes.insert((index.az, name), index);
        Ok(())
    }
}

impl IndexSource for MemoryIndexSource {
    async fn read_index(
        &self,
        az: Az,
        name: &StreamName,
    ) -> Result<Option<StreamIndex>, IndexSourceError> {
        Ok(self.indexes.get(&(az, name.clone())).cloned())
    }

    /// Every rendition of the stream with an index in `az`.
    async fn read_renditions(
        &self,
        az: Az,
        name: &StreamName,
    ) -> Result<Vec<StreamName>, IndexSourceError> {
        let base = name.base();
        let mut names: Vec<StreamName> = self
            .indexes
            .keys()
            .filter(|(a, n)| *a == az && n.rendition().is_some() && n.base() == base)
            .map(|(_, n)| n.clone())
            .collect();
        names.sort();
        Ok(names)
    }
}

#[cfg(feature = "s3")]
pub use self::s3::{IndexReaderRole, S3IndexSource};

#[cfg(test)]
mod tests;

#[cfg(feature = "s3")]
mod s3 {
    use super::*;
    use crate::{
        RetryPolicy,
        s3::{DeniedMeans, IndexReadError, get_index_with, get_renditions},
    };

    /// Who reads the indexes in S3: it decides what a 403 means and how long a read may
    /// retry, because the two readers hold different permissions and wait differently.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum IndexReaderRole {
        /// An ingest learning its numbering when a publish starts. Its role has no
        /// `s3:ListBucket`, so a 403 is a missing index ([`DeniedMeans::Missing`]); the
        /// encoder waits, so [`RetryPolicy::PUBLISH_INDEX_READ`].
        Publish,
        /// The playlist function (and the local edge and status page). It holds
        /// `s3:ListBucket` (template.yaml), so a 403 is a permission problem
        /// ([`DeniedMeans::Denied`]); a viewer waits and the CDN has a stale copy, so
        /// [`RetryPolicy::PLAYLIST_INDEX_READ`].
        Playlist,
    }

    impl IndexReaderRole {
        fn denied(self) -> DeniedMeans {
            match self {
                IndexReaderRole::Publish => DeniedMeans::Missing,
                IndexReaderRole::Playlist => DeniedMeans::Denied,
            }
        }

        fn policy(self) -> &'static RetryPolicy {
            match self {
                IndexReaderRole::Publish => &RetryPolicy::PUBLISH_INDEX_READ,
                IndexReaderRole::Playlist => &RetryPolicy::PLAYLIST_INDEX_READ,
            }
        }
    }

    /// The indexes in one S3 bucket.
    #[derive(Debug, Clone)]
    pub struct S3IndexSource {
        client: aws_sdk_s3::Client,
        bucket: String,
        role: IndexReaderRole,
    }

    impl S3IndexSource {
        pub fn new(client: aws_sdk_s3::Client, bucket: String, role: IndexReaderRole) -> Self {
            Self {
                client,
                bucket,
                role,
            }
        }

        pub fn bucket(&self) -> &str {
            &self.bucket
        }

        pub fn client(&self) -> &aws_sdk_s3::Client {
            &self.client
        }
    }

    impl IndexSource for S3IndexSource {
        async fn read_index(
            &self,
            az: Az,
            name: &StreamName,
        ) -> Result<Option<StreamIndex>, IndexSourceError> {
            let (denied, policy) = (self.role.denied(), self.role.policy());
            Ok(get_index_with(&self.client, &self.bucket, az, name, denied, policy).await?)
        }

        async fn read_renditions(
            &self,
            az: Az,
            name: &StreamName,
        ) -> Result<Vec<StreamName>, IndexSourceError> {
            let (denied, policy) = (self.role.denied(), self.role.policy());
            match get_renditions(&self.client, &self.bucket, az, name, denied, policy).await {
                Ok(list) => Ok(list.map(|l| l.names(&name.base())).unwrap_or_default()),
                // A reader without s3:GetObject on renditions.json: plain streams keep
                // working, renditions go unlisted, and the log says why.
                Err(e @ IndexReadError::Denied { .. }) => {
                    tracing::warn!(%az, stream = %name, error = %e, "cannot read the rendition list; answering without renditions");
                    Ok(Vec::new())
                }
                Err(e) => Err(e.into()),
            }
        }
    }
}
