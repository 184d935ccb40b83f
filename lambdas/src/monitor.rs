//! The monitor function: once a minute (an EventBridge schedule, template.yaml) it judges every
//! stream in the bucket by the one liveness rule (DESIGN.md §5, [`stream_healths`]) and
//! publishes, as CloudWatch metrics in the embedded metric format (EMF: JSON lines on stdout,
//! which CloudWatch Logs turns into metrics, no `PutMetricData` call), how many streams two AZs
//! serve, one, and none, and the age of the oldest live index in each AZ. The stack's alarms
//! watch those figures, so they say what a viewer sees: the AZs the multivariant playlist lists.
//!
//! [`monitor`] is the whole function, generic over a narrow source ([`StreamLister`] and the
//! contract's [`IndexSource`]): S3 in Lambda ([`S3IndexSource`], module `s3`), recorded indexes
//! in tests.
//!
//! What a stream counts as ([`Served`]):
//! - **two AZs** / **one AZ**: that many AZs are serving (live or waiting);
//! - **no AZ**: neither is serving and at least one is dead (stale, behind, draining,
//!   incomplete): a stream viewers cannot watch although it did not end;
//! - **idle**: ended or missing in both AZs (the publisher stopped), or abandoned: its newest
//!   index is older than [`MonitorConfig::abandoned_after`] (both ingests lost the stream and
//!   its encoder never came back). Idle streams are not counted: they stay in the bucket until
//!   the lifecycle rule deletes them, and an alarm held for a day by a stream nobody publishes
//!   would hide the next outage.

use std::{future::Future, time::Instant};

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};
use tracing::{info, warn};
use zonecast_contract::{
    Az, Health, StreamIndex, StreamName, StreamState,
    index_source::{IndexSource, IndexSourceError},
    renditions::{MAX_RENDITIONS, RenditionIndexes, stream_healths},
};

mod s3;

pub use self::s3::list_streams_s3;

/// The CloudWatch namespace (the ingests' figures share it: deploy/zonecast-metrics.sh).
pub const NAMESPACE: &str = "ZoneCast";
/// Streams that both AZs serve (dimension `Stack`).
pub const METRIC_TWO_AZS: &str = "StreamsServedByTwoAzs";
/// Streams that one AZ serves, without a backup (dimension `Stack`).
pub const METRIC_ONE_AZ: &str = "StreamsServedByOneAz";
/// Streams that no AZ serves although they did not end (dimension `Stack`).
pub const METRIC_NO_AZ: &str = "StreamsServedByNoAz";
/// Seconds since the oldest live or waiting index of an AZ was written (dimensions `Stack`,
/// `AZ`); 0 without one.
pub const METRIC_OLDEST_INDEX_AGE: &str = "OldestIndexAge";

/// The default of [`MonitorConfig::abandoned_after`].
pub const DEFAULT_ABANDONED_AFTER: TimeDelta = TimeDelta::hours(1);

/// Why a run failed. A failed run publishes nothing: the alarms treat a missing minute as not
/// breaching, and the function's own errors (AWS/Lambda `Errors`) say why.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    /// Listing the streams under an AZ's prefix failed.
    #[error("listing the streams of {az}: {message}")]
    List { az: Az, message: String },
    /// Reading an index or a rendition list failed.
    #[error("reading {az} {stream}: {source}")]
    Read {
        az: Az,
        stream: StreamName,
        #[source]
        source: IndexSourceError,
    },
}

/// Lists the streams in the store: the monitor's only need besides [`IndexSource`].
pub trait StreamLister: Send + Sync {
    /// Every stream (`<app>/<stream>`, no rendition) with objects under `az`'s prefix, sorted.
    fn list_streams(
        &self,
        az: Az,
    ) -> impl Future<Output = Result<Vec<StreamName>, MonitorError>> + Send;
}

/// What a run needs besides its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorConfig {
    /// The `Stack` dimension of every metric (the CloudFormation stack name).
    pub stack: String,
    /// A stream whose newest index is older than this is idle (module doc), and an index older
    /// than this is left out of the oldest index age.
    pub abandoned_after: TimeDelta,
}

/// What one stream counts as (module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    TwoAzs,
    /// Served by this AZ only.
    OneAz(Az),
    NoAz,
    Idle,
}

/// One stream's indexes in both AZs: the plain stream's and its renditions'.
#[derive(Debug, Clone, Default)]
pub struct StreamIndexes {
    pub plain: [Option<StreamIndex>; 2],
    pub renditions: Vec<(StreamName, [Option<StreamIndex>; 2])>,
}

impl StreamIndexes {
    fn all(&self) -> impl Iterator<Item = &StreamIndex> {
        self.plain
            .iter()
            .chain(self.renditions.iter().flat_map(|(_, pair)| pair.iter()))
            .flatten()
    }

    /// Each AZ's health as the multivariant playlist judges it.
    pub fn healths(&self, now: DateTime<Utc>) -> [Health; 2] {
        let views: Vec<RenditionIndexes<'_>> = self
            .renditions
            .iter()
            .map(|(name, [az1, az2])| RenditionIndexes {
                name: name.clone(),
                az1: az1.as_ref(),
                az2: az2.as_ref(),
            })
            .collect();
        let [az1, az2] = &self.plain;
        stream_healths([az1.as_ref(), az2.as_ref()], &views, now)
    }

    /// What the stream counts as at `now`.
    pub fn served(&self, abandoned_after: TimeDelta, now: DateTime<Utc>) -> Served {
        let healths = self.healths(now);
        match healths.map(Health::is_serving) {
            [true, true] => Served::TwoAzs,
            [true, false] => Served::OneAz(Az::Az1),
            [false, true] => Served::OneAz(Az::Az2),
            [false, false] => {
                let recent = self
                    .all()
                    .any(|i| now.signed_duration_since(i.updated) <= abandoned_after);
                if recent && healths.iter().any(|h| h.is_dead()) {
                    Served::NoAz
                } else {
                    Served::Idle
                }
            }
        }
    }
}

/// The figures of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Report {
    pub two_azs: u64,
    pub one_az: u64,
    pub no_az: u64,
    pub idle: u64,
    /// Per AZ (`[az1, az2]`): the age of the oldest index that is live or waiting and not
    /// older than [`MonitorConfig::abandoned_after`]; zero without one.
    pub oldest_index_age: [TimeDelta; 2],
}

impl Report {
    /// Counts one stream.
    pub fn add(&mut self, stream: &StreamIndexes, config: &MonitorConfig, now: DateTime<Utc>) {
        match stream.served(config.abandoned_after, now) {
            Served::TwoAzs => self.two_azs += 1,
            Served::OneAz(_) => self.one_az += 1,
            Served::NoAz => self.no_az += 1,
            Served::Idle => self.idle += 1,
        }
        for index in stream.all() {
            let age = now
                .signed_duration_since(index.updated)
                .max(TimeDelta::zero());
            let running = matches!(index.state, StreamState::Live | StreamState::Waiting);
            let slot = &mut self.oldest_index_age[usize::from(index.az == Az::Az2)];
            if running && age <= config.abandoned_after && age > *slot {
                *slot = age;
            }
        }
    }

    /// The EMF documents (CloudWatch embedded metric format specification): one with the
    /// three counts (dimension `Stack`), one per AZ with its oldest index age (dimensions
    /// `Stack`, `AZ`). Each is printed as one line.
    pub fn emf(&self, stack: &str, now: DateTime<Utc>) -> Vec<Value> {
        let timestamp = now.timestamp_millis();
        let mut docs = vec![json!({
            "_aws": {
                "Timestamp": timestamp,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [["Stack"]],
                    "Metrics": [
                        { "Name": METRIC_TWO_AZS, "Unit": "Count" },
                        { "Name": METRIC_ONE_AZ, "Unit": "Count" },
                        { "Name": METRIC_NO_AZ, "Unit": "Count" },
                    ],
                }],
            },
            "Stack": stack,
            METRIC_TWO_AZS: self.two_azs,
            METRIC_ONE_AZ: self.one_az,
            METRIC_NO_AZ: self.no_az,
        })];
        for az in Az::ALL {
            let age = self.oldest_index_age[usize::from(az == Az::Az2)];
            docs.push(json!({
                "_aws": {
                    "Timestamp": timestamp,
                    "CloudWatchMetrics": [{
                        "Namespace": NAMESPACE,
                        "Dimensions": [["Stack", "AZ"]],
                        "Metrics": [{ "Name": METRIC_OLDEST_INDEX_AGE, "Unit": "Seconds" }],
                    }],
                },
                "Stack": stack,
                "AZ": az.as_str(),
                METRIC_OLDEST_INDEX_AGE: age.num_milliseconds() as f64 / 1000.0,
            }));
        }
        docs
    }
}

/// One run: lists the streams of both AZs, reads each one's indexes (and its renditions', from
/// both AZs' rendition lists, as the playlist function does), judges them and returns the EMF
/// documents to print. Streams without a backup are logged by name (the metrics carry counts
/// only, so the alarm's cost does not grow with the number of streams).
pub async fn monitor<S>(
    source: &S,
    config: &MonitorConfig,
    now: DateTime<Utc>,
) -> Result<(Report, Vec<Value>), MonitorError>
where
    S: IndexSource + StreamLister,
{
    let started = Instant::now();
    let (az1, az2) = tokio::join!(source.list_streams(Az::Az1), source.list_streams(Az::Az2));
    let mut names = az1?;
    names.extend(az2?);
    names.sort();
    names.dedup();
    let mut report = Report::default();
    for name in &names {
        let stream = load(source, name).await?;
        match stream.served(config.abandoned_after, now) {
            Served::OneAz(az) => {
                let [h1, h2] = stream.healths(now).map(Health::as_str);
                warn!(stream = %name, serving = %az, az1 = h1, az2 = h2, "stream served by one AZ");
            }
            Served::NoAz => {
                let [h1, h2] = stream.healths(now).map(Health::as_str);
                warn!(stream = %name, az1 = h1, az2 = h2, "stream served by no AZ");
            }
            Served::TwoAzs | Served::Idle => {}
        }
        report.add(&stream, config, now);
    }
    info!(
        streams = names.len(),
        two_azs = report.two_azs,
        one_az = report.one_az,
        no_az = report.no_az,
        idle = report.idle,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "monitor run"
    );
    let docs = report.emf(&config.stack, now);
    Ok((report, docs))
}

/// Both AZs' indexes of `name`, read at once.
async fn both(
    source: &impl IndexSource,
    name: &StreamName,
) -> Result<[Option<StreamIndex>; 2], MonitorError> {
    let (az1, az2) = tokio::join!(
        source.read_index(Az::Az1, name),
        source.read_index(Az::Az2, name)
    );
    let failed = |az| {
        move |source| MonitorError::Read {
            az,
            stream: name.clone(),
            source,
        }
    };
    Ok([az1.map_err(failed(Az::Az1))?, az2.map_err(failed(Az::Az2))?])
}

/// The plain indexes and the renditions both AZs list (at most [`MAX_RENDITIONS`]), with
/// their indexes: what the playlist function reads for a multivariant playlist.
async fn load(source: &impl IndexSource, name: &StreamName) -> Result<StreamIndexes, MonitorError> {
    let (plain, list1, list2) = tokio::join!(
        both(source, name),
        source.read_renditions(Az::Az1, name),
        source.read_renditions(Az::Az2, name)
    );
    let failed = |az| {
        move |source| MonitorError::Read {
            az,
            stream: name.clone(),
            source,
        }
    };
    let mut names = list1.map_err(failed(Az::Az1))?;
    names.extend(list2.map_err(failed(Az::Az2))?);
    names.sort();
    names.dedup();
    names.truncate(MAX_RENDITIONS);
    let mut renditions = Vec::with_capacity(names.len());
    for r in names {
        let pair = both(source, &r).await?;
        renditions.push((r, pair));
    }
    Ok(StreamIndexes {
        plain: plain?,
        renditions,
    })
}

#[cfg(test)]
mod tests;
