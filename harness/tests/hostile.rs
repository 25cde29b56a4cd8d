//! The harness against broken and hostile targets: it must finish, with a verdict or a clear
//! error, and never hang or panic. Each target is a raw TCP server on loopback, so the wire is
//! exactly as bad as the case needs.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use harness::check::Status;
use harness::{HarnessError, Limits, Options, RunConfig, SpecVersion};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Clone, Copy, Debug)]
enum Behaviour {
    /// Accepts the connection, reads the request, never answers.
    Stall,
    /// Answers 401 with a 64 MiB body.
    Huge,
    /// Redirects every request to itself.
    RedirectLoop,
    /// Answers 200 with a body that is not JSON.
    InvalidJson,
    /// Answers 200 as an event stream that never carries a complete event.
    EndlessSse,
    /// Sends the status line, then one header byte every 50 ms.
    Drip,
    /// Answers 401 with a 1 MiB body of `Bearer x ` repeated, which a quadratic redaction took
    /// minutes over.
    RedactionBomb,
}

async fn serve(behaviour: Behaviour) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                let _ = socket.read(&mut buf).await;
                let _ = answer(&mut socket, behaviour, addr).await;
                if matches!(
                    behaviour,
                    Behaviour::Stall | Behaviour::EndlessSse | Behaviour::Drip
                ) {
                    // Keep the connection open a while, as a hostile server would.
                    tokio::time::sleep(Duration::from_secs(30)).await;
                }
            });
        }
    });
    addr
}

async fn answer(
    socket: &mut tokio::net::TcpStream,
    behaviour: Behaviour,
    addr: SocketAddr,
) -> std::io::Result<()> {
    match behaviour {
        Behaviour::Stall => {}
        Behaviour::Huge => {
            let size = 64 * 1024 * 1024;
            socket
                .write_all(
                    format!(
                        "HTTP/1.1 401 Unauthorized\r\nconnection: close\r\nwww-authenticate: Bearer\r\ncontent-type: application/json\r\ncontent-length: {size}\r\n\r\n"
                    )
                    .as_bytes(),
                )
                .await?;
            let chunk = vec![b'x'; 64 * 1024];
            for _ in 0..size / chunk.len() {
                socket.write_all(&chunk).await?;
            }
        }
        Behaviour::RedirectLoop => {
            socket
                .write_all(format!("HTTP/1.1 307 Temporary Redirect\r\nconnection: close\r\nlocation: http://{addr}/mcp\r\ncontent-length: 0\r\n\r\n").as_bytes())
                .await?;
        }
        Behaviour::InvalidJson => {
            let body = "{\"jsonrpc\": \"2.0\", \"result\": {";
            socket
                .write_all(format!("HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}", body.len()).as_bytes())
                .await?;
        }
        Behaviour::EndlessSse => {
            socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\ndata: {\"jsonrpc\":").await?;
            for _ in 0..600 {
                tokio::time::sleep(Duration::from_millis(50)).await;
                socket.write_all(b" ").await?;
            }
        }
        Behaviour::RedactionBomb => {
            let body = "Bearer x ".repeat(1024 * 1024 / 9);
            socket
                .write_all(
                    format!(
                        "HTTP/1.1 401 Unauthorized\r\nconnection: close\r\nwww-authenticate: Bearer\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                )
                .await?;
        }
        Behaviour::Drip => {
            socket.write_all(b"HTTP/1.1 401 Unauthorized\r\n").await?;
            for _ in 0..600 {
                tokio::time::sleep(Duration::from_millis(50)).await;
                socket.write_all(b"x").await?;
            }
        }
    }
    Ok(())
}

async fn run_against(behaviour: Behaviour) -> (Result<harness::Report, HarnessError>, Duration) {
    let addr = serve(behaviour).await;
    run_at(addr, 256 * 1024).await
}

/// Runs the whole suite against a target at `addr`, reading at most `max_body` of each answer.
async fn run_at(
    addr: SocketAddr,
    max_body: usize,
) -> (Result<harness::Report, HarnessError>, Duration) {
    let idp = mock_idp::MockIdp::start(mock_idp::IdpConfig::default())
        .await
        .expect("mock IdP");
    let config = RunConfig {
        target: format!("http://{addr}/mcp"),
        audience: None,
        spec: SpecVersion::LATEST,
        idp_url: idp.issuer(),
        limits: Limits {
            deadline: Duration::from_millis(300),
            max_body,
        },
        options: Options {
            jwks_wait: Duration::from_millis(300),
            jwks_cooldown: Duration::from_secs(1),
            ..Default::default()
        },
        checks: Vec::new(),
        catalogue: harness::load_catalogue(&[]).expect("catalogue"),
        baseline: None,
        restart: None,
    };
    let started = Instant::now();
    // The outer bound only turns a hang into a test failure instead of a stuck CI run.
    let result = tokio::time::timeout(Duration::from_secs(120), harness::run(config))
        .await
        .expect("the harness hung");
    let elapsed = started.elapsed();
    idp.shutdown().await;
    (result, elapsed)
}

fn assert_unreachable_by_deadline(result: Result<harness::Report, HarnessError>) {
    match result {
        Err(HarnessError::TargetUnreachable { reason, .. }) => {
            assert!(reason.contains("deadline"), "{reason}")
        }
        other => panic!("expected an unreachable target, got {other:?}"),
    }
}

fn assert_not_conformant(report: &harness::Report) {
    assert!(
        !report.summary.conformant,
        "a broken target must not be judged conformant"
    );
    assert!(!report.positive_control.passed);
    assert!(report.checks.iter().all(|c| c.status != Status::Pass
        || c.level != harness::check::Level::Must
        || c.id.starts_with("www.")
        || c.id.starts_with("rs.")
        || c.id.starts_with("prm.")));
}

#[tokio::test]
async fn stalled_target_is_reported_unreachable() {
    let (result, elapsed) = run_against(Behaviour::Stall).await;
    assert_unreachable_by_deadline(result);
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
}

#[tokio::test]
async fn huge_bodies_are_cut_at_the_limit() {
    let (result, _) = run_against(Behaviour::Huge).await;
    let report = result.expect("a verdict");
    assert_not_conformant(&report);
}

#[tokio::test]
async fn redirect_loops_are_not_followed() {
    let (result, _) = run_against(Behaviour::RedirectLoop).await;
    let report = result.expect("a verdict");
    let check = report
        .checks
        .iter()
        .find(|c| c.id == "rs.unauthenticated-401")
        .expect("check");
    assert_eq!(check.status, Status::Fail);
    assert!(check.message.contains("307"), "{}", check.message);
    assert_not_conformant(&report);
}

#[tokio::test]
async fn invalid_json_is_not_an_acceptance() {
    let (result, _) = run_against(Behaviour::InvalidJson).await;
    let report = result.expect("a verdict");
    assert!(
        report.positive_control.message.contains("not JSON"),
        "{}",
        report.positive_control.message
    );
    assert_not_conformant(&report);
}

#[tokio::test]
async fn endless_event_streams_hit_the_deadline() {
    let (result, elapsed) = run_against(Behaviour::EndlessSse).await;
    // The very first request never completes, so the target counts as unreachable.
    assert_unreachable_by_deadline(result);
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
}

#[tokio::test]
async fn dripping_headers_hit_the_deadline() {
    let (result, _) = run_against(Behaviour::Drip).await;
    assert_unreachable_by_deadline(result);
}

#[tokio::test]
async fn a_body_full_of_credentials_is_redacted_in_linear_time() {
    let addr = serve(Behaviour::RedactionBomb).await;
    let (result, elapsed) = run_at(addr, 1024 * 1024).await;
    let report = result.expect("a verdict");
    assert_not_conformant(&report);
    // Quadratic redaction took minutes over this body; linear takes well under a second a pass.
    assert!(elapsed < Duration::from_secs(60), "took {elapsed:?}");
    assert!(
        !report.to_json().contains("Bearer x"),
        "credentials are redacted"
    );
}

/// A raw server answering by path, counting the requests it gets.
async fn serve_paths(
    answer: fn(&str, SocketAddr) -> String,
) -> (SocketAddr, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let n = socket.read(&mut buf).await.unwrap_or(0);
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                let _ = socket.write_all(answer(&path, addr).as_bytes()).await;
            });
        }
    });
    (addr, seen)
}

fn http(status: &str, content_type: &str, body: &str, extra: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nconnection: close\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n{extra}\r\n{body}",
        body.len()
    )
}

/// An authorization server whose login page is 512 KiB of `<a<a<a…`, which a quadratic tag
/// scanner took half an hour over.
fn tag_bomb(path: &str, addr: SocketAddr) -> String {
    let origin = format!("http://{addr}");
    if path == "/mcp" {
        return http(
            "401 Unauthorized",
            "application/json",
            "{}",
            &format!(
                "www-authenticate: Bearer resource_metadata=\"{origin}/.well-known/oauth-protected-resource/mcp\"\r\n"
            ),
        );
    }
    if path == "/.well-known/oauth-protected-resource/mcp" {
        let doc = format!(r#"{{"resource":"{origin}/mcp","authorization_servers":["{origin}"]}}"#);
        return http("200 OK", "application/json", &doc, "");
    }
    if path == "/.well-known/oauth-authorization-server" {
        let doc = format!(
            r#"{{"issuer":"{origin}","authorization_endpoint":"{origin}/authorize","token_endpoint":"{origin}/token","registration_endpoint":"{origin}/register","response_types_supported":["code"],"code_challenge_methods_supported":["S256"]}}"#
        );
        return http("200 OK", "application/json", &doc, "");
    }
    if path == "/register" {
        return http(
            "201 Created",
            "application/json",
            r#"{"client_id":"c1","token_endpoint_auth_method":"none","redirect_uris":["http://127.0.0.1/callback"]}"#,
            "",
        );
    }
    if path.starts_with("/authorize") {
        return http("200 OK", "text/html", &"<a".repeat(256 * 1024), "");
    }
    http("404 Not Found", "text/plain", "", "")
}

#[tokio::test]
async fn a_login_page_of_unclosed_tags_is_read_in_linear_time() {
    let (addr, _) = serve_paths(tag_bomb).await;
    let (result, elapsed) = run_at(addr, 1024 * 1024).await;
    let report = result.expect("a verdict");
    let login = report
        .checks
        .iter()
        .find(|c| c.id == "login.headless-flow")
        .expect("the login check");
    assert_eq!(login.status, Status::Fail, "{}", login.message);
    assert!(
        login.message.contains("without a form"),
        "{}",
        login.message
    );
    assert!(elapsed < Duration::from_secs(60), "took {elapsed:?}");
}

/// A "cloud metadata service" on another origin, holding a secret.
fn credentials_service(_: &str, _: SocketAddr) -> String {
    http(
        "200 OK",
        "application/json",
        r#"{"resource":"x","authorization_servers":["http://127.0.0.1:9"],"AccessKeyId":"AKIA-CONFORMANCE-SECRET"}"#,
        "",
    )
}

static FOREIGN: std::sync::OnceLock<SocketAddr> = std::sync::OnceLock::new();

/// A target whose challenge points its metadata at the credentials service.
fn points_elsewhere(_: &str, _: SocketAddr) -> String {
    let foreign = FOREIGN.get().expect("the foreign server runs");
    http(
        "401 Unauthorized",
        "application/json",
        "{}",
        &format!(
            "www-authenticate: Bearer resource_metadata=\"http://{foreign}/latest/meta-data\"\r\n"
        ),
    )
}

#[tokio::test]
async fn urls_a_target_names_on_other_origins_are_not_fetched() {
    let (foreign, seen) = serve_paths(credentials_service).await;
    FOREIGN.set(foreign).expect("set once");
    let (addr, _) = serve_paths(points_elsewhere).await;
    let (result, _) = run_at(addr, 256 * 1024).await;
    let report = result.expect("a verdict");
    assert_eq!(
        seen.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the harness contacted the service the target named"
    );
    let json = report.to_json();
    assert!(!json.contains("AKIA-CONFORMANCE-SECRET"));
    assert!(
        report.notes.iter().any(|n| n.starts_with("not fetched: ")
            && n.contains(&format!("--allow-origin http://{foreign}"))),
        "{:?}",
        report.notes
    );
    let pointer = report
        .checks
        .iter()
        .find(|c| c.id == "www.resource-metadata-param")
        .expect("the check");
    assert_eq!(pointer.status, Status::NotTestable, "{}", pointer.message);
}

#[test]
fn link_local_addresses_are_never_fetched() {
    let policy = harness::target::FetchPolicy::allowing(Vec::new(), true);
    for url in [
        "http://169.254.169.254/latest/meta-data",
        "http://[fe80::1]/x",
        "http://[::ffff:169.254.169.254]/x",
    ] {
        let refused = policy.check(url).expect_err(url);
        assert!(refused.contains("link-local"), "{refused}");
    }
    assert!(policy.check("http://127.0.0.1:1/mcp").is_ok());
    let strict =
        harness::target::FetchPolicy::allowing(["http://127.0.0.1:1/mcp".to_string()], false);
    assert!(strict.check("http://127.0.0.1:1/.well-known/x").is_ok());
    assert!(strict.check("http://127.0.0.1:2/").is_err());
    strict.allow("http://127.0.0.1:2/issuer");
    assert!(strict.check("http://127.0.0.1:2/token").is_ok());
}
