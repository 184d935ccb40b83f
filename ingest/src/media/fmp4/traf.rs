//! A track's run of samples in a fragment: its `traf` (ISO/IEC 14496-12 §8.8.6) with
//! `tfhd`, `tfdt` and `trun`, compacted with defaults where every sample agrees.

use bytes::{BufMut, Bytes};

use super::Fmp4Error;
use super::boxes::{write_box, write_full_box};

/// `tfhd` flags (§8.8.7.1).
const TFHD_DEFAULT_DURATION: u32 = 0x00_0008;
const TFHD_DEFAULT_FLAGS: u32 = 0x00_0020;
const TFHD_DEFAULT_BASE_IS_MOOF: u32 = 0x02_0000;
/// `trun` flags (§8.8.8.1).
const TRUN_DATA_OFFSET: u32 = 0x00_0001;
const TRUN_FIRST_SAMPLE_FLAGS: u32 = 0x00_0004;
const TRUN_DURATION: u32 = 0x00_0100;
const TRUN_SIZE: u32 = 0x00_0200;
const TRUN_FLAGS: u32 = 0x00_0400;
const TRUN_COMPOSITION_OFFSET: u32 = 0x00_0800;

/// One track's samples as `trun` writes them.
pub(super) struct Run<'a> {
    pub track_id: u32,
    pub base_media_decode_time: u64,
    pub durations: Vec<u32>,
    pub flags: Vec<u32>,
    /// Composition offsets, or empty when all are 0.
    pub offsets: Vec<i32>,
    pub data: Vec<&'a Bytes>,
}

/// Writes a `traf` (§8.8.6): `tfhd` with default-base-is-moof and whatever defaults fit all
/// samples, `tfdt` version 1 (§8.8.12), `trun` version 1 (§8.8.8: signed composition offsets)
/// with what is left per sample. Returns the position of trun's data_offset in `out`.
pub(super) fn write_traf(out: &mut Vec<u8>, run: &Run<'_>) -> Result<usize, Fmp4Error> {
    let default_duration = all_equal(&run.durations);
    // Flags: all the same → a default; all the same after the first (a keyframe then the
    // rest of the GOP) → first_sample_flags + a default; else per sample.
    let (first_flags, default_flags) = match all_equal(&run.flags) {
        Some(flags) => (None, Some(flags)),
        None => match run.flags.get(1..).and_then(all_equal) {
            Some(rest) => (run.flags.first().copied(), Some(rest)),
            None => (None, None),
        },
    };
    let mut slot = 0;
    write_box(out, b"traf", |out| {
        let mut tfhd_flags = TFHD_DEFAULT_BASE_IS_MOOF;
        tfhd_flags |= default_duration.map_or(0, |_| TFHD_DEFAULT_DURATION);
        tfhd_flags |= default_flags.map_or(0, |_| TFHD_DEFAULT_FLAGS);
        write_full_box(out, b"tfhd", 0, tfhd_flags, |out| {
            out.put_u32(run.track_id);
            default_duration.iter().for_each(|d| out.put_u32(*d));
            default_flags.iter().for_each(|f| out.put_u32(*f));
            Ok(())
        })?;
        write_full_box(out, b"tfdt", 1, 0, |out| {
            out.put_u64(run.base_media_decode_time);
            Ok(())
        })?;
        let mut trun_flags = TRUN_DATA_OFFSET | TRUN_SIZE;
        trun_flags |= first_flags.map_or(0, |_| TRUN_FIRST_SAMPLE_FLAGS);
        trun_flags |= default_duration.map_or(TRUN_DURATION, |_| 0);
        trun_flags |= default_flags.map_or(TRUN_FLAGS, |_| 0);
        if !run.offsets.is_empty() {
            trun_flags |= TRUN_COMPOSITION_OFFSET;
        }
        write_full_box(out, b"trun", 1, trun_flags, |out| {
            let count = run.data.len();
            out.put_u32(u32::try_from(count).map_err(|_| Fmp4Error::TooLarge {
                what: "sample count",
                len: count,
                dts_ms: None,
            })?);
            slot = out.len();
            out.put_i32(0); // data_offset, patched by `finish`
            first_flags.iter().for_each(|f| out.put_u32(*f));
            for (i, data) in run.data.iter().enumerate() {
                if trun_flags & TRUN_DURATION != 0 {
                    out.put_u32(run.durations.get(i).copied().unwrap_or(0));
                }
                // Checked on push to fit u32.
                out.put_u32(u32::try_from(data.len()).unwrap_or(u32::MAX));
                if trun_flags & TRUN_FLAGS != 0 {
                    out.put_u32(run.flags.get(i).copied().unwrap_or(0));
                }
                if trun_flags & TRUN_COMPOSITION_OFFSET != 0 {
                    out.put_i32(run.offsets.get(i).copied().unwrap_or(0));
                }
            }
            Ok(())
        })
    })?;
    Ok(slot)
}

/// The value every element has, if they all have the same one (`None` for an empty slice).
fn all_equal(values: &[u32]) -> Option<u32> {
    let first = *values.first()?;
    values.iter().all(|v| *v == first).then_some(first)
}
