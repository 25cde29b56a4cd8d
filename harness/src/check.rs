//! The vocabulary of a verdict: levels, target modes, outcomes.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How strongly the source requires a behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    Must,
    Should,
    May,
    Info,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Must => "MUST",
            Level::Should => "SHOULD",
            Level::May => "MAY",
            Level::Info => "INFO",
        })
    }
}

/// What kind of MCP server the target is (see ARCHITECTURE.md, "Target modes").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Mode {
    /// A pure token verifier: no protected-resource metadata.
    A,
    /// A resource server whose metadata points at an external authorization server.
    B,
    /// An MCP server that is its own authorization server.
    C,
    /// An OAuth proxy in front of an upstream identity provider.
    D,
}

impl Mode {
    pub fn describe(self) -> &'static str {
        match self {
            Mode::A => "A (token verifier without protected-resource metadata)",
            Mode::B => {
                "B (resource server with metadata pointing at an external authorization server)"
            }
            Mode::C => "C (MCP server that is its own authorization server)",
            Mode::D => "D (OAuth proxy in front of an upstream identity provider)",
        }
    }
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "A" => Ok(Mode::A),
            "B" => Ok(Mode::B),
            "C" => Ok(Mode::C),
            "D" => Ok(Mode::D),
            _ => Err(format!("unknown mode {s:?}; expected A, B, C or D")),
        }
    }
}

/// How the target validates access tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Validation {
    /// Local JWT validation against the IdP's JWKS.
    Jwt,
    /// RFC 7662 introspection at the IdP.
    Introspection,
    /// A fixed list of pre-shared tokens (a static verifier, API keys): no IdP is consulted, so
    /// the token-validation checks do not apply.
    PreShared,
    /// Tokens issued by the target's own authorization server or proxy (modes C and D): the
    /// harness cannot mint tokens the target accepts, so the token-validation checks do not apply.
    OwnTokens,
}

impl std::str::FromStr for Validation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "jwt" => Ok(Validation::Jwt),
            "introspection" => Ok(Validation::Introspection),
            "pre-shared" => Ok(Validation::PreShared),
            "own-tokens" => Ok(Validation::OwnTokens),
            _ => Err(format!(
                "unknown validation {s:?}; expected jwt, introspection, pre-shared or own-tokens"
            )),
        }
    }
}

/// The outcome of one check against one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Pass,
    Fail,
    /// Passed, with a remark worth reading (e.g. a tolerated status code).
    Warn,
    /// Does not apply to this target, mode or revision.
    Skip,
    /// Applies, but could not be judged (e.g. the valid token was refused).
    NotTestable,
    /// What an informational check found: worth reading, never counted against the target (an
    /// INFO check never fails).
    Info,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Warn => "warn",
            Status::Skip => "skip",
            Status::NotTestable => "not-testable",
            Status::Info => "info",
        })
    }
}

/// A section of a specification or RFC that a check enforces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    /// A short citation, e.g. `RFC 6750 §3.1` or `MCP 2025-06-18 Authorization: Token Handling`.
    pub id: String,
    pub url: String,
}
