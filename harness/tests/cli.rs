//! The binary as users run it: the README's quick start, `--list`, `--help`, exit codes and the
//! error for a broken scenario file.

use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mcp-auth-conformance"))
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "mcp-auth-conformance-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// The README's first command (`cargo run`) runs this binary without arguments.
#[test]
fn readme_quick_start_runs_the_suite_against_the_reference_target() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README");
    assert!(
        readme.contains("\ncargo run\n"),
        "the README's first command changed; update this test"
    );
    assert!(
        readme.contains("\ncargo test --workspace\n"),
        "the README's test command changed; update this test"
    );
    let dir = temp_dir("quick-start");
    let out = bin()
        .current_dir(&dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("CONFORMANT: every applicable MUST passed"),
        "{stdout}"
    );
    assert!(!stdout.contains('\x1b'), "NO_COLOR must turn colour off");
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("mcp-auth-report.json")).expect("JSON report"),
    )
    .expect("JSON");
    assert_eq!(json["schema_version"], 1);
    assert_eq!(json["summary"]["conformant"], true);
}

#[test]
fn a_faulty_reference_variant_exits_non_zero_and_names_the_check() {
    let out = bin()
        .args([
            "--reference-variant",
            "ignores-audience",
            "--no-json",
            "--check",
            "aud",
            "--check",
            "jwt.valid-accepted",
        ])
        .env("NO_COLOR", "1")
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("FAIL MUST   aud.wrong-audience"),
        "{stdout}"
    );
    assert!(stdout.contains("fix: "), "{stdout}");
}

#[test]
fn list_shows_every_check_with_level_and_references() {
    let out = bin().arg("--list").output().expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for id in [
        "rs.unauthenticated-401",
        "jwt.alg-none",
        "jwks.outage-fails-closed",
        "introspect.request-shape",
    ] {
        assert!(stdout.contains(id), "{id} missing from --list");
    }
    assert!(stdout.contains("RFC 8725 §2.1"));
}

#[test]
fn help_documents_the_main_flags() {
    let out = bin().arg("--help").output().expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for flag in [
        "--target",
        "--idp",
        "--spec-version",
        "--scenarios",
        "--check",
        "--jwks-wait",
        "--json",
    ] {
        assert!(stdout.contains(flag), "{flag} missing from --help");
    }
}

#[test]
fn bad_arguments_exit_with_the_usage_code() {
    let out = bin()
        .args(["--spec-version", "1999-01-01"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown MCP revision"));
}

#[test]
fn a_broken_scenario_file_is_reported_with_file_line_and_field() {
    let dir = temp_dir("bad-scenario");
    std::fs::write(
        dir.join("mine.toml"),
        "id = \"mine.check\"\ntitle = \"t\"\ndescription = \"d\"\nlevel = \"MUST\"\nmodes = [\"A\"]\nfix = \"f\"\nreferences = [{ id = \"x\", url = \"https://example.org\" }]\n\n[[step]]\nexpect = { status = [401] }\ncolour = \"blue\"\n",
    )
    .expect("write");
    let out = bin()
        .args(["--list", "--scenarios"])
        .arg(&dir)
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("mine.toml:11:"), "{stderr}");
    assert!(stderr.contains("colour"), "{stderr}");
}

#[test]
fn a_user_scenario_runs_next_to_the_built_in_ones() {
    let dir = temp_dir("user-scenario");
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../scenarios/examples/unscoped-token-forbidden.toml"
        ),
        dir.join("example.toml"),
    )
    .expect("copy");
    let out = bin()
        .args(["--no-json", "--check", "custom"])
        .arg("--scenarios")
        .arg(&dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("PASS SHOULD custom.unscoped-token-forbidden"),
        "{stdout}"
    );
}

#[test]
fn spec_version_changes_levels_and_applicability() {
    let dir = temp_dir("spec-version");
    let json = dir.join("r.json");
    let out = bin()
        .args(["--spec-version", "2025-06-18", "--check", "www", "--json"])
        .arg(&json)
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("report")).expect("JSON");
    let check = |id: &str| {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .cloned()
            .expect(id)
    };
    assert_eq!(report["spec_version"], "2025-06-18");
    // resource_metadata in the challenge is a MUST in 2025-06-18 and a SHOULD afterwards.
    assert_eq!(check("www.resource-metadata-param")["level"], "MUST");
    // The scope parameter of the 401 arrived with 2025-11-25.
    assert_eq!(check("www.scope-param")["status"], "skip");
}
