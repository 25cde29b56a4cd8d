//! A mock OAuth 2.1 / OpenID Connect authorization server for tests and local development.
//!
//! It signs access tokens (RS256 with RSA-2048 keys, or deliberately broken ones), publishes a JWKS,
//! answers RFC 7662 introspection and RFC 7009 revocation, can be told to fail, and records every
//! protocol request. It is driven through a Rust API ([`Idp`]) and an HTTP control API under
//! `{issuer}/_control` that offer the same operations (`docs/contracts.md` §1–2).
//!
//! Architecture invariant: this crate knows nothing about MCP.
//!
//! ```no_run
//! # async fn demo() -> Result<(), mock_idp::IdpError> {
//! let server = mock_idp::MockIdp::start(mock_idp::IdpConfig::default()).await?;
//! let token = server.idp().mint(&mock_idp::MintRequest::default())?;
//! println!("{} issued {}", server.issuer(), token.token);
//! server.shutdown().await;
//! # Ok(()) }
//! ```

mod api;
mod authz;
mod clock;
pub mod config;
mod control;
mod error;
pub mod events;
mod faults;
mod host;
mod idp;
mod introspection;
mod json_text;
mod keys;
mod log;
mod names;
mod oauth_error;
mod respond;
mod routes;
mod secret;
mod serve;
mod sync;
mod tokens;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use api::{
    Audience, ClockNow, ClockRequest, Defect, EndpointKind, ExtraJwk, Fault, FaultEndpoint,
    FaultSpec, HostedDocument, Info, IntrospectionOverride, JsonObject, KeyInfo, KeyRef, KeyState,
    MintRequest, MintedToken, RecordedRequest, Refusal, RefusalReason, RevokeGrantRequest,
    RevokeRequest, Rotation, TokenFormat,
};
pub use authz::clients::{AuthMethod, ClientConfig};
pub use authz::redirect::RedirectPolicy;
pub use authz::{AsDefect, AuthzSettings, ConsentMode, Persona, RegistrationMode};
pub use config::{IdpConfig, ServeLimits};
pub use control::CONTROL_ROUTES;
pub use error::IdpError;
pub use idp::Idp;
pub use keys::SigningAlg;

/// One issuer's application, to mount inside another HTTP server whose origin is `issuer` (an
/// MCP server that is its own authorization server). The router serves the protocol endpoints,
/// the discovery documents and the control API at the root of that origin; the caller binds the
/// socket. Must be called inside a Tokio runtime when key rotation is scheduled.
pub fn embedded(config: &IdpConfig, issuer: String) -> Result<(Idp, axum::Router), IdpError> {
    let idp = Idp::new(config, issuer.trim_end_matches('/').to_owned())?;
    if config.authz.key_rotation_secs.is_some() {
        tokio::spawn(idp.clone().run_rotation_schedule());
    }
    let app = routes::app(idp.clone(), None);
    Ok((idp, app))
}

/// [`embedded`] with the issuer at `{origin}/{name}`: the application is nested under
/// `/{name}` and the RFC 8414 and OIDC path-inserted discovery URLs are served at the root.
pub fn embedded_under(
    config: &IdpConfig,
    origin: &str,
    name: &str,
) -> Result<(Idp, axum::Router), IdpError> {
    let issuer = format!("{}/{name}", origin.trim_end_matches('/'));
    let idp = Idp::new(config, issuer)?;
    if config.authz.key_rotation_secs.is_some() {
        tokio::spawn(idp.clone().run_rotation_schedule());
    }
    let app = routes::nested(name, &idp, false);
    Ok((idp, app))
}

/// A running mock IdP. Dropping it stops the server.
pub struct MockIdp {
    idp: Idp,
    /// The issuers besides the root one, by name.
    others: Vec<(String, Idp)>,
    addr: SocketAddr,
    /// The public issuer URL (`http://{addr}` unless configured).
    issuer: String,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for MockIdp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockIdp")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl MockIdp {
    /// Binds `config.addr`, loads or creates the keys, and serves until shut down or dropped.
    /// Must be called inside a Tokio runtime.
    ///
    /// Refuses to listen beyond loopback without [`IdpConfig::control_token`]: the control API
    /// mints any token, changes keys and injects faults.
    pub async fn start(config: IdpConfig) -> Result<MockIdp, IdpError> {
        if config.control_token.as_deref().is_some_and(str::is_empty) {
            return Err(IdpError::InvalidRequest(
                "the control token must not be empty".to_owned(),
            ));
        }
        if !config.addr.ip().is_loopback() && config.control_token.is_none() {
            return Err(IdpError::ControlTokenRequired { addr: config.addr });
        }
        let public = match &config.issuer {
            Some(url) => Some(config::issuer_url(url).map_err(IdpError::InvalidRequest)?),
            None => None,
        };
        let bind_error = |source| IdpError::Bind {
            addr: config.addr,
            source,
        };
        let listener = TcpListener::bind(config.addr).await.map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        // The bound address names the server too (a program in the same container), besides
        // the public issuer URL that clients elsewhere use.
        let bound = format!("http://{addr}");
        let issuer = public.unwrap_or_else(|| bound.clone());
        let answers_to = |url: &str| host::Hosts::of(url).and(host::Hosts::of(&bound));
        let idp = Idp::with_hosts(&config, issuer.clone(), answers_to(&issuer))?;
        let mut others = Vec::new();
        for other in &config.issuers {
            if let Some(problem) = other.name_problem() {
                return Err(IdpError::InvalidRequest(problem));
            }
            let url = match &other.issuer {
                Some(url) => config::issuer_url(url).map_err(IdpError::InvalidRequest)?,
                None => format!("{issuer}/{}", other.name),
            };
            let own = IdpConfig {
                state_dir: config.state_dir.as_ref().map(|d| d.join(&other.name)),
                default_audience: other.audience.clone(),
                authz: other.authz.clone(),
                issuers: Vec::new(),
                ..config.clone()
            };
            let hosts = answers_to(&url);
            others.push((other.name.clone(), Idp::with_hosts(&own, url, hosts)?));
        }
        for scheduled in std::iter::once(&idp).chain(others.iter().map(|(_, i)| i)) {
            tokio::spawn(scheduled.clone().run_rotation_schedule());
        }
        let (shutdown, stop) = oneshot::channel::<()>();
        let limits = config.limits;
        // Serving only ends by the shutdown signal; it reports no errors.
        let task = if others.is_empty() {
            let app = routes::served_alone(idp.clone());
            tokio::spawn(serve::serve(listener, app, limits, stop))
        } else {
            let app = routes::app_with_issuers(idp.clone(), &others);
            tokio::spawn(serve::serve(listener, app, limits, stop))
        };
        Ok(MockIdp {
            idp,
            others,
            addr,
            issuer,
            shutdown: Some(shutdown),
            task: Some(task),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The issuer: [`IdpConfig::issuer`] when set, else `http://127.0.0.1:PORT` (the bound
    /// address); no trailing slash.
    pub fn issuer(&self) -> String {
        self.issuer.clone()
    }

    /// `{issuer}/jwks`.
    pub fn jwks_uri(&self) -> String {
        format!("{}/jwks", self.issuer())
    }

    /// `{issuer}/token`.
    pub fn token_endpoint(&self) -> String {
        format!("{}/token", self.issuer())
    }

    /// `{issuer}/introspect`.
    pub fn introspection_endpoint(&self) -> String {
        format!("{}/introspect", self.issuer())
    }

    /// `{issuer}/revoke`.
    pub fn revocation_endpoint(&self) -> String {
        format!("{}/revoke", self.issuer())
    }

    /// `{issuer}/_control`.
    pub fn control_url(&self) -> String {
        format!("{}/_control", self.issuer())
    }

    /// The Rust API: the same operations as the control API.
    pub fn idp(&self) -> &Idp {
        &self.idp
    }

    /// Another issuer's Rust API, by name.
    pub fn issuer_idp(&self, name: &str) -> Option<&Idp> {
        self.others.iter().find(|(n, _)| n == name).map(|(_, i)| i)
    }

    /// The names of the issuers besides the root one, in configuration order.
    pub fn issuer_names(&self) -> impl Iterator<Item = &str> {
        self.others.iter().map(|(n, _)| n.as_str())
    }

    /// Stops accepting connections, releases held (`hang`) requests, and waits up to 5 s for
    /// in-flight requests to finish.
    pub async fn shutdown(mut self) {
        self.signal_stop();
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }

    fn signal_stop(&mut self) {
        self.idp.stop();
        for (_, other) in &self.others {
            other.stop();
        }
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

impl Drop for MockIdp {
    fn drop(&mut self) {
        self.signal_stop();
    }
}

/// The README's "Use mock-idp from Rust tests" example, run by `cargo test` as a doctest so that
/// the code users copy keeps compiling and passing (the doctest also holds the README to it).
#[cfg(doctest)]
#[doc = include_str!("../../docs/recipes/mock-idp-in-rust-tests.md")]
pub struct RustTestsExample;
