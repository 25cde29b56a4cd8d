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

/// `cimd.fetched`.
async fn fetched(cx: &AsCx<'_>) -> Result<StepOutcome, HarnessError> {
    if let Err(o) = cx.cimd_applies() {
        return Ok(o);
    }
    let name = "cimd-fetched.json";
    let url = cx.cimd_url(name);
    let mark = cx.ctx.idp.last_seq().await?;
    let body = hosted(cx.cimd_document(&url));
    let Some((run, pkce)) = cx.cimd_attempt(name, &url, body, None).await? else {
        return Ok(StepOutcome::not_testable(
            "no authorization endpoint",
            Vec::new(),
        ));
    };
    let fetched = cx
        .ctx
        .idp
        .requests_since(mark)
        .await?
        .iter()
        .any(|r| r.endpoint == "document" && r.path.ends_with(name));
    let Some(code) = run.code().map(str::to_string) else {
        let why = format!(
            "an authorization request with client_id={url} (a valid metadata document{}) got no code: {}",
            if fetched {
                ", fetched"
            } else {
                " the server did not fetch"
            },
            run.describe_end()
        );
        return Ok(if cx.ctx.options.cimd_loopback {
            StepOutcome::fail(why, run.hops.last().cloned().into_iter().collect())
        } else {
            StepOutcome::not_testable(
                format!(
                    "{why}. The document is at a loopback http URL, which a server must refuse outside tests (SSRF); run the server with private metadata URLs allowed and pass --cimd-loopback to judge the metadata-document checks"
                ),
                Vec::new(),
            )
        });
    };
    let client = ClientAuth::None {
        client_id: url.clone(),
    };
    let form = cx.run.code_form(cx.flow, &code, Some(&pkce.verifier));
    let e = token_request(cx.ctx, &cx.token_endpoint(), &form, &client).await;
    match token_set(&e) {
        Ok(_) => Ok(pass(format!(
            "a client identified by its metadata document URL logged in (document {})",
            if fetched { "fetched" } else { "already known" }
        ))),
        Err(why) => Ok(StepOutcome::fail(
            format!("the metadata-document client got a code, but the code exchange failed: {why}"),
            vec![e],
        )),
    }
}

/// `cimd.client-id-mismatch`.
async fn client_id_mismatch(cx: &AsCx<'_>) -> Result<StepOutcome, HarnessError> {
    if let Err(o) = cx.cimd_ready("mismatch").await? {
        return Ok(o);
    }
    let name = "cimd-mismatch.json";
    let url = cx.cimd_url(name);
    let body = hosted(cx.cimd_document("https://other-client.example/client.json"));
    let attempt = cx.cimd_attempt(name, &url, body, None).await?;
    Ok(AsCx::cimd_refusals(
        vec![("a document naming another client_id".to_string(), attempt)],
        false,
        "a metadata document whose client_id is not its own URL was accepted",
        "a document whose client_id differs from its URL was refused",
    ))
}

/// `cimd.redirect-not-listed`.
async fn redirect_not_listed(cx: &AsCx<'_>) -> Result<StepOutcome, HarnessError> {
    if let Err(o) = cx.cimd_ready("redirect").await? {
        return Ok(o);
    }
    let name = "cimd-redirect.json";
    let url = cx.cimd_url(name);
    let body = hosted(cx.cimd_document(&url));
    let unlisted = format!("http://127.0.0.1:{}/not-listed", cx.redirect_port());
    let attempt = cx
        .cimd_attempt(name, &url, body, Some(unlisted.clone()))
        .await?;
    Ok(AsCx::cimd_refusals(
        vec![(format!("redirect_uri {unlisted}"), attempt)],
        true,
        "a redirect URI the metadata document does not list was used",
        "a redirect URI the document does not list was refused without a redirect",
    ))
}

/// `cimd.invalid-document`.
async fn invalid_document(cx: &AsCx<'_>) -> Result<StepOutcome, HarnessError> {
    if let Err(o) = cx.cimd_ready("invalid").await? {
        return Ok(o);
    }
    let mut attempts = Vec::new();
    let url = cx.cimd_url("cimd-not-json.json");
    let body = hosted("this is not JSON");
    attempts.push((
        "a document that is not JSON".to_string(),
        cx.cimd_attempt("cimd-not-json.json", &url, body, None)
            .await?,
    ));
    let url = cx.cimd_url("cimd-no-redirects.json");
    let mut document = cx.cimd_document(&url);
    if let Some(o) = document.as_object_mut() {
        o.remove("redirect_uris");
    }
    let body = hosted(document);
    attempts.push((
        "a document without redirect_uris".to_string(),
        cx.cimd_attempt("cimd-no-redirects.json", &url, body, None)
            .await?,
    ));
    let url = format!("{}#fragment", cx.cimd_url("cimd-fragment.json"));
    let body = hosted(cx.cimd_document(&url));
    attempts.push((
        "a client_id URL with a fragment".to_string(),
        cx.cimd_attempt("cimd-fragment.json", &url, body, None)
            .await?,
    ));
    let url = cx.cimd_url("sub/../cimd-dots.json");
    let body = hosted(cx.cimd_document(&url));
    attempts.push((
        "a client_id URL with dot segments".to_string(),
        cx.cimd_attempt("cimd-dots.json", &url, body, None).await?,
    ));
    Ok(AsCx::cimd_refusals(
        attempts,
        false,
        "an invalid metadata document or client_id URL was accepted",
        "a non-JSON document, one without redirect_uris, and client_id URLs with a fragment or dot segments were refused",
    ))
}

/// `cimd.no-shared-secret`.
async fn no_shared_secret(cx: &AsCx<'_>) -> Result<StepOutcome, HarnessError> {
    if let Err(o) = cx.cimd_ready("secret").await? {
        return Ok(o);
    }
    let name = "cimd-secret.json";
    let url = cx.cimd_url(name);
    let mut document = cx.cimd_document(&url);
    document["client_secret"] = json!("a-shared-secret-in-a-public-document");
    document["token_endpoint_auth_method"] = json!("client_secret_post");
    let body = hosted(document);
    let attempt = cx.cimd_attempt(name, &url, body, None).await?;
    Ok(AsCx::cimd_refusals(
        vec![(
            "a document with client_secret and client_secret_post".to_string(),
            attempt,
        )],
        false,
        "a metadata document carrying a shared secret was accepted (a public document cannot keep a secret)",
        "a document with a client secret was refused",
    ))
}

/// `cimd.consent-shows-host`.
async fn consent_shows_host(cx: &AsCx<'_>) -> Result<StepOutcome, HarnessError> {
    if let Err(o) = cx.cimd_applies() {
        return Ok(o);
    }
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
        return Ok(StepOutcome::not_testable(
            "no authorization endpoint",
            Vec::new(),
        ));
    };
    let own = origin_of(&cx.ctx.mcp.url);
    let Some(page) = run.pages.iter().find(|p| origin_of(&p.url) == own) else {
        return Ok(if run.code().is_some() {
            StepOutcome::skip("the server showed no consent page for the metadata-document client")
        } else {
            StepOutcome::not_testable(
                format!(
                    "a valid metadata document was not accepted ({}); see cimd.fetched",
                    run.describe_end()
                ),
                Vec::new(),
            )
        });
    };
    let host = url::Url::parse(&cx.flow.redirect_uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default();
    // The server's own URLs (the resource) do not count: same host, another port.
    let own_authority = url::Url::parse(&cx.ctx.mcp.url)
        .map(|u| authority_of(&u))
        .unwrap_or_default();
    let text = page
        .text
        .to_ascii_lowercase()
        .replace(&own_authority.to_ascii_lowercase(), " ");
    let evidence = vec![run.hops[page.hop].clone()];
    if host.is_empty() || !text.contains(&host.to_ascii_lowercase()) {
        return Ok(StepOutcome::fail(
            format!(
                "the consent page for a client known only by its metadata document does not show where the authorization goes ({host}): anyone can publish a document naming a localhost redirect URI"
            ),
            evidence,
        ));
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
        Ok(pass(format!(
            "the consent page shows the redirect host {host} and warns that the code goes to a program on this computer"
        )))
    } else {
        Ok(StepOutcome::warn(
            format!(
                "the consent page shows the redirect host {host}, but does not warn that only loopback redirect URIs are registered (SHOULD)"
            ),
            evidence,
        ))
    }
}

/// `cimd.fetch-safety`.
async fn fetch_safety(cx: &AsCx<'_>) -> Result<StepOutcome, HarnessError> {
    if let Err(o) = cx.cimd_ready("safety").await? {
        return Ok(o);
    }
    let mut attempts = Vec::new();
    let name = "cimd-oversize.json";
    let url = cx.cimd_url(name);
    let mut document = cx.cimd_document(&url);
    document["x_padding"] = json!("x".repeat(8 * 1024));
    let body = hosted(document);
    attempts.push((
        "an 8 KB document".to_string(),
        cx.cimd_attempt(name, &url, body, None).await?,
    ));
    // A redirect to a valid document for the original URL: it must not be followed.
    let url = cx.cimd_url("cimd-redirected.json");
    let target = cx.cimd_url("cimd-redirect-target.json");
    cx.cimd_host("cimd-redirect-target.json", hosted(cx.cimd_document(&url)))
        .await?;
    let body = json!({"body": "", "status": 302, "location": target});
    attempts.push((
        "a document URL answering with a redirect".to_string(),
        cx.cimd_attempt("cimd-redirected.json", &url, body, None)
            .await?,
    ));
    Ok(AsCx::cimd_refusals(
        attempts,
        false,
        "an unsafe metadata-document fetch was accepted",
        "an oversized document and a redirected document URL were refused (private addresses cannot be judged from loopback)",
    ))
}

impl AsCx<'_> {
    /// The checks apply when the metadata advertises metadata documents and the login worked.
    pub(super) fn cimd_applies(&self) -> Result<(), StepOutcome> {
        self.logged_in()?;
        let metadata = self.has_metadata()?;
        if metadata.get("client_id_metadata_document_supported") == Some(&Value::Bool(true)) {
            Ok(())
        } else {
            Err(StepOutcome::skip(
                "the authorization server does not advertise Client ID Metadata Documents (client_id_metadata_document_supported)",
            ))
        }
    }

    /// The URL of a document the mock IdP hosts.
    pub(super) fn cimd_url(&self, name: &str) -> String {
        format!(
            "{}/documents/{name}",
            self.ctx.idp_info.issuer.trim_end_matches('/')
        )
    }

    /// A valid document for `client_id`, listing the login's redirect URI.
    pub(super) fn cimd_document(&self, client_id: &str) -> Value {
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
    pub(super) async fn cimd_host(
        &self,
        name: &str,
        mut document: Value,
    ) -> Result<(), HarnessError> {
        document["name"] = json!(name);
        self.ctx.idp.host_document(&document).await
    }

    /// Hosts `document` under `name` and walks an authorization request whose `client_id` is
    /// `client_id` (and `redirect_uri`, when given).
    pub(super) async fn cimd_attempt(
        &self,
        name: &str,
        client_id: &str,
        document: Value,
        redirect_uri: Option<String>,
    ) -> Result<Option<(AuthorizeRun, Pkce)>, HarnessError> {
        self.cimd_host(name, document).await?;
        Ok(self
            .authorize_with_pkce(|p| {
                p.set("client_id", client_id);
                if let Some(uri) = redirect_uri {
                    p.set("redirect_uri", uri);
                }
            })
            .await)
    }

    /// [`Probes::cimd_applies`], then [`Probes::cimd_control`]: what every refusal check needs.
    pub(super) async fn cimd_ready(
        &self,
        tag: &str,
    ) -> Result<Result<(), StepOutcome>, HarnessError> {
        if let Err(o) = self.cimd_applies() {
            return Ok(Err(o));
        }
        self.cimd_control(tag).await
    }

    /// A valid document's authorization must deliver a code before a refusal says anything.
    pub(super) async fn cimd_control(
        &self,
        tag: &str,
    ) -> Result<Result<(), StepOutcome>, HarnessError> {
        let name = format!("cimd-{tag}-control.json");
        let url = self.cimd_url(&name);
        let body = hosted(self.cimd_document(&url));
        let Some((run, _)) = self.cimd_attempt(&name, &url, body, None).await? else {
            return Ok(Err(StepOutcome::not_testable(
                "no authorization endpoint",
                Vec::new(),
            )));
        };
        if run.code().is_some() {
            return Ok(Ok(()));
        }
        Ok(Err(StepOutcome::not_testable(
            format!(
                "a valid metadata document was not accepted either ({}); see cimd.fetched",
                run.describe_end()
            ),
            Vec::new(),
        )))
    }

    /// Fails when any of `attempts` delivered a code or left for another site; with
    /// `no_redirect`, also when it redirected to the named redirect URI at all (an unlisted one).
    pub(super) fn cimd_refusals(
        attempts: Vec<(String, Option<(AuthorizeRun, Pkce)>)>,
        no_redirect: bool,
        rule: &str,
        ok: &str,
    ) -> StepOutcome {
        let mut failures = Vec::new();
        let mut evidence = Vec::new();
        for (what, attempt) in attempts {
            let Some((run, _)) = attempt else {
                return StepOutcome::not_testable("no authorization endpoint", Vec::new());
            };
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
            pass(ok)
        } else {
            StepOutcome::fail(format!("{rule}: {}", failures.join("; ")), evidence)
        }
    }
}
