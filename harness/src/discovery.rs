//! What the harness learns about the target before any check runs: its challenge, its
//! protected-resource metadata, its mode, how it validates tokens, and whether a valid token works
//! (the positive control every negative check depends on).

use serde_json::{Value, json};

use crate::challenge::{self, ParsedChallenges};
use crate::check::{Mode, Validation};
use crate::context::Ctx;
use crate::error::HarnessError;
use crate::mcp::accepted;
use crate::oauth::flow::{LoginFlow, LoginRun};
use crate::rpc::{McpCall, RpcOutcome, read_response};
use crate::target::{Exchange, Request};
use crate::urls::origin_of;
use crate::wellknown::{metadata_document, prm_path_inserted, prm_root};

/// Where a protected-resource metadata URL came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrmRole {
    /// The `resource_metadata` parameter of the challenge.
    Pointer,
    /// `/.well-known/oauth-protected-resource` + the target's path (RFC 9728 §3.1).
    PathInserted,
    /// `/.well-known/oauth-protected-resource` at the origin.
    Root,
}

/// One attempt to read protected-resource metadata.
#[derive(Debug, Clone)]
pub struct PrmAttempt {
    pub url: String,
    pub roles: Vec<PrmRole>,
    /// The GET without credentials.
    pub anonymous: Exchange,
    /// The GET with the valid token, made only when the anonymous one was refused.
    pub authenticated: Option<Exchange>,
    /// The metadata document, from whichever GET returned one.
    pub document: Option<Value>,
}

impl PrmAttempt {
    pub fn has_role(&self, role: PrmRole) -> bool {
        self.roles.contains(&role)
    }

    /// The exchange that produced the document (or the anonymous one).
    pub fn deciding_exchange(&self) -> &Exchange {
        match (&self.authenticated, self.anonymous_document().is_some()) {
            (Some(auth), false) => auth,
            _ => &self.anonymous,
        }
    }

    pub fn anonymous_document(&self) -> Option<Value> {
        metadata_document(&self.anonymous)
    }
}

/// The outcome of the positive control.
#[derive(Debug, Clone)]
pub struct PositiveControl {
    pub passed: bool,
    pub message: String,
    pub exchanges: Vec<Exchange>,
    pub session_id: Option<String>,
}

/// Everything discovery found.
#[derive(Debug, Clone)]
pub struct Facts {
    pub unauthenticated: Exchange,
    pub challenges: ParsedChallenges,
    pub prm_attempts: Vec<PrmAttempt>,
    pub mode: Mode,
    pub mode_reason: String,
    pub required_scopes: Vec<String>,
    pub scopes_reason: String,
    pub positive: PositiveControl,
    pub validation: Option<Validation>,
    pub validation_reason: String,
    /// The IdP log position when the run started; later entries are this run's.
    pub log_start: u64,
    /// The headless login against the target's own authorization server (modes C and D).
    pub login: Option<LoginFlow>,
}

impl Facts {
    /// The metadata document clients would use: via the pointer first, then the well-known URLs.
    pub fn prm(&self) -> Option<(&PrmAttempt, &Value)> {
        self.prm_attempts
            .iter()
            .find_map(|a| a.document.as_ref().map(|d| (a, d)))
    }

    pub fn resource_metadata_param(&self) -> Option<&str> {
        self.challenges
            .bearer()
            .and_then(|b| b.param("resource_metadata"))
    }
}

/// Runs discovery and the positive control.
pub async fn discover(ctx: &Ctx) -> Result<Facts, HarnessError> {
    let log_start = ctx.idp.last_seq().await?;
    // 1. The unauthenticated request every client starts with.
    let unauthenticated = ctx
        .target
        .send(ctx.mcp.request(&McpCall::Initialize, &[], None))
        .await;
    if let Err(reason) = &unauthenticated.response {
        return Err(HarnessError::TargetUnreachable {
            url: ctx.mcp.url.clone(),
            reason: reason.clone(),
        });
    }
    let challenges = challenge::parse_all(
        unauthenticated
            .response()
            .map(|r| r.header_values("www-authenticate"))
            .unwrap_or_default(),
    );

    // 2. Protected-resource metadata, anonymously, at every place a client may look.
    let url = url::Url::parse(&ctx.mcp.url)
        .map_err(|e| HarnessError::Usage(format!("bad target URL: {e}")))?;
    let origin = ctx.origin();
    let mut candidates: Vec<(String, PrmRole)> = Vec::new();
    if let Some(pointer) = challenges
        .bearer()
        .and_then(|b| b.param("resource_metadata"))
        && let Ok(u) = url::Url::parse(pointer)
        && matches!(u.scheme(), "http" | "https")
    {
        candidates.push((pointer.to_string(), PrmRole::Pointer));
    }
    if let Some(path_inserted) = prm_path_inserted(&url) {
        candidates.push((path_inserted, PrmRole::PathInserted));
    }
    candidates.push((prm_root(&url), PrmRole::Root));
    let mut prm_attempts: Vec<PrmAttempt> = Vec::new();
    for (candidate, role) in candidates {
        if let Some(existing) = prm_attempts.iter_mut().find(|a| a.url == candidate) {
            existing.roles.push(role);
            continue;
        }
        let anonymous = ctx.target.send(Request::get_json(candidate.clone())).await;
        let document = metadata_document(&anonymous);
        prm_attempts.push(PrmAttempt {
            url: candidate,
            roles: vec![role],
            anonymous,
            authenticated: None,
            document,
        });
    }

    // The authorization servers the metadata names may be contacted from now on.
    allow_authorization_servers(ctx, &prm_attempts);

    // 3. Required scopes: from the challenge, else the metadata, unless given on the command line.
    let (required_scopes, scopes_reason) = if let Some(scopes) = &ctx.options.scopes {
        (scopes.clone(), "given with --scope".to_string())
    } else if let Some(scope) = challenges.bearer().and_then(|b| b.param("scope")) {
        (
            scope.split_whitespace().map(str::to_string).collect(),
            "from the scope parameter of the 401 challenge".to_string(),
        )
    } else if let Some(scopes) = prm_attempts.iter().find_map(|a| {
        a.document
            .as_ref()?
            .get("scopes_supported")?
            .as_array()
            .cloned()
    }) {
        (
            scopes
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            "from scopes_supported in the protected-resource metadata".to_string(),
        )
    } else {
        (
            Vec::new(),
            "none advertised (tokens carry no scope; use --scope to set them)".to_string(),
        )
    };

    // 4. Modes C and D: log in through the target's own authorization server, as a client would;
    // the access token it issues is the run's valid token.
    let (mut mode, mut mode_reason) = detect_mode(ctx, &prm_attempts, &origin);
    let mut login = None;
    if matches!(mode, Mode::C | Mode::D) {
        let issuer = prm_attempts
            .iter()
            .find_map(|a| {
                a.document
                    .as_ref()?
                    .get("authorization_servers")?
                    .as_array()?
                    .first()?
                    .as_str()
                    .map(str::to_string)
            })
            .unwrap_or_else(|| origin.clone());
        let run = LoginRun {
            ctx,
            agent: &ctx.agent,
        };
        let flow = run.login(&issuer, &required_scopes).await;
        // After a refresh, the newest access token is the one a client holds (servers that
        // rotate may have revoked the first).
        let newest = match &flow.refreshed {
            Some(Ok(set)) => Some(set.access_token.as_str()),
            _ => flow.access_token(),
        };
        if let Some(token) = newest {
            let _ = ctx.issued_token.set(token.to_string());
            let _ = ctx.issued_scope.set(flow.scope.clone());
        }
        if flow.via_upstream && ctx.options.mode.is_none() {
            mode = Mode::D;
            mode_reason = "the login went through the mock IdP behind the target's own authorization server: an OAuth proxy".to_string();
        }
        login = Some(flow);
    }

    // 5. The positive control: a valid token must get a successful MCP answer.
    let log_mark = ctx.idp.last_seq().await?;
    let mut positive = match &login {
        Some(flow) if flow.access_token().is_none() => PositiveControl {
            passed: false,
            message: flow.summary(),
            exchanges: flow
                .failure()
                .map(|f| f.exchanges.clone())
                .unwrap_or_default(),
            session_id: None,
        },
        _ => positive_control(ctx, &required_scopes, "jwt").await?,
    };
    let mut seen = ctx.idp.requests_since(log_mark).await?;
    let mut validation = ctx.options.validation;
    let mut validation_reason = if validation.is_some() {
        "given with --validation".to_string()
    } else {
        String::new()
    };
    if validation.is_none() && login.is_some() {
        validation = Some(Validation::OwnTokens);
        validation_reason =
            "the target is its own authorization server: it accepts the tokens it issues".into();
    }
    if validation.is_none() {
        if positive.passed
            && ctx.options.valid_token.is_some()
            && !seen
                .iter()
                .any(|r| r.endpoint == "introspect" || r.endpoint == "jwks")
        {
            validation = Some(Validation::PreShared);
            validation_reason =
                "the target accepted the pre-shared token (--token) without contacting the IdP"
                    .into();
        } else if seen.iter().any(|r| r.endpoint == "introspect") {
            validation = Some(Validation::Introspection);
            validation_reason = "the target called the IdP's introspection endpoint".into();
        } else if seen.iter().any(|r| r.endpoint == "jwks") {
            validation = Some(Validation::Jwt);
            validation_reason = "the target fetched the IdP's JWKS".into();
        } else if !positive.passed {
            // Perhaps the target only takes opaque tokens.
            let mark = ctx.idp.last_seq().await?;
            let opaque = positive_control(ctx, &required_scopes, "opaque").await?;
            seen = ctx.idp.requests_since(mark).await?;
            if opaque.passed || seen.iter().any(|r| r.endpoint == "introspect") {
                validation = Some(Validation::Introspection);
                validation_reason = "the target introspected an opaque token".into();
                positive = opaque;
            }
        } else {
            validation = Some(Validation::Jwt);
            validation_reason =
                "the target accepted a JWT without contacting the IdP (JWKS cached from an earlier run?)".into();
        }
    }
    if validation.is_none() {
        validation_reason =
            "unknown: the target contacted neither the JWKS nor the introspection endpoint".into();
    }

    // 5. Metadata that was refused anonymously is read with the token, so later checks can judge it.
    if positive.passed {
        let token = ctx
            .mint(&json!({"scope": non_empty(&required_scopes)}))
            .await?;
        for attempt in &mut prm_attempts {
            let refused = attempt
                .anonymous
                .status()
                .is_some_and(|s| s == 401 || s == 403);
            if attempt.document.is_none() && refused {
                let exchange = ctx
                    .target
                    .send(
                        Request::get_json(attempt.url.clone())
                            .header("authorization", format!("Bearer {}", token.token)),
                    )
                    .await;
                attempt.document = metadata_document(&exchange);
                attempt.authenticated = Some(exchange);
            }
        }
    }

    allow_authorization_servers(ctx, &prm_attempts);

    // 6. Metadata read with the token may reveal the mode.
    if mode == Mode::A && ctx.options.mode.is_none() {
        (mode, mode_reason) = detect_mode(ctx, &prm_attempts, &origin);
    }

    Ok(Facts {
        unauthenticated,
        challenges,
        prm_attempts,
        mode,
        mode_reason,
        required_scopes,
        scopes_reason,
        positive,
        validation,
        validation_reason,
        log_start,
        login,
    })
}

/// Lets the target client contact the authorization servers the metadata documents name.
fn allow_authorization_servers(ctx: &Ctx, attempts: &[PrmAttempt]) {
    for doc in attempts.iter().filter_map(|a| a.document.as_ref()) {
        let servers = doc
            .get("authorization_servers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str);
        for issuer in servers {
            ctx.target.policy().allow(issuer);
        }
    }
}

/// The mode from the metadata: none (A), an external authorization server (B) or one on the
/// target's own origin (C; the login tells D apart).
fn detect_mode(ctx: &Ctx, prm_attempts: &[PrmAttempt], origin: &str) -> (Mode, String) {
    if let Some(mode) = ctx.options.mode {
        return (mode, "given with --mode".to_string());
    }
    let prm = prm_attempts.iter().find_map(|a| a.document.as_ref());
    match prm {
        None => (
            Mode::A,
            "no protected-resource metadata at the challenge pointer or the well-known URLs"
                .to_string(),
        ),
        Some(doc) => {
            let servers: Vec<&str> = doc
                .get("authorization_servers")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if servers.iter().any(|s| origin_of(s) == origin) {
                (
                    Mode::C,
                    "the metadata names an authorization server on the target's own origin"
                        .to_string(),
                )
            } else {
                (
                    Mode::B,
                    "the metadata names an external authorization server".to_string(),
                )
            }
        }
    }
}

fn non_empty(scopes: &[String]) -> Value {
    if scopes.is_empty() {
        Value::Null
    } else {
        Value::String(scopes.join(" "))
    }
}

async fn positive_control(
    ctx: &Ctx,
    scopes: &[String],
    format: &str,
) -> Result<PositiveControl, HarnessError> {
    let token = ctx
        .mint(&json!({"scope": non_empty(scopes), "format": format}))
        .await?;
    let auth = vec![format!("Bearer {}", token.token)];
    // With --token the control uses the caller's token, not one the IdP minted.
    let what = if ctx.options.valid_token.is_some() {
        "the pre-shared token (--token)".to_string()
    } else if ctx.issued_token.get().is_some() {
        "the access token the target's authorization server issued to the headless login"
            .to_string()
    } else {
        format!("a valid {format} token")
    };
    let init = ctx
        .target
        .send(ctx.mcp.request(&McpCall::Initialize, &auth, None))
        .await;
    let mut exchanges = vec![init.clone()];
    if let Err(why) = accepted(&init) {
        let hint = match init.status() {
            Some(403) => " (403: the token may lack a scope the target needs; pass --scope)",
            Some(401) => {
                " (401: is the target configured to trust the mock IdP's issuer, JWKS or introspection endpoint, and this audience?)"
            }
            _ => "",
        };
        return Ok(PositiveControl {
            passed: false,
            message: format!("{what} was refused: {why}{hint}"),
            exchanges,
            session_id: None,
        });
    }
    let session_id = init
        .response()
        .and_then(|r| r.header("mcp-session-id"))
        .map(str::to_string);
    if let Some(RpcOutcome::Result(result)) = init
        .response()
        .map(|r| read_response(r.header("content-type"), &r.body))
        && let Some(version) = result.get("protocolVersion").and_then(Value::as_str)
    {
        ctx.mcp.negotiated(version);
    }
    let initialized = ctx
        .target
        .send(
            ctx.mcp
                .request(&McpCall::Initialized, &auth, session_id.as_deref()),
        )
        .await;
    exchanges.push(initialized);
    let list = ctx
        .target
        .send(
            ctx.mcp
                .request(&McpCall::Ping, &auth, session_id.as_deref()),
        )
        .await;
    exchanges.push(list.clone());
    if let Err(why) = accepted(&list) {
        return Ok(PositiveControl {
            passed: false,
            message: format!("initialize succeeded but ping with {what} failed: {why}"),
            exchanges,
            session_id,
        });
    }
    Ok(PositiveControl {
        passed: true,
        message: format!("{what} was accepted for initialize and ping"),
        exchanges,
        session_id,
    })
}
