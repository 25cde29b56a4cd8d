//! Probes of the target's own authorization server (modes C and D): its metadata, registration,
//! PKCE, redirect handling, token endpoint, refresh, consent and token boundaries.
//!
//! Each probe starts from the headless login ([`crate::oauth::flow`]) and sends the one request
//! its rule needs, the way a client or an attacker would. A rule that cannot be exercised (no
//! registration endpoint, no refresh token, no consent page) is not testable or skipped, never
//! passed; an answer that breaks it is a failure with the exchange as evidence.
//!
//! This module dispatches a probe and holds the steps several probes share (a fresh login, a
//! second client, an MCP call with a token); the probes themselves are grouped by area in the
//! submodules, each an `impl Probes` block.

// The `Result<_, StepOutcome>` helpers return the check's verdict early ("not testable", "skip")
// rather than an error; they are called once per check, so their size does not matter.
#![allow(clippy::result_large_err)]

mod authorize;
mod cimd;
mod consent;
mod dcr;
mod metadata;
mod passthrough;
mod pkce;
mod redirect;
mod refresh;
mod resource;
mod token;

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

    /// The login's authorization run, if it reached the callback.
    fn callback_run(&self) -> Result<&AuthorizeRun, StepOutcome> {
        self.flow
            .authorization
            .as_ref()
            .filter(|r| r.reached_callback())
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
}
