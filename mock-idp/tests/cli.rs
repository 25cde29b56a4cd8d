//! The `mock-idp` binary as users run it: `init`, a broken config file, the ready line.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mock-idp"))
}

#[test]
fn init_prints_a_config_that_the_binary_accepts() {
    let out = bin().arg("init").output().expect("run");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("registration = \"dynamic\""), "{text}");
    let dir = std::env::temp_dir().join(format!("mock-idp-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("mock-idp.toml");
    std::fs::write(&file, &text).expect("write");
    // A broken copy: the error names the file, the line and the field.
    let broken = dir.join("broken.toml");
    std::fs::write(
        &broken,
        text.replace("consent = \"auto\"", "consent = \"sometimes\""),
    )
    .expect("write");
    let out = bin()
        .args(["--ephemeral", "--port", "0", "--config"])
        .arg(&broken)
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("broken.toml"), "{stderr}");
    assert!(stderr.contains("consent"), "{stderr}");
    let line = text
        .lines()
        .position(|l| l.starts_with("consent ="))
        .expect("consent line")
        + 1;
    assert!(stderr.contains(&format!("line {line}")), "{stderr}");

    // The good file starts, prints one ready line with every URL, and serves /healthz.
    let mut child = bin()
        .args(["--ephemeral", "--port", "0", "--config"])
        .arg(&file)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut first = String::new();
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("ready line");
    let ready: serde_json::Value = serde_json::from_str(
        first
            .strip_prefix("mock-idp ready ")
            .unwrap_or_else(|| panic!("ready line: {first:?}")),
    )
    .expect("JSON");
    for key in [
        "issuer",
        "metadata_url",
        "authorization_endpoint",
        "token_endpoint",
        "registration_endpoint",
        "jwks_uri",
        "introspection_endpoint",
        "control_url",
        "health_url",
    ] {
        assert!(ready[key].is_string(), "{key} in {ready}");
    }
    let health = ready["health_url"].as_str().expect("url").to_owned();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let status = runtime.block_on(async {
        reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client")
            .get(health)
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status.ok(), Some(200));
}
