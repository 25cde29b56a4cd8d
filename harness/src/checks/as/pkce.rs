//! PKCE (RFC 7636, OAuth 2.1): required, S256 only, verifier checked, and an OAuth proxy running
//! PKCE on both legs.

use super::*;

pub(crate) const PROBES: &[Probe] = &[
    as_probe!("pkce.required" => required),
    as_probe!("pkce.s256-flow" => s256_flow),
    as_probe!("pkce.wrong-verifier" => wrong_verifier),
    as_probe!("pkce.missing-verifier" => missing_verifier),
    as_probe!("pkce.proxy-two-legs" => proxy_two_legs),
    as_probe!("pkce.downgrade" => downgrade),
];

/// `pkce.required`: an authorization request without `code_challenge` gets no code.
async fn required(cx: &AsCx<'_>) -> Judged {
    let run = cx
        .walk(|p| {
            p.remove("code_challenge");
            p.remove("code_challenge_method");
        })
        .await?;
    Ok(judge_required(&run))
}

fn judge_required(run: &AuthorizeRun) -> Verdict {
    match run.code() {
        Some(_) => Verdict::fail(
            "an authorization request without code_challenge was answered with a code",
            run.hops.clone(),
        ),
        None => Verdict::passed(format!("refused: {}", run.describe_end())),
    }
}

/// `pkce.s256-flow`: the login used S256; `plain` is refused; and a challenge sent without
/// `code_challenge_method` (which RFC 7636 §4.3 says means `plain`) is refused or taken as
/// `plain`, never silently as S256.
async fn s256_flow(cx: &AsCx<'_>) -> Judged {
    let verifier = random_text(32);
    let run = cx
        .walk(|p| {
            p.set("code_challenge", verifier.clone());
            p.set("code_challenge_method", "plain");
        })
        .await?;
    let plain = judge_plain_refused(&run);
    if !plain.failures.is_empty() {
        return Ok(plain);
    }
    // The login's S256 challenge, without its method.
    let (absent, pkce) = cx.walk_pkce(|p| p.remove("code_challenge_method")).await?;
    let redeemed = match absent.code() {
        Some(code) => {
            let form = cx.run.code_form(cx.flow, code, Some(&pkce.verifier));
            Some(cx.token(&form, &cx.client()).await)
        }
        None => None,
    };
    Ok(judge_absent_method(plain, &absent, redeemed.as_ref()))
}

/// `absent` walked an S256 challenge sent without `code_challenge_method`; `redeemed` exchanged
/// its code (if one came) with the S256 verifier.
fn judge_absent_method(
    mut verdict: Verdict,
    absent: &AuthorizeRun,
    redeemed: Option<&Exchange>,
) -> Verdict {
    match redeemed {
        None => verdict.notes.push(format!(
            "a challenge without code_challenge_method was refused: {}",
            absent.describe_end()
        )),
        Some(e) if token_set(e).is_ok() => {
            return Verdict::fail(
                "a challenge sent without code_challenge_method was taken as S256 (its code was redeemed with the S256 verifier); an absent method means plain (RFC 7636 §4.3), so a client relying on that default breaks",
                vec![e.clone()],
            );
        }
        Some(_) => verdict.notes.push(
            "a challenge without code_challenge_method was taken as plain (the S256 verifier did not redeem its code)".to_string(),
        ),
    }
    verdict
}

fn judge_plain_refused(run: &AuthorizeRun) -> Verdict {
    match run.code() {
        Some(_) => Verdict::fail(
            "an authorization request with code_challenge_method=plain was answered with a code; S256 worked, so plain only weakens PKCE",
            run.hops.clone(),
        ),
        None => Verdict::passed(format!(
            "S256 worked in the login; plain was refused: {}",
            run.describe_end()
        )),
    }
}

/// `pkce.wrong-verifier`: a code redeemed with another verifier is refused with `invalid_grant`.
async fn wrong_verifier(cx: &AsCx<'_>) -> Judged {
    let e = redeem_fresh_code(cx, Some(random_text(32))).await?;
    Ok(judge_verifier(&e, Verifier::Wrong, cx.ctx.options.profile))
}

/// `pkce.missing-verifier`: a code redeemed without a verifier is refused.
async fn missing_verifier(cx: &AsCx<'_>) -> Judged {
    let e = redeem_fresh_code(cx, None).await?;
    Ok(judge_verifier(
        &e,
        Verifier::Missing,
        cx.ctx.options.profile,
    ))
}

/// Redeems a fresh code of the login's client with this `code_verifier` (or none).
async fn redeem_fresh_code(cx: &AsCx<'_>, verifier: Option<String>) -> Result<Exchange, Stop> {
    let (code, _pkce, _) = cx.code().await?;
    let form = cx.run.code_form(cx.flow, &code, verifier.as_deref());
    Ok(cx.token(&form, &cx.client()).await)
}

/// What the code exchange carried in place of the right verifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verifier {
    Wrong,
    Missing,
}

fn judge_verifier(e: &Exchange, verifier: Verifier, profile: Profile) -> Verdict {
    let (codes, what): (&[&str], &str) = match verifier {
        Verifier::Wrong => (&["invalid_grant"], "a wrong code_verifier"),
        Verifier::Missing => (&["invalid_grant", "invalid_request"], "no code_verifier"),
    };
    match refused_with_status(e, codes, profile) {
        Ok(note) => Verdict::passed(format!("the code exchange with {what} was refused: {note}")),
        Err(why) => Verdict::fail(
            format!("the code exchange with {what}: {why}"),
            vec![e.clone()],
        ),
    }
}

/// `pkce.proxy-two-legs`: a proxy runs PKCE upstream with a pair of its own.
async fn proxy_two_legs(cx: &AsCx<'_>) -> Judged {
    if !cx.flow.via_upstream {
        return Err(Stop::skip(
            "the login did not go through an upstream identity provider",
        ));
    }
    let seen = cx.ctx.idp.requests_since(cx.facts.log_start).await?;
    let upstream: Vec<Option<String>> = seen
        .iter()
        .filter(|r| r.endpoint == "authorize")
        .map(|r| {
            url::form_urlencoded::parse(r.query.as_deref().unwrap_or("").as_bytes())
                .find(|(k, _)| k == "code_challenge")
                .map(|(_, v)| v.into_owned())
        })
        .collect();
    let ours = cx
        .flow
        .pkce
        .as_ref()
        .map(|p| p.challenge.as_str())
        .unwrap_or_default();
    Ok(judge_two_legs(&upstream, ours))
}

/// `upstream` holds the `code_challenge` of every authorization request the upstream saw.
fn judge_two_legs(upstream: &[Option<String>], ours: &str) -> Verdict {
    if upstream.is_empty() {
        return Verdict::not_testable("the mock IdP recorded no authorization request", Vec::new());
    }
    if upstream.iter().any(Option::is_none) {
        return Verdict::fail(
            "the proxy's authorization request to the upstream carried no code_challenge",
            Vec::new(),
        );
    }
    if upstream.iter().any(|c| c.as_deref() == Some(ours)) {
        return Verdict::fail(
            "the proxy forwarded the client's own code_challenge upstream instead of using its own pair",
            Vec::new(),
        );
    }
    Verdict::passed("the proxy used its own PKCE challenge on the upstream leg")
}

/// `pkce.downgrade`: a code issued without a challenge is not redeemed with a verifier.
async fn downgrade(cx: &AsCx<'_>) -> Judged {
    let (run, _) = cx
        .walk_pkce(|p| {
            p.remove("code_challenge");
            p.remove("code_challenge_method");
        })
        .await?;
    let Some(code) = run.code() else {
        return Err(Stop::skip(
            "every authorization request needs a code_challenge (pkce.required), so there is no challenge-less code to downgrade",
        ));
    };
    // A code issued without a challenge, redeemed with a verifier: RFC 9700 §4.8.2 has the
    // server refuse it, so an attacker cannot strip the challenge from a victim's request.
    let form = cx.run.code_form(cx.flow, code, Some(&random_text(32)));
    let e = cx.token(&form, &cx.client()).await;
    Ok(judge_downgrade(&e))
}

fn judge_downgrade(e: &Exchange) -> Verdict {
    if token_set(e).is_ok() {
        Verdict::fail(
            "a code issued without a code_challenge was redeemed with a code_verifier (RFC 9700 §4.8.2: refuse, or a stripped challenge goes unnoticed)",
            vec![e.clone()],
        )
    } else {
        Verdict::passed(format!(
            "the challenge-less code redeemed with a verifier was refused: {}",
            error_answer(e).describe()
        ))
    }
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;
    use crate::testkit::{callback, exchange, render, stopped};

    fn check(v: Verdict, expect: Expect) {
        expect.assert_eq(&render(&v));
    }

    const TOKEN_ERROR: &str = r#"
        POST http://127.0.0.1:1/token
        =>
        400
        content-type: application/json

        {"error":"invalid_grant"}
    "#;

    const TOKENS: &str = r#"
        POST http://127.0.0.1:1/token
        =>
        200
        content-type: application/json

        {"access_token":"at","token_type":"Bearer"}
    "#;

    #[test]
    fn required() {
        check(
            judge_required(&callback("code=abc&state=s")),
            expect![[r#"
                fail: an authorization request without code_challenge was answered with a code
                  evidence: GET http://127.0.0.1:2/authorize -> 302
            "#]],
        );
        check(
            judge_required(&callback("error=invalid_request&state=s")),
            expect![[r#"
                pass
                  note: refused: redirected to the redirect URI with error=invalid_request, state
            "#]],
        );
    }

    #[test]
    fn plain_refused() {
        check(
            judge_plain_refused(&callback("code=abc")),
            expect![[r#"
                fail: an authorization request with code_challenge_method=plain was answered with a code; S256 worked, so plain only weakens PKCE
                  evidence: GET http://127.0.0.1:2/authorize -> 302
            "#]],
        );
        check(
            judge_plain_refused(&stopped(400, "error=invalid_request")),
            expect![[r#"
                pass
                  note: S256 worked in the login; plain was refused: stopped at HTTP 400: error=invalid_request
            "#]],
        );
    }

    #[test]
    fn verifier() {
        // invalid_grant with 401: a failure under the rfc profile, accepted under the lenient one.
        let grant_401 = TOKEN_ERROR.replacen("400", "401", 1);
        check(
            judge_verifier(&exchange(&grant_401), Verifier::Wrong, Profile::Rfc),
            expect![[r#"
                fail: the code exchange with a wrong code_verifier: HTTP 401 error=invalid_grant: RFC 6749 §5.2 answers invalid_grant with 400 (profile rfc; --profile lenient accepts 401, which some servers send so that clients log in again)
                  evidence: POST http://127.0.0.1:1/token -> 401
            "#]],
        );
        check(
            judge_verifier(&exchange(&grant_401), Verifier::Wrong, Profile::Lenient),
            expect![[r#"
                pass
                  note: the code exchange with a wrong code_verifier was refused: HTTP 401 error=invalid_grant: a deviation from RFC 6749 §5.2 (400) that the lenient profile accepts
            "#]],
        );
        check(
            judge_verifier(&exchange(TOKEN_ERROR), Verifier::Wrong, Profile::Rfc),
            expect![[r#"
                pass
                  note: the code exchange with a wrong code_verifier was refused: HTTP 400 error=invalid_grant
            "#]],
        );
        check(
            judge_verifier(&exchange(TOKENS), Verifier::Missing, Profile::Rfc),
            expect![[r#"
                fail: the code exchange with no code_verifier: tokens were issued
                  evidence: POST http://127.0.0.1:1/token -> 200
            "#]],
        );
        let invalid_request = TOKEN_ERROR.replace("invalid_grant", "invalid_request");
        check(
            judge_verifier(&exchange(&invalid_request), Verifier::Missing, Profile::Rfc),
            expect![[r#"
                pass
                  note: the code exchange with no code_verifier was refused: HTTP 400 error=invalid_request
            "#]],
        );
        check(
            judge_verifier(&exchange(&invalid_request), Verifier::Wrong, Profile::Rfc),
            expect![[r#"
                fail: the code exchange with a wrong code_verifier: HTTP 400 error=invalid_request, not invalid_grant
                  evidence: POST http://127.0.0.1:1/token -> 400
            "#]],
        );
    }

    #[test]
    fn two_legs() {
        let ours = "client-challenge";
        check(
            judge_two_legs(&[], ours),
            expect![[r#"
                not testable: the mock IdP recorded no authorization request
            "#]],
        );
        check(
            judge_two_legs(&[None], ours),
            expect![[r#"
                fail: the proxy's authorization request to the upstream carried no code_challenge
            "#]],
        );
        check(
            judge_two_legs(&[Some(ours.to_string())], ours),
            expect![[r#"
                fail: the proxy forwarded the client's own code_challenge upstream instead of using its own pair
            "#]],
        );
        check(
            judge_two_legs(&[Some("proxy-challenge".to_string())], ours),
            expect![[r#"
                pass
                  note: the proxy used its own PKCE challenge on the upstream leg
            "#]],
        );
    }

    #[test]
    fn downgrade() {
        check(
            judge_downgrade(&exchange(TOKENS)),
            expect![[r#"
                fail: a code issued without a code_challenge was redeemed with a code_verifier (RFC 9700 §4.8.2: refuse, or a stripped challenge goes unnoticed)
                  evidence: POST http://127.0.0.1:1/token -> 200
            "#]],
        );
        check(
            judge_downgrade(&exchange(TOKEN_ERROR)),
            expect![[r#"
                pass
                  note: the challenge-less code redeemed with a verifier was refused: HTTP 400 error=invalid_grant
            "#]],
        );
    }
}
