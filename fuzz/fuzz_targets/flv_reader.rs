//! FlvReader never panics, and yields the same tags (or the same first error) whether the
//! input arrives whole or cut in two at `data[0]`: the split-point independence of retina's
//! round-trip fuzz target.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zonecast_ingest::media::flv::{FlvError, FlvReader, FlvTag};

/// Pushes each chunk and pulls after each, until the first error.
fn parse(chunks: &[&[u8]]) -> Vec<Result<FlvTag, FlvError>> {
    let mut reader = FlvReader::default();
    let mut out = Vec::new();
    for chunk in chunks {
        reader.push(chunk);
        loop {
            match reader.pull() {
                Ok(Some(tag)) => out.push(Ok(tag)),
                Ok(None) => break,
                Err(e) => {
                    out.push(Err(e));
                    return out;
                }
            }
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let whole = parse(&[data]);
    let cut = data.first().map_or(0, |&b| usize::from(b)).min(data.len());
    let (a, b) = data.split_at(cut);
    let split = parse(&[a, b]);
    assert_eq!(whole, split, "split at {cut}");
});
