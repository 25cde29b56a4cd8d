//! The authorization endpoint: `state` and RFC 9207 `iss`, where errors go, and authorization codes
//! (single use, bound to client and redirect).

use super::*;

pub(crate) const PROBES: &[Probe] = &[
    as_probe!("authz.state-echo" => state_echo),
    as_probe!("authz.iss" => sync iss),
    as_probe!("authz.error-redirects" => error_redirects),
    as_probe!("authz.code-single-use" => code_single_use),
    as_probe!("authz.code-binding" => code_binding),
];

/// `authz.state-echo`.
async fn state_echo(cx: &AsCx<'_>) -> StepOutcome {
    let run = match cx.callback_run() {
        Ok(run) => run,
        Err(outcome) => return outcome,
    };
    let evidence: Vec<Exchange> = run.hops.last().cloned().into_iter().collect();
    if run.param_count("state") != 1 || run.param("state") != Some(cx.flow.state.as_str()) {
        return StepOutcome::fail(
            format!(
                "the authorization response carried state {} time(s){}",
                run.param_count("state"),
                if run.param_count("state") == 1 {
                    " with another value"
                } else {
                    ""
                }
            ),
            evidence,
        );
    }
    // The error path too.
    let state = random_text(8);
    let Some(err_run) = cx
        .authorize_with(|p| {
            p.set("state", state.clone());
            p.set("response_type", "token");
        })
        .await
    else {
        return pass("state returned unchanged");
    };
    if err_run.reached_callback() && err_run.param("state") != Some(state.as_str()) {
        return StepOutcome::fail(
            "the error redirect (response_type=token) did not return state unchanged",
            err_run.hops.last().cloned().into_iter().collect(),
        );
    }
    pass("state returned unchanged, exactly once, on success and error redirects")
}

/// `authz.iss`.
fn iss(cx: &AsCx<'_>) -> StepOutcome {
    let run = match cx.callback_run() {
        Ok(run) => run,
        Err(outcome) => return outcome,
    };
    let evidence: Vec<Exchange> = run.hops.last().cloned().into_iter().collect();
    let issuer = cx
        .flow
        .discovery
        .as_ref()
        .and_then(|d| d.get("issuer"))
        .unwrap_or_default();
    match (run.param_count("iss"), run.param("iss")) {
        (0, _) => StepOutcome::fail(
            "the authorization response carries no iss (RFC 9207), so clients cannot detect mix-up attacks",
            evidence,
        ),
        (1, Some(iss)) if iss == issuer => pass(format!("iss={iss}, the metadata issuer")),
        (1, Some(iss)) => StepOutcome::fail(
            format!(
                "iss={iss:?} differs from the metadata issuer {issuer:?}{}; RFC 9207 clients reject this response",
                upstream_hint(iss, &cx.ctx.idp_info.issuer)
            ),
            evidence,
        ),
        (n, _) => StepOutcome::fail(
            format!("the authorization response carries iss {n} times"),
            evidence,
        ),
    }
}

/// `authz.error-redirects`.
async fn error_redirects(cx: &AsCx<'_>) -> StepOutcome {
    if let Err(o) = cx.logged_in() {
        return o;
    }
    let Some(run) = cx.authorize_with(|p| p.set("response_type", "token")).await else {
        return StepOutcome::not_testable("no authorization endpoint", Vec::new());
    };
    let mut failures = Vec::new();
    let mut evidence = Vec::new();
    if run.param("error") != Some("unsupported_response_type") {
        failures.push(format!("response_type=token: {}", run.describe_end()));
        evidence.extend(run.hops.last().cloned());
    }
    // A denial, where there is a page to deny on.
    let had_page = cx
        .flow
        .authorization
        .as_ref()
        .is_some_and(|r| !r.pages.is_empty());
    if had_page {
        let pkce = Pkce::new();
        let params = cx.run.params(cx.flow, &pkce, &random_text(8));
        if let Some(denied) = cx
            .run
            .authorize(cx.flow, &params, Decision::Deny, Vec::new(), false)
            .await
            && !denied.pages.is_empty()
            && denied.param("error") != Some("access_denied")
        {
            failures.push(format!("denying consent: {}", denied.describe_end()));
            evidence.extend(denied.hops.last().cloned());
        }
    }
    if failures.is_empty() {
        pass(format!(
            "unsupported_response_type{} redirected to the client with state",
            if had_page { " and access_denied" } else { "" }
        ))
    } else {
        StepOutcome::fail(
            format!("{} (RFC 6749 §4.1.2.1)", failures.join("; ")),
            evidence,
        )
    }
}

/// `authz.code-single-use`.
async fn code_single_use(cx: &AsCx<'_>) -> StepOutcome {
    if let Err(o) = cx.logged_in() {
        return o;
    }
    let (first, code, pkce) = match cx.fresh_tokens().await {
        Ok(t) => t,
        Err(o) => return o,
    };
    let form = cx.run.code_form(cx.flow, &code, Some(&pkce.verifier));
    let again = token_request(cx.ctx, &cx.token_endpoint(), &form, &cx.client()).await;
    if let Err(why) = refused_with(&again, &["invalid_grant"]) {
        return StepOutcome::fail(
            format!("redeeming the same code a second time: {why}"),
            vec![again],
        );
    }
    let (still, e) = cx.mcp_accepts(&first.access_token).await;
    if still {
        StepOutcome::warn(
            "the second redemption was refused, but the token issued for the first is still accepted (OAuth 2.1 §4.1.3: it SHOULD be revoked)",
            vec![e],
        )
    } else {
        pass("the second redemption was refused and the first token revoked")
    }
}

/// `authz.code-binding`.
async fn code_binding(cx: &AsCx<'_>) -> StepOutcome {
    if let Err(o) = cx.logged_in() {
        return o;
    }
    let mut failures = Vec::new();
    let mut evidence = Vec::new();
    // Another redirect_uri than the one the code was issued for.
    if let Some((code, pkce, _)) = cx.run.fresh_code(cx.flow).await {
        let mut form = cx.run.code_form(cx.flow, &code, Some(&pkce.verifier));
        for pair in &mut form {
            if pair.0 == "redirect_uri" {
                pair.1 = format!("http://127.0.0.1:{}/other", cx.redirect_port());
            }
        }
        let e = token_request(cx.ctx, &cx.token_endpoint(), &form, &cx.client()).await;
        if let Err(why) = refused_with(&e, &["invalid_grant"]) {
            failures.push(format!("another redirect_uri: {why}"));
            evidence.push(e);
        }
    }
    // Another client.
    let mut judged_client = false;
    if let Some((other, _)) = cx.second_client().await
        && let Some((code, pkce, _)) = cx.run.fresh_code(cx.flow).await
    {
        judged_client = true;
        let form = cx.run.code_form(cx.flow, &code, Some(&pkce.verifier));
        let e = token_request(cx.ctx, &cx.token_endpoint(), &form, &other).await;
        if let Err(why) = refused_with(&e, &["invalid_grant", "invalid_client"]) {
            failures.push(format!("another client: {why}"));
            evidence.push(e);
        }
    }
    if failures.is_empty() {
        pass(if judged_client {
            "codes are bound to their client and redirect URI"
        } else {
            "codes are bound to their redirect URI (no second client could be registered to try another client)"
        })
    } else {
        StepOutcome::fail(
            format!("{} (RFC 6749 §4.1.3)", failures.join("; ")),
            evidence,
        )
    }
}
