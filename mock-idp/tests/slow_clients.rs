//! Slow and numerous clients cannot hold the mock IdP: a connection that sends half a request
//! head, or stays idle, or sends half a body, is closed by its deadline, and connections beyond
//! the cap wait until one closes. Raw sockets on 127.0.0.1; every wait is bounded, and a test
//! only asserts what happened, never how fast.

mod common;

use std::time::Duration;

use mock_idp::{Fault, FaultEndpoint, FaultSpec, IdpConfig, MockIdp, ServeLimits};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Far longer than any deadline below: a test that reaches it has failed.
const BOUND: Duration = Duration::from_secs(20);

async fn start(limits: ServeLimits) -> MockIdp {
    MockIdp::start(IdpConfig {
        limits,
        ..IdpConfig::default()
    })
    .await
    .expect("IdP starts")
}

fn short(header: u64, body: u64, connections: usize) -> ServeLimits {
    ServeLimits {
        header_read_timeout: Duration::from_secs(header),
        body_read_timeout: Duration::from_secs(body),
        max_connections: connections,
    }
}

/// Reads until the server closes the connection; what it sent before, as text.
async fn until_closed(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let closed = tokio::time::timeout(BOUND, async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server kept the connection open");
    String::from_utf8_lossy(&received).into_owned()
}

/// Reads one whole answer to `GET /healthz` (its body ends the JSON).
async fn one_answer(stream: &mut TcpStream) -> String {
    answer_up_to(stream, "{\"status\":\"ok\"}").await
}

/// Reads until what arrived contains `end` (the end of the answer's body), as text.
/// Asks `GET /healthz` on `stream` and reads its 200 answer.
async fn healthz_answered(stream: &mut TcpStream) {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .expect("write");
    let answer = one_answer(stream).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
}

async fn answer_up_to(stream: &mut TcpStream, end: &str) -> String {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let answered = tokio::time::timeout(BOUND, async {
        while !String::from_utf8_lossy(&received).contains(end) {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    let answer = String::from_utf8_lossy(&received).into_owned();
    assert!(answered.is_ok(), "no answer: {answer}");
    answer
}

#[tokio::test]
async fn a_partial_request_head_is_closed_by_its_deadline() {
    let idp = start(short(1, 30, 16)).await;
    let mut stream = TcpStream::connect(idp.addr()).await.expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .await
        .expect("write");
    let sent_back = until_closed(&mut stream).await;
    assert!(!sent_back.contains("200 OK"), "{sent_back}");
    idp.shutdown().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_by_its_deadline() {
    let idp = start(short(1, 30, 16)).await;
    let mut stream = TcpStream::connect(idp.addr()).await.expect("connect");
    healthz_answered(&mut stream).await;
    // Kept alive for the next request, but not forever.
    assert_eq!(until_closed(&mut stream).await, "");
    // A connection that never sends a byte is closed the same way.
    let mut silent = TcpStream::connect(idp.addr()).await.expect("connect");
    assert_eq!(until_closed(&mut silent).await, "");
    idp.shutdown().await;
}

#[tokio::test]
async fn a_slow_answer_is_not_cut_by_the_head_deadline_and_the_wait_restarts_after_it() {
    let idp = start(short(1, 30, 16)).await;
    // The answer takes longer than the head deadline: the deadline is for heads, not answers.
    idp.idp()
        .set_fault(FaultSpec {
            endpoint: FaultEndpoint::Jwks,
            fault: Fault::Delay { ms: 2_500 },
            times: Some(1),
            client_id: None,
        })
        .expect("fault");
    let mut stream = TcpStream::connect(idp.addr()).await.expect("connect");
    // Most of a deadline spent idle first: the wait before a head counts, the answer does not.
    tokio::time::sleep(Duration::from_millis(600)).await;
    stream
        .write_all(b"GET /jwks HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .expect("write");
    // The key set's last bytes: the whole answer is read before the next request.
    let answer = answer_up_to(&mut stream, "]}").await;
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    // A second request on the same connection: the wait restarted when the answer was ready.
    healthz_answered(&mut stream).await;
    // And then idle: closed by the deadline.
    assert_eq!(until_closed(&mut stream).await, "");
    idp.shutdown().await;
}

#[tokio::test]
async fn a_stop_does_not_wait_for_a_partial_head_past_its_deadline() {
    let idp = start(short(1, 30, 16)).await;
    let mut stream = TcpStream::connect(idp.addr()).await.expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .await
        .expect("write");
    // Let the server read the partial head before it is asked to stop.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stopped = tokio::time::timeout(BOUND, idp.shutdown()).await;
    assert!(stopped.is_ok(), "the stop waited for the partial head");
    assert_eq!(until_closed(&mut stream).await, "");
}

#[tokio::test]
async fn a_partial_body_gets_408_and_the_connection_closes() {
    let idp = start(short(30, 1, 16)).await;
    let mut stream = TcpStream::connect(idp.addr()).await.expect("connect");
    stream
        .write_all(
            b"POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\n\
              Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n\
              grant_type=",
        )
        .await
        .expect("write");
    let answer = until_closed(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"error\":\"invalid_request\""), "{answer}");
    // The same deadline holds for the control API.
    let mut stream = TcpStream::connect(idp.addr()).await.expect("connect");
    let host = format!("Host: {}\r\n", idp.addr());
    stream
        .write_all(
            format!(
                "POST /_control/reset HTTP/1.1\r\n{host}\
                 Content-Type: application/json\r\nContent-Length: 10\r\n\r\n{{"
            )
            .as_bytes(),
        )
        .await
        .expect("write");
    let answer = until_closed(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    idp.shutdown().await;
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let idp = start(short(30, 30, 1)).await;
    let held = TcpStream::connect(idp.addr()).await.expect("connect");
    let health = format!("{}/healthz", idp.issuer());
    let impatient = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(1))
        .build()
        .expect("client");
    assert!(
        impatient.get(&health).send().await.is_err(),
        "the only connection slot is taken: no answer"
    );
    drop(held);
    let answer = common::send(common::http().get(&health)).await;
    assert_eq!(
        answer.status,
        reqwest::StatusCode::OK,
        "a slot is free again"
    );
    idp.shutdown().await;
}
