//! The request steps of scenario files: an optional change to the mock IdP, a token minted (or
//! reused, or mutated), one request to the target, and the answer judged by [`super::expect`].

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::expect::evaluate;
use crate::checks::{self, Cx};
use crate::context::Ctx;
use crate::discovery::Facts;
use crate::error::HarnessError;
use crate::idp::MintedToken;
use crate::rpc::McpCall;
use crate::scenario::{HttpMethod, Step, TokenSpec};
use crate::target::{Exchange, Request};
use crate::verdict::{Stop, Verdict};

/// What one step found, and the token it minted or reused (later steps may name it).
pub(super) struct StepRun {
    pub verdict: Verdict,
    pub token: Option<MintedToken>,
}

pub(super) async fn run_step(
    ctx: &Ctx,
    facts: &Facts,
    step: &Step,
    named: &HashMap<String, MintedToken>,
) -> Result<StepRun, HarnessError> {
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
    if let Some(probe) = &step.probe {
        let verdict = checks::run(probe, &Cx { ctx, facts })
            .await
            .unwrap_or_else(Stop::into_verdict);
        return Ok(StepRun {
            verdict,
            token: None,
        });
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
            ctx.mcp.request(&facts.wire, &call, &authorization, session)
        }
        HttpMethod::Get | HttpMethod::Delete => {
            let m = if method == HttpMethod::Get {
                reqwest::Method::GET
            } else {
                reqwest::Method::DELETE
            };
            let mut r = Request::new(m, ctx.mcp.url.clone())
                .header("accept", "text/event-stream")
                .header("mcp-protocol-version", ctx.mcp.version_header(&facts.wire));
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
    let mut outcome = Verdict::default();
    if let Some(require) = &step.require {
        outcome.unmet = evaluate(require, &exchange, &facts.required_scopes, &idp_paths);
    }
    if outcome.unmet.is_empty()
        && let Some(expect) = &step.expect
    {
        outcome.failures = evaluate(expect, &exchange, &facts.required_scopes, &idp_paths);
        // A target that accepts only a pre-shared token (--token) refuses every minted one; a
        // refusal of a token that was meant to be accepted proves nothing about it.
        let minted = token
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
    Ok(StepRun {
        verdict: outcome,
        token,
    })
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
                ("target".into(), ctx.mcp.url.clone()),
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
