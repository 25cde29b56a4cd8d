//! MCP specification revisions the harness knows, which one a run judges against, and the two
//! eras of the wire: the legacy one (`initialize`, sessions; up to 2025-11-25) and the stateless
//! modern one (2026-07-28: `_meta` and `Mcp-Method` on every request).

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

impl SpecVersion {
    /// Whether the revision has the stateless (modern) wire.
    pub fn is_modern(self) -> bool {
        self >= SpecVersion::V2026_07_28
    }

    /// The revision a target's protocol version string names, if the harness judges it; an
    /// older dated version (2025-03-26, 2024-11-05) is judged as the oldest revision known here.
    pub fn of_protocol_version(version: &str) -> Option<SpecVersion> {
        if let Some(v) = SpecVersion::ALL.iter().find(|v| v.as_str() == version) {
            return Some(*v);
        }
        let dated = version.len() == 10
            && version.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            });
        (dated && version < SpecVersion::ALL[0].as_str()).then_some(SpecVersion::ALL[0])
    }
}

/// The era of the MCP wire a request belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Era {
    /// `initialize`, then requests in an `Mcp-Session-Id` session (2025-11-25 and earlier).
    Legacy,
    /// Stateless requests carrying `_meta` and `Mcp-Method` (2026-07-28).
    Modern,
}

impl Era {
    pub fn as_str(self) -> &'static str {
        match self {
            Era::Legacy => "legacy",
            Era::Modern => "modern",
        }
    }
}

impl fmt::Display for Era {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_versions_map_to_the_revisions_judged() {
        assert_eq!(
            SpecVersion::of_protocol_version("2025-11-25"),
            Some(SpecVersion::V2025_11_25)
        );
        assert_eq!(
            SpecVersion::of_protocol_version("2025-03-26"),
            Some(SpecVersion::V2025_06_18)
        );
        assert_eq!(SpecVersion::of_protocol_version("2099-01-01"), None);
        assert_eq!(SpecVersion::of_protocol_version("latest"), None);
        assert!(SpecVersion::V2026_07_28.is_modern());
        assert!(!SpecVersion::V2025_11_25.is_modern());
    }
}
