//! The human-readable report printed to the terminal.

use std::fmt::Write as _;

use super::Report;
use crate::check::Status;

/// Whether to colour the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TerminalStyle {
    Plain,
    Color,
}

impl TerminalStyle {
    /// Colour only on a terminal and only when `NO_COLOR` is unset (no-color.org).
    pub fn detect() -> TerminalStyle {
        use std::io::IsTerminal;
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        if !no_color && std::io::stdout().is_terminal() {
            TerminalStyle::Color
        } else {
            TerminalStyle::Plain
        }
    }
}

fn paint(style: TerminalStyle, code: &str, text: &str) -> String {
    match style {
        TerminalStyle::Plain => text.to_string(),
        TerminalStyle::Color => format!("\x1b[{code}m{text}\x1b[0m"),
    }
}

fn label(style: TerminalStyle, status: Status) -> String {
    match status {
        Status::Pass => paint(style, "32", "PASS"),
        Status::Fail => paint(style, "31;1", "FAIL"),
        Status::Warn => paint(style, "33", "WARN"),
        Status::Skip => paint(style, "2", "SKIP"),
        Status::NotTestable => paint(style, "35", "N/T "),
        Status::Info => paint(style, "36", "INFO"),
    }
}

pub fn render_terminal(report: &Report, style: TerminalStyle) -> String {
    // Target text may carry control characters: never pass them to a terminal or a file.
    let report = &report.for_display();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}",
        paint(
            style,
            "1",
            &format!("MCP authorization conformance: {}", report.target)
        )
    );
    let _ = writeln!(out, "  MCP revision:  {}", report.spec_version);
    let _ = writeln!(
        out,
        "  mode:          {}: {}",
        report.mode.describe(),
        report.mode_reason
    );
    let validation = match report.validation {
        Some(crate::check::Validation::Jwt) => "JWT against the JWKS",
        Some(crate::check::Validation::Introspection) => "introspection (RFC 7662)",
        Some(crate::check::Validation::PreShared) => "pre-shared tokens only",
        Some(crate::check::Validation::OwnTokens) => "tokens from its own authorization server",
        None => "unknown",
    };
    let _ = writeln!(
        out,
        "  validation:    {validation}: {}",
        report.validation_reason
    );
    let scopes = if report.required_scopes.is_empty() {
        "none".to_string()
    } else {
        report.required_scopes.join(" ")
    };
    let _ = writeln!(out, "  scopes:        {scopes}: {}", report.scopes_reason);
    let _ = writeln!(out, "  mock IdP:      {}", report.idp.issuer);
    for era in &report.eras {
        let judged = if era.judged {
            match era.revision {
                Some(r) => format!("judged against {r}"),
                None => "judged".to_string(),
            }
        } else {
            "not judged".to_string()
        };
        let _ = writeln!(
            out,
            "  {:<14} {judged}: {}",
            format!("{} era:", era.era),
            era.how
        );
    }
    if let Some(discover) = &report.server_discover {
        let _ = writeln!(out, "  discovery:     {discover}");
    }
    let pc = if report.positive_control.passed {
        paint(style, "32", "passed")
    } else {
        paint(style, "31;1", "FAILED")
    };
    let _ = writeln!(
        out,
        "  positive control: {pc}: {}",
        report.positive_control.message
    );
    if !report.positive_control.passed {
        for e in &report.positive_control.evidence {
            let _ = writeln!(out, "      > {}", e.request);
            if let Some(s) = e.status {
                let _ = writeln!(out, "      < HTTP {s}");
            }
            for h in &e.response_headers {
                let _ = writeln!(out, "      < {h}");
            }
        }
    }
    let _ = writeln!(out);
    let mut area = String::new();
    for c in &report.checks {
        if c.area != area {
            area = c.area.clone();
            let _ = writeln!(out, "{}", paint(style, "1", &format!("[{area}]")));
        }
        let level = format!("{:<6}", c.level.to_string());
        let expected = if c.expected_failure {
            " (expected by the baseline)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  {} {level} {:<40} {}{expected}",
            label(style, c.status),
            c.id,
            c.title
        );
        if matches!(
            c.status,
            Status::Fail | Status::Warn | Status::NotTestable | Status::Info
        ) {
            let _ = writeln!(out, "         {}", c.message);
            for d in c.details.iter().take(4) {
                let _ = writeln!(out, "         - {d}");
            }
            if matches!(c.status, Status::Fail | Status::Warn) {
                for e in c.evidence.iter().take(2) {
                    let _ = writeln!(out, "         > {}", e.request);
                    for h in e
                        .request_headers
                        .iter()
                        .filter(|h| h.to_ascii_lowercase().starts_with("authorization"))
                    {
                        let _ = writeln!(out, "         > {h}");
                    }
                    match (e.status, &e.error) {
                        (Some(s), _) => {
                            let _ = writeln!(out, "         < HTTP {s}");
                        }
                        (None, Some(err)) => {
                            let _ = writeln!(out, "         < {err}");
                        }
                        _ => {}
                    }
                    for h in e
                        .response_headers
                        .iter()
                        .filter(|h| h.starts_with("www-authenticate") || h.starts_with("location"))
                    {
                        let _ = writeln!(out, "         < {h}");
                    }
                }
                if let Some(fix) = &c.fix {
                    let _ = writeln!(out, "         fix: {fix}");
                }
                let refs: Vec<&str> = c.references.iter().map(|r| r.id.as_str()).collect();
                let _ = writeln!(out, "         see: {}", refs.join("; "));
            }
        }
    }
    let s = &report.summary;
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "MUST: {}/{} passed ({} failed, {} not testable); SHOULD: {}/{} passed; {} skipped as not applicable",
        s.must.passed,
        s.must.applicable,
        s.must.failed,
        s.must.not_testable,
        s.should.passed,
        s.should.applicable,
        s.skipped
    );
    for note in &report.notes {
        let _ = writeln!(out, "note: {note}");
    }
    let verdict = if s.conformant {
        paint(style, "32;1", "CONFORMANT: every applicable MUST passed")
    } else {
        paint(
            style,
            "31;1",
            "NOT CONFORMANT: an applicable MUST failed or could not be tested",
        )
    };
    let _ = writeln!(out, "{verdict}");
    if let Some(b) = &report.baseline {
        let _ = writeln!(
            out,
            "expected failures ({}): {} as expected, {} stale, {} unexpected",
            b.file,
            b.expected.len(),
            b.stale.len(),
            b.unexpected.len()
        );
        if !b.stale.is_empty() {
            let _ = writeln!(
                out,
                "{}",
                paint(
                    style,
                    "31;1",
                    &format!(
                        "stale baseline entries (these now pass; remove them): {}",
                        b.stale.join(", ")
                    )
                )
            );
        }
        if !b.unexpected.is_empty() {
            let _ = writeln!(
                out,
                "MUST failures the baseline does not list: {}",
                b.unexpected.join(", ")
            );
        }
        let verdict = if report.passes() {
            paint(
                style,
                "32;1",
                "PASSING: every MUST failure is expected by the baseline, and no entry is stale",
            )
        } else {
            paint(
                style,
                "31;1",
                "FAILING: a MUST failure is not in the baseline, or a baseline entry is stale",
            )
        };
        let _ = writeln!(out, "{verdict}");
    }
    out
}
