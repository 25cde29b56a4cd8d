//! The human-readable report printed to the terminal.

use std::fmt::Write as _;

use super::{CheckResult, Report};
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
    // Areas in report order; in each, the checks that do not apply to this target are collapsed
    // into one line naming why (every file report keeps each of them).
    let mut rest = report.checks.as_slice();
    while let Some(first) = rest.first() {
        let len = rest.iter().take_while(|c| c.area == first.area).count();
        let (group, tail) = rest.split_at(len);
        rest = tail;
        let header = paint(style, "1", &format!("[{}]", first.area));
        let skipped: Vec<&CheckResult> =
            group.iter().filter(|c| c.status == Status::Skip).collect();
        if skipped.len() == group.len() {
            let _ = writeln!(out, "{header} {}", not_applicable(style, &skipped));
            continue;
        }
        let _ = writeln!(out, "{header}");
        for c in group.iter().filter(|c| c.status != Status::Skip) {
            write_check(&mut out, style, c);
        }
        if !skipped.is_empty() {
            let _ = writeln!(out, "  {}", not_applicable(style, &skipped));
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

/// One check's lines: status, level, ID and title, then for a failure, a warning, a check that
/// could not be tested or an INFO finding, why, and for a failure or a warning the evidence, the fix
/// and the references.
fn write_check(out: &mut String, style: TerminalStyle, c: &CheckResult) {
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

/// "6 not applicable: <reason>" for the skipped checks of one area, each distinct reason once (in
/// report order, each with its count when the area has several).
fn not_applicable(style: TerminalStyle, skipped: &[&CheckResult]) -> String {
    let mut reasons: Vec<(&str, usize)> = Vec::new();
    for c in skipped {
        match reasons.iter_mut().find(|(r, _)| *r == c.message) {
            Some((_, n)) => *n += 1,
            None => reasons.push((&c.message, 1)),
        }
    }
    let why = match reasons.as_slice() {
        [(reason, _)] => reason.to_string(),
        _ => reasons
            .iter()
            .map(|(reason, n)| format!("{reason} ({n})"))
            .collect::<Vec<_>>()
            .join("; "),
    };
    paint(
        style,
        "2",
        &format!("{} not applicable: {why}", skipped.len()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Level;

    fn check(id: &str, status: Status, message: &str) -> CheckResult {
        crate::testkit::check_result(id, Level::Must, status, message)
    }

    fn lines_of(checks: Vec<CheckResult>) -> Vec<String> {
        let report = crate::testkit::report_of(checks);
        // The checks are the lines between the header's blank line and the summary's.
        render_terminal(&report, TerminalStyle::Plain)
            .lines()
            .skip_while(|l| !l.is_empty())
            .skip(1)
            .take_while(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn checks_that_do_not_apply_are_one_line_per_area() {
        let not_as = "does not apply to mode B";
        let lines = lines_of(vec![
            check("dcr.a", Status::Skip, not_as),
            check("dcr.b", Status::Skip, not_as),
            check("jwt.a", Status::Pass, ""),
            check("jwt.b", Status::Skip, "needs a JWT"),
            check("scope.a", Status::Skip, not_as),
            check("scope.b", Status::Skip, "needs a scope"),
            check("scope.c", Status::Skip, not_as),
        ]);
        assert_eq!(
            lines,
            [
                "[dcr] 2 not applicable: does not apply to mode B",
                "[jwt]",
                "  PASS MUST   jwt.a                                    title of jwt.a",
                "  1 not applicable: needs a JWT",
                "[scope] 3 not applicable: does not apply to mode B (2); needs a scope (1)",
            ]
        );
    }
}
