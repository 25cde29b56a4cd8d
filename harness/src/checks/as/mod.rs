//! Probes of the target's own authorization server (modes C and D): its metadata, registration,
//! PKCE, redirect handling, token endpoint, refresh, consent and token boundaries.
//!
//! Each probe starts from the headless login ([`crate::oauth::flow`]) and sends the one request
//! its rule needs, the way a client or an attacker would. A rule that cannot be exercised (no
//! registration endpoint, no refresh token, no consent page) is not testable or skipped, never
//! passed; an answer that breaks it is a failure with the exchange as evidence.
//!
//! This module holds the context every such check starts from ([`AsCx`]) and the steps several
//! share (a fresh login, a second client, an MCP call with a token); the checks themselves are
//! grouped by area in the submodules, one function per check, registered in each area's
//! `PROBES` table under its check ID.

// Judges in stages return the verdict that ends their check as the `Err` of a `Result`; it is
// made once per check, so its size does not matter.
#![allow(clippy::result_large_err)]

mod as_meta;
mod authz;
mod bearer;
mod cimd;
mod consent;
mod dcr;
mod ext;
mod legacy;
mod login;
mod passthrough;
mod pkce;
mod redirect;
mod refresh;
mod resource;
mod scope;
mod token;

/// The checks of this module, by area.
pub(crate) const AREAS: &[&[Probe]] = &[
    login::PROBES,
    as_meta::PROBES,
    legacy::PROBES,
    dcr::PROBES,
    cimd::PROBES,
    pkce::PROBES,
    redirect::PROBES,
    authz::PROBES,
    token::PROBES,
    scope::PROBES,
    refresh::PROBES,
    resource::PROBES,
    consent::PROBES,
    passthrough::PROBES,
    bearer::PROBES,
    ext::PROBES,
];

use base64::Engine as _;
use serde_json::{Value, json};

use super::{Cx, Probe};
use crate::browser::agent::{AuthorizeEnd, AuthorizeRun, Page};
use crate::browser::html::Decision;
use crate::context::{Ctx, Profile};
use crate::discovery::Facts;
use crate::error::HarnessError;
use crate::mcp::accepted;
use crate::oauth::flow::{
    self, AsDiscovery, AuthzParams, ClientAuth, ClientSource, LoginFlow, LoginRun, Pkce,
    WalkOptions, client_metadata, oauth_error, random_text, register, registration_result,
    token_request, token_set,
};
use crate::rpc::McpCall;
use crate::target::{Exchange, Request};
use crate::urls::{authority_of, origin_of};
use crate::verdict::{Judged, Stop, Verdict};
use crate::wellknown::MetadataKind;

/// What a check of the target's authorization server starts from: the run, discovery's facts,
/// and the headless login (modes C and D).
pub(crate) struct AsCx<'a> {
    ctx: &'a Ctx,
    facts: &'a Facts,
    flow: &'a LoginFlow,
    run: LoginRun<'a>,
}

impl<'a> AsCx<'a> {
    /// The login's context, or "not testable" when no login was attempted.
    pub(crate) fn of(cx: &'a Cx<'a>) -> Result<AsCx<'a>, Stop> {
        let Some(flow) = cx.facts.login.as_ref() else {
            return Err(Stop::not_testable(
                "no headless login was attempted (the target is not its own authorization server)",
                Vec::new(),
            ));
        };
        Ok(AsCx {
            ctx: cx.ctx,
            facts: cx.facts,
            flow,
            run: LoginRun {
                ctx: cx.ctx,
                agent: &cx.ctx.agent,
            },
        })
    }
}

/// How a client a registration answer describes authenticates: by the method it was registered
/// with (`none` when the answer names none), with its secret if it got one.
fn registered_client(registration: &Value) -> ClientAuth {
    ClientAuth::for_method(
        registration
            .get("token_endpoint_auth_method")
            .and_then(Value::as_str)
            .unwrap_or("none"),
        registration
            .get("client_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        registration
            .get("client_secret")
            .and_then(Value::as_str)
            .map(str::to_string),
    )
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

/// [`refused_with`], and with the status RFC 6749 §5.2 gives the error: 400 (`invalid_client`
/// also 401; `invalid_grant` 401 only under the lenient profile). Every check that sees a
/// token-endpoint error judges its status this one way.
fn refused_with_status(
    exchange: &Exchange,
    codes: &[&str],
    profile: Profile,
) -> Result<String, String> {
    refused_with(exchange, codes)?;
    let a = error_answer(exchange);
    match (a.status, a.error.as_deref()) {
        (Some(status), Some(error)) => token_error_status(status, error, profile),
        _ => Err(a.describe()),
    }
}

/// Whether a token-endpoint error has the status RFC 6749 §5.2 gives it; `Ok` describes it.
fn token_error_status(status: u16, error: &str, profile: Profile) -> Result<String, String> {
    match status {
        400 => Ok(format!("HTTP 400 error={error}")),
        401 if error == "invalid_client" => Ok(format!("HTTP 401 error={error}")),
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

/// The claims of a JWT, read without verification (only to see what the server put there).
fn jwt_claims(token: &str) -> Option<Value> {
    let mut parts = token.split('.');
    let (_, payload, _) = (parts.next()?, parts.next()?, parts.next()?);
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

impl AsCx<'_> {
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
        v.get("client_id")?.as_str()?;
        Some((registered_client(&v), exchange))
    }

    /// Walks an authorization request built from the flow's, changed by `change` (`None` without
    /// a usable authorization endpoint); also returns the PKCE pair the request used.
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
            .send(self.ctx.mcp.request(
                &self.facts.wire,
                &McpCall::Initialize,
                &[format!("Bearer {token}")],
                None,
            ))
            .await;
        (accepted(&exchange).is_ok(), exchange)
    }
}

/// The shared steps, stopping the check with "not testable" where a step cannot be taken.
impl AsCx<'_> {
    /// The authorization-server metadata discovery of the login.
    fn discovery(&self) -> Result<&AsDiscovery, Stop> {
        self.flow
            .discovery
            .as_ref()
            .ok_or_else(|| Stop::not_testable(self.flow.summary(), Vec::new()))
    }

    /// The authorization-server metadata the login found.
    fn metadata(&self) -> Result<&Value, Stop> {
        self.flow
            .discovery
            .as_ref()
            .and_then(|d| d.document())
            .ok_or_else(|| Stop::not_testable(self.flow.summary(), Vec::new()))
    }

    /// The login's authorization walk, when it reached the callback.
    fn login_walk(&self) -> Result<&AuthorizeRun, Stop> {
        self.flow
            .authorization
            .as_ref()
            .filter(|r| r.reached_callback())
            .ok_or_else(|| Stop::not_testable(self.flow.summary(), Vec::new()))
    }

    /// The login's tokens.
    fn tokens(&self) -> Result<&flow::TokenSet, Stop> {
        self.flow
            .tokens
            .as_ref()
            .ok_or_else(|| Stop::not_testable(self.flow.summary(), Vec::new()))
    }

    /// Walks an authorization request built from the flow's, changed by `change`.
    async fn walk(&self, change: impl FnOnce(&mut AuthzParams)) -> Result<AuthorizeRun, Stop> {
        self.walk_pkce(change).await.map(|(run, _)| run)
    }

    /// [`AsCx::walk`], also returning the PKCE pair the request used.
    async fn walk_pkce(
        &self,
        change: impl FnOnce(&mut AuthzParams),
    ) -> Result<(AuthorizeRun, Pkce), Stop> {
        self.authorize_with_pkce(change)
            .await
            .ok_or_else(no_authorization_endpoint)
    }

    /// A fresh code of the login's client (a second authorization, approved).
    async fn code(&self) -> Result<(String, Pkce, AuthorizeRun), Stop> {
        self.run.fresh_code(self.flow).await.ok_or_else(|| {
            Stop::not_testable("a second authorization did not deliver a code", Vec::new())
        })
    }

    /// A fresh login of the same client: tokens, the code they came from, its PKCE pair and the
    /// authorization walk.
    async fn login_again(&self) -> Result<(flow::TokenSet, String, Pkce, AuthorizeRun), Stop> {
        let (code, pkce, run) = self.code().await?;
        let form = self.run.code_form(self.flow, &code, Some(&pkce.verifier));
        let exchange = self.token(&form, &self.client()).await;
        match token_set(&exchange) {
            Ok(set) => Ok((set, code, pkce, run)),
            Err(why) => Err(Stop::not_testable(
                format!("the second code exchange failed: {why}"),
                vec![exchange],
            )),
        }
    }

    /// A token request to the authorization server's token endpoint.
    async fn token(&self, form: &[(String, String)], client: &ClientAuth) -> Exchange {
        token_request(self.ctx, &self.token_endpoint(), form, client).await
    }
}

/// The stop of a check whose authorization request could not be made.
fn no_authorization_endpoint() -> Stop {
    Stop::not_testable("no authorization endpoint", Vec::new())
}
