//! PKCE (RFC 7636, OAuth 2.1): required, S256 only, verifier checked, and an OAuth proxy running
//! PKCE on both legs.

use super::*;

impl Probes<'_> {
    pub(super) async fn pkce_required(&self) -> StepOutcome {
        if let Err(o) = self.logged_in() {
            return o;
        }
        let Some(run) = self
            .authorize_with(|p| {
                p.remove("code_challenge");
                p.remove("code_challenge_method");
            })
            .await
        else {
            return StepOutcome::not_testable("no authorization endpoint", Vec::new());
        };
        match run.code() {
            Some(_) => StepOutcome::fail(
                "an authorization request without code_challenge was answered with a code",
                run.hops.clone(),
            ),
            None => pass(format!("refused: {}", run.describe_end())),
        }
    }

    pub(super) async fn pkce_plain_refused(&self) -> StepOutcome {
        if let Err(o) = self.logged_in() {
            return o;
        }
        let verifier = random_text(32);
        let Some(run) = self
            .authorize_with(|p| {
                p.set("code_challenge", verifier.clone());
                p.set("code_challenge_method", "plain");
            })
            .await
        else {
            return StepOutcome::not_testable("no authorization endpoint", Vec::new());
        };
        match run.code() {
            Some(_) => StepOutcome::fail(
                "an authorization request with code_challenge_method=plain was answered with a code; S256 worked, so plain only weakens PKCE",
                run.hops.clone(),
            ),
            None => pass(format!(
                "S256 worked in the login; plain was refused: {}",
                run.describe_end()
            )),
        }
    }

    pub(super) async fn pkce_verifier(&self, wrong: Option<&str>) -> StepOutcome {
        if let Err(o) = self.logged_in() {
            return o;
        }
        let Some((code, _pkce, _)) = self.run.fresh_code(self.flow).await else {
            return StepOutcome::not_testable(
                "a second authorization did not deliver a code",
                Vec::new(),
            );
        };
        let verifier = wrong.map(|_| random_text(32));
        let form = self.run.code_form(self.flow, &code, verifier.as_deref());
        let e = token_request(self.ctx, &self.token_endpoint(), &form, &self.client()).await;
        let codes: &[&str] = if wrong.is_some() {
            &["invalid_grant"]
        } else {
            &["invalid_grant", "invalid_request"]
        };
        let what = if wrong.is_some() {
            "a wrong code_verifier"
        } else {
            "no code_verifier"
        };
        match refused_with(&e, codes) {
            Ok(note) => StepOutcome::pass(
                format!("the code exchange with {what} was refused: {note}"),
                Vec::new(),
            ),
            Err(why) => StepOutcome::fail(format!("the code exchange with {what}: {why}"), vec![e]),
        }
    }

    pub(super) async fn pkce_two_legs(&self) -> Result<StepOutcome, HarnessError> {
        if let Err(o) = self.logged_in() {
            return Ok(o);
        }
        if !self.flow.via_upstream {
            return Ok(StepOutcome::skip(
                "the login did not go through an upstream identity provider",
            ));
        }
        let seen = self.ctx.idp.requests_since(self.facts.log_start).await?;
        let ours = self
            .flow
            .pkce
            .as_ref()
            .map(|p| p.challenge.clone())
            .unwrap_or_default();
        let upstream: Vec<Option<String>> = seen
            .iter()
            .filter(|r| r.endpoint == "authorize")
            .map(|r| {
                url::form_urlencoded::parse(r.query.as_deref().unwrap_or("").as_bytes())
                    .find(|(k, _)| k == "code_challenge")
                    .map(|(_, v)| v.into_owned())
            })
            .collect();
        if upstream.is_empty() {
            return Ok(StepOutcome::not_testable(
                "the mock IdP recorded no authorization request",
                Vec::new(),
            ));
        }
        if upstream.iter().any(Option::is_none) {
            return Ok(StepOutcome::fail(
                "the proxy's authorization request to the upstream carried no code_challenge",
                Vec::new(),
            ));
        }
        if upstream.iter().any(|c| c.as_deref() == Some(ours.as_str())) {
            return Ok(StepOutcome::fail(
                "the proxy forwarded the client's own code_challenge upstream instead of using its own pair",
                Vec::new(),
            ));
        }
        Ok(pass(
            "the proxy used its own PKCE challenge on the upstream leg",
        ))
    }

    pub(super) async fn pkce_downgrade(&self) -> StepOutcome {
        if let Err(o) = self.logged_in() {
            return o;
        }
        let Some((run, _)) = self
            .authorize_with_pkce(|p| {
                p.remove("code_challenge");
                p.remove("code_challenge_method");
            })
            .await
        else {
            return StepOutcome::not_testable("no authorization endpoint", Vec::new());
        };
        let Some(code) = run.code().map(str::to_string) else {
            return StepOutcome::skip(
                "every authorization request needs a code_challenge (pkce.required), so there is no challenge-less code to downgrade",
            );
        };
        // A code issued without a challenge, redeemed with a verifier: RFC 9700 §4.8.2 has the
        // server refuse it, so an attacker cannot strip the challenge from a victim's request.
        let form = self.run.code_form(self.flow, &code, Some(&random_text(32)));
        let e = token_request(self.ctx, &self.token_endpoint(), &form, &self.client()).await;
        if token_set(&e).is_ok() {
            StepOutcome::fail(
                "a code issued without a code_challenge was redeemed with a code_verifier (RFC 9700 §4.8.2: refuse, or a stripped challenge goes unnoticed)",
                vec![e],
            )
        } else {
            pass(format!(
                "the challenge-less code redeemed with a verifier was refused: {}",
                error_answer(&e).describe()
            ))
        }
    }
}
