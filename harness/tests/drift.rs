//! Documentation and code that must agree, held to each other: the probe registry and the
//! scenario files, `--list`, the README's check counts, the probe table of
//! `scenarios/README.md`, the design catalogue's check IDs (when `../shared` is beside), and
//! ARCHITECTURE.md's layering (no import circle in any crate). A drift fails here rather than in
//! a user's run or a reader's head.

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

/// The modules of a crate's `src/`, by path (`checks::as::token`), each with its source file.
fn modules_of(src: &std::path::Path) -> Vec<(Vec<String>, String)> {
    fn walk(dir: &std::path::Path, prefix: &[String], out: &mut Vec<(Vec<String>, String)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("a directory entry").path())
            .collect();
        entries.sort();
        for path in entries {
            let name = path.file_stem().unwrap().to_string_lossy().to_string();
            if path.is_dir() {
                let mut inner = prefix.to_vec();
                inner.push(name);
                walk(&path, &inner, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let mut module = prefix.to_vec();
                // The crate root and the binaries sit above every module; they are not rooms.
                // `testkit`, the judges' test fixtures compiled for tests only, is left out too.
                if prefix.is_empty() && (name == "lib" || name == "main" || name == "testkit") {
                    continue;
                }
                if name != "mod" {
                    module.push(name);
                }
                out.push((module, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(src, &[], &mut out);
    out
}

/// The paths a source file names through `crate::` and `super::` (grouped `use` items
/// included), comments left out.
fn named_paths(module: &[String], source: &str) -> Vec<Vec<String>> {
    fn path_at(text: &str) -> (Vec<String>, &str) {
        let mut segments = Vec::new();
        let mut rest = text;
        loop {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            if end == 0 {
                break;
            }
            segments.push(rest[..end].trim_start_matches("r#").to_string());
            rest = &rest[end..];
            match rest.strip_prefix("::") {
                Some(next) => rest = next,
                None => break,
            }
        }
        (segments, rest)
    }
    /// The top-level items of a `{ ... }` group that `text` starts inside of.
    fn group_items(text: &str) -> Vec<&str> {
        let (mut depth, mut start, mut items) = (0usize, 0usize, Vec::new());
        for (i, c) in text.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    items.push(&text[start..i]);
                    break;
                }
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    items.push(&text[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        items
    }
    // A file's unit tests (its last item, as clippy's items_after_test_module keeps it) are not
    // part of the layering: they may use test fixtures from anywhere.
    let source = source
        .find("#[cfg(test)]\nmod tests")
        .map_or(source, |at| &source[..at]);
    let code: String = source
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = Vec::new();
    for (anchor, base) in [
        ("crate::", Vec::new()),
        ("super::", module[..module.len().saturating_sub(1)].to_vec()),
    ] {
        for (at, _) in code.match_indices(anchor) {
            // `$crate::` in a macro is the crate root too; any other word before it is not ours.
            let before = code[..at].chars().next_back();
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let rest = &code[at + anchor.len()..];
            let (path, after) = path_at(rest);
            let mut full = base.clone();
            full.extend(path.iter().cloned());
            if let Some(group) = after.strip_prefix('{') {
                for item in group_items(group) {
                    let (inner, _) = path_at(item.trim());
                    let mut item_path = full.clone();
                    item_path.extend(inner);
                    out.push(item_path);
                }
            } else {
                out.push(full);
            }
        }
    }
    out
}

/// The import circles between a crate's modules (a module and its own submodules excepted:
/// a parent declares its children and they may use what it defines).
fn import_circles(crate_dir: &str) -> Vec<Vec<String>> {
    let src =
        std::path::PathBuf::from(format!("{}/../{crate_dir}/src", env!("CARGO_MANIFEST_DIR")));
    let modules = modules_of(&src);
    let known: BTreeSet<Vec<String>> = modules.iter().map(|(m, _)| m.clone()).collect();
    let index = |m: &Vec<String>| modules.iter().position(|(k, _)| k == m).unwrap();
    let mut edges: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); modules.len()];
    for (from, (module, source)) in modules.iter().enumerate() {
        for path in named_paths(module, source) {
            let Some(target) = (1..=path.len())
                .rev()
                .map(|n| path[..n].to_vec())
                .find(|p| known.contains(p))
            else {
                continue;
            };
            let related = target.starts_with(module) || module.starts_with(&target);
            if !related {
                edges[from].insert(index(&target));
            }
        }
    }
    // Tarjan's strongly connected components; every one larger than a module is a circle.
    struct Walk<'a> {
        edges: &'a [BTreeSet<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        found: Vec<Vec<usize>>,
    }
    fn visit(w: &mut Walk<'_>, v: usize) {
        w.index[v] = Some(w.next);
        w.low[v] = w.next;
        w.next += 1;
        w.stack.push(v);
        w.on_stack[v] = true;
        for &u in w.edges[v].iter() {
            match w.index[u] {
                None => {
                    visit(w, u);
                    w.low[v] = w.low[v].min(w.low[u]);
                }
                Some(i) if w.on_stack[u] => w.low[v] = w.low[v].min(i),
                Some(_) => {}
            }
        }
        if Some(w.low[v]) == w.index[v] {
            let mut component = Vec::new();
            while let Some(u) = w.stack.pop() {
                w.on_stack[u] = false;
                component.push(u);
                if u == v {
                    break;
                }
            }
            if component.len() > 1 {
                w.found.push(component);
            }
        }
    }
    let mut walk = Walk {
        edges: &edges,
        index: vec![None; modules.len()],
        low: vec![0; modules.len()],
        on_stack: vec![false; modules.len()],
        stack: Vec::new(),
        next: 0,
        found: Vec::new(),
    };
    for v in 0..modules.len() {
        if walk.index[v].is_none() {
            visit(&mut walk, v);
        }
    }
    walk.found
        .into_iter()
        .map(|c| {
            let mut names: Vec<String> = c.iter().map(|&i| modules[i].0.join("::")).collect();
            names.sort();
            names
        })
        .collect()
}

#[test]
fn no_crate_has_an_import_circle() {
    // ARCHITECTURE.md's layering invariant: each crate's modules read top-down, so two modules
    // never import each other, directly or around a longer circle.
    for crate_dir in ["harness", "mock-idp", "reference-target"] {
        let circles = import_circles(crate_dir);
        assert!(
            circles.is_empty(),
            "{crate_dir}/src has import circles (move the shared item into a module below both): {circles:?}"
        );
    }
}

#[test]
fn the_circle_finder_sees_a_circle() {
    // The test above cannot pass by finding nothing: on two modules that name each other, the
    // same reading finds them.
    let a = named_paths(
        &["runner".into()],
        "use crate::{checks::Probe, verdict};\nfn f() { super::x(); }",
    );
    assert!(
        a.contains(&vec!["checks".to_string(), "Probe".to_string()]),
        "{a:?}"
    );
    assert!(a.contains(&vec!["verdict".to_string()]), "{a:?}");
    let b = named_paths(
        &["checks".into(), "as".into()],
        "use super::Cx;\n// crate::ignored\n",
    );
    assert_eq!(b, vec![vec!["checks".to_string(), "Cx".to_string()]]);
}
