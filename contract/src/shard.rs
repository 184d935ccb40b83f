//! Sharding streams over instance pairs (README.md, "Capacity of one instance pair, and
//! scaling out"): with K pairs, stream `app/stream` is published to pair
//! `FNV-1a-64("app/stream") mod K`. One rule, here: the ingest refuses a stream of another
//! pair with it, and whatever hands an encoder its URLs computes it the same way.
//!
//! Only the write path is sharded. Every pair writes the same keys ([`crate::keys`]) to the
//! same bucket, and the read path looks a stream up by its name alone, so it neither knows nor
//! cares how many pairs there are.
//!
//! The hash is FNV-1a 64 (not std's `DefaultHasher`, whose keys are random per process and
//! whose algorithm may change between Rust releases): the mapping must be the same on every
//! instance, in every build, forever. A rendition (`live/show/720p`) goes where its stream
//! goes: all renditions of a stream are packaged by one pair.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::StreamName;

const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a, 64 bits (draft-eastlake-fnv §2), over `bytes`.
pub fn fnv1a64(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(FNV_OFFSET_BASIS, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(FNV_PRIME)
    })
}

/// The pair (`0..count`) that publishes `app/stream`. `count` 0 is treated as 1.
pub fn pair_for(app: &str, stream: &str, count: u16) -> u16 {
    let key = app.bytes().chain(*b"/").chain(stream.bytes());
    // The remainder is below `count`, so it fits.
    (fnv1a64(key) % u64::from(count.max(1))) as u16
}

/// The pair that publishes `name` (its stream's: renditions follow their stream).
pub fn pair_of(name: &StreamName, count: u16) -> u16 {
    pair_for(name.app(), name.stream(), count)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    #[error("shard {0:?} is not k/K (e.g. 0/2: pair 0 of 2)")]
    Malformed(String),
    #[error("shard count is 0: there is at least one pair")]
    NoPairs,
    #[error("shard index {index} is not below the count {count} (pairs are 0..{count})")]
    IndexOutOfRange { index: u16, count: u16 },
}

/// Which pair this ingest is, of how many: `k/K`, `0 <= k < K`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ShardSpec {
    index: u16,
    count: u16,
}

impl ShardSpec {
    pub fn new(index: u16, count: u16) -> Result<Self, ShardError> {
        if count == 0 {
            return Err(ShardError::NoPairs);
        }
        if index >= count {
            return Err(ShardError::IndexOutOfRange { index, count });
        }
        Ok(Self { index, count })
    }

    pub fn index(self) -> u16 {
        self.index
    }

    pub fn count(self) -> u16 {
        self.count
    }

    /// Whether this pair publishes `name`.
    pub fn owns(self, name: &StreamName) -> bool {
        pair_of(name, self.count) == self.index
    }
}

/// `1/2`.
impl fmt::Display for ShardSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for ShardSpec {
    type Err = ShardError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let malformed = || ShardError::Malformed(s.chars().take(40).collect());
        let (index, count) = s.trim().split_once('/').ok_or_else(malformed)?;
        let parse = |n: &str| n.parse::<u16>().map_err(|_| malformed());
        Self::new(parse(index)?, parse(count)?)
    }
}

impl TryFrom<String> for ShardSpec {
    type Error = ShardError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<ShardSpec> for String {
    fn from(s: ShardSpec) -> Self {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a64_matches_the_reference_vectors() {
        // draft-eastlake-fnv, test vectors for FNV-1a 64.
        assert_eq!(fnv1a64(*b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(*b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(*b"foobar"), 0x8594_4171_f739_67e8);
    }

    /// Golden values: a change here moves live streams to other pairs. Don't.
    #[test]
    fn the_mapping_never_changes() {
        // Computed independently (a few lines of Python over the same bytes).
        assert_eq!(fnv1a64(*b"live/show"), 0xf89d_c1ac_2bee_2fd9);
        let cases = [
            ("live", "show", 2, 1),
            ("live", "show1", 2, 0),
            ("live", "show", 3, 1),
            ("live", "news", 2, 1),
            ("live", "sport-1", 4, 0),
        ];
        for (app, stream, count, pair) in cases {
            assert_eq!(
                pair_for(app, stream, count),
                pair,
                "{app}/{stream} of {count}"
            );
        }
        assert_eq!(pair_for("live", "show", 1), 0);
        assert_eq!(pair_for("live", "show", 0), 0);
    }

    #[test]
    fn renditions_follow_their_stream() {
        let show = StreamName::new("live", "show").unwrap();
        for count in 1..20 {
            let r = show.with_rendition("720p").unwrap();
            assert_eq!(pair_of(&r, count), pair_of(&show, count));
        }
    }

    #[test]
    fn every_stream_has_exactly_one_pair() {
        let names: Vec<StreamName> = (0..200)
            .map(|i| StreamName::new("live", &format!("s{i}")).unwrap())
            .collect();
        for count in 1..6 {
            let specs: Vec<ShardSpec> = (0..count)
                .map(|k| ShardSpec::new(k, count).unwrap())
                .collect();
            for name in &names {
                let owners = specs.iter().filter(|s| s.owns(name)).count();
                assert_eq!(owners, 1, "{name} with {count} pairs");
            }
            // Spread: with 200 names, no pair is empty.
            for s in &specs {
                assert!(names.iter().any(|n| s.owns(n)), "pair {s} gets nothing");
            }
        }
    }

    #[test]
    fn parse_and_display() {
        let s: ShardSpec = "1/2".parse().unwrap();
        assert_eq!((s.index(), s.count()), (1, 2));
        assert_eq!(s.to_string(), "1/2");
        assert_eq!(" 0/1 ".parse::<ShardSpec>(), ShardSpec::new(0, 1));
        assert_eq!(
            "2/2".parse::<ShardSpec>(),
            Err(ShardError::IndexOutOfRange { index: 2, count: 2 })
        );
        assert_eq!("0/0".parse::<ShardSpec>(), Err(ShardError::NoPairs));
        for bad in ["", "1", "1/", "/2", "a/2", "1/2/3", "-1/2", "0/70000"] {
            assert!(
                matches!(bad.parse::<ShardSpec>(), Err(ShardError::Malformed(_))),
                "{bad:?}"
            );
        }
        let json: ShardSpec = serde_json::from_str("\"0/3\"").unwrap();
        assert_eq!(json, ShardSpec::new(0, 3).unwrap());
        assert_eq!(serde_json::to_string(&json).unwrap(), "\"0/3\"");
        assert!(serde_json::from_str::<ShardSpec>("\"3/3\"").is_err());
    }
}
