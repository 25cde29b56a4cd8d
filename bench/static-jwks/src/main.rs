//! The JWKS ceiling: `GET /jwks` answers fixed bytes read once at start, nothing else.
//!
//! Usage: `static-jwks PORT FILE` (loopback only). Prints `static-jwks ready http://127.0.0.1:PORT`
//! once it listens; stops on SIGTERM or Ctrl-C. It runs on the same runtime shape as mock-idp
//! (`#[tokio::main]`, one worker per core) so the two differ only in what the handler does.

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args
        .next()
        .and_then(|p| p.parse().ok())
        .expect("usage: static-jwks PORT FILE");
    let file = args.next().expect("usage: static-jwks PORT FILE");
    let body = Bytes::from(std::fs::read(&file).expect("read the JWKS file"));
    let app = Router::new().route(
        "/jwks",
        get(move || {
            let body = body.clone();
            async move { jwks(body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind 127.0.0.1");
    let addr = listener.local_addr().expect("local address");
    println!("static-jwks ready http://{addr}");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            use tokio::signal::unix::{SignalKind, signal};
            let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        })
        .await
        .expect("serve");
}

fn jwks(body: Bytes) -> Response {
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
