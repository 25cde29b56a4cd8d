//! Client ID Metadata Documents: documents the mock IdP hosts for the target to fetch, valid and
//! broken in one way each.

use super::*;

pub(crate) const PROBES: &[Probe] = &[
    as_probe!("cimd.fetched" => fetched),
    as_probe!("cimd.client-id-mismatch" => client_id_mismatch),
    as_probe!("cimd.redirect-not-listed" => redirect_not_listed),
    as_probe!("cimd.invalid-document" => invalid_document),
    as_probe!("cimd.no-shared-secret" => no_shared_secret),
    as_probe!("cimd.consent-shows-host" => consent_shows_host),
    as_probe!("cimd.fetch-safety" => fetch_safety),
];

/// `cimd.fetched`: a client identified by the URL of a valid metadata document logs in.
async fn fetched(cx: &AsCx<'_>) -> Judged {
    cx.cimd_applies()?;
    let name = "cimd-fetched.json";
    let url = cx.cimd_url(name);
    let mark = cx.ctx.idp.last_seq().await?;
    let body = hosted(cx.cimd_document(&url));
    let (run, pkce) = cx.cimd_attempt(name, &url, body, None).await?;
    let fetched = cx
        .ctx
        .idp
        .requests_since(mark)
        .await?
        .iter()
        .any(|r| r.endpoint == "document" && r.path.ends_with(name));
    let redeemed = match run.code() {
        Some(code) => {
            let client = ClientAuth::None {
                client_id: url.clone(),
            };
            let form = cx.run.code_form(cx.flow, code, Some(&pkce.verifier));
            Some(cx.token(&form, &client).await)
        }
        None => None,
    };
    Ok(judge_fetched(
        &url,
        &run,
        fetched,
        redeemed.as_ref(),
        cx.ctx.options.cimd_loopback,
    ))
}

/// `run` is the authorization of the client `url` names; `fetched` whether the mock IdP served
/// the document meanwhile; `redeemed` the code exchange, when the walk delivered a code;
/// `loopback` whether the run was told the server accepts loopback document URLs
/// (`--cimd-loopback`).
fn judge_fetched(
    url: &str,
    run: &AuthorizeRun,
    fetched: bool,
    redeemed: Option<&Exchange>,
    loopback: bool,
) -> Verdict {
    let Some(e) = redeemed else {
        let why = format!(
            "an authorization request with client_id={url} (a valid metadata document{}) got no code: {}",
            if fetched {
                ", fetched"
            } else {
                " the server did not fetch"
            },
            run.describe_end()
        );
        return if loopback {
            Verdict::fail(why, run.hops.last().cloned().into_iter().collect())
        } else {
            Verdict::not_testable(
                format!(
                    "{why}. The document is at a loopback http URL, which a server must refuse outside tests (SSRF); run the server with private metadata URLs allowed and pass --cimd-loopback to judge the metadata-document checks"
                ),
                Vec::new(),
            )
        };
    };
    match token_set(e) {
        Ok(_) => Verdict::passed(format!(
            "a client identified by its metadata document URL logged in (document {})",
            if fetched { "fetched" } else { "already known" }
        )),
        Err(why) => Verdict::fail(
            format!("the metadata-document client got a code, but the code exchange failed: {why}"),
            vec![e.clone()],
        ),
    }
}

/// `cimd.client-id-mismatch`: a document whose `client_id` is not its own URL is refused.
async fn client_id_mismatch(cx: &AsCx<'_>) -> Judged {
    cx.cimd_ready("mismatch").await?;
    let name = "cimd-mismatch.json";
    let url = cx.cimd_url(name);
    let body = hosted(cx.cimd_document("https://other-client.example/client.json"));
    let (run, _) = cx.cimd_attempt(name, &url, body, None).await?;
    Ok(judge_refusals(
        &[("a document naming another client_id".to_string(), run)],
        false,
        "a metadata document whose client_id is not its own URL was accepted",
        "a document whose client_id differs from its URL was refused",
    ))
}

/// `cimd.redirect-not-listed`: a redirect URI the document does not list is refused without a
/// redirect.
async fn redirect_not_listed(cx: &AsCx<'_>) -> Judged {
    cx.cimd_ready("redirect").await?;
    let name = "cimd-redirect.json";
    let url = cx.cimd_url(name);
    let body = hosted(cx.cimd_document(&url));
    let unlisted = format!("http://127.0.0.1:{}/not-listed", cx.redirect_port());
    let (run, _) = cx
        .cimd_attempt(name, &url, body, Some(unlisted.clone()))
        .await?;
    Ok(judge_refusals(
        &[(format!("redirect_uri {unlisted}"), run)],
        true,
        "a redirect URI the metadata document does not list was used",
        "a redirect URI the document does not list was refused without a redirect",
    ))
}

/// `cimd.invalid-document`: an invalid document, or a `client_id` URL with a fragment or dot
/// segments, is refused.
async fn invalid_document(cx: &AsCx<'_>) -> Judged {
    cx.cimd_ready("invalid").await?;
    let mut attempts = Vec::new();
    let url = cx.cimd_url("cimd-not-json.json");
    let body = hosted("this is not JSON");
    let (run, _) = cx
        .cimd_attempt("cimd-not-json.json", &url, body, None)
        .await?;
    attempts.push(("a document that is not JSON".to_string(), run));
    let url = cx.cimd_url("cimd-no-redirects.json");
    let mut document = cx.cimd_document(&url);
    if let Some(o) = document.as_object_mut() {
        o.remove("redirect_uris");
    }
    let body = hosted(document);
    let (run, _) = cx
        .cimd_attempt("cimd-no-redirects.json", &url, body, None)
        .await?;
    attempts.push(("a document without redirect_uris".to_string(), run));
    let url = format!("{}#fragment", cx.cimd_url("cimd-fragment.json"));
    let body = hosted(cx.cimd_document(&url));
    let (run, _) = cx
        .cimd_attempt("cimd-fragment.json", &url, body, None)
        .await?;
    attempts.push(("a client_id URL with a fragment".to_string(), run));
    let url = cx.cimd_url("sub/../cimd-dots.json");
    let body = hosted(cx.cimd_document(&url));
    let (run, _) = cx.cimd_attempt("cimd-dots.json", &url, body, None).await?;
    attempts.push(("a client_id URL with dot segments".to_string(), run));
    Ok(judge_refusals(
        &attempts,
        false,
        "an invalid metadata document or client_id URL was accepted",
        "a non-JSON document, one without redirect_uris, and client_id URLs with a fragment or dot segments were refused",
    ))
}

/// `cimd.no-shared-secret`: a document carrying a client secret is refused.
async fn no_shared_secret(cx: &AsCx<'_>) -> Judged {
    cx.cimd_ready("secret").await?;
    let name = "cimd-secret.json";
    let url = cx.cimd_url(name);
    let mut document = cx.cimd_document(&url);
    document["client_secret"] = json!("a-shared-secret-in-a-public-document");
    document["token_endpoint_auth_method"] = json!("client_secret_post");
    let body = hosted(document);
    let (run, _) = cx.cimd_attempt(name, &url, body, None).await?;
    Ok(judge_refusals(
        &[(
            "a document with client_secret and client_secret_post".to_string(),
            run,
        )],
        false,
        "a metadata document carrying a shared secret was accepted (a public document cannot keep a secret)",
        "a document with a client secret was refused",
    ))
}

/// `cimd.consent-shows-host`: the consent page for a metadata-document client shows where the
/// authorization goes, and should warn that it goes to a program on this computer.
async fn consent_shows_host(cx: &AsCx<'_>) -> Judged {
    cx.cimd_applies()?;
    let name = "cimd-consent.json";
    let url = cx.cimd_url(name);
    cx.cimd_host(name, hosted(cx.cimd_document(&url))).await?;
    // A fresh browser, so that no remembered consent hides the page.
    let fresh = cx.ctx.agent.another();
    let run_fresh = LoginRun {
        ctx: cx.ctx,
        agent: &fresh,
    };
    let pkce = Pkce::new();
    let mut params = cx.run.params(cx.flow, &pkce, &random_text(12));
    params.set("client_id", url.clone());
    let Some(run) = run_fresh
        .authorize(cx.flow, &params, Decision::Approve, Vec::new(), false)
        .await
    else {
        return Err(no_authorization_endpoint());
    };
    let host = url::Url::parse(&cx.flow.redirect_uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default();
    let own_authority = url::Url::parse(&cx.ctx.mcp.url)
        .map(|u| authority_of(&u))
        .unwrap_or_default();
    Ok(judge_consent_shows_host(
        &run,
        &origin_of(&cx.ctx.mcp.url),
        &own_authority,
        &host,
    ))
}

/// `run` is the metadata-document client's authorization in a fresh browser; `own` is the
/// target's origin and `own_authority` its `host:port`; `host` the redirect URI's host.
fn judge_consent_shows_host(
    run: &AuthorizeRun,
    own: &str,
    own_authority: &str,
    host: &str,
) -> Verdict {
    let Some(page) = run
        .pages
        .iter()
        .find(|p| origin_of(&p.url) == own && p.asks_consent())
    else {
        return if run.code().is_some() {
            Verdict::skip("the server showed no consent page for the metadata-document client")
        } else {
            Verdict::not_testable(
                format!(
                    "a valid metadata document was not accepted ({}); see cimd.fetched",
                    run.describe_end()
                ),
                Vec::new(),
            )
        };
    };
    // The server's own URLs (the resource) do not count: same host, another port.
    let text = page
        .text
        .to_ascii_lowercase()
        .replace(&own_authority.to_ascii_lowercase(), " ");
    let evidence = vec![run.hops[page.hop].clone()];
    if host.is_empty() || !text.contains(&host.to_ascii_lowercase()) {
        return Verdict::fail(
            format!(
                "the consent page for a client known only by its metadata document does not show where the authorization goes ({host}): anyone can publish a document naming a localhost redirect URI"
            ),
            evidence,
        );
    }
    if [
        "warning",
        "your own computer",
        "this computer",
        "this device",
    ]
    .iter()
    .any(|w| text.contains(w))
    {
        Verdict::passed(format!(
            "the consent page shows the redirect host {host} and warns that the code goes to a program on this computer"
        ))
    } else {
        Verdict::warn(
            format!(
                "the consent page shows the redirect host {host}, but does not warn that only loopback redirect URIs are registered (SHOULD)"
            ),
            evidence,
        )
    }
}

/// `cimd.fetch-safety`: an oversized document and a redirected document URL are refused.
async fn fetch_safety(cx: &AsCx<'_>) -> Judged {
    cx.cimd_ready("safety").await?;
    let mut attempts = Vec::new();
    let name = "cimd-oversize.json";
    let url = cx.cimd_url(name);
    let mut document = cx.cimd_document(&url);
    document["x_padding"] = json!("x".repeat(8 * 1024));
    let body = hosted(document);
    let (run, _) = cx.cimd_attempt(name, &url, body, None).await?;
    attempts.push(("an 8 KB document".to_string(), run));
    // A redirect to a valid document for the original URL: it must not be followed.
    let url = cx.cimd_url("cimd-redirected.json");
    let target = cx.cimd_url("cimd-redirect-target.json");
    cx.cimd_host("cimd-redirect-target.json", hosted(cx.cimd_document(&url)))
        .await?;
    let body = json!({"body": "", "status": 302, "location": target});
    let (run, _) = cx
        .cimd_attempt("cimd-redirected.json", &url, body, None)
        .await?;
    attempts.push(("a document URL answering with a redirect".to_string(), run));
    Ok(judge_refusals(
        &attempts,
        false,
        "an unsafe metadata-document fetch was accepted",
        "an oversized document and a redirected document URL were refused (private addresses cannot be judged from loopback)",
    ))
}

/// Fails when any of `attempts` (what was tried, and its walk) delivered a code or left for
/// another site; with `no_redirect`, also when it redirected to the named redirect URI at all
/// (an unlisted one). `rule` leads the failure; `ok` is the pass's note.
fn judge_refusals(
    attempts: &[(String, AuthorizeRun)],
    no_redirect: bool,
    rule: &str,
    ok: &str,
) -> Verdict {
    let mut failures = Vec::new();
    let mut evidence = Vec::new();
    for (what, run) in attempts {
        let bad = match run.end {
            AuthorizeEnd::Callback { .. } => no_redirect || run.code().is_some(),
            AuthorizeEnd::Elsewhere { .. } => true,
            AuthorizeEnd::Stopped { .. } | AuthorizeEnd::Intercepted { .. } => false,
        };
        if bad {
            failures.push(format!("{what}: {}", run.describe_end()));
            evidence.extend(run.hops.last().cloned());
        }
    }
    if failures.is_empty() {
        Verdict::passed(ok)
    } else {
        Verdict::fail(format!("{rule}: {}", failures.join("; ")), evidence)
    }
}

impl AsCx<'_> {
    /// The checks apply when the metadata advertises metadata documents.
    fn cimd_applies(&self) -> Result<(), Stop> {
        let metadata = self.metadata()?;
        if metadata.get("client_id_metadata_document_supported") == Some(&Value::Bool(true)) {
            Ok(())
        } else {
            Err(Stop::skip(
                "the authorization server does not advertise Client ID Metadata Documents (client_id_metadata_document_supported)",
            ))
        }
    }

    /// The URL of a document the mock IdP hosts.
    fn cimd_url(&self, name: &str) -> String {
        format!(
            "{}/documents/{name}",
            self.ctx.idp_info.issuer.trim_end_matches('/')
        )
    }

    /// A valid document for `client_id`, listing the login's redirect URI.
    fn cimd_document(&self, client_id: &str) -> Value {
        json!({
            "client_id": client_id,
            "client_name": "mcp-auth-conformance (metadata document)",
            "redirect_uris": [self.flow.redirect_uri],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        })
    }

    /// Hosts `document` (built by [`hosted`]) at the mock IdP's `/documents/{name}`.
    async fn cimd_host(&self, name: &str, mut document: Value) -> Result<(), HarnessError> {
        document["name"] = json!(name);
        self.ctx.idp.host_document(&document).await
    }

    /// Hosts `document` under `name` and walks an authorization request whose `client_id` is
    /// `client_id` (and `redirect_uri`, when given).
    async fn cimd_attempt(
        &self,
        name: &str,
        client_id: &str,
        document: Value,
        redirect_uri: Option<String>,
    ) -> Result<(AuthorizeRun, Pkce), Stop> {
        self.cimd_host(name, document).await?;
        self.walk_pkce(|p| {
            p.set("client_id", client_id);
            if let Some(uri) = redirect_uri {
                p.set("redirect_uri", uri);
            }
        })
        .await
    }

    /// [`AsCx::cimd_applies`], then [`AsCx::cimd_control`]: what every refusal check needs.
    async fn cimd_ready(&self, tag: &str) -> Result<(), Stop> {
        self.cimd_applies()?;
        self.cimd_control(tag).await
    }

    /// A valid document's authorization must deliver a code before a refusal says anything.
    async fn cimd_control(&self, tag: &str) -> Result<(), Stop> {
        let name = format!("cimd-{tag}-control.json");
        let url = self.cimd_url(&name);
        let body = hosted(self.cimd_document(&url));
        let (run, _) = self.cimd_attempt(&name, &url, body, None).await?;
        if run.code().is_some() {
            return Ok(());
        }
        Err(Stop::not_testable(
            format!(
                "a valid metadata document was not accepted either ({}); see cimd.fetched",
                run.describe_end()
            ),
            Vec::new(),
        ))
    }
}

/// A document for `POST /_control/documents` with `body` (the name is added when hosted).
fn hosted(body: impl ToString) -> Value {
    json!({ "body": body.to_string() })
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;
    use crate::testkit::{callback, elsewhere, exchange, render, stopped, with_page};

    fn check(v: Verdict, expect: Expect) {
        expect.assert_eq(&render(&v));
    }

    const DOCUMENT: &str = "http://127.0.0.1:3/documents/cimd-fetched.json";

    const TOKENS: &str = r#"
        POST http://127.0.0.1:2/token
        =>
        200
        content-type: application/json

        {"access_token":"at","token_type":"Bearer"}
    "#;

    const INVALID_CLIENT: &str = r#"
        POST http://127.0.0.1:2/token
        =>
        401
        content-type: application/json

        {"error":"invalid_client"}
    "#;

    #[test]
    fn fetched() {
        let refused = stopped(400, "error=invalid_client");
        check(
            judge_fetched(DOCUMENT, &refused, false, None, true),
            expect![[r#"
                fail: an authorization request with client_id=http://127.0.0.1:3/documents/cimd-fetched.json (a valid metadata document the server did not fetch) got no code: stopped at HTTP 400: error=invalid_client
                  evidence: GET http://127.0.0.1:2/authorize -> 400
            "#]],
        );
        // A loopback document URL is one a server rightly refuses outside tests.
        check(
            judge_fetched(DOCUMENT, &refused, true, None, false),
            expect![[r#"
                not testable: an authorization request with client_id=http://127.0.0.1:3/documents/cimd-fetched.json (a valid metadata document, fetched) got no code: stopped at HTTP 400: error=invalid_client. The document is at a loopback http URL, which a server must refuse outside tests (SSRF); run the server with private metadata URLs allowed and pass --cimd-loopback to judge the metadata-document checks
            "#]],
        );
        let code = callback("code=abc&state=s");
        check(
            judge_fetched(DOCUMENT, &code, true, Some(&exchange(TOKENS)), false),
            expect![[r#"
                pass
                  note: a client identified by its metadata document URL logged in (document fetched)
            "#]],
        );
        check(
            judge_fetched(DOCUMENT, &code, false, Some(&exchange(TOKENS)), false),
            expect![[r#"
                pass
                  note: a client identified by its metadata document URL logged in (document already known)
            "#]],
        );
        check(
            judge_fetched(
                DOCUMENT,
                &code,
                true,
                Some(&exchange(INVALID_CLIENT)),
                false,
            ),
            expect![[r#"
                fail: the metadata-document client got a code, but the code exchange failed: HTTP 401 error=invalid_client
                  evidence: POST http://127.0.0.1:2/token -> 401
            "#]],
        );
    }

    #[test]
    fn refusals() {
        let rule = "an invalid metadata document or client_id URL was accepted";
        let ok = "the invalid documents were refused";
        let tried = |run: AuthorizeRun| vec![("a document that is not JSON".to_string(), run)];
        check(
            judge_refusals(&tried(stopped(400, "invalid client_id")), false, rule, ok),
            expect![[r#"
                pass
                  note: the invalid documents were refused
            "#]],
        );
        // An error sent back to a listed redirect URI is a refusal, unless the redirect URI
        // itself is what must not be used.
        let error = callback("error=invalid_client&state=s");
        check(
            judge_refusals(&tried(error.clone()), false, rule, ok),
            expect![[r#"
                pass
                  note: the invalid documents were refused
            "#]],
        );
        check(
            judge_refusals(&tried(error), true, rule, ok),
            expect![[r#"
                fail: an invalid metadata document or client_id URL was accepted: a document that is not JSON: redirected to the redirect URI with error=invalid_client, state
                  evidence: GET http://127.0.0.1:2/authorize -> 302
            "#]],
        );
        let mut attempts = tried(callback("code=abc&state=s"));
        attempts.push((
            "a client_id URL with a fragment".to_string(),
            elsewhere("https://attacker.example/cb?error=invalid_request"),
        ));
        attempts.push((
            "a client_id URL with dot segments".to_string(),
            stopped(400, "invalid client_id"),
        ));
        check(
            judge_refusals(&attempts, false, rule, ok),
            expect![[r#"
            fail: an invalid metadata document or client_id URL was accepted: a document that is not JSON: redirected to the redirect URI with code=…, state; a client_id URL with a fragment: redirected to https://attacker.example/cb?error=invalid_request
              evidence: GET http://127.0.0.1:2/authorize -> 302
              evidence: GET http://127.0.0.1:2/authorize -> 302
        "#]],
        );
    }

    #[test]
    fn consent_shows_host() {
        let own = "http://127.0.0.1:2";
        let judge =
            |run: &AuthorizeRun| judge_consent_shows_host(run, own, "127.0.0.1:2", "127.0.0.1");
        let consent =
            |text: &str| with_page(callback("code=abc"), "http://127.0.0.1:2/consent", text);
        check(
            judge(&consent(
                "Warning: the code goes to a program on this computer at 127.0.0.1",
            )),
            expect![[r#"
                pass
                  note: the consent page shows the redirect host 127.0.0.1 and warns that the code goes to a program on this computer
            "#]],
        );
        check(
            judge(&consent("Sign in to http://127.0.0.1:1/callback?")),
            expect![[r#"
                warn: the consent page shows the redirect host 127.0.0.1, but does not warn that only loopback redirect URIs are registered (SHOULD)
                  evidence: GET http://127.0.0.1:2/authorize -> 302
            "#]],
        );
        // The server's own address (the same host, its port) is not where the code goes.
        check(
            judge(&consent("Allow this client to use http://127.0.0.1:2/mcp?")),
            expect![[r#"
                fail: the consent page for a client known only by its metadata document does not show where the authorization goes (127.0.0.1): anyone can publish a document naming a localhost redirect URI
                  evidence: GET http://127.0.0.1:2/authorize -> 302
            "#]],
        );
        check(
            judge(&callback("code=abc")),
            expect![[r#"
            skip: the server showed no consent page for the metadata-document client
        "#]],
        );
        check(
            judge(&stopped(400, "invalid client_id")),
            expect![[r#"
                not testable: a valid metadata document was not accepted (stopped at HTTP 400: invalid client_id); see cimd.fetched
            "#]],
        );
    }
}
