//! mcp-auth-conformance: judges whether an MCP server's OAuth 2.1 authorization works for real
//! clients and refuses the tokens it must refuse.
//!
//! The flow of a run ([`run()`]): [`discovery`] probes the target and runs the positive control,
//! [`runner`] runs the checks described by [`scenario`] files (request steps, and the probes of
//! [`checks`] registered under their check IDs), and [`report`] renders the verdicts. Only
//! [`target`] sends HTTP to the target; [`idp`] drives the mock IdP through its control API.
//!
//! The modules form layers, each using only those below it (ARCHITECTURE.md, "Layers"):
//! `cli` → `run` → `runner` → `checks` → `discovery` → `oauth` → `context` →
//! `browser`, `mcp`, `idp`, `restart` → `target`, `spawn`, `wellknown`, `report`, `baseline`,
//! `scenario` → the vocabulary (`verdict`, `check`, `spec`, `error`, `challenge`, `redact`, `rpc`).

pub mod baseline;
pub mod browser;
pub mod challenge;
pub mod check;
pub mod checks;
pub mod cli;
pub mod context;
pub mod discovery;
pub mod error;
pub mod idp;
pub mod mcp;
pub mod oauth;
pub mod poll;
pub mod redact;
pub mod report;
pub mod restart;
pub mod rpc;
pub mod run;
pub mod runner;
pub mod scenario;
pub mod spawn;
pub mod spec;
pub mod target;
#[cfg(test)]
mod testkit;
pub mod urls;
pub mod verdict;
pub mod wellknown;

pub use baseline::Baseline;
pub use context::{Options, Progress};
pub use error::{HarnessError, exit_code};
pub use report::Report;
pub use run::{RunConfig, load_catalogue, run};
pub use scenario::Catalogue;
pub use spec::SpecVersion;
pub use target::Limits;
