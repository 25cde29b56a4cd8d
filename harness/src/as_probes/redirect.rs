//! Redirect URI matching: exact for registered URIs, any port for RFC 8252 loopback redirects, and
//! look-alikes refused.

use super::*;

impl Probes<'_> {
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

    pub(super) async fn redirect_exact_match(&self) -> StepOutcome {
        let port = self.redirect_port();
        let uris = vec![
            format!("http://127.0.0.1:{port}/callback/extra"),
            format!("http://127.0.0.1:{port}/callbackx"),
            format!("https://127.0.0.1:{port}/callback"),
            format!("http://127.0.0.1:{port}/other"),
        ];
        self.refuse_redirects(
            &uris,
            "redirect URIs that are not the registered one were accepted",
        )
        .await
    }

    pub(super) async fn redirect_loopback_any_port(&self) -> StepOutcome {
        if let Err(o) = self.logged_in() {
            return o;
        }
        let other = if self.redirect_port() == 65_000 {
            65_001
        } else {
            65_000
        };
        let uri = format!("http://127.0.0.1:{other}/callback");
        let Some(run) = self
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

    pub(super) async fn redirect_localhost_any_port(&self) -> StepOutcome {
        if let Err(o) = self.logged_in() {
            return o;
        }
        let Some(endpoint) = self.flow.endpoint("registration_endpoint") else {
            return StepOutcome::skip(
                "needs dynamic registration to register a localhost redirect URI",
            );
        };
        if matches!(
            self.flow.client.as_ref().map(|c| &c.source),
            Some(ClientSource::CommandLine)
        ) {
            return StepOutcome::skip("the run used a pre-registered client (--client-id)");
        }
        let registered = "http://localhost:41000/callback";
        let e = register(
            self.ctx,
            &endpoint,
            &client_metadata(registered, &self.flow.scope),
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
        let Some(run) = self
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

    pub(super) async fn redirect_loopback_strict_rest(&self) -> StepOutcome {
        let port = self.redirect_port();
        let other = port.wrapping_add(1).max(1024);
        let uris = vec![
            format!("http://127.0.0.1:{other}/other"),
            format!("http://127.0.0.1:{other}/callback/x"),
            format!("http://127.0.0.1:{other}/callback?extra=1"),
        ];
        self.refuse_redirects(&uris, "only the port of a loopback redirect URI may change")
            .await
    }

    pub(super) async fn redirect_lookalikes(&self) -> StepOutcome {
        let uris = vec![
            "http://localhost@attacker.example/callback".to_string(),
            "http://127.0.0.1.attacker.example/callback".to_string(),
            "http://localhost.attacker.example/callback".to_string(),
        ];
        self.refuse_redirects(&uris, "look-alike redirect URIs were accepted")
            .await
    }

    pub(super) async fn redirect_bad_client(&self) -> StepOutcome {
        if let Err(o) = self.logged_in() {
            return o;
        }
        let mut failures = Vec::new();
        let mut evidence = Vec::new();
        let unknown = format!("never-registered-{}", random_text(6));
        let runs = [
            (
                "an unknown client_id",
                self.authorize_with(|p| p.set("client_id", unknown.clone()))
                    .await,
            ),
            (
                "an unregistered redirect URI",
                self.authorize_with(|p| p.set("redirect_uri", "https://attacker.example/callback"))
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

    // ----- the authorization response -----
}
