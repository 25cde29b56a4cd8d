//! Token passthrough: an OAuth proxy issues its own tokens, refuses upstream ones, and ends them
//! when the upstream grant is revoked.

use super::*;

pub(crate) const PROBES: &[Probe] = &[
    as_probe!("passthrough.proxy-own-tokens" => proxy_own_tokens),
    as_probe!("passthrough.upstream-token-rejected" => upstream_token_rejected),
    as_probe!("passthrough.upstream-revocation" => upstream_revocation),
];

/// `passthrough.proxy-own-tokens`.
async fn proxy_own_tokens(cx: &AsCx<'_>) -> Result<StepOutcome, HarnessError> {
    if let Err(o) = cx.logged_in() {
        return Ok(o);
    }
    if !cx.flow.via_upstream {
        return Ok(StepOutcome::skip(
            "the login did not go through the upstream identity provider",
        ));
    }
    let token = cx.flow.access_token().unwrap_or_default();
    let upstream_issuer = cx.ctx.idp_info.issuer.clone();
    if let Some(claims) = jwt_claims(token)
        && claims.get("iss").and_then(Value::as_str) == Some(upstream_issuer.as_str())
    {
        return Ok(StepOutcome::fail(
            format!(
                "the client received the upstream identity provider's own access token (iss {upstream_issuer}); a proxy issues its own tokens and keeps the upstream's"
            ),
            cx.flow.tokens.iter().map(|t| t.exchange.clone()).collect(),
        ));
    }
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
    let introspected: Value = answer
        .response()
        .and_then(|r| serde_json::from_slice(&r.body).ok())
        .unwrap_or(Value::Null);
    if introspected.get("active").and_then(Value::as_bool) == Some(true) {
        return Ok(StepOutcome::fail(
            "the upstream identity provider recognises the client's access token as its own: the proxy passes upstream tokens through",
            Vec::new(),
        ));
    }
    Ok(pass(
        "the client's access token is the proxy's own, unknown to the upstream",
    ))
}

/// `passthrough.upstream-token-rejected`.
async fn upstream_token_rejected(cx: &AsCx<'_>) -> Result<StepOutcome, HarnessError> {
    if let Err(o) = cx.logged_in() {
        return Ok(o);
    }
    if !cx.flow.via_upstream {
        return Ok(StepOutcome::skip(
            "the login did not go through the upstream identity provider",
        ));
    }
    if cx
        .flow
        .access_token()
        .and_then(jwt_claims)
        .and_then(|c| c.get("iss").and_then(Value::as_str).map(str::to_string))
        .as_deref()
        == Some(cx.ctx.idp_info.issuer.as_str())
    {
        return Ok(StepOutcome::skip(
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
    let (ok, e) = cx.mcp_accepts(&upstream.token).await;
    if ok {
        Ok(StepOutcome::fail(
            "an access token of the upstream identity provider was accepted at the MCP endpoint; the server must accept only tokens issued for it",
            vec![e],
        ))
    } else {
        Ok(StepOutcome::pass(
            format!("refused with HTTP {}", e.status_text()),
            Vec::new(),
        ))
    }
}

/// `passthrough.upstream-revocation`.
async fn upstream_revocation(cx: &AsCx<'_>) -> Result<StepOutcome, HarnessError> {
    if let Err(o) = cx.logged_in() {
        return Ok(o);
    }
    if !cx.flow.via_upstream {
        return Ok(StepOutcome::skip(
            "the login did not go through the upstream identity provider",
        ));
    }
    // A login of its own, so that revoking its upstream grant leaves the run's token alone.
    let (tokens, _, _, run) = match cx.fresh_login().await {
        Ok(login) => login,
        Err(o) => return Ok(o),
    };
    let upstream = origin_of(&cx.ctx.idp_info.issuer);
    let own = origin_of(&cx.ctx.mcp.url);
    // A pass-through lets the upstream redirect straight to the client: its code is the
    // upstream's own.
    let passed_through = run
        .hops
        .last()
        .is_some_and(|h| origin_of(&h.request.url) == upstream);
    let code = upstream_code(&run, &upstream, &own).or_else(|| {
        passed_through
            .then(|| run.code().map(str::to_string))
            .flatten()
    });
    let Some(code) = code else {
        return Ok(StepOutcome::not_testable(
            "the second login's walk showed no upstream code coming back to the proxy",
            run.hops.clone(),
        ));
    };
    let (ok, before) = cx.mcp_accepts(&tokens.access_token).await;
    if !ok {
        return Ok(StepOutcome::not_testable(
            "the second login's token was refused before anything was revoked",
            vec![before],
        ));
    }
    cx.ctx.idp.revoke_grant(&code).await?;
    // Later revisions leave the delay to the proxy: give it a few seconds.
    let patience = std::time::Duration::from_secs(3);
    let started = std::time::Instant::now();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let (ok, e) = cx.mcp_accepts(&tokens.access_token).await;
        if !ok {
            let when = if attempts == 1 {
                "at once".to_string()
            } else {
                format!("within {} s", patience.as_secs())
            };
            return Ok(StepOutcome::pass(
                format!(
                    "after the upstream identity provider revoked the grant behind the proxy's token, the MCP endpoint refused that token {when} (HTTP {})",
                    e.status_text()
                ),
                Vec::new(),
            ));
        }
        if started.elapsed() >= patience {
            return Ok(StepOutcome::fail(
                format!(
                    "the proxy's token was still accepted {} s after the upstream identity provider revoked the grant behind it: the user's upstream revocation does not reach the MCP server (MCP 2025-03-26 Third-Party Authorization, session binding: MUST; later revisions: SHOULD)",
                    patience.as_secs()
                ),
                vec![e],
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}
