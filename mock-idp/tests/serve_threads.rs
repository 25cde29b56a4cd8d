//! `ServeLimits::serve_threads`: the serving threads exist while the server runs, each serves the
//! connections given to it, and they end when the server stops. In a test binary of its own, so
//! that no other test's server adds threads to the count. Linux only: threads are counted by
//! name in `/proc/self/task`.
#![cfg(target_os = "linux")]

mod common;

use std::time::Duration;

use mock_idp::{IdpConfig, MockIdp, ServeLimits};

/// Far longer than anything below takes: a test that reaches it has failed.
const BOUND: Duration = Duration::from_secs(20);

const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

/// The threads of this process named as mock-idp names its serving threads.
fn serving_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("mock-idp-srv-"))
        .count()
}

/// Waits until `serving_threads()` is `count`, up to [`BOUND`]; the last count seen.
async fn settles_at(count: usize) -> usize {
    let deadline = tokio::time::Instant::now() + BOUND;
    loop {
        let seen = serving_threads();
        if seen == count || tokio::time::Instant::now() >= deadline {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn serving_threads_answer_every_connection_and_end_with_the_server() {
    assert_eq!(serving_threads(), 0, "no server yet");
    let idp = MockIdp::start(IdpConfig {
        limits: ServeLimits {
            serve_threads: 3,
            ..ServeLimits::default()
        },
        ..IdpConfig::default()
    })
    .await
    .expect("IdP starts");
    assert_eq!(
        settles_at(3).await,
        3,
        "three serving threads while it runs"
    );
    // Connections go to the threads in turn: more connections than threads, each with several
    // requests, every one answered (a token, then its introspection on the same connection).
    let mut clients = Vec::new();
    for _ in 0..7 {
        let client = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(1)
            .timeout(BOUND)
            .build()
            .expect("client");
        let token = common::send(
            client
                .post(idp.token_endpoint())
                .basic_auth("conformance-client", Some("conformance-client-secret"))
                .header(FORM.0, FORM.1)
                .body("grant_type=client_credentials&scope=mcp%3Atools"),
        )
        .await;
        assert_eq!(token.status, reqwest::StatusCode::OK, "{}", token.text());
        let token = token.json()["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned();
        let answer = common::send(
            client
                .post(idp.introspection_endpoint())
                .basic_auth("conformance-rs", Some("conformance-rs-secret"))
                .header(FORM.0, FORM.1)
                .body(format!("token={token}")),
        )
        .await
        .json();
        assert_eq!(answer["active"], true, "{answer}");
        clients.push(client);
    }
    idp.shutdown().await;
    assert_eq!(
        settles_at(0).await,
        0,
        "the serving threads end with the server"
    );
    drop(clients);
}
