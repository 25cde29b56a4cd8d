//! Refresh tokens: they work, rotate for public clients, stay bound to their client and scope, and
//! die when used up.
//!
//! Some rules take several requests, each sent only when the previous answer leaves the rule open;
//! their judges come in stages, and a stage's `Err` is the check's verdict, reached before the rest
//! is gathered (it stops the check through `?`).

use super::*;

pub(crate) const PROBES: &[Probe] = &[
    as_probe!("refresh.works" => works),
    as_probe!("refresh.rotation-public" => rotation_public),
    as_probe!("refresh.client-binding" => client_binding),
    as_probe!("refresh.no-scope-escalation" => no_scope_escalation),
    as_probe!("refresh.dead-token-error" => dead_token_error),
];

/// `refresh.works`: the login's refresh succeeds, and the MCP endpoint accepts the refreshed
/// access token.
async fn works(cx: &AsCx<'_>) -> Judged {
    refresh_token(cx)?;
    let Some(refreshed) = &cx.flow.refreshed else {
        return Err(Stop::not_testable("no refresh was attempted", Vec::new()));
    };
    let set = judge_refreshed(refreshed)?;
    let (accepted, e) = cx.mcp_accepts(&set.access_token).await;
    Ok(judge_refreshed_token_accepted(set, accepted, &e))
}

/// The login's refresh: its tokens, or a failure when it had none.
fn judge_refreshed(
    refreshed: &Result<flow::TokenSet, Exchange>,
) -> Result<&flow::TokenSet, Verdict> {
    refreshed.as_ref().map_err(|e| {
        Verdict::fail(
            format!("the refresh failed: {}", error_answer(e).describe()),
            vec![e.clone()],
        )
    })
}

/// `mcp` is the MCP request with the refreshed access token, `accepted` whether it got in.
fn judge_refreshed_token_accepted(set: &flow::TokenSet, accepted: bool, mcp: &Exchange) -> Verdict {
    if accepted {
        Verdict::passed("the refreshed access token is accepted by the MCP endpoint")
    } else {
        Verdict::fail(
            "the access token from the refresh was refused by the MCP endpoint",
            vec![set.exchange.clone(), mcp.clone()],
        )
    }
}

/// `refresh.rotation-public`: a public client's refresh token rotates, the rotated-out one is
/// refused, and replaying it revokes the newest.
async fn rotation_public(cx: &AsCx<'_>) -> Judged {
    refresh_token(cx)?;
    if !matches!(cx.client(), ClientAuth::None { .. }) {
        return Err(Stop::skip(
            "the run's client is confidential; rotation is required for public clients",
        ));
    }
    // A login of its own, so that the replay below revokes no token another check uses.
    let (set, _, _, _) = cx.login_again().await?;
    let Some(old) = set.refresh_token.clone() else {
        return Err(Stop::not_testable(
            "the second login issued no refresh token",
            Vec::new(),
        ));
    };
    let first = cx.token(&refresh_form(cx, &old), &cx.client()).await;
    let newest = judge_rotated(&first, &old)?;
    let replay = cx.token(&refresh_form(cx, &old), &cx.client()).await;
    judge_replay_refused(&replay, cx.ctx.options.profile)?;
    let after = cx.token(&refresh_form(cx, &newest), &cx.client()).await;
    Ok(judge_family_revoked(&after))
}

/// The first refresh of `old`: the new refresh token it rotated to.
fn judge_rotated(first: &Exchange, old: &str) -> Result<String, Verdict> {
    let Ok(rotated) = token_set(first) else {
        return Err(Verdict::not_testable(
            "the refresh failed",
            vec![first.clone()],
        ));
    };
    rotated.refresh_token.filter(|n| n != old).ok_or_else(|| {
        Verdict::fail(
            "a public client's refresh returned no new refresh token (OAuth 2.1 §4.3.1: rotate, or bind to the client)",
            vec![first.clone()],
        )
    })
}

/// The rotated-out refresh token, used again, is refused.
fn judge_replay_refused(replay: &Exchange, profile: Profile) -> Result<(), Verdict> {
    refused_with_status(replay, &["invalid_grant"], profile)
        .map(|_| ())
        .map_err(|why| {
            Verdict::fail(
                format!("the rotated-out refresh token was used again: {why}"),
                vec![replay.clone()],
            )
        })
}

/// `after` is a refresh with the newest refresh token, sent after the replay.
fn judge_family_revoked(after: &Exchange) -> Verdict {
    if token_set(after).is_ok() {
        return Verdict::warn(
            "the replay was refused, but the newest refresh token still works (RFC 9700 §4.14.2: a replay SHOULD revoke the family)",
            vec![after.clone()],
        );
    }
    Verdict::passed("rotated; the old refresh token is refused and its replay revoked the newest")
}

/// `refresh.client-binding`: another client cannot use this client's refresh token.
async fn client_binding(cx: &AsCx<'_>) -> Judged {
    let token = refresh_token(cx)?;
    if cx.flow.endpoint("registration_endpoint").is_none() {
        return Err(Stop::skip(
            "needs a second client, and the server offers no dynamic registration",
        ));
    }
    let Some((other, _)) = cx.second_client().await else {
        return Err(Stop::not_testable(
            "no second client could be registered",
            Vec::new(),
        ));
    };
    // The login's refresh may have rotated the token: the newest one is the live one.
    let current = match &cx.flow.refreshed {
        Some(Ok(set)) => set.refresh_token.clone().unwrap_or(token),
        _ => token,
    };
    let e = cx.token(&refresh_form(cx, &current), &other).await;
    Ok(judge_client_binding(&e, cx.ctx.options.profile))
}

fn judge_client_binding(e: &Exchange, profile: Profile) -> Verdict {
    match refused_with_status(e, &["invalid_grant", "invalid_client"], profile) {
        Ok(note) => Verdict::passed(format!("another client's refresh was refused: {note}")),
        Err(why) => Verdict::fail(
            format!("another client used this client's refresh token: {why} (RFC 6749 §6, §10.4)"),
            vec![e.clone()],
        ),
    }
}

/// The scope a refresh asks for beyond what was granted.
const EXTRA_SCOPE: &str = "conformance:escalated";

/// `refresh.no-scope-escalation`: a refresh cannot widen the grant's scope.
async fn no_scope_escalation(cx: &AsCx<'_>) -> Judged {
    refresh_token(cx)?;
    let (set, _, _, _) = cx.login_again().await?;
    let Some(token) = set.refresh_token else {
        return Err(Stop::not_testable(
            "the second login issued no refresh token",
            Vec::new(),
        ));
    };
    let mut form = refresh_form(cx, &token);
    form.push((
        "scope".to_string(),
        format!("{} {EXTRA_SCOPE}", cx.flow.scope)
            .trim()
            .to_string(),
    ));
    let e = cx.token(&form, &cx.client()).await;
    judge_escalation(&e)?;
    // Refused otherwise: is it the scope, or does refreshing not work at all?
    let plain = cx.token(&refresh_form(cx, &token), &cx.client()).await;
    Ok(judge_other_refusal(&e, &plain))
}

/// The refresh that asked for [`EXTRA_SCOPE`]: `Ok` when it was refused with another error than
/// `invalid_scope`, which a plain refresh must explain.
fn judge_escalation(e: &Exchange) -> Result<(), Verdict> {
    let extra = EXTRA_SCOPE;
    let Ok(got) = token_set(e) else {
        if error_answer(e).error.as_deref() == Some("invalid_scope") {
            return Err(Verdict::passed(
                "400 invalid_scope for a scope beyond the grant",
            ));
        }
        return Ok(());
    };
    // The scope granted is the response's, else the access token's own claim.
    let granted = got.scope.clone().or_else(|| {
        jwt_claims(&got.access_token)
            .and_then(|c| c.get("scope").and_then(Value::as_str).map(str::to_string))
    });
    Err(
        if granted
            .as_deref()
            .is_some_and(|s| s.split_whitespace().any(|x| x == extra))
        {
            Verdict::fail(
                format!(
                    "a refresh asking for the ungranted scope {extra} was granted it (RFC 6749 §6)"
                ),
                vec![e.clone()],
            )
        } else {
            Verdict::warn(
                format!(
                    "a refresh asking for the ungranted scope {extra} succeeded without it; RFC 6749 §6 expects invalid_scope"
                ),
                vec![e.clone()],
            )
        },
    )
}

/// `e` was refused with another error than `invalid_scope`; `plain` is the same refresh without
/// the extra scope.
fn judge_other_refusal(e: &Exchange, plain: &Exchange) -> Verdict {
    if token_set(plain).is_err() {
        return Verdict::not_testable(
            "refreshing does not work at all here (see refresh.works)",
            vec![plain.clone()],
        );
    }
    Verdict::warn(
        format!(
            "refused, but with {} rather than invalid_scope",
            error_answer(e).describe()
        ),
        vec![e.clone()],
    )
}

/// `refresh.dead-token-error`: a refresh token the server does not know gets `invalid_grant`.
async fn dead_token_error(cx: &AsCx<'_>) -> Judged {
    refresh_token(cx)?;
    let e = cx
        .token(&refresh_form(cx, "revoked-or-never-issued"), &cx.client())
        .await;
    Ok(judge_dead_token(&e, cx.ctx.options.profile))
}

fn judge_dead_token(e: &Exchange, profile: Profile) -> Verdict {
    match refused_with_status(e, &["invalid_grant"], profile) {
        Ok(note) => Verdict::passed(format!("a dead refresh token: {note}")),
        Err(why) => Verdict::fail(format!("a dead refresh token: {why}"), vec![e.clone()]),
    }
}

/// The login's refresh token; without one, refresh checks do not apply. (The `login` need has
/// already made sure the login reached tokens.)
fn refresh_token(cx: &AsCx<'_>) -> Result<String, Stop> {
    cx.flow
        .tokens
        .as_ref()
        .and_then(|t| t.refresh_token.clone())
        .ok_or_else(|| Stop::skip("the authorization server issued no refresh token"))
}

/// A refresh of `token` for the MCP endpoint.
fn refresh_form(cx: &AsCx<'_>, token: &str) -> Vec<(String, String)> {
    vec![
        ("grant_type".to_string(), "refresh_token".to_string()),
        ("refresh_token".to_string(), token.to_string()),
        ("resource".to_string(), cx.ctx.mcp.url.clone()),
    ]
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use expect_test::{Expect, expect};

    use super::*;
    use crate::testkit::{exchange, render};

    fn check(v: Verdict, expect: Expect) {
        expect.assert_eq(&render(&v));
    }

    /// An answer of the token endpoint with this status and JSON body.
    fn answer(status: u16, body: &str) -> Exchange {
        exchange(&format!(
            "POST http://127.0.0.1:1/token\n=>\n{status}\ncontent-type: application/json\n\n{body}"
        ))
    }

    fn error(status: u16, code: &str) -> Exchange {
        answer(status, &format!(r#"{{"error":"{code}"}}"#))
    }

    fn tokens(refresh_token: &str) -> Exchange {
        answer(
            200,
            &format!(
                r#"{{"access_token":"at","token_type":"Bearer","refresh_token":"{refresh_token}"}}"#
            ),
        )
    }

    const MCP_REFUSED: &str = r#"
        POST http://127.0.0.1:3/mcp
        authorization: Bearer at
        =>
        401
        www-authenticate: Bearer error="invalid_token"
    "#;

    #[test]
    fn works() {
        let failed = Err(error(400, "invalid_grant"));
        check(
            judge_refreshed(&failed).unwrap_err(),
            expect![[r#"
                fail: the refresh failed: HTTP 400 error=invalid_grant
                  evidence: POST http://127.0.0.1:1/token -> 400
            "#]],
        );
        let refreshed = Ok(token_set(&tokens("rt-2")).unwrap());
        let set = judge_refreshed(&refreshed).expect("the refresh gave tokens");
        let mcp = exchange(MCP_REFUSED);
        check(
            judge_refreshed_token_accepted(set, false, &mcp),
            expect![[r#"
                fail: the access token from the refresh was refused by the MCP endpoint
                  evidence: POST http://127.0.0.1:1/token -> 200
                  evidence: POST http://127.0.0.1:3/mcp -> 401
            "#]],
        );
        check(
            judge_refreshed_token_accepted(set, true, &mcp),
            expect![[r#"
                pass
                  note: the refreshed access token is accepted by the MCP endpoint
            "#]],
        );
    }

    #[test]
    fn rotation() {
        check(
            judge_rotated(&error(400, "invalid_grant"), "rt-1").unwrap_err(),
            expect![[r#"
                not testable: the refresh failed
                  evidence: POST http://127.0.0.1:1/token -> 400
            "#]],
        );
        check(
            judge_rotated(&tokens("rt-1"), "rt-1").unwrap_err(),
            expect![[r#"
                fail: a public client's refresh returned no new refresh token (OAuth 2.1 §4.3.1: rotate, or bind to the client)
                  evidence: POST http://127.0.0.1:1/token -> 200
            "#]],
        );
        check(
            judge_rotated(
                &answer(200, r#"{"access_token":"at","token_type":"Bearer"}"#),
                "rt-1",
            )
            .unwrap_err(),
            expect![[r#"
                fail: a public client's refresh returned no new refresh token (OAuth 2.1 §4.3.1: rotate, or bind to the client)
                  evidence: POST http://127.0.0.1:1/token -> 200
            "#]],
        );
        assert_eq!(judge_rotated(&tokens("rt-2"), "rt-1").unwrap(), "rt-2");

        check(
            judge_replay_refused(&tokens("rt-3"), Profile::Rfc).unwrap_err(),
            expect![[r#"
                fail: the rotated-out refresh token was used again: tokens were issued
                  evidence: POST http://127.0.0.1:1/token -> 200
            "#]],
        );
        check(
            judge_replay_refused(&error(401, "invalid_client"), Profile::Rfc).unwrap_err(),
            expect![[r#"
                fail: the rotated-out refresh token was used again: HTTP 401 error=invalid_client, not invalid_grant
                  evidence: POST http://127.0.0.1:1/token -> 401
            "#]],
        );
        assert!(judge_replay_refused(&error(400, "invalid_grant"), Profile::Rfc).is_ok());

        check(
            judge_family_revoked(&tokens("rt-3")),
            expect![[r#"
                warn: the replay was refused, but the newest refresh token still works (RFC 9700 §4.14.2: a replay SHOULD revoke the family)
                  evidence: POST http://127.0.0.1:1/token -> 200
            "#]],
        );
        check(
            judge_family_revoked(&error(400, "invalid_grant")),
            expect![[r#"
                pass
                  note: rotated; the old refresh token is refused and its replay revoked the newest
            "#]],
        );
    }

    #[test]
    fn client_binding() {
        check(
            judge_client_binding(&error(400, "invalid_grant"), Profile::Rfc),
            expect![[r#"
                pass
                  note: another client's refresh was refused: HTTP 400 error=invalid_grant
            "#]],
        );
        check(
            judge_client_binding(&error(401, "invalid_client"), Profile::Rfc),
            expect![[r#"
                pass
                  note: another client's refresh was refused: HTTP 401 error=invalid_client
            "#]],
        );
        check(
            judge_client_binding(&tokens("rt-2"), Profile::Rfc),
            expect![[r#"
                fail: another client used this client's refresh token: tokens were issued (RFC 6749 §6, §10.4)
                  evidence: POST http://127.0.0.1:1/token -> 200
            "#]],
        );
    }

    #[test]
    fn scope_escalation() {
        check(
            judge_escalation(&error(400, "invalid_scope")).unwrap_err(),
            expect![[r#"
                pass
                  note: 400 invalid_scope for a scope beyond the grant
            "#]],
        );
        let granted = answer(
            200,
            r#"{"access_token":"at","token_type":"Bearer","scope":"mcp conformance:escalated"}"#,
        );
        check(
            judge_escalation(&granted).unwrap_err(),
            expect![[r#"
                fail: a refresh asking for the ungranted scope conformance:escalated was granted it (RFC 6749 §6)
                  evidence: POST http://127.0.0.1:1/token -> 200
            "#]],
        );
        // Without a scope in the response, the access token's own claim says what was granted.
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(r#"{"scope":"mcp conformance:escalated"}"#);
        let in_the_token = answer(
            200,
            &format!(r#"{{"access_token":"e30.{payload}.sig","token_type":"Bearer"}}"#),
        );
        check(
            judge_escalation(&in_the_token).unwrap_err(),
            expect![[r#"
                fail: a refresh asking for the ungranted scope conformance:escalated was granted it (RFC 6749 §6)
                  evidence: POST http://127.0.0.1:1/token -> 200
            "#]],
        );
        let narrowed = answer(
            200,
            r#"{"access_token":"at","token_type":"Bearer","scope":"mcp"}"#,
        );
        check(
            judge_escalation(&narrowed).unwrap_err(),
            expect![[r#"
                warn: a refresh asking for the ungranted scope conformance:escalated succeeded without it; RFC 6749 §6 expects invalid_scope
                  evidence: POST http://127.0.0.1:1/token -> 200
            "#]],
        );
        assert!(judge_escalation(&error(400, "invalid_request")).is_ok());

        check(
            judge_other_refusal(&error(400, "invalid_request"), &tokens("rt-3")),
            expect![[r#"
                warn: refused, but with HTTP 400 error=invalid_request rather than invalid_scope
                  evidence: POST http://127.0.0.1:1/token -> 400
            "#]],
        );
        check(
            judge_other_refusal(&error(400, "invalid_request"), &error(400, "invalid_grant")),
            expect![[r#"
                not testable: refreshing does not work at all here (see refresh.works)
                  evidence: POST http://127.0.0.1:1/token -> 400
            "#]],
        );
    }

    #[test]
    fn dead_token() {
        check(
            judge_dead_token(&error(400, "invalid_grant"), Profile::Rfc),
            expect![[r#"
                pass
                  note: a dead refresh token: HTTP 400 error=invalid_grant
            "#]],
        );
        check(
            judge_dead_token(&error(500, "server_error"), Profile::Rfc),
            expect![[r#"
                fail: a dead refresh token: HTTP 500: a server error, not an OAuth error
                  evidence: POST http://127.0.0.1:1/token -> 500
            "#]],
        );
    }
}
