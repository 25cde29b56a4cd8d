//! One run from start to report: the mock IdP's keys noted, discovery and the positive control,
//! the checks, the keys put back, and the report assembled.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use crate::baseline::Baseline;
use crate::context::{self, Options};
use crate::error::HarnessError;
use crate::report::{self, Report};
use crate::scenario::{self, Catalogue};
use crate::spec::SpecVersion;
use crate::target::{self, Limits};
use crate::{checks, discovery, idp, runner};

/// Everything one run needs.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The MCP endpoint URL.
    pub target: String,
    /// Audience to mint tokens for; the target URL when `None`.
    pub audience: Option<String>,
    pub spec: SpecVersion,
    /// Issuer URL of a running mock IdP (in this process or standalone).
    pub idp_url: String,
    pub limits: Limits,
    pub options: Options,
    /// Check IDs, ID prefixes or areas to run; empty runs all.
    pub checks: Vec<String>,
    pub catalogue: Catalogue,
    /// Known failures that do not fail the run (`--expected-failures`).
    pub baseline: Option<Baseline>,
    /// How to restart the target: for the check that looks at what survives a restart, and to show
    /// a JWKS outage to a fresh target.
    pub restart: Option<crate::restart::TargetRestart>,
}

/// Puts the IdP's keys back as they were before the run: the original signing key active again
/// and every key the run created deleted, so a target configured against a long-lived IdP keeps
/// working and the IdP's key set does not grow run after run.
async fn restore_keys(
    idp: &idp::IdpClient,
    before: &[(String, String)],
) -> Result<(), HarnessError> {
    // The key rotation retired the original signing key; activating it publishes it again.
    if let Some((kid, _)) = before.iter().find(|(_, state)| state == "active") {
        idp.activate_key(kid).await?;
    }
    for (kid, _) in idp.keys().await? {
        if !before.iter().any(|(k, _)| *k == kid) {
            idp.forget_key(&kid).await?;
        }
    }
    Ok(())
}

/// Runs the whole suite against one target and returns the report.
///
/// A non-conformant target yields a report with failures; `Err` means the harness could not work
/// (unreachable target, IdP not answering).
pub async fn run(config: RunConfig) -> Result<Report, HarnessError> {
    let started = Instant::now();
    let started_at = report::rfc3339(std::time::SystemTime::now());
    let idp = idp::IdpClient::new(&config.idp_url, config.options.idp_control_token.clone())?;
    let info = idp.info().await?;
    let allow_any = config.options.allow_origins.iter().any(|o| o == "*");
    let policy = target::FetchPolicy::allowing(
        [config.target.clone(), config.idp_url.clone()]
            .into_iter()
            .chain(config.options.allow_origins.iter().cloned()),
        allow_any,
    );
    let target = target::TargetClient::new(config.limits, policy.clone())
        .map_err(|e| HarnessError::Internal(format!("HTTP client: {e}")))?;
    let audience = config
        .audience
        .clone()
        .unwrap_or_else(|| config.target.clone());
    url::Url::parse(&config.target).map_err(|e| {
        HarnessError::Usage(format!("--target {:?} is not a URL: {e}", config.target))
    })?;
    let mut ctx = context::Ctx::new(
        target,
        config.target.clone(),
        audience,
        config.spec,
        idp.clone(),
        info.clone(),
        config.options.clone(),
    );
    ctx.restart = config.restart.clone();

    // Announce a key before the target first fetches the JWKS, so the rotation check can sign with
    // it later without waiting out a refetch cool-down.
    let keys_before = idp.keys().await?;
    let announced = idp.announce_key().await?;
    if let Ok(mut story) = ctx.jwks_story.lock() {
        story.announced_kid = Some(announced);
    }

    let ctx = Arc::new(ctx);
    let outcome = match discovery::discover(&ctx).await {
        Ok(found) => {
            let found = Arc::new(found);
            let checked = runner::run_checks(
                ctx.clone(),
                found.clone(),
                &config.catalogue,
                &config.checks,
            )
            .await;
            Ok((found, checked))
        }
        Err(e) => Err(e),
    };
    // Whatever happened, the IdP's keys go back to how they were.
    restore_keys(&idp, &keys_before).await?;
    let (found, checked) = outcome?;
    let facts = found.primary();
    let mut checks = checked.results;
    let baseline = config.baseline.as_ref().map(|b| b.apply(&mut checks));
    let mut notes = checked.notes;
    notes.extend(
        policy
            .refused()
            .into_iter()
            .map(|why| format!("not fetched: {why}")),
    );
    if let Some(note) = checks::resync_after_rotation(&ctx, facts).await? {
        notes.push(note);
    }
    let summary = report::Summary::of(&checks);
    let mut report = Report {
        schema_version: report::SCHEMA_VERSION,
        tool: format!("mcp-auth-conformance {}", env!("CARGO_PKG_VERSION")),
        started_at,
        target: config.target.clone(),
        spec_version: config.spec,
        mode: facts.mode,
        mode_reason: facts.mode_reason.clone(),
        validation: facts.validation,
        validation_reason: facts.validation_reason.clone(),
        required_scopes: facts.required_scopes.clone(),
        scopes_reason: facts.scopes_reason.clone(),
        idp: report::IdpSummary {
            issuer: info.issuer.clone(),
            jwks_uri: info.jwks_uri.clone(),
            introspection_endpoint: info.introspection_endpoint.clone(),
        },
        eras: found.eras.clone(),
        server_discover: found.discover_without_token.clone(),
        positive_control: report::PositiveControlReport {
            passed: facts.positive.passed,
            message: facts.positive.message.clone(),
            evidence: if facts.positive.passed {
                Vec::new()
            } else {
                facts
                    .positive
                    .exchanges
                    .iter()
                    .map(target::Exchange::evidence)
                    .collect()
            },
        },
        checks,
        summary,
        notes,
        baseline,
        duration_ms: started.elapsed().as_millis() as u64,
    };
    // Evidence is redacted when it is made; a test account's values can also reach a message (a
    // login page that echoes the username into its error text), so the whole report is scrubbed of
    // them once more, whatever field carries them.
    report.map_text(crate::redact::redact_given);
    Ok(report)
}

/// Loads the built-in scenarios plus those in `dirs`; probe names are checked against the
/// registry of [`crate::checks`].
pub fn load_catalogue(dirs: &[PathBuf]) -> Result<Catalogue, HarnessError> {
    let mut catalogue = scenario::load_builtin(&checks::is_probe)?;
    for dir in dirs {
        catalogue.extend(scenario::load_dir(dir, &checks::is_probe)?)?;
    }
    Ok(catalogue)
}
