//! The headless login itself: `login.headless-flow` judges whether a client could log in and
//! use the token it got.

use super::*;

pub(crate) const PROBES: &[Probe] = &[as_probe!("login.headless-flow" => sync headless_flow)];

/// `login.headless-flow`.
fn headless_flow(cx: &AsCx<'_>) -> StepOutcome {
    let evidence = cx
        .flow
        .failure()
        .map(|f| f.exchanges.clone())
        .unwrap_or_default();
    if cx.flow.access_token().is_none() {
        return StepOutcome::fail(cx.flow.summary(), evidence);
    }
    if !cx.facts.positive.passed {
        return StepOutcome::fail(
            format!(
                "the login issued a token, but the MCP endpoint refused it: {}",
                cx.facts.positive.message
            ),
            cx.facts.positive.exchanges.clone(),
        );
    }
    if let Some(failed) = cx.flow.failure() {
        return StepOutcome::fail(cx.flow.summary(), failed.exchanges.clone());
    }
    pass(format!(
        "{}; the MCP call with the access token succeeded",
        cx.flow.summary()
    ))
}
