//! Probes of the target's own authorization server (modes C and D): its metadata, registration,
//! PKCE, redirect handling, token endpoint, refresh, consent and token boundaries.
//!
//! Each probe starts from the headless login ([`crate::oauth::flow`]) and sends the one request
//! its rule needs, the way a client or an attacker would. A rule that cannot be exercised (no
//! registration endpoint, no refresh token, no consent page) is not testable or skipped, never
//! passed; an answer that breaks it is a failure with the exchange as evidence.

// The `Result<_, StepOutcome>` helpers return the check's verdict early ("not testable", "skip")
// rather than an error; they are called once per check, so their size does not matter.
#![allow(clippy::result_large_err)]

use base64::Engine as _;
use serde_json::{Value, json};

use crate::context::{Ctx, Profile};
use crate::discovery::{Facts, accepted, mcp_request};
use crate::error::HarnessError;
use crate::mcp::McpCall;
use crate::oauth::agent::{AuthorizeEnd, AuthorizeRun, authority_of, origin_of};
use crate::oauth::flow::{
    self, AuthzParams, ClientAuth, ClientSource, LoginFlow, LoginRun, MetadataKind, Pkce,
    WalkOptions, client_metadata, oauth_error, random_text, register, registration_result,
    token_request, token_set,
};
use crate::oauth::html::Decision;
use crate::runner::StepOutcome;
use crate::scenario::Probe;
use crate::target::{Exchange, Request};

/// Runs one authorization-server probe.
pub async fn run(ctx: &Ctx, facts: &Facts, probe: Probe) -> Result<StepOutcome, HarnessError> {
    let Some(flow) = facts.login.as_ref() else {
        return Ok(StepOutcome::not_testable(
            "no headless login was attempted (the target is not its own authorization server)",
            Vec::new(),
        ));
    };
    let p = Probes {
        ctx,
        facts,
        flow,
        run: LoginRun {
            ctx,
            agent: &ctx.agent,
        },
    };
    Ok(match probe {
        Probe::LoginWorks => p.login_works(),
        Probe::AsMetaIssuerMatch => p.metadata_issuer_match(),
        Probe::AsMetaRequiredFields => p.metadata_required_fields(),
        Probe::AsMetaPkceS256 => p.metadata_pkce(),
        Probe::AsMetaOidcConsistent => p.metadata_oidc_consistent(),
        Probe::AsMetaEndpointsLive => p.metadata_endpoints_live().await,
        Probe::AsMetaRegistrationAdvertised => p.metadata_registration_advertised(),
        Probe::AsMetaIssFlag => p.metadata_iss_flag(),
        Probe::AsMetaPathInsertion => p.metadata_path_insertion().await,
        Probe::LegacyAsLocation => p.legacy_as_location().await,
        Probe::DcrRegisterBasic => p.dcr_register_basic(),
        Probe::DcrEchoMetadata => p.dcr_echo_metadata().await,
        Probe::DcrLenientInput => p.dcr_lenient_input().await,
        Probe::DcrErrorCodes => p.dcr_error_codes().await,
        Probe::PkceRequired => p.pkce_required().await,
        Probe::PkcePlainRefused => p.pkce_plain_refused().await,
        Probe::PkceWrongVerifier => p.pkce_verifier(Some("wrong")).await,
        Probe::PkceMissingVerifier => p.pkce_verifier(None).await,
        Probe::PkceProxyTwoLegs => p.pkce_two_legs().await?,
        Probe::RedirectExactMatch => p.redirect_exact_match().await,
        Probe::RedirectLoopbackAnyPort => p.redirect_loopback_any_port().await,
        Probe::RedirectLocalhostAnyPort => p.redirect_localhost_any_port().await,
        Probe::RedirectLoopbackStrictRest => p.redirect_loopback_strict_rest().await,
        Probe::RedirectLookalikes => p.redirect_lookalikes().await,
        Probe::RedirectBadClient => p.redirect_bad_client().await,
        Probe::AuthzStateEcho => p.authz_state_echo().await,
        Probe::AuthzIss => p.authz_iss(),
        Probe::AuthzErrorRedirects => p.authz_error_redirects().await,
        Probe::AuthzCodeSingleUse => p.authz_code_single_use().await,
        Probe::AuthzCodeBinding => p.authz_code_binding().await,
        Probe::TokenInvalidClient401 => p.token_invalid_client().await,
        Probe::TokenUnknownClient => p.token_unknown_client().await,
        Probe::TokenUnauthorizedClient => p.token_unauthorized_client().await,
        Probe::TokenUnsupportedGrant => p.token_unsupported_grant().await,
        Probe::TokenInvalidGrant => p.token_invalid_grant().await,
        Probe::TokenInvalidRequest => p.token_invalid_request().await,
        Probe::TokenHeaders => p.token_headers().await,
        Probe::TokenSuccessShape => p.token_success_shape(),
        Probe::TokenNo200Errors => p.token_no_200_errors().await,
        Probe::TokenAuthMethodEnforced => p.token_auth_method_enforced().await,
        Probe::RefreshWorks => p.refresh_works().await,
        Probe::RefreshRotationPublic => p.refresh_rotation().await,
        Probe::RefreshClientBinding => p.refresh_client_binding().await,
        Probe::RefreshNoScopeEscalation => p.refresh_no_escalation().await,
        Probe::RefreshDeadToken => p.refresh_dead_token().await,
        Probe::ResourceBindsAudience => p.resource_binds_audience(),
        Probe::ResourceInvalidTarget => p.resource_invalid_target().await,
        Probe::ResourceAcceptsParam => p.resource_accepts_param(),
        Probe::ConsentPageContent => p.consent_page_content(),
        Probe::ConsentAntiFraming => p.consent_anti_framing(),
        Probe::ConsentCsrf => p.consent_csrf().await,
        Probe::ConsentBeforeUpstream => p.consent_before_upstream().await?,
        Probe::ConsentCallbackBinding => p.consent_callback_binding().await,
        Probe::ConsentPerClient => p.consent_per_client().await,
        Probe::ConsentCrossSitePrompt => p.consent_cross_site_prompt().await,
        Probe::PkceDowngrade => p.pkce_downgrade().await,
        Probe::ScopeAsReportsGranted => p.scope_reports_granted().await,
        Probe::PassthroughProxyOwnTokens => p.passthrough_own_tokens().await?,
        Probe::PassthroughUpstreamRejected => p.passthrough_upstream_rejected().await?,
        Probe::ResourceSlashVariants => p.resource_slash_variants().await,
        Probe::ConsentCookieFlags => p.consent_cookie_flags(),
        Probe::ConsentRedirectChange => p.consent_redirect_change().await,
        Probe::DcrApplicationType => p.dcr_application_type().await,
        Probe::DcrClientUsable => p.dcr_client_usable().await,
        Probe::CimdFetched => p.cimd_fetched().await?,
        Probe::CimdClientIdMismatch => p.cimd_client_id_mismatch().await?,
        Probe::CimdRedirectNotListed => p.cimd_redirect_not_listed().await?,
        Probe::CimdInvalidDocument => p.cimd_invalid_document().await?,
        Probe::CimdNoSharedSecret => p.cimd_no_shared_secret().await?,
        Probe::CimdFetchSafety => p.cimd_fetch_safety().await?,
        Probe::CimdConsentShowsHost => p.cimd_consent_shows_host().await?,
        Probe::PassthroughUpstreamRevocation => p.passthrough_upstream_revocation().await?,
        other => StepOutcome::not_testable(
            format!("harness bug: {other:?} is not an authorization-server probe"),
            Vec::new(),
        ),
    })
}

struct Probes<'a> {
    ctx: &'a Ctx,
    facts: &'a Facts,
    flow: &'a LoginFlow,
    run: LoginRun<'a>,
}

/// What an error answer of the token or registration endpoint says.
struct ErrorAnswer {
    status: Option<u16>,
    error: Option<String>,
    tokens_issued: bool,
}

fn error_answer(exchange: &Exchange) -> ErrorAnswer {
    ErrorAnswer {
        status: exchange.status(),
        error: oauth_error(exchange),
        tokens_issued: token_set(exchange).is_ok(),
    }
}

impl ErrorAnswer {
    fn describe(&self) -> String {
        match (self.status, &self.error) {
            (None, _) => "no answer".to_string(),
            (Some(s), Some(e)) => format!("HTTP {s} error={e}"),
            (Some(s), None) if self.tokens_issued => format!("HTTP {s} with tokens"),
            (Some(s), None) => format!("HTTP {s} without an OAuth error"),
        }
    }
}

/// Whether an answer is the token-endpoint error `codes` with the status RFC 6749 §5.2 asks
/// for (400; 401 also for `invalid_grant` under the lenient profile). `Ok` carries a note.
fn judge_token_error(
    exchange: &Exchange,
    codes: &[&str],
    profile: Profile,
) -> Result<String, String> {
    let a = error_answer(exchange);
    if a.tokens_issued {
        return Err("tokens were issued".to_string());
    }
    let Some(status) = a.status else {
        return Err(format!("no answer: {}", exchange.failure()));
    };
    let Some(error) = &a.error else {
        return Err(format!("HTTP {status} without an OAuth error body"));
    };
    if !codes.contains(&error.as_str()) {
        return Err(format!(
            "HTTP {status} error={error}, not {}",
            codes.join(" or ")
        ));
    }
    match status {
        400 => Ok(format!("HTTP 400 error={error}")),
        401 if error == "invalid_grant" && profile == Profile::Lenient => Ok(format!(
            "HTTP 401 error={error}: a deviation from RFC 6749 §5.2 (400) that the lenient profile accepts"
        )),
        401 if error == "invalid_grant" => Err(format!(
            "HTTP 401 error={error}: RFC 6749 §5.2 answers invalid_grant with 400 (profile rfc; --profile lenient accepts 401, which some servers send so that clients log in again)"
        )),
        s => Err(format!(
            "HTTP {s} error={error}: RFC 6749 §5.2 answers this error with 400"
        )),
    }
}

/// Whether an answer refuses with one of `codes`, whatever its status (the status is judged by
/// the checks about statuses: `token.invalid-grant`, `token.no-200-errors`).
fn refused_with(exchange: &Exchange, codes: &[&str]) -> Result<String, String> {
    let a = error_answer(exchange);
    if a.tokens_issued {
        return Err("tokens were issued".to_string());
    }
    match (a.status, a.error.as_deref()) {
        (None, _) => Err(format!("no answer: {}", exchange.failure())),
        (Some(s), _) if s >= 500 => Err(format!(
            "HTTP {s}: a server error, not an OAuth error{}",
            server_said(exchange)
        )),
        (Some(_), Some(e)) if codes.contains(&e) => Ok(a.describe()),
        _ => Err(format!("{}, not {}", a.describe(), codes.join(" or "))),
    }
}

/// `: "…"` with the answer's `error_description`, when a server error carries one (a proxy's
/// 500 often says what the upstream answered).
fn server_said(exchange: &Exchange) -> String {
    exchange
        .response()
        .and_then(|r| serde_json::from_slice::<Value>(&r.body).ok())
        .and_then(|v| v.get("error_description")?.as_str().map(str::to_string))
        .filter(|d| d.len() <= 120)
        .map(|d| format!(" (the server said {d:?})"))
        .unwrap_or_default()
}

/// A note when `iss` is the upstream identity provider's: a pass-through proxy let the upstream
/// answer the client directly.
fn upstream_hint(iss: &str, upstream: &str) -> &'static str {
    if iss.trim_end_matches('/') == upstream.trim_end_matches('/') {
        " (it is the upstream identity provider's issuer: the upstream answered the client directly)"
    } else {
        ""
    }
}

/// The claims of a JWT, read without verification (only to see what the server put there).
fn jwt_claims(token: &str) -> Option<Value> {
    let mut parts = token.split('.');
    let (_, payload, _) = (parts.next()?, parts.next()?, parts.next()?);
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn audiences(claims: &Value) -> Vec<String> {
    match claims.get("aud") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// How a login for one `resource` value ended.
enum ResourceLogin {
    Token(String),
    Refused {
        why: String,
        evidence: Vec<Exchange>,
    },
    ServerError(Exchange),
}

/// A cookie's name for the report, with per-client or per-run parts (long hexadecimal runs, as
/// in FastMCP's `__MCP_CONSENT_STATE_<hash>`) replaced, so that reports compare across runs.
fn cookie_label(name: &str) -> String {
    name.split('_')
        .map(|part| {
            if part.len() >= 16 && part.chars().all(|c| c.is_ascii_hexdigit()) {
                "[ID]"
            } else {
                part
            }
        })
        .collect::<Vec<_>>()
        .join("_")
}

/// A document for `POST /_control/documents` with `body` (the name is added when hosted).
fn hosted(body: impl ToString) -> Value {
    json!({ "body": body.to_string() })
}

/// The upstream's authorization code, from the request that brought the browser back from the
/// upstream identity provider to the proxy.
fn upstream_code(run: &AuthorizeRun, upstream: &str, own: &str) -> Option<String> {
    run.hops.windows(2).find_map(|pair| {
        if origin_of(&pair[0].request.url) != upstream || origin_of(&pair[1].request.url) != own {
            return None;
        }
        let url = url::Url::parse(&pair[1].request.url).ok()?;
        url.query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
    })
}

/// The URL with its scheme and host in uppercase (the same URI by RFC 3986 §6.2.2.1).
fn uppercase_scheme_and_host(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    Some(format!(
        "{}://{}{tail}",
        scheme.to_ascii_uppercase(),
        authority.to_ascii_uppercase()
    ))
}

fn pass(note: impl Into<String>) -> StepOutcome {
    StepOutcome::pass(note, Vec::new())
}

impl Probes<'_> {
    /// The login, when it reached tokens; else why the check cannot be judged.
    fn logged_in(&self) -> Result<(), StepOutcome> {
        if self.flow.access_token().is_some() {
            Ok(())
        } else {
            Err(StepOutcome::not_testable(self.flow.summary(), Vec::new()))
        }
    }

    fn has_metadata(&self) -> Result<&Value, StepOutcome> {
        self.flow
            .discovery
            .as_ref()
            .and_then(|d| d.document())
            .ok_or_else(|| StepOutcome::not_testable(self.flow.summary(), Vec::new()))
    }

    fn token_endpoint(&self) -> String {
        self.flow.endpoint("token_endpoint").unwrap_or_default()
    }

    fn client(&self) -> ClientAuth {
        self.flow
            .client
            .as_ref()
            .map(|c| c.auth.clone())
            .unwrap_or(ClientAuth::None {
                client_id: String::new(),
            })
    }

    /// A second client registered like the first (public, the same redirect URI), or `None`
    /// without dynamic registration.
    async fn second_client(&self) -> Option<(ClientAuth, Exchange)> {
        let endpoint = self.flow.endpoint("registration_endpoint")?;
        let exchange = register(
            self.ctx,
            &endpoint,
            &client_metadata(&self.flow.redirect_uri, &self.flow.scope),
        )
        .await;
        let v = registration_result(&exchange).ok()?;
        let id = v.get("client_id")?.as_str()?.to_string();
        let method = v
            .get("token_endpoint_auth_method")
            .and_then(Value::as_str)
            .unwrap_or("none");
        let secret = v
            .get("client_secret")
            .and_then(Value::as_str)
            .map(str::to_string);
        Some((ClientAuth::for_method(method, id, secret), exchange))
    }

    /// Walks an authorization request built from the flow's, changed by `change`.
    async fn authorize_with(&self, change: impl FnOnce(&mut AuthzParams)) -> Option<AuthorizeRun> {
        self.authorize_with_pkce(change).await.map(|(run, _)| run)
    }

    /// [`Probes::authorize_with`], also returning the PKCE pair the request used.
    async fn authorize_with_pkce(
        &self,
        change: impl FnOnce(&mut AuthzParams),
    ) -> Option<(AuthorizeRun, Pkce)> {
        let pkce = Pkce::new();
        let mut params = self.run.params(self.flow, &pkce, &random_text(12));
        change(&mut params);
        self.run
            .authorize(self.flow, &params, Decision::Approve, Vec::new(), false)
            .await
            .map(|run| (run, pkce))
    }

    /// Whether an MCP request with `token` is accepted.
    async fn mcp_accepts(&self, token: &str) -> (bool, Exchange) {
        let exchange = self
            .ctx
            .target
            .send(mcp_request(
                self.ctx,
                &McpCall::Initialize,
                &[format!("Bearer {token}")],
                None,
            ))
            .await;
        (accepted(&exchange).is_ok(), exchange)
    }

    /// A fresh code and its exchange for tokens (a second login of the same client).
    async fn fresh_tokens(&self) -> Result<(flow::TokenSet, String, Pkce), StepOutcome> {
        self.fresh_login()
            .await
            .map(|(set, code, pkce, _)| (set, code, pkce))
    }

    /// [`Probes::fresh_tokens`], also returning the authorization walk.
    async fn fresh_login(
        &self,
    ) -> Result<(flow::TokenSet, String, Pkce, AuthorizeRun), StepOutcome> {
        let Some((code, pkce, run)) = self.run.fresh_code(self.flow).await else {
            return Err(StepOutcome::not_testable(
                "a second authorization did not deliver a code",
                Vec::new(),
            ));
        };
        let form = self.run.code_form(self.flow, &code, Some(&pkce.verifier));
        let exchange = token_request(self.ctx, &self.token_endpoint(), &form, &self.client()).await;
        match token_set(&exchange) {
            Ok(set) => Ok((set, code, pkce, run)),
            Err(why) => Err(StepOutcome::not_testable(
                format!("the second code exchange failed: {why}"),
                vec![exchange],
            )),
        }
    }

    // ----- the login -----

    fn login_works(&self) -> StepOutcome {
        let evidence = self
            .flow
            .failure()
            .map(|f| f.exchanges.clone())
            .unwrap_or_default();
        if self.flow.access_token().is_none() {
            return StepOutcome::fail(self.flow.summary(), evidence);
        }
        if !self.facts.positive.passed {
            return StepOutcome::fail(
                format!(
                    "the login issued a token, but the MCP endpoint refused it: {}",
                    self.facts.positive.message
                ),
                self.facts.positive.exchanges.clone(),
            );
        }
        if let Some(failed) = self.flow.failure() {
            return StepOutcome::fail(self.flow.summary(), failed.exchanges.clone());
        }
        pass(format!(
            "{}; the MCP call with the access token succeeded",
            self.flow.summary()
        ))
    }

    // ----- metadata -----

    fn metadata_issuer_match(&self) -> StepOutcome {
        let Some(d) = &self.flow.discovery else {
            return StepOutcome::not_testable(self.flow.summary(), Vec::new());
        };
        let mut bad = Vec::new();
        let mut seen = 0;
        for a in d.attempts.iter().filter(|a| a.document.is_some()) {
            seen += 1;
            let issuer = a
                .document
                .as_ref()
                .and_then(|v| v.get("issuer"))
                .and_then(Value::as_str);
            if issuer != Some(d.issuer.as_str()) {
                bad.push((
                    format!(
                        "{} names issuer {:?}, not {:?}",
                        a.url,
                        issuer.unwrap_or("(none)"),
                        d.issuer
                    ),
                    a.exchange.clone(),
                ));
            }
        }
        if seen == 0 {
            return StepOutcome::not_testable(self.flow.summary(), Vec::new());
        }
        if bad.is_empty() {
            pass(format!("every metadata document names issuer {}", d.issuer))
        } else {
            StepOutcome::fail(
                bad.iter()
                    .map(|(m, _)| m.clone())
                    .collect::<Vec<_>>()
                    .join("; "),
                bad.into_iter().map(|(_, e)| e).collect(),
            )
        }
    }

    fn metadata_required_fields(&self) -> StepOutcome {
        let doc = match self.has_metadata() {
            Ok(d) => d,
            Err(o) => return o,
        };
        let mut missing = Vec::new();
        for f in ["issuer", "authorization_endpoint", "token_endpoint"] {
            if doc.get(f).and_then(Value::as_str).is_none() {
                missing.push(f.to_string());
            }
        }
        let has_code = doc
            .get("response_types_supported")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|v| v == "code"));
        if !has_code {
            missing.push("response_types_supported containing \"code\"".to_string());
        }
        if missing.is_empty() {
            pass(
                "issuer, authorization_endpoint, token_endpoint and response_types_supported [code] present",
            )
        } else {
            StepOutcome::fail(
                format!("the metadata lacks {}", missing.join(", ")),
                self.chosen_metadata_exchange(),
            )
        }
    }

    fn chosen_metadata_exchange(&self) -> Vec<Exchange> {
        self.flow
            .discovery
            .as_ref()
            .and_then(|d| d.attempts.iter().find(|a| a.document.is_some()))
            .map(|a| vec![a.exchange.clone()])
            .unwrap_or_default()
    }

    fn metadata_pkce(&self) -> StepOutcome {
        let Some(d) = &self.flow.discovery else {
            return StepOutcome::not_testable(self.flow.summary(), Vec::new());
        };
        let mut bad = Vec::new();
        for a in d.attempts.iter().filter(|a| a.document.is_some()) {
            let ok = a
                .document
                .as_ref()
                .and_then(|v| v.get("code_challenge_methods_supported"))
                .and_then(Value::as_array)
                .is_some_and(|m| m.iter().any(|v| v == "S256"));
            if !ok {
                bad.push(a);
            }
        }
        if d.document().is_none() {
            return StepOutcome::not_testable(self.flow.summary(), Vec::new());
        }
        if bad.is_empty() {
            pass("code_challenge_methods_supported lists S256 in every metadata document")
        } else {
            StepOutcome::fail(
                format!(
                    "code_challenge_methods_supported does not list S256 at {} (MCP clients must refuse to proceed without it)",
                    bad.iter()
                        .map(|a| a.url.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                bad.iter().map(|a| a.exchange.clone()).collect(),
            )
        }
    }

    fn metadata_oidc_consistent(&self) -> StepOutcome {
        let Some(d) = &self.flow.discovery else {
            return StepOutcome::not_testable(self.flow.summary(), Vec::new());
        };
        let oauth = d
            .attempts
            .iter()
            .find(|a| a.kind == MetadataKind::Oauth && a.document.is_some());
        let oidc = d
            .attempts
            .iter()
            .find(|a| a.kind == MetadataKind::Oidc && a.document.is_some());
        let (Some(oauth), Some(oidc)) = (oauth, oidc) else {
            return StepOutcome::skip(
                "only one kind of discovery document is served, so there is nothing to compare",
            );
        };
        let (a, b) = (
            oauth.document.as_ref().unwrap_or(&Value::Null),
            oidc.document.as_ref().unwrap_or(&Value::Null),
        );
        let differing: Vec<&str> = [
            "issuer",
            "authorization_endpoint",
            "token_endpoint",
            "registration_endpoint",
            "code_challenge_methods_supported",
        ]
        .into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .collect();
        if differing.is_empty() {
            pass(format!("{} and {} agree", oauth.url, oidc.url))
        } else {
            StepOutcome::fail(
                format!(
                    "{} and {} differ in {}",
                    oauth.url,
                    oidc.url,
                    differing.join(", ")
                ),
                vec![oauth.exchange.clone(), oidc.exchange.clone()],
            )
        }
    }

    async fn metadata_endpoints_live(&self) -> StepOutcome {
        if let Err(o) = self.has_metadata() {
            return o;
        }
        let mut exchanges = Vec::new();
        let mut dead = Vec::new();
        let mut probe = |name: &'static str, e: Exchange| {
            let status = e.status();
            if matches!(status, None | Some(404) | Some(405)) || status.is_some_and(|s| s >= 500) {
                dead.push(format!(
                    "{name} {} answered {}",
                    e.request.url,
                    e.status_text()
                ));
            }
            exchanges.push(e);
        };
        if let Some(url) = self.flow.endpoint("authorization_endpoint") {
            probe(
                "authorization_endpoint",
                self.ctx
                    .target
                    .send(Request::new(reqwest::Method::GET, url).header("accept", "text/html"))
                    .await,
            );
        }
        if let Some(url) = self.flow.endpoint("token_endpoint") {
            let mut r = Request::new(reqwest::Method::POST, url)
                .header("content-type", "application/x-www-form-urlencoded");
            r.body = Some(Vec::new());
            probe("token_endpoint", self.ctx.target.send(r).await);
        }
        if let Some(url) = self.flow.endpoint("registration_endpoint") {
            probe(
                "registration_endpoint",
                self.ctx
                    .target
                    .send(Request::new(reqwest::Method::POST, url).json_body(&json!({})))
                    .await,
            );
        }
        if let Some(url) = self.flow.endpoint("revocation_endpoint") {
            let mut r = Request::new(reqwest::Method::POST, url)
                .header("content-type", "application/x-www-form-urlencoded");
            r.body = Some(Vec::new());
            probe("revocation_endpoint", self.ctx.target.send(r).await);
        }
        if dead.is_empty() {
            pass(format!(
                "every advertised endpoint answers an empty request with an error of its own ({})",
                exchanges
                    .iter()
                    .map(|e| e.request.url.rsplit('/').next().unwrap_or("").to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        } else {
            StepOutcome::fail(dead.join("; "), exchanges)
        }
    }

    fn metadata_registration_advertised(&self) -> StepOutcome {
        let doc = match self.has_metadata() {
            Ok(d) => d,
            Err(o) => return o,
        };
        let dcr = doc
            .get("registration_endpoint")
            .and_then(Value::as_str)
            .is_some();
        let cimd = doc
            .get("client_id_metadata_document_supported")
            .and_then(Value::as_bool)
            == Some(true);
        match (dcr, cimd) {
            (true, true) => {
                pass("registration_endpoint and client_id_metadata_document_supported advertised")
            }
            (true, false) => pass("registration_endpoint advertised"),
            (false, true) => pass("client_id_metadata_document_supported advertised"),
            (false, false) => StepOutcome::fail(
                "neither registration_endpoint nor client_id_metadata_document_supported is advertised, so MCP clients without a pre-registered client cannot log in",
                self.chosen_metadata_exchange(),
            ),
        }
    }

    fn metadata_iss_flag(&self) -> StepOutcome {
        let doc = match self.has_metadata() {
            Ok(d) => d,
            Err(o) => return o,
        };
        let Some(run) = self
            .flow
            .authorization
            .as_ref()
            .filter(|r| r.reached_callback())
        else {
            return StepOutcome::not_testable(self.flow.summary(), Vec::new());
        };
        let flag = doc
            .get("authorization_response_iss_parameter_supported")
            .and_then(Value::as_bool)
            == Some(true);
        let has_iss = run.param("iss").is_some();
        match (flag, has_iss) {
            (true, true) => {
                pass("the metadata announces iss and the authorization response carries it")
            }
            (false, false) => pass("no iss announced and none sent"),
            (true, false) => StepOutcome::fail(
                "authorization_response_iss_parameter_supported is true but the authorization response carries no iss (RFC 9207 §3: clients then reject every response)",
                run.hops.last().cloned().into_iter().collect(),
            ),
            (false, true) => StepOutcome::fail(
                "the authorization response carries iss but the metadata does not announce authorization_response_iss_parameter_supported (RFC 9207 §3)",
                self.chosen_metadata_exchange(),
            ),
        }
    }

    async fn legacy_as_location(&self) -> StepOutcome {
        let origin = self.ctx.origin();
        let url = format!("{origin}/.well-known/oauth-authorization-server");
        let e = self.ctx.target.send(Request::get_json(url.clone())).await;
        if crate::discovery::metadata_document(&e).is_some() {
            return pass(format!("metadata at the origin root ({url})"));
        }
        let mut dead = Vec::new();
        let mut evidence = vec![e];
        for path in ["/authorize", "/token", "/register"] {
            let e = self
                .ctx
                .target
                .send(Request::new(
                    reqwest::Method::GET,
                    format!("{origin}{path}"),
                ))
                .await;
            if matches!(e.status(), None | Some(404)) {
                dead.push(path);
            }
            evidence.push(e);
        }
        if dead.len() < 3 {
            StepOutcome::warn(
                format!(
                    "no metadata at {url} (2025-03-26 clients look there first); default endpoints answer"
                ),
                evidence,
            )
        } else {
            StepOutcome::fail(
                format!(
                    "no metadata at {url} and the default endpoints /authorize, /token and /register are missing: 2025-03-26 clients cannot find the authorization server"
                ),
                evidence,
            )
        }
    }

    // ----- registration -----

    /// The registration endpoint, for checks that register clients of their own: also when the
    /// login's own registration failed (that failure is judged by `dcr.register-basic`).
    fn registration_endpoint(&self) -> Result<String, StepOutcome> {
        let endpoint = self.flow.endpoint("registration_endpoint");
        match (self.dynamic_registration(), endpoint) {
            (Ok(_), Some(e)) => Ok(e),
            (Err(_), Some(e)) if self.flow.client.is_none() => Ok(e),
            (Err(o), _) => Err(o),
            (Ok(_), None) => Err(StepOutcome::skip("no registration endpoint")),
        }
    }

    fn dynamic_registration(&self) -> Result<(&Exchange, &Value), StepOutcome> {
        match self.flow.client.as_ref().map(|c| &c.source) {
            Some(ClientSource::Dynamic { exchange, response }) => Ok((exchange, response)),
            Some(ClientSource::CommandLine) => Err(StepOutcome::skip(
                "the run used a pre-registered client (--client-id)",
            )),
            Some(ClientSource::MetadataDocument { .. }) => Err(StepOutcome::skip(
                "the run logged in with a Client ID Metadata Document (--cimd-login)",
            )),
            None => match self.flow.endpoint("registration_endpoint") {
                None if self
                    .flow
                    .discovery
                    .as_ref()
                    .is_some_and(|d| d.document().is_some()) =>
                {
                    Err(StepOutcome::skip(
                        "the authorization server offers no dynamic client registration",
                    ))
                }
                _ => Err(StepOutcome::not_testable(self.flow.summary(), Vec::new())),
            },
        }
    }

    fn dcr_register_basic(&self) -> StepOutcome {
        if self.flow.client.is_none()
            && let Some(step) = self
                .flow
                .steps
                .iter()
                .find(|s| s.name == "registration" && !s.ok)
            && self.flow.endpoint("registration_endpoint").is_some()
        {
            return StepOutcome::fail(step.message.clone(), step.exchanges.clone());
        }
        let (exchange, _) = match self.dynamic_registration() {
            Ok(r) => r,
            Err(o) => return o,
        };
        match exchange.status() {
            Some(201) => pass(
                "the registration of a native public client with a loopback redirect URI was answered 201 with a client_id",
            ),
            Some(s) => StepOutcome::fail(
                format!(
                    "a successful registration was answered HTTP {s}; RFC 7591 §3.2.1 requires 201 Created"
                ),
                vec![exchange.clone()],
            ),
            None => StepOutcome::fail("no answer", vec![exchange.clone()]),
        }
    }

    async fn dcr_echo_metadata(&self) -> StepOutcome {
        let (exchange, response) = match self.dynamic_registration() {
            Ok(r) => r,
            Err(o) => return o,
        };
        let mut missing: Vec<String> = [
            "client_id",
            "redirect_uris",
            "grant_types",
            "token_endpoint_auth_method",
        ]
        .into_iter()
        .filter(|k| response.get(*k).is_none())
        .map(str::to_string)
        .collect();
        let mut evidence = vec![exchange.clone()];
        // A confidential client: its secret must come with client_secret_expires_at.
        if let Some(endpoint) = self.flow.endpoint("registration_endpoint") {
            let mut metadata = client_metadata(&self.flow.redirect_uri, &self.flow.scope);
            metadata["token_endpoint_auth_method"] = json!("client_secret_basic");
            let e = register(self.ctx, &endpoint, &metadata).await;
            if let Ok(v) = registration_result(&e)
                && v.get("client_secret").is_some()
                && v.get("client_secret_expires_at").is_none()
            {
                missing.push("client_secret_expires_at (a secret was issued)".to_string());
                evidence.push(e);
            }
        }
        if missing.is_empty() {
            pass("the registration response returns the registered metadata")
        } else {
            StepOutcome::fail(
                format!(
                    "the registration response lacks {} (RFC 7591 §3.2.1)",
                    missing.join(", ")
                ),
                evidence,
            )
        }
    }

    async fn dcr_lenient_input(&self) -> StepOutcome {
        let endpoint = match self.registration_endpoint() {
            Ok(e) => e,
            Err(o) => return o,
        };
        let mut failures = Vec::new();
        let mut evidence = Vec::new();
        let minimal = json!({"redirect_uris": [self.flow.redirect_uri], "client_name": "mcp-auth-conformance minimal"});
        let mut unknown = client_metadata(&self.flow.redirect_uri, &self.flow.scope);
        unknown["x_conformance_unknown_field"] = json!("ignore me");
        // Only the unknown field is new here (dcr.application-type judges application_type).
        if let Some(o) = unknown.as_object_mut() {
            o.remove("application_type");
        }
        for (what, body) in [
            ("only redirect_uris and client_name", minimal),
            ("an unknown field", unknown),
        ] {
            let e = register(self.ctx, &endpoint, &body).await;
            if let Err(why) = registration_result(&e) {
                failures.push(format!("a registration with {what} was refused ({why})"));
                evidence.push(e);
            }
        }
        if failures.is_empty() {
            pass(
                "registrations omitting optional metadata or carrying an unknown field are accepted",
            )
        } else {
            StepOutcome::fail(
                format!(
                    "{} (RFC 7591 §2: defaults apply, unknown metadata is ignored)",
                    failures.join("; ")
                ),
                evidence,
            )
        }
    }

    async fn dcr_error_codes(&self) -> StepOutcome {
        let endpoint = match self.registration_endpoint() {
            Ok(e) => e,
            Err(o) => return o,
        };
        let mut failures = Vec::new();
        let mut evidence = Vec::new();
        for uri in [
            "javascript:alert(1)",
            "http://127.0.0.1:8080/cb#fragment",
            "http://attacker.example/cb",
        ] {
            let body = client_metadata(uri, &self.flow.scope);
            let e = register(self.ctx, &endpoint, &body).await;
            let a = error_answer(&e);
            let ok = a.status == Some(400)
                && matches!(
                    a.error.as_deref(),
                    Some("invalid_redirect_uri" | "invalid_client_metadata")
                );
            if !ok {
                failures.push(format!("redirect URI {uri:?}: {}", a.describe()));
                evidence.push(e);
            }
        }
        if failures.is_empty() {
            pass(
                "dangerous redirect URIs are refused with 400 invalid_redirect_uri or invalid_client_metadata",
            )
        } else {
            StepOutcome::fail(
                format!(
                    "{} (expected 400 invalid_redirect_uri or invalid_client_metadata, RFC 7591 §3.2.2)",
                    failures.join("; ")
                ),
                evidence,
            )
        }
    }

    async fn dcr_application_type(&self) -> StepOutcome {
        let Some(endpoint) = self.flow.endpoint("registration_endpoint") else {
            return if self.has_metadata().is_ok() {
                StepOutcome::skip("the authorization server offers no dynamic client registration")
            } else {
                StepOutcome::not_testable(self.flow.summary(), Vec::new())
            };
        };
        let port = if self.redirect_port() == 0 {
            33_418
        } else {
            self.redirect_port()
        };
        let loopback = format!("http://127.0.0.1:{port}/callback");
        // What MCP clients send since SEP-837: a native application with a loopback redirect.
        let native = client_metadata(&loopback, &self.flow.scope);
        let e = register(self.ctx, &endpoint, &native).await;
        let answer = match registration_result(&e) {
            Ok(v) => v,
            Err(_) => {
                return StepOutcome::fail(
                    format!(
                        "a registration with application_type native and a loopback redirect URI was refused ({}); MCP clients register this way (OpenID Connect Registration §2, SEP-837)",
                        error_answer(&e).describe()
                    ),
                    vec![e],
                );
            }
        };
        if let Some(kind) = answer.get("application_type").and_then(Value::as_str)
            && kind != "native"
        {
            return StepOutcome::fail(
                format!(
                    "a registration with application_type native was answered with application_type {kind:?}: the server does not keep the client type it was given"
                ),
                vec![e],
            );
        }
        let mut notes = vec!["native with a loopback redirect URI: registered".to_string()];
        for (label, kind, uri) in [
            (
                "web with an https redirect URI",
                "web",
                "https://app.example/callback",
            ),
            ("web with a loopback redirect URI", "web", loopback.as_str()),
        ] {
            let mut body = client_metadata(uri, &self.flow.scope);
            body["application_type"] = json!(kind);
            let e = register(self.ctx, &endpoint, &body).await;
            let verdict = if registration_result(&e).is_ok() {
                "registered".to_string()
            } else {
                format!("refused ({})", error_answer(&e).describe())
            };
            notes.push(format!("{label}: {verdict}"));
        }
        pass(notes.join("; "))
    }

    async fn dcr_client_usable(&self) -> StepOutcome {
        // The login shows the walk works at all; only then does a new client's walk say anything.
        if let Err(o) = self.logged_in() {
            return o;
        }
        if let Err(o) = self.registration_endpoint() {
            return o;
        }
        let Some((client, registered)) = self.second_client().await else {
            return StepOutcome::not_testable(
                "a new registration was refused (dcr.register-basic judges registration)",
                Vec::new(),
            );
        };
        let client_id = client.client_id().to_string();
        // Usable at once: an authorization and a code exchange with the new client.
        let Some((run, pkce)) = self
            .authorize_with_pkce(|p| p.set("client_id", client_id.clone()))
            .await
        else {
            return StepOutcome::not_testable("no authorization endpoint", Vec::new());
        };
        let Some(code) = run.code().map(str::to_string) else {
            return StepOutcome::fail(
                format!(
                    "a client registered a moment before was not accepted at the authorization endpoint: {}",
                    run.describe_end()
                ),
                std::iter::once(registered)
                    .chain(run.hops.last().cloned())
                    .collect(),
            );
        };
        let form = self.run.code_form(self.flow, &code, Some(&pkce.verifier));
        let e = token_request(self.ctx, &self.token_endpoint(), &form, &client).await;
        if let Err(why) = token_set(&e) {
            return StepOutcome::fail(
                format!(
                    "the code issued to a client registered a moment before was not exchanged: {why}"
                ),
                vec![e],
            );
        }
        let Some(restart) = &self.ctx.restart else {
            return pass(
                "a new client could log in at once; the restart half was not run (give --restart-cmd for a target you run yourself)",
            );
        };
        if let Err(why) = restart.restart().await {
            return StepOutcome::not_testable(
                format!(
                    "a new client could log in at once; the target could not be restarted: {why}"
                ),
                Vec::new(),
            );
        }
        // After the restart: a token request from that client with a code that cannot be valid
        // says whether the client is still known (invalid_grant) or forgotten (invalid_client).
        let form = self
            .run
            .code_form(self.flow, "conformance-no-such-code", Some(&pkce.verifier));
        // The first request may meet a connection kept alive to the stopped process: a request
        // that got no answer at all is sent again, a few times.
        let mut e = token_request(self.ctx, &self.token_endpoint(), &form, &client).await;
        for _ in 0..3 {
            if e.response().is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            e = token_request(self.ctx, &self.token_endpoint(), &form, &client).await;
        }
        let a = error_answer(&e);
        let described = match a.status {
            Some(_) => a.describe(),
            None => format!("no answer ({})", e.failure()),
        };
        match (a.status, a.error.as_deref()) {
            (Some(s), _) if s < 500 && a.error.as_deref() == Some("invalid_client") => pass(
                "a new client could log in at once; after a restart it is forgotten, and the token endpoint says so with invalid_client (clients such as Claude register again on that signal)",
            ),
            (Some(s), Some(error)) if s < 500 => pass(format!(
                "a new client could log in at once, and is still known after a restart (a made-up code got {error})"
            )),
            _ => StepOutcome::fail(
                format!(
                    "after a restart, a token request from a client registered before it was answered {described} (RFC 6749 §5.2: invalid_client for a client the server no longer knows, never a server error)"
                ),
                vec![e],
            ),
        }
    }

    async fn metadata_path_insertion(&self) -> StepOutcome {
        let Some(discovery) = &self.flow.discovery else {
            return StepOutcome::not_testable(self.flow.summary(), Vec::new());
        };
        let Ok(issuer) = url::Url::parse(&discovery.issuer) else {
            return StepOutcome::not_testable(
                format!("the issuer {:?} is not a URL", discovery.issuer),
                Vec::new(),
            );
        };
        if issuer.path().trim_end_matches('/').is_empty() {
            return StepOutcome::skip(
                "the issuer has no path, so the MCP discovery URLs are the root well-known ones",
            );
        }
        if let Some(found) = discovery.attempts.iter().find(|a| a.document.is_some()) {
            return pass(format!(
                "the metadata of {} is at {}, a URL MCP clients probe",
                discovery.issuer, found.url
            ));
        }
        let origin = issuer.origin().ascii_serialization();
        let root = format!("{origin}/.well-known/oauth-authorization-server");
        let e = self.ctx.target.send(Request::get_json(root.clone())).await;
        let tried: Vec<&str> = discovery.attempts.iter().map(|a| a.url.as_str()).collect();
        let mut evidence: Vec<Exchange> = discovery
            .attempts
            .iter()
            .map(|a| a.exchange.clone())
            .collect();
        let at_root = crate::discovery::metadata_document(&e).is_some();
        evidence.push(e);
        StepOutcome::fail(
            if at_root {
                format!(
                    "the metadata of {} is published only at the origin's root ({root}); MCP clients look for an issuer with a path at {} (RFC 8414 §3.1 inserts the path after the well-known segment)",
                    discovery.issuer,
                    tried.join(", ")
                )
            } else {
                format!(
                    "no metadata for {} at any URL MCP clients probe ({})",
                    discovery.issuer,
                    tried.join(", ")
                )
            },
            evidence,
        )
    }

    // ----- Client ID Metadata Documents -----

    /// The checks apply when the metadata advertises metadata documents and the login worked.
    fn cimd_applies(&self) -> Result<(), StepOutcome> {
        self.logged_in()?;
        let metadata = self.has_metadata()?;
        if metadata.get("client_id_metadata_document_supported") == Some(&Value::Bool(true)) {
            Ok(())
        } else {
            Err(StepOutcome::skip(
                "the authorization server does not advertise Client ID Metadata Documents (client_id_metadata_document_supported)",
            ))
        }
    }

    /// The URL of a document the mock IdP hosts.
    fn cimd_url(&self, name: &str) -> String {
        format!(
            "{}/documents/{name}",
            self.ctx.idp_info.issuer.trim_end_matches('/')
        )
    }

    /// A valid document for `client_id`, listing the login's redirect URI.
    fn cimd_document(&self, client_id: &str) -> Value {
        json!({
            "client_id": client_id,
            "client_name": "mcp-auth-conformance (metadata document)",
            "redirect_uris": [self.flow.redirect_uri],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        })
    }

    /// Hosts `document` (built by [`hosted`]) at the mock IdP's `/documents/{name}`.
    async fn cimd_host(&self, name: &str, mut document: Value) -> Result<(), HarnessError> {
        document["name"] = json!(name);
        self.ctx.idp.host_document(&document).await
    }

    /// Hosts `document` under `name` and walks an authorization request whose `client_id` is
    /// `client_id` (and `redirect_uri`, when given).
    async fn cimd_attempt(
        &self,
        name: &str,
        client_id: &str,
        document: Value,
        redirect_uri: Option<String>,
    ) -> Result<Option<(AuthorizeRun, Pkce)>, HarnessError> {
        self.cimd_host(name, document).await?;
        Ok(self
            .authorize_with_pkce(|p| {
                p.set("client_id", client_id);
                if let Some(uri) = redirect_uri {
                    p.set("redirect_uri", uri);
                }
            })
            .await)
    }

    /// [`Probes::cimd_applies`], then [`Probes::cimd_control`]: what every refusal check needs.
    async fn cimd_ready(&self, tag: &str) -> Result<Result<(), StepOutcome>, HarnessError> {
        if let Err(o) = self.cimd_applies() {
            return Ok(Err(o));
        }
        self.cimd_control(tag).await
    }

    /// A valid document's authorization must deliver a code before a refusal says anything.
    async fn cimd_control(&self, tag: &str) -> Result<Result<(), StepOutcome>, HarnessError> {
        let name = format!("cimd-{tag}-control.json");
        let url = self.cimd_url(&name);
        let body = hosted(self.cimd_document(&url));
        let Some((run, _)) = self.cimd_attempt(&name, &url, body, None).await? else {
            return Ok(Err(StepOutcome::not_testable(
                "no authorization endpoint",
                Vec::new(),
            )));
        };
        if run.code().is_some() {
            return Ok(Ok(()));
        }
        Ok(Err(StepOutcome::not_testable(
            format!(
                "a valid metadata document was not accepted either ({}); see cimd.fetched",
                run.describe_end()
            ),
            Vec::new(),
        )))
    }

    async fn cimd_fetched(&self) -> Result<StepOutcome, HarnessError> {
        if let Err(o) = self.cimd_applies() {
            return Ok(o);
        }
        let name = "cimd-fetched.json";
        let url = self.cimd_url(name);
        let mark = self.ctx.idp.last_seq().await?;
        let body = hosted(self.cimd_document(&url));
        let Some((run, pkce)) = self.cimd_attempt(name, &url, body, None).await? else {
            return Ok(StepOutcome::not_testable(
                "no authorization endpoint",
                Vec::new(),
            ));
        };
        let fetched = self
            .ctx
            .idp
            .requests_since(mark)
            .await?
            .iter()
            .any(|r| r.endpoint == "document" && r.path.ends_with(name));
        let Some(code) = run.code().map(str::to_string) else {
            let why = format!(
                "an authorization request with client_id={url} (a valid metadata document{}) got no code: {}",
                if fetched {
                    ", fetched"
                } else {
                    " the server did not fetch"
                },
                run.describe_end()
            );
            return Ok(if self.ctx.options.cimd_loopback {
                StepOutcome::fail(why, run.hops.last().cloned().into_iter().collect())
            } else {
                StepOutcome::not_testable(
                    format!(
                        "{why}. The document is at a loopback http URL, which a server must refuse outside tests (SSRF); run the server with private metadata URLs allowed and pass --cimd-loopback to judge the metadata-document checks"
                    ),
                    Vec::new(),
                )
            });
        };
        let client = ClientAuth::None {
            client_id: url.clone(),
        };
        let form = self.run.code_form(self.flow, &code, Some(&pkce.verifier));
        let e = token_request(self.ctx, &self.token_endpoint(), &form, &client).await;
        match token_set(&e) {
            Ok(_) => Ok(pass(format!(
                "a client identified by its metadata document URL logged in (document {})",
                if fetched { "fetched" } else { "already known" }
            ))),
            Err(why) => Ok(StepOutcome::fail(
                format!(
                    "the metadata-document client got a code, but the code exchange failed: {why}"
                ),
                vec![e],
            )),
        }
    }

    /// Fails when any of `attempts` delivered a code or left for another site; with
    /// `no_redirect`, also when it redirected to the named redirect URI at all (an unlisted one).
    fn cimd_refusals(
        attempts: Vec<(String, Option<(AuthorizeRun, Pkce)>)>,
        no_redirect: bool,
        rule: &str,
        ok: &str,
    ) -> StepOutcome {
        let mut failures = Vec::new();
        let mut evidence = Vec::new();
        for (what, attempt) in attempts {
            let Some((run, _)) = attempt else {
                return StepOutcome::not_testable("no authorization endpoint", Vec::new());
            };
            let bad = match run.end {
                AuthorizeEnd::Callback { .. } => no_redirect || run.code().is_some(),
                AuthorizeEnd::Elsewhere { .. } => true,
                AuthorizeEnd::Stopped { .. } | AuthorizeEnd::Intercepted { .. } => false,
            };
            if bad {
                failures.push(format!("{what}: {}", run.describe_end()));
                evidence.extend(run.hops.last().cloned());
            }
        }
        if failures.is_empty() {
            pass(ok)
        } else {
            StepOutcome::fail(format!("{rule}: {}", failures.join("; ")), evidence)
        }
    }

    async fn cimd_client_id_mismatch(&self) -> Result<StepOutcome, HarnessError> {
        if let Err(o) = self.cimd_ready("mismatch").await? {
            return Ok(o);
        }
        let name = "cimd-mismatch.json";
        let url = self.cimd_url(name);
        let body = hosted(self.cimd_document("https://other-client.example/client.json"));
        let attempt = self.cimd_attempt(name, &url, body, None).await?;
        Ok(Self::cimd_refusals(
            vec![("a document naming another client_id".to_string(), attempt)],
            false,
            "a metadata document whose client_id is not its own URL was accepted",
            "a document whose client_id differs from its URL was refused",
        ))
    }

    async fn cimd_redirect_not_listed(&self) -> Result<StepOutcome, HarnessError> {
        if let Err(o) = self.cimd_ready("redirect").await? {
            return Ok(o);
        }
        let name = "cimd-redirect.json";
        let url = self.cimd_url(name);
        let body = hosted(self.cimd_document(&url));
        let unlisted = format!("http://127.0.0.1:{}/not-listed", self.redirect_port());
        let attempt = self
            .cimd_attempt(name, &url, body, Some(unlisted.clone()))
            .await?;
        Ok(Self::cimd_refusals(
            vec![(format!("redirect_uri {unlisted}"), attempt)],
            true,
            "a redirect URI the metadata document does not list was used",
            "a redirect URI the document does not list was refused without a redirect",
        ))
    }

    async fn cimd_invalid_document(&self) -> Result<StepOutcome, HarnessError> {
        if let Err(o) = self.cimd_ready("invalid").await? {
            return Ok(o);
        }
        let mut attempts = Vec::new();
        let url = self.cimd_url("cimd-not-json.json");
        let body = hosted("this is not JSON");
        attempts.push((
            "a document that is not JSON".to_string(),
            self.cimd_attempt("cimd-not-json.json", &url, body, None)
                .await?,
        ));
        let url = self.cimd_url("cimd-no-redirects.json");
        let mut document = self.cimd_document(&url);
        if let Some(o) = document.as_object_mut() {
            o.remove("redirect_uris");
        }
        let body = hosted(document);
        attempts.push((
            "a document without redirect_uris".to_string(),
            self.cimd_attempt("cimd-no-redirects.json", &url, body, None)
                .await?,
        ));
        let url = format!("{}#fragment", self.cimd_url("cimd-fragment.json"));
        let body = hosted(self.cimd_document(&url));
        attempts.push((
            "a client_id URL with a fragment".to_string(),
            self.cimd_attempt("cimd-fragment.json", &url, body, None)
                .await?,
        ));
        let url = self.cimd_url("sub/../cimd-dots.json");
        let body = hosted(self.cimd_document(&url));
        attempts.push((
            "a client_id URL with dot segments".to_string(),
            self.cimd_attempt("cimd-dots.json", &url, body, None)
                .await?,
        ));
        Ok(Self::cimd_refusals(
            attempts,
            false,
            "an invalid metadata document or client_id URL was accepted",
            "a non-JSON document, one without redirect_uris, and client_id URLs with a fragment or dot segments were refused",
        ))
    }

    async fn cimd_no_shared_secret(&self) -> Result<StepOutcome, HarnessError> {
        if let Err(o) = self.cimd_ready("secret").await? {
            return Ok(o);
        }
        let name = "cimd-secret.json";
        let url = self.cimd_url(name);
        let mut document = self.cimd_document(&url);
        document["client_secret"] = json!("a-shared-secret-in-a-public-document");
        document["token_endpoint_auth_method"] = json!("client_secret_post");
        let body = hosted(document);
        let attempt = self.cimd_attempt(name, &url, body, None).await?;
        Ok(Self::cimd_refusals(
            vec![(
                "a document with client_secret and client_secret_post".to_string(),
                attempt,
            )],
            false,
            "a metadata document carrying a shared secret was accepted (a public document cannot keep a secret)",
            "a document with a client secret was refused",
        ))
    }

    async fn cimd_consent_shows_host(&self) -> Result<StepOutcome, HarnessError> {
        if let Err(o) = self.cimd_applies() {
            return Ok(o);
        }
        let name = "cimd-consent.json";
        let url = self.cimd_url(name);
        self.cimd_host(name, hosted(self.cimd_document(&url)))
            .await?;
        // A fresh browser, so that no remembered consent hides the page.
        let fresh = crate::oauth::agent::UserAgent::new();
        let run_fresh = LoginRun {
            ctx: self.ctx,
            agent: &fresh,
        };
        let pkce = Pkce::new();
        let mut params = self.run.params(self.flow, &pkce, &random_text(12));
        params.set("client_id", url.clone());
        let Some(run) = run_fresh
            .authorize(self.flow, &params, Decision::Approve, Vec::new(), false)
            .await
        else {
            return Ok(StepOutcome::not_testable(
                "no authorization endpoint",
                Vec::new(),
            ));
        };
        let own = origin_of(&self.ctx.target_url);
        let Some(page) = run.pages.iter().find(|p| origin_of(&p.url) == own) else {
            return Ok(if run.code().is_some() {
                StepOutcome::skip(
                    "the server showed no consent page for the metadata-document client",
                )
            } else {
                StepOutcome::not_testable(
                    format!(
                        "a valid metadata document was not accepted ({}); see cimd.fetched",
                        run.describe_end()
                    ),
                    Vec::new(),
                )
            });
        };
        let host = url::Url::parse(&self.flow.redirect_uri)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default();
        // The server's own URLs (the resource) do not count: same host, another port.
        let own_authority = url::Url::parse(&self.ctx.target_url)
            .map(|u| authority_of(&u))
            .unwrap_or_default();
        let text = page
            .text
            .to_ascii_lowercase()
            .replace(&own_authority.to_ascii_lowercase(), " ");
        let evidence = vec![run.hops[page.hop].clone()];
        if host.is_empty() || !text.contains(&host.to_ascii_lowercase()) {
            return Ok(StepOutcome::fail(
                format!(
                    "the consent page for a client known only by its metadata document does not show where the authorization goes ({host}): anyone can publish a document naming a localhost redirect URI"
                ),
                evidence,
            ));
        }
        if [
            "warning",
            "your own computer",
            "this computer",
            "this device",
        ]
        .iter()
        .any(|w| text.contains(w))
        {
            Ok(pass(format!(
                "the consent page shows the redirect host {host} and warns that the code goes to a program on this computer"
            )))
        } else {
            Ok(StepOutcome::warn(
                format!(
                    "the consent page shows the redirect host {host}, but does not warn that only loopback redirect URIs are registered (SHOULD)"
                ),
                evidence,
            ))
        }
    }

    async fn cimd_fetch_safety(&self) -> Result<StepOutcome, HarnessError> {
        if let Err(o) = self.cimd_ready("safety").await? {
            return Ok(o);
        }
        let mut attempts = Vec::new();
        let name = "cimd-oversize.json";
        let url = self.cimd_url(name);
        let mut document = self.cimd_document(&url);
        document["x_padding"] = json!("x".repeat(8 * 1024));
        let body = hosted(document);
        attempts.push((
            "an 8 KB document".to_string(),
            self.cimd_attempt(name, &url, body, None).await?,
        ));
        // A redirect to a valid document for the original URL: it must not be followed.
        let url = self.cimd_url("cimd-redirected.json");
        let target = self.cimd_url("cimd-redirect-target.json");
        self.cimd_host(
            "cimd-redirect-target.json",
            hosted(self.cimd_document(&url)),
        )
        .await?;
        let body = json!({"body": "", "status": 302, "location": target});
        attempts.push((
            "a document URL answering with a redirect".to_string(),
            self.cimd_attempt("cimd-redirected.json", &url, body, None)
                .await?,
        ));
        Ok(Self::cimd_refusals(
            attempts,
            false,
            "an unsafe metadata-document fetch was accepted",
            "an oversized document and a redirected document URL were refused (private addresses cannot be judged from loopback)",
        ))
    }

    // ----- PKCE -----

    async fn pkce_required(&self) -> StepOutcome {
        if let Err(o) = self.logged_in() {
            return o;
        }
        let Some(run) = self
            .authorize_with(|p| {
                p.remove("code_challenge");
                p.remove("code_challenge_method");
            })
            .await
        else {
            return StepOutcome::not_testable("no authorization endpoint", Vec::new());
        };
        match run.code() {
            Some(_) => StepOutcome::fail(
                "an authorization request without code_challenge was answered with a code",
                run.hops.clone(),
            ),
            None => pass(format!("refused: {}", run.describe_end())),
        }
    }

    async fn pkce_plain_refused(&self) -> StepOutcome {
        if let Err(o) = self.logged_in() {
            return o;
        }
        let verifier = random_text(32);
        let Some(run) = self
            .authorize_with(|p| {
                p.set("code_challenge", verifier.clone());
                p.set("code_challenge_method", "plain");
            })
            .await
        else {
            return StepOutcome::not_testable("no authorization endpoint", Vec::new());
        };
        match run.code() {
            Some(_) => StepOutcome::fail(
                "an authorization request with code_challenge_method=plain was answered with a code; S256 worked, so plain only weakens PKCE",
                run.hops.clone(),
            ),
            None => pass(format!(
                "S256 worked in the login; plain was refused: {}",
                run.describe_end()
            )),
        }
    }

    async fn pkce_verifier(&self, wrong: Option<&str>) -> StepOutcome {
        if let Err(o) = self.logged_in() {
            return o;
        }
        let Some((code, _pkce, _)) = self.run.fresh_code(self.flow).await else {
            return StepOutcome::not_testable(
                "a second authorization did not deliver a code",
                Vec::new(),
            );
        };
        let verifier = wrong.map(|_| random_text(32));
        let form = self.run.code_form(self.flow, &code, verifier.as_deref());
        let e = token_request(self.ctx, &self.token_endpoint(), &form, &self.client()).await;
        let codes: &[&str] = if wrong.is_some() {
            &["invalid_grant"]
        } else {
            &["invalid_grant", "invalid_request"]
        };
        let what = if wrong.is_some() {
            "a wrong code_verifier"
        } else {
            "no code_verifier"
        };
        match refused_with(&e, codes) {
            Ok(note) => StepOutcome::pass(
                format!("the code exchange with {what} was refused: {note}"),
                Vec::new(),
            ),
            Err(why) => StepOutcome::fail(format!("the code exchange with {what}: {why}"), vec![e]),
        }
    }

    async fn pkce_two_legs(&self) -> Result<StepOutcome, HarnessError> {
        if let Err(o) = self.logged_in() {
            return Ok(o);
        }
        if !self.flow.via_upstream {
            return Ok(StepOutcome::skip(
                "the login did not go through an upstream identity provider",
            ));
        }
        let seen = self.ctx.idp.requests_since(self.facts.log_start).await?;
        let ours = self
            .flow
            .pkce
            .as_ref()
            .map(|p| p.challenge.clone())
            .unwrap_or_default();
        let upstream: Vec<Option<String>> = seen
            .iter()
            .filter(|r| r.endpoint == "authorize")
            .map(|r| {
                url::form_urlencoded::parse(r.query.as_deref().unwrap_or("").as_bytes())
                    .find(|(k, _)| k == "code_challenge")
                    .map(|(_, v)| v.into_owned())
            })
            .collect();
        if upstream.is_empty() {
            return Ok(StepOutcome::not_testable(
                "the mock IdP recorded no authorization request",
                Vec::new(),
            ));
        }
        if upstream.iter().any(Option::is_none) {
            return Ok(StepOutcome::fail(
                "the proxy's authorization request to the upstream carried no code_challenge",
                Vec::new(),
            ));
        }
        if upstream.iter().any(|c| c.as_deref() == Some(ours.as_str())) {
            return Ok(StepOutcome::fail(
                "the proxy forwarded the client's own code_challenge upstream instead of using its own pair",
                Vec::new(),
            ));
        }
        Ok(pass(
            "the proxy used its own PKCE challenge on the upstream leg",
        ))
    }

    async fn pkce_downgrade(&self) -> StepOutcome {
        if let Err(o) = self.logged_in() {
            return o;
        }
        let Some((run, _)) = self
            .authorize_with_pkce(|p| {
                p.remove("code_challenge");
                p.remove("code_challenge_method");
            })
            .await
        else {
            return StepOutcome::not_testable("no authorization endpoint", Vec::new());
        };
        let Some(code) = run.code().map(str::to_string) else {
            return StepOutcome::skip(
                "every authorization request needs a code_challenge (pkce.required), so there is no challenge-less code to downgrade",
            );
        };
        // A code issued without a challenge, redeemed with a verifier: RFC 9700 §4.8.2 has the
        // server refuse it, so an attacker cannot strip the challenge from a victim's request.
        let form = self.run.code_form(self.flow, &code, Some(&random_text(32)));
        let e = token_request(self.ctx, &self.token_endpoint(), &form, &self.client()).await;
        if token_set(&e).is_ok() {
            StepOutcome::fail(
                "a code issued without a code_challenge was redeemed with a code_verifier (RFC 9700 §4.8.2: refuse, or a stripped challenge goes unnoticed)",
                vec![e],
            )
        } else {
            pass(format!(
                "the challenge-less code redeemed with a verifier was refused: {}",
                error_answer(&e).describe()
            ))
        }
    }

    async fn scope_reports_granted(&self) -> StepOutcome {
        if let Err(o) = self.logged_in() {
            return o;
        }
        let had_page = self.flow.authorization.as_ref().is_some_and(|r| {
            r.pages
                .iter()
                .any(|p| origin_of(&p.url) == origin_of(&self.ctx.target_url))
        });
        if !had_page {
            return StepOutcome::skip(
                "the server approves without a consent page, so the user cannot grant less than asked",
            );
        }
        let supported: Vec<String> = self
            .flow
            .discovery
            .as_ref()
            .and_then(|d| d.document())
            .and_then(|d| d.get("scopes_supported"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let asked: Vec<&str> = self.flow.scope.split_whitespace().collect();
        let Some(extra) = ["profile", "email"]
            .into_iter()
            .map(str::to_string)
            .chain(supported.iter().cloned())
            .find(|s| {
                supported.contains(s) && !asked.contains(&s.as_str()) && s != "offline_access"
            })
        else {
            return StepOutcome::skip("scopes_supported offers no scope beyond the one asked for");
        };
        let scope = format!("{} {extra}", self.flow.scope).trim().to_string();
        // A client allowed both scopes, so that the narrowing is the user's.
        let Some(endpoint) = self.flow.endpoint("registration_endpoint") else {
            return StepOutcome::skip(
                "needs a client registered for two scopes, and the server offers no dynamic registration",
            );
        };
        let e = register(
            self.ctx,
            &endpoint,
            &client_metadata(&self.flow.redirect_uri, &scope),
        )
        .await;
        let Ok(v) = registration_result(&e) else {
            return StepOutcome::not_testable(
                format!("a client for {scope:?} could not be registered"),
                vec![e],
            );
        };
        let client = ClientAuth::for_method(
            v.get("token_endpoint_auth_method")
                .and_then(Value::as_str)
                .unwrap_or("none"),
            v.get("client_id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            v.get("client_secret")
                .and_then(Value::as_str)
                .map(str::to_string),
        );
        let pkce = Pkce::new();
        let mut params = self.run.params(self.flow, &pkce, &random_text(8));
        params.set("client_id", client.client_id().to_string());
        params.set("scope", scope.clone());
        let fresh = crate::oauth::agent::UserAgent::new();
        let run_fresh = LoginRun {
            ctx: self.ctx,
            agent: &fresh,
        };
        let Some(run) = run_fresh
            .authorize_walk(
                self.flow,
                &params,
                WalkOptions {
                    untick_scope: Some(extra.clone()),
                    ..WalkOptions::default()
                },
            )
            .await
        else {
            return StepOutcome::not_testable("no authorization endpoint", Vec::new());
        };
        if !run.unticked {
            return StepOutcome::skip("the consent page offers no choice of scopes");
        }
        let Some(code) = run.code().map(str::to_string) else {
            return StepOutcome::not_testable(
                format!("the narrowed approval: {}", run.describe_end()),
                run.hops.clone(),
            );
        };
        let form = self.run.code_form(self.flow, &code, Some(&pkce.verifier));
        let e = token_request(self.ctx, &self.token_endpoint(), &form, &client).await;
        let Ok(set) = token_set(&e) else {
            return StepOutcome::not_testable("the narrowed grant's code exchange failed", vec![e]);
        };
        match &set.scope {
            Some(granted) if granted.split_whitespace().any(|s| s == extra) => StepOutcome::fail(
                format!(
                    "the user unticked {extra}, but the token response says it was granted ({granted:?})"
                ),
                vec![e],
            ),
            Some(granted) => pass(format!(
                "asked for {scope:?}, the user granted less, and the token response says so ({granted:?})"
            )),
            None => StepOutcome::fail(
                format!(
                    "asked for {scope:?}, the user unticked {extra}, and the token response carries no scope: the client cannot know it got less (RFC 6749 §5.1)"
                ),
                vec![e],
            ),
        }
    }

    // ----- redirect URIs -----

    fn redirect_port(&self) -> u16 {
        url::Url::parse(&self.flow.redirect_uri)
            .ok()
            .and_then(|u| u.port())
            .unwrap_or(0)
    }

    /// Tries redirect URIs that must be refused; fails on any that gets a redirect.
    async fn refuse_redirects(&self, uris: &[String], rule: &str) -> StepOutcome {
        if let Err(o) = self.logged_in() {
            return o;
        }
        let mut failures = Vec::new();
        let mut evidence = Vec::new();
        for uri in uris {
            let Some(run) = self
                .authorize_with(|p| p.set("redirect_uri", uri.clone()))
                .await
            else {
                return StepOutcome::not_testable("no authorization endpoint", Vec::new());
            };
            match &run.end {
                AuthorizeEnd::Callback { .. } | AuthorizeEnd::Elsewhere { .. } => {
                    failures.push(format!("{uri}: {}", run.describe_end()));
                    evidence.extend(run.hops.last().cloned());
                }
                AuthorizeEnd::Stopped { .. } | AuthorizeEnd::Intercepted { .. } => {}
            }
        }
        if failures.is_empty() {
            pass(format!(
                "each refused without a redirect ({} tried)",
                uris.len()
            ))
        } else {
            StepOutcome::fail(format!("{rule}: {}", failures.join("; ")), evidence)
        }
    }

    async fn redirect_exact_match(&self) -> StepOutcome {
        let port = self.redirect_port();
        let uris = vec![
            format!("http://127.0.0.1:{port}/callback/extra"),
            format!("http://127.0.0.1:{port}/callbackx"),
            format!("https://127.0.0.1:{port}/callback"),
            format!("http://127.0.0.1:{port}/other"),
        ];
        self.refuse_redirects(
            &uris,
            "redirect URIs that are not the registered one were accepted",
        )
        .await
    }

    async fn redirect_loopback_any_port(&self) -> StepOutcome {
        if let Err(o) = self.logged_in() {
            return o;
        }
        let other = if self.redirect_port() == 65_000 {
            65_001
        } else {
            65_000
        };
        let uri = format!("http://127.0.0.1:{other}/callback");
        let Some(run) = self
            .authorize_with(|p| p.set("redirect_uri", uri.clone()))
            .await
        else {
            return StepOutcome::not_testable("no authorization endpoint", Vec::new());
        };
        if run.code().is_some() {
            pass(format!(
                "the registered loopback redirect URI on another port was accepted ({uri})"
            ))
        } else {
            StepOutcome::fail(
                format!(
                    "the registered loopback redirect URI with another port ({uri}) was refused: {}; native clients pick a free port each time (RFC 8252 §7.3)",
                    run.describe_end()
                ),
                run.hops.last().cloned().into_iter().collect(),
            )
        }
    }

    async fn redirect_localhost_any_port(&self) -> StepOutcome {
        if let Err(o) = self.logged_in() {
            return o;
        }
        let Some(endpoint) = self.flow.endpoint("registration_endpoint") else {
            return StepOutcome::skip(
                "needs dynamic registration to register a localhost redirect URI",
            );
        };
        if matches!(
            self.flow.client.as_ref().map(|c| &c.source),
            Some(ClientSource::CommandLine)
        ) {
            return StepOutcome::skip("the run used a pre-registered client (--client-id)");
        }
        let registered = "http://localhost:41000/callback";
        let e = register(
            self.ctx,
            &endpoint,
            &client_metadata(registered, &self.flow.scope),
        )
        .await;
        let Ok(v) = registration_result(&e) else {
            return StepOutcome::not_testable(
                "the registration of a localhost redirect URI was refused",
                vec![e],
            );
        };
        let client_id = v
            .get("client_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let requested = "http://localhost:41001/callback".to_string();
        let Some(run) = self
            .authorize_with(|p| {
                p.set("client_id", client_id.clone());
                p.set("redirect_uri", requested.clone());
            })
            .await
        else {
            return StepOutcome::not_testable("no authorization endpoint", Vec::new());
        };
        if run.code().is_some() {
            pass(format!(
                "registered {registered}; the same URI on another port was accepted"
            ))
        } else {
            StepOutcome::fail(
                format!(
                    "registered {registered}, but the same URI on another port ({requested}) was refused: {}",
                    run.describe_end()
                ),
                run.hops.last().cloned().into_iter().collect(),
            )
        }
    }

    async fn redirect_loopback_strict_rest(&self) -> StepOutcome {
        let port = self.redirect_port();
        let other = port.wrapping_add(1).max(1024);
        let uris = vec![
            format!("http://127.0.0.1:{other}/other"),
            format!("http://127.0.0.1:{other}/callback/x"),
            format!("http://127.0.0.1:{other}/callback?extra=1"),
        ];
        self.refuse_redirects(&uris, "only the port of a loopback redirect URI may change")
            .await
    }

    async fn redirect_lookalikes(&self) -> StepOutcome {
        let uris = vec![
            "http://localhost@attacker.example/callback".to_string(),
            "http://127.0.0.1.attacker.example/callback".to_string(),
            "http://localhost.attacker.example/callback".to_string(),
        ];
        self.refuse_redirects(&uris, "look-alike redirect URIs were accepted")
            .await
    }

    async fn redirect_bad_client(&self) -> StepOutcome {
        if let Err(o) = self.logged_in() {
            return o;
        }
        let mut failures = Vec::new();
        let mut evidence = Vec::new();
        let unknown = format!("never-registered-{}", random_text(6));
        let runs = [
            (
                "an unknown client_id",
                self.authorize_with(|p| p.set("client_id", unknown.clone()))
                    .await,
            ),
            (
                "an unregistered redirect URI",
                self.authorize_with(|p| p.set("redirect_uri", "https://attacker.example/callback"))
                    .await,
            ),
        ];
        for (what, run) in runs {
            let Some(run) = run else {
                return StepOutcome::not_testable("no authorization endpoint", Vec::new());
            };
            if !matches!(run.end, AuthorizeEnd::Stopped { .. }) {
                failures.push(format!("{what}: {}", run.describe_end()));
                evidence.extend(run.hops.last().cloned());
            }
        }
        if failures.is_empty() {
            pass("errors about the client or its redirect URI are shown, not redirected")
        } else {
            StepOutcome::fail(
                format!(
                    "{} (RFC 6749 §4.1.2.1: the user agent must not be redirected to an unverified URI)",
                    failures.join("; ")
                ),
                evidence,
            )
        }
    }

    // ----- the authorization response -----

    async fn authz_state_echo(&self) -> StepOutcome {
        let Some(run) = self
            .flow
            .authorization
            .as_ref()
            .filter(|r| r.reached_callback())
        else {
            return StepOutcome::not_testable(self.flow.summary(), Vec::new());
        };
        let evidence: Vec<Exchange> = run.hops.last().cloned().into_iter().collect();
        if run.param_count("state") != 1 || run.param("state") != Some(self.flow.state.as_str()) {
            return StepOutcome::fail(
                format!(
                    "the authorization response carried state {} time(s){}",
                    run.param_count("state"),
                    if run.param_count("state") == 1 {
                        " with another value"
                    } else {
                        ""
                    }
                ),
                evidence,
            );
        }
        // The error path too.
        let state = random_text(8);
        let Some(err_run) = self
            .authorize_with(|p| {
                p.set("state", state.clone());
                p.set("response_type", "token");
            })
            .await
        else {
            return pass("state returned unchanged");
        };
        if err_run.reached_callback() && err_run.param("state") != Some(state.as_str()) {
            return StepOutcome::fail(
                "the error redirect (response_type=token) did not return state unchanged",
                err_run.hops.last().cloned().into_iter().collect(),
            );
        }
        pass("state returned unchanged, exactly once, on success and error redirects")
    }

    fn authz_iss(&self) -> StepOutcome {
        let Some(run) = self
            .flow
            .authorization
            .as_ref()
            .filter(|r| r.reached_callback())
        else {
            return StepOutcome::not_testable(self.flow.summary(), Vec::new());
        };
        let evidence: Vec<Exchange> = run.hops.last().cloned().into_iter().collect();
        let issuer = self
            .flow
            .discovery
            .as_ref()
            .and_then(|d| d.get("issuer"))
            .unwrap_or_default();
        match (run.param_count("iss"), run.param("iss")) {
            (0, _) => StepOutcome::fail(
                "the authorization response carries no iss (RFC 9207), so clients cannot detect mix-up attacks",
                evidence,
            ),
            (1, Some(iss)) if iss == issuer => pass(format!("iss={iss}, the metadata issuer")),
            (1, Some(iss)) => StepOutcome::fail(
                format!(
                    "iss={iss:?} differs from the metadata issuer {issuer:?}{}; RFC 9207 clients reject this response",
                    upstream_hint(iss, &self.ctx.idp_info.issuer)
                ),
                evidence,
            ),
            (n, _) => StepOutcome::fail(
                format!("the authorization response carries iss {n} times"),
                evidence,
            ),
        }
    }

    async fn authz_error_redirects(&self) -> StepOutcome {
        if let Err(o) = self.logged_in() {
            return o;
        }
        let Some(run) = self
            .authorize_with(|p| p.set("response_type", "token"))
            .await
        else {
            return StepOutcome::not_testable("no authorization endpoint", Vec::new());
        };
        let mut failures = Vec::new();
        let mut evidence = Vec::new();
        if run.param("error") != Some("unsupported_response_type") {
            failures.push(format!("response_type=token: {}", run.describe_end()));
            evidence.extend(run.hops.last().cloned());
        }
        // A denial, where there is a page to deny on.
        let had_page = self
            .flow
            .authorization
            .as_ref()
            .is_some_and(|r| !r.pages.is_empty());
        if had_page {
            let pkce = Pkce::new();
            let params = self.run.params(self.flow, &pkce, &random_text(8));
            if let Some(denied) = self
                .run
                .authorize(self.flow, &params, Decision::Deny, Vec::new(), false)
                .await
                && !denied.pages.is_empty()
                && denied.param("error") != Some("access_denied")
            {
                failures.push(format!("denying consent: {}", denied.describe_end()));
                evidence.extend(denied.hops.last().cloned());
            }
        }
        if failures.is_empty() {
            pass(format!(
                "unsupported_response_type{} redirected to the client with state",
                if had_page { " and access_denied" } else { "" }
            ))
        } else {
            StepOutcome::fail(
                format!("{} (RFC 6749 §4.1.2.1)", failures.join("; ")),
                evidence,
            )
        }
    }

    async fn authz_code_single_use(&self) -> StepOutcome {
        if let Err(o) = self.logged_in() {
            return o;
        }
        let (first, code, pkce) = match self.fresh_tokens().await {
            Ok(t) => t,
            Err(o) => return o,
        };
        let form = self.run.code_form(self.flow, &code, Some(&pkce.verifier));
        let again = token_request(self.ctx, &self.token_endpoint(), &form, &self.client()).await;
        if let Err(why) = refused_with(&again, &["invalid_grant"]) {
            return StepOutcome::fail(
                format!("redeeming the same code a second time: {why}"),
                vec![again],
            );
        }
        let (still, e) = self.mcp_accepts(&first.access_token).await;
        if still {
            StepOutcome::warn(
                "the second redemption was refused, but the token issued for the first is still accepted (OAuth 2.1 §4.1.3: it SHOULD be revoked)",
                vec![e],
            )
        } else {
            pass("the second redemption was refused and the first token revoked")
        }
    }

    async fn authz_code_binding(&self) -> StepOutcome {
        if let Err(o) = self.logged_in() {
            return o;
        }
        let mut failures = Vec::new();
        let mut evidence = Vec::new();
        // Another redirect_uri than the one the code was issued for.
        if let Some((code, pkce, _)) = self.run.fresh_code(self.flow).await {
            let mut form = self.run.code_form(self.flow, &code, Some(&pkce.verifier));
            for pair in &mut form {
                if pair.0 == "redirect_uri" {
                    pair.1 = format!("http://127.0.0.1:{}/other", self.redirect_port());
                }
            }
            let e = token_request(self.ctx, &self.token_endpoint(), &form, &self.client()).await;
            if let Err(why) = refused_with(&e, &["invalid_grant"]) {
                failures.push(format!("another redirect_uri: {why}"));
                evidence.push(e);
            }
        }
        // Another client.
        let mut judged_client = false;
        if let Some((other, _)) = self.second_client().await
            && let Some((code, pkce, _)) = self.run.fresh_code(self.flow).await
        {
            judged_client = true;
            let form = self.run.code_form(self.flow, &code, Some(&pkce.verifier));
            let e = token_request(self.ctx, &self.token_endpoint(), &form, &other).await;
            if let Err(why) = refused_with(&e, &["invalid_grant", "invalid_client"]) {
                failures.push(format!("another client: {why}"));
                evidence.push(e);
            }
        }
        if failures.is_empty() {
            pass(if judged_client {
                "codes are bound to their client and redirect URI"
            } else {
                "codes are bound to their redirect URI (no second client could be registered to try another client)"
            })
        } else {
            StepOutcome::fail(
                format!("{} (RFC 6749 §4.1.3)", failures.join("; ")),
                evidence,
            )
        }
    }

    // ----- the token endpoint -----

    async fn token_invalid_client(&self) -> StepOutcome {
        if let Err(o) = self.has_metadata() {
            return o;
        }
        // A confidential client: registered dynamically, or the one given on the command line.
        let confidential = match self.client() {
            ClientAuth::Basic { client_id, .. } | ClientAuth::Post { client_id, .. } => {
                Some(client_id)
            }
            ClientAuth::None { .. } => match self.flow.endpoint("registration_endpoint") {
                Some(endpoint) => {
                    let mut metadata = client_metadata(&self.flow.redirect_uri, &self.flow.scope);
                    metadata["token_endpoint_auth_method"] = json!("client_secret_basic");
                    let e = register(self.ctx, &endpoint, &metadata).await;
                    match registration_result(&e) {
                        Ok(v) if v.get("client_secret").is_none() => {
                            return StepOutcome::skip(
                                "the server registers only public clients (it answered a client_secret_basic registration without a secret), so no client authenticates with a secret",
                            );
                        }
                        Ok(v) => v
                            .get("client_id")
                            .and_then(Value::as_str)
                            .map(str::to_string),
                        Err(_) => None,
                    }
                }
                None => None,
            },
        };
        let Some(client_id) = confidential else {
            return StepOutcome::not_testable(
                "no confidential client: none could be registered and none was given with --client-id/--client-secret",
                Vec::new(),
            );
        };
        let form = vec![
            ("grant_type".to_string(), "authorization_code".to_string()),
            ("code".to_string(), "not-a-code".to_string()),
            ("redirect_uri".to_string(), self.flow.redirect_uri.clone()),
        ];
        let auth = ClientAuth::Basic {
            client_id,
            secret: "wrong-secret".to_string(),
        };
        let e = token_request(self.ctx, &self.token_endpoint(), &form, &auth).await;
        let a = error_answer(&e);
        let challenge = e
            .response()
            .and_then(|r| r.header("www-authenticate"))
            .map(str::to_string);
        let mut problems = Vec::new();
        if a.error.as_deref() != Some("invalid_client") {
            problems.push(format!("{} instead of invalid_client", a.describe()));
        } else if a.status != Some(401) {
            problems.push(format!(
                "invalid_client with HTTP {} instead of 401",
                a.status.map_or("?".into(), |s| s.to_string())
            ));
        }
        if a.status == Some(401)
            && !challenge
                .as_deref()
                .is_some_and(|c| c.to_ascii_lowercase().starts_with("basic"))
        {
            problems.push(
                "no WWW-Authenticate: Basic challenge for the scheme the client used".to_string(),
            );
        }
        if problems.is_empty() {
            pass("a wrong secret via HTTP Basic got 401 invalid_client with a Basic challenge")
        } else {
            StepOutcome::fail(
                format!(
                    "a wrong client secret via HTTP Basic: {} (RFC 6749 §5.2; clients such as Claude re-register only on invalid_client)",
                    problems.join("; ")
                ),
                vec![e],
            )
        }
    }

    async fn token_unknown_client(&self) -> StepOutcome {
        if let Err(o) = self.has_metadata() {
            return o;
        }
        let form = vec![
            ("grant_type".to_string(), "authorization_code".to_string()),
            ("code".to_string(), "not-a-code".to_string()),
            ("redirect_uri".to_string(), self.flow.redirect_uri.clone()),
            ("code_verifier".to_string(), random_text(32)),
        ];
        let auth = ClientAuth::None {
            client_id: format!("never-registered-{}", random_text(6)),
        };
        let e = token_request(self.ctx, &self.token_endpoint(), &form, &auth).await;
        let a = error_answer(&e);
        match (a.error.as_deref(), a.status) {
            (Some("invalid_client"), Some(401)) => {
                pass("an unknown client_id got 401 invalid_client")
            }
            (Some("invalid_client"), Some(s)) if s < 300 => StepOutcome::fail(
                format!(
                    "an unknown client_id got invalid_client with HTTP {s}, which clients read as success"
                ),
                vec![e],
            ),
            (Some("invalid_client"), Some(s)) => StepOutcome::warn(
                format!(
                    "an unknown client_id got invalid_client with HTTP {s}; 401 is what RFC 6749 §5.2 gives it"
                ),
                vec![e],
            ),
            _ => StepOutcome::fail(
                format!(
                    "an unknown client_id got {}; invalid_client is what tells clients to register again",
                    a.describe()
                ),
                vec![e],
            ),
        }
    }

    async fn token_unauthorized_client(&self) -> StepOutcome {
        if let Err(o) = self.logged_in() {
            return o;
        }
        let form = vec![("grant_type".to_string(), "client_credentials".to_string())];
        let e = token_request(self.ctx, &self.token_endpoint(), &form, &self.client()).await;
        let a = error_answer(&e);
        let advertised = self
            .flow
            .discovery
            .as_ref()
            .and_then(|d| d.document())
            .and_then(|d| d.get("grant_types_supported"))
            .and_then(Value::as_array)
            .is_some_and(|g| g.iter().any(|v| v == "client_credentials"));
        match a.error.as_deref() {
            Some("unauthorized_client") if a.status == Some(400) => {
                pass("the client's unregistered grant got 400 unauthorized_client")
            }
            Some("unsupported_grant_type") if !advertised && a.status == Some(400) => {
                pass("client_credentials is not supported at all: 400 unsupported_grant_type")
            }
            _ if a.tokens_issued => StepOutcome::fail(
                "a client registered only for authorization_code obtained tokens with client_credentials",
                vec![e],
            ),
            Some("invalid_client") => StepOutcome::fail(
                "an identified client asking for a grant it may not use got invalid_client; RFC 6749 §5.2 reserves that for failed authentication and asks for unauthorized_client",
                vec![e],
            ),
            _ => StepOutcome::fail(
                format!(
                    "client_credentials for a client not registered for it: {} (expected 400 unauthorized_client)",
                    a.describe()
                ),
                vec![e],
            ),
        }
    }

    async fn token_unsupported_grant(&self) -> StepOutcome {
        if let Err(o) = self.logged_in() {
            return o;
        }
        let form = vec![(
            "grant_type".to_string(),
            "urn:example:conformance:unknown".to_string(),
        )];
        let e = token_request(self.ctx, &self.token_endpoint(), &form, &self.client()).await;
        match judge_token_error(&e, &["unsupported_grant_type"], self.ctx.options.profile) {
            Ok(note) => pass(note),
            Err(why) => StepOutcome::fail(format!("an unknown grant_type: {why}"), vec![e]),
        }
    }

    async fn token_invalid_grant(&self) -> StepOutcome {
        if let Err(o) = self.logged_in() {
            return o;
        }
        let profile = self.ctx.options.profile;
        let mut notes = Vec::new();
        let mut failures = Vec::new();
        let mut evidence = Vec::new();
        let bogus_code = self
            .run
            .code_form(self.flow, "not-a-real-code", Some(&random_text(32)));
        let bogus_refresh = vec![
            ("grant_type".to_string(), "refresh_token".to_string()),
            (
                "refresh_token".to_string(),
                "not-a-real-refresh-token".to_string(),
            ),
        ];
        for (what, form) in [
            ("an unknown code", bogus_code),
            ("an unknown refresh token", bogus_refresh),
        ] {
            let e = token_request(self.ctx, &self.token_endpoint(), &form, &self.client()).await;
            match judge_token_error(&e, &["invalid_grant"], profile) {
                Ok(note) => notes.push(format!("{what}: {note}")),
                Err(why) => {
                    failures.push(format!("{what}: {why}"));
                    evidence.push(e);
                }
            }
        }
        if failures.is_empty() {
            pass(format!(
                "{} (profile {})",
                notes.join("; "),
                profile.as_str()
            ))
        } else {
            StepOutcome::fail(
                format!("{} (profile {})", failures.join("; "), profile.as_str()),
                evidence,
            )
        }
    }

    async fn token_invalid_request(&self) -> StepOutcome {
        if let Err(o) = self.logged_in() {
            return o;
        }
        let form = vec![
            ("grant_type".to_string(), "authorization_code".to_string()),
            ("redirect_uri".to_string(), self.flow.redirect_uri.clone()),
            ("code_verifier".to_string(), random_text(32)),
        ];
        let e = token_request(self.ctx, &self.token_endpoint(), &form, &self.client()).await;
        match judge_token_error(&e, &["invalid_request"], self.ctx.options.profile) {
            Ok(note) => pass(format!("a code exchange without code: {note}")),
            Err(why) => StepOutcome::fail(format!("a code exchange without code: {why}"), vec![e]),
        }
    }

    async fn token_headers(&self) -> StepOutcome {
        let Some(tokens) = &self.flow.tokens else {
            return StepOutcome::not_testable(self.flow.summary(), Vec::new());
        };
        let form = vec![(
            "grant_type".to_string(),
            "urn:example:conformance:unknown".to_string(),
        )];
        let error = token_request(self.ctx, &self.token_endpoint(), &form, &self.client()).await;
        let mut problems = Vec::new();
        let mut evidence = Vec::new();
        for (what, e) in [("the success", &tokens.exchange), ("an error", &error)] {
            let Some(r) = e.response() else { continue };
            let ct = r.header("content-type").unwrap_or("").to_ascii_lowercase();
            let cc = r
                .header_values("cache-control")
                .join(",")
                .to_ascii_lowercase();
            let mut bad = Vec::new();
            if !ct.starts_with("application/json") {
                bad.push(format!("Content-Type {ct:?}"));
            }
            if !cc.contains("no-store") {
                bad.push("no Cache-Control: no-store".to_string());
            }
            if !bad.is_empty() {
                problems.push(format!("{what}: {}", bad.join(", ")));
                evidence.push(e.clone());
            }
        }
        if problems.is_empty() {
            pass("JSON with Cache-Control: no-store on success and error")
        } else {
            StepOutcome::fail(
                format!("{} (RFC 6749 §5.1, §5.2)", problems.join("; ")),
                evidence,
            )
        }
    }

    fn token_success_shape(&self) -> StepOutcome {
        let Some(tokens) = &self.flow.tokens else {
            return StepOutcome::not_testable(self.flow.summary(), Vec::new());
        };
        let v = &tokens.response;
        let token_type = v.get("token_type").and_then(Value::as_str);
        if !token_type.is_some_and(|t| t.eq_ignore_ascii_case("bearer")) {
            return StepOutcome::fail(
                format!("token_type is {token_type:?}, not Bearer"),
                vec![tokens.exchange.clone()],
            );
        }
        if v.get("expires_in").and_then(Value::as_i64).is_none() {
            return StepOutcome::warn(
                "no expires_in (RECOMMENDED: clients cannot refresh ahead of expiry)",
                vec![tokens.exchange.clone()],
            );
        }
        pass("access_token, token_type Bearer and expires_in present")
    }

    async fn token_no_200_errors(&self) -> StepOutcome {
        if let Err(o) = self.logged_in() {
            return o;
        }
        let forms = [
            vec![(
                "grant_type".to_string(),
                "urn:example:conformance:unknown".to_string(),
            )],
            self.run
                .code_form(self.flow, "not-a-real-code", Some(&random_text(32))),
            vec![("grant_type".to_string(), "authorization_code".to_string())],
        ];
        let mut bad = Vec::new();
        for form in forms {
            let e = token_request(self.ctx, &self.token_endpoint(), &form, &self.client()).await;
            if e.response().is_some_and(|r| r.is_success()) && oauth_error(&e).is_some() {
                bad.push(e);
            }
        }
        if bad.is_empty() {
            pass("no error was answered with a 2xx status")
        } else {
            StepOutcome::fail(
                format!(
                    "{} error(s) came with HTTP {} (RFC 6749 §5.2: 400 or 401)",
                    bad.len(),
                    bad[0].status_text()
                ),
                bad,
            )
        }
    }

    async fn token_auth_method_enforced(&self) -> StepOutcome {
        if let Err(o) = self.logged_in() {
            return o;
        }
        let Some(endpoint) = self.flow.endpoint("registration_endpoint") else {
            return StepOutcome::skip("needs dynamic registration of a client_secret_basic client");
        };
        let mut metadata = client_metadata(&self.flow.redirect_uri, &self.flow.scope);
        metadata["token_endpoint_auth_method"] = json!("client_secret_basic");
        let e = register(self.ctx, &endpoint, &metadata).await;
        let Ok(v) = registration_result(&e) else {
            return StepOutcome::not_testable(
                "the server refused to register a client_secret_basic client",
                vec![e],
            );
        };
        let (Some(id), Some(secret)) = (
            v.get("client_id")
                .and_then(Value::as_str)
                .map(str::to_string),
            v.get("client_secret")
                .and_then(Value::as_str)
                .map(str::to_string),
        ) else {
            return StepOutcome::skip("the server registers only public clients");
        };
        if v.get("token_endpoint_auth_method").and_then(Value::as_str)
            != Some("client_secret_basic")
        {
            return StepOutcome::skip("the server substituted another authentication method");
        }
        let form = vec![
            ("grant_type".to_string(), "refresh_token".to_string()),
            (
                "refresh_token".to_string(),
                "not-a-real-refresh-token".to_string(),
            ),
        ];
        let mut failures = Vec::new();
        let mut evidence = Vec::new();
        for (what, auth) in [
            (
                "the secret in the body",
                ClientAuth::Post {
                    client_id: id.clone(),
                    secret,
                },
            ),
            (
                "no secret",
                ClientAuth::None {
                    client_id: id.clone(),
                },
            ),
        ] {
            let e = token_request(self.ctx, &self.token_endpoint(), &form, &auth).await;
            let a = error_answer(&e);
            if a.error.as_deref() != Some("invalid_client") {
                failures.push(format!("{what}: {}", a.describe()));
                evidence.push(e);
            }
        }
        if failures.is_empty() {
            pass("a client_secret_basic client authenticating otherwise got invalid_client")
        } else {
            StepOutcome::fail(
                format!(
                    "a client registered for client_secret_basic was not held to it: {}",
                    failures.join("; ")
                ),
                evidence,
            )
        }
    }

    // ----- refresh -----

    fn refresh_token(&self) -> Result<String, StepOutcome> {
        self.logged_in()?;
        self.flow
            .tokens
            .as_ref()
            .and_then(|t| t.refresh_token.clone())
            .ok_or_else(|| StepOutcome::skip("the authorization server issued no refresh token"))
    }

    fn refresh_form(&self, token: &str) -> Vec<(String, String)> {
        vec![
            ("grant_type".to_string(), "refresh_token".to_string()),
            ("refresh_token".to_string(), token.to_string()),
            ("resource".to_string(), self.ctx.target_url.clone()),
        ]
    }

    async fn refresh_works(&self) -> StepOutcome {
        if let Err(o) = self.refresh_token() {
            return o;
        }
        match &self.flow.refreshed {
            Some(Ok(set)) => {
                let (ok, e) = self.mcp_accepts(&set.access_token).await;
                if ok {
                    pass("the refreshed access token is accepted by the MCP endpoint")
                } else {
                    StepOutcome::fail(
                        "the access token from the refresh was refused by the MCP endpoint",
                        vec![set.exchange.clone(), e],
                    )
                }
            }
            Some(Err(e)) => StepOutcome::fail(
                format!("the refresh failed: {}", error_answer(e).describe()),
                vec![e.clone()],
            ),
            None => StepOutcome::not_testable("no refresh was attempted", Vec::new()),
        }
    }

    async fn refresh_rotation(&self) -> StepOutcome {
        if let Err(o) = self.refresh_token() {
            return o;
        }
        if !matches!(self.client(), ClientAuth::None { .. }) {
            return StepOutcome::skip(
                "the run's client is confidential; rotation is required for public clients",
            );
        }
        let (set, _, _) = match self.fresh_tokens().await {
            Ok(t) => t,
            Err(o) => return o,
        };
        let Some(old) = set.refresh_token.clone() else {
            return StepOutcome::not_testable(
                "the second login issued no refresh token",
                Vec::new(),
            );
        };
        let first = token_request(
            self.ctx,
            &self.token_endpoint(),
            &self.refresh_form(&old),
            &self.client(),
        )
        .await;
        let Ok(rotated) = token_set(&first) else {
            return StepOutcome::not_testable("the refresh failed", vec![first]);
        };
        let Some(newest) = rotated.refresh_token.clone().filter(|n| *n != old) else {
            return StepOutcome::fail(
                "a public client's refresh returned no new refresh token (OAuth 2.1 §4.3.1: rotate, or bind to the client)",
                vec![first],
            );
        };
        let replay = token_request(
            self.ctx,
            &self.token_endpoint(),
            &self.refresh_form(&old),
            &self.client(),
        )
        .await;
        if let Err(why) = refused_with(&replay, &["invalid_grant"]) {
            return StepOutcome::fail(
                format!("the rotated-out refresh token was used again: {why}"),
                vec![replay],
            );
        }
        let after = token_request(
            self.ctx,
            &self.token_endpoint(),
            &self.refresh_form(&newest),
            &self.client(),
        )
        .await;
        if token_set(&after).is_ok() {
            return StepOutcome::warn(
                "the replay was refused, but the newest refresh token still works (RFC 9700 §4.14.2: a replay SHOULD revoke the family)",
                vec![after],
            );
        }
        pass("rotated; the old refresh token is refused and its replay revoked the newest")
    }

    async fn refresh_client_binding(&self) -> StepOutcome {
        let token = match self.refresh_token() {
            Ok(t) => t,
            Err(o) => return o,
        };
        if self.flow.endpoint("registration_endpoint").is_none() {
            return StepOutcome::skip(
                "needs a second client, and the server offers no dynamic registration",
            );
        }
        let Some((other, _)) = self.second_client().await else {
            return StepOutcome::not_testable("no second client could be registered", Vec::new());
        };
        let current = match &self.flow.refreshed {
            Some(Ok(set)) => set.refresh_token.clone().unwrap_or(token),
            _ => token,
        };
        let e = token_request(
            self.ctx,
            &self.token_endpoint(),
            &self.refresh_form(&current),
            &other,
        )
        .await;
        match refused_with(&e, &["invalid_grant", "invalid_client"]) {
            Ok(note) => pass(format!("another client's refresh was refused: {note}")),
            Err(why) => StepOutcome::fail(
                format!(
                    "another client used this client's refresh token: {why} (RFC 6749 §6, §10.4)"
                ),
                vec![e],
            ),
        }
    }

    async fn refresh_no_escalation(&self) -> StepOutcome {
        if let Err(o) = self.refresh_token() {
            return o;
        }
        let (set, _, _) = match self.fresh_tokens().await {
            Ok(t) => t,
            Err(o) => return o,
        };
        let Some(token) = set.refresh_token else {
            return StepOutcome::not_testable(
                "the second login issued no refresh token",
                Vec::new(),
            );
        };
        let extra = "conformance:escalated";
        let mut form = self.refresh_form(&token);
        form.push((
            "scope".to_string(),
            format!("{} {extra}", self.flow.scope).trim().to_string(),
        ));
        let e = token_request(self.ctx, &self.token_endpoint(), &form, &self.client()).await;
        match token_set(&e) {
            Ok(got) => {
                let granted = got.scope.clone().or_else(|| {
                    jwt_claims(&got.access_token)
                        .and_then(|c| c.get("scope").and_then(Value::as_str).map(str::to_string))
                });
                if granted
                    .as_deref()
                    .is_some_and(|s| s.split_whitespace().any(|x| x == extra))
                {
                    StepOutcome::fail(
                        format!(
                            "a refresh asking for the ungranted scope {extra} was granted it (RFC 6749 §6)"
                        ),
                        vec![e],
                    )
                } else {
                    StepOutcome::warn(
                        format!(
                            "a refresh asking for the ungranted scope {extra} succeeded without it; RFC 6749 §6 expects invalid_scope"
                        ),
                        vec![e],
                    )
                }
            }
            Err(_) => {
                if error_answer(&e).error.as_deref() == Some("invalid_scope") {
                    return pass("400 invalid_scope for a scope beyond the grant");
                }
                // Refused otherwise: is it the scope, or does refreshing not work at all?
                let plain = token_request(
                    self.ctx,
                    &self.token_endpoint(),
                    &self.refresh_form(&token),
                    &self.client(),
                )
                .await;
                if token_set(&plain).is_err() {
                    return StepOutcome::not_testable(
                        "refreshing does not work at all here (see refresh.works)",
                        vec![plain],
                    );
                }
                StepOutcome::warn(
                    format!(
                        "refused, but with {} rather than invalid_scope",
                        error_answer(&e).describe()
                    ),
                    vec![e],
                )
            }
        }
    }

    async fn refresh_dead_token(&self) -> StepOutcome {
        if let Err(o) = self.refresh_token() {
            return o;
        }
        let e = token_request(
            self.ctx,
            &self.token_endpoint(),
            &self.refresh_form("revoked-or-never-issued"),
            &self.client(),
        )
        .await;
        match refused_with(&e, &["invalid_grant"]) {
            Ok(note) => pass(format!("a dead refresh token: {note}")),
            Err(why) => StepOutcome::fail(format!("a dead refresh token: {why}"), vec![e]),
        }
    }

    // ----- resource indicators -----

    fn resource_binds_audience(&self) -> StepOutcome {
        let Some(tokens) = &self.flow.tokens else {
            return StepOutcome::not_testable(self.flow.summary(), Vec::new());
        };
        let mut sets = vec![("the access token", tokens)];
        if let Some(Ok(r)) = &self.flow.refreshed {
            sets.push(("the refreshed access token", r));
        }
        let mut failures = Vec::new();
        let mut evidence = Vec::new();
        let mut judged = 0;
        for (what, set) in sets {
            let Some(claims) = jwt_claims(&set.access_token) else {
                continue;
            };
            judged += 1;
            let aud = audiences(&claims);
            if aud != [self.ctx.target_url.clone()] {
                failures.push(format!(
                    "{what} has aud {aud:?}, not exactly [{:?}]",
                    self.ctx.target_url
                ));
                evidence.push(set.exchange.clone());
            }
        }
        if judged == 0 {
            return StepOutcome::not_testable(
                "the access tokens are opaque, so their audience cannot be read",
                Vec::new(),
            );
        }
        if failures.is_empty() {
            pass(format!(
                "aud is exactly {} (the resource asked for)",
                self.ctx.target_url
            ))
        } else {
            StepOutcome::fail(
                format!(
                    "{} (RFC 8707 §2: the audience is the requested resource, not widened)",
                    failures.join("; ")
                ),
                evidence,
            )
        }
    }

    async fn resource_invalid_target(&self) -> StepOutcome {
        if let Err(o) = self.logged_in() {
            return o;
        }
        let unknown = "https://unknown-resource.example/mcp";
        let Some((run, pkce)) = self
            .authorize_with_pkce(|p| p.set("resource", unknown))
            .await
        else {
            return StepOutcome::not_testable("no authorization endpoint", Vec::new());
        };
        if run.param("error") == Some("invalid_target") {
            return pass("the authorization endpoint answered invalid_target");
        }
        let Some(code) = run.code().map(str::to_string) else {
            return pass(format!("refused: {}", run.describe_end()));
        };
        // The code came back; the token endpoint may still refuse the resource.
        let mut form = self.run.code_form(self.flow, &code, Some(&pkce.verifier));
        for pair in &mut form {
            if pair.0 == "resource" {
                pair.1 = unknown.to_string();
            }
        }
        let e = token_request(self.ctx, &self.token_endpoint(), &form, &self.client()).await;
        if oauth_error(&e).as_deref() == Some("invalid_target") {
            return pass("the token endpoint answered invalid_target");
        }
        let issued = if token_set(&e).is_ok() {
            ", and the code was exchanged for tokens"
        } else {
            ""
        };
        let mut evidence: Vec<Exchange> = run.hops.last().cloned().into_iter().collect();
        evidence.push(e);
        StepOutcome::fail(
            format!(
                "an authorization request for {unknown}, a resource the server does not serve, was answered with a code{issued} (RFC 8707 §2: invalid_target)"
            ),
            evidence,
        )
    }

    fn resource_accepts_param(&self) -> StepOutcome {
        match self.flow.failure() {
            Some(f) if f.message.contains("invalid_target") || f.message.contains("resource") => {
                StepOutcome::fail(
                    format!(
                        "the login with resource={} failed: {}",
                        self.ctx.target_url, f.message
                    ),
                    f.exchanges.clone(),
                )
            }
            _ if self.flow.access_token().is_some() => pass(
                "the authorization and token requests carried resource and the login obtained a token",
            ),
            _ => StepOutcome::not_testable(self.flow.summary(), Vec::new()),
        }
    }

    /// A login for `resource` (authorization and code exchange both naming it).
    async fn login_for_resource(&self, resource: &str) -> Option<ResourceLogin> {
        let (run, pkce) = self
            .authorize_with_pkce(|p| p.set("resource", resource))
            .await?;
        let Some(code) = run.code().map(str::to_string) else {
            return Some(ResourceLogin::Refused {
                why: run.describe_end(),
                evidence: run.hops.last().cloned().into_iter().collect(),
            });
        };
        let mut form = self.run.code_form(self.flow, &code, Some(&pkce.verifier));
        for pair in &mut form {
            if pair.0 == "resource" {
                pair.1 = resource.to_string();
            }
        }
        let e = token_request(self.ctx, &self.token_endpoint(), &form, &self.client()).await;
        Some(match token_set(&e) {
            Ok(tokens) => ResourceLogin::Token(tokens.access_token),
            Err(_) if e.status().is_some_and(|s| s >= 500) => ResourceLogin::ServerError(e),
            Err(_) => ResourceLogin::Refused {
                why: format!(
                    "the token endpoint answered {}",
                    error_answer(&e).describe()
                ),
                evidence: vec![e],
            },
        })
    }

    async fn resource_slash_variants(&self) -> StepOutcome {
        if let Err(o) = self.logged_in() {
            return o;
        }
        let canonical = self.ctx.target_url.clone();
        let Some(shouted) = uppercase_scheme_and_host(&canonical) else {
            return StepOutcome::not_testable(
                "the MCP endpoint URL could not be parsed",
                Vec::new(),
            );
        };
        let toggled = match canonical.strip_suffix('/') {
            Some(bare) => bare.to_string(),
            None => format!("{canonical}/"),
        };
        let mut failures = Vec::new();
        let mut notes = Vec::new();
        let mut evidence = Vec::new();
        // The same URL with an uppercase scheme and host is the same resource (RFC 3986
        // §6.2.2.1): it must be accepted, and its token must work at the MCP endpoint.
        match self.login_for_resource(&shouted).await {
            None => return StepOutcome::not_testable("no authorization endpoint", Vec::new()),
            Some(ResourceLogin::Refused { why, evidence: e }) => {
                failures.push(format!(
                    "resource={shouted} (the MCP URL with an uppercase scheme and host, the same URI by RFC 3986 §6.2.2.1) was refused: {why}"
                ));
                evidence.extend(e);
            }
            Some(ResourceLogin::ServerError(e)) => {
                failures.push(format!(
                    "resource={shouted}: the token endpoint answered HTTP {}",
                    e.status_text()
                ));
                evidence.push(e);
            }
            Some(ResourceLogin::Token(token)) => {
                let (ok, e) = self.mcp_accepts(&token).await;
                if ok {
                    notes.push(format!(
                        "resource={shouted} was accepted and its token works"
                    ));
                } else {
                    failures.push(format!(
                        "resource={shouted} was accepted, but the MCP endpoint refused the token it got (HTTP {}): the server bound the token to a form of its URL it does not itself accept",
                        e.status_text()
                    ));
                    evidence.push(e);
                }
            }
        }
        // With the trailing slash toggled it is another URI: refusing it is consistent, and so is
        // a token the MCP endpoint accepts; a token it then refuses is a login that cannot work.
        match self.login_for_resource(&toggled).await {
            None => return StepOutcome::not_testable("no authorization endpoint", Vec::new()),
            Some(ResourceLogin::Refused { why, .. }) => {
                notes.push(format!("resource={toggled} was refused ({why})"));
            }
            Some(ResourceLogin::ServerError(e)) => {
                failures.push(format!(
                    "resource={toggled}: the token endpoint answered HTTP {} (a server error, not invalid_target)",
                    e.status_text()
                ));
                evidence.push(e);
            }
            Some(ResourceLogin::Token(token)) => {
                let (ok, e) = self.mcp_accepts(&token).await;
                if ok {
                    notes.push(format!(
                        "resource={toggled} was treated as the same resource"
                    ));
                } else {
                    failures.push(format!(
                        "resource={toggled} (the trailing slash toggled) was accepted, but the MCP endpoint refused the token it got (HTTP {}): a client that writes the URL this way logs in and then fails; refuse it with invalid_target or bind the token to {canonical}",
                        e.status_text()
                    ));
                    evidence.push(e);
                }
            }
        }
        if failures.is_empty() {
            pass(notes.join("; "))
        } else {
            StepOutcome::fail(failures.join("; "), evidence)
        }
    }

    // ----- consent -----

    fn consent_page(&self) -> Result<(&AuthorizeRun, &crate::oauth::agent::Page), StepOutcome> {
        self.logged_in()?;
        let run = self
            .flow
            .authorization
            .as_ref()
            .ok_or_else(|| StepOutcome::not_testable(self.flow.summary(), Vec::new()))?;
        // The target's own page (an upstream IdP's page is not the target's consent).
        let own = origin_of(&self.ctx.target_url);
        match run.pages.iter().find(|p| origin_of(&p.url) == own) {
            Some(page) => Ok((run, page)),
            // A proxy without one fails consent.before-upstream; there is no page to judge here.
            None => Err(StepOutcome::skip(
                "the server showed no consent page of its own (for a proxy, consent.before-upstream judges that)",
            )),
        }
    }

    fn consent_page_content(&self) -> StepOutcome {
        let (run, page) = match self.consent_page() {
            Ok(p) => p,
            Err(o) => return o,
        };
        let text = page.text.to_ascii_lowercase();
        let client_name = "mcp-auth-conformance";
        let client_id = self.client().client_id().to_ascii_lowercase();
        let mut missing = Vec::new();
        if !text.contains(client_name) && !text.contains(&client_id) {
            missing.push("the client's name or id");
        }
        let redirect_host = url::Url::parse(&self.flow.redirect_uri)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default();
        if !text.contains(&redirect_host) {
            missing.push("where it redirects (the redirect URI's host)");
        }
        if !self.flow.scope.is_empty()
            && !self
                .flow
                .scope
                .split_whitespace()
                .all(|s| text.contains(&s.to_ascii_lowercase()))
        {
            missing.push("the requested scopes");
        }
        if missing.is_empty() {
            pass("the consent page names the client, its redirect host and the scopes")
        } else {
            StepOutcome::fail(
                format!("the consent page does not show {}", missing.join(", ")),
                vec![run.hops[page.hop].clone()],
            )
        }
    }

    fn consent_anti_framing(&self) -> StepOutcome {
        let (run, page) = match self.consent_page() {
            Ok(p) => p,
            Err(o) => return o,
        };
        let exchange = &run.hops[page.hop];
        let Some(r) = exchange.response() else {
            return StepOutcome::not_testable("the consent page had no answer", Vec::new());
        };
        let xfo = r
            .header("x-frame-options")
            .unwrap_or("")
            .to_ascii_lowercase();
        let csp = r
            .header_values("content-security-policy")
            .join(";")
            .to_ascii_lowercase();
        if xfo == "deny" || xfo == "sameorigin" || csp.contains("frame-ancestors") {
            pass("the consent page forbids framing")
        } else {
            StepOutcome::fail(
                "the consent page sends neither X-Frame-Options nor a CSP frame-ancestors directive, so another site can frame it (clickjacking)",
                vec![exchange.clone()],
            )
        }
    }

    fn consent_cookie_flags(&self) -> StepOutcome {
        if let Err(o) = self.logged_in() {
            return o;
        }
        let Some(run) = &self.flow.authorization else {
            return StepOutcome::not_testable(self.flow.summary(), Vec::new());
        };
        let Ok(target) = url::Url::parse(&self.ctx.target_url) else {
            return StepOutcome::not_testable(
                "the MCP endpoint URL could not be parsed",
                Vec::new(),
            );
        };
        let own = authority_of(&target);
        let cookies: Vec<_> = run
            .cookies_set
            .iter()
            .filter(|c| c.authority == own)
            .collect();
        if cookies.is_empty() {
            return StepOutcome::skip("the server set no cookies during the login");
        }
        let https = target.scheme() == "https";
        let mut failures = Vec::new();
        let mut remarks = Vec::new();
        for cookie in &cookies {
            let attributes: Vec<String> = cookie
                .raw
                .split(';')
                .skip(1)
                .map(|a| a.trim().to_ascii_lowercase())
                .collect();
            let has = |name: &str| {
                attributes
                    .iter()
                    .any(|a| a == name || a.starts_with(&format!("{name}=")))
            };
            let same_site = attributes
                .iter()
                .find_map(|a| a.strip_prefix("samesite="))
                .map(str::trim);
            let mut missing = Vec::new();
            if !has("httponly") {
                missing.push("HttpOnly".to_string());
            }
            match same_site {
                Some("lax" | "strict") => {}
                Some(other) => missing.push(format!("SameSite=Lax (it says SameSite={other})")),
                None => missing.push("SameSite=Lax".to_string()),
            }
            if https {
                if !has("secure") {
                    missing.push("Secure".to_string());
                }
                let remark = format!("{} has no __Host- prefix", cookie_label(&cookie.name));
                if !cookie.name.starts_with("__Host-") && !remarks.contains(&remark) {
                    remarks.push(remark);
                }
            }
            let label = cookie_label(&cookie.name);
            if !missing.is_empty() {
                let failure = format!("{label} lacks {}", missing.join(", "));
                if !failures.contains(&failure) {
                    failures.push(failure);
                }
            }
        }
        let mut names: Vec<String> = cookies.iter().map(|c| cookie_label(&c.name)).collect();
        names.sort();
        names.dedup();
        let scheme_note = if https {
            String::new()
        } else {
            " (Secure and the __Host- prefix are judged on https targets only)".to_string()
        };
        if !failures.is_empty() {
            let evidence = run
                .hops
                .iter()
                .filter(|h| {
                    h.response()
                        .is_some_and(|r| !r.header_values("set-cookie").is_empty())
                })
                .cloned()
                .collect();
            return StepOutcome::fail(
                format!(
                    "consent and state cookies must be HttpOnly and SameSite=Lax or Strict{scheme_note}: {}",
                    failures.join("; ")
                ),
                evidence,
            );
        }
        if !remarks.is_empty() {
            return StepOutcome::warn(remarks.join("; "), Vec::new());
        }
        pass(format!(
            "{} set with HttpOnly and SameSite{scheme_note}",
            names.join(", ")
        ))
    }

    async fn consent_redirect_change(&self) -> StepOutcome {
        if let Err(o) = self.logged_in() {
            return o;
        }
        if self.flow.authorization.is_none() {
            return StepOutcome::not_testable(self.flow.summary(), Vec::new());
        }
        // The browser that consented, with its cookies: remembered consent must not stretch to
        // a redirect URI the client never registered.
        let port = self.redirect_port();
        let upstream = origin_of(&self.ctx.idp_info.issuer);
        let mut failures = Vec::new();
        let mut evidence = Vec::new();
        let uris = [
            "https://attacker.example/callback".to_string(),
            format!("http://127.0.0.1:{port}/changed"),
        ];
        for uri in &uris {
            let Some(run) = self
                .authorize_with(|p| p.set("redirect_uri", uri.clone()))
                .await
            else {
                return StepOutcome::not_testable("no authorization endpoint", Vec::new());
            };
            if matches!(
                run.end,
                AuthorizeEnd::Callback { .. } | AuthorizeEnd::Elsewhere { .. }
            ) {
                failures.push(format!("{uri}: {}", run.describe_end()));
                evidence.extend(run.hops.last().cloned());
            } else if let Some(hop) = run
                .hops
                .iter()
                .find(|h| origin_of(&h.request.url) == upstream)
            {
                failures.push(format!(
                    "{uri}: the browser was sent to the upstream identity provider before the redirect URI was refused"
                ));
                evidence.push(hop.clone());
            }
        }
        if failures.is_empty() {
            pass(format!(
                "after consent, the same client with a redirect URI it never registered was refused without a redirect ({} tried)",
                uris.len()
            ))
        } else {
            StepOutcome::fail(
                format!(
                    "after the user consented, the same client_id with a changed redirect URI was not refused: {}",
                    failures.join("; ")
                ),
                evidence,
            )
        }
    }

    async fn consent_csrf(&self) -> StepOutcome {
        if let Err(o) = self.consent_page() {
            return o;
        }
        let pkce = Pkce::new();
        let params = self.run.params(self.flow, &pkce, &random_text(8));
        // A fresh browser, so that consent remembered from the login does not hide the page.
        let fresh = crate::oauth::agent::UserAgent::new();
        let run_fresh = LoginRun {
            ctx: self.ctx,
            agent: &fresh,
        };
        let Some(run) = run_fresh
            .authorize(self.flow, &params, Decision::Approve, Vec::new(), true)
            .await
        else {
            return StepOutcome::not_testable("no authorization endpoint", Vec::new());
        };
        if run.pages.is_empty() {
            return StepOutcome::not_testable(
                "no consent page was shown this time",
                run.hops.clone(),
            );
        }
        if run.code().is_some() {
            StepOutcome::fail(
                "a consent approval without the page's CSRF token and cookies was accepted: any site can approve for the user",
                run.hops.clone(),
            )
        } else {
            pass(format!(
                "the forged approval was refused: {}",
                run.describe_end()
            ))
        }
    }

    async fn consent_before_upstream(&self) -> Result<StepOutcome, HarnessError> {
        if let Err(o) = self.logged_in() {
            return Ok(o);
        }
        let Some(run) = &self.flow.authorization else {
            return Ok(StepOutcome::not_testable(self.flow.summary(), Vec::new()));
        };
        let upstream = origin_of(&self.ctx.idp_info.issuer);
        let own = origin_of(&self.ctx.target_url);
        let first_upstream = run
            .hops
            .iter()
            .position(|h| origin_of(&h.request.url) == upstream);
        let first_consent = run
            .pages
            .iter()
            .filter(|p| origin_of(&p.url) == own)
            .map(|p| p.hop)
            .next();
        // A pass-through (the upstream answers the client directly, with the client's own
        // registration there) has no client identity of its own to lend: nothing to consent to.
        let last_from_upstream = run
            .hops
            .last()
            .is_some_and(|h| origin_of(&h.request.url) == upstream);
        if run.reached_callback() && last_from_upstream && first_consent.is_none() {
            return Ok(StepOutcome::skip(
                "a pass-through: the upstream redirects straight to the client, which uses its own registration there (see passthrough.proxy-own-tokens)",
            ));
        }
        match (first_consent, first_upstream) {
            (_, None) => Ok(StepOutcome::skip(
                "the login did not go through the upstream identity provider",
            )),
            (Some(c), Some(u)) if c < u => Ok(pass(
                "the proxy's own consent page came before any request to the upstream",
            )),
            _ => Ok(StepOutcome::fail(
                "the user agent reached the upstream identity provider without a consent page of the proxy's own: a confused-deputy proxy lets any registered client ride on the user's upstream session",
                run.hops.clone(),
            )),
        }
    }

    async fn consent_callback_binding(&self) -> StepOutcome {
        if let Err(o) = self.logged_in() {
            return o;
        }
        if !self.flow.via_upstream {
            return StepOutcome::skip(
                "the login did not go through the upstream identity provider",
            );
        }
        let upstream = origin_of(&self.ctx.idp_info.issuer);
        let pkce = Pkce::new();
        let params = self.run.params(self.flow, &pkce, &random_text(8));
        let Some(run) = self
            .run
            .authorize_walk(
                self.flow,
                &params,
                WalkOptions {
                    intercept_return_from: Some(upstream),
                    ..WalkOptions::default()
                },
            )
            .await
        else {
            return StepOutcome::not_testable("no authorization endpoint", Vec::new());
        };
        if run.reached_callback() {
            return StepOutcome::skip(
                "the upstream redirects straight to the client: there is no proxy callback to bind (a pass-through; see passthrough.proxy-own-tokens)",
            );
        }
        let AuthorizeEnd::Intercepted { request } = &run.end else {
            return StepOutcome::not_testable(
                format!(
                    "the walk did not come back from the upstream: {}",
                    run.describe_end()
                ),
                run.hops.clone(),
            );
        };
        // Another browser (no cookies) completes the callback: a victim lured to the link.
        let foreign = self.ctx.target.send(request.clone()).await;
        let delivered = |e: &Exchange| {
            e.response()
                .and_then(|r| r.header("location"))
                .and_then(|l| url::Url::parse(l).ok())
                .is_some_and(|u| {
                    u.query_pairs().any(|(k, _)| k == "code")
                        && u.as_str().starts_with(&self.flow.redirect_uri)
                })
        };
        if delivered(&foreign) {
            return StepOutcome::fail(
                "the upstream callback, opened in another browser without the consent cookies, completed the login and sent a code to the client (the consent must be bound to the browser that gave it)",
                vec![foreign],
            );
        }
        // The browser that consented completes it once; a second time is refused.
        let own = self.ctx.agent.send(self.ctx, request.clone()).await;
        if !delivered(&own) {
            return StepOutcome::pass(
                format!(
                    "the callback was refused without the consent cookies (HTTP {}); the consenting browser could not complete it either afterwards (HTTP {})",
                    foreign.status_text(),
                    own.status_text()
                ),
                Vec::new(),
            );
        }
        let again = self.ctx.agent.send(self.ctx, request.clone()).await;
        if delivered(&again) {
            return StepOutcome::fail(
                "the same upstream callback completed the login twice (its state is not single-use)",
                vec![again],
            );
        }
        pass(format!(
            "refused without the consent cookies (HTTP {}), completed by the consenting browser, refused on replay (HTTP {})",
            foreign.status_text(),
            again.status_text()
        ))
    }

    async fn consent_per_client(&self) -> StepOutcome {
        if let Err(o) = self.consent_page() {
            return o;
        }
        let Some((other, _)) = self.second_client().await else {
            return StepOutcome::skip(
                "needs a second client, and none could be registered dynamically",
            );
        };
        let pkce = Pkce::new();
        let mut params = self.run.params(self.flow, &pkce, &random_text(8));
        params.set("client_id", other.client_id().to_string());
        // The same browser, which has just approved the first client.
        let Some(run) = self
            .run
            .authorize(self.flow, &params, Decision::Approve, Vec::new(), false)
            .await
        else {
            return StepOutcome::not_testable("no authorization endpoint", Vec::new());
        };
        let own = origin_of(&self.ctx.target_url);
        if run.pages.iter().any(|p| origin_of(&p.url) == own) {
            pass("a second client asked for consent again in the same browser")
        } else if run.reached_callback() {
            StepOutcome::fail(
                "a second client was approved without a consent page, in the browser that had approved another client: consent must be remembered per client",
                run.hops.clone(),
            )
        } else {
            StepOutcome::not_testable(
                format!("the second client's authorization: {}", run.describe_end()),
                run.hops.clone(),
            )
        }
    }

    async fn consent_cross_site_prompt(&self) -> StepOutcome {
        if let Err(o) = self.consent_page() {
            return o;
        }
        let own = origin_of(&self.ctx.target_url);
        // The same client again, in the browser that approved it: is consent remembered?
        let pkce = Pkce::new();
        let params = self.run.params(self.flow, &pkce, &random_text(8));
        let Some(again) = self
            .run
            .authorize(self.flow, &params, Decision::Approve, Vec::new(), false)
            .await
        else {
            return StepOutcome::not_testable("no authorization endpoint", Vec::new());
        };
        if again.pages.iter().any(|p| origin_of(&p.url) == own) {
            return StepOutcome::skip(
                "consent is asked every time (not remembered), so no prompt can be skipped",
            );
        }
        // Remembered: a navigation started by another site must still be asked.
        let pkce = Pkce::new();
        let params = self.run.params(self.flow, &pkce, &random_text(8));
        let Some(cross) = self
            .run
            .authorize(
                self.flow,
                &params,
                Decision::Approve,
                vec![("sec-fetch-site".to_string(), "cross-site".to_string())],
                false,
            )
            .await
        else {
            return StepOutcome::not_testable("no authorization endpoint", Vec::new());
        };
        if cross.pages.iter().any(|p| origin_of(&p.url) == own) {
            pass("consent is remembered, but a cross-site navigation is asked again")
        } else if cross.reached_callback() {
            StepOutcome::fail(
                "consent is remembered even for a navigation another site started (Sec-Fetch-Site: cross-site): a page the user visits can complete logins silently",
                cross.hops.clone(),
            )
        } else {
            StepOutcome::not_testable(
                format!("the cross-site authorization: {}", cross.describe_end()),
                cross.hops.clone(),
            )
        }
    }

    // ----- token boundaries (proxies) -----

    async fn passthrough_own_tokens(&self) -> Result<StepOutcome, HarnessError> {
        if let Err(o) = self.logged_in() {
            return Ok(o);
        }
        if !self.flow.via_upstream {
            return Ok(StepOutcome::skip(
                "the login did not go through the upstream identity provider",
            ));
        }
        let token = self.flow.access_token().unwrap_or_default();
        let upstream_issuer = self.ctx.idp_info.issuer.clone();
        if let Some(claims) = jwt_claims(token)
            && claims.get("iss").and_then(Value::as_str) == Some(upstream_issuer.as_str())
        {
            return Ok(StepOutcome::fail(
                format!(
                    "the client received the upstream identity provider's own access token (iss {upstream_issuer}); a proxy issues its own tokens and keeps the upstream's"
                ),
                self.flow
                    .tokens
                    .iter()
                    .map(|t| t.exchange.clone())
                    .collect(),
            ));
        }
        let info = &self.ctx.idp_info;
        let mut request = Request::new(reqwest::Method::POST, info.introspection_endpoint.clone())
            .header("content-type", "application/x-www-form-urlencoded")
            .header(
                "authorization",
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!(
                        "{}:{}",
                        info.introspection_client_id, info.introspection_client_secret
                    ))
                ),
            );
        request.body = Some(
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("token", token)
                .finish()
                .into_bytes(),
        );
        let answer = self.ctx.target.send(request).await;
        let introspected: Value = answer
            .response()
            .and_then(|r| serde_json::from_slice(&r.body).ok())
            .unwrap_or(Value::Null);
        if introspected.get("active").and_then(Value::as_bool) == Some(true) {
            return Ok(StepOutcome::fail(
                "the upstream identity provider recognises the client's access token as its own: the proxy passes upstream tokens through",
                Vec::new(),
            ));
        }
        Ok(pass(
            "the client's access token is the proxy's own, unknown to the upstream",
        ))
    }

    async fn passthrough_upstream_rejected(&self) -> Result<StepOutcome, HarnessError> {
        if let Err(o) = self.logged_in() {
            return Ok(o);
        }
        if !self.flow.via_upstream {
            return Ok(StepOutcome::skip(
                "the login did not go through the upstream identity provider",
            ));
        }
        if self
            .flow
            .access_token()
            .and_then(jwt_claims)
            .and_then(|c| c.get("iss").and_then(Value::as_str).map(str::to_string))
            .as_deref()
            == Some(self.ctx.idp_info.issuer.as_str())
        {
            return Ok(StepOutcome::skip(
                "the proxy hands out the upstream's tokens (see passthrough.proxy-own-tokens), so an upstream token is its valid token",
            ));
        }
        let upstream = self
            .ctx
            .idp
            .mint(&json!({
                "audience": self.ctx.target_url,
                "scope": if self.flow.scope.is_empty() { Value::Null } else { json!(self.flow.scope) },
                "claims": {"client_id": "mcp-proxy-upstream"},
            }))
            .await?;
        let (ok, e) = self.mcp_accepts(&upstream.token).await;
        if ok {
            Ok(StepOutcome::fail(
                "an access token of the upstream identity provider was accepted at the MCP endpoint; the server must accept only tokens issued for it",
                vec![e],
            ))
        } else {
            Ok(StepOutcome::pass(
                format!("refused with HTTP {}", e.status_text()),
                Vec::new(),
            ))
        }
    }

    async fn passthrough_upstream_revocation(&self) -> Result<StepOutcome, HarnessError> {
        if let Err(o) = self.logged_in() {
            return Ok(o);
        }
        if !self.flow.via_upstream {
            return Ok(StepOutcome::skip(
                "the login did not go through the upstream identity provider",
            ));
        }
        // A login of its own, so that revoking its upstream grant leaves the run's token alone.
        let (tokens, _, _, run) = match self.fresh_login().await {
            Ok(login) => login,
            Err(o) => return Ok(o),
        };
        let upstream = origin_of(&self.ctx.idp_info.issuer);
        let own = origin_of(&self.ctx.target_url);
        // A pass-through lets the upstream redirect straight to the client: its code is the
        // upstream's own.
        let passed_through = run
            .hops
            .last()
            .is_some_and(|h| origin_of(&h.request.url) == upstream);
        let code = upstream_code(&run, &upstream, &own).or_else(|| {
            passed_through
                .then(|| run.code().map(str::to_string))
                .flatten()
        });
        let Some(code) = code else {
            return Ok(StepOutcome::not_testable(
                "the second login's walk showed no upstream code coming back to the proxy",
                run.hops.clone(),
            ));
        };
        let (ok, before) = self.mcp_accepts(&tokens.access_token).await;
        if !ok {
            return Ok(StepOutcome::not_testable(
                "the second login's token was refused before anything was revoked",
                vec![before],
            ));
        }
        self.ctx.idp.revoke_grant(&code).await?;
        // Later revisions leave the delay to the proxy: give it a few seconds.
        let patience = std::time::Duration::from_secs(3);
        let started = std::time::Instant::now();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let (ok, e) = self.mcp_accepts(&tokens.access_token).await;
            if !ok {
                let when = if attempts == 1 {
                    "at once".to_string()
                } else {
                    format!("within {} s", patience.as_secs())
                };
                return Ok(StepOutcome::pass(
                    format!(
                        "after the upstream identity provider revoked the grant behind the proxy's token, the MCP endpoint refused that token {when} (HTTP {})",
                        e.status_text()
                    ),
                    Vec::new(),
                ));
            }
            if started.elapsed() >= patience {
                return Ok(StepOutcome::fail(
                    format!(
                        "the proxy's token was still accepted {} s after the upstream identity provider revoked the grant behind it: the user's upstream revocation does not reach the MCP server (MCP 2025-03-26 Third-Party Authorization, session binding: MUST; later revisions: SHOULD)",
                        patience.as_secs()
                    ),
                    vec![e],
                ));
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    }
}
