//! JUnit XML: one `<testsuite>` per area, one `<testcase>` per check, in the shape Jenkins, GitLab,
//! GitHub test-report actions and `junitparser` read.
//!
//! A failed check (or an untestable MUST) is a `<failure>`; a skipped check, or one a baseline
//! expects to fail, is `<skipped>`, so the JUnit verdict agrees with the exit code.

use std::fmt::Write as _;

use super::{CheckResult, Report};
use crate::check::Status;

/// Escapes text for an XML attribute or element.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 forbids most control characters even when escaped.
            '\t' | '\n' | '\r' => out.push(ch),
            c if (c as u32) < 0x20 => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

enum Outcome {
    Passed,
    Failed,
    Skipped,
}

fn outcome(c: &CheckResult) -> Outcome {
    if c.expected_failure || c.status == Status::Skip {
        Outcome::Skipped
    } else if c.is_failure() {
        Outcome::Failed
    } else if c.status == Status::NotTestable {
        // An untestable SHOULD does not fail the run, and did not pass either.
        Outcome::Skipped
    } else {
        Outcome::Passed
    }
}

/// The body of a failure: the message, details, fix, references and evidence.
fn failure_text(c: &CheckResult) -> String {
    let mut text = format!("{} [{}] {}\n", c.id, c.level, c.message);
    for d in &c.details {
        let _ = writeln!(text, "  - {d}");
    }
    if let Some(fix) = &c.fix {
        let _ = writeln!(text, "fix: {}", fix.trim());
    }
    for r in &c.references {
        let _ = writeln!(text, "see: {} {}", r.id, r.url);
    }
    if !c.evidence.is_empty() {
        let _ = writeln!(
            text,
            "evidence:\n{}",
            serde_json::to_string_pretty(&c.evidence).unwrap_or_default()
        );
    }
    text
}

/// Renders the report as JUnit XML.
pub fn render_junit(report: &Report) -> String {
    // Target text may carry control characters: never pass them to a terminal or a file.
    let report = &report.for_display();
    let mut areas: Vec<&str> = Vec::new();
    for c in &report.checks {
        if !areas.contains(&c.area.as_str()) {
            areas.push(&c.area);
        }
    }
    let count = |checks: &[&CheckResult], f: fn(&Outcome) -> bool| {
        checks.iter().filter(|c| f(&outcome(c))).count()
    };
    let all: Vec<&CheckResult> = report.checks.iter().collect();
    let total_ms: u64 = report.checks.iter().map(|c| c.duration_ms).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"mcp-auth-conformance\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{}\" timestamp=\"{}\">",
        all.len(),
        count(&all, |o| matches!(o, Outcome::Failed)),
        count(&all, |o| matches!(o, Outcome::Skipped)),
        seconds(total_ms),
        xml(report.started_at.trim_end_matches('Z')),
    );
    for area in areas {
        let checks: Vec<&CheckResult> = report.checks.iter().filter(|c| c.area == area).collect();
        let ms: u64 = checks.iter().map(|c| c.duration_ms).sum();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{}\" timestamp=\"{}\" hostname=\"localhost\">",
            xml(&format!("mcp-auth-conformance.{area}")),
            checks.len(),
            count(&checks, |o| matches!(o, Outcome::Failed)),
            count(&checks, |o| matches!(o, Outcome::Skipped)),
            seconds(ms),
            xml(report.started_at.trim_end_matches('Z')),
        );
        let _ = writeln!(out, "    <properties>");
        for (name, value) in [
            ("target", report.target.as_str()),
            ("spec_version", report.spec_version.as_str()),
            ("mode", report.mode.describe()),
        ] {
            let _ = writeln!(
                out,
                "      <property name=\"{name}\" value=\"{}\"/>",
                xml(value)
            );
        }
        let _ = writeln!(out, "    </properties>");
        for c in checks {
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{}\"",
                xml(&format!("mcp-auth-conformance.{area}")),
                xml(&format!("{} [{}] {}", c.id, c.level, c.title)),
                seconds(c.duration_ms),
            );
            match outcome(c) {
                Outcome::Passed => {
                    if matches!(c.status, Status::Warn | Status::Info) {
                        let kind = if c.status == Status::Warn {
                            "warning"
                        } else {
                            "info"
                        };
                        let _ = writeln!(out, ">");
                        let _ = writeln!(
                            out,
                            "      <system-out>{}</system-out>",
                            xml(&format!("{kind}: {}", c.message))
                        );
                        let _ = writeln!(out, "    </testcase>");
                    } else {
                        let _ = writeln!(out, "/>");
                    }
                }
                Outcome::Skipped => {
                    let why = if c.expected_failure {
                        format!("expected failure (baseline): {}", c.message)
                    } else {
                        format!("{}: {}", c.status, c.message)
                    };
                    let _ = writeln!(out, ">");
                    let _ = writeln!(out, "      <skipped message=\"{}\"/>", xml(&why));
                    let _ = writeln!(out, "    </testcase>");
                }
                Outcome::Failed => {
                    let _ = writeln!(out, ">");
                    let _ = writeln!(
                        out,
                        "      <failure message=\"{}\" type=\"{}\">{}</failure>",
                        xml(&c.message),
                        xml(&format!("{}.{}", c.level, c.status)),
                        xml(&failure_text(c)),
                    );
                    let _ = writeln!(out, "    </testcase>");
                }
            }
        }
        let _ = writeln!(out, "  </testsuite>");
    }
    let _ = writeln!(out, "</testsuites>");
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn xml_escapes_markup_and_control_characters() {
        assert_eq!(
            super::xml("a<b & \"c\" 'd'>\u{1}"),
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;\u{FFFD}"
        );
    }
}
