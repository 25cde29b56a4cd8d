//! Consent pages (MCP security best practices): content, framing, cookies, CSRF, per-client consent
//! and the proxy's order of steps.

use super::*;

pub(crate) const PROBES: &[Probe] = &[
    as_probe!("consent.page-content" => sync page_content),
    as_probe!("consent.anti-framing" => sync anti_framing),
    as_probe!("consent.cookie-flags" => sync cookie_flags),
    as_probe!("consent.redirect-change" => redirect_change),
    as_probe!("consent.csrf" => csrf),
    as_probe!("consent.before-upstream" => before_upstream),
    as_probe!("consent.callback-binding" => callback_binding),
    as_probe!("consent.per-client" => per_client),
    as_probe!("consent.cross-site-prompt" => cross_site_prompt),
];

/// `consent.page-content`.
fn page_content(cx: &AsCx<'_>) -> StepOutcome {
    let (run, page) = match cx.consent_page() {
        Ok(p) => p,
        Err(o) => return o,
    };
    let text = page.text.to_ascii_lowercase();
    let client_name = "mcp-auth-conformance";
    let client_id = cx.client().client_id().to_ascii_lowercase();
    let mut missing = Vec::new();
    if !text.contains(client_name) && !text.contains(&client_id) {
        missing.push("the client's name or id");
    }
    let redirect_host = url::Url::parse(&cx.flow.redirect_uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default();
    if !text.contains(&redirect_host) {
        missing.push("where it redirects (the redirect URI's host)");
    }
    if !cx.flow.scope.is_empty()
        && !cx
            .flow
            .scope
            .split_whitespace()
            .all(|s| text.contains(&s.to_ascii_lowercase()))
    {
        missing.push("the requested scopes");
    }
    if missing.is_empty() {
        pass("the consent page names the client, its redirect host and the scopes")
    } else {
        StepOutcome::fail(
            format!("the consent page does not show {}", missing.join(", ")),
            vec![run.hops[page.hop].clone()],
        )
    }
}

/// `consent.anti-framing`.
fn anti_framing(cx: &AsCx<'_>) -> StepOutcome {
    let (run, page) = match cx.consent_page() {
        Ok(p) => p,
        Err(o) => return o,
    };
    let exchange = &run.hops[page.hop];
    let Some(r) = exchange.response() else {
        return StepOutcome::not_testable("the consent page had no answer", Vec::new());
    };
    let xfo = r
        .header("x-frame-options")
        .unwrap_or("")
        .to_ascii_lowercase();
    let csp = r
        .header_values("content-security-policy")
        .join(";")
        .to_ascii_lowercase();
    if xfo == "deny" || xfo == "sameorigin" || csp.contains("frame-ancestors") {
        pass("the consent page forbids framing")
    } else {
        StepOutcome::fail(
            "the consent page sends neither X-Frame-Options nor a CSP frame-ancestors directive, so another site can frame it (clickjacking)",
            vec![exchange.clone()],
        )
    }
}

/// `consent.cookie-flags`.
fn cookie_flags(cx: &AsCx<'_>) -> StepOutcome {
    if let Err(o) = cx.logged_in() {
        return o;
    }
    let Some(run) = &cx.flow.authorization else {
        return StepOutcome::not_testable(cx.flow.summary(), Vec::new());
    };
    let Ok(target) = url::Url::parse(&cx.ctx.mcp.url) else {
        return StepOutcome::not_testable("the MCP endpoint URL could not be parsed", Vec::new());
    };
    let own = authority_of(&target);
    let cookies: Vec<_> = run
        .cookies_set
        .iter()
        .filter(|c| c.authority == own)
        .collect();
    if cookies.is_empty() {
        return StepOutcome::skip("the server set no cookies during the login");
    }
    let https = target.scheme() == "https";
    let mut failures = Vec::new();
    let mut remarks = Vec::new();
    for cookie in &cookies {
        let attributes: Vec<String> = cookie
            .raw
            .split(';')
            .skip(1)
            .map(|a| a.trim().to_ascii_lowercase())
            .collect();
        let has = |name: &str| {
            attributes
                .iter()
                .any(|a| a == name || a.starts_with(&format!("{name}=")))
        };
        let same_site = attributes
            .iter()
            .find_map(|a| a.strip_prefix("samesite="))
            .map(str::trim);
        let mut missing = Vec::new();
        if !has("httponly") {
            missing.push("HttpOnly".to_string());
        }
        match same_site {
            Some("lax" | "strict") => {}
            Some(other) => missing.push(format!("SameSite=Lax (it says SameSite={other})")),
            None => missing.push("SameSite=Lax".to_string()),
        }
        if https {
            if !has("secure") {
                missing.push("Secure".to_string());
            }
            let remark = format!("{} has no __Host- prefix", cookie_label(&cookie.name));
            if !cookie.name.starts_with("__Host-") && !remarks.contains(&remark) {
                remarks.push(remark);
            }
        }
        let label = cookie_label(&cookie.name);
        if !missing.is_empty() {
            let failure = format!("{label} lacks {}", missing.join(", "));
            if !failures.contains(&failure) {
                failures.push(failure);
            }
        }
    }
    let mut names: Vec<String> = cookies.iter().map(|c| cookie_label(&c.name)).collect();
    names.sort();
    names.dedup();
    let scheme_note = if https {
        String::new()
    } else {
        " (Secure and the __Host- prefix are judged on https targets only)".to_string()
    };
    if !failures.is_empty() {
        let evidence = run
            .hops
            .iter()
            .filter(|h| {
                h.response()
                    .is_some_and(|r| !r.header_values("set-cookie").is_empty())
            })
            .cloned()
            .collect();
        return StepOutcome::fail(
            format!(
                "consent and state cookies must be HttpOnly and SameSite=Lax or Strict{scheme_note}: {}",
                failures.join("; ")
            ),
            evidence,
        );
    }
    if !remarks.is_empty() {
        return StepOutcome::warn(remarks.join("; "), Vec::new());
    }
    pass(format!(
        "{} set with HttpOnly and SameSite{scheme_note}",
        names.join(", ")
    ))
}

/// `consent.redirect-change`.
async fn redirect_change(cx: &AsCx<'_>) -> StepOutcome {
    if let Err(o) = cx.logged_in() {
        return o;
    }
    if cx.flow.authorization.is_none() {
        return StepOutcome::not_testable(cx.flow.summary(), Vec::new());
    }
    // The browser that consented, with its cookies: remembered consent must not stretch to
    // a redirect URI the client never registered.
    let port = cx.redirect_port();
    let upstream = origin_of(&cx.ctx.idp_info.issuer);
    let mut failures = Vec::new();
    let mut evidence = Vec::new();
    let uris = [
        "https://attacker.example/callback".to_string(),
        format!("http://127.0.0.1:{port}/changed"),
    ];
    for uri in &uris {
        let Some(run) = cx
            .authorize_with(|p| p.set("redirect_uri", uri.clone()))
            .await
        else {
            return StepOutcome::not_testable("no authorization endpoint", Vec::new());
        };
        if matches!(
            run.end,
            AuthorizeEnd::Callback { .. } | AuthorizeEnd::Elsewhere { .. }
        ) {
            failures.push(format!("{uri}: {}", run.describe_end()));
            evidence.extend(run.hops.last().cloned());
        } else if let Some(hop) = run
            .hops
            .iter()
            .find(|h| origin_of(&h.request.url) == upstream)
        {
            failures.push(format!(
                "{uri}: the browser was sent to the upstream identity provider before the redirect URI was refused"
            ));
            evidence.push(hop.clone());
        }
    }
    if failures.is_empty() {
        pass(format!(
            "after consent, the same client with a redirect URI it never registered was refused without a redirect ({} tried)",
            uris.len()
        ))
    } else {
        StepOutcome::fail(
            format!(
                "after the user consented, the same client_id with a changed redirect URI was not refused: {}",
                failures.join("; ")
            ),
            evidence,
        )
    }
}

/// `consent.csrf`.
async fn csrf(cx: &AsCx<'_>) -> StepOutcome {
    if let Err(o) = cx.consent_page() {
        return o;
    }
    let pkce = Pkce::new();
    let params = cx.run.params(cx.flow, &pkce, &random_text(8));
    // A fresh browser, so that consent remembered from the login does not hide the page.
    let fresh = cx.ctx.agent.another();
    let run_fresh = LoginRun {
        ctx: cx.ctx,
        agent: &fresh,
    };
    let Some(run) = run_fresh
        .authorize(cx.flow, &params, Decision::Approve, Vec::new(), true)
        .await
    else {
        return StepOutcome::not_testable("no authorization endpoint", Vec::new());
    };
    if run.pages.is_empty() {
        return StepOutcome::not_testable("no consent page was shown this time", run.hops.clone());
    }
    if run.code().is_some() {
        StepOutcome::fail(
            "a consent approval without the page's CSRF token and cookies was accepted: any site can approve for the user",
            run.hops.clone(),
        )
    } else {
        pass(format!(
            "the forged approval was refused: {}",
            run.describe_end()
        ))
    }
}

/// `consent.before-upstream`.
async fn before_upstream(cx: &AsCx<'_>) -> Result<StepOutcome, HarnessError> {
    if let Err(o) = cx.logged_in() {
        return Ok(o);
    }
    let Some(run) = &cx.flow.authorization else {
        return Ok(StepOutcome::not_testable(cx.flow.summary(), Vec::new()));
    };
    let upstream = origin_of(&cx.ctx.idp_info.issuer);
    let own = origin_of(&cx.ctx.mcp.url);
    let first_upstream = run
        .hops
        .iter()
        .position(|h| origin_of(&h.request.url) == upstream);
    let first_consent = run
        .pages
        .iter()
        .filter(|p| origin_of(&p.url) == own)
        .map(|p| p.hop)
        .next();
    // A pass-through (the upstream answers the client directly, with the client's own
    // registration there) has no client identity of its own to lend: nothing to consent to.
    let last_from_upstream = run
        .hops
        .last()
        .is_some_and(|h| origin_of(&h.request.url) == upstream);
    if run.reached_callback() && last_from_upstream && first_consent.is_none() {
        return Ok(StepOutcome::skip(
            "a pass-through: the upstream redirects straight to the client, which uses its own registration there (see passthrough.proxy-own-tokens)",
        ));
    }
    match (first_consent, first_upstream) {
        (_, None) => Ok(StepOutcome::skip(
            "the login did not go through the upstream identity provider",
        )),
        (Some(c), Some(u)) if c < u => Ok(pass(
            "the proxy's own consent page came before any request to the upstream",
        )),
        _ => Ok(StepOutcome::fail(
            "the user agent reached the upstream identity provider without a consent page of the proxy's own: a confused-deputy proxy lets any registered client ride on the user's upstream session",
            run.hops.clone(),
        )),
    }
}

/// `consent.callback-binding`.
async fn callback_binding(cx: &AsCx<'_>) -> StepOutcome {
    if let Err(o) = cx.logged_in() {
        return o;
    }
    if !cx.flow.via_upstream {
        return StepOutcome::skip("the login did not go through the upstream identity provider");
    }
    let upstream = origin_of(&cx.ctx.idp_info.issuer);
    let pkce = Pkce::new();
    let params = cx.run.params(cx.flow, &pkce, &random_text(8));
    let Some(run) = cx
        .run
        .authorize_walk(
            cx.flow,
            &params,
            WalkOptions {
                intercept_return_from: Some(upstream),
                ..WalkOptions::default()
            },
        )
        .await
    else {
        return StepOutcome::not_testable("no authorization endpoint", Vec::new());
    };
    if run.reached_callback() {
        return StepOutcome::skip(
            "the upstream redirects straight to the client: there is no proxy callback to bind (a pass-through; see passthrough.proxy-own-tokens)",
        );
    }
    let AuthorizeEnd::Intercepted { request } = &run.end else {
        return StepOutcome::not_testable(
            format!(
                "the walk did not come back from the upstream: {}",
                run.describe_end()
            ),
            run.hops.clone(),
        );
    };
    // Another browser (no cookies) completes the callback: a victim lured to the link.
    let foreign = cx.ctx.target.send(request.clone()).await;
    let delivered = |e: &Exchange| {
        e.response()
            .and_then(|r| r.header("location"))
            .and_then(|l| url::Url::parse(l).ok())
            .is_some_and(|u| {
                u.query_pairs().any(|(k, _)| k == "code")
                    && u.as_str().starts_with(&cx.flow.redirect_uri)
            })
    };
    if delivered(&foreign) {
        return StepOutcome::fail(
            "the upstream callback, opened in another browser without the consent cookies, completed the login and sent a code to the client (the consent must be bound to the browser that gave it)",
            vec![foreign],
        );
    }
    // The browser that consented completes it once; a second time is refused.
    let own = cx.ctx.agent.send(request.clone()).await;
    if !delivered(&own) {
        return StepOutcome::pass(
            format!(
                "the callback was refused without the consent cookies (HTTP {}); the consenting browser could not complete it either afterwards (HTTP {})",
                foreign.status_text(),
                own.status_text()
            ),
            Vec::new(),
        );
    }
    let again = cx.ctx.agent.send(request.clone()).await;
    if delivered(&again) {
        return StepOutcome::fail(
            "the same upstream callback completed the login twice (its state is not single-use)",
            vec![again],
        );
    }
    pass(format!(
        "refused without the consent cookies (HTTP {}), completed by the consenting browser, refused on replay (HTTP {})",
        foreign.status_text(),
        again.status_text()
    ))
}

/// `consent.per-client`.
async fn per_client(cx: &AsCx<'_>) -> StepOutcome {
    if let Err(o) = cx.consent_page() {
        return o;
    }
    let Some((other, _)) = cx.second_client().await else {
        return StepOutcome::skip(
            "needs a second client, and none could be registered dynamically",
        );
    };
    let pkce = Pkce::new();
    let mut params = cx.run.params(cx.flow, &pkce, &random_text(8));
    params.set("client_id", other.client_id().to_string());
    // The same browser, which has just approved the first client.
    let Some(run) = cx
        .run
        .authorize(cx.flow, &params, Decision::Approve, Vec::new(), false)
        .await
    else {
        return StepOutcome::not_testable("no authorization endpoint", Vec::new());
    };
    let own = origin_of(&cx.ctx.mcp.url);
    if run.pages.iter().any(|p| origin_of(&p.url) == own) {
        pass("a second client asked for consent again in the same browser")
    } else if run.reached_callback() {
        StepOutcome::fail(
            "a second client was approved without a consent page, in the browser that had approved another client: consent must be remembered per client",
            run.hops.clone(),
        )
    } else {
        StepOutcome::not_testable(
            format!("the second client's authorization: {}", run.describe_end()),
            run.hops.clone(),
        )
    }
}

/// `consent.cross-site-prompt`.
async fn cross_site_prompt(cx: &AsCx<'_>) -> StepOutcome {
    if let Err(o) = cx.consent_page() {
        return o;
    }
    let own = origin_of(&cx.ctx.mcp.url);
    // The same client again, in the browser that approved it: is consent remembered?
    let pkce = Pkce::new();
    let params = cx.run.params(cx.flow, &pkce, &random_text(8));
    let Some(again) = cx
        .run
        .authorize(cx.flow, &params, Decision::Approve, Vec::new(), false)
        .await
    else {
        return StepOutcome::not_testable("no authorization endpoint", Vec::new());
    };
    if again.pages.iter().any(|p| origin_of(&p.url) == own) {
        return StepOutcome::skip(
            "consent is asked every time (not remembered), so no prompt can be skipped",
        );
    }
    // Remembered: a navigation started by another site must still be asked.
    let pkce = Pkce::new();
    let params = cx.run.params(cx.flow, &pkce, &random_text(8));
    let Some(cross) = cx
        .run
        .authorize(
            cx.flow,
            &params,
            Decision::Approve,
            vec![("sec-fetch-site".to_string(), "cross-site".to_string())],
            false,
        )
        .await
    else {
        return StepOutcome::not_testable("no authorization endpoint", Vec::new());
    };
    if cross.pages.iter().any(|p| origin_of(&p.url) == own) {
        pass("consent is remembered, but a cross-site navigation is asked again")
    } else if cross.reached_callback() {
        StepOutcome::fail(
            "consent is remembered even for a navigation another site started (Sec-Fetch-Site: cross-site): a page the user visits can complete logins silently",
            cross.hops.clone(),
        )
    } else {
        StepOutcome::not_testable(
            format!("the cross-site authorization: {}", cross.describe_end()),
            cross.hops.clone(),
        )
    }
}

impl AsCx<'_> {
    pub(super) fn consent_page(
        &self,
    ) -> Result<(&AuthorizeRun, &crate::browser::agent::Page), StepOutcome> {
        self.logged_in()?;
        let run = self
            .flow
            .authorization
            .as_ref()
            .ok_or_else(|| StepOutcome::not_testable(self.flow.summary(), Vec::new()))?;
        // The target's own page (an upstream IdP's page is not the target's consent).
        let own = origin_of(&self.ctx.mcp.url);
        match run.pages.iter().find(|p| origin_of(&p.url) == own) {
            Some(page) => Ok((run, page)),
            // A proxy without one fails consent.before-upstream; there is no page to judge here.
            None => Err(StepOutcome::skip(
                "the server showed no consent page of its own (for a proxy, consent.before-upstream judges that)",
            )),
        }
    }
}
