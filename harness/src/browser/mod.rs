//! A headless browser for authorization walks: the user agent ([`agent`]) that follows redirects
//! and keeps cookies, and the reading of login and consent pages ([`html`]).

pub mod agent;
pub mod html;
