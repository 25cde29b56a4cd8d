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

/// `pkce.required`.
async fn required(cx: &AsCx<'_>) -> StepOutcome {
    if let Err(o) = cx.logged_in() {
        return o;
    }
    let Some(run) = cx
        .authorize_with(|p| {
            p.remove("code_challenge");
            p.remove("code_challenge_method");
        })
        .await
    else {
        return StepOutcome::not_testable("no authorization endpoint", Vec::new());
    };
    match run.code() {
        Some(_) => StepOutcome::fail(
            "an authorization request without code_challenge was answered with a code",
            run.hops.clone(),
        ),
        None => pass(format!("refused: {}", run.describe_end())),
    }
}

/// `pkce.s256-flow`.
async fn s256_flow(cx: &AsCx<'_>) -> StepOutcome {
    if let Err(o) = cx.logged_in() {
        return o;
    }
    let verifier = random_text(32);
    let Some(run) = cx
        .authorize_with(|p| {
            p.set("code_challenge", verifier.clone());
            p.set("code_challenge_method", "plain");
        })
        .await
    else {
        return StepOutcome::not_testable("no authorization endpoint", Vec::new());
    };
    match run.code() {
        Some(_) => StepOutcome::fail(
            "an authorization request with code_challenge_method=plain was answered with a code; S256 worked, so plain only weakens PKCE",
            run.hops.clone(),
        ),
        None => pass(format!(
            "S256 worked in the login; plain was refused: {}",
            run.describe_end()
        )),
    }
}

/// `pkce.wrong-verifier`.
async fn wrong_verifier(cx: &AsCx<'_>) -> StepOutcome {
    verifier_refused(cx, true).await
}

/// `pkce.missing-verifier`.
async fn missing_verifier(cx: &AsCx<'_>) -> StepOutcome {
    verifier_refused(cx, false).await
}

/// A fresh code redeemed with a wrong `code_verifier`, or none.
async fn verifier_refused(cx: &AsCx<'_>, wrong: bool) -> StepOutcome {
    if let Err(o) = cx.logged_in() {
        return o;
    }
    let Some((code, _pkce, _)) = cx.run.fresh_code(cx.flow).await else {
        return StepOutcome::not_testable(
            "a second authorization did not deliver a code",
            Vec::new(),
        );
    };
    let verifier = wrong.then(|| random_text(32));
    let form = cx.run.code_form(cx.flow, &code, verifier.as_deref());
    let e = token_request(cx.ctx, &cx.token_endpoint(), &form, &cx.client()).await;
    let codes: &[&str] = if wrong {
        &["invalid_grant"]
    } else {
        &["invalid_grant", "invalid_request"]
    };
    let what = if wrong {
        "a wrong code_verifier"
    } else {
        "no code_verifier"
    };
    match refused_with(&e, codes) {
        Ok(note) => StepOutcome::pass(
            format!("the code exchange with {what} was refused: {note}"),
            Vec::new(),
        ),
        Err(why) => StepOutcome::fail(format!("the code exchange with {what}: {why}"), vec![e]),
    }
}

/// `pkce.proxy-two-legs`.
async fn proxy_two_legs(cx: &AsCx<'_>) -> Result<StepOutcome, HarnessError> {
    if let Err(o) = cx.logged_in() {
        return Ok(o);
    }
    if !cx.flow.via_upstream {
        return Ok(StepOutcome::skip(
            "the login did not go through an upstream identity provider",
        ));
    }
    let seen = cx.ctx.idp.requests_since(cx.facts.log_start).await?;
    let ours = cx
        .flow
        .pkce
        .as_ref()
        .map(|p| p.challenge.clone())
        .unwrap_or_default();
    let upstream: Vec<Option<String>> = seen
        .iter()
        .filter(|r| r.endpoint == "authorize")
        .map(|r| {
            url::form_urlencoded::parse(r.query.as_deref().unwrap_or("").as_bytes())
                .find(|(k, _)| k == "code_challenge")
                .map(|(_, v)| v.into_owned())
        })
        .collect();
    if upstream.is_empty() {
        return Ok(StepOutcome::not_testable(
            "the mock IdP recorded no authorization request",
            Vec::new(),
        ));
    }
    if upstream.iter().any(Option::is_none) {
        return Ok(StepOutcome::fail(
            "the proxy's authorization request to the upstream carried no code_challenge",
            Vec::new(),
        ));
    }
    if upstream.iter().any(|c| c.as_deref() == Some(ours.as_str())) {
        return Ok(StepOutcome::fail(
            "the proxy forwarded the client's own code_challenge upstream instead of using its own pair",
            Vec::new(),
        ));
    }
    Ok(pass(
        "the proxy used its own PKCE challenge on the upstream leg",
    ))
}

/// `pkce.downgrade`.
async fn downgrade(cx: &AsCx<'_>) -> StepOutcome {
    if let Err(o) = cx.logged_in() {
        return o;
    }
    let Some((run, _)) = cx
        .authorize_with_pkce(|p| {
            p.remove("code_challenge");
            p.remove("code_challenge_method");
        })
        .await
    else {
        return StepOutcome::not_testable("no authorization endpoint", Vec::new());
    };
    let Some(code) = run.code().map(str::to_string) else {
        return StepOutcome::skip(
            "every authorization request needs a code_challenge (pkce.required), so there is no challenge-less code to downgrade",
        );
    };
    // A code issued without a challenge, redeemed with a verifier: RFC 9700 §4.8.2 has the
    // server refuse it, so an attacker cannot strip the challenge from a victim's request.
    let form = cx.run.code_form(cx.flow, &code, Some(&random_text(32)));
    let e = token_request(cx.ctx, &cx.token_endpoint(), &form, &cx.client()).await;
    if token_set(&e).is_ok() {
        StepOutcome::fail(
            "a code issued without a code_challenge was redeemed with a code_verifier (RFC 9700 §4.8.2: refuse, or a stripped challenge goes unnoticed)",
            vec![e],
        )
    } else {
        pass(format!(
            "the challenge-less code redeemed with a verifier was refused: {}",
            error_answer(&e).describe()
        ))
    }
}
