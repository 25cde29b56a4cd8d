//! The official MCP conformance suite's `checks.json` shape (`@modelcontextprotocol/conformance`):
//! an array of checks with `id`, `name`, `description`, `status`, `timestamp`, `specReferences`,
//! `details` and `errorMessage`, so dashboards built for that suite read our results too.

use serde_json::{Value, json};

use super::{CheckResult, Report};
use crate::check::{Level, Status};

/// The status word of the official suite for one of our verdicts.
///
/// A failed or untestable MUST is a `FAILURE` (it fails our run too); a failed SHOULD or MAY is a
/// `WARNING`, as the official suite reports recommendations; an informational check is `INFO`.
pub fn official_status(c: &CheckResult) -> &'static str {
    match (c.status, c.level) {
        (_, Level::Info) if c.status != Status::Skip => "INFO",
        (Status::Info, _) => "INFO",
        (Status::Pass, _) => "SUCCESS",
        (Status::Warn, _) => "WARNING",
        (Status::Skip, _) => "SKIPPED",
        (Status::Fail, Level::Must) | (Status::NotTestable, Level::Must) => "FAILURE",
        (Status::Fail, _) | (Status::NotTestable, _) => "WARNING",
    }
}

/// Renders the report as a `checks.json` array (pretty, stable key order).
pub fn render_checks_json(report: &Report) -> String {
    let checks: Vec<Value> = report
        .checks
        .iter()
        .map(|c| {
            let mut details = serde_json::Map::new();
            details.insert("level".into(), json!(c.level));
            details.insert("area".into(), json!(c.area));
            details.insert("verdict".into(), json!(c.status));
            details.insert("message".into(), json!(c.message));
            details.insert("target".into(), json!(report.target));
            details.insert("specVersion".into(), json!(report.spec_version));
            if !c.details.is_empty() {
                details.insert("notes".into(), json!(c.details));
            }
            if let Some(fix) = &c.fix {
                details.insert("fix".into(), json!(fix));
            }
            if c.expected_failure {
                details.insert("expectedFailure".into(), json!(true));
            }
            if !c.evidence.is_empty() {
                details.insert("evidence".into(), json!(c.evidence));
            }
            let mut check = serde_json::Map::new();
            check.insert("id".into(), json!(c.id));
            check.insert("name".into(), json!(c.title));
            check.insert("description".into(), json!(c.description.trim()));
            check.insert("status".into(), json!(official_status(c)));
            check.insert("timestamp".into(), json!(report.started_at));
            check.insert(
                "specReferences".into(),
                json!(
                    c.references
                        .iter()
                        .map(|r| json!({"id": r.id, "url": r.url}))
                        .collect::<Vec<_>>()
                ),
            );
            check.insert("details".into(), Value::Object(details));
            if matches!(official_status(c), "FAILURE" | "WARNING") && c.status != Status::Pass {
                check.insert("errorMessage".into(), json!(c.message));
            }
            Value::Object(check)
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&checks).unwrap_or_else(|_| "[]".into());
    text.push('\n');
    text
}
