//! The test account as users give it: flags and environment variables of the binary, a usage
//! error that does not repeat what was typed, and files and output free of the account.

use std::process::Output;

use crate::redaction::{PASSWORD, USER, shows, spellings, start_server};

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "mcp-auth-conformance-login-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Runs the binary with `args` and `env` (and nothing of the test's own login variables).
async fn run(args: &[&str], env: &[(&str, &str)], dir: &std::path::Path) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcp-auth-conformance"));
    command
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("MCP_CONFORMANCE_LOGIN_USER")
        .env_remove("MCP_CONFORMANCE_LOGIN_PASSWORD")
        .env_remove("MCP_CONFORMANCE_LOGIN_FIELDS")
        .kill_on_drop(true);
    for (name, value) in env {
        command.env(name, value);
    }
    tokio::time::timeout(std::time::Duration::from_secs(240), command.output())
        .await
        .expect("the binary finished")
        .expect("the binary ran")
}

#[tokio::test]
async fn help_names_the_login_flags_and_variables() {
    let dir = temp_dir("help");
    let out = run(&["--help"], &[], &dir).await;
    let help = String::from_utf8_lossy(&out.stdout);
    for words in [
        "--login-user <USER>",
        "--login-password <PASS>",
        "--login-field <NAME=VALUE>",
        "MCP_CONFORMANCE_LOGIN_USER",
        "MCP_CONFORMANCE_LOGIN_PASSWORD",
        "MCP_CONFORMANCE_LOGIN_FIELDS",
    ] {
        assert!(help.contains(words), "{words} missing from --help");
    }
}

#[tokio::test]
async fn a_malformed_login_field_is_a_usage_error_that_does_not_repeat_it() {
    let dir = temp_dir("malformed");
    let out = run(&["--login-field", "cli-secret-no-equals"], &[], &dir).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--login-field (number 1): expected NAME=VALUE"),
        "{stderr}"
    );
    assert!(!stderr.contains("cli-secret"), "{stderr}");

    let out = run(
        &[],
        &[(
            "MCP_CONFORMANCE_LOGIN_FIELDS",
            "tenant=acme\n\n=env-secret-no-name\n",
        )],
        &dir,
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "MCP_CONFORMANCE_LOGIN_FIELDS, line 3: expected NAME=VALUE (the name is empty)"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("env-secret"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_from_the_environment_logs_in_and_no_output_shows_it() {
    let origin = start_server().await;
    let dir = temp_dir("environment");
    let target = format!("{origin}/mcp");
    let state = dir.join("idp-state");
    let out = run(
        &[
            "--target",
            &target,
            "--idp-port",
            "0",
            "--idp-state-dir",
            &state.to_string_lossy(),
            "--era",
            "legacy",
            "--jwks-wait",
            "1",
            "--out-dir",
            "out",
            "--junit",
            "extra.xml",
            "--markdown",
            "summary.md",
        ],
        &[
            ("MCP_CONFORMANCE_LOGIN_USER", USER),
            ("MCP_CONFORMANCE_LOGIN_PASSWORD", PASSWORD),
        ],
        &dir,
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("mcp-auth-report.json")).expect("the JSON report"),
    )
    .expect("JSON");
    assert_eq!(
        report["positive_control"]["passed"], true,
        "the login with the account from the environment worked: {stdout}\n{stderr}"
    );
    let spellings = spellings();
    let mut texts = vec![
        ("stdout".to_string(), stdout.to_string()),
        ("stderr".to_string(), stderr.to_string()),
    ];
    for entry in std::fs::read_dir(dir.join("out"))
        .expect("out dir")
        .chain(std::fs::read_dir(&dir).expect("dir"))
    {
        let path = entry.expect("entry").path();
        if path.is_file() {
            texts.push((
                path.display().to_string(),
                std::fs::read_to_string(&path).expect("a report file"),
            ));
        }
    }
    assert!(texts.len() >= 10, "every format was written: {texts:?}");
    for (name, text) in texts {
        if let Some(shown) = shows(&text, &spellings) {
            panic!("{name} shows {shown}");
        }
    }
}
