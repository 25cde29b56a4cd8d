//! The reference target: an MCP server (Streamable HTTP) with correct OAuth 2.1 bearer-token
//! auth, plus [`Variant`]s that each break exactly one rule.
//!
//! It is test equipment for the conformance harness: the conformant variants must pass every
//! check, and every fault variant must be caught by the check written for its rule. [`serve`]
//! starts a target on a socket; the `reference-target` binary wraps it for the command line.
//!
//! Layout: `variant` (the closed set of behaviours), `http` (bounded reads of outbound answers), `auth` (middleware and token validation),
//! `jwks` (key set cache), `introspection` (RFC 7662 client), `challenge` (`WWW-Authenticate`
//! rendering), `operation` (what a request asks for, and the scopes it needs), `prm` (RFC 9728
//! metadata), `mcp` (the rmcp server).

pub mod auth;
pub mod challenge;
pub mod dpop;
pub mod http;
pub mod introspection;
pub mod jwks;
pub mod mcp;
pub mod operation;
pub mod prm;
pub mod proxy;
pub mod variant;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rmcp::transport::streamable_http_server::StreamableHttpServerConfig;

pub use auth::AuthInfo;
pub use variant::{UnknownVariant, ValidationKind, Variant};

/// How the target decides whether an access token is valid.
#[derive(Clone, PartialEq, Eq)]
pub enum Trust {
    /// Validate JWT access tokens locally with keys from this JWKS URL.
    Jwt {
        /// The issuer's JWKS URL.
        jwks_uri: String,
    },
    /// Ask the issuer's RFC 7662 introspection endpoint about every token.
    Introspection {
        /// The introspection endpoint URL.
        endpoint: String,
        /// The client id the target authenticates with.
        client_id: String,
        /// The client secret the target authenticates with.
        client_secret: String,
    },
}

// Written by hand so that debug output (logs, test failures) never shows the client secret.
impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trust::Jwt { jwks_uri } => f.debug_struct("Jwt").field("jwks_uri", jwks_uri).finish(),
            Trust::Introspection {
                endpoint,
                client_id,
                client_secret: _,
            } => f
                .debug_struct("Introspection")
                .field("endpoint", endpoint)
                .field("client_id", client_id)
                .field("client_secret", &"<redacted>")
                .finish(),
        }
    }
}

/// Configuration of one target.
#[derive(Debug, Clone)]
pub struct TargetConfig {
    /// Where to listen; default `127.0.0.1:0` (an ephemeral port).
    pub addr: SocketAddr,
    /// The path of the MCP endpoint; default `/mcp`.
    pub mcp_path: String,
    /// The trusted issuer, compared exactly with `iss`.
    pub issuer: String,
    /// How tokens are validated.
    pub trust: Trust,
    /// The audience tokens must carry; `None` means the MCP endpoint URL,
    /// e.g. `http://127.0.0.1:PORT/mcp`.
    pub audience: Option<String>,
    /// Scopes every request needs; default `["mcp:tools"]`.
    pub required_scopes: Vec<String>,
    /// The behaviour to run with.
    pub variant: Variant,
    /// The minimum gap between JWKS refetches caused by unknown key ids; default 200 ms.
    pub jwks_min_refetch: Duration,
}

/// The default issuer: where the mock IdP listens by default.
pub const DEFAULT_ISSUER: &str = "http://127.0.0.1:9400";

impl Default for TargetConfig {
    fn default() -> Self {
        TargetConfig {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            mcp_path: "/mcp".to_owned(),
            issuer: DEFAULT_ISSUER.to_owned(),
            trust: Trust::Jwt {
                jwks_uri: format!("{DEFAULT_ISSUER}/jwks"),
            },
            audience: None,
            required_scopes: vec!["mcp:tools".to_owned()],
            variant: Variant::Conformant,
            jwks_min_refetch: Duration::from_millis(200),
        }
    }
}

/// A running target. Dropping it stops the server too; [`RunningTarget::shutdown`] also waits.
pub struct RunningTarget {
    addr: SocketAddr,
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningTarget {
    /// The MCP endpoint URL, e.g. `http://127.0.0.1:PORT/mcp`.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections, ends all MCP sessions and waits (up to 5 s) for the
    /// server to finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let task = &mut self.task;
        if tokio::time::timeout(Duration::from_secs(5), &mut *task)
            .await
            .is_err()
        {
            task.abort();
        }
    }
}

impl Drop for RunningTarget {
    fn drop(&mut self) {
        // Dropping the sender wakes the shutdown signal, which stops the server gracefully.
        self.stop.take();
    }
}

/// Binds `config.addr` and serves the target until [`RunningTarget::shutdown`] (or drop).
pub async fn serve(config: TargetConfig) -> anyhow::Result<RunningTarget> {
    // Checked here because axum panics on route paths it cannot parse.
    let path = &config.mcp_path;
    if !path.starts_with('/') || path.contains("//") || path.contains(['{', '}', '*', '?', '#']) {
        bail!("mcp_path must be a plain absolute path like /mcp, got {path:?}");
    }
    if path.starts_with("/.well-known/") {
        bail!("mcp_path must not be under /.well-known/, got {path:?}");
    }
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("binding {}", config.addr))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    let origin = format!("http://{addr}");
    let url = format!("{origin}{}", config.mcp_path);
    let audience = config.audience.clone().unwrap_or_else(|| url.clone());
    let variant = config.variant;
    // The `as-*` variants are their own authorization server: the mock IdP's, mounted at the
    // target's origin, trusted through its JWKS at that origin.
    let mut config = config;
    let mut revocation = None;
    let mut upstream_session = None;
    // A proxy's upstream is the identity provider the target was configured with, which also
    // serves the downstream API the `call_downstream` tool calls.
    let upstream_issuer = config.issuer.clone();
    let downstream = format!("{}/downstream", upstream_issuer.trim_end_matches('/'));
    let embedded_as = if variant.is_authorization_server() {
        let (idp, mut router) = embedded_authorization_server(variant, &origin, &url)?;
        revocation = Some(idp);
        if variant.is_proxy() {
            let upstream = proxy::Upstream {
                issuer: upstream_issuer.clone(),
                callback: format!("{origin}{}", proxy::CALLBACK_PATH),
                resource: url.clone(),
                scope: config.required_scopes.join(" "),
            };
            let state = Arc::new(proxy::ProxyState::new(upstream, variant, origin.clone())?);
            upstream_session = Some(state.clone());
            router = Router::new()
                .route(proxy::CALLBACK_PATH, get(proxy::callback))
                .with_state(state.clone())
                .merge(router)
                .layer(axum::middleware::from_fn_with_state(state, proxy::divert));
        }
        let issuer = if variant.issuer_under_path() {
            format!("{origin}/oauth")
        } else {
            origin.clone()
        };
        config.trust = Trust::Jwt {
            jwks_uri: format!("{issuer}/jwks"),
        };
        config.issuer = issuer;
        Some(router)
    } else {
        None
    };

    // One client for all outbound calls: no redirects (a redirected JWKS or introspection
    // answer is refused), no proxy (everything is loopback), and per-request time limits.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(2))
        .build()
        .context("building the HTTP client")?;
    let tool_client = client.clone();
    let verifier = match config.trust.clone() {
        Trust::Jwt { jwks_uri } => auth::Verifier::Jwt(jwks::JwksCache::new(
            jwks_uri,
            client,
            config.jwks_min_refetch,
            variant,
        )),
        Trust::Introspection {
            endpoint,
            client_id,
            client_secret,
        } => auth::Verifier::Introspection(introspection::Introspector::new(
            endpoint,
            client_id,
            client_secret,
            client,
            variant,
        )),
    };

    let prm_plan = prm::plan(
        variant,
        &origin,
        &config.mcp_path,
        &audience,
        &config.issuer,
    );
    let mut required_scopes = config.required_scopes.clone();
    // offline-access-advertised: refresh tokens are a client's concern, not a scope the resource
    // needs (MCP 2026-07-28, Authorization: Refresh Tokens); this target asks for it anyway.
    if variant == Variant::OfflineAccessAdvertised {
        required_scopes.push("offline_access".to_owned());
    }
    let mut auth_state = auth::AuthState::new(
        variant,
        config.issuer.clone(),
        audience,
        required_scopes,
        prm_plan.challenge_url.clone(),
        verifier,
    );
    auth_state.revocation = revocation;
    // The origins a page served by this target would send; a localhost name and the bound
    // address both reach it.
    auth_state.allowed_origins = ["127.0.0.1", "localhost", "[::1]"]
        .iter()
        .map(|host| format!("http://{host}:{}", addr.port()))
        .chain(std::iter::once(origin.clone()))
        .collect();
    auth_state.own_host = addr.to_string();
    auth_state.upstream_session = upstream_session;
    if matches!(
        variant,
        Variant::AsProxyAcceptsUpstream | Variant::AsProxyPassthrough
    ) {
        auth_state.upstream_introspection = Some(format!("{upstream_issuer}/introspect"));
    }
    let auth_state = Arc::new(auth_state);

    let rmcp_config = StreamableHttpServerConfig::default();
    let sessions_done = rmcp_config.cancellation_token.clone();
    let mcp_service = mcp::service(
        variant,
        addr.ip().to_string(),
        downstream,
        tool_client,
        rmcp_config,
    );

    // route_layer puts the middleware in front of the MCP route only; the metadata routes
    // are merged afterwards and stay public (except for the prm-requires-auth fault).
    let mut app = Router::new()
        .route_service(&config.mcp_path, mcp_service)
        .route_layer(axum::middleware::from_fn_with_state(
            auth_state.clone(),
            auth::require_bearer,
        ));
    for (path, document) in prm_plan.routes {
        let body = Arc::new(document.to_string());
        let auth_state = auth_state.clone();
        app = app.route(
            &path,
            get(move |headers: HeaderMap, uri: Uri| {
                let body = body.clone();
                let auth_state = auth_state.clone();
                async move { metadata_response(&auth_state, &headers, &uri, &body).await }
            }),
        );
    }

    if let Some(router) = embedded_as {
        app = app.fallback_service(router);
    }

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shutdown_signal = async move {
        // Either an explicit stop or the handle being dropped ends the wait.
        let _ = stopped.await;
        // Ending the sessions closes their open SSE streams, which graceful shutdown waits for.
        sessions_done.cancel();
    };
    let task = tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown_signal)
            .await
        {
            eprintln!("reference-target: server error: {err}");
        }
    });
    Ok(RunningTarget {
        addr,
        url,
        stop: Some(stop),
        task,
    })
}

/// The authorization server of an `as-*` variant: dynamic registration, `resource` limited to
/// the MCP endpoint, `mcp:tools` among the scopes, and the variant's defect.
fn embedded_authorization_server(
    variant: Variant,
    origin: &str,
    url: &str,
) -> anyhow::Result<(mock_idp::Idp, Router)> {
    let mut authz = mock_idp::AuthzSettings {
        resources: Some(vec![url.to_owned()]),
        defects: variant.as_defect().into_iter().collect(),
        ..Default::default()
    };
    authz.scopes_supported.push("mcp:tools".to_owned());
    // Client ID Metadata Documents, fetched from loopback too: the harness hosts the documents
    // on its mock IdP, at a loopback http URL no production server would fetch.
    // (Not for `as-pre-registered`, which has no registration of any kind, nor for
    // `as-dcr-only`, whose only way in is dynamic registration.)
    authz.client_id_metadata_documents =
        !matches!(variant, Variant::AsPreRegistered | Variant::AsDcrOnly);
    authz.allow_private_metadata_urls = true;
    if matches!(
        variant,
        Variant::AsConsentPage
            | Variant::AsConsentNoCsrf
            | Variant::AsConsentFrameable
            | Variant::AsConsentPageVague
            | Variant::AsConsentPerBrowser
            | Variant::AsTokenScopeOmitted
            | Variant::AsConsentCookieLoose
    ) || (variant.is_proxy() && variant != Variant::AsProxyNoConsent)
    {
        authz.consent = mock_idp::ConsentMode::Page;
    }
    if variant == Variant::AsPreRegistered {
        authz.registration = mock_idp::RegistrationMode::PreRegistered;
    }
    let config = mock_idp::IdpConfig {
        default_audience: Some(url.to_owned()),
        authz,
        ..Default::default()
    };
    let embedded = if variant.issuer_under_path() {
        mock_idp::embedded_under(&config, origin, "oauth")
    } else {
        mock_idp::embedded(&config, origin.to_owned())
    };
    embedded.map_err(|e| anyhow::anyhow!("the embedded authorization server: {e}"))
}

/// Serves a metadata document, demanding a valid token first in the `prm-requires-auth` fault.
async fn metadata_response(
    auth_state: &auth::AuthState,
    headers: &HeaderMap,
    uri: &Uri,
    body: &str,
) -> Response {
    // prm-requires-auth: the document a client needs to find the authorization server is
    // itself behind authentication, which RFC 9728 §3 does not allow.
    if auth_state.variant == Variant::PrmRequiresAuth
        && let Err(rejection) = auth_state
            .authenticate(headers, uri, &operation::Operation::default())
            .await
    {
        return auth_state.reject(&rejection);
    }
    // reflects-forwarded-host: the document names the resource on whatever host the request's
    // X-Forwarded-Host says.
    let forwarded = operation::header(headers, "x-forwarded-host");
    let body = match forwarded {
        Some(host) if auth_state.variant == Variant::ReflectsForwardedHost => {
            body.replace(&auth_state.own_host, &host)
        }
        _ => body.to_owned(),
    };
    ([(CONTENT_TYPE, "application/json")], body).into_response()
}
