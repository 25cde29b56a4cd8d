//! A headless browser for authorization walks: the user agent ([`agent`]) that follows redirects
//! and keeps cookies, the reading of login and consent pages ([`html`]), and the test account it
//! logs in with ([`login`]).

pub mod agent;
pub mod html;
pub mod login;
