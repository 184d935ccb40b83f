//! A bounded MSB-first bit reader for the AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1).
//!
//! The bytes come from the peer, so every read is bounds-checked; nothing allocates.

/// Ran out of bits at this bit position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("truncated at bit {bit}")]
pub(crate) struct Truncated {
    pub(crate) bit: usize,
}

/// MSB-first bit reader over a byte slice (the `bslbf`/`uimsbf` fields of ISO/IEC 14496-3).
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

    pub(crate) fn read_bit(&mut self) -> Result<bool, Truncated> {
        let byte = self
            .data
            .get(self.bit / 8)
            .ok_or(Truncated { bit: self.bit })?;
        let value = (byte >> (7 - (self.bit % 8))) & 1;
        self.bit += 1;
        Ok(value == 1)
    }

    /// Reads `n <= 32` bits as an unsigned integer.
    pub(crate) fn read_bits(&mut self, n: u32) -> Result<u32, Truncated> {
        debug_assert!(n <= 32);
        let mut value: u64 = 0;
        for _ in 0..n {
            value = (value << 1) | u64::from(self.read_bit()?);
        }
        // n <= 32, so the value fits.
        Ok(value as u32)
    }
}
