//! The `as-proxy*` variants: an OAuth proxy in front of an upstream identity provider without
//! dynamic registration (the harness's mock IdP, with one pre-registered client), the way FastMCP's
//! `OAuthProxy` works.
//!
//! The client-facing authorization server is the embedded mock IdP (registration, consent,
//! codes and the proxy's own tokens). Whenever it is about to send the user agent back to the
//! client with a code, the proxy first sends it upstream with a PKCE pair of its own; the
//! upstream returns to `/auth/callback`, where the proxy redeems the upstream code (keeping the
//! upstream tokens server-side) and only then lets the client's redirect happen.
//! Each fault variant breaks one of these rules at the one place it lives.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::Value;

use crate::variant::Variant;

/// The path of the proxy's callback from the upstream.
pub const CALLBACK_PATH: &str = "/auth/callback";
/// The cookie that binds an upstream callback to the browser the proxy sent upstream.
const BINDING_COOKIE: &str = "proxy_binding";

fn cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_owned())
}
/// The proxy's client at the upstream (what the harness registers there).
pub const UPSTREAM_CLIENT_ID: &str = "mcp-proxy-upstream";
pub const UPSTREAM_CLIENT_SECRET: &str = "mcp-proxy-upstream-secret";
/// The upstream's introspection client (the harness's mock IdP configures it).
const INTROSPECTION_CLIENT_ID: &str = "conformance-rs";
const INTROSPECTION_CLIENT_SECRET: &str = "conformance-rs-secret";

/// Where the upstream is and what the proxy asks it for.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// The upstream's issuer URL.
    pub issuer: String,
    /// The proxy's callback URL (its origin + [`CALLBACK_PATH`]).
    pub callback: String,
    /// The MCP endpoint URL, sent upstream as `resource`.
    pub resource: String,
    pub scope: String,
}

/// A user agent sent upstream, waiting to come back.
struct Pending {
    /// The redirect to the client, with the proxy's own code, let through after the upstream.
    client_redirect: String,
    /// The value of the binding cookie set on the browser that was sent upstream.
    binding: String,
    /// The proxy's PKCE verifier for the upstream leg (none when the client's challenge was
    /// forwarded instead).
    verifier: Option<String>,
    client_code: String,
}

/// The proxy's state.
pub struct ProxyState {
    upstream: Upstream,
    variant: Variant,
    own_origin: String,
    http: reqwest::Client,
    pending: Mutex<HashMap<String, Pending>>,
    /// Upstream access tokens, by the proxy code whose login obtained them.
    upstream_tokens: Mutex<HashMap<String, String>>,
    /// Upstream access tokens, by the proxy access and refresh tokens issued on top of them: the
    /// session binding that lets an upstream revocation end the proxy's tokens.
    by_access: Mutex<HashMap<String, String>>,
    by_refresh: Mutex<HashMap<String, String>>,
    /// `as-proxy-forwards-challenge`: the client's challenge of the latest authorization request.
    last_client_challenge: Mutex<Option<String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn random_text() -> String {
    use aws_lc_rs::rand::SecureRandom as _;
    let mut buf = [0u8; 32];
    let _ = aws_lc_rs::rand::SystemRandom::new().fill(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

fn s256(verifier: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
}

impl ProxyState {
    pub fn new(upstream: Upstream, variant: Variant, own_origin: String) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(Duration::from_secs(5))
            .build()?;
        Ok(ProxyState {
            upstream,
            variant,
            own_origin,
            http,
            pending: Mutex::new(HashMap::new()),
            upstream_tokens: Mutex::new(HashMap::new()),
            by_access: Mutex::new(HashMap::new()),
            by_refresh: Mutex::new(HashMap::new()),
            last_client_challenge: Mutex::new(None),
        })
    }

    /// Whether the upstream authorization behind one of the proxy's access tokens is still
    /// active, by asking the upstream's introspection endpoint. Tokens the proxy issued without
    /// an upstream login behind them have nothing to check (`as-proxy-ignores-upstream-revocation`
    /// never checks).
    pub async fn upstream_active(&self, token: &str) -> bool {
        if self.variant == Variant::AsProxyIgnoresUpstreamRevocation {
            return true;
        }
        let Some(upstream) = lock(&self.by_access).get(token).cloned() else {
            return true;
        };
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("token", &upstream)
            .finish();
        let answer = self
            .http
            .post(format!("{}/introspect", self.upstream.issuer))
            .basic_auth(INTROSPECTION_CLIENT_ID, Some(INTROSPECTION_CLIENT_SECRET))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await;
        let answer = match answer {
            Ok(r) if r.status().is_success() => r.bytes().await.ok(),
            _ => None,
        };
        // Fails closed: an upstream that cannot say the grant is active ends the session.
        answer
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|v| v.get("active").and_then(Value::as_bool))
            == Some(true)
    }

    /// The upstream authorization URL for a user agent about to be sent back with `location`,
    /// and the value of the cookie that binds the callback to this browser.
    fn send_upstream(&self, location: &str) -> Option<(String, String)> {
        let url = url::Url::parse(location).ok()?;
        let client_code = url
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())?;
        let state = random_text();
        let (verifier, challenge) = if self.variant == Variant::AsProxyForwardsChallenge {
            (None, lock(&self.last_client_challenge).clone()?)
        } else {
            let verifier = random_text();
            let challenge = s256(&verifier);
            (Some(verifier), challenge)
        };
        let binding = random_text();
        lock(&self.pending).insert(
            state.clone(),
            Pending {
                client_redirect: location.to_owned(),
                binding: binding.clone(),
                verifier,
                client_code,
            },
        );
        let mut upstream = url::Url::parse(&format!("{}/authorize", self.upstream.issuer)).ok()?;
        upstream
            .query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", UPSTREAM_CLIENT_ID)
            .append_pair("redirect_uri", &self.upstream.callback)
            .append_pair("state", &state)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("resource", &self.upstream.resource)
            .append_pair("scope", &self.upstream.scope);
        Some((upstream.to_string(), binding))
    }
}

/// Around the embedded authorization server: remembers the client's challenge, diverts the
/// redirect carrying a code through the upstream, and (`as-proxy-passthrough`) hands the client
/// the upstream's access token instead of the proxy's own.
pub async fn divert(
    State(proxy): State<Arc<ProxyState>>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    if path == "/authorize"
        && let Some(challenge) = request.uri().query().and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "code_challenge")
                .map(|(_, v)| v.into_owned())
        })
    {
        *lock(&proxy.last_client_challenge) = Some(challenge);
    }
    if path == "/token" {
        return if proxy.variant == Variant::AsProxyPassthrough {
            passthrough_token(&proxy, request, next).await
        } else {
            bind_tokens(&proxy, request, next).await
        };
    }
    let response = next.run(request).await;
    // The callback's own redirect to the client has been upstream already.
    if path == CALLBACK_PATH || !response.status().is_redirection() {
        return response;
    }
    let Some(location) = response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
    else {
        return response;
    };
    let to_client = url::Url::parse(&location)
        .is_ok_and(|u| u.origin().ascii_serialization() != proxy.own_origin);
    if !to_client || !location.contains("code=") {
        return response;
    }
    match proxy.send_upstream(&location) {
        Some((upstream, binding)) => {
            let mut answer = redirect(&upstream);
            if let Ok(cookie) = axum::http::HeaderValue::from_str(&format!(
                "{BINDING_COOKIE}={binding}; Path={CALLBACK_PATH}; HttpOnly; SameSite=Lax"
            )) {
                answer.headers_mut().insert(header::SET_COOKIE, cookie);
            }
            answer
        }
        None => response,
    }
}

/// Remembers which upstream access token each token the proxy issues rests on: the one its
/// code's upstream login obtained, or the one behind the refresh token it replaces.
async fn bind_tokens(proxy: &ProxyState, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let form: HashMap<String, String> = url::form_urlencoded::parse(&bytes).into_owned().collect();
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let upstream = match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => form
            .get("code")
            .and_then(|c| lock(&proxy.upstream_tokens).get(c).cloned()),
        Some("refresh_token") => form
            .get("refresh_token")
            .and_then(|r| lock(&proxy.by_refresh).get(r).cloned()),
        _ => None,
    };
    let Some(upstream) = upstream.filter(|_| response.status().is_success()) else {
        return response;
    };
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    if let Ok(answer) = serde_json::from_slice::<Value>(&bytes) {
        if let Some(access) = answer.get("access_token").and_then(Value::as_str) {
            lock(&proxy.by_access).insert(access.to_owned(), upstream.clone());
        }
        if let Some(refresh) = answer.get("refresh_token").and_then(Value::as_str) {
            lock(&proxy.by_refresh).insert(refresh.to_owned(), upstream);
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// `as-proxy-passthrough`: the code exchange answers with the upstream's access token.
async fn passthrough_token(proxy: &ProxyState, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let code = url::form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned());
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let upstream_token = code.and_then(|c| lock(&proxy.upstream_tokens).get(&c).cloned());
    let Some(upstream_token) = upstream_token.filter(|_| response.status().is_success()) else {
        return response;
    };
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let Ok(mut answer) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    answer["access_token"] = Value::String(upstream_token);
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(answer.to_string()))
}

/// `GET /auth/callback`: the upstream's answer. The upstream code is redeemed (the tokens stay
/// here), then the user agent continues to the client with the proxy's own code.
pub async fn callback(
    State(proxy): State<Arc<ProxyState>>,
    headers: axum::http::HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let state = params.get("state").cloned().unwrap_or_default();
    // The callback belongs to the browser that was sent upstream (`as-proxy-unbound-callback`
    // does not check), and its state is single-use.
    let presented = cookie(&headers, BINDING_COOKIE);
    let pending = {
        let mut pending = lock(&proxy.pending);
        match pending.get(&state) {
            None => return error_page(StatusCode::BAD_REQUEST, "unknown or replayed state"),
            Some(p)
                if proxy.variant != Variant::AsProxyUnboundCallback
                    && presented.as_deref() != Some(p.binding.as_str()) =>
            {
                return error_page(
                    StatusCode::FORBIDDEN,
                    "this login was started in another browser",
                );
            }
            Some(_) => pending.remove(&state),
        }
    };
    let Some(pending) = pending else {
        return error_page(StatusCode::BAD_REQUEST, "unknown or replayed state");
    };
    let Some(code) = params.get("code") else {
        return error_page(StatusCode::BAD_GATEWAY, "the upstream returned no code");
    };
    if let Some(verifier) = &pending.verifier {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", proxy.upstream.callback.as_str()),
            ("client_id", UPSTREAM_CLIENT_ID),
            ("client_secret", UPSTREAM_CLIENT_SECRET),
            ("code_verifier", verifier.as_str()),
            ("resource", proxy.upstream.resource.as_str()),
        ];
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let answer = proxy
            .http
            .post(format!("{}/token", proxy.upstream.issuer))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await;
        let token = match answer {
            Ok(r) if r.status().is_success() => r
                .bytes()
                .await
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .and_then(|v| v.get("access_token")?.as_str().map(str::to_owned)),
            _ => None,
        };
        let Some(token) = token else {
            return error_page(StatusCode::BAD_GATEWAY, "the upstream code exchange failed");
        };
        lock(&proxy.upstream_tokens).insert(pending.client_code.clone(), token);
    }
    redirect(&pending.client_redirect)
}

fn redirect(location: &str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, location.to_owned())]).into_response()
}

fn error_page(status: StatusCode, why: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("proxy error: {why}"),
    )
        .into_response()
}
