//! An MCP server on the official Rust SDK (`rmcp`), protected the way rmcp users commonly do it:
//! an axum middleware that checks a bearer JWT with the `jsonwebtoken` crate against a cached
//! JWKS, plus RFC 9728 metadata. It is an interop target: it exists to be judged by the harness,
//! so it is written as a user would write it, not as this project's reference target is.
//!
//! Configured only by environment variables (set by `mcp-auth-conformance --command`):
//! `MCP_TARGET_HOST`, `MCP_TARGET_PORT`, `MCP_TARGET_PATH`, `MCP_TARGET_URL`, `MCP_AUTH_ISSUER`,
//! `MCP_AUTH_JWKS_URI`, `MCP_AUTH_AUDIENCE` and `MCP_AUTH_REQUIRED_SCOPES` (space-separated).
//!
//! `MCP_RMCP_MODE` picks how rmcp serves the two eras of MCP:
//! - unset or `dual` (the default): rmcp's default `StreamableHttpServerConfig`, which answers
//!   `initialize` with a session (legacy era, up to 2025-11-25) and serves 2026-07-28 requests
//!   statelessly; one tool, `echo`.
//! - `stateless`: the modern-only configuration rmcp's documentation describes for the stateless
//!   2026-07-28 revision: no legacy sessions (`with_legacy_session_mode(false)`), per-request
//!   protocol metadata required (`with_stateless_protocol_metadata_required(true)`) and
//!   `supported_protocol_versions` narrowed to 2026-07-28, as that option's documentation advises;
//!   two tools, `echo` and `whoami`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::Extension;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{Implementation, ProtocolVersion, ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ServerHandler, schemars, tool, tool_handler, tool_router};
use serde::Deserialize;
use tokio::sync::RwLock;

/// Settings read from the environment.
#[derive(Debug, Clone)]
struct Settings {
    host: String,
    port: u16,
    path: String,
    url: String,
    issuer: String,
    jwks_uri: String,
    audience: String,
    scopes: Vec<String>,
}

fn env(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

impl Settings {
    fn from_env() -> anyhow::Result<Settings> {
        let host = env("MCP_TARGET_HOST", "127.0.0.1");
        let port: u16 = env("MCP_TARGET_PORT", "8000")
            .parse()
            .context("MCP_TARGET_PORT")?;
        let path = env("MCP_TARGET_PATH", "/mcp");
        let url = env("MCP_TARGET_URL", &format!("http://{host}:{port}{path}"));
        let issuer = std::env::var("MCP_AUTH_ISSUER").context("MCP_AUTH_ISSUER is not set")?;
        let jwks_uri = env("MCP_AUTH_JWKS_URI", &format!("{issuer}/jwks"));
        let audience = env("MCP_AUTH_AUDIENCE", &url);
        let scopes = env("MCP_AUTH_REQUIRED_SCOPES", "")
            .split_whitespace()
            .map(String::from)
            .collect();
        Ok(Settings {
            host,
            port,
            path,
            url,
            issuer,
            jwks_uri,
            audience,
            scopes,
        })
    }

    fn metadata_url(&self) -> String {
        let origin = self.url.trim_end_matches(&self.path).to_string();
        format!("{origin}/.well-known/oauth-protected-resource{}", self.path)
    }
}

/// Keys by `kid`, refreshed when a token names an unknown one (at most every 10 seconds).
#[derive(Default)]
struct KeyCache {
    keys: HashMap<String, (DecodingKey, Algorithm)>,
    fetched: Option<Instant>,
}

struct AuthState {
    settings: Settings,
    http: reqwest::Client,
    cache: RwLock<KeyCache>,
}

#[derive(Debug, Clone, Deserialize)]
struct Claims {
    #[serde(default)]
    scope: Option<String>,
    // Read for `whoami` only, as any JSON value so that their shape never decides whether a token
    // is accepted.
    #[serde(default)]
    client_id: Option<serde_json::Value>,
    #[serde(default)]
    azp: Option<serde_json::Value>,
    #[serde(default)]
    sub: Option<serde_json::Value>,
}

impl AuthState {
    async fn refresh(&self) -> anyhow::Result<()> {
        let mut cache = self.cache.write().await;
        if cache
            .fetched
            .is_some_and(|t| t.elapsed() < Duration::from_secs(10))
        {
            return Ok(());
        }
        cache.fetched = Some(Instant::now());
        let body = self
            .http
            .get(&self.settings.jwks_uri)
            .send()
            .await?
            .error_for_status()?
            .bytes()
            .await?;
        let set: JwkSet = serde_json::from_slice(&body)?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let (Some(kid), Ok(key)) = (jwk.common.key_id.clone(), DecodingKey::from_jwk(jwk))
            else {
                continue;
            };
            let alg = match jwk.common.key_algorithm.map(|a| a.to_string()).as_deref() {
                Some("ES256") => Algorithm::ES256,
                _ => Algorithm::RS256,
            };
            keys.insert(kid, (key, alg));
        }
        cache.keys = keys;
        Ok(())
    }

    async fn key(&self, kid: &str) -> Option<(DecodingKey, Algorithm)> {
        if let Some(k) = self.cache.read().await.keys.get(kid) {
            return Some(k.clone());
        }
        if let Err(e) = self.refresh().await {
            eprintln!("JWKS fetch failed: {e:#}");
        }
        self.cache.read().await.keys.get(kid).cloned()
    }

    fn challenge(&self, error: Option<(&str, &str)>) -> HeaderValue {
        let mut value = format!(
            "Bearer resource_metadata=\"{}\"",
            self.settings.metadata_url()
        );
        if !self.settings.scopes.is_empty() {
            value.push_str(&format!(", scope=\"{}\"", self.settings.scopes.join(" ")));
        }
        if let Some((code, description)) = error {
            value.push_str(&format!(
                ", error=\"{code}\", error_description=\"{description}\""
            ));
        }
        HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("Bearer"))
    }

    fn refuse(&self, status: StatusCode, error: Option<(&str, &str)>) -> Response {
        (status, [(header::WWW_AUTHENTICATE, self.challenge(error))]).into_response()
    }
}

async fn require_bearer(
    State(auth): State<Arc<AuthState>>,
    request: Request,
    next: Next,
) -> Response {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_string());
    let Some(token) = token else {
        return auth.refuse(StatusCode::UNAUTHORIZED, None);
    };
    let invalid = |why: &str| auth.refuse(StatusCode::UNAUTHORIZED, Some(("invalid_token", why)));
    let Ok(header) = decode_header(&token) else {
        return invalid("malformed token");
    };
    let Some(kid) = header.kid else {
        return invalid("no kid");
    };
    let Some((key, alg)) = auth.key(&kid).await else {
        return invalid("unknown signing key");
    };
    let mut validation = Validation::new(alg);
    validation.set_issuer(&[&auth.settings.issuer]);
    validation.set_audience(&[&auth.settings.audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    let claims = match decode::<Claims>(&token, &key, &validation) {
        Ok(data) => data.claims,
        Err(e) => return invalid(&format!("{:?}", e.kind()).replace('"', "'")),
    };
    let granted: Vec<&str> = claims
        .scope
        .as_deref()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    if auth
        .settings
        .scopes
        .iter()
        .any(|s| !granted.contains(&s.as_str()))
    {
        return auth.refuse(
            StatusCode::FORBIDDEN,
            Some(("insufficient_scope", "a required scope is missing")),
        );
    }
    // rmcp hands the HTTP request's parts to tools, extensions included: the caller's claims
    // travel there to `whoami`.
    let mut request = request;
    request.extensions_mut().insert(claims);
    next.run(request).await
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct EchoArgs {
    text: String,
}

#[derive(Clone)]
struct Tools {
    tool_router: ToolRouter<Self>,
    /// Serve 2026-07-28 only (`MCP_RMCP_MODE=stateless`).
    modern_only: bool,
}

#[tool_router]
impl Tools {
    #[tool(description = "Returns the text it was given.")]
    fn echo(&self, Parameters(EchoArgs { text }): Parameters<EchoArgs>) -> String {
        text
    }
}

// A router of its own, combined with the first one in stateless mode only, so that the default
// mode keeps the single tool its committed reports were recorded with.
#[tool_router(router = whoami_router)]
impl Tools {
    #[tool(description = "The client id and scopes of the caller's access token.")]
    fn whoami(&self, Extension(parts): Extension<axum::http::request::Parts>) -> String {
        let Some(claims) = parts.extensions.get::<Claims>() else {
            return "{}".to_string();
        };
        let client_id = [&claims.client_id, &claims.azp, &claims.sub]
            .into_iter()
            .find_map(|claim| claim.as_ref()?.as_str());
        let scopes: Vec<&str> = claims
            .scope
            .as_deref()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        serde_json::json!({ "client_id": client_id, "scopes": scopes }).to_string()
    }
}

impl Tools {
    fn new(modern_only: bool) -> Tools {
        let tool_router = if modern_only {
            Tools::tool_router() + Tools::whoami_router()
        } else {
            Tools::tool_router()
        };
        Tools {
            tool_router,
            modern_only,
        }
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Tools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build()).with_server_info(
            Implementation::new("interop-rmcp-server", env!("CARGO_PKG_VERSION")),
        )
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        if self.modern_only {
            Cow::Borrowed(&[ProtocolVersion::V_2026_07_28])
        } else {
            Cow::Borrowed(ProtocolVersion::KNOWN_VERSIONS)
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    let modern_only = match env("MCP_RMCP_MODE", "dual").as_str() {
        "dual" => false,
        "stateless" => true,
        other => anyhow::bail!("MCP_RMCP_MODE must be dual or stateless, not {other}"),
    };
    let metadata = serde_json::json!({
        "resource": settings.url,
        "authorization_servers": [settings.issuer],
        "scopes_supported": settings.scopes,
        "bearer_methods_supported": ["header"],
    });
    let auth = Arc::new(AuthState {
        settings: settings.clone(),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()?,
        cache: RwLock::new(KeyCache::default()),
    });
    let mut config = StreamableHttpServerConfig::default().with_allowed_hosts(vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        settings.host.clone(),
    ]);
    if modern_only {
        // Without legacy sessions the session manager is never asked for one; the local one is
        // kept so that both modes share the service's type.
        config = config
            .with_legacy_session_mode(false)
            .with_stateless_protocol_metadata_required(true);
    }
    let mcp = StreamableHttpService::new(
        move || Ok(Tools::new(modern_only)),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let app = Router::new()
        .route(
            &format!("/.well-known/oauth-protected-resource{}", settings.path),
            get(move || async move { Json(metadata) }),
        )
        .nest_service(&settings.path, tower_layer(mcp, auth.clone()));
    let listener = tokio::net::TcpListener::bind((settings.host.as_str(), settings.port)).await?;
    eprintln!(
        "interop-rmcp-server listening on {} ({})",
        settings.url,
        if modern_only {
            "stateless: 2026-07-28 only"
        } else {
            "dual: sessions for the legacy era"
        }
    );
    axum::serve(listener, app).await?;
    Ok(())
}

/// The MCP service behind the bearer middleware.
fn tower_layer(
    mcp: StreamableHttpService<Tools, LocalSessionManager>,
    auth: Arc<AuthState>,
) -> Router {
    Router::new()
        .fallback_service(mcp)
        .layer(axum::middleware::from_fn_with_state(auth, require_bearer))
}
