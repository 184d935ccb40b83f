//! Availability zones. ZoneCast runs exactly two packagers, one per AZ; each writes only
//! under its own prefix.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Az {
    Az1,
    Az2,
}

impl Az {
    pub const ALL: [Az; 2] = [Az::Az1, Az::Az2];

    pub fn as_str(self) -> &'static str {
        match self {
            Az::Az1 => "az1",
            Az::Az2 => "az2",
        }
    }

    /// The other AZ: the one a viewer fails over to, and whose index a late ingest reads.
    pub fn peer(self) -> Az {
        match self {
            Az::Az1 => Az::Az2,
            Az::Az2 => Az::Az1,
        }
    }
}

impl fmt::Display for Az {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown AZ {0:?}: expected az1 or az2")]
pub struct AzError(pub String);

impl FromStr for Az {
    type Err = AzError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "az1" => Ok(Az::Az1),
            "az2" => Ok(Az::Az2),
            _ => Err(AzError(s.chars().take(40).collect())),
        }
    }
}
