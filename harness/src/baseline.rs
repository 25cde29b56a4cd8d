//! `--expected-failures FILE`: a baseline of known failures, with the official MCP conformance
//! suite's file shape and meaning, so a project can adopt the harness before it is conformant and
//! still catch regressions.
//!
//! ```yaml
//! server:
//!   - aud                          # every check of an area (like a whole scenario)
//!   - jwt.expired-rejected         # one check
//!   - jwks:jwks.outage-fails-closed  # area:check, the official scenario:check form
//! ```
//!
//! A listed check that fails does not fail the run; a listed entry whose checks now pass does
//! (the baseline is stale and should shrink); a failing MUST check that is not listed does.

use std::collections::BTreeSet;
use std::path::Path;

use crate::check::Level;
use crate::error::HarnessError;
use crate::report::{BaselineOutcome, CheckResult};
use crate::scenario::Catalogue;

/// One entry of the baseline, with the line it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub text: String,
    pub line: usize,
    /// An area (the whole "scenario") or `None` for any.
    area: Option<String>,
    /// A check ID, or `None` for the whole area.
    check: Option<String>,
}

impl Entry {
    fn matches(&self, c: &CheckResult) -> bool {
        self.area.as_ref().is_none_or(|a| *a == c.area)
            && self.check.as_ref().is_none_or(|id| *id == c.id)
    }
}

/// A parsed expected-failures file.
#[derive(Debug, Clone, Default)]
pub struct Baseline {
    pub file: String,
    pub entries: Vec<Entry>,
}

impl Baseline {
    /// Reads and validates a baseline; every entry must name a check or an area of the catalogue.
    pub fn load(path: &Path, catalogue: &Catalogue) -> Result<Baseline, HarnessError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            HarnessError::Usage(format!(
                "--expected-failures {}: cannot read: {e}",
                path.display()
            ))
        })?;
        Baseline::parse(&path.display().to_string(), &text, catalogue)
    }

    /// Parses the YAML subset the official suite's files use: optional `server:` / `client:`
    /// sections holding `- entry` items, comments after `#`. `client:` items are accepted and
    /// ignored (this harness judges servers).
    pub fn parse(file: &str, text: &str, catalogue: &Catalogue) -> Result<Baseline, HarnessError> {
        let ids: BTreeSet<&str> = catalogue
            .scenarios
            .iter()
            .map(|(_, s)| s.id.as_str())
            .collect();
        let areas: BTreeSet<&str> = catalogue.scenarios.iter().map(|(_, s)| s.area()).collect();
        let mut entries = Vec::new();
        let mut section = "server";
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let content = strip_comment(raw).trim_end();
            let trimmed = content.trim_start();
            if trimmed.is_empty() || trimmed == "---" {
                continue;
            }
            let err = |what: String| HarnessError::Usage(format!("{file}:{line}: {what}"));
            if let Some(name) = trimmed.strip_suffix(':')
                && !trimmed.starts_with('-')
            {
                section = match name.trim() {
                    "server" => "server",
                    "client" => "client",
                    other => {
                        return Err(err(format!(
                            "unknown section {other:?}; expected `server:` (or `client:`)"
                        )));
                    }
                };
                continue;
            }
            let Some(item) = trimmed.strip_prefix('-') else {
                return Err(err(format!(
                    "expected a list item `- <check id or area>`, found {trimmed:?}"
                )));
            };
            let item = unquote(item.trim());
            if item.is_empty() {
                return Err(err("empty list item".into()));
            }
            if section == "client" {
                continue;
            }
            let (area, check) = match item.split_once(':') {
                Some((a, c)) => {
                    let (a, c) = (a.trim(), c.trim());
                    if a.is_empty() || c.is_empty() {
                        return Err(err(format!(
                            "{item:?}: both sides of the colon are required"
                        )));
                    }
                    if !areas.contains(a) {
                        return Err(err(format!("{item:?}: no area {a:?}")));
                    }
                    if !ids.contains(c) {
                        return Err(err(format!("{item:?}: no check {c:?}")));
                    }
                    (Some(a.to_string()), Some(c.to_string()))
                }
                None if ids.contains(item.as_str()) => (None, Some(item.clone())),
                None if areas.contains(item.as_str()) => (Some(item.clone()), None),
                None => {
                    return Err(err(format!(
                        "{item:?} names no check or area (see `--list`)"
                    )));
                }
            };
            let entry = Entry {
                text: item,
                line,
                area,
                check,
            };
            if let Some(whole) = entries.iter().find(|e: &&Entry| {
                e.check.is_none() && entry.area == e.area && entry.check.is_some()
            }) {
                return Err(err(format!(
                    "{:?} is redundant: line {} already expects the whole area {:?} to fail",
                    entry.text, whole.line, whole.text
                )));
            }
            entries.push(entry);
        }
        Ok(Baseline {
            file: file.to_string(),
            entries,
        })
    }

    /// Compares a run's results with the baseline and marks the expected failures.
    pub fn apply(&self, checks: &mut [CheckResult]) -> BaselineOutcome {
        let mut outcome = BaselineOutcome {
            file: self.file.clone(),
            ..Default::default()
        };
        for entry in &self.entries {
            let mut failed = false;
            let mut passed = false;
            for c in checks.iter_mut().filter(|c| entry.matches(c)) {
                if c.is_failure() {
                    c.expected_failure = true;
                    failed = true;
                } else if matches!(
                    c.status,
                    crate::check::Status::Pass | crate::check::Status::Warn
                ) {
                    passed = true;
                }
            }
            if failed {
                outcome.expected.push(entry.text.clone());
            } else if passed {
                outcome.stale.push(entry.text.clone());
            }
            // Entries whose checks did not run, or were all skipped, say nothing about this run.
        }
        outcome.unexpected = checks
            .iter()
            .filter(|c| c.level == Level::Must && c.is_failure() && !c.expected_failure)
            .map(|c| c.id.clone())
            .collect();
        outcome
    }
}

fn strip_comment(line: &str) -> &str {
    // A `#` starts a comment at the start of a line or after whitespace, as in YAML.
    let bytes = line.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'#' && (i == 0 || bytes[i - 1].is_ascii_whitespace()) {
            return &line[..i];
        }
    }
    line
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    for q in ['"', '\''] {
        if s.len() >= 2 && s.starts_with(q) && s.ends_with(q) {
            return s[1..s.len() - 1].to_string();
        }
    }
    s.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Status;

    fn check(id: &str, level: Level, status: Status) -> CheckResult {
        crate::testkit::check_result(id, level, status, "")
    }

    fn catalogue() -> Catalogue {
        crate::load_catalogue(&[]).expect("built-in scenarios")
    }

    #[test]
    fn official_shape_parses_with_sections_comments_and_pairs() {
        let text = "# known\nserver:\n  - aud            # whole area\n  - 'jwt.expired-rejected'\n  - jwks:jwks.new-key-picked-up\nclient:\n  - anything-goes\n";
        let b = Baseline::parse("b.yml", text, &catalogue()).unwrap();
        let texts: Vec<&str> = b.entries.iter().map(|e| e.text.as_str()).collect();
        assert_eq!(
            texts,
            ["aud", "jwt.expired-rejected", "jwks:jwks.new-key-picked-up"]
        );
    }

    #[test]
    fn bad_entries_name_the_file_and_line() {
        let err = Baseline::parse("b.yml", "server:\n  - no.such-check\n", &catalogue())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("b.yml:2:"), "{err}");
        let err = Baseline::parse("b.yml", "servers:\n", &catalogue())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("b.yml:1:"), "{err}");
        let err = Baseline::parse("b.yml", "- aud\n- aud:aud.missing-audience\n", &catalogue())
            .unwrap_err()
            .to_string();
        assert!(err.contains("redundant"), "{err}");
    }

    #[test]
    fn expected_stale_and_unexpected_are_told_apart() {
        let b = Baseline::parse(
            "b.yml",
            "- aud\n- jwt.expired-rejected\n- prm\n",
            &catalogue(),
        )
        .unwrap();
        let mut checks = vec![
            check("aud.missing-audience", Level::Must, Status::Fail),
            check("aud.wrong-audience", Level::Must, Status::Pass),
            check("jwt.expired-rejected", Level::Must, Status::Pass),
            check("jwt.alg-none", Level::Must, Status::Fail),
            check("prm.discovery-mechanism", Level::Must, Status::Skip),
        ];
        let outcome = b.apply(&mut checks);
        assert_eq!(outcome.expected, ["aud"]);
        assert_eq!(outcome.stale, ["jwt.expired-rejected"]);
        assert_eq!(outcome.unexpected, ["jwt.alg-none"]);
        assert!(checks[0].expected_failure);
        assert!(!checks[3].expected_failure);
    }
}
