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
    let idp = mock_idp::MockIdp::start(mock_idp::IdpConfig::default())
        .await
        .expect("mock IdP");
    let addr = serve(behaviour).await;
    let config = RunConfig {
        target: format!("http://{addr}/mcp"),
        audience: None,
        spec: SpecVersion::LATEST,
        idp_url: idp.issuer(),
        limits: Limits {
            deadline: Duration::from_millis(300),
            max_body: 256 * 1024,
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
