//! What the harness learns about the target before any check runs: its challenge, its
//! protected-resource metadata, its mode, how it validates tokens, and whether a valid token works
//! (the positive control every negative check depends on).

use serde_json::{Value, json};

use crate::challenge::{self, ParsedChallenges};
use crate::check::{Mode, Validation};
use crate::context::Ctx;
use crate::context::EraChoice;
use crate::error::HarnessError;
use crate::mcp::{EraAnswer, Wire, accepted, era_answer};
use crate::oauth::flow::{LoginFlow, LoginRun};
use crate::report::EraOutcome;
use crate::rpc::{McpCall, RpcOutcome, read_response};
use crate::spec::{Era, SpecVersion};
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

/// Everything discovery found, as one era of the wire sees it: the shared findings (metadata,
/// mode, the login) and that era's unauthenticated request and positive control.
#[derive(Debug, Clone)]
pub struct Facts {
    /// The era these facts were gathered on, and the revision its checks are judged by.
    pub wire: Wire,
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

/// Discovery's result: the facts of every era the checks are judged on (the primary era first:
/// the modern one when the target speaks it), and what each era probed answered.
#[derive(Debug, Clone)]
pub struct Discovery {
    pub judged: Vec<Facts>,
    pub eras: Vec<EraOutcome>,
    /// Whether `server/discover` answered without a token (modern era): information, not a
    /// verdict, since a server may leave its discovery open.
    pub discover_without_token: Option<String>,
}

impl Discovery {
    /// The facts of the primary era.
    pub fn primary(&self) -> &Facts {
        &self.judged[0]
    }
}

/// The eras to probe, in order, for an `--era` choice and the revision judged against.
pub fn eras_to_probe(choice: EraChoice, spec: SpecVersion) -> Vec<Era> {
    match choice {
        EraChoice::Legacy => vec![Era::Legacy],
        EraChoice::Modern => vec![Era::Modern],
        EraChoice::Auto if spec.is_modern() => vec![Era::Modern, Era::Legacy],
        EraChoice::Auto => vec![Era::Legacy],
    }
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

/// Runs discovery and the positive control, on every era of the wire the run probes.
pub async fn discover(ctx: &Ctx) -> Result<Discovery, HarnessError> {
    let log_start = ctx.idp.last_seq().await?;
    let probed = eras_to_probe(ctx.options.era, ctx.spec);
    // 1. The unauthenticated request every client starts with, in each era: `initialize` in the
    // legacy one, a method that must be protected (`tools/list`) in the modern one.
    let mut unauthenticated_by_era = Vec::new();
    for &era in &probed {
        let wire = Wire::before_answer(era, ctx.spec);
        let exchange = ctx
            .target
            .send(ctx.mcp.request(&wire, &McpCall::Initialize, &[], None))
            .await;
        unauthenticated_by_era.push((era, exchange));
    }
    if unauthenticated_by_era
        .iter()
        .all(|(_, e)| e.response.is_err())
    {
        let (_, first) = &unauthenticated_by_era[0];
        return Err(HarnessError::TargetUnreachable {
            url: ctx.mcp.url.clone(),
            reason: first.failure().to_string(),
        });
    }
    let challenges_of = |e: &Exchange| {
        challenge::parse_all(
            e.response()
                .map(|r| r.header_values("www-authenticate"))
                .unwrap_or_default(),
        )
    };
    // Metadata is found from the first challenge that points somewhere.
    let (unauthenticated, challenges) = unauthenticated_by_era
        .iter()
        .map(|(_, e)| (e.clone(), challenges_of(e)))
        .find(|(_, c)| c.bearer().is_some())
        .unwrap_or_else(|| {
            let (_, e) = &unauthenticated_by_era[0];
            (e.clone(), challenges_of(e))
        });

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

    // 5. The positive control, in each era: a valid token must get a successful MCP answer. How
    // the target validates tokens is read from the IdP's log around the first one.
    let login_failed = login.as_ref().and_then(|flow| {
        flow.access_token().is_none().then(|| PositiveControl {
            passed: false,
            message: flow.summary(),
            exchanges: flow
                .failure()
                .map(|f| f.exchanges.clone())
                .unwrap_or_default(),
            session_id: None,
        })
    });
    let mut controls: Vec<(Wire, PositiveControl)> = Vec::new();
    let mut format = "jwt";
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
    for (index, &era) in probed.iter().enumerate() {
        let wire = Wire::before_answer(era, ctx.spec);
        if let Some(failed) = &login_failed {
            controls.push((wire, failed.clone()));
            continue;
        }
        let log_mark = ctx.idp.last_seq().await?;
        let (mut wire, mut positive) =
            positive_control(ctx, wire, &required_scopes, format).await?;
        if index == 0 && validation.is_none() {
            let mut seen = ctx.idp.requests_since(log_mark).await?;
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
                let (opaque_wire, opaque) = positive_control(
                    ctx,
                    Wire::before_answer(era, ctx.spec),
                    &required_scopes,
                    "opaque",
                )
                .await?;
                seen = ctx.idp.requests_since(mark).await?;
                if opaque.passed || seen.iter().any(|r| r.endpoint == "introspect") {
                    validation = Some(Validation::Introspection);
                    validation_reason = "the target introspected an opaque token".into();
                    (wire, positive) = (opaque_wire, opaque);
                    format = "opaque";
                }
            } else {
                validation = Some(Validation::Jwt);
                validation_reason =
                    "the target accepted a JWT without contacting the IdP (JWKS cached from an earlier run?)".into();
            }
        }
        controls.push((wire, positive));
    }
    if validation.is_none() {
        validation_reason =
            "unknown: the target contacted neither the JWKS nor the introspection endpoint".into();
    }
    let any_passed = controls.iter().any(|(_, p)| p.passed);

    // 5. Metadata that was refused anonymously is read with the token, so later checks can judge it.
    if any_passed {
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

    // 7. The eras judged: those the target speaks (all probed when it cannot be told), or the
    // one `--era` names.
    let forced = ctx.options.era != EraChoice::Auto;
    let mut eras = Vec::new();
    let mut judged = Vec::new();
    for ((era, unauthenticated_e), (wire, positive)) in
        unauthenticated_by_era.into_iter().zip(controls)
    {
        debug_assert_eq!(era, wire.era);
        // Only an MCP request tells an era; a failed login made none.
        let answer = match positive.exchanges.first() {
            Some(e) if login_failed.is_none() => era_answer(era, e),
            _ => EraAnswer::Unknown,
        };
        let (judge, how) = match (&answer, forced) {
            (_, true) => (true, format!("judged as --era {} asks", era)),
            (EraAnswer::Spoken, _) => (
                true,
                format!("the target speaks it ({})", positive_summary(&positive)),
            ),
            (EraAnswer::NotSpoken(why), _) => (false, format!("not spoken: {why}")),
            (EraAnswer::Unknown, _) => (
                true,
                "judged: whether the target speaks it could not be told from its answer"
                    .to_string(),
            ),
        };
        eras.push(EraOutcome {
            era,
            judged: judge,
            protocol_version: wire.protocol_version.clone(),
            revision: judge.then_some(wire.spec),
            how,
        });
        if judge {
            let challenges = challenges_of(&unauthenticated_e);
            judged.push(Facts {
                wire,
                unauthenticated: unauthenticated_e,
                challenges,
                prm_attempts: prm_attempts.clone(),
                mode,
                mode_reason: mode_reason.clone(),
                required_scopes: required_scopes.clone(),
                scopes_reason: scopes_reason.clone(),
                positive,
                validation,
                validation_reason: validation_reason.clone(),
                log_start,
                login: login.clone(),
            });
        }
    }
    // No era spoken (a server refusing both): the first probed is judged, with its failed control.
    if judged.is_empty() {
        let era = probed[0];
        let wire = Wire::before_answer(era, ctx.spec);
        if let Some(outcome) = eras.iter_mut().find(|o| o.era == era) {
            outcome.judged = true;
            outcome.revision = Some(wire.spec);
            outcome.how = format!("judged although {}", outcome.how);
        }
        let positive = PositiveControl {
            passed: false,
            message: eras
                .iter()
                .map(|o| format!("{}: {}", o.era, o.how))
                .collect::<Vec<_>>()
                .join("; "),
            exchanges: Vec::new(),
            session_id: None,
        };
        judged.push(Facts {
            wire,
            challenges: challenges.clone(),
            unauthenticated: unauthenticated.clone(),
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
        });
    }
    // Metadata is found from the first challenge that points somewhere; each era keeps its own
    // unauthenticated answer for the checks of its challenge.
    let _ = (&unauthenticated, &challenges);
    let discover_without_token = match judged.iter().find(|f| f.wire.era == Era::Modern) {
        Some(modern) => Some(discover_answer(ctx, &modern.wire).await),
        None => None,
    };
    Ok(Discovery {
        judged,
        eras,
        discover_without_token,
    })
}

/// Whether `server/discover` answers without a token, in words for the report.
async fn discover_answer(ctx: &Ctx, wire: &Wire) -> String {
    let e = ctx
        .target
        .send(ctx.mcp.request(wire, &McpCall::ServerDiscover, &[], None))
        .await;
    match e.status() {
        Some(401) | Some(403) => format!(
            "server/discover needs a token (HTTP {}); clients then learn the server's versions only after logging in",
            e.status_text()
        ),
        Some(s) if accepted(&e).is_ok() => {
            format!("server/discover answers without a token (HTTP {s})")
        }
        _ => format!("server/discover without a token: {}", e.status_text()),
    }
}

fn positive_summary(p: &PositiveControl) -> String {
    if p.passed {
        "a valid token was accepted".to_string()
    } else {
        p.message.clone()
    }
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

/// The positive control in one era: the wire it was made on (with the protocol version the
/// target answered) and its outcome.
async fn positive_control(
    ctx: &Ctx,
    mut wire: Wire,
    scopes: &[String],
    format: &str,
) -> Result<(Wire, PositiveControl), HarnessError> {
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
    let hint = |status: Option<u16>| match status {
        Some(403) => " (403: the token may lack a scope the target needs; pass --scope)",
        Some(401) => {
            " (401: is the target configured to trust the mock IdP's issuer, JWKS or introspection endpoint, and this audience?)"
        }
        _ => "",
    };
    if wire.era == Era::Modern {
        // No handshake: one protected request, as a stateless client makes it.
        let list = ctx
            .target
            .send(ctx.mcp.request(&wire, &McpCall::ToolsList, &auth, None))
            .await;
        let exchanges = vec![list.clone()];
        if let Err(why) = accepted(&list) {
            return Ok((
                wire,
                PositiveControl {
                    passed: false,
                    message: format!(
                        "{what} was refused for tools/list (2026-07-28): {why}{}",
                        hint(list.status())
                    ),
                    exchanges,
                    session_id: None,
                },
            ));
        }
        wire.protocol_version = Some(crate::rpc::MODERN_VERSION.to_string());
        return Ok((
            wire,
            PositiveControl {
                passed: true,
                message: format!("{what} was accepted for tools/list (2026-07-28)"),
                exchanges,
                session_id: None,
            },
        ));
    }
    let init = ctx
        .target
        .send(ctx.mcp.request(&wire, &McpCall::Initialize, &auth, None))
        .await;
    let mut exchanges = vec![init.clone()];
    if let Err(why) = accepted(&init) {
        return Ok((
            wire,
            PositiveControl {
                passed: false,
                message: format!("{what} was refused: {why}{}", hint(init.status())),
                exchanges,
                session_id: None,
            },
        ));
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
        wire.protocol_version = Some(version.to_string());
        // The legacy era is judged by the revision the target answered, up to the run's.
        if let Some(revision) = SpecVersion::of_protocol_version(version) {
            wire.spec = revision.min(ctx.spec);
        }
    }
    let initialized = ctx
        .target
        .send(
            ctx.mcp
                .request(&wire, &McpCall::Initialized, &auth, session_id.as_deref()),
        )
        .await;
    exchanges.push(initialized);
    let list = ctx
        .target
        .send(
            ctx.mcp
                .request(&wire, &McpCall::Ping, &auth, session_id.as_deref()),
        )
        .await;
    exchanges.push(list.clone());
    if let Err(why) = accepted(&list) {
        return Ok((
            wire,
            PositiveControl {
                passed: false,
                message: format!("initialize succeeded but ping with {what} failed: {why}"),
                exchanges,
                session_id,
            },
        ));
    }
    Ok((
        wire,
        PositiveControl {
            passed: true,
            message: format!("{what} was accepted for initialize and ping"),
            exchanges,
            session_id,
        },
    ))
}
