//! Checks of the target as a resource server: its metadata, its challenge, key rotation,
//! introspection and token passthrough. Each is a function of the run's [`Cx`], registered in its
//! area's `PROBES` table under its check ID.

mod ext;
mod introspect;
pub(crate) mod jwks;
mod passthrough;
mod prm;
mod scope;
mod transport;
mod www;

use serde_json::{Value, json};

use super::{Cx, Probe};
use crate::challenge::{self, Challenge};
use crate::context::Ctx;
use crate::discovery::Facts;
use crate::error::HarnessError;
use crate::idp::MintedToken;
use crate::mcp::{Wire, accepted};
use crate::rpc::{McpCall, RpcOutcome, read_response};
use crate::spec::Era;
use crate::target::{Exchange, Request};
use crate::verdict::{Judged, Stop, Verdict};

/// The checks of this module, by area.
pub(crate) const AREAS: &[&[Probe]] = &[
    prm::PROBES,
    www::PROBES,
    scope::PROBES,
    transport::PROBES,
    jwks::PROBES,
    introspect::PROBES,
    passthrough::PROBES,
    ext::PROBES,
];

// ---- JWKS rotation story -------------------------------------------------------------------

/// Presents a token in the default request of the era `facts` were gathered on.
async fn send_token(ctx: &Ctx, facts: &Facts, token: &MintedToken) -> Exchange {
    ctx.target
        .send(ctx.mcp.request(
            &facts.wire,
            &McpCall::Initialize,
            &[format!("Bearer {}", token.token)],
            None,
        ))
        .await
}

async fn mint_with_kid(
    ctx: &Ctx,
    facts: &Facts,
    kid: Option<&str>,
) -> Result<MintedToken, HarnessError> {
    let scope = if facts.required_scopes.is_empty() {
        Value::Null
    } else {
        json!(facts.required_scopes.join(" "))
    };
    let mut request = json!({ "scope": scope });
    if let Some(kid) = kid {
        request["kid"] = json!(kid);
    }
    ctx.mint(&request).await
}

// ---- Requests as a client of each era makes them ------------------------------------------

/// Sends `call` with these `Authorization` values as a client of `wire`'s era would: in the
/// legacy era inside a session of its own, opened with `initialize` by the same credentials
/// (when that is refused, the refusal is the answer), in the modern era as one request.
async fn call_in_era(ctx: &Ctx, wire: &Wire, call: &McpCall, authorization: &[String]) -> Exchange {
    if wire.era == Era::Modern || *call == McpCall::Initialize {
        return ctx
            .target
            .send(ctx.mcp.request(wire, call, authorization, None))
            .await;
    }
    let init = ctx
        .target
        .send(
            ctx.mcp
                .request(wire, &McpCall::Initialize, authorization, None),
        )
        .await;
    if accepted(&init).is_err() {
        return init;
    }
    let session = init
        .response()
        .and_then(|r| r.header("mcp-session-id"))
        .map(str::to_string);
    ctx.target
        .send(ctx.mcp.request(
            wire,
            &McpCall::Initialized,
            authorization,
            session.as_deref(),
        ))
        .await;
    ctx.target
        .send(
            ctx.mcp
                .request(wire, call, authorization, session.as_deref()),
        )
        .await
}

/// A token with exactly these scopes (the required ones when `scopes` is `None`).
async fn mint_scoped(ctx: &Ctx, scopes: &[String]) -> Result<MintedToken, HarnessError> {
    let scope = if scopes.is_empty() {
        Value::Null
    } else {
        json!(scopes.join(" "))
    };
    ctx.mint(&json!({ "scope": scope })).await
}

/// The Bearer challenge of an answer, if it has one.
fn bearer_challenge(exchange: &Exchange) -> Option<Challenge> {
    let response = exchange.response()?;
    challenge::parse_all(response.header_values("www-authenticate"))
        .bearer()
        .cloned()
}

/// The text of a tool error: a 2xx `tools/call` result with `isError: true`.
fn tool_error(exchange: &Exchange) -> Option<String> {
    let response = exchange.response()?;
    match read_response(response.header("content-type"), &response.body) {
        RpcOutcome::Result(result) if result.get("isError") == Some(&Value::Bool(true)) => Some(
            result
                .pointer("/content/0/text")
                .and_then(Value::as_str)
                .unwrap_or("(no text)")
                .to_string(),
        ),
        _ => None,
    }
}

/// Whether an answer is a real success: accepted, and not a tool error.
fn succeeded(exchange: &Exchange) -> bool {
    accepted(exchange).is_ok() && tool_error(exchange).is_none()
}
