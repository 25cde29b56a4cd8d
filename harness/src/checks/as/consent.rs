//! Consent pages (MCP security best practices): content, framing, cookies, CSRF, per-client consent
//! and the proxy's order of steps.

use super::*;
use crate::browser::agent::{Cookie, Page};

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

/// `consent.page-content`: the consent page names the client, where it redirects and the scopes.
fn page_content(cx: &AsCx<'_>) -> Judged {
    let (run, page) = cx.consent_page()?;
    let client = cx.client();
    Ok(judge_page_content(
        run,
        page,
        client.client_id(),
        &host_of(&cx.flow.redirect_uri),
        &cx.flow.scope,
    ))
}

/// The host of a URL, or nothing when it has none.
fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default()
}

/// `page` is the consent page in `run`; the client is known by its name or `client_id`.
fn judge_page_content(
    run: &AuthorizeRun,
    page: &Page,
    client_id: &str,
    redirect_host: &str,
    scope: &str,
) -> Verdict {
    let text = page.text.to_ascii_lowercase();
    let client_name = "mcp-auth-conformance";
    let client_id = client_id.to_ascii_lowercase();
    let mut missing = Vec::new();
    if !text.contains(client_name) && !text.contains(&client_id) {
        missing.push("the client's name or id");
    }
    if !text.contains(redirect_host) {
        missing.push("where it redirects (the redirect URI's host)");
    }
    if !scope.is_empty()
        && !scope
            .split_whitespace()
            .all(|s| text.contains(&s.to_ascii_lowercase()))
    {
        missing.push("the requested scopes");
    }
    if missing.is_empty() {
        Verdict::passed("the consent page names the client, its redirect host and the scopes")
    } else {
        Verdict::fail(
            format!("the consent page does not show {}", missing.join(", ")),
            vec![run.hops[page.hop].clone()],
        )
    }
}

/// `consent.anti-framing`: the consent page forbids other sites to frame it.
fn anti_framing(cx: &AsCx<'_>) -> Judged {
    let (run, page) = cx.consent_page()?;
    Ok(judge_anti_framing(&run.hops[page.hop]))
}

/// `page` is the exchange that brought the consent page.
fn judge_anti_framing(page: &Exchange) -> Verdict {
    let Some(r) = page.response() else {
        return Verdict::not_testable("the consent page had no answer", Vec::new());
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
        Verdict::passed("the consent page forbids framing")
    } else {
        Verdict::fail(
            "the consent page sends neither X-Frame-Options nor a CSP frame-ancestors directive, so another site can frame it (clickjacking)",
            vec![page.clone()],
        )
    }
}

/// `consent.cookie-flags`: the cookies the server set during the login are HttpOnly and
/// SameSite=Lax or Strict (and Secure, with the `__Host-` prefix, on https).
fn cookie_flags(cx: &AsCx<'_>) -> Judged {
    let run = login_authorization(cx)?;
    let Ok(target) = url::Url::parse(&cx.ctx.mcp.url) else {
        return Err(Stop::not_testable(
            "the MCP endpoint URL could not be parsed",
            Vec::new(),
        ));
    };
    Ok(judge_cookie_flags(
        run,
        &authority_of(&target),
        target.scheme() == "https",
    ))
}

/// Judges the cookies of `run` that came from `own` (`host:port`, the target's); `https` when
/// the target is served over https, where `Secure` and the `__Host-` prefix are judged too.
fn judge_cookie_flags(run: &AuthorizeRun, own: &str, https: bool) -> Verdict {
    let cookies: Vec<&Cookie> = run
        .cookies_set
        .iter()
        .filter(|c| c.authority == own)
        .collect();
    if cookies.is_empty() {
        return Verdict::skip("the server set no cookies during the login");
    }
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
        return Verdict::fail(
            format!(
                "consent and state cookies must be HttpOnly and SameSite=Lax or Strict{scheme_note}: {}",
                failures.join("; ")
            ),
            evidence,
        );
    }
    if !remarks.is_empty() {
        return Verdict::warn(remarks.join("; "), Vec::new());
    }
    Verdict::passed(format!(
        "{} set with HttpOnly and SameSite{scheme_note}",
        names.join(", ")
    ))
}

/// `consent.redirect-change`: consent given to a client does not stretch to a redirect URI it
/// never registered.
async fn redirect_change(cx: &AsCx<'_>) -> Judged {
    login_authorization(cx)?;
    // The browser that consented, with its cookies: remembered consent must not stretch to
    // a redirect URI the client never registered.
    let port = cx.redirect_port();
    let uris = [
        "https://attacker.example/callback".to_string(),
        format!("http://127.0.0.1:{port}/changed"),
    ];
    let mut runs = Vec::new();
    for uri in uris {
        let run = cx.walk(|p| p.set("redirect_uri", uri.clone())).await?;
        runs.push((uri, run));
    }
    Ok(judge_redirect_change(
        &runs,
        &origin_of(&cx.ctx.idp_info.issuer),
    ))
}

/// `runs` pairs each changed redirect URI with its walk; `upstream` is the upstream identity
/// provider's origin (a proxy must refuse before sending the browser there).
fn judge_redirect_change(runs: &[(String, AuthorizeRun)], upstream: &str) -> Verdict {
    let mut failures = Vec::new();
    let mut evidence = Vec::new();
    for (uri, run) in runs {
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
        Verdict::passed(format!(
            "after consent, the same client with a redirect URI it never registered was refused without a redirect ({} tried)",
            runs.len()
        ))
    } else {
        Verdict::fail(
            format!(
                "after the user consented, the same client_id with a changed redirect URI was not refused: {}",
                failures.join("; ")
            ),
            evidence,
        )
    }
}

/// `consent.csrf`: an approval posted without the consent page's CSRF token and cookies gets no
/// code.
async fn csrf(cx: &AsCx<'_>) -> Judged {
    cx.consent_page()?;
    let pkce = Pkce::new();
    let params = cx.run.params(cx.flow, &pkce, &random_text(8));
    // A fresh browser, so that consent remembered from the login does not hide the page.
    let fresh = cx.ctx.agent.another();
    let run_fresh = LoginRun {
        ctx: cx.ctx,
        agent: &fresh,
    };
    let run = run_fresh
        .authorize(cx.flow, &params, Decision::Approve, Vec::new(), true)
        .await
        .ok_or_else(no_authorization_endpoint)?;
    Ok(judge_csrf(&run))
}

/// `run` is a walk whose consent form was posted forged (without its CSRF token and cookies).
fn judge_csrf(run: &AuthorizeRun) -> Verdict {
    if !run.pages.iter().any(Page::asks_consent) {
        return Verdict::not_testable("no consent page was shown this time", run.hops.clone());
    }
    if run.code().is_some() {
        Verdict::fail(
            "a consent approval without the page's CSRF token and cookies was accepted: any site can approve for the user",
            run.hops.clone(),
        )
    } else {
        Verdict::passed(format!(
            "the forged approval was refused: {}",
            run.describe_end()
        ))
    }
}

/// `consent.before-upstream`: a proxy shows its own consent page before sending the browser to
/// the upstream identity provider.
async fn before_upstream(cx: &AsCx<'_>) -> Judged {
    let run = login_authorization(cx)?;
    Ok(judge_before_upstream(
        run,
        &origin_of(&cx.ctx.idp_info.issuer),
        &origin_of(&cx.ctx.mcp.url),
    ))
}

/// Judges the login's walk: `upstream` is the upstream identity provider's origin, `own` the
/// target's.
fn judge_before_upstream(run: &AuthorizeRun, upstream: &str, own: &str) -> Verdict {
    let first_upstream = run
        .hops
        .iter()
        .position(|h| origin_of(&h.request.url) == upstream);
    let first_consent = run
        .pages
        .iter()
        .filter(|p| origin_of(&p.url) == own && p.asks_consent())
        .map(|p| p.hop)
        .next();
    // A pass-through (the upstream answers the client directly, with the client's own
    // registration there) has no client identity of its own to lend: nothing to consent to.
    let last_from_upstream = run
        .hops
        .last()
        .is_some_and(|h| origin_of(&h.request.url) == upstream);
    if run.reached_callback() && last_from_upstream && first_consent.is_none() {
        return Verdict::skip(
            "a pass-through: the upstream redirects straight to the client, which uses its own registration there (see passthrough.proxy-own-tokens)",
        );
    }
    match (first_consent, first_upstream) {
        (_, None) => Verdict::skip("the login did not go through the upstream identity provider"),
        (Some(c), Some(u)) if c < u => {
            Verdict::passed("the proxy's own consent page came before any request to the upstream")
        }
        _ => Verdict::fail(
            "the user agent reached the upstream identity provider without a consent page of the proxy's own: a confused-deputy proxy lets any registered client ride on the user's upstream session",
            run.hops.clone(),
        ),
    }
}

/// `consent.callback-binding`: the proxy's callback from the upstream completes only in the
/// browser that consented, and only once.
async fn callback_binding(cx: &AsCx<'_>) -> Judged {
    if !cx.flow.via_upstream {
        return Err(Stop::skip(
            "the login did not go through the upstream identity provider",
        ));
    }
    let upstream = origin_of(&cx.ctx.idp_info.issuer);
    let pkce = Pkce::new();
    let params = cx.run.params(cx.flow, &pkce, &random_text(8));
    let run = cx
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
        .ok_or_else(no_authorization_endpoint)?;
    if run.reached_callback() {
        return Err(Stop::skip(
            "the upstream redirects straight to the client: there is no proxy callback to bind (a pass-through; see passthrough.proxy-own-tokens)",
        ));
    }
    let AuthorizeEnd::Intercepted { request } = &run.end else {
        return Err(Stop::not_testable(
            format!(
                "the walk did not come back from the upstream: {}",
                run.describe_end()
            ),
            run.hops.clone(),
        ));
    };
    // Another browser (no cookies) opens the callback first: a victim lured to the link. Then
    // the consenting browser, as long as the judge needs another answer.
    let mut opened = vec![cx.ctx.target.send(request.clone()).await];
    loop {
        if let Some(verdict) = judge_callback_binding(&opened, &cx.flow.redirect_uri) {
            return Ok(verdict);
        }
        opened.push(cx.ctx.agent.send(request.clone()).await);
    }
}

/// Whether an answer sends a code to the client's `redirect_uri`.
fn delivered(e: &Exchange, redirect_uri: &str) -> bool {
    e.response()
        .and_then(|r| r.header("location"))
        .and_then(|l| url::Url::parse(l).ok())
        .is_some_and(|u| {
            u.query_pairs().any(|(k, _)| k == "code") && u.as_str().starts_with(redirect_uri)
        })
}

/// `opened` holds the answers to the upstream's callback request, in order: from another
/// browser (without the consent cookies), then from the consenting browser, then from it again
/// (a replay). `None` while the rule needs the consenting browser to open it once more.
fn judge_callback_binding(opened: &[Exchange], redirect_uri: &str) -> Option<Verdict> {
    match opened {
        [foreign, ..] if delivered(foreign, redirect_uri) => Some(Verdict::fail(
            "the upstream callback, opened in another browser without the consent cookies, completed the login and sent a code to the client (the consent must be bound to the browser that gave it)",
            vec![foreign.clone()],
        )),
        [foreign, own] if !delivered(own, redirect_uri) => Some(Verdict::passed(format!(
            "the callback was refused without the consent cookies (HTTP {}); the consenting browser could not complete it either afterwards (HTTP {})",
            foreign.status_text(),
            own.status_text()
        ))),
        [_, _, again, ..] if delivered(again, redirect_uri) => Some(Verdict::fail(
            "the same upstream callback completed the login twice (its state is not single-use)",
            vec![again.clone()],
        )),
        [foreign, _, again, ..] => Some(Verdict::passed(format!(
            "refused without the consent cookies (HTTP {}), completed by the consenting browser, refused on replay (HTTP {})",
            foreign.status_text(),
            again.status_text()
        ))),
        _ => None,
    }
}

/// `consent.per-client`: a second client asks for consent again in the browser that approved the
/// first.
async fn per_client(cx: &AsCx<'_>) -> Judged {
    cx.consent_page()?;
    let Some((other, _)) = cx.second_client().await else {
        return Err(Stop::skip(
            "needs a second client, and none could be registered dynamically",
        ));
    };
    let pkce = Pkce::new();
    let mut params = cx.run.params(cx.flow, &pkce, &random_text(8));
    params.set("client_id", other.client_id().to_string());
    // The same browser, which has just approved the first client.
    let run = cx
        .run
        .authorize(cx.flow, &params, Decision::Approve, Vec::new(), false)
        .await
        .ok_or_else(no_authorization_endpoint)?;
    Ok(judge_per_client(&run, &origin_of(&cx.ctx.mcp.url)))
}

/// Whether `run` showed a consent page of the target's own (`own` is its origin).
fn asked(run: &AuthorizeRun, own: &str) -> bool {
    run.pages
        .iter()
        .any(|p| origin_of(&p.url) == own && p.asks_consent())
}

/// `run` is the second client's authorization in the browser that approved the first.
fn judge_per_client(run: &AuthorizeRun, own: &str) -> Verdict {
    if asked(run, own) {
        Verdict::passed("a second client asked for consent again in the same browser")
    } else if run.reached_callback() {
        Verdict::fail(
            "a second client was approved without a consent page, in the browser that had approved another client: consent must be remembered per client",
            run.hops.clone(),
        )
    } else {
        Verdict::not_testable(
            format!("the second client's authorization: {}", run.describe_end()),
            run.hops.clone(),
        )
    }
}

/// `consent.cross-site-prompt`: remembered consent is asked again for a navigation another site
/// started.
async fn cross_site_prompt(cx: &AsCx<'_>) -> Judged {
    cx.consent_page()?;
    let own = origin_of(&cx.ctx.mcp.url);
    // The same client again, in the browser that approved it: is consent remembered?
    let pkce = Pkce::new();
    let params = cx.run.params(cx.flow, &pkce, &random_text(8));
    let again = cx
        .run
        .authorize(cx.flow, &params, Decision::Approve, Vec::new(), false)
        .await
        .ok_or_else(no_authorization_endpoint)?;
    if asked(&again, &own) {
        return Err(Stop::skip(
            "consent is asked every time (not remembered), so no prompt can be skipped",
        ));
    }
    // Remembered: a navigation started by another site must still be asked.
    let pkce = Pkce::new();
    let params = cx.run.params(cx.flow, &pkce, &random_text(8));
    let cross = cx
        .run
        .authorize(
            cx.flow,
            &params,
            Decision::Approve,
            vec![("sec-fetch-site".to_string(), "cross-site".to_string())],
            false,
        )
        .await
        .ok_or_else(no_authorization_endpoint)?;
    Ok(judge_cross_site(&cross, &own))
}

/// `cross` is an authorization sent with `Sec-Fetch-Site: cross-site` after consent was
/// remembered.
fn judge_cross_site(cross: &AuthorizeRun, own: &str) -> Verdict {
    if asked(cross, own) {
        Verdict::passed("consent is remembered, but a cross-site navigation is asked again")
    } else if cross.reached_callback() {
        Verdict::fail(
            "consent is remembered even for a navigation another site started (Sec-Fetch-Site: cross-site): a page the user visits can complete logins silently",
            cross.hops.clone(),
        )
    } else {
        Verdict::not_testable(
            format!("the cross-site authorization: {}", cross.describe_end()),
            cross.hops.clone(),
        )
    }
}

/// The login's authorization walk, however it ended.
fn login_authorization<'a>(cx: &'a AsCx<'_>) -> Result<&'a AuthorizeRun, Stop> {
    cx.flow
        .authorization
        .as_ref()
        .ok_or_else(|| Stop::not_testable(cx.flow.summary(), Vec::new()))
}

impl AsCx<'_> {
    /// The login's walk and the consent page of the target's own in it.
    fn consent_page(&self) -> Result<(&AuthorizeRun, &Page), Stop> {
        let run = login_authorization(self)?;
        // The target's own page (an upstream IdP's page is not the target's consent).
        let own = origin_of(&self.ctx.mcp.url);
        match run
            .pages
            .iter()
            .find(|p| origin_of(&p.url) == own && p.asks_consent())
        {
            Some(page) => Ok((run, page)),
            // A proxy without one fails consent.before-upstream; there is no page to judge here.
            // A login page alone is not a consent page: it asks who the user is, not whether
            // this client may act for them, so the consent rules have nothing to judge on it.
            None if run
                .pages
                .iter()
                .any(|p| origin_of(&p.url) == own && !p.asks_consent()) =>
            {
                Err(Stop::skip(
                    "the server showed a login page of its own but no page asking the user to approve the client",
                ))
            }
            None => Err(Stop::skip(
                "the server showed no consent page of its own (for a proxy, consent.before-upstream judges that)",
            )),
        }
    }
}

/// A cookie's name for the report, with per-client or per-run parts (long hexadecimal runs, as
/// in FastMCP's `__MCP_CONSENT_STATE_<hash>`) replaced, so that reports compare across runs.
fn cookie_label(name: &str) -> String {
    name.split('_')
        .map(|part| {
            if part.len() >= 16 && part.chars().all(|c| c.is_ascii_hexdigit()) {
                "[ID]"
            } else {
                part
            }
        })
        .collect::<Vec<_>>()
        .join("_")
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;
    use crate::testkit::{
        callback, elsewhere, exchange, render, stopped, with_login_page, with_page,
    };

    fn check(v: Verdict, expect: Expect) {
        expect.assert_eq(&render(&v));
    }

    /// The target's origin in these fixtures (the walks' authorization endpoint).
    const OWN: &str = "http://127.0.0.1:2";
    /// The upstream identity provider's origin.
    const UPSTREAM: &str = "http://127.0.0.1:9";
    /// The client's redirect URI (where `callback` walks end).
    const REDIRECT_URI: &str = "http://127.0.0.1:1/callback";

    #[test]
    fn page_content() {
        let run = with_page(
            callback("code=abc&state=s"),
            "http://127.0.0.1:2/consent",
            "Allow MCP-Auth-Conformance to sign you in? It will be sent to 127.0.0.1. Scopes: mcp:read mcp:write",
        );
        check(
            judge_page_content(
                &run,
                &run.pages[0],
                "c-1",
                "127.0.0.1",
                "mcp:read mcp:write",
            ),
            expect![[r#"
                pass
                  note: the consent page names the client, its redirect host and the scopes
            "#]],
        );
        // Named by its client_id alone, and no scope asked for: nothing more to show.
        let run = with_page(
            callback("code=abc"),
            "http://127.0.0.1:2/consent",
            "Client C-1 wants to redirect you to 127.0.0.1",
        );
        check(
            judge_page_content(&run, &run.pages[0], "c-1", "127.0.0.1", ""),
            expect![[r#"
                pass
                  note: the consent page names the client, its redirect host and the scopes
            "#]],
        );
        let run = with_page(
            callback("code=abc"),
            "http://127.0.0.1:2/consent",
            "Allow access? Scopes: mcp:read",
        );
        check(
            judge_page_content(
                &run,
                &run.pages[0],
                "c-1",
                "127.0.0.1",
                "mcp:read mcp:write",
            ),
            expect![[r#"
                fail: the consent page does not show the client's name or id, where it redirects (the redirect URI's host), the requested scopes
                  evidence: GET http://127.0.0.1:2/authorize -> 302
            "#]],
        );
    }

    #[test]
    fn anti_framing() {
        let page = |headers: &str| {
            exchange(&format!(
                "GET http://127.0.0.1:2/consent\n=>\n200\n{headers}\n\n<form></form>"
            ))
        };
        check(
            judge_anti_framing(&page("x-frame-options: DENY")),
            expect![[r#"
                pass
                  note: the consent page forbids framing
            "#]],
        );
        check(
            judge_anti_framing(&page(
                "content-security-policy: default-src 'self'; frame-ancestors 'none'",
            )),
            expect![[r#"
                pass
                  note: the consent page forbids framing
            "#]],
        );
        check(
            judge_anti_framing(&page("x-frame-options: ALLOW-FROM https://a.example")),
            expect![[r#"
                fail: the consent page sends neither X-Frame-Options nor a CSP frame-ancestors directive, so another site can frame it (clickjacking)
                  evidence: GET http://127.0.0.1:2/consent -> 200
            "#]],
        );
        check(
            judge_anti_framing(&exchange(
                "GET http://127.0.0.1:2/consent\n=>\n! connection reset",
            )),
            expect![[r#"
                not testable: the consent page had no answer
            "#]],
        );
    }

    /// The login's walk, with these `Set-Cookie` headers from the target (`host:port`
    /// `127.0.0.1:2`) on its consent page.
    fn set_cookies(raws: &[&str]) -> AuthorizeRun {
        let mut run = callback("code=abc");
        let headers: Vec<String> = raws.iter().map(|r| format!("set-cookie: {r}")).collect();
        run.hops.insert(
            0,
            exchange(&format!(
                "GET http://127.0.0.1:2/consent\n=>\n200\n{}\n",
                headers.join("\n")
            )),
        );
        run.cookies_set = raws
            .iter()
            .map(|raw| {
                let pair = raw.split(';').next().unwrap_or_default();
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                Cookie {
                    name: name.to_string(),
                    value: value.to_string(),
                    authority: "127.0.0.1:2".to_string(),
                    raw: raw.to_string(),
                }
            })
            .collect();
        run
    }

    #[test]
    fn cookie_flags() {
        let own = "127.0.0.1:2";
        check(
            judge_cookie_flags(&set_cookies(&[]), own, false),
            expect![[r#"
                skip: the server set no cookies during the login
            "#]],
        );
        // Cookies of another origin (an upstream's) are not the target's to judge.
        check(
            judge_cookie_flags(&set_cookies(&["sid=1"]), "127.0.0.1:9", false),
            expect![[r#"
                skip: the server set no cookies during the login
            "#]],
        );
        check(
            judge_cookie_flags(
                &set_cookies(&[
                    "sid=1; Path=/; HttpOnly; SameSite=Lax",
                    "csrf=2; HttpOnly; SameSite=Strict",
                ]),
                own,
                false,
            ),
            expect![[r#"
                pass
                  note: csrf, sid set with HttpOnly and SameSite (Secure and the __Host- prefix are judged on https targets only)
            "#]],
        );
        check(
            judge_cookie_flags(
                &set_cookies(&[
                    "sid=1; SameSite=None",
                    "__MCP_CONSENT_STATE_0123456789abcdef0123=x; HttpOnly",
                    "__MCP_CONSENT_STATE_fedcba98765432100000=y; HttpOnly",
                ]),
                own,
                false,
            ),
            expect![[r#"
                fail: consent and state cookies must be HttpOnly and SameSite=Lax or Strict (Secure and the __Host- prefix are judged on https targets only): sid lacks HttpOnly, SameSite=Lax (it says SameSite=none); __MCP_CONSENT_STATE_[ID] lacks SameSite=Lax
                  evidence: GET http://127.0.0.1:2/consent -> 200
            "#]],
        );
        check(
            judge_cookie_flags(&set_cookies(&["sid=1; HttpOnly; SameSite=Lax"]), own, true),
            expect![[r#"
                fail: consent and state cookies must be HttpOnly and SameSite=Lax or Strict: sid lacks Secure
                  evidence: GET http://127.0.0.1:2/consent -> 200
            "#]],
        );
        check(
            judge_cookie_flags(
                &set_cookies(&["__Host-sid=1; Path=/; Secure; HttpOnly; SameSite=Lax"]),
                own,
                true,
            ),
            expect![[r#"
                pass
                  note: __Host-sid set with HttpOnly and SameSite
            "#]],
        );
        check(
            judge_cookie_flags(
                &set_cookies(&["sid=1; Secure; HttpOnly; SameSite=Lax"]),
                own,
                true,
            ),
            expect![[r#"
                warn: sid has no __Host- prefix
            "#]],
        );
    }

    #[test]
    fn redirect_change() {
        let refused = vec![
            (
                "https://attacker.example/callback".to_string(),
                stopped(400, "invalid redirect_uri"),
            ),
            (
                "http://127.0.0.1:1/changed".to_string(),
                stopped(400, "invalid redirect_uri"),
            ),
        ];
        check(
            judge_redirect_change(&refused, UPSTREAM),
            expect![[r#"
            pass
              note: after consent, the same client with a redirect URI it never registered was refused without a redirect (2 tried)
        "#]],
        );
        // The first is followed to the attacker; the second is refused, but only after the
        // browser went to the upstream.
        let mut upstream_first = stopped(400, "invalid redirect_uri");
        upstream_first.hops.insert(
            0,
            exchange("GET http://127.0.0.1:9/authorize\n=>\n302\nlocation: http://127.0.0.1:2/upstream/callback\n"),
        );
        let accepted = vec![
            (
                "https://attacker.example/callback".to_string(),
                elsewhere("https://attacker.example/callback?code=abc"),
            ),
            ("http://127.0.0.1:1/changed".to_string(), upstream_first),
        ];
        check(
            judge_redirect_change(&accepted, UPSTREAM),
            expect![[r#"
            fail: after the user consented, the same client_id with a changed redirect URI was not refused: https://attacker.example/callback: redirected to https://attacker.example/callback?code=abc; http://127.0.0.1:1/changed: the browser was sent to the upstream identity provider before the redirect URI was refused
              evidence: GET http://127.0.0.1:2/authorize -> 302
              evidence: GET http://127.0.0.1:9/authorize -> 302
        "#]],
        );
    }

    #[test]
    fn csrf() {
        // A login page is not a consent page: a forging site has no password to type.
        check(
            judge_csrf(&with_login_page(
                callback("code=abc"),
                "http://127.0.0.1:2/login",
            )),
            expect![[r#"
                not testable: no consent page was shown this time
                  evidence: GET http://127.0.0.1:2/authorize -> 302
            "#]],
        );
        check(
            judge_csrf(&callback("code=abc")),
            expect![[r#"
            not testable: no consent page was shown this time
              evidence: GET http://127.0.0.1:2/authorize -> 302
        "#]],
        );
        check(
            judge_csrf(&with_page(
                callback("code=abc"),
                "http://127.0.0.1:2/consent",
                "Approve?",
            )),
            expect![[r#"
                fail: a consent approval without the page's CSRF token and cookies was accepted: any site can approve for the user
                  evidence: GET http://127.0.0.1:2/authorize -> 302
            "#]],
        );
        check(
            judge_csrf(&with_page(
                stopped(403, "CSRF token mismatch"),
                "http://127.0.0.1:2/consent",
                "Approve?",
            )),
            expect![[r#"
                pass
                  note: the forged approval was refused: stopped at HTTP 403: CSRF token mismatch
            "#]],
        );
    }

    /// A walk through these hops (`METHOD URL => STATUS location`) that ended at the client's
    /// redirect URI with a code, with a page answered at `pages`' hops.
    fn walk(hops: &[&str], pages: &[(usize, &str)]) -> AuthorizeRun {
        let mut run = callback("code=abc");
        run.hops = hops.iter().map(|h| exchange(h)).collect();
        for (hop, url) in pages {
            run = with_page(run, url, "Approve?");
            run.pages.last_mut().unwrap().hop = *hop;
        }
        run
    }

    #[test]
    fn before_upstream() {
        let consent_first = walk(
            &[
                "GET http://127.0.0.1:2/authorize\n=>\n200\n",
                "POST http://127.0.0.1:2/consent\n=>\n302\nlocation: http://127.0.0.1:9/authorize\n",
                "GET http://127.0.0.1:9/authorize\n=>\n302\nlocation: http://127.0.0.1:2/upstream/callback\n",
                "GET http://127.0.0.1:2/upstream/callback\n=>\n302\nlocation: http://127.0.0.1:1/callback?code=abc\n",
            ],
            &[(0, "http://127.0.0.1:2/authorize")],
        );
        check(
            judge_before_upstream(&consent_first, UPSTREAM, OWN),
            expect![[r#"
                pass
                  note: the proxy's own consent page came before any request to the upstream
            "#]],
        );
        let upstream_first = walk(
            &[
                "GET http://127.0.0.1:2/authorize\n=>\n302\nlocation: http://127.0.0.1:9/authorize\n",
                "GET http://127.0.0.1:9/authorize\n=>\n302\nlocation: http://127.0.0.1:2/upstream/callback\n",
                "GET http://127.0.0.1:2/upstream/callback\n=>\n200\n",
                "POST http://127.0.0.1:2/consent\n=>\n302\nlocation: http://127.0.0.1:1/callback?code=abc\n",
            ],
            &[(2, "http://127.0.0.1:2/upstream/callback")],
        );
        check(
            judge_before_upstream(&upstream_first, UPSTREAM, OWN),
            expect![[r#"
                fail: the user agent reached the upstream identity provider without a consent page of the proxy's own: a confused-deputy proxy lets any registered client ride on the user's upstream session
                  evidence: GET http://127.0.0.1:2/authorize -> 302
                  evidence: GET http://127.0.0.1:9/authorize -> 302
                  evidence: GET http://127.0.0.1:2/upstream/callback -> 200
                  evidence: POST http://127.0.0.1:2/consent -> 302
            "#]],
        );
        let no_consent = walk(
            &[
                "GET http://127.0.0.1:2/authorize\n=>\n302\nlocation: http://127.0.0.1:9/authorize\n",
                "GET http://127.0.0.1:9/authorize\n=>\n302\nlocation: http://127.0.0.1:2/upstream/callback\n",
                "GET http://127.0.0.1:2/upstream/callback\n=>\n302\nlocation: http://127.0.0.1:1/callback?code=abc\n",
            ],
            &[],
        );
        check(
            judge_before_upstream(&no_consent, UPSTREAM, OWN),
            expect![[r#"
                fail: the user agent reached the upstream identity provider without a consent page of the proxy's own: a confused-deputy proxy lets any registered client ride on the user's upstream session
                  evidence: GET http://127.0.0.1:2/authorize -> 302
                  evidence: GET http://127.0.0.1:9/authorize -> 302
                  evidence: GET http://127.0.0.1:2/upstream/callback -> 302
            "#]],
        );
        let pass_through = walk(
            &[
                "GET http://127.0.0.1:2/authorize\n=>\n302\nlocation: http://127.0.0.1:9/authorize\n",
                "GET http://127.0.0.1:9/authorize\n=>\n302\nlocation: http://127.0.0.1:1/callback?code=abc\n",
            ],
            &[],
        );
        check(
            judge_before_upstream(&pass_through, UPSTREAM, OWN),
            expect![[r#"
                skip: a pass-through: the upstream redirects straight to the client, which uses its own registration there (see passthrough.proxy-own-tokens)
            "#]],
        );
        check(
            judge_before_upstream(&callback("code=abc"), UPSTREAM, OWN),
            expect![[r#"
                skip: the login did not go through the upstream identity provider
            "#]],
        );
    }

    #[test]
    fn callback_binding() {
        let delivered = || {
            exchange(
                "GET http://127.0.0.1:2/upstream/callback?code=up&state=p\n=>\n302\nlocation: http://127.0.0.1:1/callback?code=abc&state=s\n",
            )
        };
        let refused = || {
            exchange(
                "GET http://127.0.0.1:2/upstream/callback?code=up&state=p\n=>\n400\ncontent-type: text/plain\n\nunknown state",
            )
        };
        let judge = |opened: &[Exchange]| judge_callback_binding(opened, REDIRECT_URI);
        check(
            judge(&[delivered()]).unwrap(),
            expect![[r#"
            fail: the upstream callback, opened in another browser without the consent cookies, completed the login and sent a code to the client (the consent must be bound to the browser that gave it)
              evidence: GET http://127.0.0.1:2/upstream/callback?code=up&state=p -> 302
        "#]],
        );
        // A code sent to another URI is no completed login of this client.
        let elsewhere = exchange(
            "GET http://127.0.0.1:2/upstream/callback\n=>\n302\nlocation: https://attacker.example/cb?code=abc\n",
        );
        assert!(judge(&[elsewhere]).is_none());
        assert!(judge(&[refused()]).is_none());
        check(
            judge(&[refused(), refused()]).unwrap(),
            expect![[r#"
            pass
              note: the callback was refused without the consent cookies (HTTP 400); the consenting browser could not complete it either afterwards (HTTP 400)
        "#]],
        );
        assert!(judge(&[refused(), delivered()]).is_none());
        check(
            judge(&[refused(), delivered(), delivered()]).unwrap(),
            expect![[r#"
                fail: the same upstream callback completed the login twice (its state is not single-use)
                  evidence: GET http://127.0.0.1:2/upstream/callback?code=up&state=p -> 302
            "#]],
        );
        check(
            judge(&[refused(), delivered(), refused()]).unwrap(),
            expect![[r#"
                pass
                  note: refused without the consent cookies (HTTP 400), completed by the consenting browser, refused on replay (HTTP 400)
            "#]],
        );
    }

    #[test]
    fn per_client() {
        check(
            judge_per_client(
                &with_page(
                    callback("code=abc"),
                    "http://127.0.0.1:2/consent",
                    "Approve?",
                ),
                OWN,
            ),
            expect![[r#"
                pass
                  note: a second client asked for consent again in the same browser
            "#]],
        );
        // A page of the upstream's is not the target asking.
        check(
            judge_per_client(
                &with_page(callback("code=abc"), "http://127.0.0.1:9/login", "Sign in"),
                OWN,
            ),
            expect![[r#"
                fail: a second client was approved without a consent page, in the browser that had approved another client: consent must be remembered per client
                  evidence: GET http://127.0.0.1:2/authorize -> 302
            "#]],
        );
        check(
            judge_per_client(&stopped(400, "unknown client"), OWN),
            expect![[r#"
                not testable: the second client's authorization: stopped at HTTP 400: unknown client
                  evidence: GET http://127.0.0.1:2/authorize -> 400
            "#]],
        );
    }

    #[test]
    fn cross_site() {
        check(
            judge_cross_site(
                &with_page(
                    callback("code=abc"),
                    "http://127.0.0.1:2/consent",
                    "Approve?",
                ),
                OWN,
            ),
            expect![[r#"
                pass
                  note: consent is remembered, but a cross-site navigation is asked again
            "#]],
        );
        check(
            judge_cross_site(&callback("code=abc"), OWN),
            expect![[r#"
                fail: consent is remembered even for a navigation another site started (Sec-Fetch-Site: cross-site): a page the user visits can complete logins silently
                  evidence: GET http://127.0.0.1:2/authorize -> 302
            "#]],
        );
        check(
            judge_cross_site(&stopped(500, "internal error"), OWN),
            expect![[r#"
                not testable: the cross-site authorization: stopped at HTTP 500: internal error
                  evidence: GET http://127.0.0.1:2/authorize -> 500
            "#]],
        );
    }
}
