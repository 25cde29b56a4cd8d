//! Documentation and code that must agree, held to each other: the probe registry and the
//! scenario files, `--list`, the README's check counts, and the probe table of
//! `scenarios/README.md`. A drift fails here rather than in a user's run or a reader's head.

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
