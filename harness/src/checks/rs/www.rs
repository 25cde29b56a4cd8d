//! The `WWW-Authenticate` challenge: where its `resource_metadata` leads, and its syntax
//! (RFC 9110 §11.6.1, RFC 6750 §3).

use super::*;
use crate::challenge;
use crate::check::Mode;
use crate::discovery::{PrmAttempt, PrmRole};
use crate::target::NOT_FETCHED;

pub(crate) const PROBES: &[Probe] = &[
    probe!("www.resource-metadata-param" => sync resource_metadata_param),
    probe!("www.challenge-syntax" => challenge_syntax),
];

/// `www.resource-metadata-param`: the 401 points, with `resource_metadata`, at metadata that
/// answers.
fn resource_metadata_param(cx: &Cx<'_>) -> Judged {
    let f = cx.facts;
    Ok(judge_resource_metadata_param(
        &f.unauthenticated,
        f.resource_metadata_param(),
        &f.prm_attempts,
        f.mode,
    ))
}

/// `pointer` is the challenge's `resource_metadata` in the 401 `unauthenticated`.
fn judge_resource_metadata_param(
    unauthenticated: &Exchange,
    pointer: Option<&str>,
    attempts: &[PrmAttempt],
    mode: Mode,
) -> Verdict {
    let evidence = vec![unauthenticated.clone()];
    let Some(value) = pointer else {
        if mode == Mode::A {
            return Verdict::skip(
                "the target publishes no metadata and points at none (judged by prm.discovery-mechanism)",
            );
        }
        return Verdict::fail(
            "the 401 challenge has no resource_metadata parameter",
            evidence,
        );
    };
    match url::Url::parse(value) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => {}
        _ => {
            return Verdict::fail(
                format!("resource_metadata {value:?} is not an absolute http(s) URL"),
                evidence,
            );
        }
    }
    let Some(attempt) = attempts.iter().find(|a| a.has_role(PrmRole::Pointer)) else {
        return Verdict::fail(
            format!("resource_metadata {value:?} was not fetched"),
            evidence,
        );
    };
    if let Some(why) = attempt
        .deciding_exchange()
        .failure()
        .strip_prefix(NOT_FETCHED)
    {
        // Not a failure: a pointer to another origin may be legitimate, but it was not followed.
        return Verdict::not_testable(
            format!("resource_metadata was not followed: {why}"),
            evidence,
        );
    }
    if attempt.document.is_some() {
        Verdict::passed(format!("resource_metadata points at metadata ({value})"))
    } else {
        Verdict::fail(
            format!(
                "resource_metadata {value:?} does not lead to metadata (HTTP {})",
                attempt.deciding_exchange().status_text()
            ),
            vec![unauthenticated.clone(), attempt.deciding_exchange().clone()],
        )
    }
}

/// `www.challenge-syntax`: every challenge, without credentials and with an invalid token,
/// follows RFC 9110 §11.6.1 and RFC 6750 §3.
async fn challenge_syntax(cx: &Cx<'_>) -> Judged {
    let garbage = cx
        .ctx
        .target
        .send(cx.ctx.mcp.request(
            &cx.facts.wire,
            &McpCall::Initialize,
            &["Bearer not-a-valid-token".to_string()],
            None,
        ))
        .await;
    Ok(judge_challenge_syntax(&cx.facts.unauthenticated, &garbage))
}

/// `unauthenticated` carried no credentials, `garbage` an invalid token.
fn judge_challenge_syntax(unauthenticated: &Exchange, garbage: &Exchange) -> Verdict {
    let mut problems = Vec::new();
    let mut evidence = Vec::new();
    let mut seen = 0;
    for (label, exchange) in [
        ("no credentials", unauthenticated),
        ("invalid token", garbage),
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
        return Verdict::not_testable(
            "the target sent no WWW-Authenticate header to inspect",
            Vec::new(),
        );
    }
    if problems.is_empty() {
        Verdict::passed("every challenge follows RFC 9110 §11.6.1 and RFC 6750 §3")
    } else {
        Verdict::fail(problems.join(" | "), evidence)
    }
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;
    use crate::testkit::{exchange, render};

    fn check(v: Verdict, expect: Expect) {
        expect.assert_eq(&render(&v));
    }

    const PRM: &str = "http://127.0.0.1:1/.well-known/oauth-protected-resource/mcp";

    fn challenged(challenge: &str) -> Exchange {
        exchange(&format!(
            "POST http://127.0.0.1:1/mcp\n=>\n401\nwww-authenticate: {challenge}\n"
        ))
    }

    fn pointer_attempt(status: u16) -> PrmAttempt {
        PrmAttempt {
            url: PRM.to_string(),
            roles: vec![PrmRole::Pointer],
            anonymous: exchange(&format!("GET {PRM}\n=>\n{status}")),
            authenticated: None,
            document: (status == 200).then(|| serde_json::json!({"resource": "x"})),
        }
    }

    #[test]
    fn resource_metadata_param() {
        let bare = challenged("Bearer");
        check(
            judge_resource_metadata_param(&bare, None, &[], Mode::B),
            expect![[r#"
                fail: the 401 challenge has no resource_metadata parameter
                  evidence: POST http://127.0.0.1:1/mcp -> 401
            "#]],
        );
        check(
            judge_resource_metadata_param(&bare, None, &[], Mode::A),
            expect![[r#"
                skip: the target publishes no metadata and points at none (judged by prm.discovery-mechanism)
            "#]],
        );
        let pointing = challenged(&format!("Bearer resource_metadata=\"{PRM}\""));
        check(
            judge_resource_metadata_param(&pointing, Some("/relative"), &[], Mode::B),
            expect![[r#"
                fail: resource_metadata "/relative" is not an absolute http(s) URL
                  evidence: POST http://127.0.0.1:1/mcp -> 401
            "#]],
        );
        check(
            judge_resource_metadata_param(&pointing, Some(PRM), &[pointer_attempt(404)], Mode::B),
            expect![[r#"
                fail: resource_metadata "http://127.0.0.1:1/.well-known/oauth-protected-resource/mcp" does not lead to metadata (HTTP 404)
                  evidence: POST http://127.0.0.1:1/mcp -> 401
                  evidence: GET http://127.0.0.1:1/.well-known/oauth-protected-resource/mcp -> 404
            "#]],
        );
        let mut elsewhere = pointer_attempt(404);
        elsewhere.anonymous = exchange(&format!(
            "GET {PRM}\n=> ! not fetched: {PRM} is outside the origins this run contacts"
        ));
        check(
            judge_resource_metadata_param(&pointing, Some(PRM), &[elsewhere], Mode::B),
            expect![[r#"
                not testable: resource_metadata was not followed: http://127.0.0.1:1/.well-known/oauth-protected-resource/mcp is outside the origins this run contacts
                  evidence: POST http://127.0.0.1:1/mcp -> 401
            "#]],
        );
        check(
            judge_resource_metadata_param(&pointing, Some(PRM), &[pointer_attempt(200)], Mode::B),
            expect![[r#"
                pass
                  note: resource_metadata points at metadata (http://127.0.0.1:1/.well-known/oauth-protected-resource/mcp)
            "#]],
        );
    }

    #[test]
    fn challenge_syntax() {
        let sound = challenged("Bearer resource_metadata=\"http://127.0.0.1:1/prm\"");
        let bad_scope = challenged("Bearer error=\"invalid_token\", scope=\"a,b\"");
        check(
            judge_challenge_syntax(&sound, &bad_scope),
            expect![[r#"
                fail: invalid token: scope "a,b" contains a comma; RFC 6750 §3 scope is a space-delimited list
                  evidence: POST http://127.0.0.1:1/mcp -> 401
            "#]],
        );
        check(
            judge_challenge_syntax(&sound, &sound),
            expect![[r#"
                pass
                  note: every challenge follows RFC 9110 §11.6.1 and RFC 6750 §3
            "#]],
        );
        let silent = exchange("POST http://127.0.0.1:1/mcp\n=>\n401");
        check(
            judge_challenge_syntax(&silent, &silent),
            expect![[r#"
                not testable: the target sent no WWW-Authenticate header to inspect
            "#]],
        );
    }
}
