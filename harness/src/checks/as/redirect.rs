//! Redirect URI matching: exact for registered URIs, any port for RFC 8252 loopback redirects, and
//! look-alikes refused.

use super::*;

pub(crate) const PROBES: &[Probe] = &[
    as_probe!("redirect.exact-match" => exact_match),
    as_probe!("redirect.loopback-any-port" => loopback_any_port),
    as_probe!("redirect.localhost-any-port" => localhost_any_port),
    as_probe!("redirect.loopback-strict-rest" => loopback_strict_rest),
    as_probe!("redirect.lookalikes" => lookalikes),
    as_probe!("redirect.no-redirect-on-bad-client" => no_redirect_on_bad_client),
];

/// `redirect.exact-match`.
async fn exact_match(cx: &AsCx<'_>) -> StepOutcome {
    let port = cx.redirect_port();
    let uris = vec![
        format!("http://127.0.0.1:{port}/callback/extra"),
        format!("http://127.0.0.1:{port}/callbackx"),
        format!("https://127.0.0.1:{port}/callback"),
        format!("http://127.0.0.1:{port}/other"),
    ];
    cx.refuse_redirects(
        &uris,
        "redirect URIs that are not the registered one were accepted",
    )
    .await
}

/// `redirect.loopback-any-port`.
async fn loopback_any_port(cx: &AsCx<'_>) -> StepOutcome {
    if let Err(o) = cx.logged_in() {
        return o;
    }
    let other = if cx.redirect_port() == 65_000 {
        65_001
    } else {
        65_000
    };
    let uri = format!("http://127.0.0.1:{other}/callback");
    let Some(run) = cx
        .authorize_with(|p| p.set("redirect_uri", uri.clone()))
        .await
    else {
        return StepOutcome::not_testable("no authorization endpoint", Vec::new());
    };
    if run.code().is_some() {
        pass(format!(
            "the registered loopback redirect URI on another port was accepted ({uri})"
        ))
    } else {
        StepOutcome::fail(
            format!(
                "the registered loopback redirect URI with another port ({uri}) was refused: {}; native clients pick a free port each time (RFC 8252 §7.3)",
                run.describe_end()
            ),
            run.hops.last().cloned().into_iter().collect(),
        )
    }
}

/// `redirect.localhost-any-port`.
async fn localhost_any_port(cx: &AsCx<'_>) -> StepOutcome {
    if let Err(o) = cx.logged_in() {
        return o;
    }
    let Some(endpoint) = cx.flow.endpoint("registration_endpoint") else {
        return StepOutcome::skip(
            "needs dynamic registration to register a localhost redirect URI",
        );
    };
    if matches!(
        cx.flow.client.as_ref().map(|c| &c.source),
        Some(ClientSource::CommandLine)
    ) {
        return StepOutcome::skip("the run used a pre-registered client (--client-id)");
    }
    let registered = "http://localhost:41000/callback";
    let e = register(
        cx.ctx,
        &endpoint,
        &client_metadata(registered, &cx.flow.scope),
    )
    .await;
    let Ok(v) = registration_result(&e) else {
        return StepOutcome::not_testable(
            "the registration of a localhost redirect URI was refused",
            vec![e],
        );
    };
    let client_id = v
        .get("client_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let requested = "http://localhost:41001/callback".to_string();
    let Some(run) = cx
        .authorize_with(|p| {
            p.set("client_id", client_id.clone());
            p.set("redirect_uri", requested.clone());
        })
        .await
    else {
        return StepOutcome::not_testable("no authorization endpoint", Vec::new());
    };
    if run.code().is_some() {
        pass(format!(
            "registered {registered}; the same URI on another port was accepted"
        ))
    } else {
        StepOutcome::fail(
            format!(
                "registered {registered}, but the same URI on another port ({requested}) was refused: {}",
                run.describe_end()
            ),
            run.hops.last().cloned().into_iter().collect(),
        )
    }
}

/// `redirect.loopback-strict-rest`.
async fn loopback_strict_rest(cx: &AsCx<'_>) -> StepOutcome {
    let port = cx.redirect_port();
    let other = port.wrapping_add(1).max(1024);
    let uris = vec![
        format!("http://127.0.0.1:{other}/other"),
        format!("http://127.0.0.1:{other}/callback/x"),
        format!("http://127.0.0.1:{other}/callback?extra=1"),
    ];
    cx.refuse_redirects(&uris, "only the port of a loopback redirect URI may change")
        .await
}

/// `redirect.lookalikes`.
async fn lookalikes(cx: &AsCx<'_>) -> StepOutcome {
    let uris = vec![
        "http://localhost@attacker.example/callback".to_string(),
        "http://127.0.0.1.attacker.example/callback".to_string(),
        "http://localhost.attacker.example/callback".to_string(),
    ];
    cx.refuse_redirects(&uris, "look-alike redirect URIs were accepted")
        .await
}

/// `redirect.no-redirect-on-bad-client`.
async fn no_redirect_on_bad_client(cx: &AsCx<'_>) -> StepOutcome {
    if let Err(o) = cx.logged_in() {
        return o;
    }
    let mut failures = Vec::new();
    let mut evidence = Vec::new();
    let unknown = format!("never-registered-{}", random_text(6));
    let runs = [
        (
            "an unknown client_id",
            cx.authorize_with(|p| p.set("client_id", unknown.clone()))
                .await,
        ),
        (
            "an unregistered redirect URI",
            cx.authorize_with(|p| p.set("redirect_uri", "https://attacker.example/callback"))
                .await,
        ),
    ];
    for (what, run) in runs {
        let Some(run) = run else {
            return StepOutcome::not_testable("no authorization endpoint", Vec::new());
        };
        if !matches!(run.end, AuthorizeEnd::Stopped { .. }) {
            failures.push(format!("{what}: {}", run.describe_end()));
            evidence.extend(run.hops.last().cloned());
        }
    }
    if failures.is_empty() {
        pass("errors about the client or its redirect URI are shown, not redirected")
    } else {
        StepOutcome::fail(
            format!(
                "{} (RFC 6749 §4.1.2.1: the user agent must not be redirected to an unverified URI)",
                failures.join("; ")
            ),
            evidence,
        )
    }
}

impl AsCx<'_> {
    pub(super) fn redirect_port(&self) -> u16 {
        url::Url::parse(&self.flow.redirect_uri)
            .ok()
            .and_then(|u| u.port())
            .unwrap_or(0)
    }

    /// Tries redirect URIs that must be refused; fails on any that gets a redirect.
    pub(super) async fn refuse_redirects(&self, uris: &[String], rule: &str) -> StepOutcome {
        if let Err(o) = self.logged_in() {
            return o;
        }
        let mut failures = Vec::new();
        let mut evidence = Vec::new();
        for uri in uris {
            let Some(run) = self
                .authorize_with(|p| p.set("redirect_uri", uri.clone()))
                .await
            else {
                return StepOutcome::not_testable("no authorization endpoint", Vec::new());
            };
            match &run.end {
                AuthorizeEnd::Callback { .. } | AuthorizeEnd::Elsewhere { .. } => {
                    failures.push(format!("{uri}: {}", run.describe_end()));
                    evidence.extend(run.hops.last().cloned());
                }
                AuthorizeEnd::Stopped { .. } | AuthorizeEnd::Intercepted { .. } => {}
            }
        }
        if failures.is_empty() {
            pass(format!(
                "each refused without a redirect ({} tried)",
                uris.len()
            ))
        } else {
            StepOutcome::fail(format!("{rule}: {}", failures.join("; ")), evidence)
        }
    }
}
