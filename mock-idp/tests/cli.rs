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
    assert_eq!(status.as_ref().ok(), Some(&200), "{status:?}");
}

/// Nobody reading stdout is not a reason to stop serving: with stdout a pipe whose reading end is
/// already closed, the ready line and the banner fail to write (`EPIPE`; Rust ignores `SIGPIPE`),
/// and the IdP must go on answering. A `println!` there panicked and ended the server, which
/// `mock-idp | head -n 1` and a test that drops the pipe after the ready line both hit.
#[test]
fn a_closed_stdout_does_not_stop_the_idp() {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    // The port is chosen here because the ready line that names it cannot be read. Another
    // process may take it in between; the IdP then exits, and its stderr (in the message) says so.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
        .to_string();
    let log =
        std::env::temp_dir().join(format!("mock-idp-closed-stdout-{}.log", std::process::id()));
    let stderr = std::fs::File::create(&log).expect("a file for stderr");
    let mut idp = Running(
        bin()
            .args(["--ephemeral", "--port", &port])
            .stdout(writer)
            .stderr(stderr)
            .spawn()
            .expect("spawn"),
    );
    let said = || std::fs::read_to_string(&log).unwrap_or_default();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let answer = loop {
        if let Some(status) = idp.0.try_wait().expect("child status") {
            panic!(
                "mock-idp exited with {status} when its stdout was closed; stderr:\n{}",
                said()
            );
        }
        match healthz(&port) {
            Ok(answer) => break answer,
            Err(err) if std::time::Instant::now() > deadline => {
                panic!("mock-idp did not answer on port {port} within 20 s: {err}");
            }
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
        }
    };
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Still serving two seconds later: a panic in `main` unwinds through the runtime's shutdown,
    // which can answer a request or two before the process ends (under a second here).
    for _ in 0..40 {
        std::thread::sleep(std::time::Duration::from_millis(50));
        if let Some(status) = idp.0.try_wait().expect("child status") {
            panic!(
                "mock-idp exited ({status}) after its stdout was found closed; stderr:\n{}",
                said()
            );
        }
    }
    let again = healthz(&port).expect("a second /healthz two seconds later");
    assert!(again.starts_with("HTTP/1.1 200"), "{again}");
    drop(idp);
    let _ = std::fs::remove_file(&log);
}

/// A child process stopped and reaped however the test ends.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `GET /healthz` on loopback, the whole answer as text (bounded by the read deadline).
fn healthz(port: &str) -> std::io::Result<String> {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(format!("127.0.0.1:{port}"))?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")?;
    let mut answer = String::new();
    stream.take(64 * 1024).read_to_string(&mut answer)?;
    Ok(answer)
}

/// Runs the binary until its ready line and returns it with the child, or the exit status and
/// stderr when it refuses to start.
fn start_bin(args: &[&str]) -> Result<(std::process::Child, serde_json::Value), (i32, String)> {
    let mut child = bin()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut first = String::new();
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("read stdout");
    match first.strip_prefix("mock-idp ready ") {
        Some(json) => Ok((child, serde_json::from_str(json).expect("ready JSON"))),
        None => {
            let out = child.wait_with_output().expect("exit");
            Err((
                out.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            ))
        }
    }
}

/// The container story: bound to every address and published as another name, the IdP refuses to
/// start without a control token; with one, its metadata and tokens carry the public issuer, and
/// its control API answers only requests that carry the token (and name the IdP, by either name).
#[test]
fn a_container_idp_names_itself_by_its_issuer_and_guards_its_control_api() {
    const ISSUER: &str = "http://idp.example.test:9400";
    const TOKEN: &str = "container-control-token";
    let base = ["--host", "0.0.0.0", "--port", "0", "--ephemeral"];
    let args = |more: &[&'static str]| [&base[..], &["--issuer", ISSUER], more].concat();

    for refused in [args(&["--allow-non-loopback"]), args(&[])] {
        let (code, stderr) = start_bin(&refused).expect_err("refused");
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains("--control-token"), "{stderr}");
        assert!(stderr.contains("MOCK_IDP_CONTROL_TOKEN"), "{stderr}");
    }

    // The switch and the token from the environment, as a container passes them.
    let (mut child, ready) = start_with_env(&args(&[]), TOKEN);
    assert_eq!(ready["issuer"], ISSUER);
    assert_eq!(ready["token_endpoint"], format!("{ISSUER}/token"));
    assert_eq!(ready["control_token_required"], true);
    let port = ready["listening_on"]
        .as_str()
        .and_then(|a| a.rsplit_once(':'))
        .and_then(|(_, p)| p.parse::<u16>().ok())
        .expect("listening_on names the port");
    let local = format!("http://127.0.0.1:{port}");

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let outcome = runtime.block_on(async {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(std::time::Duration::from_secs(20))
            .build()
            .expect("client");
        let json =
            |text: String| serde_json::from_str::<serde_json::Value>(&text).unwrap_or_default();
        let metadata = json(
            http.get(format!("{local}/.well-known/oauth-authorization-server"))
                .send()
                .await?
                .text()
                .await?,
        );
        assert_eq!(metadata["issuer"], ISSUER);
        for endpoint in ["authorization_endpoint", "token_endpoint", "jwks_uri"] {
            let url = metadata[endpoint].as_str().unwrap_or_default();
            assert!(url.starts_with(&format!("{ISSUER}/")), "{endpoint}: {url}");
        }
        let issued = json(
            http.post(format!("{local}/token"))
                .basic_auth("conformance-client", Some("conformance-client-secret"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body("grant_type=client_credentials")
                .send()
                .await?
                .text()
                .await?,
        );
        let token = issued["access_token"].as_str().unwrap_or_default();
        let payload = token.split('.').nth(1).unwrap_or_default();
        let claims: serde_json::Value = serde_json::from_slice(
            &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
                .unwrap_or_default(),
        )
        .unwrap_or_default();
        assert_eq!(claims["iss"], ISSUER, "{issued}");

        let info = format!("{local}/_control/info");
        let without = http.get(&info).send().await?;
        assert_eq!(without.status().as_u16(), 401);
        let challenge = without
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(challenge.starts_with("Bearer "), "{challenge}");
        let wrong = http.get(&info).bearer_auth("guess").send().await?;
        assert_eq!(wrong.status().as_u16(), 401);
        let right = http.get(&info).bearer_auth(TOKEN).send().await?;
        assert_eq!(right.status().as_u16(), 200);
        let body = json(right.text().await?);
        assert_eq!(body["issuer"], ISSUER);
        // Addressed by its public name (as through a port mapping or a proxy): answered too.
        let by_name = http
            .get(&info)
            .bearer_auth(TOKEN)
            .header("host", "idp.example.test:9400")
            .send()
            .await?;
        assert_eq!(by_name.status().as_u16(), 200);
        let rebound = http
            .get(&info)
            .bearer_auth(TOKEN)
            .header("host", "rebind.evil.example:9400")
            .send()
            .await?;
        assert_eq!(rebound.status().as_u16(), 421);
        Ok::<_, reqwest::Error>(())
    });
    let _ = child.kill();
    let _ = child.wait();
    outcome.expect("HTTP exchanges");
}

fn start_with_env(args: &[&str], token: &str) -> (std::process::Child, serde_json::Value) {
    let mut child = bin()
        .args(args)
        .env("MOCK_IDP_ALLOW_NON_LOOPBACK", "1")
        .env("MOCK_IDP_CONTROL_TOKEN", token)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("ready line");
    // The rest of the output is drained, so the server never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let ready = serde_json::from_str(
        first
            .strip_prefix("mock-idp ready ")
            .unwrap_or_else(|| panic!("ready line: {first:?}")),
    )
    .expect("JSON");
    (child, ready)
}
