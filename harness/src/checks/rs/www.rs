//! The `WWW-Authenticate` challenge: where its `resource_metadata` leads, and its syntax
//! (RFC 9110 §11.6.1, RFC 6750 §3).

use super::*;
use crate::challenge;
use crate::discovery::PrmRole;

pub(crate) const PROBES: &[Probe] = &[
    probe!("www.resource-metadata-param" => sync resource_metadata_param),
    probe!("www.challenge-syntax" => challenge_syntax),
];

/// `www.resource-metadata-param`.
fn resource_metadata_param(cx: &Cx<'_>) -> StepOutcome {
    let facts = cx.facts;
    let evidence = vec![facts.unauthenticated.clone()];
    let Some(value) = facts.resource_metadata_param() else {
        if facts.mode == crate::check::Mode::A {
            return StepOutcome::skip(
                "the target publishes no metadata and points at none (judged by prm.discovery-mechanism)",
            );
        }
        return StepOutcome::fail(
            "the 401 challenge has no resource_metadata parameter",
            evidence,
        );
    };
    match url::Url::parse(value) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => {}
        _ => {
            return StepOutcome::fail(
                format!("resource_metadata {value:?} is not an absolute http(s) URL"),
                evidence,
            );
        }
    }
    let Some(attempt) = facts
        .prm_attempts
        .iter()
        .find(|a| a.has_role(PrmRole::Pointer))
    else {
        return StepOutcome::fail(
            format!("resource_metadata {value:?} was not fetched"),
            evidence,
        );
    };
    if attempt.document.is_some() {
        StepOutcome::pass(
            format!("resource_metadata points at metadata ({value})"),
            Vec::new(),
        )
    } else {
        StepOutcome::fail(
            format!(
                "resource_metadata {value:?} does not lead to metadata (HTTP {})",
                attempt.deciding_exchange().status_text()
            ),
            vec![
                facts.unauthenticated.clone(),
                attempt.deciding_exchange().clone(),
            ],
        )
    }
}

/// `www.challenge-syntax`.
async fn challenge_syntax(cx: &Cx<'_>) -> StepOutcome {
    let ctx = cx.ctx;
    let facts = cx.facts;
    let garbage = ctx
        .target
        .send(ctx.mcp.request(
            &McpCall::Initialize,
            &["Bearer not-a-valid-token".to_string()],
            None,
        ))
        .await;
    let mut problems = Vec::new();
    let mut evidence = Vec::new();
    let mut seen = 0;
    for (label, exchange) in [
        ("no credentials", &facts.unauthenticated),
        ("invalid token", &garbage),
    ] {
        let Some(response) = exchange.response() else {
            continue;
        };
        let values = response.header_values("www-authenticate");
        if values.is_empty() {
            continue;
        }
        seen += 1;
        let parsed = challenge::parse_all(values.iter().copied());
        let mut found: Vec<String> = parsed.violations.clone();
        if let Some(b) = parsed.bearer() {
            found.extend(challenge::bearer_violations(b));
        }
        if !found.is_empty() {
            problems.push(format!("{label}: {}", found.join("; ")));
            evidence.push(exchange.clone());
        }
    }
    if seen == 0 {
        return StepOutcome::not_testable(
            "the target sent no WWW-Authenticate header to inspect",
            Vec::new(),
        );
    }
    if problems.is_empty() {
        StepOutcome::pass(
            "every challenge follows RFC 9110 §11.6.1 and RFC 6750 §3",
            Vec::new(),
        )
    } else {
        StepOutcome::fail(problems.join(" | "), evidence)
    }
}
