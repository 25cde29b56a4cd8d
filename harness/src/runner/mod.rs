//! Runs the checks of a catalogue against a discovered target.
//!
//! Checks run one at a time in catalogue order (those marked `last`, which change the IdP's keys,
//! at the end): a whole run takes a second or two against a local target, and sequential runs keep
//! reports deterministic. Each check runs in its own task so that a panic in the harness becomes a
//! "harness bug" finding for that check instead of ending the run.

mod eras;
mod expect;
mod steps;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use crate::check::Status;
use crate::context::Ctx;
use crate::discovery::{Discovery, Facts};
use crate::idp::MintedToken;
use crate::report::CheckResult;
use crate::scenario::{Catalogue, Need, Scenario, selected};
use crate::spec::Era;
use crate::target::Exchange;
use crate::verdict::Verdict;

pub use crate::checks::CHECK_BUDGET;

/// The verdicts of a run, in catalogue order, and what the run itself has to say.
#[derive(Debug)]
pub struct Checked {
    pub results: Vec<CheckResult>,
    /// Things that went wrong between checks (a fault the mock IdP would not clear), for the
    /// report's notes.
    pub notes: Vec<String>,
}

/// Runs every selected check and returns the results in catalogue order. A check that sends MCP
/// requests runs once per era the target is judged on, and the verdicts are merged (a difference
/// between eras is a finding); the others run once, on the primary era.
pub async fn run_checks(
    ctx: Arc<Ctx>,
    discovery: Arc<Discovery>,
    catalogue: &Catalogue,
    filter: &[String],
) -> Checked {
    let selected: Vec<&Scenario> = catalogue
        .scenarios
        .iter()
        .map(|(_, s)| s)
        .filter(|s| selected(filter, &s.id))
        .collect();
    let ordered = selected
        .iter()
        .filter(|s| !s.last && !s.restarts)
        .chain(selected.iter().filter(|s| s.last && !s.restarts))
        .chain(selected.iter().filter(|s| s.restarts));
    let mut results = Vec::new();
    let mut notes = Vec::new();
    let total = selected.len();
    for (index, scenario) in ordered.enumerate() {
        let scenario = (*scenario).clone();
        ctx.options
            .progress
            .starting(index + 1, total, &scenario.id);
        let started = Instant::now();
        let eras: Vec<&Facts> = if per_era(&scenario) {
            discovery.judged.iter().collect()
        } else {
            vec![discovery.primary()]
        };
        let mut verdicts = Vec::new();
        for facts in eras {
            let facts = Arc::new(facts.clone());
            verdicts.push((
                facts.wire.clone(),
                budgeted(ctx.clone(), facts, scenario.clone()).await,
            ));
        }
        let mut result = eras::merge(verdicts);
        result.duration_ms = started.elapsed().as_millis() as u64;
        // An informational check reports what it found; it never fails or warns.
        if result.level == crate::check::Level::Info
            && matches!(result.status, Status::Fail | Status::Warn)
        {
            result.status = Status::Info;
        }
        // Faults set by a check never leak into the next one.
        let may_leave_faults = scenario.last
            || scenario
                .steps
                .iter()
                .any(|s| s.idp.as_ref().is_some_and(|a| a.fault.is_some()));
        if may_leave_faults && let Err(e) = ctx.idp.clear_faults().await {
            notes.push(format!(
                "after {} the mock IdP's faults could not be cleared ({e}); the checks after it may have met a misbehaving IdP",
                scenario.id
            ));
        }
        results.push(result);
    }
    ctx.options.progress.finish();
    // Restore the original order of the catalogue for the report.
    let position = |id: &str| {
        catalogue
            .scenarios
            .iter()
            .position(|(_, s)| s.id == id)
            .unwrap_or(usize::MAX)
    };
    results.sort_by_key(|r| position(&r.id));
    Checked { results, notes }
}

/// Whether a check is judged on each era: it sends MCP requests itself (a request step, or a
/// probe registered as one that does).
fn per_era(s: &Scenario) -> bool {
    s.steps.iter().any(|step| match &step.probe {
        None => true,
        Some(probe) => crate::checks::find(probe).is_some_and(|p| p.per_era),
    })
}

/// Runs one check on one era in its own task, under the check budget (a panic or a stall becomes
/// a finding about the harness, not the end of the run).
async fn budgeted(ctx: Arc<Ctx>, facts: Arc<Facts>, scenario: Scenario) -> CheckResult {
    let task = tokio::spawn(run_check(ctx.clone(), facts.clone(), scenario.clone()));
    let abort = task.abort_handle();
    match tokio::time::timeout(CHECK_BUDGET, task).await {
        Err(_) => {
            abort.abort();
            base_result(
                &facts,
                &scenario,
                Status::NotTestable,
                format!(
                    "the check did not finish within its {} s budget (a target answering very slowly?)",
                    CHECK_BUDGET.as_secs()
                ),
            )
        }
        Ok(Ok(result)) => result,
        Ok(Err(e)) => base_result(
            &facts,
            &scenario,
            Status::Fail,
            format!("harness bug: the check panicked: {e}"),
        ),
    }
}

fn base_result(facts: &Facts, s: &Scenario, status: Status, message: String) -> CheckResult {
    CheckResult {
        id: s.id.clone(),
        title: s.title.clone(),
        area: s.area().to_string(),
        level: s.level_for(facts.wire.spec),
        status,
        message,
        details: Vec::new(),
        description: s.description.trim().to_string(),
        fix: None,
        references: s.references.clone(),
        evidence: Vec::new(),
        expected_failure: false,
        duration_ms: 0,
        eras: Vec::new(),
    }
}

/// The JSON-RPC method a request step sends in the era of `facts` (`${request}` in its
/// `describe`): `initialize` by default on the legacy wire, `tools/list` on the stateless one.
fn request_method(facts: &Facts, step: &crate::scenario::Step) -> &'static str {
    let call = step
        .mcp
        .as_deref()
        .and_then(crate::rpc::McpCall::parse)
        .unwrap_or(crate::rpc::McpCall::Initialize);
    match facts.wire.era {
        crate::spec::Era::Modern => call.in_modern_era().unwrap_or(call).method(),
        crate::spec::Era::Legacy => call.method(),
    }
}

/// Why a check does not apply, if it does not.
fn not_applicable(facts: &Facts, s: &Scenario) -> Option<String> {
    if let Some(versions) = &s.spec_versions
        && !versions.contains(&facts.wire.spec)
    {
        return Some(format!(
            "does not apply to MCP revision {}",
            facts.wire.spec
        ));
    }
    if !s.modes.contains(&facts.mode) {
        return Some(format!("does not apply to mode {}", facts.mode.describe()));
    }
    if let Some(kind) = s.validation
        && facts.validation.is_some_and(|v| v != kind)
    {
        return Some(format!(
            "applies to targets that validate tokens by {}; this one uses {}",
            kind_name(kind),
            facts.validation.map(kind_name).unwrap_or("?")
        ));
    }
    None
}

fn kind_name(v: crate::check::Validation) -> &'static str {
    match v {
        crate::check::Validation::Jwt => "JWT (JWKS)",
        crate::check::Validation::Introspection => "introspection",
        crate::check::Validation::PreShared => "pre-shared tokens",
        crate::check::Validation::OwnTokens => "tokens its own authorization server issued",
    }
}

/// The first unmet precondition: usually "not testable", but a stateless target has no session
/// to misuse, so a check needing one does not apply (rather than counting against a MUST).
fn unmet_need(facts: &Facts, s: &Scenario) -> Option<(Status, String)> {
    for need in &s.needs {
        if *need == Need::Session && facts.wire.era == Era::Modern {
            return Some((
                Status::Skip,
                "the 2026-07-28 wire has no sessions".to_string(),
            ));
        }
        if *need == Need::Session && facts.positive.passed && facts.positive.session_id.is_none() {
            return Some((
                Status::Skip,
                "the target is stateless (it issued no Mcp-Session-Id)".to_string(),
            ));
        }
        let unmet = match need {
            Need::ValidToken if !facts.positive.passed => Some(format!(
                "the positive control failed ({}), so a refusal here would prove nothing",
                facts.positive.message
            )),
            Need::BearerChallenge if facts.challenges.bearer().is_none() => {
                Some("the unauthenticated request got no Bearer challenge to inspect".to_string())
            }
            Need::Prm if facts.prm().is_none() => {
                Some("no protected-resource metadata document was obtained".to_string())
            }
            Need::Session if facts.positive.session_id.is_none() => Some(
                "the target issued no Mcp-Session-Id (stateless), so there is no session to misuse"
                    .to_string(),
            ),
            Need::RequiredScopes if facts.required_scopes.is_empty() => Some(
                "the target advertises no required scope (pass --scope to name one)".to_string(),
            ),
            Need::Login => match &facts.login {
                None => Some(
                    "no headless login was attempted (the target is not its own authorization server)"
                        .to_string(),
                ),
                Some(flow) if flow.access_token().is_none() => Some(flow.summary()),
                Some(_) => None,
            },
            _ => None,
        };
        if let Some(why) = unmet {
            return Some((Status::NotTestable, why));
        }
    }
    None
}

async fn run_check(ctx: Arc<Ctx>, facts: Arc<Facts>, s: Scenario) -> CheckResult {
    if let Some(why) = not_applicable(&facts, &s) {
        return base_result(&facts, &s, Status::Skip, why);
    }
    if facts.validation.is_none() && s.validation.is_some() {
        return base_result(
            &facts,
            &s,
            Status::NotTestable,
            format!(
                "how the target validates tokens is unknown: {}",
                facts.validation_reason
            ),
        );
    }
    if let Some((status, why)) = unmet_need(&facts, &s) {
        return base_result(&facts, &s, status, why);
    }

    let mut named: HashMap<String, MintedToken> = HashMap::new();
    let mut outcomes = Vec::new();
    for step in &s.steps {
        let outcome = match steps::run_step(&ctx, &facts, step, &named).await {
            Ok(run) => {
                if let (Some(name), Some(token)) = (&step.name, run.token) {
                    named.insert(name.clone(), token);
                }
                run.verdict
            }
            Err(e) => Verdict::not_testable(format!("harness error: {e}"), Vec::new()),
        };
        let stop = !outcome.unmet.is_empty() || outcome.skip.is_some();
        let describe = step
            .describe
            .as_ref()
            .map(|d| d.replace("${request}", request_method(&facts, step)));
        outcomes.push((describe, outcome));
        if stop {
            break;
        }
    }
    summarise(&facts, &s, outcomes)
}

fn summarise(facts: &Facts, s: &Scenario, outcomes: Vec<(Option<String>, Verdict)>) -> CheckResult {
    let label = |d: &Option<String>, text: &str| match d {
        Some(d) => format!("{d}: {text}"),
        None => text.to_string(),
    };
    let mut details = Vec::new();
    let mut failures = Vec::new();
    let mut unmet = Vec::new();
    let mut warnings = Vec::new();
    let mut skip = None;
    let mut evidence = Vec::new();
    for (describe, o) in &outcomes {
        let keep_evidence = !o.failures.is_empty() || !o.unmet.is_empty() || !o.warnings.is_empty();
        for f in &o.failures {
            failures.push(label(describe, f));
        }
        for u in &o.unmet {
            unmet.push(label(describe, u));
        }
        for w in &o.warnings {
            warnings.push(label(describe, w));
        }
        for n in &o.notes {
            details.push(label(describe, n));
        }
        if o.skip.is_some() && skip.is_none() {
            skip = o.skip.clone();
        }
        if keep_evidence {
            evidence.extend(o.evidence.iter().map(Exchange::evidence));
        }
    }
    let (status, message) = if !failures.is_empty() {
        (Status::Fail, failures[0].clone())
    } else if !unmet.is_empty() {
        (Status::NotTestable, unmet[0].clone())
    } else if let Some(why) = skip {
        (Status::Skip, why)
    } else if !warnings.is_empty() {
        (Status::Warn, warnings[0].clone())
    } else {
        (
            Status::Pass,
            details
                .first()
                .cloned()
                .unwrap_or_else(|| "as required".to_string()),
        )
    };
    let mut all = failures;
    all.extend(unmet);
    all.extend(warnings);
    all.extend(details);
    if all.first() == Some(&message) {
        all.remove(0);
    }
    let mut result = base_result(facts, s, status, message);
    result.details = all;
    result.evidence = evidence;
    if matches!(status, Status::Fail | Status::Warn) {
        result.fix = Some(s.fix.trim().to_string());
    }
    result
}
