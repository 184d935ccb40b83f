//! The local stack's status view: `GET /status` (a page), `GET /status.json` (the facts it
//! shows) and `POST /status/<az>/<stop|kill|restart>` (the buttons).
//!
//! Each stream found in the store (an `index.json` under `az1/` or `az2/`) is listed with
//! (each rendition of a stream published at several qualities as a row of its own,
//! `live/show/720p`, next to the stream's multivariant URL),
//! per AZ, the liveness verdict of `zonecast_contract::health::health` on the two indexes (the
//! one rule the playlist function follows), its last segment and that segment's age, bit
//! rate, renditions, what that AZ's ingest says of it (its `/status`), and the viewer URLs.
//!
//! With several instance pairs (`zonecast-local --pairs K`) there are two ingests per pair
//! (`id` `az1`, `az2` for pair 0, `p1-az1`, `p1-az2` for pair 1, …), and each stream row
//! says which pair publishes it (`pair`, [`zonecast_contract::shard`]); an AZ's `ingest` is
//! what the ingest of that AZ that holds the stream says of it.
//!
//! `/status.json` (`version` 1; fields are only ever added):
//!
//! ```json
//! {"version":1,"now":"…",
//!  "pairs":1,
//!  "ingests":[{"id":"az1","pair":0,"az":"az1","health_addr":"127.0.0.1:8935","running":true,"pid":4242,
//!              "status":{…the ingest's /status…},"error":null}, …],
//!  "streams":[{"name":"live/show","stream":"live/show","pair":0,
//!    "urls":{"host":"http://media-hls.localhost:8080/live/show/playlist.m3u8",
//!            "path":"http://127.0.0.1:8080/live/show/playlist.m3u8"},
//!    "azs":[{"az":"az1","verdict":"live","index_state":"live","index_age_ms":400,
//!            "last_segment":{"msn":42,"age_ms":850,…},"bandwidth":3100000,
//!            "average_bandwidth":2900000,"renditions":[…],
//!            "chunklist":{"host":"…","path":"…"},"ingest":{…or null},"error":null}, …]}]}
//! ```
//!
//! `verdict` is `live`, `waiting`, `stale`, `behind`, `draining`, `ended`, `missing` (no
//! index in that AZ) or `unreadable` (the store failed; `error` says why).

use std::{collections::BTreeSet, net::SocketAddr, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use serde::Serialize;
use zonecast_contract::{
    Az, IndexSource, IndexSourceError, StreamIndex, StreamName,
    health::health,
    index_source::S3IndexSource,
    keys,
    url::{PublicBase, Scheme},
};
use zonecast_ingest::ops::status_json::{
    IngestStatus, LastSegment, Rendition, StreamStatus, last_segment, renditions,
};

use crate::procs::{IngestId, IngestProcesses, ProcessState};

/// What the edge needs to show and control the ingests.
pub struct StatusSource {
    pub ingests: Arc<IngestProcesses>,
    /// Each ingest's health port (where its `/status` is).
    pub health: Vec<(IngestId, SocketAddr)>,
    /// Instance pairs (`--pairs`).
    pub pairs: u16,
    /// The edge's port, for the viewer URLs.
    pub edge_port: u16,
}

pub const STATUS_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct StackStatus {
    pub version: u32,
    pub now: DateTime<Utc>,
    /// Instance pairs (`zonecast-local --pairs`).
    pub pairs: u16,
    pub ingests: Vec<IngestView>,
    pub streams: Vec<StreamRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IngestView {
    /// `az1`, or `p1-az1` beyond pair 0: what `POST /status/<id>/<action>` names.
    pub id: String,
    pub pair: u16,
    pub az: Az,
    pub health_addr: String,
    pub running: bool,
    pub pid: Option<u32>,
    /// The ingest's own `/status`, when it answered.
    pub status: Option<IngestStatus>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StreamRow {
    /// `app/stream`, or `app/stream/rendition` for a rendition (a row of its own).
    pub name: String,
    /// `app/stream`: what the multivariant playlist and the player page are about.
    pub stream: String,
    /// The rendition, for a stream published at several qualities.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rendition: Option<String>,
    /// The instance pair that publishes the stream (always 0 with one pair).
    pub pair: u16,
    pub urls: Urls,
    pub azs: Vec<AzRow>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Urls {
    /// Host mode: browsers and curl (`*.localhost` resolves to loopback).
    pub host: String,
    /// Path mode: ffmpeg, ffplay, VLC.
    pub path: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AzRow {
    pub az: Az,
    pub verdict: &'static str,
    pub index_state: Option<zonecast_contract::StreamState>,
    /// Milliseconds since the index was written.
    pub index_age_ms: Option<i64>,
    pub last_segment: Option<LastSegment>,
    pub bandwidth: u64,
    pub average_bandwidth: u64,
    pub renditions: Vec<Rendition>,
    pub chunklist: Urls,
    /// What this AZ's ingest says of the stream; `None` when it does not publish or wait for
    /// it (or does not answer).
    pub ingest: Option<StreamStatus>,
    pub error: Option<String>,
}

/// One stream as read from the store: each AZ's index, or why it could not be read.
pub struct StreamIndexes {
    pub name: StreamName,
    /// `[az1, az2]`.
    pub indexes: [Result<Option<StreamIndex>, String>; 2],
}

/// Builds the document. Sans-IO: everything read comes in as arguments.
pub fn build_stack_status(
    now: DateTime<Utc>,
    edge_port: u16,
    ingests: Vec<IngestView>,
    streams: Vec<StreamIndexes>,
    pairs: u16,
) -> StackStatus {
    let host_base = PublicBase::new(Scheme::Http, &format!("media-hls.localhost:{edge_port}"));
    let path_base = PublicBase::new(Scheme::Http, &format!("127.0.0.1:{edge_port}"));
    let rows = streams
        .into_iter()
        .map(|s| {
            let urls = |f: &dyn Fn(&PublicBase) -> String| Urls {
                host: host_base.as_ref().map(f).unwrap_or_default(),
                path: path_base.as_ref().map(f).unwrap_or_default(),
            };
            let ok = |i: usize| s.indexes[i].as_ref().ok().and_then(Option::as_ref);
            let azs = Az::ALL
                .iter()
                .enumerate()
                .map(|(i, &az)| {
                    let own = ok(i);
                    let verdict = match &s.indexes[i] {
                        Err(_) => "unreadable",
                        Ok(_) => health(own, ok(1 - i), now).as_str(),
                    };
                    // With several pairs, the ingest of this AZ that holds the stream (its
                    // pair's, unless something is misconfigured).
                    let ingest = ingests
                        .iter()
                        .filter(|g| g.az == az)
                        .filter_map(|g| g.status.as_ref())
                        .find_map(|st| st.streams.iter().find(|x| x.name == s.name.to_string()))
                        .cloned();
                    AzRow {
                        az,
                        verdict,
                        index_state: own.map(|x| x.state),
                        index_age_ms: own.map(|x| (now - x.updated).num_milliseconds()),
                        last_segment: own.and_then(|x| last_segment(x, now)),
                        bandwidth: own.map_or(0, |x| x.info.bandwidth),
                        average_bandwidth: own.map_or(0, |x| x.info.average_bandwidth),
                        renditions: own.map(renditions).unwrap_or_default(),
                        chunklist: urls(&|b| b.chunklist_url(az, &s.name)),
                        ingest,
                        error: s.indexes[i].as_ref().err().cloned(),
                    }
                })
                .collect();
            StreamRow {
                name: s.name.to_string(),
                stream: s.name.base().to_string(),
                rendition: s.name.rendition().map(str::to_owned),
                pair: zonecast_contract::shard::pair_of(&s.name, pairs),
                urls: urls(&|b| b.multivariant_url(&s.name)),
                azs,
            }
        })
        .collect();
    StackStatus {
        version: STATUS_VERSION,
        now,
        pairs,
        ingests,
        streams: rows,
    }
}

/// The stream of an index key (`az1/live/show/index.json`, or
/// `az1/live/show/720p/index.json` for a rendition), if it is one.
pub fn stream_of_index_key(key: &str) -> Option<StreamName> {
    let parts: Vec<&str> = key.split('/').collect();
    match parts.as_slice() {
        [_az, app, stream, file] if *file == keys::INDEX_FILE => StreamName::new(app, stream).ok(),
        [_az, app, stream, rendition, file] if *file == keys::INDEX_FILE => {
            StreamName::new(app, stream)
                .ok()?
                .with_rendition(rendition)
                .ok()
        }
        _ => None,
    }
}

/// Every stream with an index in either AZ, sorted.
pub async fn list_streams(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
) -> Result<Vec<StreamName>, String> {
    let mut names = BTreeSet::new();
    for az in Az::ALL {
        let mut pages = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(format!("{az}/"))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| zonecast_contract::s3::error_text(&e))?;
            for obj in page.contents() {
                if let Some(name) = obj.key().and_then(stream_of_index_key) {
                    names.insert(name);
                }
            }
        }
    }
    Ok(names.into_iter().collect())
}

/// An ingest's `/status`, within a second.
pub async fn fetch_ingest_status(addr: SocketAddr) -> Result<IngestStatus, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let get = async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        let req = format!("GET /status HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await?;
        Ok::<_, std::io::Error>(buf)
    };
    let buf = tokio::time::timeout(Duration::from_secs(1), get)
        .await
        .map_err(|_| format!("{addr}: no answer within 1 s"))?
        .map_err(|e| format!("{addr}: {e}"))?;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("{addr}: not HTTP"))?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(format!(
            "{addr}: {}",
            head.lines().next().unwrap_or_default()
        ));
    }
    serde_json::from_str(body).map_err(|e| format!("{addr}: {e}"))
}

/// Reads everything and builds the document.
pub async fn collect(
    source: &StatusSource,
    s3: &aws_sdk_s3::Client,
    indexes: &S3IndexSource,
) -> StackStatus {
    let mut ingests = Vec::new();
    for &(id, addr) in &source.health {
        let ProcessState { running, pid } = source.ingests.state(id).await;
        let (status, error) = match fetch_ingest_status(addr).await {
            Ok(s) => (Some(s), None),
            Err(e) => (None, Some(e)),
        };
        ingests.push(IngestView {
            id: id.to_string(),
            pair: id.pair,
            az: id.az,
            health_addr: addr.to_string(),
            running,
            pid,
            status,
            error,
        });
    }
    let mut streams = Vec::new();
    match list_streams(s3, indexes.bucket()).await {
        Ok(names) => {
            for name in names {
                let (a, b) = tokio::join!(
                    indexes.read_index(Az::Az1, &name),
                    indexes.read_index(Az::Az2, &name)
                );
                let text = |e: IndexSourceError| e.to_string();
                streams.push(StreamIndexes {
                    name,
                    indexes: [a.map_err(text), b.map_err(text)],
                });
            }
        }
        Err(e) => tracing::warn!(error = %e, "status: listing the store"),
    }
    // One clock for every verdict, read after the indexes (as the playlist function does).
    build_stack_status(Utc::now(), source.edge_port, ingests, streams, source.pairs)
}

#[cfg(test)]
mod tests;
