//! Bounded bit reader and the H.264 sequence parameter set fields we need (ITU-T H.264 §7.3.2.1.1).
//!
//! The SPS comes from the peer, so every read is bounds-checked and returns [`SpsError`] on
//! truncation; nothing here allocates more than the SPS length.

/// Why an SPS (or another bit-packed structure) could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SpsError {
    /// Ran out of bits at this bit position.
    #[error("truncated at bit {bit}")]
    Truncated { bit: usize },
    /// An Exp-Golomb code with more than 31 leading zeros (§9.1 caps ue(v) at 2^32 - 2).
    #[error("Exp-Golomb code at bit {bit} longer than 32 bits")]
    ExpGolombTooLong { bit: usize },
    /// The NAL unit is not an SPS (nal_unit_type 7, §7.4.1).
    #[error("NAL unit type {found} is not an SPS (7)")]
    NotSps { found: u8 },
    /// A value outside the range H.264 allows for that field.
    #[error("{field} = {value} out of range")]
    OutOfRange { field: &'static str, value: u64 },
}

/// MSB-first bit reader over a byte slice (the `u(n)`, `ue(v)`, `se(v)` descriptors of §7.2).
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    bit: usize,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data, bit: 0 }
    }

    /// Bits consumed so far.
    pub(crate) fn position(&self) -> usize {
        self.bit
    }

    pub(crate) fn read_bit(&mut self) -> Result<bool, SpsError> {
        let byte = self
            .data
            .get(self.bit / 8)
            .ok_or(SpsError::Truncated { bit: self.bit })?;
        let value = (byte >> (7 - (self.bit % 8))) & 1;
        self.bit += 1;
        Ok(value == 1)
    }

    /// `u(n)` for n <= 32.
    pub(crate) fn read_bits(&mut self, n: u32) -> Result<u32, SpsError> {
        debug_assert!(n <= 32);
        let mut value: u64 = 0;
        for _ in 0..n {
            value = (value << 1) | u64::from(self.read_bit()?);
        }
        // n <= 32, so the value fits.
        Ok(value as u32)
    }

    /// `ue(v)`, §9.1: leading zeros, a one, then that many info bits.
    pub(crate) fn read_ue(&mut self) -> Result<u32, SpsError> {
        let start = self.bit;
        let mut zeros = 0u32;
        while !self.read_bit()? {
            zeros += 1;
            if zeros > 31 {
                return Err(SpsError::ExpGolombTooLong { bit: start });
            }
        }
        let info = u64::from(self.read_bits(zeros)?);
        let value = (1u64 << zeros) - 1 + info;
        u32::try_from(value).map_err(|_| SpsError::ExpGolombTooLong { bit: start })
    }

    /// `se(v)`, §9.1.1: k maps to (-1)^(k+1) * ceil(k / 2).
    pub(crate) fn read_se(&mut self) -> Result<i64, SpsError> {
        let k = i64::from(self.read_ue()?);
        Ok(if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) })
    }
}

/// The SPS fields ZoneCast uses: identity for the RFC 6381 codec string and the display size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sps {
    pub profile_idc: u8,
    /// constraint_set0..5 flags and reserved bits, as the byte after profile_idc.
    pub constraint_flags: u8,
    pub level_idc: u8,
    pub chroma_format_idc: u32,
    pub frame_mbs_only: bool,
    /// Width in luma samples after frame cropping (§7.4.2.1.1).
    pub width: u32,
    /// Height in luma samples after frame cropping (§7.4.2.1.1).
    pub height: u32,
}

/// Profiles whose SPS carries chroma_format_idc, bit depths and scaling lists (§7.3.2.1.1).
fn has_chroma_info(profile_idc: u8) -> bool {
    matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    )
}

/// Drops emulation-prevention bytes (the 0x03 in 0x000003, §7.4.1) to get the RBSP.
fn to_rbsp(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0;
    for &b in nal {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// Skips one scaling_list() (§7.3.2.1.1.1); only the deltas matter for the bit position.
fn skip_scaling_list(r: &mut BitReader<'_>, size: usize) -> Result<(), SpsError> {
    let mut last_scale: i64 = 8;
    let mut next_scale: i64 = 8;
    for _ in 0..size {
        if next_scale != 0 {
            let delta = r.read_se()?;
            if !(-128..=127).contains(&delta) {
                return Err(SpsError::OutOfRange {
                    field: "delta_scale",
                    value: delta.unsigned_abs(),
                });
            }
            next_scale = (last_scale + delta + 256).rem_euclid(256);
        }
        if next_scale != 0 {
            last_scale = next_scale;
        }
    }
    Ok(())
}

fn check(field: &'static str, value: u32, max: u32) -> Result<u32, SpsError> {
    if value > max {
        Err(SpsError::OutOfRange {
            field,
            value: u64::from(value),
        })
    } else {
        Ok(value)
    }
}

/// Parses an SPS NAL unit (with its one-byte NAL header, without start code or length prefix).
pub fn parse_sps(nal: &[u8]) -> Result<Sps, SpsError> {
    let rbsp = to_rbsp(nal);
    let mut r = BitReader::new(&rbsp);
    let _forbidden_zero_and_ref_idc = r.read_bits(3)?;
    let nal_type = r.read_bits(5)? as u8;
    if nal_type != 7 {
        return Err(SpsError::NotSps { found: nal_type });
    }
    let profile_idc = r.read_bits(8)? as u8;
    let constraint_flags = r.read_bits(8)? as u8;
    let level_idc = r.read_bits(8)? as u8;
    check("seq_parameter_set_id", r.read_ue()?, 31)?;

    let mut chroma_format_idc = 1;
    let mut separate_colour_plane = false;
    if has_chroma_info(profile_idc) {
        chroma_format_idc = check("chroma_format_idc", r.read_ue()?, 3)?;
        if chroma_format_idc == 3 {
            separate_colour_plane = r.read_bit()?;
        }
        check("bit_depth_luma_minus8", r.read_ue()?, 6)?;
        check("bit_depth_chroma_minus8", r.read_ue()?, 6)?;
        let _qpprime_y_zero_transform_bypass = r.read_bit()?;
        if r.read_bit()? {
            // seq_scaling_matrix_present_flag: 6 4x4 lists, then 2 (or 6 for 4:4:4) 8x8 lists.
            let lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.read_bit()? {
                    skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    check("log2_max_frame_num_minus4", r.read_ue()?, 12)?;
    match check("pic_order_cnt_type", r.read_ue()?, 2)? {
        0 => {
            check("log2_max_pic_order_cnt_lsb_minus4", r.read_ue()?, 12)?;
        }
        1 => {
            let _delta_pic_order_always_zero = r.read_bit()?;
            let _offset_for_non_ref_pic = r.read_se()?;
            let _offset_for_top_to_bottom_field = r.read_se()?;
            let cycle = check("num_ref_frames_in_pic_order_cnt_cycle", r.read_ue()?, 255)?;
            for _ in 0..cycle {
                let _offset_for_ref_frame = r.read_se()?;
            }
        }
        _ => {}
    }
    let _max_num_ref_frames = r.read_ue()?;
    let _gaps_in_frame_num_allowed = r.read_bit()?;
    let width_mbs = u64::from(r.read_ue()?) + 1;
    let height_map_units = u64::from(r.read_ue()?) + 1;
    let frame_mbs_only = r.read_bit()?;
    if !frame_mbs_only {
        let _mb_adaptive_frame_field = r.read_bit()?;
    }
    let _direct_8x8_inference = r.read_bit()?;
    let (mut crop_l, mut crop_r, mut crop_t, mut crop_b) = (0u64, 0u64, 0u64, 0u64);
    if r.read_bit()? {
        crop_l = u64::from(r.read_ue()?);
        crop_r = u64::from(r.read_ue()?);
        crop_t = u64::from(r.read_ue()?);
        crop_b = u64::from(r.read_ue()?);
    }

    // §7.4.2.1.1: CropUnitX/Y depend on ChromaArrayType and field coding.
    let field_factor: u64 = if frame_mbs_only { 1 } else { 2 };
    let chroma_array_type = if separate_colour_plane {
        0
    } else {
        chroma_format_idc
    };
    let (crop_unit_x, crop_unit_y) = match chroma_array_type {
        0 => (1, field_factor),
        1 => (2, 2 * field_factor),
        2 => (2, field_factor),
        _ => (1, field_factor),
    };
    let full_width = width_mbs * 16;
    let full_height = field_factor * height_map_units * 16;
    let crop_x = crop_unit_x * (crop_l + crop_r);
    let crop_y = crop_unit_y * (crop_t + crop_b);
    let width = full_width
        .checked_sub(crop_x)
        .filter(|w| *w > 0)
        .and_then(|w| u32::try_from(w).ok())
        .ok_or(SpsError::OutOfRange {
            field: "frame_crop_left/right_offset",
            value: crop_x,
        })?;
    let height = full_height
        .checked_sub(crop_y)
        .filter(|h| *h > 0)
        .and_then(|h| u32::try_from(h).ok())
        .ok_or(SpsError::OutOfRange {
            field: "frame_crop_top/bottom_offset",
            value: crop_y,
        })?;
    Ok(Sps {
        profile_idc,
        constraint_flags,
        level_idc,
        chroma_format_idc,
        frame_mbs_only,
        width,
        height,
    })
}
