//! RFC 8707 resource indicators: the audience of the tokens, unknown resources, and spellings of
//! the same resource.

use super::*;

pub(crate) const PROBES: &[Probe] = &[
    as_probe!("resource.as-binds-audience" => sync as_binds_audience),
    as_probe!("resource.as-invalid-target" => as_invalid_target),
    as_probe!("resource.as-accepts-param" => sync as_accepts_param),
    as_probe!("resource.slash-variants" => slash_variants),
];

/// `resource.as-binds-audience`.
fn as_binds_audience(cx: &AsCx<'_>) -> StepOutcome {
    let Some(tokens) = &cx.flow.tokens else {
        return StepOutcome::not_testable(cx.flow.summary(), Vec::new());
    };
    let mut sets = vec![("the access token", tokens)];
    if let Some(Ok(r)) = &cx.flow.refreshed {
        sets.push(("the refreshed access token", r));
    }
    let mut failures = Vec::new();
    let mut evidence = Vec::new();
    let mut judged = 0;
    for (what, set) in sets {
        let Some(claims) = jwt_claims(&set.access_token) else {
            continue;
        };
        judged += 1;
        let aud = audiences(&claims);
        if aud != [cx.ctx.mcp.url.clone()] {
            failures.push(format!(
                "{what} has aud {aud:?}, not exactly [{:?}]",
                cx.ctx.mcp.url
            ));
            evidence.push(set.exchange.clone());
        }
    }
    if judged == 0 {
        return StepOutcome::not_testable(
            "the access tokens are opaque, so their audience cannot be read",
            Vec::new(),
        );
    }
    if failures.is_empty() {
        pass(format!(
            "aud is exactly {} (the resource asked for)",
            cx.ctx.mcp.url
        ))
    } else {
        StepOutcome::fail(
            format!(
                "{} (RFC 8707 §2: the audience is the requested resource, not widened)",
                failures.join("; ")
            ),
            evidence,
        )
    }
}

/// `resource.as-invalid-target`.
async fn as_invalid_target(cx: &AsCx<'_>) -> StepOutcome {
    if let Err(o) = cx.logged_in() {
        return o;
    }
    let unknown = "https://unknown-resource.example/mcp";
    let Some((run, pkce)) = cx.authorize_with_pkce(|p| p.set("resource", unknown)).await else {
        return StepOutcome::not_testable("no authorization endpoint", Vec::new());
    };
    if run.param("error") == Some("invalid_target") {
        return pass("the authorization endpoint answered invalid_target");
    }
    let Some(code) = run.code().map(str::to_string) else {
        return pass(format!("refused: {}", run.describe_end()));
    };
    // The code came back; the token endpoint may still refuse the resource.
    let mut form = cx.run.code_form(cx.flow, &code, Some(&pkce.verifier));
    for pair in &mut form {
        if pair.0 == "resource" {
            pair.1 = unknown.to_string();
        }
    }
    let e = token_request(cx.ctx, &cx.token_endpoint(), &form, &cx.client()).await;
    if oauth_error(&e).as_deref() == Some("invalid_target") {
        return pass("the token endpoint answered invalid_target");
    }
    let issued = if token_set(&e).is_ok() {
        ", and the code was exchanged for tokens"
    } else {
        ""
    };
    let mut evidence: Vec<Exchange> = run.hops.last().cloned().into_iter().collect();
    evidence.push(e);
    StepOutcome::fail(
        format!(
            "an authorization request for {unknown}, a resource the server does not serve, was answered with a code{issued} (RFC 8707 §2: invalid_target)"
        ),
        evidence,
    )
}

/// `resource.as-accepts-param`.
fn as_accepts_param(cx: &AsCx<'_>) -> StepOutcome {
    match cx.flow.failure() {
        Some(f) if f.message.contains("invalid_target") || f.message.contains("resource") => {
            StepOutcome::fail(
                format!(
                    "the login with resource={} failed: {}",
                    cx.ctx.mcp.url, f.message
                ),
                f.exchanges.clone(),
            )
        }
        _ if cx.flow.access_token().is_some() => pass(
            "the authorization and token requests carried resource and the login obtained a token",
        ),
        _ => StepOutcome::not_testable(cx.flow.summary(), Vec::new()),
    }
}

/// `resource.slash-variants`.
async fn slash_variants(cx: &AsCx<'_>) -> StepOutcome {
    if let Err(o) = cx.logged_in() {
        return o;
    }
    let canonical = cx.ctx.mcp.url.clone();
    let Some(shouted) = uppercase_scheme_and_host(&canonical) else {
        return StepOutcome::not_testable("the MCP endpoint URL could not be parsed", Vec::new());
    };
    let toggled = match canonical.strip_suffix('/') {
        Some(bare) => bare.to_string(),
        None => format!("{canonical}/"),
    };
    let mut failures = Vec::new();
    let mut notes = Vec::new();
    let mut evidence = Vec::new();
    // The same URL with an uppercase scheme and host is the same resource (RFC 3986
    // §6.2.2.1): it must be accepted, and its token must work at the MCP endpoint.
    match cx.login_for_resource(&shouted).await {
        None => return StepOutcome::not_testable("no authorization endpoint", Vec::new()),
        Some(ResourceLogin::Refused { why, evidence: e }) => {
            failures.push(format!(
                "resource={shouted} (the MCP URL with an uppercase scheme and host, the same URI by RFC 3986 §6.2.2.1) was refused: {why}"
            ));
            evidence.extend(e);
        }
        Some(ResourceLogin::ServerError(e)) => {
            failures.push(format!(
                "resource={shouted}: the token endpoint answered HTTP {}",
                e.status_text()
            ));
            evidence.push(e);
        }
        Some(ResourceLogin::Token(token)) => {
            let (ok, e) = cx.mcp_accepts(&token).await;
            if ok {
                notes.push(format!(
                    "resource={shouted} was accepted and its token works"
                ));
            } else {
                failures.push(format!(
                    "resource={shouted} was accepted, but the MCP endpoint refused the token it got (HTTP {}): the server bound the token to a form of its URL it does not itself accept",
                    e.status_text()
                ));
                evidence.push(e);
            }
        }
    }
    // With the trailing slash toggled it is another URI: refusing it is consistent, and so is
    // a token the MCP endpoint accepts; a token it then refuses is a login that cannot work.
    match cx.login_for_resource(&toggled).await {
        None => return StepOutcome::not_testable("no authorization endpoint", Vec::new()),
        Some(ResourceLogin::Refused { why, .. }) => {
            notes.push(format!("resource={toggled} was refused ({why})"));
        }
        Some(ResourceLogin::ServerError(e)) => {
            failures.push(format!(
                "resource={toggled}: the token endpoint answered HTTP {} (a server error, not invalid_target)",
                e.status_text()
            ));
            evidence.push(e);
        }
        Some(ResourceLogin::Token(token)) => {
            let (ok, e) = cx.mcp_accepts(&token).await;
            if ok {
                notes.push(format!(
                    "resource={toggled} was treated as the same resource"
                ));
            } else {
                failures.push(format!(
                    "resource={toggled} (the trailing slash toggled) was accepted, but the MCP endpoint refused the token it got (HTTP {}): a client that writes the URL this way logs in and then fails; refuse it with invalid_target or bind the token to {canonical}",
                    e.status_text()
                ));
                evidence.push(e);
            }
        }
    }
    if failures.is_empty() {
        pass(notes.join("; "))
    } else {
        StepOutcome::fail(failures.join("; "), evidence)
    }
}

impl AsCx<'_> {
    /// A login for `resource` (authorization and code exchange both naming it).
    pub(super) async fn login_for_resource(&self, resource: &str) -> Option<ResourceLogin> {
        let (run, pkce) = self
            .authorize_with_pkce(|p| p.set("resource", resource))
            .await?;
        let Some(code) = run.code().map(str::to_string) else {
            return Some(ResourceLogin::Refused {
                why: run.describe_end(),
                evidence: run.hops.last().cloned().into_iter().collect(),
            });
        };
        let mut form = self.run.code_form(self.flow, &code, Some(&pkce.verifier));
        for pair in &mut form {
            if pair.0 == "resource" {
                pair.1 = resource.to_string();
            }
        }
        let e = token_request(self.ctx, &self.token_endpoint(), &form, &self.client()).await;
        Some(match token_set(&e) {
            Ok(tokens) => ResourceLogin::Token(tokens.access_token),
            Err(_) if e.status().is_some_and(|s| s >= 500) => ResourceLogin::ServerError(e),
            Err(_) => ResourceLogin::Refused {
                why: format!(
                    "the token endpoint answered {}",
                    error_answer(&e).describe()
                ),
                evidence: vec![e],
            },
        })
    }
}
