//! Fixtures for the judges' unit tests: exchanges and authorization walks written as data, and a
//! verdict rendered as text to compare with an `expect!` block (the rust-analyzer `check` style:
//! `UPDATE_EXPECT=1 cargo test` rewrites the blocks after a deliberate change).
//!
//! An exchange is written as the request, `=>`, and the answer:
//!
//! ```text
//! POST http://127.0.0.1:1/token
//! content-type: application/x-www-form-urlencoded
//!
//! grant_type=authorization_code&code=abc
//! =>
//! 400
//! content-type: application/json
//!
//! {"error":"invalid_grant"}
//! ```
//!
//! An answer of `!` followed by a reason (`=> ! connection refused`) is no answer at all.

// Builders used by only some of the areas' tests.
#![allow(dead_code)]

use std::time::Duration;

use crate::browser::agent::{AuthorizeEnd, AuthorizeRun, Page};
use crate::target::{Exchange, Request, Response};
use crate::verdict::Verdict;

/// Parses one exchange fixture (see the module documentation).
pub fn exchange(fixture: &str) -> Exchange {
    let fixture = trim_indent(fixture);
    let (request, answer) = fixture
        .split_once("\n=>")
        .unwrap_or_else(|| panic!("an exchange fixture needs `=>`: {fixture}"));
    let (head, body) = split_message(request);
    let mut lines = head.lines();
    let start = lines.next().unwrap_or_default();
    let (method, url) = start
        .split_once(' ')
        .unwrap_or_else(|| panic!("the first line is `METHOD URL`: {start}"));
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
    let mut req = Request::new(method, url.trim());
    for line in lines {
        let (name, value) = header(line);
        req = req.header(&name, value);
    }
    req.body = (!body.is_empty()).then(|| body.as_bytes().to_vec());
    let answer = answer.trim_start();
    let response = match answer.strip_prefix('!') {
        Some(why) => Err(why.trim().to_string()),
        None => {
            let (head, body) = split_message(answer);
            let mut lines = head.lines();
            let status = lines
                .next()
                .and_then(|l| l.trim().parse().ok())
                .unwrap_or_else(|| panic!("the answer starts with its status: {answer}"));
            Ok(Response {
                status,
                headers: lines.map(header).collect(),
                body: body.as_bytes().to_vec(),
                truncated: false,
            })
        }
    };
    Exchange {
        request: req,
        response,
        elapsed: Duration::ZERO,
    }
}

/// A walk that reached the redirect URI with these query parameters (`code=a&state=b`).
pub fn callback(query: &str) -> AuthorizeRun {
    let url = format!("http://127.0.0.1:1/callback?{query}");
    AuthorizeRun {
        hops: vec![exchange(&format!(
            "GET http://127.0.0.1:2/authorize\n=>\n302\nlocation: {url}\n"
        ))],
        pages: Vec::new(),
        end: AuthorizeEnd::Callback {
            params: url::form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
            url,
        },
        cookies_set: Vec::new(),
        unticked: false,
    }
}

/// A walk that stopped at an answer that is not a redirect.
pub fn stopped(status: u16, why: &str) -> AuthorizeRun {
    AuthorizeRun {
        hops: vec![exchange(&format!(
            "GET http://127.0.0.1:2/authorize\n=>\n{status}\ncontent-type: text/plain\n\n{why}"
        ))],
        pages: Vec::new(),
        end: AuthorizeEnd::Stopped {
            status: Some(status),
            why: why.to_string(),
        },
        cookies_set: Vec::new(),
        unticked: false,
    }
}

/// A walk redirected to a URL outside the known origins.
pub fn elsewhere(url: &str) -> AuthorizeRun {
    AuthorizeRun {
        hops: vec![exchange(&format!(
            "GET http://127.0.0.1:2/authorize\n=>\n302\nlocation: {url}\n"
        ))],
        pages: Vec::new(),
        end: AuthorizeEnd::Elsewhere {
            url: url.to_string(),
        },
        cookies_set: Vec::new(),
        unticked: false,
    }
}

/// `run` with a consent page it answered (approve and deny buttons) at this URL, showing this
/// text.
pub fn with_page(run: AuthorizeRun, url: &str, text: &str) -> AuthorizeRun {
    with_form(
        run,
        url,
        text,
        r#"<form method="post" action="/consent"><button name="action" value="approve">Approve</button><button name="action" value="deny">Deny</button></form>"#,
    )
}

/// `run` with a login page it answered (a username and password form) at this URL.
pub fn with_login_page(run: AuthorizeRun, url: &str) -> AuthorizeRun {
    with_form(
        run,
        url,
        "Sign in",
        r#"<form method="post" action="/login"><input name="username"><input type="password" name="password"><button>Sign in</button></form>"#,
    )
}

fn with_form(mut run: AuthorizeRun, url: &str, text: &str, html: &str) -> AuthorizeRun {
    run.pages.push(Page {
        hop: 0,
        url: url.to_string(),
        form: crate::browser::html::read_page(html)
            .forms
            .into_iter()
            .next(),
        text: text.to_string(),
    });
    run
}

/// A verdict as text: its status and first message, then every other line, then the evidence as
/// `METHOD URL -> STATUS`.
pub fn render(v: &Verdict) -> String {
    let mut lines: Vec<String> = Vec::new();
    let (status, rest): (&str, Vec<&String>) = if !v.failures.is_empty() {
        ("fail", v.failures.iter().collect())
    } else if !v.unmet.is_empty() {
        ("not testable", v.unmet.iter().collect())
    } else if let Some(why) = &v.skip {
        ("skip", vec![why])
    } else if !v.warnings.is_empty() {
        ("warn", v.warnings.iter().collect())
    } else {
        ("pass", Vec::new())
    };
    let mut messages = rest.into_iter();
    match messages.next() {
        Some(first) => lines.push(format!("{status}: {first}")),
        None => lines.push(status.to_string()),
    }
    for m in messages {
        lines.push(format!("  {m}"));
    }
    for (kind, items) in [
        ("warning", &v.warnings),
        ("unmet", &v.unmet),
        ("note", &v.notes),
    ] {
        if status == "warn" && kind == "warning" || status == "not testable" && kind == "unmet" {
            continue;
        }
        for item in items {
            lines.push(format!("  {kind}: {item}"));
        }
    }
    for e in &v.evidence {
        lines.push(format!(
            "  evidence: {} {} -> {}",
            e.request.method,
            e.request.url,
            e.status_text()
        ));
    }
    lines.join("\n") + "\n"
}

fn header(line: &str) -> (String, String) {
    let (name, value) = line
        .split_once(':')
        .unwrap_or_else(|| panic!("a header line is `name: value`: {line}"));
    (name.trim().to_ascii_lowercase(), value.trim().to_string())
}

/// Head and body of a message, split at the first empty line.
fn split_message(text: &str) -> (&str, &str) {
    match text.split_once("\n\n") {
        Some((head, body)) => (head.trim_end(), body.trim_end_matches('\n')),
        None => (text.trim_end(), ""),
    }
}

/// The fixture with its common leading indentation and surrounding blank lines removed.
fn trim_indent(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let indent = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let body: Vec<&str> = lines
        .iter()
        .map(|l| {
            if l.len() >= indent {
                &l[indent..]
            } else {
                l.trim_start()
            }
        })
        .collect();
    body.join("\n").trim_matches('\n').to_string()
}

/// A check result with nothing but its ID, level, status and message, for tests of what is made
/// of results (reports, era merging, baselines).
pub fn check_result(
    id: &str,
    level: crate::check::Level,
    status: crate::check::Status,
    message: &str,
) -> crate::report::CheckResult {
    crate::report::CheckResult {
        id: id.into(),
        title: format!("title of {id}"),
        area: id.split('.').next().unwrap_or_default().into(),
        level,
        status,
        message: message.into(),
        details: Vec::new(),
        description: String::new(),
        fix: None,
        references: Vec::new(),
        evidence: Vec::new(),
        expected_failure: false,
        duration_ms: 0,
        eras: Vec::new(),
    }
}

/// A report of `checks` against a loopback target in mode B whose positive control passed;
/// tests change the fields they are about.
pub fn report_of(checks: Vec<crate::report::CheckResult>) -> crate::report::Report {
    use crate::report::{IdpSummary, PositiveControlReport, Report, SCHEMA_VERSION, Summary};
    Report {
        schema_version: SCHEMA_VERSION,
        tool: "t".into(),
        started_at: "2026-01-01T00:00:00Z".into(),
        target: "http://127.0.0.1:1/mcp".into(),
        spec_version: crate::spec::SpecVersion::LATEST,
        mode: crate::check::Mode::B,
        mode_reason: String::new(),
        validation: None,
        validation_reason: String::new(),
        required_scopes: Vec::new(),
        scopes_reason: String::new(),
        idp: IdpSummary {
            issuer: "http://127.0.0.1:2".into(),
            jwks_uri: "http://127.0.0.1:2/jwks".into(),
            introspection_endpoint: "http://127.0.0.1:2/introspect".into(),
        },
        eras: Vec::new(),
        server_discover: None,
        positive_control: PositiveControlReport {
            passed: true,
            message: String::new(),
            evidence: Vec::new(),
        },
        summary: Summary::of(&checks),
        checks,
        notes: Vec::new(),
        baseline: None,
        duration_ms: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_exchange() {
        let e = exchange(
            r#"
            POST http://127.0.0.1:1/token
            content-type: application/x-www-form-urlencoded

            grant_type=x
            =>
            400
            Content-Type: application/json

            {"error":"invalid_grant"}
            "#,
        );
        assert_eq!(e.request.method, reqwest::Method::POST);
        assert_eq!(e.request.body.as_deref(), Some(&b"grant_type=x"[..]));
        let r = e.response().unwrap();
        assert_eq!(r.status, 400);
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.body_text(), r#"{"error":"invalid_grant"}"#);
        let none = exchange("GET http://127.0.0.1:1/\n=> ! connection refused");
        assert_eq!(none.failure(), "connection refused");
    }
}
