//! The MCP 2025-03-26 way of finding the authorization server: metadata at the origin, else
//! default endpoints.

use super::*;

pub(crate) const PROBES: &[Probe] = &[as_probe!("legacy.mar26-as-location" => mar26_as_location)];

/// `legacy.mar26-as-location`.
async fn mar26_as_location(cx: &AsCx<'_>) -> StepOutcome {
    let origin = cx.ctx.origin();
    let url = format!("{origin}/.well-known/oauth-authorization-server");
    let e = cx.ctx.target.send(Request::get_json(url.clone())).await;
    if crate::wellknown::metadata_document(&e).is_some() {
        return pass(format!("metadata at the origin root ({url})"));
    }
    let mut dead = Vec::new();
    let mut evidence = vec![e];
    for path in ["/authorize", "/token", "/register"] {
        let e = cx
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
