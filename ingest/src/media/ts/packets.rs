//! Splitting PSI tables and PES packets into 188-byte TS packets with `mpeg2ts`.
//!
//! The crate writes one packet at a time and fills any room the payload leaves with
//! adaptation-field stuffing (ISO/IEC 13818-1 §2.4.3.5), so exact splitting is ours: each
//! packet gets exactly as many payload bytes as fit after its header, adaptation field and
//! (in the first packet) the PES header; only the last packet of a PES is stuffed.

use mpeg2ts::{
    es::StreamType,
    pes::PesHeader,
    time::ClockReference,
    ts::{
        AdaptationField, ContinuityCounter, EsInfo, Pid, ProgramAssociation,
        TransportScramblingControl, TsHeader, TsPacket, TsPacketWriter, TsPayload, VersionNumber,
        WriteTsPacket,
        payload::{Bytes, Pat, Pes, Pmt},
    },
};

use super::TsError;

/// TS packet payload room after the 4-byte header.
const PACKET_PAYLOAD: usize = TsPacket::SIZE - 4;

/// One elementary stream in the PMT.
#[derive(Debug, Clone, Copy)]
pub struct EsEntry {
    pub pid: u16,
    pub stream_type: StreamType,
}

fn pid(value: u16) -> Result<Pid, TsError> {
    Pid::new(value).map_err(|source| TsError::Mux { pid: value, source })
}

fn header(pid_value: u16, cc: ContinuityCounter) -> Result<TsHeader, TsError> {
    Ok(TsHeader {
        transport_error_indicator: false,
        transport_priority: false,
        pid: pid(pid_value)?,
        transport_scrambling_control: TransportScramblingControl::NotScrambled,
        continuity_counter: cc,
    })
}

fn write_packet(out: &mut Vec<u8>, packet: &TsPacket) -> Result<(), TsError> {
    TsPacketWriter::new(out)
        .write_ts_packet(packet)
        .map_err(|source| TsError::Mux {
            pid: packet.header.pid.as_u16(),
            source,
        })
}

/// Writes one PSI packet and advances its continuity counter (§2.4.3.3: the counter counts
/// packets with payload, per PID).
fn write_psi(
    out: &mut Vec<u8>,
    pid_value: u16,
    cc: &mut ContinuityCounter,
    payload: TsPayload,
) -> Result<(), TsError> {
    let packet = TsPacket {
        header: header(pid_value, *cc)?,
        adaptation_field: None,
        payload: Some(payload),
    };
    write_packet(out, &packet)?;
    cc.increment();
    Ok(())
}

/// PAT with a single program (§2.4.4.3). Version 0 each time: the table never changes within a
/// publish, and each segment repeats it so a player can start anywhere.
pub fn write_pat(
    out: &mut Vec<u8>,
    cc: &mut ContinuityCounter,
    program_number: u16,
    pmt_pid: u16,
) -> Result<(), TsError> {
    let pat = Pat {
        transport_stream_id: 1,
        version_number: VersionNumber::new(),
        table: vec![ProgramAssociation {
            program_num: program_number,
            program_map_pid: pid(pmt_pid)?,
        }],
    };
    write_psi(out, 0, cc, TsPayload::Pat(pat))
}

/// PMT listing the tracks present (§2.4.4.8).
pub fn write_pmt(
    out: &mut Vec<u8>,
    cc: &mut ContinuityCounter,
    program_number: u16,
    pmt_pid: u16,
    pcr_pid: u16,
    streams: &[EsEntry],
) -> Result<(), TsError> {
    let es_info = streams
        .iter()
        .map(|s| {
            Ok(EsInfo {
                stream_type: s.stream_type,
                elementary_pid: pid(s.pid)?,
                descriptors: Vec::new(),
            })
        })
        .collect::<Result<Vec<_>, TsError>>()?;
    let pmt = Pmt {
        program_num: program_number,
        pcr_pid: Some(pid(pcr_pid)?),
        version_number: VersionNumber::new(),
        program_info: Vec::new(),
        es_info,
    };
    write_psi(out, pmt_pid, cc, TsPayload::Pmt(pmt))
}

/// What goes in the adaptation field of a PES's first packet.
#[derive(Debug, Clone, Copy, Default)]
pub struct PesStartFlags {
    /// Program clock reference in 27 MHz units (already wrapped to 33+9 bits).
    pub pcr: Option<u64>,
    /// §2.4.3.5: the PES starts an access unit a decoder can start from.
    pub random_access: bool,
}

/// Size of the adaptation field (with its length byte) carrying `flags`, or 0 if none is needed.
fn adaptation_field_size(flags: &PesStartFlags) -> usize {
    if flags.pcr.is_some() {
        2 + 6
    } else if flags.random_access {
        2
    } else {
        0
    }
}

/// Reads a payload given as pieces (start codes, NAL units borrowed from the RTMP message,
/// parameter sets from the configuration) in order, so it is copied once: into the segment.
struct Gather<'a> {
    pieces: &'a [&'a [u8]],
    /// The unread rest of the current piece.
    current: &'a [u8],
}

impl<'a> Gather<'a> {
    fn new(pieces: &'a [&'a [u8]]) -> Self {
        Self {
            pieces,
            current: &[],
        }
    }

    /// The next at most `max` bytes that are contiguous in one piece; empty at the end.
    fn next(&mut self, max: usize) -> &'a [u8] {
        while self.current.is_empty() {
            let Some((first, rest)) = self.pieces.split_first() else {
                return &[];
            };
            self.current = first;
            self.pieces = rest;
        }
        let (now, later) = self.current.split_at(max.min(self.current.len()));
        self.current = later;
        now
    }

    /// Appends the next `n` bytes (fewer if the payload ends) to `out`.
    fn copy_to(&mut self, out: &mut Vec<u8>, mut n: usize) {
        while n > 0 {
            let chunk = self.next(n);
            if chunk.is_empty() {
                return;
            }
            out.extend_from_slice(chunk);
            n -= chunk.len();
        }
    }

    /// Fills `dst` with the next bytes; returns how many there were (fewer at the end).
    fn fill(&mut self, dst: &mut [u8]) -> usize {
        let mut filled = 0;
        while filled < dst.len() {
            let chunk = self.next(dst.len() - filled);
            if chunk.is_empty() {
                break;
            }
            dst[filled..filled + chunk.len()].copy_from_slice(chunk);
            filled += chunk.len();
        }
        filled
    }
}

/// Writes one PES packet (`header` + the concatenated `payload` pieces) as TS packets on
/// `pid_value`.
///
/// `pes_packet_len` is the 16-bit PES_packet_length (§2.4.3.7); 0 ("unbounded") is allowed for
/// video in a TS.
pub fn write_pes(
    out: &mut Vec<u8>,
    pid_value: u16,
    cc: &mut ContinuityCounter,
    header: PesHeader,
    pes_packet_len: u16,
    payload: &[&[u8]],
    flags: PesStartFlags,
) -> Result<(), TsError> {
    let total: usize = payload.iter().map(|p| p.len()).sum();
    let mut gather = Gather::new(payload);
    let pes_header_len = 6
        + 3
        + header.pts.map_or(0, |_| 5)
        + header.dts.map_or(0, |_| 5)
        + header.escr.map_or(0, |_| 6);
    let af_size = adaptation_field_size(&flags);
    let first_room = PACKET_PAYLOAD - af_size - pes_header_len;
    let first_len = first_room.min(total);

    let adaptation_field = if af_size > 0 {
        let pcr = flags
            .pcr
            .map(ClockReference::new)
            .transpose()
            .map_err(|source| TsError::Mux {
                pid: pid_value,
                source,
            })?;
        Some(AdaptationField {
            discontinuity_indicator: false,
            random_access_indicator: flags.random_access,
            es_priority_indicator: false,
            pcr,
            opcr: None,
            splice_countdown: None,
            transport_private_data: Vec::new(),
            extension: None,
        })
    } else {
        None
    };
    // The first and the last packet go through `mpeg2ts` (PES header, adaptation field,
    // stuffing) from a small staging buffer; the full packets between are written directly.
    let mut staged = [0u8; PACKET_PAYLOAD];
    let n = gather.fill(&mut staged[..first_len]);
    let data = Bytes::new(&staged[..n]).map_err(|source| TsError::Mux {
        pid: pid_value,
        source,
    })?;
    let packet = TsPacket {
        header: self::header(pid_value, *cc)?,
        adaptation_field,
        payload: Some(TsPayload::PesStart(Pes {
            header,
            pes_packet_len,
            data,
        })),
    };
    write_packet(out, &packet)?;
    cc.increment();

    let mut left = total - first_len;
    while left >= PACKET_PAYLOAD {
        write_full_continuation_header(out, pid_value, *cc);
        gather.copy_to(out, PACKET_PAYLOAD);
        cc.increment();
        left -= PACKET_PAYLOAD;
    }
    if left > 0 {
        let n = gather.fill(&mut staged[..left]);
        let data = Bytes::new(&staged[..n]).map_err(|source| TsError::Mux {
            pid: pid_value,
            source,
        })?;
        let packet = TsPacket {
            header: self::header(pid_value, *cc)?,
            adaptation_field: None,
            payload: Some(TsPayload::PesContinuation(data)),
        };
        write_packet(out, &packet)?;
        cc.increment();
    }
    Ok(())
}

/// The header of a continuation packet whose payload fills it (no adaptation field),
/// written directly: the bulk of every PES, byte for byte what `mpeg2ts` writes for it
/// (checked by a test), without its per-packet staging copy and writer. The caller appends
/// the 184 payload bytes.
fn write_full_continuation_header(out: &mut Vec<u8>, pid_value: u16, cc: ContinuityCounter) {
    let [pid_hi, pid_lo] = (pid_value & 0x1fff).to_be_bytes();
    // sync byte; no error, no unit start, no priority, PID; not scrambled, payload only, CC.
    out.extend_from_slice(&[0x47, pid_hi, pid_lo, 0x10 | (cc.as_u8() & 0x0f)]);
}

#[cfg(test)]
mod fast_path_tests {
    use super::*;

    /// The direct writer and `mpeg2ts` agree on every PID bit pattern and counter value.
    #[test]
    fn full_continuation_is_what_mpeg2ts_writes() {
        let payload: [u8; PACKET_PAYLOAD] = std::array::from_fn(|i| (i * 7 + 3) as u8);
        for pid_value in [0x0000, 0x0100, 0x0101, 0x1000, 0x1fff, 0x0abc] {
            let mut cc = ContinuityCounter::new();
            for _ in 0..20 {
                let mut fast = Vec::new();
                write_full_continuation_header(&mut fast, pid_value, cc);
                fast.extend_from_slice(&payload);
                let mut slow = Vec::new();
                let packet = TsPacket {
                    header: header(pid_value, cc).unwrap(),
                    adaptation_field: None,
                    payload: Some(TsPayload::PesContinuation(Bytes::new(&payload).unwrap())),
                };
                write_packet(&mut slow, &packet).unwrap();
                assert_eq!(fast, slow, "pid {pid_value:#x} cc {}", cc.as_u8());
                cc.increment();
            }
        }
    }

    fn pes_header() -> PesHeader {
        PesHeader {
            stream_id: mpeg2ts::es::StreamId::new(mpeg2ts::es::StreamId::VIDEO_MIN),
            priority: false,
            data_alignment_indicator: true,
            copyright: false,
            original_or_copy: false,
            pts: Some(mpeg2ts::time::Timestamp::new(90_000).unwrap()),
            dts: None,
            escr: None,
        }
    }

    fn write(pieces: &[&[u8]], flags: PesStartFlags) -> Vec<u8> {
        let mut out = Vec::new();
        let mut cc = ContinuityCounter::new();
        write_pes(&mut out, 0x100, &mut cc, pes_header(), 0, pieces, flags).unwrap();
        out
    }

    proptest::proptest! {
        /// However the payload is cut into pieces (the muxer hands over start codes, NAL
        /// units and parameter sets separately), the packets are those of the whole payload.
        #[test]
        fn pieces_cut_anywhere_give_the_same_packets(
            len in 0usize..2000,
            cuts in proptest::collection::vec(0usize..2000, 0..8),
            pcr in proptest::bool::ANY,
        ) {
            let payload: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
            let flags = PesStartFlags { pcr: pcr.then_some(27_000_000), random_access: pcr };
            let whole = write(&[&payload], flags);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(len)).collect();
            cuts.sort_unstable();
            let mut pieces = Vec::new();
            let mut at = 0;
            for c in cuts {
                pieces.push(&payload[at..c]);
                at = c;
            }
            pieces.push(&payload[at..]);
            proptest::prop_assert_eq!(whole.len() % 188, 0);
            proptest::prop_assert_eq!(write(&pieces, flags), whole);
        }
    }
}
