//! The headless login itself: `login.headless-flow` judges whether a client could log in and
//! use the token it got.

use super::*;
use crate::discovery::PositiveControl;

pub(crate) const PROBES: &[Probe] = &[as_probe!("login.headless-flow" => sync headless_flow)];

/// `login.headless-flow`: a client logs in without a person and the token it gets works at the
/// MCP endpoint.
fn headless_flow(cx: &AsCx<'_>) -> Judged {
    Ok(judge_headless_flow(cx.flow, &cx.facts.positive))
}

/// `positive` is the MCP call made with the login's access token.
fn judge_headless_flow(flow: &LoginFlow, positive: &PositiveControl) -> Verdict {
    let evidence = flow
        .failure()
        .map(|f| f.exchanges.clone())
        .unwrap_or_default();
    if flow.access_token().is_none() {
        return Verdict::fail(flow.summary(), evidence);
    }
    if !positive.passed {
        return Verdict::fail(
            format!(
                "the login issued a token, but the MCP endpoint refused it: {}",
                positive.message
            ),
            positive.exchanges.clone(),
        );
    }
    if let Some(failed) = flow.failure() {
        return Verdict::fail(flow.summary(), failed.exchanges.clone());
    }
    Verdict::passed(format!(
        "{}; the MCP call with the access token succeeded",
        flow.summary()
    ))
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;
    use crate::oauth::flow::{FlowStep, TokenSet};
    use crate::testkit::{exchange, render};

    fn check(v: Verdict, expect: Expect) {
        expect.assert_eq(&render(&v));
    }

    fn step(name: &'static str, ok: bool, message: &str) -> FlowStep {
        FlowStep {
            name,
            ok,
            message: message.to_string(),
            exchanges: if ok {
                Vec::new()
            } else {
                vec![exchange("POST http://127.0.0.1:1/token\n=>\n400")]
            },
        }
    }

    fn tokens() -> TokenSet {
        TokenSet {
            access_token: "at".into(),
            refresh_token: None,
            scope: None,
            response: Value::Null,
            exchange: exchange("POST http://127.0.0.1:1/token\n=>\n200"),
        }
    }

    fn control(passed: bool) -> PositiveControl {
        PositiveControl {
            passed,
            message: if passed {
                "accepted".into()
            } else {
                "the access token was refused: answered HTTP 401".into()
            },
            exchanges: vec![exchange("POST http://127.0.0.1:1/mcp\n=>\n401")],
            session_id: None,
        }
    }

    #[test]
    fn headless_flow() {
        let stopped = LoginFlow {
            steps: vec![
                step("metadata", true, "found"),
                step("token", false, "the code exchange failed: HTTP 400"),
            ],
            ..LoginFlow::default()
        };
        check(
            judge_headless_flow(&stopped, &control(false)),
            expect![[r#"
                fail: the headless login stopped at token: the code exchange failed: HTTP 400 (steps done: metadata)
                  evidence: POST http://127.0.0.1:1/token -> 400
            "#]],
        );
        let logged_in = LoginFlow {
            steps: vec![step("metadata", true, "found"), step("token", true, "ok")],
            tokens: Some(tokens()),
            ..LoginFlow::default()
        };
        check(
            judge_headless_flow(&logged_in, &control(false)),
            expect![[r#"
                fail: the login issued a token, but the MCP endpoint refused it: the access token was refused: answered HTTP 401
                  evidence: POST http://127.0.0.1:1/mcp -> 401
            "#]],
        );
        let refresh_failed = LoginFlow {
            steps: vec![
                step("token", true, "ok"),
                step("refresh", false, "the refresh failed: HTTP 400"),
            ],
            tokens: Some(tokens()),
            ..LoginFlow::default()
        };
        check(
            judge_headless_flow(&refresh_failed, &control(true)),
            expect![[r#"
                fail: the headless login stopped at refresh: the refresh failed: HTTP 400 (steps done: token)
                  evidence: POST http://127.0.0.1:1/token -> 400
            "#]],
        );
        check(
            judge_headless_flow(&logged_in, &control(true)),
            expect![[r#"
                pass
                  note: the headless login worked: metadata, token; the MCP call with the access token succeeded
            "#]],
        );
    }
}
