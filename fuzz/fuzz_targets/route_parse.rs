//! `Route::parse` (the playlist function's path router) never panics on any path, and a path
//! it accepts names only `[A-Za-z0-9_-]{1,64}` components (app, stream and rendition): nothing
//! hostile reaches an S3 key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zonecast_contract::Route;

fuzz_target!(|data: &[u8]| {
    let Ok(path) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(route) = Route::parse(path) {
        let name = route.name();
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
    }
});
