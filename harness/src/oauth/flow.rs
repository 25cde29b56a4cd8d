//! The client side of an MCP login, as the demanding real clients (Claude, Claude Code, VS Code,
//! Cursor) do it: authorization-server metadata by the MCP probe order, registration (DCR, a
//! client given on the command line, or a Client ID Metadata Document the mock IdP hosts), an ephemeral loopback redirect URI, PKCE S256, `resource`
//! on every request, the authorization walk with headless consent, the code exchange and a
//! refresh. Every request is recorded; a failed step says which step and why, and the steps after
//! it are not attempted.

use base64::Engine as _;
use serde_json::{Value, json};

use crate::browser::agent::{AuthorizeEnd, AuthorizeRun, UserAgent, Walk};
use crate::browser::html::Decision;
use crate::context::Ctx;
use crate::target::{Exchange, Request};
use crate::urls::{is_loopback_origin, origin_of};
use crate::wellknown::{MetadataKind, as_metadata_urls, metadata_document};

/// One authorization-server metadata URL tried.
#[derive(Debug, Clone)]
pub struct MetadataAttempt {
    pub url: String,
    pub kind: MetadataKind,
    pub exchange: Exchange,
    pub document: Option<Value>,
}

/// Authorization-server metadata discovery for one issuer.
#[derive(Debug, Clone)]
pub struct AsDiscovery {
    pub issuer: String,
    /// In the MCP priority order.
    pub attempts: Vec<MetadataAttempt>,
}

impl AsDiscovery {
    /// The document a client uses: the first in priority order.
    pub fn document(&self) -> Option<&Value> {
        self.attempts.iter().find_map(|a| a.document.as_ref())
    }

    /// A string member of the chosen document.
    pub fn get(&self, name: &str) -> Option<String> {
        self.document()?.get(name)?.as_str().map(str::to_string)
    }
}

/// Fetches every metadata URL of the probe order (all of them, so their consistency can be
/// judged; a client stops at the first).
pub async fn discover_as(ctx: &Ctx, issuer: &str) -> AsDiscovery {
    let mut attempts = Vec::new();
    for (url, kind) in as_metadata_urls(issuer) {
        let exchange = ctx.target.send(Request::get_json(url.clone())).await;
        let document = metadata_document(&exchange);
        attempts.push(MetadataAttempt {
            url,
            kind,
            exchange,
            document,
        });
    }
    AsDiscovery {
        issuer: issuer.to_string(),
        attempts,
    }
}

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAuth {
    /// A public client: `client_id` in the body.
    None { client_id: String },
    /// HTTP Basic with the secret.
    Basic { client_id: String, secret: String },
    /// The secret in the body.
    Post { client_id: String, secret: String },
}

impl ClientAuth {
    pub fn client_id(&self) -> &str {
        match self {
            ClientAuth::None { client_id }
            | ClientAuth::Basic { client_id, .. }
            | ClientAuth::Post { client_id, .. } => client_id,
        }
    }

    /// Builds the auth for a registered method name.
    pub fn for_method(method: &str, client_id: String, secret: Option<String>) -> ClientAuth {
        match (method, secret) {
            ("client_secret_post", Some(secret)) => ClientAuth::Post { client_id, secret },
            (_, Some(secret)) if method != "none" => ClientAuth::Basic { client_id, secret },
            _ => ClientAuth::None { client_id },
        }
    }
}

/// Where the client came from.
#[derive(Debug, Clone)]
pub enum ClientSource {
    /// Dynamic Client Registration; the 201 answer.
    Dynamic { exchange: Exchange, response: Value },
    /// `--client-id` (pre-registered at the target).
    CommandLine,
    /// A Client ID Metadata Document the mock IdP hosts at this URL (`--cimd-login`).
    MetadataDocument { url: String },
}

/// The client the flow uses.
#[derive(Debug, Clone)]
pub struct RegisteredClient {
    pub auth: ClientAuth,
    pub source: ClientSource,
}

/// A PKCE pair.
#[derive(Debug, Clone)]
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

/// Random URL-safe text of `bytes` random bytes.
pub fn random_text(bytes: usize) -> String {
    use aws_lc_rs::rand::SecureRandom as _;
    let mut buf = vec![0u8; bytes];
    let _ = aws_lc_rs::rand::SystemRandom::new().fill(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

impl Pkce {
    pub fn new() -> Pkce {
        let verifier = random_text(32);
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
        Pkce {
            challenge: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref()),
            verifier,
        }
    }
}

impl Default for Pkce {
    fn default() -> Self {
        Pkce::new()
    }
}

/// One step of the login, for the report.
#[derive(Debug, Clone)]
pub struct FlowStep {
    pub name: &'static str,
    pub ok: bool,
    pub message: String,
    pub exchanges: Vec<Exchange>,
}

/// Tokens from a token response.
#[derive(Debug, Clone)]
pub struct TokenSet {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
    pub response: Value,
    pub exchange: Exchange,
}

/// Everything the login did.
#[derive(Debug, Clone, Default)]
pub struct LoginFlow {
    pub steps: Vec<FlowStep>,
    pub discovery: Option<AsDiscovery>,
    pub client: Option<RegisteredClient>,
    /// The loopback redirect URI (`http://127.0.0.1:PORT/callback`).
    pub redirect_uri: String,
    /// The scope asked for (may be empty).
    pub scope: String,
    pub state: String,
    pub pkce: Option<Pkce>,
    pub authorization: Option<AuthorizeRun>,
    pub tokens: Option<TokenSet>,
    /// The tokens of the refresh, when the first response carried a refresh token.
    pub refreshed: Option<Result<TokenSet, Exchange>>,
    /// The authorization walk passed through the mock IdP: the target is a proxy in front of it.
    pub via_upstream: bool,
    /// Origins the user agent may visit.
    pub origins: Vec<String>,
}

impl LoginFlow {
    /// The step that failed, if one did.
    pub fn failure(&self) -> Option<&FlowStep> {
        self.steps.iter().find(|s| !s.ok)
    }

    pub fn access_token(&self) -> Option<&str> {
        self.tokens.as_ref().map(|t| t.access_token.as_str())
    }

    pub fn endpoint(&self, name: &str) -> Option<String> {
        self.discovery.as_ref()?.get(name)
    }

    fn push(
        &mut self,
        name: &'static str,
        ok: bool,
        message: String,
        exchanges: Vec<Exchange>,
    ) -> bool {
        self.steps.push(FlowStep {
            name,
            ok,
            message,
            exchanges,
        });
        ok
    }

    /// A one-paragraph account: which steps passed and where it stopped.
    pub fn summary(&self) -> String {
        let done: Vec<&str> = self.steps.iter().filter(|s| s.ok).map(|s| s.name).collect();
        match self.failure() {
            Some(f) => format!(
                "the headless login stopped at {}: {} (steps done: {})",
                f.name,
                f.message,
                if done.is_empty() {
                    "none".to_string()
                } else {
                    done.join(", ")
                }
            ),
            None => format!("the headless login worked: {}", done.join(", ")),
        }
    }
}

/// Parameters of one authorization request; the flow's own unless a check changes them.
#[derive(Debug, Clone)]
pub struct AuthzParams {
    pub pairs: Vec<(String, String)>,
    pub redirect_uri: String,
}

impl AuthzParams {
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        if name == "redirect_uri" {
            self.redirect_uri = value.clone();
        }
        match self.pairs.iter_mut().find(|(n, _)| n == name) {
            Some(pair) => pair.1 = value,
            None => self.pairs.push((name.to_string(), value)),
        }
    }

    pub fn remove(&mut self, name: &str) {
        self.pairs.retain(|(n, _)| n != name);
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// How one authorization walk behaves (see [`crate::browser::agent::Walk`]).
#[derive(Debug, Clone)]
pub struct WalkOptions {
    pub decision: Decision,
    pub extra_headers: Vec<(String, String)>,
    /// Submit the consent form as a cross-site forgery would.
    pub forge_form: bool,
    /// Stop before the upstream's redirect back to the proxy (the upstream's origin).
    pub intercept_return_from: Option<String>,
    /// Untick this scope on the consent form.
    pub untick_scope: Option<String>,
}

impl Default for WalkOptions {
    fn default() -> Self {
        WalkOptions {
            decision: Decision::Approve,
            extra_headers: Vec::new(),
            forge_form: false,
            intercept_return_from: None,
            untick_scope: None,
        }
    }
}

/// The harness's side of the login: its browser, loopback listener and the flow's results.
pub struct LoginRun<'a> {
    pub ctx: &'a Ctx,
    pub agent: &'a UserAgent,
}

/// Sends a form POST to the token endpoint with the client's authentication.
pub async fn token_request(
    ctx: &Ctx,
    endpoint: &str,
    pairs: &[(String, String)],
    auth: &ClientAuth,
) -> Exchange {
    let mut pairs: Vec<(String, String)> = pairs.to_vec();
    let mut request = Request::new(reqwest::Method::POST, endpoint.to_string())
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json");
    match auth {
        ClientAuth::None { client_id } => pairs.push(("client_id".into(), client_id.clone())),
        ClientAuth::Post { client_id, secret } => {
            pairs.push(("client_id".into(), client_id.clone()));
            pairs.push(("client_secret".into(), secret.clone()));
        }
        ClientAuth::Basic { client_id, secret } => {
            // RFC 6749 §2.3.1: both parts form-urlencoded before Base64.
            let enc =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let basic = base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                enc(client_id),
                enc(secret)
            ));
            request = request.header("authorization", format!("Basic {basic}"));
        }
    }
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())))
        .finish();
    request.body = Some(body.into_bytes());
    ctx.target.send(request).await
}

/// Reads a successful token response: 200 JSON with an `access_token`.
pub fn token_set(exchange: &Exchange) -> Result<TokenSet, String> {
    let Some(response) = exchange.response() else {
        return Err(format!("no answer: {}", exchange.failure()));
    };
    let json: Option<Value> = serde_json::from_slice(&response.body).ok();
    if response.status != 200 {
        let error = json
            .as_ref()
            .and_then(|v| v.get("error"))
            .and_then(Value::as_str)
            .map(|e| format!(" error={e}"))
            .unwrap_or_default();
        return Err(format!("HTTP {}{error}", response.status));
    }
    let Some(v) = json else {
        return Err("HTTP 200 but the body is not JSON".to_string());
    };
    let Some(access) = v.get("access_token").and_then(Value::as_str) else {
        return Err("HTTP 200 without access_token".to_string());
    };
    Ok(TokenSet {
        access_token: access.to_string(),
        refresh_token: v
            .get("refresh_token")
            .and_then(Value::as_str)
            .map(str::to_string),
        scope: v.get("scope").and_then(Value::as_str).map(str::to_string),
        response: v.clone(),
        exchange: exchange.clone(),
    })
}

/// The OAuth `error` of an answer, if it has one.
pub fn oauth_error(exchange: &Exchange) -> Option<String> {
    let response = exchange.response()?;
    let v: Value = serde_json::from_slice(&response.body).ok()?;
    v.get("error").and_then(Value::as_str).map(str::to_string)
}

impl LoginRun<'_> {
    /// The authorization request of the flow, ready for a check to change.
    pub fn params(&self, flow: &LoginFlow, pkce: &Pkce, state: &str) -> AuthzParams {
        let client_id = flow
            .client
            .as_ref()
            .map(|c| c.auth.client_id().to_string())
            .unwrap_or_default();
        let mut pairs = vec![
            ("response_type".to_string(), "code".to_string()),
            ("client_id".to_string(), client_id),
            ("redirect_uri".to_string(), flow.redirect_uri.clone()),
            ("state".to_string(), state.to_string()),
            ("code_challenge".to_string(), pkce.challenge.clone()),
            ("code_challenge_method".to_string(), "S256".to_string()),
            ("resource".to_string(), self.ctx.mcp.url.clone()),
        ];
        if !flow.scope.is_empty() {
            pairs.push(("scope".to_string(), flow.scope.clone()));
        }
        AuthzParams {
            pairs,
            redirect_uri: flow.redirect_uri.clone(),
        }
    }

    /// Walks one authorization request to its end.
    pub async fn authorize(
        &self,
        flow: &LoginFlow,
        params: &AuthzParams,
        decision: Decision,
        extra_headers: Vec<(String, String)>,
        forge_form: bool,
    ) -> Option<AuthorizeRun> {
        self.authorize_walk(
            flow,
            params,
            WalkOptions {
                decision,
                extra_headers,
                forge_form,
                ..WalkOptions::default()
            },
        )
        .await
    }

    /// [`LoginRun::authorize`] with every option of the walk.
    pub async fn authorize_walk(
        &self,
        flow: &LoginFlow,
        params: &AuthzParams,
        options: WalkOptions,
    ) -> Option<AuthorizeRun> {
        let endpoint = flow.endpoint("authorization_endpoint")?;
        let mut url = url::Url::parse(&endpoint).ok()?;
        url.query_pairs_mut()
            .extend_pairs(params.pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        let start = Request::new(reqwest::Method::GET, url.to_string())
            .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8");
        Some(
            self.agent
                .walk(Walk {
                    start,
                    redirect_uri: &params.redirect_uri,
                    origins: &flow.origins,
                    decision: options.decision,
                    extra_headers: options.extra_headers,
                    forge_form: options.forge_form,
                    intercept_return_from: options.intercept_return_from,
                    untick_scope: options.untick_scope,
                    login: &self.ctx.options.login,
                })
                .await,
        )
    }

    /// A complete authorization (approve) returning the code, for checks that need a fresh one.
    pub async fn fresh_code(&self, flow: &LoginFlow) -> Option<(String, Pkce, AuthorizeRun)> {
        let pkce = Pkce::new();
        let state = random_text(12);
        let params = self.params(flow, &pkce, &state);
        let run = self
            .authorize(flow, &params, Decision::Approve, Vec::new(), false)
            .await?;
        let code = run.code()?.to_string();
        Some((code, pkce, run))
    }

    /// The code-exchange form for a code.
    pub fn code_form(
        &self,
        flow: &LoginFlow,
        code: &str,
        verifier: Option<&str>,
    ) -> Vec<(String, String)> {
        let mut pairs = vec![
            ("grant_type".to_string(), "authorization_code".to_string()),
            ("code".to_string(), code.to_string()),
            ("redirect_uri".to_string(), flow.redirect_uri.clone()),
            ("resource".to_string(), self.ctx.mcp.url.clone()),
        ];
        if let Some(v) = verifier {
            pairs.push(("code_verifier".to_string(), v.to_string()));
        }
        pairs
    }

    /// Runs the whole login. `issuer` is the authorization server the metadata names.
    pub async fn login(&self, issuer: &str, scopes: &[String]) -> LoginFlow {
        let ctx = self.ctx;
        let mut flow = LoginFlow {
            scope: scopes.join(" "),
            ..LoginFlow::default()
        };
        // 1. Authorization-server metadata, in the MCP probe order.
        let discovery = discover_as(ctx, issuer).await;
        let exchanges: Vec<Exchange> = discovery
            .attempts
            .iter()
            .map(|a| a.exchange.clone())
            .collect();
        let found = discovery
            .attempts
            .iter()
            .find(|a| a.document.is_some())
            .map(|a| a.url.clone());
        flow.discovery = Some(discovery);
        let ok = match &found {
            Some(url) => flow.push("metadata", true, format!("authorization-server metadata at {url}"), Vec::new()),
            None => flow.push(
                "metadata",
                false,
                format!("no authorization-server metadata for issuer {issuer} at any URL of the MCP probe order"),
                exchanges,
            ),
        };
        if !ok {
            return flow;
        }
        let missing: Vec<&str> = ["authorization_endpoint", "token_endpoint"]
            .into_iter()
            .filter(|n| flow.endpoint(n).is_none())
            .collect();
        if !missing.is_empty() {
            flow.push(
                "metadata",
                false,
                format!("the metadata lacks {}", missing.join(" and ")),
                Vec::new(),
            );
            return flow;
        }
        let mut origins = vec![
            ctx.origin(),
            origin_of(issuer),
            origin_of(&ctx.idp_info.issuer),
        ];
        for name in [
            "authorization_endpoint",
            "token_endpoint",
            "registration_endpoint",
        ] {
            if let Some(e) = flow.endpoint(name) {
                origins.push(origin_of(&e));
            }
        }
        origins.retain(|o| !o.is_empty() && is_loopback_origin(o));
        origins.sort();
        origins.dedup();
        flow.origins = origins;

        // 2. The redirect URI: a loopback port held open for the whole run.
        let Some(port) = ctx.callback_port() else {
            flow.push(
                "redirect-uri",
                false,
                "could not bind a loopback port for the redirect URI".into(),
                Vec::new(),
            );
            return flow;
        };
        flow.redirect_uri = format!("http://127.0.0.1:{port}/callback");

        // 3. The client: given on the command line, else a metadata document when asked for,
        // else registered dynamically.
        let cimd_advertised = flow
            .discovery
            .as_ref()
            .and_then(|d| d.document())
            .and_then(|d| d.get("client_id_metadata_document_supported"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if ctx.options.cimd_login && ctx.options.client_id.is_none() {
            if !cimd_advertised {
                flow.push(
                    "registration",
                    false,
                    "--cimd-login: the metadata does not advertise client_id_metadata_document_supported".to_string(),
                    Vec::new(),
                );
                return flow;
            }
            let url = format!(
                "{}/documents/login-client.json",
                ctx.idp_info.issuer.trim_end_matches('/')
            );
            let mut document = client_metadata(&flow.redirect_uri, &flow.scope);
            document["client_id"] = Value::String(url.clone());
            let hosted =
                serde_json::json!({"name": "login-client.json", "body": document.to_string()});
            if let Err(e) = ctx.idp.host_document(&hosted).await {
                flow.push(
                    "registration",
                    false,
                    format!("the mock IdP could not host the client metadata document: {e}"),
                    Vec::new(),
                );
                return flow;
            }
            flow.client = Some(RegisteredClient {
                auth: ClientAuth::None {
                    client_id: url.clone(),
                },
                source: ClientSource::MetadataDocument { url: url.clone() },
            });
            flow.push(
                "registration",
                true,
                format!("a Client ID Metadata Document at {url} (--cimd-login)"),
                Vec::new(),
            );
        } else if let Some(client_id) = &ctx.options.client_id {
            let method = ctx.options.client_auth_method.clone().unwrap_or_else(|| {
                if ctx.options.client_secret.is_some() {
                    "client_secret_basic".into()
                } else {
                    "none".into()
                }
            });
            flow.client = Some(RegisteredClient {
                auth: ClientAuth::for_method(
                    &method,
                    client_id.clone(),
                    ctx.options.client_secret.clone(),
                ),
                source: ClientSource::CommandLine,
            });
            flow.push(
                "registration",
                true,
                format!("pre-registered client {client_id} (--client-id)"),
                Vec::new(),
            );
        } else if let Some(endpoint) = flow.endpoint("registration_endpoint") {
            let exchange = register(
                ctx,
                &endpoint,
                &client_metadata(&flow.redirect_uri, &flow.scope),
            )
            .await;
            match registration_result(&exchange) {
                Ok(response) => {
                    let client_id = response
                        .get("client_id")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string();
                    let method = response
                        .get("token_endpoint_auth_method")
                        .and_then(Value::as_str)
                        .unwrap_or("none")
                        .to_string();
                    let secret = response
                        .get("client_secret")
                        .and_then(Value::as_str)
                        .map(str::to_string);
                    flow.client = Some(RegisteredClient {
                        auth: ClientAuth::for_method(&method, client_id.clone(), secret),
                        source: ClientSource::Dynamic {
                            exchange: exchange.clone(),
                            response,
                        },
                    });
                    flow.push(
                        "registration",
                        true,
                        format!("registered dynamically as {client_id}"),
                        Vec::new(),
                    );
                }
                Err(why) => {
                    flow.push(
                        "registration",
                        false,
                        format!("dynamic client registration failed: {why}"),
                        vec![exchange],
                    );
                    return flow;
                }
            }
        } else {
            flow.push(
                "registration",
                false,
                if cimd_advertised {
                    "the server offers only Client ID Metadata Documents, which need a client ID URL it can fetch from the public internet; pass a pre-registered client with --client-id, or --cimd-login if it fetches documents from loopback in this setup".to_string()
                } else {
                    "the metadata advertises no registration_endpoint and no client was given (--client-id)".to_string()
                },
                Vec::new(),
            );
            return flow;
        }

        // 4. The authorization walk with PKCE S256, state and resource.
        let pkce = Pkce::new();
        flow.state = random_text(16);
        let params = self.params(&flow, &pkce, &flow.state);
        let run = if ctx.options.interactive {
            interactive(ctx, &flow, &params).await
        } else {
            self.authorize(&flow, &params, Decision::Approve, Vec::new(), false)
                .await
        };
        let Some(run) = run else {
            flow.push(
                "authorization",
                false,
                "the authorization endpoint is not a usable URL".into(),
                Vec::new(),
            );
            return flow;
        };
        flow.via_upstream = run.visited(&origin_of(&ctx.idp_info.issuer))
            && origin_of(&ctx.idp_info.issuer) != ctx.origin();
        let code = run.code().map(str::to_string);
        let ok = match (&code, run.param("state")) {
            (Some(_), Some(s)) if s == flow.state => true,
            (Some(_), _) => true,
            _ => false,
        };
        let message = run.describe_end();
        let hops = run.hops.clone();
        flow.authorization = Some(run);
        flow.pkce = Some(pkce.clone());
        if !flow.push(
            "authorization",
            ok,
            message,
            if ok { Vec::new() } else { hops },
        ) {
            return flow;
        }

        // 5. The code exchange.
        let auth = flow
            .client
            .as_ref()
            .map(|c| c.auth.clone())
            .unwrap_or(ClientAuth::None {
                client_id: String::new(),
            });
        let token_endpoint = flow.endpoint("token_endpoint").unwrap_or_default();
        let form = self.code_form(
            &flow,
            code.as_deref().unwrap_or_default(),
            Some(&pkce.verifier),
        );
        let exchange = token_request(ctx, &token_endpoint, &form, &auth).await;
        match token_set(&exchange) {
            Ok(set) => {
                flow.push(
                    "token",
                    true,
                    format!(
                        "code exchanged for an access token{}",
                        if set.refresh_token.is_some() {
                            " and a refresh token"
                        } else {
                            ""
                        }
                    ),
                    Vec::new(),
                );
                flow.tokens = Some(set);
            }
            Err(why) => {
                flow.push(
                    "token",
                    false,
                    format!("the code exchange failed: {why}"),
                    vec![exchange],
                );
                return flow;
            }
        }

        // 6. A refresh, when a refresh token was issued (the MCP call comes with the positive
        // control, which uses the first access token).
        if let Some(refresh) = flow.tokens.as_ref().and_then(|t| t.refresh_token.clone()) {
            let form = vec![
                ("grant_type".to_string(), "refresh_token".to_string()),
                ("refresh_token".to_string(), refresh),
                ("resource".to_string(), ctx.mcp.url.clone()),
            ];
            let exchange = token_request(ctx, &token_endpoint, &form, &auth).await;
            let result = token_set(&exchange);
            let ok = result.is_ok();
            flow.push(
                "refresh",
                ok,
                match &result {
                    Ok(_) => "the refresh token was exchanged for a new access token".to_string(),
                    Err(why) => format!("the refresh failed: {why}"),
                },
                if ok {
                    Vec::new()
                } else {
                    vec![exchange.clone()]
                },
            );
            flow.refreshed = Some(result.map_err(|_| exchange));
        }
        flow
    }
}

/// The registration a native MCP client sends (RFC 7591 §2).
pub fn client_metadata(redirect_uri: &str, scope: &str) -> Value {
    let mut v = json!({
        "client_name": "mcp-auth-conformance",
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        "application_type": "native",
    });
    if !scope.is_empty() {
        v["scope"] = Value::String(scope.to_string());
    }
    v
}

/// POSTs a registration request.
pub async fn register(ctx: &Ctx, endpoint: &str, metadata: &Value) -> Exchange {
    ctx.target
        .send(
            Request::new(reqwest::Method::POST, endpoint.to_string())
                .header("accept", "application/json")
                .json_body(metadata),
        )
        .await
}

/// Reads a registration answer: 2xx JSON with a `client_id`.
pub fn registration_result(exchange: &Exchange) -> Result<Value, String> {
    let Some(response) = exchange.response() else {
        return Err(format!("no answer: {}", exchange.failure()));
    };
    let v: Option<Value> = serde_json::from_slice(&response.body).ok();
    if !response.is_success() {
        let error = v
            .as_ref()
            .and_then(|v| v.get("error"))
            .and_then(Value::as_str)
            .map(|e| format!(" error={e}"))
            .unwrap_or_default();
        return Err(format!("HTTP {}{error}", response.status));
    }
    match v {
        Some(v) if v.get("client_id").and_then(Value::as_str).is_some() => Ok(v),
        _ => Err(format!("HTTP {} without a client_id", response.status)),
    }
}

/// `--interactive`: prints the authorization URL and waits for the browser's redirect to the
/// loopback listener (five minutes at most).
async fn interactive(ctx: &Ctx, flow: &LoginFlow, params: &AuthzParams) -> Option<AuthorizeRun> {
    let endpoint = flow.endpoint("authorization_endpoint")?;
    let mut url = url::Url::parse(&endpoint).ok()?;
    url.query_pairs_mut()
        .extend_pairs(params.pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    eprintln!("\nOpen this URL in a browser and log in (waiting up to 5 minutes):\n\n  {url}\n");
    let listener = ctx.take_callback_listener()?;
    let state = params.get("state").unwrap_or_default().to_string();
    let callback = tokio::time::timeout(std::time::Duration::from_secs(300), async {
        loop {
            let (stream, _) = listener.accept().await.ok()?;
            if let Some(params) = answer_callback(stream, &state).await {
                return Some(params);
            }
        }
    })
    .await
    .ok()??;
    Some(AuthorizeRun {
        hops: Vec::new(),
        pages: Vec::new(),
        end: AuthorizeEnd::Callback {
            url: params.redirect_uri.clone(),
            params: callback,
        },
        cookies_set: Vec::new(),
        unticked: false,
    })
}

/// Reads one request on the loopback listener (a connection that says nothing is dropped after
/// a few seconds, so it cannot hold the login up) and answers it; the callback's parameters when
/// it is the redirect back with this login's `state`.
async fn answer_callback(
    mut stream: tokio::net::TcpStream,
    state: &str,
) -> Option<Vec<(String, String)>> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut buf = vec![0u8; 8192];
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut buf));
    let n = read.await.ok()?.ok()?;
    let head = String::from_utf8_lossy(&buf[..n]).to_string();
    let target = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    let params: Option<Vec<(String, String)>> = target
        .starts_with("/callback")
        .then(|| url::Url::parse(&format!("http://127.0.0.1{target}")).ok())
        .flatten()
        .map(|u| u.query_pairs().into_owned().collect());
    let ours = params
        .as_ref()
        .is_some_and(|p| p.iter().any(|(k, v)| k == "state" && v == state));
    let (status, page) = if ours {
        (
            "200 OK",
            "mcp-auth-conformance received the login; you can close this tab.",
        )
    } else {
        (
            "400 Bad Request",
            "This is not the redirect of the login mcp-auth-conformance is waiting for (its state does not match); it keeps waiting.",
        )
    };
    let page = format!("<html><body>{page}</body></html>");
    let _ = stream
        .write_all(
            format!(
                "HTTP/1.1 {status}\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
                page.len()
            )
            .as_bytes(),
        )
        .await;
    if ours { params } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_challenge_is_the_s256_of_the_verifier() {
        let p = Pkce::new();
        assert!(p.verifier.len() >= 43);
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, p.verifier.as_bytes());
        assert_eq!(
            p.challenge,
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
        );
    }
}
