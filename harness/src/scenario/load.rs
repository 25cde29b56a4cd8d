//! Loading and validating scenario files.

use std::collections::BTreeSet;
use std::path::Path;

use super::model::{Scenario, Step};
use crate::error::HarnessError;
use crate::rpc::McpCall;

mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtin_scenarios.rs"));
}

/// Every scenario of a run, in run order, each with where it came from.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    pub scenarios: Vec<(String, Scenario)>,
}

impl Catalogue {
    /// Adds scenarios, refusing an ID that is already present.
    pub fn extend(&mut self, more: Vec<(String, Scenario)>) -> Result<(), HarnessError> {
        for (path, scenario) in more {
            if let Some((other, _)) = self.scenarios.iter().find(|(_, s)| s.id == scenario.id) {
                return Err(HarnessError::Scenario(format!(
                    "{path}: check ID {:?} is already defined in {other}",
                    scenario.id
                )));
            }
            self.scenarios.push((path, scenario));
        }
        Ok(())
    }

    pub fn get(&self, id: &str) -> Option<&Scenario> {
        self.scenarios.iter().map(|(_, s)| s).find(|s| s.id == id)
    }
}

/// The built-in scenario files as `(path relative to scenarios/, contents)`.
pub fn builtin_files() -> &'static [(&'static str, &'static str)] {
    builtin::BUILTIN
}

/// Tells the loader which probe names exist (the check registry, which lives above the loader).
pub type KnownProbe<'a> = &'a dyn Fn(&str) -> bool;

/// Whether a check is selected by `--check` filters (an ID, an ID prefix or an area).
pub fn selected(filters: &[String], id: &str) -> bool {
    let area = id.split('.').next().unwrap_or("");
    filters.is_empty()
        || filters
            .iter()
            .any(|f| id == f || id.starts_with(&format!("{f}.")) || area == f)
}

/// The scenarios embedded in the binary.
pub fn load_builtin(known: KnownProbe<'_>) -> Result<Catalogue, HarnessError> {
    let mut catalogue = Catalogue::default();
    let mut parsed = Vec::new();
    for (path, text) in builtin::BUILTIN {
        let display = format!("scenarios/{path}");
        parsed.push((display.clone(), parse_scenario(&display, text, known)?));
    }
    // Areas in the order a client meets them: the challenge, discovery, then token validation.
    let rank = |s: &Scenario| {
        AREA_ORDER
            .iter()
            .position(|a| *a == s.area())
            .unwrap_or(AREA_ORDER.len())
    };
    parsed.sort_by_key(|(_, s)| rank(s));
    catalogue.extend(parsed)?;
    Ok(catalogue)
}

/// Report order of the built-in areas; within an area, files keep their path order.
pub const AREA_ORDER: &[&str] = &[
    "rs",
    "www",
    "prm",
    "jwt",
    "aud",
    "scope",
    "jwks",
    "introspect",
    "transport",
    "login",
    "as-meta",
    "legacy",
    "dcr",
    "pkce",
    "redirect",
    "authz",
    "token",
    "refresh",
    "resource",
    "consent",
    "passthrough",
];

/// Every `*.toml` under `dir`, recursively, sorted by path.
pub fn load_dir(
    dir: &Path,
    known: KnownProbe<'_>,
) -> Result<Vec<(String, Scenario)>, HarnessError> {
    let mut files = Vec::new();
    collect(dir, &mut files)
        .map_err(|e| HarnessError::Scenario(format!("{}: {e}", dir.display())))?;
    files.sort();
    if files.is_empty() {
        return Err(HarnessError::Scenario(format!(
            "{}: no scenario files (*.toml) found",
            dir.display()
        )));
    }
    let mut out = Vec::new();
    for file in files {
        let display = file.display().to_string();
        let text = std::fs::read_to_string(&file)
            .map_err(|e| HarnessError::Scenario(format!("{display}: {e}")))?;
        out.push((display.clone(), parse_scenario(&display, &text, known)?));
    }
    Ok(out)
}

fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "toml") {
            out.push(path);
        }
    }
    Ok(())
}

/// Parses and validates one scenario file; errors name the file, line and field. `known` says
/// which probe names exist.
pub fn parse_scenario(
    path: &str,
    text: &str,
    known: KnownProbe<'_>,
) -> Result<Scenario, HarnessError> {
    let scenario: Scenario = toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| line_at(text, s.start))
            .map(|l| format!(":{l}"))
            .unwrap_or_default();
        HarnessError::Scenario(format!("{path}{line}: {}", e.message()))
    })?;
    validate(&scenario, known).map_err(|(needle, message)| {
        let line = needle
            .and_then(|n| find_line(text, &n))
            .map(|l| format!(":{l}"))
            .unwrap_or_default();
        HarnessError::Scenario(format!("{path}{line}: {message}"))
    })?;
    Ok(scenario)
}

fn line_at(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The line of the first assignment to `field` (`field =` or `field=`), so a field name that
/// also appears in prose is not mistaken for the field.
fn find_line(text: &str, field: &str) -> Option<usize> {
    text.match_indices(field)
        .find(|(i, _)| {
            let before_ok = *i == 0
                || !text.as_bytes()[i - 1].is_ascii_alphanumeric()
                    && text.as_bytes()[i - 1] != b'_';
            let after = text[i + field.len()..].trim_start_matches([' ', '\t']);
            before_ok && after.starts_with('=')
        })
        .map(|(i, _)| line_at(text, i))
}

type Invalid = (Option<String>, String);

/// The token defects the mock IdP mints (docs/contracts.md, section 2).
pub const DEFECTS: &[&str] = &[
    "expired",
    "not-yet-valid",
    "missing-exp",
    "wrong-audience",
    "missing-audience",
    "wrong-issuer",
    "bad-signature",
    "tampered-payload",
    "untrusted-key",
    "untrusted-key-known-kid",
    "unknown-kid",
    "alg-none",
    "alg-none-unsigned",
    "hs256-public-key-pem",
    "hs256-public-key-jwk",
    "wrong-typ",
    "missing-scope",
    "scope-as-scp-array",
    "scope-as-scp-string",
    "crit-unknown",
    "jku-header",
    "x5u-header",
    "kid-path-traversal",
];

fn validate(s: &Scenario, known: KnownProbe<'_>) -> Result<(), Invalid> {
    let id_ok = s.id.split_once('.').is_some_and(|(area, name)| {
        let ok = |p: &str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        };
        ok(area) && ok(name)
    });
    if !id_ok {
        return Err((
            Some("id".into()),
            format!(
                "field `id`: {:?} is not of the form `area.name` in lowercase kebab-case",
                s.id
            ),
        ));
    }
    if s.modes.is_empty() {
        return Err((
            Some("modes".into()),
            "field `modes`: at least one mode is required".into(),
        ));
    }
    if s.references.is_empty() {
        return Err((
            Some("references".into()),
            "field `references`: at least one reference is required".into(),
        ));
    }
    if s.steps.is_empty() {
        return Err((None, "at least one [[step]] is required".into()));
    }
    let mut names = BTreeSet::new();
    for (i, step) in s.steps.iter().enumerate() {
        let at = |field: &str, message: String| -> Invalid {
            (
                Some(field.to_string()),
                format!("step {} field `{field}`: {message}", i + 1),
            )
        };
        validate_step(step, &names, known).map_err(|(field, message)| at(&field, message))?;
        if let Some(name) = &step.name
            && !names.insert(name.clone())
        {
            return Err(at("name", format!("step name {name:?} is used twice")));
        }
    }
    Ok(())
}

fn validate_step(
    step: &Step,
    earlier: &BTreeSet<String>,
    known: KnownProbe<'_>,
) -> Result<(), (String, String)> {
    if let Some(probe) = &step.probe {
        if !known(probe) {
            return Err((
                "probe".into(),
                format!(
                    "unknown probe {probe:?}; a probe is named by the check ID it decides (see --list)"
                ),
            ));
        }
        let request_fields = step.token.is_some()
            || step.authorization.is_some()
            || step.http_method.is_some()
            || step.mcp.is_some()
            || step.query.is_some()
            || step.session
            || step.expect.is_some()
            || step.require.is_some();
        if request_fields {
            return Err((
                "probe".into(),
                "a probe step decides on its own; it takes no request or expect fields".into(),
            ));
        }
    } else if step.expect.is_none() && step.require.is_none() {
        return Err((
            "expect".into(),
            "a request step needs `expect` or `require`".into(),
        ));
    }
    if let Some(method) = &step.mcp
        && McpCall::parse(method).is_none()
    {
        return Err((
            "mcp".into(),
            format!(
                "unknown MCP method {method:?}; known: initialize, notifications/initialized, tools/list, ping"
            ),
        ));
    }
    if let Some(token) = &step.token {
        if let Some(from) = &token.from_step
            && !earlier.contains(from)
        {
            return Err((
                "from_step".into(),
                format!("no earlier step is named {from:?}"),
            ));
        }
        if let Some(m) = &token.mutate {
            if token.from_step.is_none() {
                return Err(("mutate".into(), "`mutate` needs `from_step`".into()));
            }
            if !matches!(m.as_str(), "flip-signature" | "flip-payload") {
                return Err((
                    "mutate".into(),
                    format!("unknown mutation {m:?}; known: flip-signature, flip-payload"),
                ));
            }
        }
        if let Some(d) = &token.defect
            && !DEFECTS.contains(&d.as_str())
        {
            return Err((
                "defect".into(),
                format!("unknown defect {d:?}; known: {}", DEFECTS.join(", ")),
            ));
        }
        if let Some(f) = &token.format
            && !matches!(f.as_str(), "jwt" | "opaque")
        {
            return Err((
                "format".into(),
                format!("unknown format {f:?}; known: jwt, opaque"),
            ));
        }
    }
    if let Some(idp) = &step.idp {
        if let Some(fault) = &idp.fault {
            if !matches!(
                fault.endpoint.as_str(),
                "jwks" | "introspect" | "token" | "metadata"
            ) {
                return Err((
                    "endpoint".into(),
                    format!("unknown endpoint {:?}", fault.endpoint),
                ));
            }
            match fault.kind.as_str() {
                "status" if fault.status.is_none() => {
                    return Err(("status".into(), "a `status` fault needs `status`".into()));
                }
                "delay" if fault.ms.is_none() => {
                    return Err(("ms".into(), "a `delay` fault needs `ms`".into()));
                }
                "status" | "delay" | "hang" | "garbage" => {}
                other => return Err(("kind".into(), format!("unknown fault kind {other:?}"))),
            }
        }
        if let Some(r) = &idp.revoke
            && !earlier.contains(r)
        {
            return Err(("revoke".into(), format!("no earlier step is named {r:?}")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
id = "demo.check"
title = "t"
description = "d"
level = "MUST"
modes = ["A"]
fix = "f"
references = [{ id = "RFC 1 §1", url = "https://example.org" }]

[[step]]
expect = { status = [401] }
"#;

    #[test]
    fn minimal_file_parses() {
        let s = parse_scenario("x.toml", MINIMAL, &|_| false).unwrap();
        assert_eq!(s.area(), "demo");
    }

    #[test]
    fn unknown_field_names_file_line_and_field() {
        let text = MINIMAL.replace(
            "expect = { status = [401] }",
            "expect = { status = [401] }\nbogus = 1",
        );
        let err = parse_scenario("dir/x.toml", &text, &|_| false)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("dir/x.toml:12:"), "{err}");
        assert!(err.contains("bogus"), "{err}");
    }

    #[test]
    fn semantic_errors_name_the_line() {
        let text = MINIMAL.replace(
            "expect = { status = [401] }",
            "mcp = \"nope\"\nexpect = { status = [401] }",
        );
        let err = parse_scenario("x.toml", &text, &|_| false)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("x.toml:11:"), "{err}");
        assert!(err.contains("`mcp`"), "{err}");
    }

    #[test]
    fn unknown_probes_are_refused_with_their_line() {
        let text = MINIMAL.replace("expect = { status = [401] }", "probe = \"demo.other\"");
        let err = parse_scenario("x.toml", &text, &|p| p == "demo.check")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("x.toml:11:"), "{err}");
        assert!(err.contains("unknown probe \"demo.other\""), "{err}");
        let text = MINIMAL.replace("expect = { status = [401] }", "probe = \"demo.check\"");
        assert!(parse_scenario("x.toml", &text, &|p| p == "demo.check").is_ok());
    }

    #[test]
    fn selection_by_id_prefix_and_area() {
        let f = |s: &str| vec![s.to_string()];
        assert!(selected(&[], "jwt.expired-rejected"));
        assert!(selected(&f("jwt"), "jwt.expired-rejected"));
        assert!(selected(&f("jwt.expired-rejected"), "jwt.expired-rejected"));
        assert!(!selected(&f("jwt"), "jwks.outage-fails-closed"));
        assert!(!selected(&f("jwt.exp"), "jwt.expired-rejected"));
        assert!(selected(&f("as-meta"), "as-meta.iss-flag"));
    }
}
