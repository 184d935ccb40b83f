//! `StreamKey::parse` (the one parser of a publish's `stream?query`) never panics on any key;
//! a key it accepts names only `[A-Za-z0-9_-]{1,64}` components, and the key a relay
//! publishes with parses again to the same name and token, marked as relayed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zonecast_contract::{Az, StreamKey};

fuzz_target!(|data: &[u8]| {
    let Ok(key) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(parsed) = StreamKey::parse("live", key) else {
        return;
    };
    let name = parsed.name();
    for part in [name.app(), name.stream()]
        .into_iter()
        .chain(name.rendition())
    {
        assert!(!part.is_empty() && part.len() <= 64);
        assert!(
            part.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        );
    }
    let _ = parsed.token();
    for token in [None, Some("1.a+b&c=d")] {
        let relayed = parsed.relayed(Az::Az2, token);
        let again = StreamKey::parse("live", &relayed).expect("a relayed key parses");
        assert_eq!(again.name(), parsed.name());
        assert_eq!(again.relayed_from(), Some(Some(Az::Az2)));
        match token {
            Some(t) => assert_eq!(again.token(), Ok(Some(t))),
            None => assert_eq!(again.token(), parsed.token()),
        }
    }
});
