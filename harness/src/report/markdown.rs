//! A Markdown summary for a CI step summary (`$GITHUB_STEP_SUMMARY`) or a merge-request comment:
//! the verdict, the counts, every check that needs attention with its fix and evidence, and the
//! full list folded away.

use std::fmt::Write as _;

use super::{CheckResult, Report};
use crate::check::Status;

/// Escapes text for a table cell or inline Markdown.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
        .replace('\n', " ")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn icon(c: &CheckResult) -> &'static str {
    if c.expected_failure {
        return "⚪ expected failure";
    }
    match c.status {
        Status::Pass => "✅ pass",
        Status::Fail => "❌ fail",
        Status::Warn => "⚠️ warn",
        Status::Skip => "➖ skip",
        Status::NotTestable => "❔ not testable",
        Status::Info => "ℹ️ info",
    }
}

/// Renders the report as Markdown.
pub fn render_markdown(report: &Report) -> String {
    // Target text may carry control characters: never pass them to a terminal or a file.
    let report = &report.for_display();
    let mut out = String::new();
    let s = &report.summary;
    let verdict = if report.passes() {
        if s.conformant {
            "✅ conformant"
        } else {
            "✅ passing (failures expected by the baseline)"
        }
    } else {
        "❌ not conformant"
    };
    let _ = writeln!(out, "## MCP authorization conformance: {verdict}\n");
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(out, "| Target | `{}` |", cell(&report.target));
    let _ = writeln!(out, "| MCP revision | {} |", report.spec_version);
    let _ = writeln!(out, "| Mode | {} |", cell(report.mode.describe()));
    let validation = match report.validation {
        Some(crate::check::Validation::Jwt) => "JWT against the JWKS",
        Some(crate::check::Validation::Introspection) => "introspection (RFC 7662)",
        Some(crate::check::Validation::PreShared) => "pre-shared tokens only",
        Some(crate::check::Validation::OwnTokens) => "tokens from its own authorization server",
        None => "unknown",
    };
    let _ = writeln!(out, "| Token validation | {validation} |");
    for era in &report.eras {
        let _ = writeln!(
            out,
            "| {} era | {}{}: {} |",
            cell(&capitalise(era.era.as_str())),
            if era.judged { "judged" } else { "not judged" },
            era.revision
                .map(|r| format!(" against {r}"))
                .unwrap_or_default(),
            cell(&era.how)
        );
    }
    let _ = writeln!(
        out,
        "| Valid token accepted | {} |",
        if report.positive_control.passed {
            "yes".to_string()
        } else {
            format!("**no**: {}", cell(&report.positive_control.message))
        }
    );
    let _ = writeln!(
        out,
        "| MUST | {} passed, {} failed, {} not testable |",
        s.must_fraction(),
        s.must.failed,
        s.must.not_testable
    );
    let _ = writeln!(
        out,
        "| SHOULD | {}/{} passed, {} failed, {} not testable |",
        s.should.passed, s.should.applicable, s.should.failed, s.should.not_testable
    );
    let _ = writeln!(
        out,
        "| All checks | {} pass, {} warn, {} fail, {} not testable, {} info, {} skipped |",
        s.passed, s.warned, s.failed, s.not_testable, s.info, s.skipped
    );
    let _ = writeln!(out, "| Tool | {} |", cell(&report.tool));
    if let Some(b) = &report.baseline {
        let _ = writeln!(
            out,
            "| Baseline | `{}`: {} expected, {} stale, {} unexpected |",
            cell(&b.file),
            b.expected.len(),
            b.stale.len(),
            b.unexpected.len()
        );
    }
    out.push('\n');
    if let Some(b) = &report.baseline
        && !b.stale.is_empty()
    {
        let _ = writeln!(
            out,
            "**Stale baseline entries** (these now pass; remove them): {}\n",
            b.stale
                .iter()
                .map(|e| format!("`{}`", cell(e)))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }

    let attention: Vec<&CheckResult> = report
        .checks
        .iter()
        .filter(|c| {
            matches!(
                c.status,
                Status::Fail | Status::NotTestable | Status::Warn | Status::Info
            )
        })
        .collect();
    if !attention.is_empty() {
        let _ = writeln!(out, "### Needs attention\n");
        for c in attention {
            let _ = writeln!(
                out,
                "#### {} `{}` ({})\n\n{}: {}\n",
                icon(c),
                c.id,
                c.level,
                cell(&c.title),
                cell(&c.message)
            );
            for d in &c.details {
                let _ = writeln!(out, "- {}", cell(d));
            }
            if !c.details.is_empty() {
                out.push('\n');
            }
            if let Some(fix) = &c.fix {
                let _ = writeln!(out, "**Fix:** {}\n", cell(fix.trim()));
            }
            let refs: Vec<String> = c
                .references
                .iter()
                .map(|r| format!("[{}]({})", r.id, r.url))
                .collect();
            if !refs.is_empty() {
                let _ = writeln!(out, "**See:** {}\n", refs.join(", "));
            }
            if !c.evidence.is_empty() {
                let _ = writeln!(
                    out,
                    "<details><summary>Evidence ({} exchange{})</summary>\n\n```json\n{}\n```\n\n</details>\n",
                    c.evidence.len(),
                    if c.evidence.len() == 1 { "" } else { "s" },
                    serde_json::to_string_pretty(&c.evidence)
                        .unwrap_or_default()
                        .replace("```", "` ` `")
                );
            }
        }
    }

    let _ = writeln!(
        out,
        "<details><summary>All {} checks</summary>\n",
        report.checks.len()
    );
    let _ = writeln!(
        out,
        "| Check | Level | Verdict | Message |\n|---|---|---|---|"
    );
    for c in &report.checks {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} |",
            c.id,
            c.level,
            icon(c),
            cell(&c.message)
        );
    }
    let _ = writeln!(out, "\n</details>");
    for note in &report.notes {
        let _ = writeln!(out, "\n> {}", cell(note));
    }
    out
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
