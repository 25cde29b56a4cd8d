//! The authorization endpoint: `state` and RFC 9207 `iss`, where errors go, and authorization codes
//! (single use, bound to client and redirect).
//!
//! Where a request is sent only when the previous answer leaves the rule open, the judges come in
//! stages: a stage's `Err` is the check's verdict, reached before the rest is gathered (it stops the
//! check through `?`).

use super::*;

pub(crate) const PROBES: &[Probe] = &[
    as_probe!("authz.state-echo" => state_echo),
    as_probe!("authz.iss" => sync iss),
    as_probe!("authz.error-redirects" => error_redirects),
    as_probe!("authz.code-single-use" => code_single_use),
    as_probe!("authz.code-binding" => code_binding),
];

/// `authz.state-echo`: `state` comes back exactly once and unchanged, on the login's redirect and
/// on an error redirect.
async fn state_echo(cx: &AsCx<'_>) -> Judged {
    let run = cx.login_walk()?;
    judge_login_state(run, &cx.flow.state)?;
    // The error path too. Without an authorization endpoint to send it to there is no error
    // path to judge, and the login's redirect alone decides.
    let state = random_text(8);
    let error_run = cx
        .walk(|p| {
            p.set("state", state.clone());
            p.set("response_type", "token");
        })
        .await
        .ok();
    Ok(judge_error_state(error_run.as_ref(), &state))
}

/// The login's redirect carried `state` once, with the value the login sent.
fn judge_login_state(run: &AuthorizeRun, sent: &str) -> Result<(), Verdict> {
    if run.param_count("state") == 1 && run.param("state") == Some(sent) {
        return Ok(());
    }
    Err(Verdict::fail(
        format!(
            "the authorization response carried state {} time(s){}",
            run.param_count("state"),
            if run.param_count("state") == 1 {
                " with another value"
            } else {
                ""
            }
        ),
        run.hops.last().cloned().into_iter().collect(),
    ))
}

/// `run` is the walk of a `response_type=token` request with `state` (none without an
/// authorization endpoint).
fn judge_error_state(run: Option<&AuthorizeRun>, state: &str) -> Verdict {
    let Some(run) = run else {
        return Verdict::passed("state returned unchanged");
    };
    if run.reached_callback() && run.param("state") != Some(state) {
        return Verdict::fail(
            "the error redirect (response_type=token) did not return state unchanged",
            run.hops.last().cloned().into_iter().collect(),
        );
    }
    Verdict::passed("state returned unchanged, exactly once, on success and error redirects")
}

/// `authz.iss`: the authorization response carries `iss` once, equal to the metadata's issuer
/// (RFC 9207).
fn iss(cx: &AsCx<'_>) -> Judged {
    let run = cx.login_walk()?;
    let issuer = cx
        .flow
        .discovery
        .as_ref()
        .and_then(|d| d.get("issuer"))
        .unwrap_or_default();
    Ok(judge_iss(run, &issuer, &cx.ctx.idp_info.issuer))
}

/// `upstream` is the issuer of the mock IdP, named in the finding when a proxy let it answer.
fn judge_iss(run: &AuthorizeRun, issuer: &str, upstream: &str) -> Verdict {
    let evidence: Vec<Exchange> = run.hops.last().cloned().into_iter().collect();
    match (run.param_count("iss"), run.param("iss")) {
        (0, _) => Verdict::fail(
            "the authorization response carries no iss (RFC 9207), so clients cannot detect mix-up attacks",
            evidence,
        ),
        (1, Some(iss)) if iss == issuer => {
            Verdict::passed(format!("iss={iss}, the metadata issuer"))
        }
        (1, Some(iss)) => Verdict::fail(
            format!(
                "iss={iss:?} differs from the metadata issuer {issuer:?}{}; RFC 9207 clients reject this response",
                upstream_hint(iss, upstream)
            ),
            evidence,
        ),
        (n, _) => Verdict::fail(
            format!("the authorization response carries iss {n} times"),
            evidence,
        ),
    }
}

/// `authz.error-redirects`: errors about the request itself (an unsupported `response_type`, a
/// denied consent) are redirected to the client.
async fn error_redirects(cx: &AsCx<'_>) -> Judged {
    let run = cx.walk(|p| p.set("response_type", "token")).await?;
    // A denial, where there is a page to deny on.
    let had_page = cx
        .flow
        .authorization
        .as_ref()
        .is_some_and(|r| r.pages.iter().any(Page::asks_consent));
    let mut denied = None;
    if had_page {
        let pkce = Pkce::new();
        let params = cx.run.params(cx.flow, &pkce, &random_text(8));
        denied = cx
            .run
            .authorize(cx.flow, &params, Decision::Deny, Vec::new(), false)
            .await;
    }
    Ok(judge_error_redirects(&run, had_page, denied.as_ref()))
}

/// `run` asked for `response_type=token`; `had_page` says whether the login showed a page to
/// deny on, and `denied` is the walk that denied there (if it could be made).
fn judge_error_redirects(
    run: &AuthorizeRun,
    had_page: bool,
    denied: Option<&AuthorizeRun>,
) -> Verdict {
    let mut failures = Vec::new();
    let mut evidence = Vec::new();
    if run.param("error") != Some("unsupported_response_type") {
        failures.push(format!("response_type=token: {}", run.describe_end()));
        evidence.extend(run.hops.last().cloned());
    }
    // A walk that met no page this time had nothing to deny, so it says nothing about denials.
    if let Some(denied) = denied
        && denied.pages.iter().any(Page::asks_consent)
        && denied.param("error") != Some("access_denied")
    {
        failures.push(format!("denying consent: {}", denied.describe_end()));
        evidence.extend(denied.hops.last().cloned());
    }
    if failures.is_empty() {
        Verdict::passed(format!(
            "unsupported_response_type{} redirected to the client with state",
            if had_page { " and access_denied" } else { "" }
        ))
    } else {
        Verdict::fail(
            format!("{} (RFC 6749 §4.1.2.1)", failures.join("; ")),
            evidence,
        )
    }
}

/// `authz.code-single-use`: a code redeemed twice is refused the second time, and the tokens of
/// the first redemption are revoked.
async fn code_single_use(cx: &AsCx<'_>) -> Judged {
    let (first, code, pkce, _) = cx.login_again().await?;
    let form = cx.run.code_form(cx.flow, &code, Some(&pkce.verifier));
    let again = cx.token(&form, &cx.client()).await;
    judge_second_redemption(&again, cx.ctx.options.profile)?;
    let (still, e) = cx.mcp_accepts(&first.access_token).await;
    Ok(judge_first_token_revoked(still, &e))
}

/// The second redemption of a code is refused with `invalid_grant`.
fn judge_second_redemption(again: &Exchange, profile: Profile) -> Result<(), Verdict> {
    match refused_with_status(again, &["invalid_grant"], profile) {
        Ok(_) => Ok(()),
        Err(why) => Err(Verdict::fail(
            format!("redeeming the same code a second time: {why}"),
            vec![again.clone()],
        )),
    }
}

/// `still`: whether the MCP endpoint still accepts the first redemption's access token (`mcp`).
fn judge_first_token_revoked(still: bool, mcp: &Exchange) -> Verdict {
    if still {
        Verdict::warn(
            "the second redemption was refused, but the token issued for the first is still accepted (OAuth 2.1 §4.1.3: it SHOULD be revoked)",
            vec![mcp.clone()],
        )
    } else {
        Verdict::passed("the second redemption was refused and the first token revoked")
    }
}

/// `authz.code-binding`: a code is redeemed only with the redirect URI and by the client it was
/// issued for.
async fn code_binding(cx: &AsCx<'_>) -> Judged {
    // Another redirect_uri than the one the code was issued for.
    let mut other_redirect = None;
    if let Ok((code, pkce, _)) = cx.code().await {
        let mut form = cx.run.code_form(cx.flow, &code, Some(&pkce.verifier));
        for pair in &mut form {
            if pair.0 == "redirect_uri" {
                pair.1 = format!("http://127.0.0.1:{}/other", cx.redirect_port());
            }
        }
        other_redirect = Some(cx.token(&form, &cx.client()).await);
    }
    // Another client.
    let mut other_client = None;
    if let Some((other, _)) = cx.second_client().await
        && let Ok((code, pkce, _)) = cx.code().await
    {
        let form = cx.run.code_form(cx.flow, &code, Some(&pkce.verifier));
        other_client = Some(cx.token(&form, &other).await);
    }
    Ok(judge_code_binding(
        other_redirect.as_ref(),
        other_client.as_ref(),
        cx.ctx.options.profile,
    ))
}

/// The answers to a code redeemed with another redirect URI and by another client; either is
/// missing when no code (or no second client) could be had for it.
fn judge_code_binding(
    other_redirect: Option<&Exchange>,
    other_client: Option<&Exchange>,
    profile: Profile,
) -> Verdict {
    let mut failures = Vec::new();
    let mut evidence = Vec::new();
    if let Some(e) = other_redirect
        && let Err(why) = refused_with_status(e, &["invalid_grant"], profile)
    {
        failures.push(format!("another redirect_uri: {why}"));
        evidence.push(e.clone());
    }
    if let Some(e) = other_client
        && let Err(why) = refused_with_status(e, &["invalid_grant", "invalid_client"], profile)
    {
        failures.push(format!("another client: {why}"));
        evidence.push(e.clone());
    }
    if failures.is_empty() {
        Verdict::passed(if other_client.is_some() {
            "codes are bound to their client and redirect URI"
        } else {
            "codes are bound to their redirect URI (no second client could be registered to try another client)"
        })
    } else {
        Verdict::fail(
            format!("{} (RFC 6749 §4.1.3)", failures.join("; ")),
            evidence,
        )
    }
}

/// A note when `iss` is the upstream identity provider's: a pass-through proxy let the upstream
/// answer the client directly.
fn upstream_hint(iss: &str, upstream: &str) -> &'static str {
    if iss.trim_end_matches('/') == upstream.trim_end_matches('/') {
        " (it is the upstream identity provider's issuer: the upstream answered the client directly)"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;
    use crate::testkit::{callback, exchange, render, stopped, with_page};

    fn check(v: Verdict, expect: Expect) {
        expect.assert_eq(&render(&v));
    }

    fn error(status: u16, code: &str) -> Exchange {
        exchange(&format!(
            "POST http://127.0.0.1:1/token\n=>\n{status}\ncontent-type: application/json\n\n{{\"error\":\"{code}\"}}"
        ))
    }

    const TOKENS: &str = r#"
        POST http://127.0.0.1:1/token
        =>
        200
        content-type: application/json

        {"access_token":"at","token_type":"Bearer"}
    "#;

    const MCP_ACCEPTED: &str = r#"
        POST http://127.0.0.1:3/mcp
        authorization: Bearer at
        =>
        200
        content-type: application/json

        {"jsonrpc":"2.0","id":1,"result":{}}
    "#;

    const MCP_REFUSED: &str = r#"
        POST http://127.0.0.1:3/mcp
        authorization: Bearer at
        =>
        401
        www-authenticate: Bearer error="invalid_token"
    "#;

    #[test]
    fn login_state() {
        assert!(judge_login_state(&callback("code=c&state=s1"), "s1").is_ok());
        check(
            judge_login_state(&callback("code=c&state=other"), "s1").unwrap_err(),
            expect![[r#"
                fail: the authorization response carried state 1 time(s) with another value
                  evidence: GET http://127.0.0.1:2/authorize -> 302
            "#]],
        );
        check(
            judge_login_state(&callback("code=c&state=s1&state=s1"), "s1").unwrap_err(),
            expect![[r#"
                fail: the authorization response carried state 2 time(s)
                  evidence: GET http://127.0.0.1:2/authorize -> 302
            "#]],
        );
        check(
            judge_login_state(&callback("code=c"), "s1").unwrap_err(),
            expect![[r#"
                fail: the authorization response carried state 0 time(s)
                  evidence: GET http://127.0.0.1:2/authorize -> 302
            "#]],
        );
    }

    #[test]
    fn error_state() {
        check(
            judge_error_state(
                Some(&callback("error=unsupported_response_type&state=s2")),
                "s2",
            ),
            expect![[r#"
                pass
                  note: state returned unchanged, exactly once, on success and error redirects
            "#]],
        );
        check(
            judge_error_state(Some(&callback("error=unsupported_response_type")), "s2"),
            expect![[r#"
                fail: the error redirect (response_type=token) did not return state unchanged
                  evidence: GET http://127.0.0.1:2/authorize -> 302
            "#]],
        );
        // An error shown rather than redirected carries no state to judge.
        check(
            judge_error_state(Some(&stopped(400, "unsupported_response_type")), "s2"),
            expect![[r#"
                pass
                  note: state returned unchanged, exactly once, on success and error redirects
            "#]],
        );
        check(
            judge_error_state(None, "s2"),
            expect![[r#"
                pass
                  note: state returned unchanged
            "#]],
        );
    }

    #[test]
    fn iss() {
        let issuer = "http://127.0.0.1:3";
        let upstream = "http://127.0.0.1:9";
        check(
            judge_iss(&callback("code=c&iss=http://127.0.0.1:3"), issuer, upstream),
            expect![[r#"
                pass
                  note: iss=http://127.0.0.1:3, the metadata issuer
            "#]],
        );
        check(
            judge_iss(&callback("code=c"), issuer, upstream),
            expect![[r#"
                fail: the authorization response carries no iss (RFC 9207), so clients cannot detect mix-up attacks
                  evidence: GET http://127.0.0.1:2/authorize -> 302
            "#]],
        );
        check(
            judge_iss(
                &callback("code=c&iss=http://127.0.0.1:9/"),
                issuer,
                upstream,
            ),
            expect![[r#"
                fail: iss="http://127.0.0.1:9/" differs from the metadata issuer "http://127.0.0.1:3" (it is the upstream identity provider's issuer: the upstream answered the client directly); RFC 9207 clients reject this response
                  evidence: GET http://127.0.0.1:2/authorize -> 302
            "#]],
        );
        check(
            judge_iss(&callback("code=c&iss=http://127.0.0.1:4"), issuer, upstream),
            expect![[r#"
                fail: iss="http://127.0.0.1:4" differs from the metadata issuer "http://127.0.0.1:3"; RFC 9207 clients reject this response
                  evidence: GET http://127.0.0.1:2/authorize -> 302
            "#]],
        );
        check(
            judge_iss(
                &callback("code=c&iss=http://127.0.0.1:3&iss=http://127.0.0.1:3"),
                issuer,
                upstream,
            ),
            expect![[r#"
                fail: the authorization response carries iss 2 times
                  evidence: GET http://127.0.0.1:2/authorize -> 302
            "#]],
        );
    }

    #[test]
    fn error_redirects() {
        let refused = callback("error=unsupported_response_type&state=s");
        check(
            judge_error_redirects(&refused, false, None),
            expect![[r#"
                pass
                  note: unsupported_response_type redirected to the client with state
            "#]],
        );
        let denied = with_page(
            callback("error=access_denied&state=s"),
            "http://127.0.0.1:3/consent",
            "Allow?",
        );
        check(
            judge_error_redirects(&refused, true, Some(&denied)),
            expect![[r#"
                pass
                  note: unsupported_response_type and access_denied redirected to the client with state
            "#]],
        );
        let shown = with_page(
            stopped(403, "access denied"),
            "http://127.0.0.1:3/consent",
            "Allow?",
        );
        check(
            judge_error_redirects(
                &stopped(400, "unsupported_response_type"),
                true,
                Some(&shown),
            ),
            expect![[r#"
                fail: response_type=token: stopped at HTTP 400: unsupported_response_type; denying consent: stopped at HTTP 403: access denied (RFC 6749 §4.1.2.1)
                  evidence: GET http://127.0.0.1:2/authorize -> 400
                  evidence: GET http://127.0.0.1:2/authorize -> 403
            "#]],
        );
        // A denial walk that met no page (the consent was remembered) proves nothing either way.
        check(
            judge_error_redirects(&refused, true, Some(&callback("code=c&state=s"))),
            expect![[r#"
                pass
                  note: unsupported_response_type and access_denied redirected to the client with state
            "#]],
        );
    }

    #[test]
    fn code_single_use() {
        check(
            judge_second_redemption(&exchange(TOKENS), Profile::Rfc).unwrap_err(),
            expect![[r#"
                fail: redeeming the same code a second time: tokens were issued
                  evidence: POST http://127.0.0.1:1/token -> 200
            "#]],
        );
        check(
            judge_second_redemption(&error(400, "invalid_request"), Profile::Rfc).unwrap_err(),
            expect![[r#"
                fail: redeeming the same code a second time: HTTP 400 error=invalid_request, not invalid_grant
                  evidence: POST http://127.0.0.1:1/token -> 400
            "#]],
        );
        assert!(judge_second_redemption(&error(400, "invalid_grant"), Profile::Rfc).is_ok());
        check(
            judge_first_token_revoked(true, &exchange(MCP_ACCEPTED)),
            expect![[r#"
                warn: the second redemption was refused, but the token issued for the first is still accepted (OAuth 2.1 §4.1.3: it SHOULD be revoked)
                  evidence: POST http://127.0.0.1:3/mcp -> 200
            "#]],
        );
        check(
            judge_first_token_revoked(false, &exchange(MCP_REFUSED)),
            expect![[r#"
                pass
                  note: the second redemption was refused and the first token revoked
            "#]],
        );
    }

    #[test]
    fn code_binding() {
        check(
            judge_code_binding(
                Some(&error(400, "invalid_grant")),
                Some(&error(401, "invalid_client")),
                Profile::Rfc,
            ),
            expect![[r#"
                pass
                  note: codes are bound to their client and redirect URI
            "#]],
        );
        check(
            judge_code_binding(Some(&error(400, "invalid_grant")), None, Profile::Rfc),
            expect![[r#"
                pass
                  note: codes are bound to their redirect URI (no second client could be registered to try another client)
            "#]],
        );
        check(
            judge_code_binding(
                Some(&exchange(TOKENS)),
                Some(&exchange(TOKENS)),
                Profile::Rfc,
            ),
            expect![[r#"
                fail: another redirect_uri: tokens were issued; another client: tokens were issued (RFC 6749 §4.1.3)
                  evidence: POST http://127.0.0.1:1/token -> 200
                  evidence: POST http://127.0.0.1:1/token -> 200
            "#]],
        );
        check(
            judge_code_binding(None, Some(&error(400, "invalid_request")), Profile::Rfc),
            expect![[r#"
                fail: another client: HTTP 400 error=invalid_request, not invalid_grant or invalid_client (RFC 6749 §4.1.3)
                  evidence: POST http://127.0.0.1:1/token -> 400
            "#]],
        );
    }
}
