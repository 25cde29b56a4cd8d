//! The headless user agent on login and consent pages shaped like the ones real servers serve
//! (FastMCP's consent page, a Keycloak login, a login in two steps, a page full of decoys), walked
//! through real loopback servers, with what it submitted kept as expect-test snapshots; its
//! cookies across the ports of one host; and whole runs, from the library and from the binary,
//! with a test account whose values no report format may show.

mod cli;
mod pages;
mod redaction;
mod stage;
