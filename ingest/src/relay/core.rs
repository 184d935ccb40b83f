//! The relay task's decisions, sans-IO: what goes to the peer and when, and how long to wait
//! between attempts.
//!
//! A peer that (re)joins mid-stream needs the decoder configuration before any frame, and a
//! frame it can decode from: after every (re)connect (and after a drop in the queue) the core
//! holds media back until a sync point (a video keyframe; any audio frame when the stream has
//! no video), then sends the metadata and sequence headers stamped with that frame's
//! timestamp, then the frame. Frame timestamps are never changed: the peer cuts the same
//! timeline (DESIGN.md §4).

use std::time::Duration;

use bytes::Bytes;
use rml_rtmp::sessions::StreamMetadata;

use super::feed::{Headers, MediaKind, RelayItem};

/// What the relay task sends to the peer, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum RelayOut {
    Metadata(StreamMetadata),
    Video {
        timestamp: u32,
        data: Bytes,
    },
    Audio {
        timestamp: u32,
        data: Bytes,
    },
    /// `deleteStream`: the encoder unpublished.
    Unpublish,
}

/// See the module doc.
#[derive(Debug, Default)]
pub struct RelayCore {
    headers: Headers,
    has_video: bool,
    publishing: bool,
    need_sync: bool,
    ended: bool,
}

impl RelayCore {
    pub fn new() -> Self {
        Self::default()
    }

    /// The peer accepted the publish: media resumes at the next sync point.
    pub fn on_published(&mut self) {
        self.publishing = true;
        self.need_sync = true;
    }

    /// The connection to the peer is gone (or not there yet).
    pub fn on_disconnected(&mut self) {
        self.publishing = false;
    }

    pub fn is_publishing(&self) -> bool {
        self.publishing
    }

    /// The local publish ended: nothing more will come.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// Takes one queued item; returns what to send now (nothing while not publishing: media
    /// is dropped, the configuration remembered).
    pub fn on_item(&mut self, item: RelayItem) -> Vec<RelayOut> {
        match item {
            RelayItem::Metadata(m) => {
                self.headers.metadata = Some(m.clone());
                if self.publishing && !self.need_sync {
                    return vec![RelayOut::Metadata(m)];
                }
                Vec::new()
            }
            RelayItem::Resync(h) => {
                self.headers = h;
                self.need_sync = true;
                Vec::new()
            }
            RelayItem::End { unpublished } => {
                self.ended = true;
                if unpublished && self.publishing {
                    return vec![RelayOut::Unpublish];
                }
                Vec::new()
            }
            RelayItem::Media {
                kind,
                timestamp,
                data,
            } => self.on_media(kind, timestamp, data),
        }
    }

    fn on_media(&mut self, kind: MediaKind, timestamp: u32, data: Bytes) -> Vec<RelayOut> {
        if kind.is_video() {
            self.has_video = true;
        }
        match kind {
            MediaKind::VideoConfig => self.headers.video = Some((timestamp, data.clone())),
            MediaKind::AudioConfig => self.headers.audio = Some((timestamp, data.clone())),
            _ => {}
        }
        if !self.publishing {
            return Vec::new();
        }
        let out = |kind: MediaKind, timestamp, data| {
            if kind.is_video() {
                RelayOut::Video { timestamp, data }
            } else {
                RelayOut::Audio { timestamp, data }
            }
        };
        if !self.need_sync {
            return vec![out(kind, timestamp, data)];
        }
        let sync_point = match kind {
            MediaKind::VideoKeyframe => true,
            MediaKind::AudioFrame => !self.has_video,
            _ => false,
        };
        if !sync_point {
            return Vec::new();
        }
        self.need_sync = false;
        let mut sends = Vec::with_capacity(4);
        if let Some(m) = &self.headers.metadata {
            sends.push(RelayOut::Metadata(m.clone()));
        }
        if let Some((_, v)) = &self.headers.video {
            sends.push(RelayOut::Video {
                timestamp,
                data: v.clone(),
            });
        }
        if let Some((_, a)) = &self.headers.audio {
            sends.push(RelayOut::Audio {
                timestamp,
                data: a.clone(),
            });
        }
        sends.push(out(kind, timestamp, data));
        sends
    }
}

/// Exponential backoff between attempts: `min`, doubling up to `max`; [`Self::reset`] once
/// a relay is established.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max: max.max(min),
            next: min,
        }
    }

    /// The wait before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d
    }

    pub fn reset(&mut self) {
        self.next = self.min;
    }
}
