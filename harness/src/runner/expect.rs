//! The judges of a request step: what the `expect` and `require` tables of a scenario file say
//! about one answer of the target. Pure functions of the exchange (and the target's required
//! scopes), so every assertion is unit-tested without a server.

use crate::challenge;
use crate::mcp::accepted;
use crate::scenario::{ChallengeExpect, Expect};
use crate::target::Exchange;

/// The problems with one answer, judged against an `expect` (or `require`) table; empty when it
/// meets them all. `idp_paths` are the paths the mock IdP saw during the step.
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

#[cfg(test)]
mod tests {
    use expect_test::{Expect as Expected, expect};

    use super::*;
    use crate::testkit::exchange;

    /// Judges `answer` against the `expect` table written as TOML, as in a scenario file.
    fn check(table: &str, answer: &str, required: &[&str], idp_paths: &[&str], expected: Expected) {
        let table: Expect = toml::from_str(table).expect("an expect table");
        let e = exchange(&format!("POST http://127.0.0.1:1/mcp\n=>\n{answer}"));
        let required: Vec<String> = required.iter().map(|s| s.to_string()).collect();
        let paths: Vec<String> = idp_paths.iter().map(|s| s.to_string()).collect();
        let problems = evaluate(&table, &e, &required, &paths);
        let text = if problems.is_empty() {
            "meets the table".to_string()
        } else {
            problems.join("\n")
        };
        expected.assert_eq(&(text + "\n"));
    }

    const INVALID_TOKEN: &str = r#"401
www-authenticate: Bearer error="invalid_token", resource_metadata="http://127.0.0.1:1/prm", scope="mcp:tools""#;

    #[test]
    fn status_and_refusal() {
        check(
            "status = [401]\naccepted = false",
            INVALID_TOKEN,
            &[],
            &[],
            expect![[r#"
                meets the table
            "#]],
        );
        check(
            "status = [401, 400]\naccepted = false",
            "200\ncontent-type: application/json\n\n{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}",
            &[],
            &[],
            expect![[r#"
                expected HTTP 401 or 400, got 200
                expected a refusal, but the target answered HTTP 200
            "#]],
        );
        // No answer is a refusal when only a refusal is asked for, and a failure otherwise.
        check(
            "accepted = false",
            "! timed out",
            &[],
            &[],
            expect![[r#"
            meets the table
        "#]],
        );
        check(
            "status = [401]",
            "! timed out",
            &[],
            &[],
            expect![[r#"
            no answer: timed out
        "#]],
        );
    }

    #[test]
    fn acceptance_needs_a_json_rpc_result() {
        check(
            "accepted = true",
            "200\ncontent-type: application/json\n\n{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32600,\"message\":\"no\"}}",
            &[],
            &[],
            expect![[r#"
                expected the request to be accepted, but it HTTP 200 with JSON-RPC error -32600: no
            "#]],
        );
        check(
            "accepted = true",
            "200\ncontent-type: application/json\n\n{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}",
            &[],
            &[],
            expect![[r#"
                meets the table
            "#]],
        );
    }

    #[test]
    fn challenge_parameters() {
        check(
            "challenge = { error = \"invalid_token\", has = [\"resource_metadata\"], scope_covers_required = true }",
            INVALID_TOKEN,
            &["mcp:tools"],
            &[],
            expect![[r#"
                meets the table
            "#]],
        );
        check(
            "challenge = { error = \"insufficient_scope\", lacks = [\"scope\"], scope_covers_required = true }",
            INVALID_TOKEN,
            &["mcp:tools", "mcp:admin"],
            &[],
            expect![[r#"
                challenge error is "invalid_token", expected "insufficient_scope"
                challenge carries scope="mcp:tools", which it should not
                challenge scope "mcp:tools" does not name the required scope(s) ["mcp:admin"]
            "#]],
        );
        check(
            "challenge = { bearer = true }",
            "401\nwww-authenticate: Basic realm=\"x\"",
            &[],
            &[],
            expect![[r#"
                no Bearer challenge in WWW-Authenticate: Basic realm="x"
            "#]],
        );
    }

    #[test]
    fn html_bodies_and_idp_fetches() {
        check(
            "body_not_html = true\nidp_not_requested = \"/probe\"",
            "401\ncontent-type: text/html\n\n<!doctype html><p>denied</p>",
            &[],
            &["/jwks", "/probe/jku"],
            expect![[r#"
                the error body is HTML; clients expect an empty or JSON body
                the target fetched /probe/jku from the IdP because a token header told it to
            "#]],
        );
    }
}
