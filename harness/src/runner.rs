//! Runs the checks of a catalogue against a discovered target.
//!
//! Checks run one at a time in catalogue order (those marked `last`, which change the IdP's keys,
//! at the end): a whole run takes a second or two against a local target, and sequential runs keep
//! reports deterministic. Each check runs in its own task so that a panic in the harness becomes a
//! "harness bug" finding for that check instead of ending the run.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Map, Value, json};

use crate::challenge;
use crate::check::Status;
use crate::context::Ctx;
use crate::discovery::{Facts, accepted, mcp_request};
use crate::error::HarnessError;
use crate::idp::MintedToken;
use crate::mcp::McpCall;
use crate::probes;
use crate::report::CheckResult;
use crate::scenario::{
    Catalogue, ChallengeExpect, Expect, HttpMethod, Need, Scenario, Step, TokenSpec,
};
use crate::target::{Exchange, Request};

/// What one step found.
#[derive(Debug, Default)]
pub struct StepOutcome {
    /// Broken expectations: the check fails.
    pub failures: Vec<String>,
    /// Unmet preconditions: the check cannot be judged.
    pub unmet: Vec<String>,
    /// Passed with a remark.
    pub warnings: Vec<String>,
    /// What was observed, for the report.
    pub notes: Vec<String>,
    /// The step does not apply to this target.
    pub skip: Option<String>,
    pub evidence: Vec<Exchange>,
    /// Set when the step minted or reused a token.
    pub token: Option<MintedToken>,
}

impl StepOutcome {
    pub fn pass(note: impl Into<String>, evidence: Vec<Exchange>) -> StepOutcome {
        StepOutcome {
            notes: vec![note.into()],
            evidence,
            ..Default::default()
        }
    }
    pub fn fail(why: impl Into<String>, evidence: Vec<Exchange>) -> StepOutcome {
        StepOutcome {
            failures: vec![why.into()],
            evidence,
            ..Default::default()
        }
    }
    pub fn not_testable(why: impl Into<String>, evidence: Vec<Exchange>) -> StepOutcome {
        StepOutcome {
            unmet: vec![why.into()],
            evidence,
            ..Default::default()
        }
    }
    pub fn warn(why: impl Into<String>, evidence: Vec<Exchange>) -> StepOutcome {
        StepOutcome {
            warnings: vec![why.into()],
            evidence,
            ..Default::default()
        }
    }
    pub fn skip(why: impl Into<String>) -> StepOutcome {
        StepOutcome {
            skip: Some(why.into()),
            ..Default::default()
        }
    }
}

/// The longest one check may take, whatever the target does; a check that needs more is
/// reported not testable instead of stalling the run.
pub const CHECK_BUDGET: std::time::Duration = std::time::Duration::from_secs(90);

/// Runs every selected check and returns the results in catalogue order.
pub async fn run_checks(
    ctx: Arc<Ctx>,
    facts: Arc<Facts>,
    catalogue: &Catalogue,
    filter: &[String],
) -> Vec<CheckResult> {
    let selected: Vec<&Scenario> = catalogue
        .scenarios
        .iter()
        .map(|(_, s)| s)
        .filter(|s| crate::cli::selected(filter, &s.id))
        .collect();
    let ordered = selected
        .iter()
        .filter(|s| !s.last && !s.restarts)
        .chain(selected.iter().filter(|s| s.last && !s.restarts))
        .chain(selected.iter().filter(|s| s.restarts));
    let mut results = Vec::new();
    let total = selected.len();
    for (index, scenario) in ordered.enumerate() {
        let scenario = (*scenario).clone();
        ctx.options
            .progress
            .starting(index + 1, total, &scenario.id);
        let started = Instant::now();
        let task = tokio::spawn(run_check(ctx.clone(), facts.clone(), scenario.clone()));
        let abort = task.abort_handle();
        let mut result = match tokio::time::timeout(CHECK_BUDGET, task).await {
            Err(_) => {
                abort.abort();
                base_result(
                    &ctx,
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
                &ctx,
                &scenario,
                Status::Fail,
                format!("harness bug: the check panicked: {e}"),
            ),
        };
        result.duration_ms = started.elapsed().as_millis() as u64;
        // Faults set by a check never leak into the next one.
        if scenario
            .steps
            .iter()
            .any(|s| s.idp.as_ref().is_some_and(|a| a.fault.is_some()))
            || scenario.last
        {
            let _ = ctx.idp.clear_faults().await;
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
    results
}

fn base_result(ctx: &Ctx, s: &Scenario, status: Status, message: String) -> CheckResult {
    CheckResult {
        id: s.id.clone(),
        title: s.title.clone(),
        area: s.area().to_string(),
        level: s.level_for(ctx.spec),
        status,
        message,
        details: Vec::new(),
        description: s.description.trim().to_string(),
        fix: None,
        references: s.references.clone(),
        evidence: Vec::new(),
        expected_failure: false,
        duration_ms: 0,
    }
}

/// Why a check does not apply, if it does not.
fn not_applicable(ctx: &Ctx, facts: &Facts, s: &Scenario) -> Option<String> {
    if let Some(versions) = &s.spec_versions
        && !versions.contains(&ctx.spec)
    {
        return Some(format!("does not apply to MCP revision {}", ctx.spec));
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
            _ => None,
        };
        if let Some(why) = unmet {
            return Some((Status::NotTestable, why));
        }
    }
    None
}

async fn run_check(ctx: Arc<Ctx>, facts: Arc<Facts>, s: Scenario) -> CheckResult {
    if let Some(why) = not_applicable(&ctx, &facts, &s) {
        return base_result(&ctx, &s, Status::Skip, why);
    }
    if facts.validation.is_none() && s.validation.is_some() {
        return base_result(
            &ctx,
            &s,
            Status::NotTestable,
            format!(
                "how the target validates tokens is unknown: {}",
                facts.validation_reason
            ),
        );
    }
    if let Some((status, why)) = unmet_need(&facts, &s) {
        return base_result(&ctx, &s, status, why);
    }

    let mut named: HashMap<String, MintedToken> = HashMap::new();
    let mut outcomes = Vec::new();
    for step in &s.steps {
        let outcome = match run_step(&ctx, &facts, step, &named).await {
            Ok(o) => o,
            Err(e) => StepOutcome::not_testable(format!("harness error: {e}"), Vec::new()),
        };
        if let (Some(name), Some(token)) = (&step.name, &outcome.token) {
            named.insert(name.clone(), token.clone());
        }
        let stop = !outcome.unmet.is_empty() || outcome.skip.is_some();
        outcomes.push((step.describe.clone(), outcome));
        if stop {
            break;
        }
    }
    summarise(&ctx, &s, outcomes)
}

fn summarise(ctx: &Ctx, s: &Scenario, outcomes: Vec<(Option<String>, StepOutcome)>) -> CheckResult {
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
    let mut result = base_result(ctx, s, status, message);
    result.details = all;
    result.evidence = evidence;
    if matches!(status, Status::Fail | Status::Warn) {
        result.fix = Some(s.fix.trim().to_string());
    }
    result
}

async fn run_step(
    ctx: &Ctx,
    facts: &Facts,
    step: &Step,
    named: &HashMap<String, MintedToken>,
) -> Result<StepOutcome, HarnessError> {
    if let Some(action) = &step.idp {
        if let Some(fault) = &action.fault {
            let mut f = Map::new();
            f.insert("kind".into(), json!(fault.kind));
            if let Some(status) = fault.status {
                f.insert("status".into(), json!(status));
            }
            if let Some(ms) = fault.ms {
                f.insert("ms".into(), json!(ms));
            }
            ctx.idp
                .set_fault(&fault.endpoint, Value::Object(f), None)
                .await?;
        }
        if let Some(name) = &action.revoke {
            let token = named
                .get(name)
                .ok_or_else(|| HarnessError::Scenario(format!("no token from step {name:?}")))?;
            ctx.idp.revoke(&token.token).await?;
        }
    }
    if let Some(probe) = step.probe {
        return probes::run(ctx, facts, probe).await;
    }
    let vars = Vars::new(ctx, facts);
    let token = match &step.token {
        Some(spec) => Some(obtain_token(ctx, facts, spec, named, &vars).await?),
        None => None,
    };
    let token_text = token.as_ref().map(|t| t.token.clone()).unwrap_or_default();
    let authorization: Vec<String> = match &step.authorization {
        Some(values) => values
            .iter()
            .map(|v| vars.string(v).replace("${token}", &token_text))
            .collect(),
        None if token.is_some() => vec![format!("Bearer {token_text}")],
        None => Vec::new(),
    };
    let session = if step.session {
        facts.positive.session_id.as_deref()
    } else {
        None
    };
    let method = step.http_method.unwrap_or(HttpMethod::Post);
    let mut request = match method {
        HttpMethod::Post => {
            let call = step
                .mcp
                .as_deref()
                .and_then(McpCall::parse)
                .unwrap_or(McpCall::Initialize);
            mcp_request(ctx, &call, &authorization, session)
        }
        HttpMethod::Get | HttpMethod::Delete => {
            let m = if method == HttpMethod::Get {
                reqwest::Method::GET
            } else {
                reqwest::Method::DELETE
            };
            let mut r = Request::new(m, ctx.target_url.clone())
                .header("accept", "text/event-stream")
                .header("mcp-protocol-version", ctx.protocol_version());
            for a in &authorization {
                r = r.header("authorization", a.clone());
            }
            if let Some(s) = session {
                r = r.header("mcp-session-id", s);
            }
            r
        }
    };
    if let Some(query) = &step.query {
        let query = vars.string(query).replace("${token}", &token_text);
        let sep = if request.url.contains('?') { '&' } else { '?' };
        request.url = format!("{}{sep}{query}", request.url);
    }
    let mark = if step_uses_idp_log(step) {
        Some(ctx.idp.last_seq().await?)
    } else {
        None
    };
    let exchange = ctx.target.send(request).await;
    let idp_paths: Vec<String> = match mark {
        Some(mark) => ctx
            .idp
            .requests_since(mark)
            .await?
            .into_iter()
            .map(|r| r.path)
            .collect(),
        None => Vec::new(),
    };
    let mut outcome = StepOutcome {
        token,
        ..Default::default()
    };
    if let Some(require) = &step.require {
        outcome.unmet = evaluate(require, &exchange, facts, &idp_paths);
    }
    if outcome.unmet.is_empty()
        && let Some(expect) = &step.expect
    {
        outcome.failures = evaluate(expect, &exchange, facts, &idp_paths);
        // A target that accepts only a pre-shared token (--token) refuses every minted one; a
        // refusal of a token that was meant to be accepted proves nothing about it.
        let minted = outcome
            .token
            .as_ref()
            .is_some_and(|t| ctx.valid_token() != Some(t.token.as_str()));
        if minted && ctx.valid_token().is_some() && !outcome.failures.is_empty() {
            outcome.unmet = vec![if ctx.options.valid_token.is_some() {
                "the target accepts only the pre-shared token (--token), so how it treats this minted token cannot be judged".to_string()
            } else {
                "the target accepts only tokens its own authorization server issued, so how it treats this minted token cannot be judged".to_string()
            }];
            outcome.failures.clear();
        }
    }
    outcome.notes.push(observed(&exchange));
    outcome.evidence.push(exchange);
    Ok(outcome)
}

fn step_uses_idp_log(step: &Step) -> bool {
    [&step.expect, &step.require]
        .into_iter()
        .flatten()
        .any(|e| e.idp_not_requested.is_some())
}

/// A one-line account of an answer.
fn observed(exchange: &Exchange) -> String {
    match exchange.response() {
        None => format!("no answer ({})", exchange.failure()),
        Some(r) => {
            let challenge = r
                .header("www-authenticate")
                .map(|c| format!(", WWW-Authenticate: {}", crate::redact::redact_secrets(c)))
                .unwrap_or_default();
            format!("HTTP {}{challenge}", r.status)
        }
    }
}

/// Template variables of a step: `${target}`, `${origin}`, `${issuer}`, `${client_id}`,
/// `${audience}`, `${scope}`, `${prm_url}`, numeric `${now}`, `${now+N}`, `${now-N}`, and
/// `${remove}`, which removes the field it is the value of.
struct Vars {
    pairs: Vec<(String, String)>,
    now: i64,
}

impl Vars {
    fn new(ctx: &Ctx, facts: &Facts) -> Vars {
        let prm_url = facts.prm().map(|(a, _)| a.url.clone()).unwrap_or_default();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        Vars {
            pairs: vec![
                ("target".into(), ctx.target_url.clone()),
                ("origin".into(), ctx.origin()),
                ("issuer".into(), ctx.idp_info.issuer.clone()),
                ("client_id".into(), ctx.idp_info.token_client_id.clone()),
                ("audience".into(), ctx.audience.clone()),
                ("scope".into(), facts.required_scopes.join(" ")),
                ("prm_url".into(), prm_url),
            ],
            now,
        }
    }

    fn string(&self, s: &str) -> String {
        let mut out = s.to_string();
        for (k, v) in &self.pairs {
            out = out.replace(&format!("${{{k}}}"), v);
        }
        out
    }

    fn number(&self, s: &str) -> Option<i64> {
        let inner = s.strip_prefix("${now")?.strip_suffix('}')?;
        if inner.is_empty() {
            return Some(self.now);
        }
        let sign = inner.chars().next()?;
        let digits = &inner[sign.len_utf8()..];
        let n: i64 = digits.parse().ok()?;
        match sign {
            '+' => Some(self.now + n),
            '-' => Some(self.now - n),
            _ => None,
        }
    }

    fn value(&self, v: &Value) -> Value {
        match v {
            // TOML has no null: "${remove}" stands for it and removes the field.
            Value::String(s) if s == "${remove}" => Value::Null,
            Value::String(s) => self
                .number(s)
                .map(Value::from)
                .unwrap_or_else(|| Value::String(self.string(s))),
            Value::Array(items) => Value::Array(items.iter().map(|i| self.value(i)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.value(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

async fn obtain_token(
    ctx: &Ctx,
    facts: &Facts,
    spec: &TokenSpec,
    named: &HashMap<String, MintedToken>,
    vars: &Vars,
) -> Result<MintedToken, HarnessError> {
    if let Some(from) = &spec.from_step {
        let mut token = named
            .get(from)
            .cloned()
            .ok_or_else(|| HarnessError::Scenario(format!("no token from step {from:?}")))?;
        if let Some(m) = &spec.mutate {
            token.token = mutate_jwt(&token.token, m);
        }
        return Ok(token);
    }
    let mut request = Map::new();
    if let Some(f) = &spec.format {
        request.insert("format".into(), json!(f));
    }
    if let Some(a) = &spec.audience {
        request.insert("audience".into(), vars.value(a));
    }
    let scope = match &spec.scope {
        Some(s) => vars.string(s),
        None => facts.required_scopes.join(" "),
    };
    request.insert(
        "scope".into(),
        if scope.is_empty() {
            Value::Null
        } else {
            Value::String(scope)
        },
    );
    if let Some(c) = &spec.claims {
        request.insert("claims".into(), vars.value(&Value::Object(c.clone())));
    }
    if let Some(h) = &spec.header {
        request.insert("header".into(), vars.value(&Value::Object(h.clone())));
    }
    if let Some(d) = &spec.defect {
        request.insert("defect".into(), json!(d));
    }
    let token = ctx.mint(&Value::Object(request)).await?;
    if let Some(overrides) = &spec.introspection {
        let mut answer = token.claims.as_object().cloned().unwrap_or_default();
        answer.insert("active".into(), json!(true));
        answer.insert("token_type".into(), json!("Bearer"));
        for (k, v) in overrides {
            match vars.value(v) {
                Value::Null => {
                    answer.remove(k);
                }
                v => {
                    answer.insert(k.clone(), v);
                }
            }
        }
        ctx.idp
            .override_introspection(&token.token, Value::Object(answer))
            .await?;
    }
    Ok(token)
}

/// Changes one character in the middle of a JWT segment, keeping it valid base64url.
fn mutate_jwt(token: &str, mutation: &str) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    let index = match mutation {
        "flip-signature" => parts.len().saturating_sub(1),
        _ => 1.min(parts.len().saturating_sub(1)),
    };
    if let Some(part) = parts.get_mut(index) {
        let mut chars: Vec<char> = part.chars().collect();
        if !chars.is_empty() {
            let i = chars.len() / 2;
            chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
        }
        *part = chars.into_iter().collect();
    }
    parts.join(".")
}

fn evaluate(
    expect: &Expect,
    exchange: &Exchange,
    facts: &Facts,
    idp_paths: &[String],
) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(response) = exchange.response() else {
        let why = exchange.failure();
        if expect.accepted == Some(false) && expect.status.is_none() {
            return problems;
        }
        problems.push(format!("no answer: {why}"));
        return problems;
    };
    if let Some(statuses) = &expect.status
        && !statuses.contains(&response.status)
    {
        let wanted: Vec<String> = statuses.iter().map(u16::to_string).collect();
        problems.push(format!(
            "expected HTTP {}, got {}",
            wanted.join(" or "),
            response.status
        ));
    }
    match expect.accepted {
        Some(true) => {
            if let Err(why) = accepted(exchange) {
                problems.push(format!("expected the request to be accepted, but it {why}"));
            }
        }
        Some(false) if response.is_success() => {
            problems.push(format!(
                "expected a refusal, but the target answered HTTP {}",
                response.status
            ));
        }
        _ => {}
    }
    if let Some(c) = &expect.challenge {
        problems.extend(evaluate_challenge(
            c,
            response.header_values("www-authenticate"),
            facts,
        ));
    }
    if expect.body_not_html == Some(true) {
        let ct = response
            .header("content-type")
            .unwrap_or("")
            .to_ascii_lowercase();
        let head = response
            .body_text()
            .trim_start()
            .chars()
            .take(15)
            .collect::<String>()
            .to_ascii_lowercase();
        if ct.starts_with("text/html") || head.starts_with("<!doctype") || head.starts_with("<html")
        {
            problems
                .push("the error body is HTML; clients expect an empty or JSON body".to_string());
        }
    }
    if let Some(prefix) = &expect.idp_not_requested
        && let Some(p) = idp_paths.iter().find(|p| p.starts_with(prefix.as_str()))
    {
        problems.push(format!(
            "the target fetched {p} from the IdP because a token header told it to"
        ));
    }
    problems
}

fn evaluate_challenge(c: &ChallengeExpect, values: Vec<&str>, facts: &Facts) -> Vec<String> {
    let mut problems = Vec::new();
    let parsed = challenge::parse_all(values.iter().copied());
    let Some(bearer) = parsed.bearer() else {
        if values.is_empty() {
            problems.push("no WWW-Authenticate header".to_string());
        } else {
            problems.push(format!(
                "no Bearer challenge in WWW-Authenticate: {}",
                values.join(" | ")
            ));
        }
        return problems;
    };
    if let Some(error) = &c.error {
        match bearer.param("error") {
            Some(e) if e == error => {}
            Some(e) => problems.push(format!("challenge error is {e:?}, expected {error:?}")),
            None => problems.push(format!(
                "challenge has no error attribute, expected error={error:?}"
            )),
        }
    }
    for p in &c.has {
        if bearer.param(p).is_none_or(str::is_empty) {
            problems.push(format!("challenge lacks the {p} parameter"));
        }
    }
    for p in &c.lacks {
        if let Some(v) = bearer.param(p) {
            problems.push(format!("challenge carries {p}={v:?}, which it should not"));
        }
    }
    if c.scope_covers_required == Some(true) {
        match bearer.param("scope") {
            None => problems.push("challenge lacks the scope parameter".to_string()),
            Some(scope) => {
                let given: Vec<&str> = scope.split_whitespace().collect();
                let missing: Vec<&String> = facts
                    .required_scopes
                    .iter()
                    .filter(|r| !given.contains(&r.as_str()))
                    .collect();
                if !missing.is_empty() {
                    problems.push(format!(
                        "challenge scope {scope:?} does not name the required scope(s) {missing:?}"
                    ));
                }
            }
        }
    }
    problems
}
