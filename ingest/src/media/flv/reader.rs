//! Sans-IO reader for `.flv` files (FLV spec v10.1 §E.2 header, §E.3 body, §E.4.1 tags).
//!
//! Used by tests and benches to replay recorded streams through the same demuxer RTMP feeds.
//! Bytes go in with [`FlvReader::push`] in any split; [`FlvReader::pull`] yields whole tags.

use bytes::{Buf, Bytes, BytesMut};

use super::FlvError;

/// Signature, version, flags, 32-bit DataOffset (§E.2).
const HEADER_LEN: usize = 9;
/// TagType..StreamID (§E.4.1).
const TAG_HEADER_LEN: usize = 11;
/// PreviousTagSize before every tag (§E.3).
const PREV_TAG_SIZE_LEN: usize = 4;

/// TagType (§E.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlvTagKind {
    /// 8: AUDIODATA body.
    Audio,
    /// 9: VIDEODATA body.
    Video,
    /// 18: SCRIPTDATA (AMF0 `onMetaData`).
    Script,
}

/// One FLV tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlvTag {
    pub kind: FlvTagKind,
    /// Milliseconds: 24-bit Timestamp with TimestampExtended as the upper 8 bits.
    pub timestamp: u32,
    /// The tag body, as an RTMP message would carry it.
    pub body: Bytes,
    /// File offset of the tag header, for error reports and debugging.
    pub offset: u64,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    #[default]
    Header,
    /// Bytes between the 9-byte header and DataOffset still to skip.
    Skip(u64),
    PrevTagSize,
    Tag,
}

/// Push/pull FLV file parser. Incomplete input stays buffered until the rest is pushed; after
/// an error the reader does not advance, so every further `pull` returns the same error.
#[derive(Debug, Default)]
pub struct FlvReader {
    buf: BytesMut,
    /// File offset of `buf[0]`.
    offset: u64,
    state: State,
}

impl FlvReader {
    /// Appends input; memory grows only by what is pushed, never by sizes read from the file.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Next complete tag, `Ok(None)` if more input is needed.
    pub fn pull(&mut self) -> Result<Option<FlvTag>, FlvError> {
        loop {
            match self.state {
                State::Header => {
                    let Some(header) = self.buf.get(..HEADER_LEN) else {
                        return Ok(None);
                    };
                    let &[s0, s1, s2, version, _flags, d0, d1, d2, d3] = header else {
                        return Ok(None);
                    };
                    if [s0, s1, s2] != *b"FLV" {
                        return Err(FlvError::BadSignature {
                            found: [s0, s1, s2],
                        });
                    }
                    if version != 1 {
                        return Err(FlvError::UnsupportedVersion { found: version });
                    }
                    let data_offset = u32::from_be_bytes([d0, d1, d2, d3]);
                    let Some(skip) = data_offset.checked_sub(HEADER_LEN as u32) else {
                        return Err(FlvError::BadDataOffset { found: data_offset });
                    };
                    self.consume(HEADER_LEN);
                    self.state = State::Skip(u64::from(skip));
                }
                State::Skip(n) => {
                    let now = usize::try_from(n).unwrap_or(usize::MAX).min(self.buf.len());
                    self.consume(now);
                    let left = n - now as u64;
                    if left > 0 {
                        self.state = State::Skip(left);
                        return Ok(None);
                    }
                    self.state = State::PrevTagSize;
                }
                State::PrevTagSize => {
                    // Not checked: some muxers write wrong values, and the tag header has the size.
                    if self.buf.len() < PREV_TAG_SIZE_LEN {
                        return Ok(None);
                    }
                    self.consume(PREV_TAG_SIZE_LEN);
                    self.state = State::Tag;
                }
                State::Tag => return self.pull_tag(),
            }
        }
    }

    fn pull_tag(&mut self) -> Result<Option<FlvTag>, FlvError> {
        let Some(&[b0, s0, s1, s2, t0, t1, t2, t_ext, _, _, _]) = self.buf.get(..TAG_HEADER_LEN)
        else {
            return Ok(None);
        };
        // Byte 0: 2 reserved bits, Filter, 5-bit TagType.
        if b0 & 0x20 != 0 {
            return Err(FlvError::EncryptedTag {
                offset: self.offset,
            });
        }
        let kind = match b0 & 0x1f {
            8 => FlvTagKind::Audio,
            9 => FlvTagKind::Video,
            18 => FlvTagKind::Script,
            tag_type => {
                return Err(FlvError::UnknownTagType {
                    offset: self.offset,
                    tag_type,
                });
            }
        };
        let size = usize::from(s0) << 16 | usize::from(s1) << 8 | usize::from(s2);
        if self.buf.len() < TAG_HEADER_LEN + size {
            return Ok(None);
        }
        let timestamp = u32::from_be_bytes([t_ext, t0, t1, t2]);
        let offset = self.offset;
        self.consume(TAG_HEADER_LEN);
        let body = self.buf.split_to(size).freeze();
        self.offset += size as u64;
        self.state = State::PrevTagSize;
        Ok(Some(FlvTag {
            kind,
            timestamp,
            body,
            offset,
        }))
    }

    fn consume(&mut self, n: usize) {
        self.buf.advance(n);
        self.offset += n as u64;
    }
}
