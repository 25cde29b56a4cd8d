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

/// `redirect.exact-match`: a redirect URI that differs from the registered one in path, scheme or
/// anything but a loopback port is refused without a redirect.
async fn exact_match(cx: &AsCx<'_>) -> Judged {
    let port = cx.redirect_port();
    let uris = vec![
        format!("http://127.0.0.1:{port}/callback/extra"),
        format!("http://127.0.0.1:{port}/callbackx"),
        format!("https://127.0.0.1:{port}/callback"),
        format!("http://127.0.0.1:{port}/other"),
    ];
    let tried = walk_each(cx, uris).await?;
    Ok(judge_refused(
        &tried,
        "redirect URIs that are not the registered one were accepted",
    ))
}

/// `redirect.loopback-any-port`: the registered loopback redirect URI is accepted on another port
/// (RFC 8252 §7.3).
async fn loopback_any_port(cx: &AsCx<'_>) -> Judged {
    let other = if cx.redirect_port() == 65_000 {
        65_001
    } else {
        65_000
    };
    let uri = format!("http://127.0.0.1:{other}/callback");
    let run = cx.walk(|p| p.set("redirect_uri", uri.clone())).await?;
    Ok(judge_loopback_any_port(&run, &uri))
}

/// `run` asked for the registered loopback redirect URI with its port changed to `uri`'s.
fn judge_loopback_any_port(run: &AuthorizeRun, uri: &str) -> Verdict {
    if run.code().is_some() {
        Verdict::passed(format!(
            "the registered loopback redirect URI on another port was accepted ({uri})"
        ))
    } else {
        Verdict::fail(
            format!(
                "the registered loopback redirect URI with another port ({uri}) was refused: {}; native clients pick a free port each time (RFC 8252 §7.3)",
                run.describe_end()
            ),
            run.hops.last().cloned().into_iter().collect(),
        )
    }
}

/// `redirect.localhost-any-port`: a registered `localhost` redirect URI is accepted on another
/// port too.
async fn localhost_any_port(cx: &AsCx<'_>) -> Judged {
    let Some(endpoint) = cx.flow.endpoint("registration_endpoint") else {
        return Err(Stop::skip(
            "needs dynamic registration to register a localhost redirect URI",
        ));
    };
    if matches!(
        cx.flow.client.as_ref().map(|c| &c.source),
        Some(ClientSource::CommandLine)
    ) {
        return Err(Stop::skip(
            "the run used a pre-registered client (--client-id)",
        ));
    }
    let registered = "http://localhost:41000/callback";
    let e = register(
        cx.ctx,
        &endpoint,
        &client_metadata(registered, &cx.flow.scope),
    )
    .await;
    let Ok(v) = registration_result(&e) else {
        return Err(Stop::not_testable(
            "the registration of a localhost redirect URI was refused",
            vec![e],
        ));
    };
    let client_id = v
        .get("client_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let requested = "http://localhost:41001/callback".to_string();
    let run = cx
        .walk(|p| {
            p.set("client_id", client_id.clone());
            p.set("redirect_uri", requested.clone());
        })
        .await?;
    Ok(judge_localhost_any_port(&run, registered, &requested))
}

/// `run` asked for `requested`, the `registered` redirect URI on another port.
fn judge_localhost_any_port(run: &AuthorizeRun, registered: &str, requested: &str) -> Verdict {
    if run.code().is_some() {
        Verdict::passed(format!(
            "registered {registered}; the same URI on another port was accepted"
        ))
    } else {
        Verdict::fail(
            format!(
                "registered {registered}, but the same URI on another port ({requested}) was refused: {}",
                run.describe_end()
            ),
            run.hops.last().cloned().into_iter().collect(),
        )
    }
}

/// `redirect.loopback-strict-rest`: on a loopback redirect URI only the port may change; another
/// path or query is refused.
async fn loopback_strict_rest(cx: &AsCx<'_>) -> Judged {
    let port = cx.redirect_port();
    let other = port.wrapping_add(1).max(1024);
    let uris = vec![
        format!("http://127.0.0.1:{other}/other"),
        format!("http://127.0.0.1:{other}/callback/x"),
        format!("http://127.0.0.1:{other}/callback?extra=1"),
    ];
    let tried = walk_each(cx, uris).await?;
    Ok(judge_refused(
        &tried,
        "only the port of a loopback redirect URI may change",
    ))
}

/// `redirect.lookalikes`: redirect URIs that only look like loopback ones are refused.
async fn lookalikes(cx: &AsCx<'_>) -> Judged {
    let uris = vec![
        "http://localhost@attacker.example/callback".to_string(),
        "http://127.0.0.1.attacker.example/callback".to_string(),
        "http://localhost.attacker.example/callback".to_string(),
    ];
    let tried = walk_each(cx, uris).await?;
    Ok(judge_refused(
        &tried,
        "look-alike redirect URIs were accepted",
    ))
}

/// `redirect.no-redirect-on-bad-client`: errors about the client or its redirect URI are shown,
/// never redirected.
async fn no_redirect_on_bad_client(cx: &AsCx<'_>) -> Judged {
    let unknown = format!("never-registered-{}", random_text(6));
    let runs = [
        (
            "an unknown client_id",
            cx.walk(|p| p.set("client_id", unknown.clone())).await?,
        ),
        (
            "an unregistered redirect URI",
            cx.walk(|p| p.set("redirect_uri", "https://attacker.example/callback"))
                .await?,
        ),
    ];
    Ok(judge_no_redirect_on_bad_client(&runs))
}

/// `runs`: what was wrong with each authorization request, and its walk.
fn judge_no_redirect_on_bad_client(runs: &[(&str, AuthorizeRun)]) -> Verdict {
    let mut failures = Vec::new();
    let mut evidence = Vec::new();
    for (what, run) in runs {
        if !matches!(run.end, AuthorizeEnd::Stopped { .. }) {
            failures.push(format!("{what}: {}", run.describe_end()));
            evidence.extend(run.hops.last().cloned());
        }
    }
    if failures.is_empty() {
        Verdict::passed("errors about the client or its redirect URI are shown, not redirected")
    } else {
        Verdict::fail(
            format!(
                "{} (RFC 6749 §4.1.2.1: the user agent must not be redirected to an unverified URI)",
                failures.join("; ")
            ),
            evidence,
        )
    }
}

/// Walks one authorization request per redirect URI, each URI beside its walk.
async fn walk_each(cx: &AsCx<'_>, uris: Vec<String>) -> Result<Vec<(String, AuthorizeRun)>, Stop> {
    let mut tried = Vec::new();
    for uri in uris {
        let run = cx.walk(|p| p.set("redirect_uri", uri.clone())).await?;
        tried.push((uri, run));
    }
    Ok(tried)
}

/// `tried`: redirect URIs that must be refused, each with its walk; any that got a redirect breaks
/// `rule`.
fn judge_refused(tried: &[(String, AuthorizeRun)], rule: &str) -> Verdict {
    let mut failures = Vec::new();
    let mut evidence = Vec::new();
    for (uri, run) in tried {
        match &run.end {
            AuthorizeEnd::Callback { .. } | AuthorizeEnd::Elsewhere { .. } => {
                failures.push(format!("{uri}: {}", run.describe_end()));
                evidence.extend(run.hops.last().cloned());
            }
            AuthorizeEnd::Stopped { .. } | AuthorizeEnd::Intercepted { .. } => {}
        }
    }
    if failures.is_empty() {
        Verdict::passed(format!(
            "each refused without a redirect ({} tried)",
            tried.len()
        ))
    } else {
        Verdict::fail(format!("{rule}: {}", failures.join("; ")), evidence)
    }
}

impl AsCx<'_> {
    pub(super) fn redirect_port(&self) -> u16 {
        url::Url::parse(&self.flow.redirect_uri)
            .ok()
            .and_then(|u| u.port())
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;
    use crate::testkit::{callback, elsewhere, render, stopped};

    fn check(v: Verdict, expect: Expect) {
        expect.assert_eq(&render(&v));
    }

    #[test]
    fn loopback_any_port() {
        let uri = "http://127.0.0.1:65000/callback";
        check(
            judge_loopback_any_port(&callback("code=c&state=s"), uri),
            expect![[r#"
                pass
                  note: the registered loopback redirect URI on another port was accepted (http://127.0.0.1:65000/callback)
            "#]],
        );
        check(
            judge_loopback_any_port(&stopped(400, "invalid redirect_uri"), uri),
            expect![[r#"
                fail: the registered loopback redirect URI with another port (http://127.0.0.1:65000/callback) was refused: stopped at HTTP 400: invalid redirect_uri; native clients pick a free port each time (RFC 8252 §7.3)
                  evidence: GET http://127.0.0.1:2/authorize -> 400
            "#]],
        );
    }

    #[test]
    fn localhost_any_port() {
        let registered = "http://localhost:41000/callback";
        let requested = "http://localhost:41001/callback";
        check(
            judge_localhost_any_port(&callback("code=c&state=s"), registered, requested),
            expect![[r#"
                pass
                  note: registered http://localhost:41000/callback; the same URI on another port was accepted
            "#]],
        );
        check(
            judge_localhost_any_port(
                &stopped(400, "redirect_uri mismatch"),
                registered,
                requested,
            ),
            expect![[r#"
                fail: registered http://localhost:41000/callback, but the same URI on another port (http://localhost:41001/callback) was refused: stopped at HTTP 400: redirect_uri mismatch
                  evidence: GET http://127.0.0.1:2/authorize -> 400
            "#]],
        );
    }

    #[test]
    fn refused() {
        let tried = |runs: Vec<AuthorizeRun>| -> Vec<(String, AuthorizeRun)> {
            [
                "http://127.0.0.1:5/callback/extra",
                "https://127.0.0.1:5/callback",
            ]
            .into_iter()
            .map(str::to_string)
            .zip(runs)
            .collect()
        };
        check(
            judge_refused(
                &tried(vec![
                    stopped(400, "bad redirect_uri"),
                    stopped(400, "bad redirect_uri"),
                ]),
                "redirect URIs that are not the registered one were accepted",
            ),
            expect![[r#"
                pass
                  note: each refused without a redirect (2 tried)
            "#]],
        );
        // A redirect with an error is still a redirect to a URI nobody registered.
        check(
            judge_refused(
                &tried(vec![
                    callback("error=invalid_request&state=s"),
                    elsewhere("https://127.0.0.1:5/callback?code=c"),
                ]),
                "redirect URIs that are not the registered one were accepted",
            ),
            expect![[r#"
                fail: redirect URIs that are not the registered one were accepted: http://127.0.0.1:5/callback/extra: redirected to the redirect URI with error=invalid_request, state; https://127.0.0.1:5/callback: redirected to https://127.0.0.1:5/callback?code=c
                  evidence: GET http://127.0.0.1:2/authorize -> 302
                  evidence: GET http://127.0.0.1:2/authorize -> 302
            "#]],
        );
    }

    #[test]
    fn no_redirect_on_bad_client() {
        check(
            judge_no_redirect_on_bad_client(&[
                ("an unknown client_id", stopped(400, "unknown client")),
                (
                    "an unregistered redirect URI",
                    stopped(400, "bad redirect_uri"),
                ),
            ]),
            expect![[r#"
                pass
                  note: errors about the client or its redirect URI are shown, not redirected
            "#]],
        );
        check(
            judge_no_redirect_on_bad_client(&[
                (
                    "an unknown client_id",
                    callback("error=invalid_client&state=s"),
                ),
                (
                    "an unregistered redirect URI",
                    elsewhere("https://attacker.example/callback?error=invalid_request"),
                ),
            ]),
            expect![[r#"
                fail: an unknown client_id: redirected to the redirect URI with error=invalid_client, state; an unregistered redirect URI: redirected to https://attacker.example/callback?error=invalid_request (RFC 6749 §4.1.2.1: the user agent must not be redirected to an unverified URI)
                  evidence: GET http://127.0.0.1:2/authorize -> 302
                  evidence: GET http://127.0.0.1:2/authorize -> 302
            "#]],
        );
    }
}
