//! The chunk guard never panics, and gives the same verdict (the same error, or the same
//! number of whole messages) for the input whole and cut in two at position `data[0]`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zonecast_ingest::rtmp::{ChunkGuard, RtmpLimits};

fn limits() -> RtmpLimits {
    // Small limits, so the fuzzer reaches every refusal.
    RtmpLimits {
        max_message_bytes: 4096,
        max_chunk_size: 1024,
        max_partial_messages: 4,
        max_buffered_bytes: 8192,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, input)) = data.split_first() else {
        return;
    };
    let mut whole = ChunkGuard::new(limits());
    let a = whole.push(input).map(|()| whole.messages());
    let cut = usize::from(cut).min(input.len());
    let mut split = ChunkGuard::new(limits());
    let b = split
        .push(&input[..cut])
        .and_then(|()| split.push(&input[cut..]))
        .map(|()| split.messages());
    assert_eq!(a, b, "cut at {cut}");
});
