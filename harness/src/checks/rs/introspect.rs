//! Token introspection (RFC 7662) as the target calls it.

use serde_json::Value;

use super::*;

pub(crate) const PROBES: &[Probe] = &[probe!("introspect.request-shape" => request_shape)];

/// `introspect.request-shape`.
async fn request_shape(cx: &Cx<'_>) -> Result<StepOutcome, HarnessError> {
    let ctx = cx.ctx;
    let facts = cx.facts;
    let calls: Vec<_> = ctx
        .idp
        .requests_since(facts.log_start)
        .await?
        .into_iter()
        .filter(|r| r.endpoint == "introspect")
        .collect();
    let Some(call) = calls.first() else {
        return Ok(StepOutcome::not_testable(
            "the target never called the introspection endpoint",
            Vec::new(),
        ));
    };
    let header = |name: &str| {
        call.headers
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let mut problems = Vec::new();
    if call.method != "POST" {
        problems.push(format!(
            "used {} instead of POST (RFC 7662 §2.1)",
            call.method
        ));
    }
    if !header("content-type")
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        problems.push(format!(
            "sent Content-Type {:?} instead of application/x-www-form-urlencoded",
            header("content-type")
        ));
    }
    let form: Vec<(String, String)> = url::form_urlencoded::parse(call.body.as_bytes())
        .into_owned()
        .collect();
    let has = |k: &str| form.iter().any(|(n, v)| n == k && !v.is_empty());
    if !has("token") {
        problems.push("the form has no token parameter".into());
    }
    let basic = header("authorization")
        .to_ascii_lowercase()
        .starts_with("basic ");
    let bearer = header("authorization")
        .to_ascii_lowercase()
        .starts_with("bearer ");
    let body_auth = has("client_id") && (has("client_secret") || has("client_assertion"));
    if !(basic || bearer || body_auth) {
        problems.push("the request carries no client authentication (RFC 7662 §2.1 requires the caller to authenticate)".into());
    }
    if call.status == 401 {
        problems.push("the IdP refused the caller's authentication (HTTP 401)".into());
    }
    let summary = format!(
        "{} {} with Content-Type {:?}, client authentication {}",
        call.method,
        call.path,
        header("content-type"),
        if basic {
            "HTTP Basic"
        } else if body_auth {
            "in the form body"
        } else if bearer {
            "Bearer"
        } else {
            "none"
        }
    );
    if problems.is_empty() {
        Ok(StepOutcome::pass(
            format!("introspection request: {summary}"),
            Vec::new(),
        ))
    } else {
        let mut o = StepOutcome::fail(problems.join("; "), Vec::new());
        o.notes
            .push(format!("introspection request seen by the IdP: {summary}"));
        Ok(o)
    }
}
