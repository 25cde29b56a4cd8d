//! The harness as an OAuth client: the login flow real MCP clients run against an authorization
//! server or an OAuth proxy ([`flow`]), walking its pages with the [`crate::browser`]. Checks of
//! authorization servers build on the flow's results.

pub mod flow;
