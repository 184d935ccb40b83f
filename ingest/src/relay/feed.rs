//! The publishing connection's side of a relay: sans-IO. Each RTMP media message is
//! classified and offered to the bounded queue; when the queue is full the feed drops up to
//! the next keyframe (the peer's decoder cannot use frames that refer to dropped ones) and
//! then re-sends the decoder configuration before that keyframe, so a drop never leaves the
//! peer without sequence headers.

use bytes::Bytes;
use rml_rtmp::sessions::StreamMetadata;

/// What a media message is to the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    /// AVC sequence header (`AVCDecoderConfigurationRecord`) or an Enhanced RTMP
    /// `SequenceStart`: the decoder configuration.
    VideoConfig,
    /// A video frame a decoder can start at (FLV `FrameType` 1).
    VideoKeyframe,
    VideoFrame,
    /// AAC `AudioSpecificConfig`.
    AudioConfig,
    AudioFrame,
}

impl MediaKind {
    /// Classifies an FLV video tag body (E.4.3.1; Enhanced RTMP `ExVideoTagHeader`).
    pub fn of_video(data: &[u8]) -> Self {
        let Some(&first) = data.first() else {
            return MediaKind::VideoFrame;
        };
        let (frame_type, config) = if first & 0x80 != 0 {
            // Enhanced RTMP: IsExHeader, FrameType in bits 4-6, PacketType in bits 0-3
            // (0 = SequenceStart).
            ((first >> 4) & 0x07, first & 0x0f == 0)
        } else {
            // Legacy: FrameType, CodecID; AVC (7) packet type 0 is the sequence header.
            (first >> 4, first & 0x0f == 7 && data.get(1) == Some(&0))
        };
        if config {
            MediaKind::VideoConfig
        } else if frame_type == 1 {
            MediaKind::VideoKeyframe
        } else {
            MediaKind::VideoFrame
        }
    }

    /// Classifies an FLV audio tag body (E.4.2.1): AAC packet type 0 is the configuration.
    pub fn of_audio(data: &[u8]) -> Self {
        match data {
            [first, 0, ..] if first >> 4 == 10 => MediaKind::AudioConfig,
            _ => MediaKind::AudioFrame,
        }
    }

    pub fn is_video(self) -> bool {
        matches!(
            self,
            MediaKind::VideoConfig | MediaKind::VideoKeyframe | MediaKind::VideoFrame
        )
    }

    pub fn is_config(self) -> bool {
        matches!(self, MediaKind::VideoConfig | MediaKind::AudioConfig)
    }
}

/// The decoder configuration of a stream: what a peer needs before any frame.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Headers {
    pub metadata: Option<StreamMetadata>,
    /// `(timestamp, body)` of the last video sequence header.
    pub video: Option<(u32, Bytes)>,
    pub audio: Option<(u32, Bytes)>,
}

/// One message on its way to the relay task.
#[derive(Debug, Clone, PartialEq)]
pub enum RelayItem {
    Metadata(StreamMetadata),
    Media {
        kind: MediaKind,
        timestamp: u32,
        data: Bytes,
    },
    /// Sent before the keyframe that ends a drop: the configuration as it is now.
    Resync(Headers),
    /// The local publish ended; `unpublished`: the encoder said so (`deleteStream`), which
    /// the relay passes on; otherwise it just closes (the peer's grace period applies).
    End {
        unpublished: bool,
    },
}

impl RelayItem {
    /// What the item weighs against the queue's byte bound.
    pub fn bytes(&self) -> usize {
        match self {
            RelayItem::Media { data, .. } => data.len(),
            RelayItem::Resync(h) => {
                h.video.as_ref().map_or(0, |v| v.1.len())
                    + h.audio.as_ref().map_or(0, |a| a.1.len())
            }
            RelayItem::Metadata(_) | RelayItem::End { .. } => 0,
        }
    }
}

/// What the feed decided for one message.
#[derive(Debug, Clone, PartialEq)]
pub enum FeedAction {
    /// Offer these to the queue, in order.
    Queue(Vec<RelayItem>),
    /// Dropped (the queue was full earlier and no keyframe came yet).
    Drop,
}

/// Sans-IO: remembers the configuration and the drop state. The shell calls [`Self::offer`]
/// for every message, tries to queue what it returns, and calls [`Self::queue_full`] when
/// the queue refused an item.
#[derive(Debug, Default)]
pub struct RelayFeed {
    headers: Headers,
    has_video: bool,
    /// Dropping until a sync point (a video keyframe; any audio frame in an audio-only stream).
    dropping: bool,
    dropped: u64,
}

impl RelayFeed {
    pub fn new() -> Self {
        Self::default()
    }

    /// Messages dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    pub fn is_dropping(&self) -> bool {
        self.dropping
    }

    pub fn metadata(&mut self, metadata: StreamMetadata) -> FeedAction {
        self.headers.metadata = Some(metadata.clone());
        if self.dropping {
            // Sent with the resync.
            return FeedAction::Drop;
        }
        FeedAction::Queue(vec![RelayItem::Metadata(metadata)])
    }

    pub fn video(&mut self, timestamp: u32, data: Bytes) -> FeedAction {
        self.has_video = true;
        self.media(MediaKind::of_video(&data), timestamp, data)
    }

    pub fn audio(&mut self, timestamp: u32, data: Bytes) -> FeedAction {
        self.media(MediaKind::of_audio(&data), timestamp, data)
    }

    fn media(&mut self, kind: MediaKind, timestamp: u32, data: Bytes) -> FeedAction {
        match kind {
            MediaKind::VideoConfig => self.headers.video = Some((timestamp, data.clone())),
            MediaKind::AudioConfig => self.headers.audio = Some((timestamp, data.clone())),
            _ => {}
        }
        let item = RelayItem::Media {
            kind,
            timestamp,
            data,
        };
        if !self.dropping {
            return FeedAction::Queue(vec![item]);
        }
        let sync_point = match kind {
            MediaKind::VideoKeyframe => true,
            MediaKind::AudioFrame => !self.has_video,
            _ => false,
        };
        if kind.is_config() {
            // Remembered; goes out with the resync.
            return FeedAction::Drop;
        }
        if !sync_point {
            self.dropped += 1;
            return FeedAction::Drop;
        }
        self.dropping = false;
        FeedAction::Queue(vec![RelayItem::Resync(self.headers.clone()), item])
    }

    /// The queue refused an item of the last [`FeedAction::Queue`]: drop up to the next sync
    /// point. Returns whether a drop starts now (log it once per drop).
    pub fn queue_full(&mut self) -> bool {
        self.dropped += 1;
        !std::mem::replace(&mut self.dropping, true)
    }
}
