//! The relay's RTMP client never panics and never lets rml_rtmp's panics escape, whatever the
//! peer answers, cut anywhere: bytes are fed in chunks whose sizes come from the input itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zonecast_ingest::relay::RelayClient;

fuzz_target!(|data: &[u8]| {
    let Ok((mut client, _c0c1)) =
        RelayClient::start("127.0.0.1:1935", "live", "show?zonecast-relay=az1")
    else {
        return;
    };
    let (sizes, mut rest) = data.split_at(data.len().min(8));
    for &size in sizes.iter().cycle().take(64) {
        if rest.is_empty() {
            break;
        }
        let n = usize::from(size).max(1).min(rest.len());
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        if client.handle_input(chunk).is_err() {
            return;
        }
    }
});
