//! Writing ISO BMFF boxes (ISO/IEC 14496-12 §4.2): a 32-bit size, a four-character type, and
//! for a FullBox a version byte and 24 bits of flags, then the body.
//!
//! The size is written last, once the body is known: a box is opened with a placeholder and
//! patched when its body closure returns, so nested boxes need no size arithmetic.

use bytes::BufMut;

use super::Fmp4Error;

/// The unity transformation matrix of `mvhd` and `tkhd` (§8.2.2.3, §8.3.2.3).
pub(super) const UNITY_MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

/// Writes a box (§4.2): size, type, then whatever `body` writes.
pub(super) fn write_box<F>(out: &mut Vec<u8>, box_type: &[u8; 4], body: F) -> Result<(), Fmp4Error>
where
    F: FnOnce(&mut Vec<u8>) -> Result<(), Fmp4Error>,
{
    let start = out.len();
    out.put_u32(0);
    out.put_slice(box_type);
    body(out)?;
    patch_size(out, start)
}

/// Writes a FullBox (§4.2): a box whose body starts with a version and 24 bits of flags.
pub(super) fn write_full_box<F>(
    out: &mut Vec<u8>,
    box_type: &[u8; 4],
    version: u8,
    flags: u32,
    body: F,
) -> Result<(), Fmp4Error>
where
    F: FnOnce(&mut Vec<u8>) -> Result<(), Fmp4Error>,
{
    write_box(out, box_type, |out| {
        out.put_u32((u32::from(version) << 24) | (flags & 0x00ff_ffff));
        body(out)
    })
}

/// Puts the size of the box that starts at `start` and runs to the end of `out`.
fn patch_size(out: &mut [u8], start: usize) -> Result<(), Fmp4Error> {
    let len = out.len().saturating_sub(start);
    let size = u32::try_from(len).map_err(|_| Fmp4Error::TooLarge {
        what: "box",
        len,
        dts_ms: None,
    })?;
    if let Some(slot) = out.get_mut(start..start + 4) {
        slot.copy_from_slice(&size.to_be_bytes());
    }
    Ok(())
}

/// Writes an MPEG-4 descriptor (ISO/IEC 14496-1 §8.3.3): a tag, the body length in the
/// expandable 7-bits-per-byte form, then the body. Lengths are written in the shortest form,
/// so the same body always gives the same bytes.
pub(super) fn write_descriptor(out: &mut Vec<u8>, tag: u8, body: &[u8]) -> Result<(), Fmp4Error> {
    let len = body.len();
    // Four bytes of 7 bits: the most sizeOfInstance can express.
    if len >= 1 << 28 {
        return Err(Fmp4Error::AudioConfigTooLong { len });
    }
    out.put_u8(tag);
    let mut shift = 21;
    while shift > 0 && len >> shift == 0 {
        shift -= 7;
    }
    while shift > 0 {
        out.put_u8(0x80 | ((len >> shift) & 0x7f) as u8);
        shift -= 7;
    }
    out.put_u8((len & 0x7f) as u8);
    out.put_slice(body);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_boxes_get_their_sizes() {
        let mut out = Vec::new();
        write_box(&mut out, b"moov", |out| {
            write_full_box(out, b"mvhd", 1, 0x0203_0405, |out| {
                out.put_u8(9);
                Ok(())
            })
        })
        .unwrap();
        assert_eq!(
            out,
            [
                0, 0, 0, 21, b'm', b'o', b'o', b'v', 0, 0, 0, 13, b'm', b'v', b'h', b'd', 1, 3, 4,
                5, 9
            ]
        );
    }

    #[test]
    fn descriptor_lengths_are_shortest() {
        let mut out = Vec::new();
        write_descriptor(&mut out, 5, &[1, 2]).unwrap();
        assert_eq!(out, [5, 2, 1, 2]);
        let mut out = Vec::new();
        write_descriptor(&mut out, 4, &[0; 200]).unwrap();
        assert_eq!(out[..3], [4, 0x81, 0x48]);
        assert_eq!(out.len(), 3 + 200);
    }
}
