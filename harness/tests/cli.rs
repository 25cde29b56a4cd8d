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
fn cimd_login_registers_with_a_metadata_document_the_mock_idp_hosts() {
    let dir = temp_dir("cimd-login");
    let report = dir.join("report.json");
    let out = bin()
        .args([
            "--reference-variant",
            "as-conformant",
            "--cimd-login",
            "--check",
            "login",
            "--check",
            "dcr.echo-metadata",
            "--json",
        ])
        .arg(&report)
        .env("NO_COLOR", "1")
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json");
    let status = |id: &str| {
        json["checks"]
            .as_array()
            .and_then(|checks| checks.iter().find(|c| c["id"] == id))
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(status("login.headless-flow")["status"], "pass", "{json}");
    let dcr = status("dcr.echo-metadata");
    assert_eq!(dcr["status"], "skip", "{json}");
    assert!(
        dcr["message"]
            .as_str()
            .is_some_and(|m| m.contains("Client ID Metadata Document")),
        "{dcr}"
    );
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

/// `--expected-failures`: listed failures do not fail the run; a listed check that passes does.
#[test]
fn expected_failures_forgive_listed_failures_and_flag_stale_entries() {
    let dir = temp_dir("baseline");
    let run = |baseline: &str| {
        let file = dir.join("expected-failures.yml");
        std::fs::write(&file, baseline).expect("baseline");
        bin()
            .args([
                "--reference-variant",
                "accepts-missing-aud",
                "--no-json",
                "--check",
                "aud",
                "--expected-failures",
            ])
            .arg(&file)
            .env("NO_COLOR", "1")
            .output()
            .expect("run")
    };
    // The variant fails exactly aud.missing-audience.
    let out = run("server:\n  - aud.missing-audience\n");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("aud.missing-audience"), "{stdout}");

    // Listing a check that passes makes the entry stale, and the run fails.
    let out = run("server:\n  - aud.missing-audience\n  - aud.wrong-audience\n");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("aud.wrong-audience"), "{stdout}");
    assert!(stdout.to_lowercase().contains("stale"), "{stdout}");

    // A malformed baseline is a usage error naming the file and line.
    let out = run("server:\n  - aud.missing-audience\n  oops\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("expected-failures.yml:3"), "{stderr}");
}

/// The reference target's binary, built on demand so that this test also works under
/// `cargo test -p mcp-auth-conformance`.
fn reference_target_binary() -> std::path::PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let status = Command::new(cargo)
        .args([
            "build",
            "-q",
            "-p",
            "reference-target",
            "--bin",
            "reference-target",
        ])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .status()
        .expect("cargo build");
    assert!(status.success(), "building reference-target failed");
    let exe = std::path::PathBuf::from(env!("CARGO_BIN_EXE_mcp-auth-conformance"));
    exe.with_file_name(format!("reference-target{}", std::env::consts::EXE_SUFFIX))
}

/// `--command`: the harness starts the server with the IdP's settings in its environment,
/// waits for it, judges it, writes every report format, and stops it.
#[test]
fn command_starts_the_target_with_the_idp_settings_judges_it_and_stops_it() {
    let target = reference_target_binary();
    let dir = temp_dir("command");
    let pid_file = dir.join("target.pid");
    // The shell's PID becomes the server's through `exec`, so the test can see it stopped.
    let command = format!(
        "echo $$ > '{}'; exec '{}' --port \"$MCP_TARGET_PORT\" --issuer \"$MCP_AUTH_ISSUER\" --jwks-uri \"$MCP_AUTH_JWKS_URI\" --audience \"$MCP_AUTH_AUDIENCE\" --scope \"$MCP_AUTH_REQUIRED_SCOPES\"",
        pid_file.display(),
        target.display()
    );
    let out_dir = dir.join("out");
    let out = bin()
        .args([
            "--command",
            &command,
            "--scope",
            "mcp:tools",
            "--check",
            "rs",
        ])
        .arg("--out-dir")
        .arg(&out_dir)
        .env("NO_COLOR", "1")
        .current_dir(&dir)
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("CONFORMANT"), "{stdout}");
    for file in [
        "report.json",
        "checks.json",
        "junit.xml",
        "summary.md",
        "badge.svg",
        "shields.json",
    ] {
        assert!(out_dir.join(file).is_file(), "{file} missing");
    }
    let pid = std::fs::read_to_string(&pid_file).expect("pid file");
    let alive = Command::new("kill")
        .args(["-0", pid.trim()])
        .stderr(std::process::Stdio::null())
        .status()
        .expect("kill -0");
    assert!(
        !alive.success(),
        "the target (pid {}) is still running",
        pid.trim()
    );
}

/// A command that exits before it listens is reported with its output and exit code 3.
#[test]
fn a_command_that_never_listens_is_reported_with_its_output() {
    let out = bin()
        .args([
            "--command",
            "echo 'cannot bind: config missing' >&2; exit 7",
            "--no-json",
        ])
        .env("NO_COLOR", "1")
        .output()
        .expect("run");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(3), "{all}");
    assert!(all.contains("cannot bind: config missing"), "{all}");
}

/// SIGTERM (a CI job cancelled, Ctrl-C) stops the started server's process group too.
#[cfg(unix)]
#[test]
fn sigterm_stops_the_started_target() {
    let target = reference_target_binary();
    let dir = temp_dir("sigterm");
    let pid_file = dir.join("target.pid");
    // A target that never refetches its JWKS keeps the rotation check waiting for a minute.
    let command = format!(
        "echo $$ > '{}'; exec '{}' --port \"$MCP_TARGET_PORT\" --issuer \"$MCP_AUTH_ISSUER\" --jwks-uri \"$MCP_AUTH_JWKS_URI\" --audience \"$MCP_AUTH_AUDIENCE\" --scope \"$MCP_AUTH_REQUIRED_SCOPES\" --variant jwks-never-refetched",
        pid_file.display(),
        target.display()
    );
    let mut harness = bin()
        .args([
            "--command",
            &command,
            "--scope",
            "mcp:tools",
            "--check",
            "jwks",
            "--jwks-wait",
            "60",
            "--idp-port",
            "0",
        ])
        .arg("--idp-state-dir")
        .arg(dir.join("idp"))
        .current_dir(&dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run");
    let started = std::time::Instant::now();
    while !pid_file.is_file() && started.elapsed() < std::time::Duration::from_secs(30) {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // Let the run reach its waiting check.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let pid = std::fs::read_to_string(&pid_file).expect("pid file");
    Command::new("kill")
        .args(["-TERM", &harness.id().to_string()])
        .status()
        .expect("kill -TERM");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(status) = harness.try_wait().expect("wait") {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the harness did not stop after SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let mut stderr = String::new();
    use std::io::Read as _;
    let _ = harness
        .stderr
        .take()
        .map(|mut e| e.read_to_string(&mut stderr));
    assert_eq!(status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("interrupted by SIGTERM"), "{stderr}");
    let alive = Command::new("kill")
        .args(["-0", pid.trim()])
        .stderr(std::process::Stdio::null())
        .status()
        .expect("kill -0");
    assert!(
        !alive.success(),
        "the target (pid {}) is still running",
        pid.trim()
    );
}

/// `--interactive` prints the authorization URL and waits for a browser on its loopback redirect
/// URI; here a plain HTTP client following redirects plays the person (the reference target's
/// authorization server approves at once).
#[test]
fn interactive_login_waits_for_the_browser_on_the_loopback_redirect() {
    use std::io::BufRead as _;
    let dir = temp_dir("interactive");
    let mut harness = bin()
        .args([
            "--reference-variant",
            "as-conformant",
            "--interactive",
            "--check",
            "login",
            "--no-json",
            "--progress",
            "off",
        ])
        .env("NO_COLOR", "1")
        .current_dir(&dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run");
    let stderr = harness.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let url = loop {
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the harness printed no authorization URL");
        let trimmed = line.trim();
        if trimmed.starts_with("http://") && trimmed.contains("/authorize?") {
            break trimmed.to_string();
        }
    };
    // Before the person: a connection that never speaks, then a redirect with another state
    // (a login started elsewhere). The first must not hold the listener up, the second must
    // be refused and not taken for this login.
    let redirect = url::Url::parse(&url)
        .expect("a URL")
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| v.into_owned())
        .expect("a redirect_uri");
    let callback = url::Url::parse(&redirect).expect("a redirect URI");
    let port = callback.port().expect("a loopback port");
    let _silent = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let mut forged = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    use std::io::{Read as _, Write as _};
    forged
        .write_all(b"GET /callback?code=stolen&state=forged HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        .expect("write");
    let mut answer = String::new();
    forged.read_to_string(&mut answer).expect("read");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    // The "person": open the URL and follow the redirects to the harness's loopback listener.
    let browser = Command::new("python3")
        .args([
            "-c",
            "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=20).read()",
            &url,
        ])
        .status()
        .expect("python3");
    assert!(browser.success(), "the browser stand-in failed for {url}");
    let out = harness.wait_with_output().expect("wait");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("PASS MUST   login.headless-flow"),
        "{stdout}"
    );
}

/// A standalone mock IdP that requires a control token (as in a container) is driven with
/// `--idp-control-token` (or `MOCK_IDP_CONTROL_TOKEN`); without the token the harness stops with
/// the IdP's refusal rather than judging anything.
#[test]
fn a_standalone_idp_with_a_control_token_is_driven_with_it() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let idp = runtime
        .block_on(mock_idp::MockIdp::start(mock_idp::IdpConfig {
            addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            control_token: Some("conformance-control-token".into()),
            ..Default::default()
        }))
        .expect("mock IdP");
    let issuer = idp.issuer();
    let dir = temp_dir("control-token");
    let run = |token: Option<&str>| {
        let mut cmd = bin();
        cmd.current_dir(&dir)
            .env("NO_COLOR", "1")
            .env_remove("MOCK_IDP_CONTROL_TOKEN")
            .args([
                "--idp",
                &issuer,
                "--check",
                "jwt.valid-accepted",
                "--no-json",
            ]);
        if let Some(token) = token {
            cmd.env("MOCK_IDP_CONTROL_TOKEN", token);
        }
        cmd.output().expect("run")
    };
    let with = run(Some("conformance-control-token"));
    assert_eq!(
        with.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&with.stdout),
        String::from_utf8_lossy(&with.stderr)
    );
    let without = run(None);
    let stderr = String::from_utf8_lossy(&without.stderr);
    assert!(
        !without.status.success() && stderr.contains("401"),
        "{stderr}"
    );
    runtime.block_on(idp.shutdown());
}
