//! The whole media path (FLV demux, segment clock, TS mux) never panics and never gives up on
//! a publish, whatever tags arrive: malformed, unsupported, out of order, configs changing,
//! timestamps jumping. Every segment is whole TS packets, numbers are consecutive, and an
//! index names only segments put before it.
//!
//! Input layout: repeated `[kind, ts_step, len, body[len]]`; kind bit 0 picks audio or video,
//! bit 1 makes the timestamp step backwards, `ts_step * 7` ms is the step.
#![no_main]

use std::collections::HashSet;

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use zonecast_contract::{Az, StreamName, StreamState};
use zonecast_ingest::media::packager::{Packager, PackagerConfig, PackagerEffect};

fuzz_target!(|data: &[u8]| {
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let mut p = Packager::new(
        PackagerConfig {
            az: Az::Az1,
            target_ms: 500,
            window: 4,
        },
        StreamName::new("live", "fuzz").unwrap(),
        "fuzz".into(),
        None,
        None,
        start,
    );
    let mut effects = Vec::new();
    let mut rest = data;
    let mut ts: u32 = 0;
    while let [kind, step, len, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        let (body, next) = tail.split_at(len);
        let body = &bytes::Bytes::copy_from_slice(body);
        let step = u32::from(*step) * 7;
        ts = if kind & 2 == 0 {
            ts.wrapping_add(step)
        } else {
            ts.wrapping_sub(step)
        };
        let now = start + chrono::Duration::milliseconds(i64::from(ts));
        let out = if kind & 1 == 0 {
            p.push_video(ts, body, now)
        } else {
            p.push_audio(ts, body, now)
        };
        effects.extend(out.expect("no tag ends a publish"));
        rest = next;
    }
    effects.extend(p.finish(StreamState::Ended, start));
    let mut put = HashSet::new();
    let mut last_msn = None;
    for e in effects {
        match e {
            PackagerEffect::PutSegment { msn, bytes } => {
                assert_eq!(bytes.len() % 188, 0);
                if let Some(last) = last_msn {
                    assert!(msn > last, "segment numbers go up");
                }
                last_msn = Some(msn);
                put.insert(msn);
            }
            PackagerEffect::PutIndex { index } => {
                for s in &index.segments {
                    assert!(put.contains(&s.msn), "index names {} before its put", s.msn);
                }
            }
        }
    }
});
