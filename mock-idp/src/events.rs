//! The log line of each protocol request, as `tracing` events: the library emits them, and
//! whoever runs it decides whether anything listens (the binary installs a subscriber that
//! `RUST_LOG` filters; a library user can install their own, or none).
//!
//! One event per protocol request, at INFO under the target `mock_idp::request`, with the
//! method and path as its message and stable fields: `seq` (its number in the request log),
//! `status`, `outcome` (`ok`, `refused`, `fault`, `error`), `client` when the request names one,
//! and for a refusal `reason` (a [`RefusalReason`](crate::RefusalReason) name), `error` and
//! `description`; for an injected fault, `fault`.
//!
//! Nothing is formatted unless a subscriber wants the event: the recorder asks `enabled` first
//! (one cached check of the callsite's interest) and only then reads the client from the
//! request or builds the line.

use crate::api::Refusal;

/// The target of the per-request events (`RUST_LOG=mock_idp::request=info`).
pub const TARGET: &str = "mock_idp::request";

/// Whether anything listens to the per-request events.
pub(crate) fn enabled() -> bool {
    tracing::enabled!(target: TARGET, tracing::Level::INFO)
}

/// What one answered request says in its log line.
#[derive(Debug)]
pub(crate) struct Line<'a> {
    pub(crate) seq: u64,
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    pub(crate) status: u16,
    pub(crate) client: Option<&'a str>,
    pub(crate) refusal: Option<&'a Refusal>,
    /// The injected fault that shaped the answer, if one did.
    pub(crate) fault: Option<&'static str>,
}

impl Line<'_> {
    fn outcome(&self) -> &'static str {
        if self.fault.is_some() {
            "fault"
        } else if self.refusal.is_some() {
            "refused"
        } else if self.status >= 500 {
            "error"
        } else {
            "ok"
        }
    }
}

/// Emits the line. User-controlled values (`client`, `description`) are recorded as strings,
/// which subscribers quote and escape, so a client id with a line break cannot forge a line.
pub(crate) fn emit(line: &Line<'_>) {
    let outcome = line.outcome();
    match line.refusal {
        Some(refusal) => tracing::info!(
            target: TARGET,
            seq = line.seq,
            status = line.status,
            outcome,
            client = line.client,
            reason = refusal.reason.name(),
            error = refusal.error.as_str(),
            description = refusal.description.as_deref(),
            fault = line.fault,
            "{} {}",
            line.method,
            line.path,
        ),
        None => tracing::info!(
            target: TARGET,
            seq = line.seq,
            status = line.status,
            outcome,
            client = line.client,
            fault = line.fault,
            "{} {}",
            line.method,
            line.path,
        ),
    }
}
