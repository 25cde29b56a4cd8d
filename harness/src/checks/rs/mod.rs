//! Checks of the target as a resource server: its metadata, its challenge, key rotation,
//! introspection and token passthrough. Each is a function of the run's [`Cx`], registered in its
//! area's `PROBES` table under its check ID.

mod introspect;
pub(crate) mod jwks;
mod passthrough;
mod prm;
mod www;

use serde_json::{Value, json};

use super::{Cx, Probe};
use crate::context::Ctx;
use crate::discovery::Facts;
use crate::error::HarnessError;
use crate::idp::MintedToken;
use crate::mcp::accepted;
use crate::rpc::McpCall;
use crate::target::{Exchange, Request};
use crate::verdict::{Judged, Stop, Verdict};

/// The checks of this module, by area.
pub(crate) const AREAS: &[&[Probe]] = &[
    prm::PROBES,
    www::PROBES,
    jwks::PROBES,
    introspect::PROBES,
    passthrough::PROBES,
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
