//! The harness as an OAuth client: a headless user agent ([`agent`]) that reads login and consent
//! pages ([`html`]), and the login flow real MCP clients run against an authorization server or
//! an OAuth proxy ([`flow`]). Checks of authorization servers build on the flow's results.

pub mod agent;
pub mod flow;
pub mod html;
