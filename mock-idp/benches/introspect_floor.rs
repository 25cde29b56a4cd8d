//! The introspection ceiling for `bench/run.sh`: the least a server can do to answer
//! `POST /introspect` of an RS256 JWT it issued, so that mock-idp's always-new-token
//! introspection can be read as a share of what this machine allows with the same crypto.
//!
//! Served the cheapest way measured here: one thread per core, each with a single-threaded Tokio
//! runtime running `axum::serve` on the same listening socket, so a connection's requests never
//! wake or move to another thread. Under this load that took about a tenth less CPU per answer
//! than `#[tokio::main]`'s work-stealing workers (`reports/benchmarks.md`), so the ceiling is
//! the higher of the two. (mock-idp served that way measured no gain and keeps Tokio's runtime.)
//!
//! Per request it checks the caller's `Authorization` header against the introspection client's
//! Basic credentials, finds `token=` in the form body (a JWT needs no percent-decoding), verifies
//! the RS256 signature with aws-lc-rs against a key parsed once at start (as mock-idp does),
//! decodes the claims, reads `exp`, and answers `{"active":true,...claims}` (or
//! `{"active":false}`). It checks no `kid`, `alg`, `iss` or `nbf`, keeps no memory of tokens and
//! logs nothing: a floor under what any verifying introspection costs, not an introspection
//! endpoint anyone should run.
//!
//! With `--raw-http` the same work is served without hyper or axum: each connection is read with
//! `httparse` and answered with one write (see `raw_connection`). It measures what the machine
//! allows one minimal HTTP/1.1 handler that verifies each token; the difference from the handler
//! on hyper is what hyper's generality costs (deadlines, chunked bodies, header maps, a service
//! per request), which a server anyone runs needs.
//!
//! Usage: `introspect_floor PORT JWKS_FILE BASIC [--raw-http]` (loopback only): the RSA key is the
//! JWKS's first `RSA` key; `BASIC` is base64(`client_id:client_secret`). Prints
//! `introspect-floor ready http://127.0.0.1:PORT` (followed by ` (raw HTTP/1.1)` in that mode)
//! once it listens; stops on SIGTERM or Ctrl-C.
//! A bench target (`harness = false`) only so that it builds with mock-idp's dependencies and no
//! second aws-lc build: `cargo bench -p mock-idp --bench introspect_floor --no-run`.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::{ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

/// What every request needs: the verifying key and the expected `Authorization` value.
struct Floor {
    key: ParsedPublicKey,
    authorization: HeaderValue,
}

/// The one claim the floor reads.
#[derive(Deserialize)]
struct Expiry {
    exp: i64,
}

const INACTIVE: &[u8] = br#"{"active":false}"#;

fn main() {
    let usage = "usage: introspect_floor PORT JWKS_FILE BASIC [--raw-http]";
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).expect(usage);
    let jwks_file = args.next().expect(usage);
    let basic = args.next().expect(usage);
    let raw_http = match args.next().as_deref() {
        None => false,
        Some("--raw-http") => true,
        Some(_) => panic!("{usage}"),
    };
    assert!(args.next().is_none(), "{usage}");
    let floor = Arc::new(Floor {
        key: first_rsa_key(&std::fs::read(&jwks_file).expect("read the JWKS file")),
        authorization: HeaderValue::from_str(&format!("Basic {basic}"))
            .expect("BASIC is a header value"),
    });
    let app = Router::new()
        .route("/introspect", post(introspect))
        .with_state(Arc::clone(&floor));
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind 127.0.0.1");
    listener
        .set_nonblocking(true)
        .expect("a non-blocking listener");
    let addr = listener.local_addr().expect("local address");
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    for _ in 0..threads {
        let listener = listener.try_clone().expect("the listener, once more");
        let app = app.clone();
        let floor = Arc::clone(&floor);
        std::thread::spawn(move || {
            single_threaded().block_on(async move {
                let listener =
                    tokio::net::TcpListener::from_std(listener).expect("a Tokio listener");
                if !raw_http {
                    axum::serve(listener, app).await.expect("serve");
                    return;
                }
                loop {
                    match listener.accept().await {
                        Ok((stream, _)) => {
                            tokio::spawn(raw_connection(stream, Arc::clone(&floor)));
                        }
                        // An accept error (too many open files) would recur at once: wait a
                        // little, as `axum::serve` does, instead of spinning.
                        Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
                    }
                }
            });
        });
    }
    let stack = if raw_http { " (raw HTTP/1.1)" } else { "" };
    println!("introspect-floor ready http://{addr}{stack}");
    // The serving threads end with the process.
    single_threaded().block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    });
}

fn single_threaded() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime")
}

/// The JWKS's first RSA key, parsed for RS256 verification.
fn first_rsa_key(jwks: &[u8]) -> ParsedPublicKey {
    let jwks: serde_json::Value = serde_json::from_slice(jwks).expect("the JWKS is JSON");
    let key = jwks["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["kty"] == "RSA"))
        .expect("the JWKS holds an RSA key");
    let part = |name: &str| {
        URL_SAFE_NO_PAD
            .decode(key[name].as_str().expect("n and e are strings"))
            .expect("n and e are base64url")
    };
    // RFC 8017 A.1.1 RSAPublicKey: SEQUENCE { INTEGER n, INTEGER e }, what aws-lc-rs parses.
    let mut integers = der_integer(&part("n"));
    integers.extend(der_integer(&part("e")));
    let der = der_tagged(0x30, &integers);
    ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, der).expect("an RS256 verification key")
}

/// A DER INTEGER of the unsigned big-endian `bytes`.
fn der_integer(bytes: &[u8]) -> Vec<u8> {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    let mut value = Vec::with_capacity(bytes.len() + 1);
    // A leading one bit would make the integer negative.
    if bytes.get(start).is_none_or(|&b| b & 0x80 != 0) {
        value.push(0);
    }
    value.extend_from_slice(&bytes[start..]);
    der_tagged(0x02, &value)
}

/// `tag`, the DER length of `value`, and `value`.
fn der_tagged(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let be = len.to_be_bytes();
        let first = be.iter().position(|&b| b != 0).unwrap_or(be.len() - 1);
        out.push(0x80 | (be.len() - first) as u8);
        out.extend_from_slice(&be[first..]);
    }
    out.extend_from_slice(value);
    out
}

async fn introspect(State(floor): State<Arc<Floor>>, headers: HeaderMap, body: Bytes) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    match answer(&floor, authorization, &body) {
        Answer::Json(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Answer::Unauthorized => StatusCode::UNAUTHORIZED.into_response(),
        Answer::BadRequest => StatusCode::BAD_REQUEST.into_response(),
    }
}

/// What the floor answers, whichever HTTP stack carries it.
enum Answer {
    Json(Bytes),
    Unauthorized,
    BadRequest,
}

/// The floor's whole work for one request: client authentication, the `token` parameter, the
/// verification and the answer's body.
fn answer(floor: &Floor, authorization: Option<&[u8]>, body: &[u8]) -> Answer {
    if authorization != Some(floor.authorization.as_bytes()) {
        return Answer::Unauthorized;
    }
    let token = std::iter::once(0)
        .chain(memchr::memchr_iter(b'&', body).map(|at| at + 1))
        .find_map(|start| {
            let pair = &body[start..];
            let pair = &pair[..memchr::memchr(b'&', pair).unwrap_or(pair.len())];
            pair.strip_prefix(b"token=")
        });
    let Some(token) = token else {
        return Answer::BadRequest;
    };
    Answer::Json(verified_claims(&floor.key, token).map_or_else(
        || Bytes::from_static(INACTIVE),
        |claims| {
            // `{"active":true,` and the claims object without its opening brace.
            let mut answer = Vec::with_capacity(claims.len() + 16);
            answer.extend_from_slice(br#"{"active":true,"#);
            answer.extend_from_slice(&claims[1..]);
            Bytes::from(answer)
        },
    ))
}

/// Serves one connection with the floor's own HTTP/1.1 reading instead of hyper's: `httparse`
/// for the head, `Content-Length` bodies only, keep-alive until the peer closes, and every
/// answer that the bytes read so far complete written in one `write_all`. It keeps no `Date`
/// header, no chunked bodies, no `Expect`, no deadlines: enough for wrk's requests and nothing
/// else, a measure of what hyper's generality costs and not a server. (It sets `TCP_NODELAY`,
/// which `axum::serve` does not; with one write per answer and the client waiting for each
/// answer before its next request, Nagle's algorithm has nothing to hold back either way.)
async fn raw_connection(mut stream: tokio::net::TcpStream, floor: Arc<Floor>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    const LIMIT: usize = 64 * 1024;
    let _ = stream.set_nodelay(true);
    let mut input: Vec<u8> = Vec::with_capacity(8 * 1024);
    let mut output: Vec<u8> = Vec::with_capacity(4 * 1024);
    loop {
        let mut used = 0;
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 16];
            let mut request = httparse::Request::new(&mut headers);
            let head = match request.parse(&input[used..]) {
                Ok(httparse::Status::Complete(head)) => head,
                Ok(httparse::Status::Partial) => break,
                Err(_) => return,
            };
            let mut length = 0;
            let mut authorization = None;
            for header in request.headers.iter() {
                if header.name.eq_ignore_ascii_case("content-length") {
                    let Some(n) = std::str::from_utf8(header.value)
                        .ok()
                        .and_then(|n| n.parse::<usize>().ok())
                    else {
                        return;
                    };
                    length = n;
                } else if header.name.eq_ignore_ascii_case("authorization") {
                    authorization = Some(header.value);
                }
            }
            if length > LIMIT || head + length > LIMIT {
                return;
            }
            let Some(body) = input.get(used + head..used + head + length) else {
                break;
            };
            let (status, json) = match (request.method, request.path) {
                (Some("POST"), Some("/introspect")) => match answer(&floor, authorization, body) {
                    Answer::Json(json) => ("200 OK", json),
                    Answer::Unauthorized => ("401 Unauthorized", Bytes::new()),
                    Answer::BadRequest => ("400 Bad Request", Bytes::new()),
                },
                _ => ("404 Not Found", Bytes::new()),
            };
            output.extend_from_slice(b"HTTP/1.1 ");
            output.extend_from_slice(status.as_bytes());
            output.extend_from_slice(b"\r\ncontent-type: application/json\r\ncontent-length: ");
            output.extend_from_slice(json.len().to_string().as_bytes());
            output.extend_from_slice(b"\r\n\r\n");
            output.extend_from_slice(&json);
            used += head + length;
        }
        input.drain(..used);
        if !output.is_empty() {
            if stream.write_all(&output).await.is_err() {
                return;
            }
            output.clear();
        }
        if input.len() >= LIMIT {
            return;
        }
        match stream.read_buf(&mut input).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// The claims of `token` when its signature verifies and it has not expired.
fn verified_claims(key: &ParsedPublicKey, token: &[u8]) -> Option<Vec<u8>> {
    let mut dots = memchr::memchr_iter(b'.', token);
    let first = dots.next()?;
    let second = dots.next()?;
    let signature = URL_SAFE_NO_PAD.decode(&token[second + 1..]).ok()?;
    key.verify_sig(&token[..second], &signature).ok()?;
    let claims = URL_SAFE_NO_PAD.decode(&token[first + 1..second]).ok()?;
    let Expiry { exp } = serde_json::from_slice(&claims).ok()?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    (claims.len() > 2 && claims.starts_with(b"{") && exp > i64::try_from(now).ok()?)
        .then_some(claims)
}
