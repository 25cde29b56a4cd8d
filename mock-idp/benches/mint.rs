//! Token minting throughput of the mock IdP's core, one thread, no HTTP.
//!
//! Run with `cargo bench -p mock-idp --bench mint`. It prints RS256 JWTs minted per second
//! through `Idp::mint` (claims building, JSON encoding, signing with the pre-parsed key), and
//! opaque tokens per second for comparison. HTTP throughput against other mock IdPs is measured
//! separately (see the benchmark issue); this number is the ceiling those figures sit under.

use std::time::{Duration, Instant};

use mock_idp::{IdpConfig, MintRequest, MockIdp, TokenFormat};

fn measure(label: &str, idp: &mock_idp::Idp, request: &MintRequest) {
    // Warm up, then take the median of five one-second rounds.
    for _ in 0..200 {
        idp.mint(request).expect("mint");
    }
    let mut rates = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let mut n = 0u64;
        while started.elapsed() < Duration::from_secs(1) {
            for _ in 0..50 {
                idp.mint(request).expect("mint");
            }
            n += 50;
        }
        rates.push(n as f64 / started.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "{label}: {:.0} tokens/s (median of 5 rounds; min {:.0}, max {:.0})",
        rates[2], rates[0], rates[4]
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let handle = runtime
        .block_on(MockIdp::start(IdpConfig::default()))
        .expect("start");
    let idp = handle.idp().clone();
    let jwt = MintRequest {
        audience: Some(mock_idp::Audience::One("http://127.0.0.1:8000/mcp".into())),
        scope: Some("mcp:tools".into()),
        ..Default::default()
    };
    measure("RS256 JWT (RSA-2048, pre-parsed aws-lc-rs key)", &idp, &jwt);
    let opaque = MintRequest {
        format: Some(TokenFormat::Opaque),
        ..jwt.clone()
    };
    measure("opaque token", &idp, &opaque);
    runtime.block_on(handle.shutdown());
}
