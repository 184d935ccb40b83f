//! Bounds on what a peer can make one connection hold, enforced on the chunk stream before
//! rml_rtmp sees it (rml_rtmp itself accepts any declared message length, any chunk size, and
//! a partial message on every one of 65 599 chunk streams).
//!
//! [`ChunkGuard`] follows the chunk headers (RTMP 1.0 spec §5.3.1: basic header, message
//! header types 0–3, extended timestamp) and the two protocol control messages that change
//! how later chunks parse: Set Chunk Size (type 1, §5.4.1) and Abort Message (type 2, §5.4.2).
//! It keeps no payload except those messages' four bytes. Together with the fixed 64 KiB read
//! buffer this bounds what one connection holds: at most `max_buffered_bytes` of messages in
//! progress. Sans-IO: bytes in, an error out.

use std::collections::HashMap;

/// Limits of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtmpLimits {
    /// The largest declared message length accepted (RTMP lengths are 24 bits: 16 MiB).
    pub max_message_bytes: u32,
    /// The largest chunk size the peer may set.
    pub max_chunk_size: u32,
    /// Messages in progress at once (one per chunk stream); encoders use three or four.
    pub max_partial_messages: usize,
    /// The declared lengths of all messages in progress together: what rml_rtmp may be
    /// holding for this connection at once.
    pub max_buffered_bytes: u64,
}

impl Default for RtmpLimits {
    fn default() -> Self {
        Self {
            max_message_bytes: 8 << 20,
            max_chunk_size: 1 << 20,
            max_partial_messages: 16,
            max_buffered_bytes: 16 << 20,
        }
    }
}

/// What a peer did beyond the limits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error(
        "message of {length} bytes (type {type_id}, chunk stream {csid}) is over the limit of {max}"
    )]
    MessageTooLarge {
        csid: u32,
        type_id: u8,
        length: u32,
        max: u32,
    },
    #[error("Set Chunk Size {size} is outside 1..={max}")]
    ChunkSize { size: u32, max: u32 },
    #[error("{count} messages in progress at once, over the limit of {max}")]
    TooManyPartialMessages { count: usize, max: usize },
    #[error("{bytes} bytes of messages in progress at once, over the limit of {max}")]
    TooMuchBuffered { bytes: u64, max: u64 },
    #[error("chunk stream {csid} continues a message it never started")]
    NoPriorHeader { csid: u32 },
}

#[derive(Debug, Default, Clone)]
struct ChunkStream {
    length: u32,
    type_id: u8,
    remaining: u32,
    extended_timestamp: bool,
    started: bool,
    /// The first bytes of a protocol control message (types 1 and 2).
    control: Vec<u8>,
}

/// Where the guard is in the byte stream.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Collecting a chunk header into `header`.
    Header,
    /// Inside a chunk's payload: `left` bytes of chunk stream `csid`.
    Payload { csid: u32, left: u32 },
}

/// Follows one connection's inbound chunk stream (after the handshake).
#[derive(Debug)]
pub struct ChunkGuard {
    limits: RtmpLimits,
    /// The peer's chunk size (128 until it sends Set Chunk Size).
    chunk_size: u32,
    streams: HashMap<u32, ChunkStream>,
    phase: Phase,
    /// A chunk header in progress: at most 3 + 11 + 4 bytes.
    header: Vec<u8>,
    /// Whole messages seen (for tests).
    messages: u64,
}

const MAX_HEADER: usize = 18;

impl ChunkGuard {
    pub fn new(limits: RtmpLimits) -> Self {
        Self {
            limits,
            chunk_size: 128,
            streams: HashMap::new(),
            phase: Phase::Header,
            header: Vec::with_capacity(MAX_HEADER),
            messages: 0,
        }
    }

    /// The chunk size the peer set.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Whole messages seen so far.
    pub fn messages(&self) -> u64 {
        self.messages
    }

    /// Follows `input`; an error is final for the connection.
    pub fn push(&mut self, mut input: &[u8]) -> Result<(), LimitError> {
        while !input.is_empty() {
            match self.phase {
                Phase::Header => {
                    let need = self.header_len();
                    let take = match need {
                        Some(n) => n.saturating_sub(self.header.len()),
                        None => 1,
                    }
                    .clamp(1, MAX_HEADER);
                    let take = take.min(input.len());
                    self.header.extend_from_slice(&input[..take]);
                    input = &input[take..];
                    if let Some(n) = self.header_len()
                        && self.header.len() >= n
                    {
                        self.start_chunk()?;
                    }
                }
                Phase::Payload { csid, left } => {
                    let take = (left as usize).min(input.len());
                    let stream = self.streams.entry(csid).or_default();
                    if matches!(stream.type_id, 1 | 2) && stream.control.len() < 4 {
                        let want = (4 - stream.control.len()).min(take);
                        stream.control.extend_from_slice(&input[..want]);
                    }
                    stream.remaining -= take as u32;
                    input = &input[take..];
                    let left = left - take as u32;
                    self.phase = Phase::Payload { csid, left };
                    if left == 0 {
                        self.end_chunk(csid)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The full length of the header being collected, once enough of it is known.
    fn header_len(&self) -> Option<usize> {
        let h = &self.header;
        let first = *h.first()?;
        let (basic, csid) = match first & 0x3f {
            0 => (2, 64 + u32::from(*h.get(1)?)),
            1 => (3, 64 + u32::from(*h.get(1)?) + 256 * u32::from(*h.get(2)?)),
            n => (1, u32::from(n)),
        };
        let fmt = first >> 6;
        let message = [11, 7, 3, 0][usize::from(fmt)];
        let extended = if fmt == 3 {
            self.streams
                .get(&csid)
                .is_some_and(|s| s.extended_timestamp)
        } else {
            let ts = h.get(basic..basic + 3)?;
            ts == [0xff, 0xff, 0xff]
        };
        Some(basic + message + if extended { 4 } else { 0 })
    }

    fn start_chunk(&mut self) -> Result<(), LimitError> {
        let h = std::mem::take(&mut self.header);
        let fmt = h[0] >> 6;
        let (basic, csid) = match h[0] & 0x3f {
            0 => (2, 64 + u32::from(h[1])),
            1 => (3, 64 + u32::from(h[1]) + 256 * u32::from(h[2])),
            n => (1, u32::from(n)),
        };
        let m = &h[basic..];
        let chunk_size = self.chunk_size;
        let stream = self.streams.entry(csid).or_default();
        match fmt {
            0 | 1 => {
                stream.length = u32::from_be_bytes([0, m[3], m[4], m[5]]);
                stream.type_id = m[6];
                stream.extended_timestamp = m[..3] == [0xff, 0xff, 0xff];
                stream.remaining = stream.length;
                stream.started = true;
                stream.control.clear();
            }
            2 | 3 if !stream.started => return Err(LimitError::NoPriorHeader { csid }),
            2 => {
                stream.extended_timestamp = m[..3] == [0xff, 0xff, 0xff];
                stream.remaining = stream.length;
                stream.control.clear();
            }
            _ => {
                if stream.remaining == 0 {
                    stream.remaining = stream.length;
                    stream.control.clear();
                }
            }
        }
        if stream.length > self.limits.max_message_bytes {
            return Err(LimitError::MessageTooLarge {
                csid,
                type_id: stream.type_id,
                length: stream.length,
                max: self.limits.max_message_bytes,
            });
        }
        let left = stream.remaining.min(chunk_size);
        let partial = self.streams.values().filter(|s| s.remaining > 0).count();
        if partial > self.limits.max_partial_messages {
            return Err(LimitError::TooManyPartialMessages {
                count: partial,
                max: self.limits.max_partial_messages,
            });
        }
        let buffered: u64 = self
            .streams
            .values()
            .filter(|s| s.remaining > 0)
            .map(|s| u64::from(s.length))
            .sum();
        if buffered > self.limits.max_buffered_bytes {
            return Err(LimitError::TooMuchBuffered {
                bytes: buffered,
                max: self.limits.max_buffered_bytes,
            });
        }
        self.phase = Phase::Payload { csid, left };
        if left == 0 {
            self.end_chunk(csid)?;
        }
        Ok(())
    }

    fn end_chunk(&mut self, csid: u32) -> Result<(), LimitError> {
        self.phase = Phase::Header;
        let Some(stream) = self.streams.get_mut(&csid) else {
            return Ok(());
        };
        if stream.remaining > 0 {
            return Ok(());
        }
        self.messages += 1;
        let control = std::mem::take(&mut stream.control);
        let value = <[u8; 4]>::try_from(control.as_slice())
            .ok()
            .map(|b| u32::from_be_bytes(b) & 0x7fff_ffff);
        match (stream.type_id, value) {
            (1, Some(size)) => {
                if size == 0 || size > self.limits.max_chunk_size {
                    return Err(LimitError::ChunkSize {
                        size,
                        max: self.limits.max_chunk_size,
                    });
                }
                self.chunk_size = size;
            }
            (2, Some(aborted)) => {
                if let Some(s) = self.streams.get_mut(&aborted) {
                    s.remaining = 0;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use rml_rtmp::{chunk_io::ChunkSerializer, messages::RtmpMessage, time::RtmpTimestamp};

    use super::*;

    /// What an encoder sends: Set Chunk Size, then video messages of many sizes.
    fn stream(chunk_size: u32, sizes: &[usize]) -> Vec<u8> {
        let mut ser = ChunkSerializer::new();
        let mut out = ser
            .set_max_chunk_size(chunk_size, RtmpTimestamp::new(0))
            .unwrap()
            .bytes;
        for (i, size) in sizes.iter().enumerate() {
            let payload = RtmpMessage::VideoData {
                data: Bytes::from(vec![0x17; *size]),
            }
            .into_message_payload(RtmpTimestamp::new(i as u32 * 33), 1)
            .unwrap();
            out.extend(ser.serialize(&payload, false, false).unwrap().bytes);
        }
        out
    }

    #[test]
    fn follows_a_real_chunk_stream_at_every_split_point() {
        let sizes = [10, 128, 129, 4096, 5000, 0x1_0000, 3];
        let bytes = stream(4096, &sizes);
        for cut in 0..bytes.len() {
            let mut g = ChunkGuard::new(RtmpLimits::default());
            g.push(&bytes[..cut]).unwrap();
            g.push(&bytes[cut..]).unwrap();
            assert_eq!(g.messages(), 1 + sizes.len() as u64, "cut at {cut}");
            assert_eq!(g.chunk_size(), 4096);
        }
    }

    #[test]
    fn a_message_over_the_limit_ends_the_connection() {
        let limits = RtmpLimits {
            max_message_bytes: 1000,
            ..Default::default()
        };
        let mut g = ChunkGuard::new(limits);
        let err = g.push(&stream(4096, &[500, 1001])).unwrap_err();
        assert!(
            matches!(
                err,
                LimitError::MessageTooLarge {
                    length: 1001,
                    max: 1000,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn a_chunk_size_over_the_limit_ends_the_connection() {
        let mut g = ChunkGuard::new(RtmpLimits {
            max_chunk_size: 4096,
            ..Default::default()
        });
        let err = g.push(&stream(65536, &[])).unwrap_err();
        assert_eq!(
            err,
            LimitError::ChunkSize {
                size: 65536,
                max: 4096
            }
        );
    }

    #[test]
    fn partial_messages_on_many_chunk_streams_are_bounded() {
        let mut g = ChunkGuard::new(RtmpLimits {
            max_partial_messages: 4,
            ..Default::default()
        });
        // Type 0 headers on chunk streams 3, 4, ...: 100 000-byte messages, one 128-byte chunk
        // each, never finished.
        let mut bytes = Vec::new();
        for csid in 3..20u8 {
            bytes.push(csid);
            bytes.extend([0, 0, 0]);
            bytes.extend(&100_000u32.to_be_bytes()[1..]);
            bytes.push(9);
            bytes.extend([1, 0, 0, 0]);
            bytes.extend([0u8; 128]);
        }
        let err = g.push(&bytes).unwrap_err();
        assert_eq!(err, LimitError::TooManyPartialMessages { count: 5, max: 4 });
    }

    #[test]
    fn bytes_in_progress_are_bounded() {
        let mut g = ChunkGuard::new(RtmpLimits {
            max_buffered_bytes: 250_000,
            ..Default::default()
        });
        let mut bytes = Vec::new();
        for csid in 3..6u8 {
            bytes.push(csid);
            bytes.extend([0, 0, 0]);
            bytes.extend(&100_000u32.to_be_bytes()[1..]);
            bytes.push(9);
            bytes.extend([1, 0, 0, 0]);
            bytes.extend([0u8; 128]);
        }
        let err = g.push(&bytes).unwrap_err();
        assert_eq!(
            err,
            LimitError::TooMuchBuffered {
                bytes: 300_000,
                max: 250_000
            }
        );
    }

    #[test]
    fn a_continuation_without_a_header_is_refused() {
        let mut g = ChunkGuard::new(RtmpLimits::default());
        assert_eq!(
            g.push(&[0xc5, 1, 2, 3]).unwrap_err(),
            LimitError::NoPriorHeader { csid: 5 }
        );
    }
}
