//! `rs.refresh-token-as-bearer`: a resource server's rule that needs the login of the target's
//! own authorization server (a fresh refresh token), so it lives with the probes that log in.

use super::*;

pub(crate) const PROBES: &[Probe] =
    &[as_probe!("rs.refresh-token-as-bearer" => refresh_token_as_bearer)];

/// Presents a refresh token of the target's own authorization server as a bearer token at the
/// MCP endpoint: refresh tokens go to the authorization server only (RFC 6749 §1.5).
async fn refresh_token_as_bearer(cx: &AsCx<'_>) -> Judged {
    // A login of its own: the first login's refresh token may already be rotated or revoked by
    // the refresh checks, and a dead token would be refused for the wrong reason.
    let (tokens, ..) = cx.login_again().await?;
    let Some(refresh) = tokens.refresh_token.clone() else {
        return Err(Stop::skip(
            "the authorization server issued no refresh token",
        ));
    };
    let (_, access) = cx.mcp_accepts(&tokens.access_token).await;
    let (_, presented) = cx.mcp_accepts(&refresh).await;
    Ok(judge_refresh_as_bearer(&access, &presented))
}

/// `access` used the login's access token, `presented` its refresh token.
fn judge_refresh_as_bearer(access: &Exchange, presented: &Exchange) -> Verdict {
    let evidence = vec![access.clone(), presented.clone()];
    if accepted(access).is_err() {
        return Verdict::not_testable(
            format!(
                "the access token of the same login was refused ({})",
                access.status_text()
            ),
            evidence,
        );
    }
    match presented.status() {
        _ if accepted(presented).is_ok() => Verdict::fail(
            "the MCP endpoint accepted a refresh token as a bearer token: a refresh token is a credential for the authorization server only, long-lived and not bound to this resource",
            evidence,
        ),
        Some(401) => Verdict::pass(
            "a refresh token presented as a bearer token gets 401",
            evidence,
        ),
        _ => Verdict::warn(
            format!(
                "a refresh token presented as a bearer token was refused with {}, not 401 invalid_token",
                presented.status_text()
            ),
            evidence,
        ),
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

    fn answer(fixture: &str) -> Exchange {
        exchange(&format!("POST http://127.0.0.1:1/mcp\n=>\n{fixture}"))
    }

    #[test]
    fn refresh_tokens_are_not_bearer_tokens() {
        let ok = answer(
            "200\ncontent-type: application/json\n\n{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}",
        );
        check(
            judge_refresh_as_bearer(&ok, &answer("401")),
            expect![[r#"
                pass
                  note: a refresh token presented as a bearer token gets 401
                  evidence: POST http://127.0.0.1:1/mcp -> 200
                  evidence: POST http://127.0.0.1:1/mcp -> 401
            "#]],
        );
        check(
            judge_refresh_as_bearer(&ok, &ok),
            expect![[r#"
                fail: the MCP endpoint accepted a refresh token as a bearer token: a refresh token is a credential for the authorization server only, long-lived and not bound to this resource
                  evidence: POST http://127.0.0.1:1/mcp -> 200
                  evidence: POST http://127.0.0.1:1/mcp -> 200
            "#]],
        );
    }
}
