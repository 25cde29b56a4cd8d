//! The report model: one source of truth that every renderer reads.

mod badge;
mod checks_json;
mod junit;
mod markdown;
mod terminal;

use serde::Serialize;

use crate::check::{Level, Mode, Reference, Status, Validation};
use crate::spec::{Era, SpecVersion};
use crate::target::Evidence;

pub use badge::{render_badge_svg, render_shields_json};
pub use checks_json::render_checks_json;
pub use junit::render_junit;
pub use markdown::render_markdown;
pub use terminal::{TerminalStyle, render_terminal};

/// Version of the JSON report's shape; bumped on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub tool: String,
    /// When the run started, RFC 3339 in UTC.
    pub started_at: String,
    pub target: String,
    pub spec_version: SpecVersion,
    pub mode: Mode,
    pub mode_reason: String,
    pub validation: Option<Validation>,
    pub validation_reason: String,
    pub required_scopes: Vec<String>,
    pub scopes_reason: String,
    pub idp: IdpSummary,
    /// The eras of the wire probed: which were judged, on what protocol version and revision.
    pub eras: Vec<EraOutcome>,
    /// Whether `server/discover` needs a token (information, modern era only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_discover: Option<String>,
    pub positive_control: PositiveControlReport,
    pub checks: Vec<CheckResult>,
    pub summary: Summary,
    /// Remarks about the run itself (not verdicts), e.g. the state the target was left in.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// How the run compared with an expected-failures baseline, when one was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<BaselineOutcome>,
    pub duration_ms: u64,
}

/// What discovery learned of one era of the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EraOutcome {
    pub era: Era,
    /// Whether the checks were judged on it.
    pub judged: bool,
    /// The protocol version the target answered in it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<String>,
    /// The revision its checks were judged against.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<SpecVersion>,
    /// How the era was found spoken, not spoken, or forced.
    pub how: String,
}

/// The comparison of a run with an expected-failures file (`--expected-failures`).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct BaselineOutcome {
    pub file: String,
    /// Entries whose checks failed, as the baseline expects.
    pub expected: Vec<String>,
    /// Entries whose checks all passed: the baseline is stale and the run fails.
    pub stale: Vec<String>,
    /// Failing MUST checks the baseline does not list.
    pub unexpected: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IdpSummary {
    pub issuer: String,
    pub jwks_uri: String,
    pub introspection_endpoint: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PositiveControlReport {
    pub passed: bool,
    pub message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<Evidence>,
}

/// The verdict of one check.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub id: String,
    pub title: String,
    pub area: String,
    pub level: Level,
    pub status: Status,
    pub message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    pub references: Vec<Reference>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<Evidence>,
    /// The check failed and an expected-failures baseline lists it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub expected_failure: bool,
    pub duration_ms: u64,
    /// The eras of the wire it was judged on, with the protocol version each answered
    /// (`modern (2026-07-28)`); empty when it did not apply.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub eras: Vec<String>,
}

/// Text a target wrote, made safe for a terminal, Markdown and XML: control characters (escape
/// sequences that clear the screen or fake a green line, a lone carriage return that overwrites
/// a line, NUL, C1 controls) become `\u{fffd}`; line breaks (`\n`, `\r\n`) and tabs stay.
pub fn displayable(text: &str) -> std::borrow::Cow<'_, str> {
    let mut chars = text.chars().peekable();
    let mut bad = false;
    while let Some(c) = chars.next() {
        if unsafe_control(c, chars.peek().copied()) {
            bad = true;
            break;
        }
    }
    if !bad {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(if unsafe_control(c, chars.peek().copied()) {
            '\u{fffd}'
        } else {
            c
        });
    }
    std::borrow::Cow::Owned(out)
}

/// Whether `c` (followed by `next`) would steer a terminal rather than show as text.
fn unsafe_control(c: char, next: Option<char>) -> bool {
    c.is_control() && c != '\n' && c != '\t' && !(c == '\r' && next == Some('\n'))
}

impl Report {
    /// The report with every text a target could have written passed through [`displayable`],
    /// for the renderers people and CI tools read as text.
    pub fn for_display(&self) -> Report {
        let clean = |t: &mut String| {
            if let std::borrow::Cow::Owned(o) = displayable(t) {
                *t = o;
            }
        };
        let clean_evidence = |e: &mut Evidence| {
            clean(&mut e.request);
            e.request_headers.iter_mut().for_each(clean);
            if let Some(b) = e.request_body.as_mut() {
                clean(b);
            }
            e.response_headers.iter_mut().for_each(clean);
            if let Some(b) = e.response_body.as_mut() {
                clean(b);
            }
            if let Some(b) = e.error.as_mut() {
                clean(b);
            }
        };
        let mut r = self.clone();
        clean(&mut r.target);
        clean(&mut r.mode_reason);
        clean(&mut r.validation_reason);
        clean(&mut r.scopes_reason);
        r.required_scopes.iter_mut().for_each(clean);
        clean(&mut r.positive_control.message);
        r.positive_control
            .evidence
            .iter_mut()
            .for_each(clean_evidence);
        r.notes.iter_mut().for_each(clean);
        for c in &mut r.checks {
            clean(&mut c.message);
            c.details.iter_mut().for_each(clean);
            c.evidence.iter_mut().for_each(clean_evidence);
        }
        r
    }
}

impl CheckResult {
    /// Whether this result stands against conformance: a failed check, or an applicable MUST
    /// that could not be tested.
    pub fn is_failure(&self) -> bool {
        match self.status {
            Status::Fail => true,
            Status::NotTestable => self.level == Level::Must,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    pub applicable: usize,
    pub passed: usize,
    pub failed: usize,
    pub not_testable: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub must: Counts,
    pub should: Counts,
    pub passed: usize,
    pub failed: usize,
    pub warned: usize,
    pub skipped: usize,
    pub not_testable: usize,
    /// Findings of informational checks.
    pub info: usize,
    /// Every applicable MUST passed.
    pub conformant: bool,
}

impl Summary {
    pub fn of(checks: &[CheckResult]) -> Summary {
        let mut s = Summary::default();
        for c in checks {
            match c.status {
                Status::Pass => s.passed += 1,
                Status::Fail => s.failed += 1,
                Status::Warn => s.warned += 1,
                Status::Skip => s.skipped += 1,
                Status::NotTestable => s.not_testable += 1,
                Status::Info => s.info += 1,
            }
            let counts = match c.level {
                Level::Must => &mut s.must,
                Level::Should => &mut s.should,
                _ => continue,
            };
            if c.status == Status::Skip {
                continue;
            }
            counts.applicable += 1;
            match c.status {
                Status::Pass | Status::Warn => counts.passed += 1,
                Status::Fail => counts.failed += 1,
                Status::NotTestable => counts.not_testable += 1,
                Status::Skip | Status::Info => {}
            }
        }
        s.conformant = s.must.passed == s.must.applicable;
        s
    }

    /// `41/44 MUST`, as on the badge.
    pub fn must_fraction(&self) -> String {
        format!("{}/{} MUST", self.must.passed, self.must.applicable)
    }
}

impl Report {
    /// The report with times and durations replaced by fixed values, for snapshots and committed
    /// reports in every format (ports and session IDs are normalised in the rendered text).
    pub fn normalized(&self) -> Report {
        let mut r = self.clone();
        r.started_at = NORMALIZED_TIME.to_string();
        r.duration_ms = 0;
        // Run values (ports, OAuth state and client ids) are replaced in the model too, so that
        // formats that escape quotes (JUnit XML) do not hide them from the text normalisation.
        let run = crate::redact::normalize_run_values;
        for c in &mut r.checks {
            c.duration_ms = 0;
            c.message = run(&c.message);
            c.details.iter_mut().for_each(|d| *d = run(d));
            c.evidence.iter_mut().for_each(Evidence::normalize);
        }
        r.positive_control.message = run(&r.positive_control.message);
        r.positive_control
            .evidence
            .iter_mut()
            .for_each(Evidence::normalize);
        r
    }

    /// Applies `f` to every text of the report that a run writes (reasons, messages, details,
    /// fixes, evidence, notes), for removing what must never be shown whichever field carries it.
    pub fn map_text(&mut self, f: impl Fn(&str) -> String) {
        let evidence = |e: &mut Evidence| {
            e.request = f(&e.request);
            e.request_headers.iter_mut().for_each(|h| *h = f(h));
            e.request_body = e.request_body.as_deref().map(&f);
            e.response_headers.iter_mut().for_each(|h| *h = f(h));
            e.response_body = e.response_body.as_deref().map(&f);
            e.error = e.error.as_deref().map(&f);
        };
        self.target = f(&self.target);
        self.mode_reason = f(&self.mode_reason);
        self.validation_reason = f(&self.validation_reason);
        self.scopes_reason = f(&self.scopes_reason);
        self.required_scopes.iter_mut().for_each(|s| *s = f(s));
        self.eras.iter_mut().for_each(|e| e.how = f(&e.how));
        self.server_discover = self.server_discover.as_deref().map(&f);
        self.positive_control.message = f(&self.positive_control.message);
        self.positive_control.evidence.iter_mut().for_each(evidence);
        for c in &mut self.checks {
            c.message = f(&c.message);
            c.details.iter_mut().for_each(|d| *d = f(d));
            c.fix = c.fix.as_deref().map(&f);
            c.evidence.iter_mut().for_each(evidence);
        }
        self.notes.iter_mut().for_each(|n| *n = f(n));
    }

    /// Whether the run passes: conformant, or failing only where a baseline expects it, and the
    /// baseline is not stale.
    pub fn passes(&self) -> bool {
        match &self.baseline {
            None => self.summary.conformant,
            Some(b) => b.unexpected.is_empty() && b.stale.is_empty(),
        }
    }

    /// The JSON report (pretty, stable key order).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self)
            .unwrap_or_else(|e| format!("{{\"error\":\"cannot render the report: {e}\"}}"))
    }

    /// The JSON report with run-specific values (ports, sessions, durations) normalised, for
    /// snapshots and committed reports.
    pub fn normalized_json(&self) -> String {
        let mut r = self.normalized();
        r.duration_ms = 0;
        for c in &mut r.checks {
            c.duration_ms = 0;
        }
        let text = crate::redact::normalize_run_values(&r.to_json());
        let mut value: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        normalize_timings(&mut value);
        serde_json::to_string_pretty(&value).unwrap_or_default()
    }
}

/// The time every normalised report shows.
pub const NORMALIZED_TIME: &str = "2000-01-01T00:00:00Z";

/// Formats a time as RFC 3339 in UTC, to the second.
pub fn rfc3339(time: std::time::SystemTime) -> String {
    let secs = time
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's well-known algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Normalises run-specific values in any rendered text (terminal output).
pub fn normalize_text(text: &str) -> String {
    normalize_seconds(&crate::redact::normalize_run_values(text))
}

/// Timings inside messages ("within 0.3 s", "1.2 s ago") vary from run to run.
fn normalize_timings(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) => *s = normalize_seconds(s),
        serde_json::Value::Array(items) => items.iter_mut().for_each(normalize_timings),
        serde_json::Value::Object(map) => map.values_mut().for_each(normalize_timings),
        _ => {}
    }
}

fn normalize_seconds(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        // A decimal number like 12.3 followed by " s" becomes "[SECONDS] s".
        if chars[i].is_ascii_digit() && (i == 0 || !chars[i - 1].is_ascii_alphanumeric()) {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            if i + 1 < chars.len() && chars[i] == '.' && chars[i + 1].is_ascii_digit() {
                i += 1;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
                let rest: String = chars[i..].iter().take(2).collect();
                if rest == " s" {
                    out.push_str("[SECONDS]");
                    continue;
                }
            }
            out.extend(&chars[start..i]);
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report whose one failing check quotes a target's `error_description` that clears the
    /// screen and prints a fake green verdict.
    fn hostile_report() -> Report {
        let hostile = "bad\u{1b}[2J\u{1b}[32mCONFORMANT\u{1b}[0m\u{7}\u{9b}0m done";
        let check = CheckResult {
            id: "token.invalid-grant".into(),
            title: "t".into(),
            area: "token".into(),
            level: Level::Must,
            status: Status::Fail,
            message: format!("the server said {hostile}"),
            details: vec![hostile.to_string()],
            description: "d".into(),
            fix: Some("f".into()),
            references: Vec::new(),
            evidence: vec![Evidence {
                request: "POST http://127.0.0.1:1/token".into(),
                request_headers: Vec::new(),
                request_body: None,
                status: Some(400),
                response_headers: Vec::new(),
                response_body: Some(hostile.to_string()),
                error: None,
            }],
            expected_failure: false,
            duration_ms: 0,
            eras: Vec::new(),
        };
        let mut report = crate::testkit::report_of(vec![check]);
        report.mode = Mode::C;
        report.mode_reason = hostile.into();
        report.positive_control.passed = false;
        report.positive_control.message = hostile.into();
        report.notes = vec![hostile.into()];
        report
    }

    #[test]
    fn target_text_cannot_drive_a_terminal() {
        let report = hostile_report();
        for (format, text) in [
            ("terminal", render_terminal(&report, TerminalStyle::Plain)),
            ("markdown", render_markdown(&report)),
            ("junit", render_junit(&report)),
        ] {
            let controls: Vec<char> = text
                .chars()
                .filter(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r'))
                .collect();
            assert!(controls.is_empty(), "{format}: {controls:?}");
            assert!(
                text.contains("CONFORMANT"),
                "{format} keeps the text itself"
            );
        }
        // The colour a terminal report adds itself is still there.
        assert!(render_terminal(&report, TerminalStyle::Color).contains('\u{1b}'));
        assert_eq!(displayable("a\tb\nc\r\nd"), "a\tb\nc\r\nd");
        assert_eq!(displayable("FAIL\rPASS"), "FAIL\u{fffd}PASS");
    }

    #[test]
    fn rfc3339_formats_known_instants() {
        use std::time::{Duration, UNIX_EPOCH};
        assert_eq!(super::rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            super::rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400 + 3_661)),
            "2000-02-29T01:01:01Z"
        );
        assert_eq!(
            super::rfc3339(UNIX_EPOCH + Duration::from_secs(1_796_083_200)),
            "2026-12-01T00:00:00Z"
        );
    }

    #[test]
    fn seconds_are_normalised() {
        assert_eq!(
            super::normalize_seconds("accepted within 0.3 s, 2 fetches, 12.25 s ago"),
            "accepted within [SECONDS] s, 2 fetches, [SECONDS] s ago"
        );
        assert_eq!(
            super::normalize_seconds("HTTP 401 and v1.2"),
            "HTTP 401 and v1.2"
        );
    }
}
