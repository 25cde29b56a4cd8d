//! Token passthrough: an OAuth proxy issues its own tokens, refuses upstream ones, and ends them
//! when the upstream grant is revoked.

use super::*;

pub(crate) const PROBES: &[Probe] = &[
    as_probe!("passthrough.proxy-own-tokens" => proxy_own_tokens),
    as_probe!("passthrough.upstream-token-rejected" => upstream_token_rejected),
    as_probe!("passthrough.upstream-revocation" => upstream_revocation),
];

/// Whether `token` is a JWT issued by `issuer`.
fn issued_by(token: &str, issuer: &str) -> bool {
    jwt_claims(token)
        .and_then(|c| c.get("iss").and_then(Value::as_str).map(str::to_string))
        .as_deref()
        == Some(issuer)
}

/// The skip of a login that did not go through an upstream identity provider.
fn not_proxied() -> Stop {
    Stop::skip("the login did not go through the upstream identity provider")
}

/// `passthrough.proxy-own-tokens`: the client gets the proxy's own tokens, not the upstream's.
async fn proxy_own_tokens(cx: &AsCx<'_>) -> Judged {
    if !cx.flow.via_upstream {
        return Err(not_proxied());
    }
    let tokens = cx.tokens()?;
    let upstream_issuer = &cx.ctx.idp_info.issuer;
    // A token the upstream signed is judged by its `iss`; any other is shown to the upstream.
    let introspected = if issued_by(&tokens.access_token, upstream_issuer) {
        None
    } else {
        Some(introspect_upstream(cx, &tokens.access_token).await)
    };
    Ok(judge_own_tokens(
        tokens,
        upstream_issuer,
        introspected.as_ref(),
    ))
}

/// What the upstream identity provider's introspection endpoint says of `token` (`null` when it
/// gave no JSON).
async fn introspect_upstream(cx: &AsCx<'_>, token: &str) -> Value {
    let info = &cx.ctx.idp_info;
    let mut request = Request::new(reqwest::Method::POST, info.introspection_endpoint.clone())
        .header("content-type", "application/x-www-form-urlencoded")
        .header(
            "authorization",
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!(
                    "{}:{}",
                    info.introspection_client_id, info.introspection_client_secret
                ))
            ),
        );
    request.body = Some(
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("token", token)
            .finish()
            .into_bytes(),
    );
    let answer = cx.ctx.target.send(request).await;
    answer
        .response()
        .and_then(|r| serde_json::from_slice(&r.body).ok())
        .unwrap_or(Value::Null)
}

/// `tokens` are the client's; `introspected` is the upstream's introspection of its access
/// token, when that token was not the upstream's own JWT.
fn judge_own_tokens(
    tokens: &flow::TokenSet,
    upstream_issuer: &str,
    introspected: Option<&Value>,
) -> Verdict {
    if issued_by(&tokens.access_token, upstream_issuer) {
        return Verdict::fail(
            format!(
                "the client received the upstream identity provider's own access token (iss {upstream_issuer}); a proxy issues its own tokens and keeps the upstream's"
            ),
            vec![tokens.exchange.clone()],
        );
    }
    if introspected
        .and_then(|v| v.get("active"))
        .and_then(Value::as_bool)
        == Some(true)
    {
        return Verdict::fail(
            "the upstream identity provider recognises the client's access token as its own: the proxy passes upstream tokens through",
            Vec::new(),
        );
    }
    Verdict::passed("the client's access token is the proxy's own, unknown to the upstream")
}

/// `passthrough.upstream-token-rejected`: an access token of the upstream identity provider is
/// refused at the MCP endpoint.
async fn upstream_token_rejected(cx: &AsCx<'_>) -> Judged {
    if !cx.flow.via_upstream {
        return Err(not_proxied());
    }
    if cx
        .flow
        .access_token()
        .is_some_and(|t| issued_by(t, &cx.ctx.idp_info.issuer))
    {
        return Err(Stop::skip(
            "the proxy hands out the upstream's tokens (see passthrough.proxy-own-tokens), so an upstream token is its valid token",
        ));
    }
    let upstream = cx
        .ctx
        .idp
        .mint(&json!({
            "audience": cx.ctx.mcp.url,
            "scope": if cx.flow.scope.is_empty() { Value::Null } else { json!(cx.flow.scope) },
            "claims": {"client_id": "mcp-proxy-upstream"},
        }))
        .await?;
    let (accepted, answer) = cx.mcp_accepts(&upstream.token).await;
    Ok(judge_upstream_token(accepted, &answer))
}

/// `answer` is the MCP endpoint's answer to a request with an upstream token; `accepted` whether
/// it served it.
fn judge_upstream_token(accepted: bool, answer: &Exchange) -> Verdict {
    if accepted {
        Verdict::fail(
            "an access token of the upstream identity provider was accepted at the MCP endpoint; the server must accept only tokens issued for it",
            vec![answer.clone()],
        )
    } else {
        Verdict::passed(format!("refused with HTTP {}", answer.status_text()))
    }
}

/// `passthrough.upstream-revocation`: revoking the upstream grant behind a proxy's token ends
/// that token at the MCP endpoint.
async fn upstream_revocation(cx: &AsCx<'_>) -> Judged {
    if !cx.flow.via_upstream {
        return Err(not_proxied());
    }
    // A login of its own, so that revoking its upstream grant leaves the run's token alone.
    let (tokens, _, _, run) = cx.login_again().await?;
    let upstream = origin_of(&cx.ctx.idp_info.issuer);
    let own = origin_of(&cx.ctx.mcp.url);
    let Some(code) = upstream_grant(&run, &upstream, &own) else {
        return Err(Stop::not_testable(
            "the second login's walk showed no upstream code coming back to the proxy",
            run.hops.clone(),
        ));
    };
    let (ok, before) = cx.mcp_accepts(&tokens.access_token).await;
    if !ok {
        return Err(Stop::not_testable(
            "the second login's token was refused before anything was revoked",
            vec![before],
        ));
    }
    cx.ctx.idp.revoke_grant(&code).await?;
    // Later revisions leave the delay to the proxy: give it a few seconds.
    let patience = std::time::Duration::from_secs(3);
    let started = std::time::Instant::now();
    let mut attempts = 0;
    let (accepted, answer) = loop {
        attempts += 1;
        let (ok, e) = cx.mcp_accepts(&tokens.access_token).await;
        if !ok || started.elapsed() >= patience {
            break (ok, e);
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    };
    Ok(judge_revocation(accepted, &answer, attempts, patience))
}

/// The upstream's code behind a login's walk: the one brought back to the proxy, or, when the
/// upstream redirected straight to the client (a pass-through), the client's own code.
fn upstream_grant(run: &AuthorizeRun, upstream: &str, own: &str) -> Option<String> {
    let passed_through = run
        .hops
        .last()
        .is_some_and(|h| origin_of(&h.request.url) == upstream);
    upstream_code(run, upstream, own).or_else(|| {
        passed_through
            .then(|| run.code().map(str::to_string))
            .flatten()
    })
}

/// `answer` is the MCP endpoint's last answer to the token after the upstream grant was
/// revoked, `accepted` whether it served it, after `attempts` tries within `patience`.
fn judge_revocation(
    accepted: bool,
    answer: &Exchange,
    attempts: u32,
    patience: std::time::Duration,
) -> Verdict {
    if !accepted {
        let when = if attempts == 1 {
            "at once".to_string()
        } else {
            format!("within {} s", patience.as_secs())
        };
        return Verdict::passed(format!(
            "after the upstream identity provider revoked the grant behind the proxy's token, the MCP endpoint refused that token {when} (HTTP {})",
            answer.status_text()
        ));
    }
    Verdict::fail(
        format!(
            "the proxy's token was still accepted {} s after the upstream identity provider revoked the grant behind it: the user's upstream revocation does not reach the MCP server (MCP 2025-03-26 Third-Party Authorization, session binding: MUST; later revisions: SHOULD)",
            patience.as_secs()
        ),
        vec![answer.clone()],
    )
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use expect_test::{Expect, expect};

    use super::*;
    use crate::oauth::flow::TokenSet;
    use crate::testkit::{callback, exchange, render};

    fn check(v: Verdict, expect: Expect) {
        expect.assert_eq(&render(&v));
    }

    /// The upstream identity provider's issuer and origin in these fixtures.
    const UPSTREAM: &str = "http://127.0.0.1:9";
    /// The proxy's origin.
    const OWN: &str = "http://127.0.0.1:2";

    /// An unsigned JWT carrying these claims (the judges read claims without verifying).
    fn jwt(claims: Value) -> String {
        let part =
            |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!("{}.{}.sig", part(&json!({"alg": "none"})), part(&claims))
    }

    fn tokens(access_token: &str) -> TokenSet {
        TokenSet {
            access_token: access_token.to_string(),
            refresh_token: None,
            scope: None,
            response: json!({"access_token": access_token}),
            exchange: exchange("POST http://127.0.0.1:2/token\n=>\n200\n"),
        }
    }

    fn mcp_answer(status: u16) -> Exchange {
        exchange(&format!("POST http://127.0.0.1:2/mcp\n=>\n{status}\n"))
    }

    #[test]
    fn own_tokens() {
        let upstream_token = tokens(&jwt(json!({"iss": UPSTREAM, "sub": "u"})));
        check(
            judge_own_tokens(&upstream_token, UPSTREAM, None),
            expect![[r#"
                fail: the client received the upstream identity provider's own access token (iss http://127.0.0.1:9); a proxy issues its own tokens and keeps the upstream's
                  evidence: POST http://127.0.0.1:2/token -> 200
            "#]],
        );
        let opaque = tokens("proxy-opaque-token");
        check(
            judge_own_tokens(&opaque, UPSTREAM, Some(&json!({"active": true}))),
            expect![[r#"
                fail: the upstream identity provider recognises the client's access token as its own: the proxy passes upstream tokens through
            "#]],
        );
        check(
            judge_own_tokens(&opaque, UPSTREAM, Some(&json!({"active": false}))),
            expect![[r#"
                pass
                  note: the client's access token is the proxy's own, unknown to the upstream
            "#]],
        );
        // The proxy's own JWT, and an introspection answer that was no JSON at all.
        let own = tokens(&jwt(json!({"iss": OWN, "sub": "u"})));
        check(
            judge_own_tokens(&own, UPSTREAM, Some(&Value::Null)),
            expect![[r#"
                pass
                  note: the client's access token is the proxy's own, unknown to the upstream
            "#]],
        );
    }

    #[test]
    fn upstream_token() {
        check(
            judge_upstream_token(true, &mcp_answer(200)),
            expect![[r#"
            fail: an access token of the upstream identity provider was accepted at the MCP endpoint; the server must accept only tokens issued for it
              evidence: POST http://127.0.0.1:2/mcp -> 200
        "#]],
        );
        check(
            judge_upstream_token(false, &mcp_answer(401)),
            expect![[r#"
            pass
              note: refused with HTTP 401
        "#]],
        );
    }

    #[test]
    fn grant_behind_a_login() {
        // A proxy: the upstream sends the browser back to the proxy with the upstream's code.
        let mut proxied = callback("code=proxy-code&state=s");
        proxied.hops = vec![
            exchange(
                "GET http://127.0.0.1:9/authorize\n=>\n302\nlocation: http://127.0.0.1:2/upstream/callback?code=up-code\n",
            ),
            exchange(
                "GET http://127.0.0.1:2/upstream/callback?code=up-code&state=p\n=>\n302\nlocation: http://127.0.0.1:1/callback?code=proxy-code\n",
            ),
        ];
        assert_eq!(
            upstream_grant(&proxied, UPSTREAM, OWN).as_deref(),
            Some("up-code")
        );
        // A pass-through: the upstream redirects straight to the client.
        let mut passed = callback("code=up-code&state=s");
        passed.hops = vec![exchange(
            "GET http://127.0.0.1:9/authorize\n=>\n302\nlocation: http://127.0.0.1:1/callback?code=up-code\n",
        )];
        assert_eq!(
            upstream_grant(&passed, UPSTREAM, OWN).as_deref(),
            Some("up-code")
        );
        // The proxy's own code, with no upstream hop in the walk, is no upstream grant.
        assert_eq!(
            upstream_grant(&callback("code=proxy-code"), UPSTREAM, OWN),
            None
        );
    }

    #[test]
    fn revocation() {
        let patience = Duration::from_secs(3);
        check(
            judge_revocation(false, &mcp_answer(401), 1, patience),
            expect![[r#"
                pass
                  note: after the upstream identity provider revoked the grant behind the proxy's token, the MCP endpoint refused that token at once (HTTP 401)
            "#]],
        );
        check(
            judge_revocation(false, &mcp_answer(401), 5, patience),
            expect![[r#"
                pass
                  note: after the upstream identity provider revoked the grant behind the proxy's token, the MCP endpoint refused that token within 3 s (HTTP 401)
            "#]],
        );
        check(
            judge_revocation(true, &mcp_answer(200), 13, patience),
            expect![[r#"
                fail: the proxy's token was still accepted 3 s after the upstream identity provider revoked the grant behind it: the user's upstream revocation does not reach the MCP server (MCP 2025-03-26 Third-Party Authorization, session binding: MUST; later revisions: SHOULD)
                  evidence: POST http://127.0.0.1:2/mcp -> 200
            "#]],
        );
    }
}
