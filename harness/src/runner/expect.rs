//! The judges of a request step: what the `expect` and `require` tables of a scenario file say
//! about one answer of the target. Pure functions of the exchange (and the target's required
//! scopes), so every assertion is unit-tested without a server.

use crate::challenge;
use crate::mcp::accepted;
use crate::scenario::{ChallengeExpect, Expect};
use crate::target::Exchange;

pub(super) fn evaluate(
    expect: &Expect,
    exchange: &Exchange,
    required_scopes: &[String],
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
            required_scopes,
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

fn evaluate_challenge(
    c: &ChallengeExpect,
    values: Vec<&str>,
    required_scopes: &[String],
) -> Vec<String> {
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
                let missing: Vec<&String> = required_scopes
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
