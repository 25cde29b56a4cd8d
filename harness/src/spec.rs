//! MCP specification revisions the harness knows, and which one a run judges against.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A dated MCP revision with an authorization chapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SpecVersion {
    #[serde(rename = "2025-06-18")]
    V2025_06_18,
    #[serde(rename = "2025-11-25")]
    V2025_11_25,
    #[serde(rename = "2026-07-28")]
    V2026_07_28,
}

impl SpecVersion {
    pub const ALL: &'static [SpecVersion] = &[
        SpecVersion::V2025_06_18,
        SpecVersion::V2025_11_25,
        SpecVersion::V2026_07_28,
    ];
    pub const LATEST: SpecVersion = SpecVersion::V2026_07_28;

    pub fn as_str(self) -> &'static str {
        match self {
            SpecVersion::V2025_06_18 => "2025-06-18",
            SpecVersion::V2025_11_25 => "2025-11-25",
            SpecVersion::V2026_07_28 => "2026-07-28",
        }
    }
}

impl fmt::Display for SpecVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SpecVersion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SpecVersion::ALL
            .iter()
            .copied()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<_> = SpecVersion::ALL.iter().map(|v| v.as_str()).collect();
                format!("unknown MCP revision {s:?}; known: {}", known.join(", "))
            })
    }
}
