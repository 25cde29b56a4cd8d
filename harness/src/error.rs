//! Errors of the harness itself, and the documented exit codes.
//!
//! A non-conformant target is never an error: it produces findings. `HarnessError` means the
//! harness could not do its job (bad arguments, a broken scenario file, an IdP that will not start).

/// Exit codes of the `mcp-auth-conformance` binary.
pub mod exit_code {
    /// Every applicable MUST check passed (or is an expected failure).
    pub const CONFORMANT: i32 = 0;
    /// At least one applicable MUST check failed or could not be tested.
    pub const NON_CONFORMANT: i32 = 1;
    /// Bad command line or a malformed scenario file.
    pub const USAGE: i32 = 2;
    /// The target could not be reached at all.
    pub const TARGET_UNREACHABLE: i32 = 3;
    /// The harness failed (mock IdP would not start, internal error).
    pub const INTERNAL: i32 = 4;
}

#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Scenario(String),
    #[error("mock IdP: {0}")]
    Idp(String),
    #[error("target {url} is unreachable: {reason}")]
    TargetUnreachable { url: String, reason: String },
    #[error("{0}")]
    Internal(String),
}

impl HarnessError {
    pub fn exit_code(&self) -> i32 {
        match self {
            HarnessError::Usage(_) | HarnessError::Scenario(_) => exit_code::USAGE,
            HarnessError::TargetUnreachable { .. } => exit_code::TARGET_UNREACHABLE,
            HarnessError::Idp(_) | HarnessError::Internal(_) => exit_code::INTERNAL,
        }
    }
}
