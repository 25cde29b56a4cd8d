//! Refresh tokens: they work, rotate for public clients, stay bound to their client and scope, and
//! die when used up.

use super::*;

pub(crate) const PROBES: &[Probe] = &[
    as_probe!("refresh.works" => works),
    as_probe!("refresh.rotation-public" => rotation_public),
    as_probe!("refresh.client-binding" => client_binding),
    as_probe!("refresh.no-scope-escalation" => no_scope_escalation),
    as_probe!("refresh.dead-token-error" => dead_token_error),
];

/// `refresh.works`.
async fn works(cx: &AsCx<'_>) -> StepOutcome {
    if let Err(o) = cx.refresh_token() {
        return o;
    }
    match &cx.flow.refreshed {
        Some(Ok(set)) => {
            let (ok, e) = cx.mcp_accepts(&set.access_token).await;
            if ok {
                pass("the refreshed access token is accepted by the MCP endpoint")
            } else {
                StepOutcome::fail(
                    "the access token from the refresh was refused by the MCP endpoint",
                    vec![set.exchange.clone(), e],
                )
            }
        }
        Some(Err(e)) => StepOutcome::fail(
            format!("the refresh failed: {}", error_answer(e).describe()),
            vec![e.clone()],
        ),
        None => StepOutcome::not_testable("no refresh was attempted", Vec::new()),
    }
}

/// `refresh.rotation-public`.
async fn rotation_public(cx: &AsCx<'_>) -> StepOutcome {
    if let Err(o) = cx.refresh_token() {
        return o;
    }
    if !matches!(cx.client(), ClientAuth::None { .. }) {
        return StepOutcome::skip(
            "the run's client is confidential; rotation is required for public clients",
        );
    }
    let (set, _, _) = match cx.fresh_tokens().await {
        Ok(t) => t,
        Err(o) => return o,
    };
    let Some(old) = set.refresh_token.clone() else {
        return StepOutcome::not_testable("the second login issued no refresh token", Vec::new());
    };
    let first = token_request(
        cx.ctx,
        &cx.token_endpoint(),
        &cx.refresh_form(&old),
        &cx.client(),
    )
    .await;
    let Ok(rotated) = token_set(&first) else {
        return StepOutcome::not_testable("the refresh failed", vec![first]);
    };
    let Some(newest) = rotated.refresh_token.clone().filter(|n| *n != old) else {
        return StepOutcome::fail(
            "a public client's refresh returned no new refresh token (OAuth 2.1 §4.3.1: rotate, or bind to the client)",
            vec![first],
        );
    };
    let replay = token_request(
        cx.ctx,
        &cx.token_endpoint(),
        &cx.refresh_form(&old),
        &cx.client(),
    )
    .await;
    if let Err(why) = refused_with(&replay, &["invalid_grant"]) {
        return StepOutcome::fail(
            format!("the rotated-out refresh token was used again: {why}"),
            vec![replay],
        );
    }
    let after = token_request(
        cx.ctx,
        &cx.token_endpoint(),
        &cx.refresh_form(&newest),
        &cx.client(),
    )
    .await;
    if token_set(&after).is_ok() {
        return StepOutcome::warn(
            "the replay was refused, but the newest refresh token still works (RFC 9700 §4.14.2: a replay SHOULD revoke the family)",
            vec![after],
        );
    }
    pass("rotated; the old refresh token is refused and its replay revoked the newest")
}

/// `refresh.client-binding`.
async fn client_binding(cx: &AsCx<'_>) -> StepOutcome {
    let token = match cx.refresh_token() {
        Ok(t) => t,
        Err(o) => return o,
    };
    if cx.flow.endpoint("registration_endpoint").is_none() {
        return StepOutcome::skip(
            "needs a second client, and the server offers no dynamic registration",
        );
    }
    let Some((other, _)) = cx.second_client().await else {
        return StepOutcome::not_testable("no second client could be registered", Vec::new());
    };
    let current = match &cx.flow.refreshed {
        Some(Ok(set)) => set.refresh_token.clone().unwrap_or(token),
        _ => token,
    };
    let e = token_request(
        cx.ctx,
        &cx.token_endpoint(),
        &cx.refresh_form(&current),
        &other,
    )
    .await;
    match refused_with(&e, &["invalid_grant", "invalid_client"]) {
        Ok(note) => pass(format!("another client's refresh was refused: {note}")),
        Err(why) => StepOutcome::fail(
            format!("another client used this client's refresh token: {why} (RFC 6749 §6, §10.4)"),
            vec![e],
        ),
    }
}

/// `refresh.no-scope-escalation`.
async fn no_scope_escalation(cx: &AsCx<'_>) -> StepOutcome {
    if let Err(o) = cx.refresh_token() {
        return o;
    }
    let (set, _, _) = match cx.fresh_tokens().await {
        Ok(t) => t,
        Err(o) => return o,
    };
    let Some(token) = set.refresh_token else {
        return StepOutcome::not_testable("the second login issued no refresh token", Vec::new());
    };
    let extra = "conformance:escalated";
    let mut form = cx.refresh_form(&token);
    form.push((
        "scope".to_string(),
        format!("{} {extra}", cx.flow.scope).trim().to_string(),
    ));
    let e = token_request(cx.ctx, &cx.token_endpoint(), &form, &cx.client()).await;
    match token_set(&e) {
        Ok(got) => {
            let granted = got.scope.clone().or_else(|| {
                jwt_claims(&got.access_token)
                    .and_then(|c| c.get("scope").and_then(Value::as_str).map(str::to_string))
            });
            if granted
                .as_deref()
                .is_some_and(|s| s.split_whitespace().any(|x| x == extra))
            {
                StepOutcome::fail(
                    format!(
                        "a refresh asking for the ungranted scope {extra} was granted it (RFC 6749 §6)"
                    ),
                    vec![e],
                )
            } else {
                StepOutcome::warn(
                    format!(
                        "a refresh asking for the ungranted scope {extra} succeeded without it; RFC 6749 §6 expects invalid_scope"
                    ),
                    vec![e],
                )
            }
        }
        Err(_) => {
            if error_answer(&e).error.as_deref() == Some("invalid_scope") {
                return pass("400 invalid_scope for a scope beyond the grant");
            }
            // Refused otherwise: is it the scope, or does refreshing not work at all?
            let plain = token_request(
                cx.ctx,
                &cx.token_endpoint(),
                &cx.refresh_form(&token),
                &cx.client(),
            )
            .await;
            if token_set(&plain).is_err() {
                return StepOutcome::not_testable(
                    "refreshing does not work at all here (see refresh.works)",
                    vec![plain],
                );
            }
            StepOutcome::warn(
                format!(
                    "refused, but with {} rather than invalid_scope",
                    error_answer(&e).describe()
                ),
                vec![e],
            )
        }
    }
}

/// `refresh.dead-token-error`.
async fn dead_token_error(cx: &AsCx<'_>) -> StepOutcome {
    if let Err(o) = cx.refresh_token() {
        return o;
    }
    let e = token_request(
        cx.ctx,
        &cx.token_endpoint(),
        &cx.refresh_form("revoked-or-never-issued"),
        &cx.client(),
    )
    .await;
    match refused_with(&e, &["invalid_grant"]) {
        Ok(note) => pass(format!("a dead refresh token: {note}")),
        Err(why) => StepOutcome::fail(format!("a dead refresh token: {why}"), vec![e]),
    }
}

impl AsCx<'_> {
    pub(super) fn refresh_token(&self) -> Result<String, StepOutcome> {
        self.logged_in()?;
        self.flow
            .tokens
            .as_ref()
            .and_then(|t| t.refresh_token.clone())
            .ok_or_else(|| StepOutcome::skip("the authorization server issued no refresh token"))
    }

    pub(super) fn refresh_form(&self, token: &str) -> Vec<(String, String)> {
        vec![
            ("grant_type".to_string(), "refresh_token".to_string()),
            ("refresh_token".to_string(), token.to_string()),
            ("resource".to_string(), self.ctx.mcp.url.clone()),
        ]
    }
}
