//! Documentation and code that must agree, held to each other: the probe registry and the
//! scenario files, `--list`, the README's check counts, the probe table of
//! `scenarios/README.md`, and the design catalogue's check IDs (when `../shared` is beside). A drift fails here rather than in a user's run or a reader's head.

use std::collections::BTreeSet;

use harness::check::Mode;
use harness::checks;
use harness::scenario::builtin_files;
use harness::{SpecVersion, load_catalogue};

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}/../{path}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The probe each built-in scenario file runs, by check ID.
fn probes_in_files() -> Vec<(String, String, String)> {
    let catalogue = load_catalogue(&[]).expect("the built-in scenarios load");
    catalogue
        .scenarios
        .iter()
        .flat_map(|(path, s)| {
            s.steps
                .iter()
                .filter_map(|step| step.probe.clone())
                .map(|probe| (path.clone(), s.id.clone(), probe))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn every_probe_has_its_scenario_file_and_every_file_its_probe() {
    let registered: BTreeSet<&str> = checks::registry().map(|p| p.id).collect();
    let mut in_files = BTreeSet::new();
    for (path, id, probe) in probes_in_files() {
        assert_eq!(
            probe, id,
            "{path}: a built-in scenario runs the probe of its own check ID"
        );
        assert!(
            registered.contains(probe.as_str()),
            "{path}: no probe is registered under {probe:?}"
        );
        in_files.insert(probe);
    }
    let orphans: Vec<&&str> = registered
        .iter()
        .filter(|id| !in_files.contains(**id))
        .collect();
    assert!(
        orphans.is_empty(),
        "probes registered without a scenario file: {orphans:?}"
    );
}

#[test]
fn list_shows_every_check() {
    let catalogue = load_catalogue(&[]).unwrap();
    let text = harness::cli::list(&catalogue, SpecVersion::LATEST, &[]);
    let listed: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with(' '))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let ids: Vec<&str> = catalogue
        .scenarios
        .iter()
        .map(|(_, s)| s.id.as_str())
        .collect();
    assert_eq!(listed, ids);
    assert_eq!(ids.len(), builtin_files().len());
}

/// The number in `text` just before `words` (e.g. "122 checks").
fn number_before(text: &str, words: &str) -> usize {
    let at = text
        .find(words)
        .unwrap_or_else(|| panic!("README.md no longer says {words:?}"));
    text[..at]
        .trim_end()
        .rsplit(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number before {words:?}"))
}

#[test]
fn readme_counts_the_checks() {
    let readme = read("README.md");
    let catalogue = load_catalogue(&[]).unwrap();
    assert_eq!(
        number_before(&readme, "checks (`--list` shows each"),
        catalogue.scenarios.len(),
        "README.md: the catalogue's size"
    );
    // The checks of a server's own authorization server or proxy, beside the login itself.
    let as_only = catalogue
        .scenarios
        .iter()
        .filter(|(_, s)| s.modes.iter().all(|m| matches!(m, Mode::C | Mode::D)))
        .count();
    assert_eq!(
        number_before(&readme, "more checks judge the metadata"),
        as_only - 1,
        "README.md: the authorization-server checks beside login.headless-flow"
    );
}

#[test]
fn scenarios_readme_lists_every_probe() {
    let text = read("scenarios/README.md");
    let table = text
        .split("## Built-in probes")
        .nth(1)
        .expect("scenarios/README.md has a Built-in probes section");
    let mut documented = BTreeSet::new();
    for row in table.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let area = cells[1].trim_matches('`');
        for name in cells[2].split(", ") {
            documented.insert(format!("{area}.{}", name.trim_matches('`')));
        }
    }
    let registered: BTreeSet<String> = checks::registry().map(|p| p.id.to_string()).collect();
    assert_eq!(
        documented, registered,
        "scenarios/README.md's probe table and the registry differ"
    );
}

/// Catalogue rows that are not checks a harness can run against an HTTP server, and why.
const NOT_CHECKS: &[(&str, &str)] = &[(
    "transport.stdio-exempt",
    "a statement of scope: a stdio server takes its credentials from the environment, and the harness judges servers over HTTP",
)];

#[test]
fn every_check_of_the_design_catalogue_is_built_in() {
    // The design catalogue lives beside the workspace (`../shared`), where CI puts it; a checkout
    // without it has nothing to compare.
    let path = format!(
        "{}/../../shared/design/checks-catalogue.md",
        env!("CARGO_MANIFEST_DIR")
    );
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!("{path} is not there; nothing to compare");
        return;
    };
    let catalogued: BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|rest| rest.split('`').next())
        .filter(|id| {
            id.split_once('.').is_some_and(|(area, name)| {
                !area.is_empty()
                    && !name.is_empty()
                    && id.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'
                    })
            })
        })
        .map(str::to_string)
        .collect();
    let built_in: BTreeSet<String> = load_catalogue(&[])
        .expect("the built-in scenarios load")
        .scenarios
        .iter()
        .map(|(_, s)| s.id.clone())
        .collect();
    let missing: Vec<&String> = catalogued
        .iter()
        .filter(|id| !built_in.contains(*id) && !NOT_CHECKS.iter().any(|(n, _)| n == id))
        .collect();
    assert!(
        missing.is_empty(),
        "catalogue checks without a scenario file (add them, or say in NOT_CHECKS why they are not checks): {missing:?}"
    );
}
