//! Real-socket tests: a target started with `serve`, trusting a JWKS served by a tiny axum app
//! inside the test, driven over loopback HTTP with hand-signed RS256 tokens.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reference_target::{RunningTarget, TargetConfig, Trust, Variant, serve};
use serde_json::{Value, json};

const ISSUER: &str = "http://issuer.test";
const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"test","version":"0"}}}"#;

/// A JWKS server whose answer can be switched to a 500, counting its fetches.
struct Jwks {
    addr: SocketAddr,
    failing: Arc<AtomicBool>,
    fetches: Arc<AtomicUsize>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Jwks {
    async fn start(keys: &[(&str, &KeyPair)]) -> Jwks {
        let jwks = json!({"keys": keys.iter().map(|(kid, key)| jwk(kid, key)).collect::<Vec<_>>()});
        let failing = Arc::new(AtomicBool::new(false));
        let fetches = Arc::new(AtomicUsize::new(0));
        let app = Router::new().route(
            "/jwks",
            get({
                let failing = failing.clone();
                let fetches = fetches.clone();
                move || {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    let failing = failing.load(Ordering::SeqCst);
                    let body = jwks.to_string();
                    async move {
                        if failing {
                            (StatusCode::INTERNAL_SERVER_ERROR, "{}".to_owned())
                        } else {
                            (StatusCode::OK, body)
                        }
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        Jwks {
            addr,
            failing,
            fetches,
            stop: Some(stop),
        }
    }

    fn uri(&self) -> String {
        format!("http://{}/jwks", self.addr)
    }

    fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn jwk(kid: &str, key: &KeyPair) -> Value {
    let public = key.public_key();
    json!({
        "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
        "n": b64(public.modulus().big_endian_without_leading_zero()),
        "e": b64(public.exponent().big_endian_without_leading_zero()),
    })
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// Signs `header.claims` with RS256 by hand.
fn sign(key: &KeyPair, header: &Value, claims: &Value) -> String {
    let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
    let mut signature = vec![0u8; key.public_modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        input.as_bytes(),
        &mut signature,
    )
    .expect("sign");
    format!("{input}.{}", b64(signature))
}

fn header(kid: &str) -> Value {
    json!({"alg": "RS256", "typ": "at+jwt", "kid": kid})
}

fn claims(audience: &str, scope: Option<&str>) -> Value {
    let mut claims = json!({
        "iss": ISSUER, "sub": "alice", "aud": audience,
        "exp": now() + 300, "iat": now(), "client_id": "test-client",
    });
    if let Some(scope) = scope {
        claims["scope"] = scope.into();
    }
    claims
}

async fn start_target(variant: Variant, jwks: &Jwks) -> RunningTarget {
    serve(TargetConfig {
        issuer: ISSUER.to_owned(),
        trust: Trust::Jwt {
            jwks_uri: jwks.uri(),
        },
        variant,
        jwks_min_refetch: Duration::ZERO,
        ..TargetConfig::default()
    })
    .await
    .expect("serve")
}

struct Answer {
    status: u16,
    challenge: Option<String>,
    session: Option<String>,
    body: String,
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    auth: Option<&str>,
    session: Option<&str>,
    body: &str,
) -> Answer {
    let mut request = client
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    if let Some(session) = session {
        request = request
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", "2025-06-18");
    }
    let response = request.send().await.expect("request");
    answer(response).await
}

async fn answer(response: reqwest::Response) -> Answer {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let status = response.status().as_u16();
    let challenge = header("www-authenticate");
    let session = header("mcp-session-id");
    let body = response.text().await.unwrap_or_default();
    Answer {
        status,
        challenge,
        session,
        body,
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

#[tokio::test]
async fn conformant_target_challenges_accepts_and_forbids() {
    let key = KeyPair::generate(KeySize::Rsa2048).expect("key");
    let mut jwks = Jwks::start(&[("k1", &key)]).await;
    let target = start_target(Variant::Conformant, &jwks).await;
    let url = target.url();
    let prm_url = format!(
        "http://{}/.well-known/oauth-protected-resource/mcp",
        target.addr()
    );
    let http = client();

    // No token: 401, empty body, and a challenge without an error code.
    let no_token = post(&http, &url, None, None, INITIALIZE).await;
    assert_eq!(no_token.status, 401);
    assert_eq!(
        no_token.challenge.as_deref(),
        Some(format!("Bearer resource_metadata=\"{prm_url}\", scope=\"mcp:tools\"").as_str())
    );
    assert!(no_token.body.is_empty());

    // A valid token: initialize succeeds and opens a session, in which tools can be called.
    let token = sign(&key, &header("k1"), &claims(&url, Some("mcp:tools")));
    let bearer = format!("Bearer {token}");
    let init = post(&http, &url, Some(&bearer), None, INITIALIZE).await;
    assert_eq!(init.status, 200, "{}", init.body);
    assert!(init.body.contains("\"serverInfo\""), "{}", init.body);
    let session = init.session.expect("mcp-session-id");
    let initialized = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    let notified = post(&http, &url, Some(&bearer), Some(&session), initialized).await;
    assert_eq!(notified.status, 202);
    let whoami = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"whoami","arguments":{}}}"#;
    let called = post(&http, &url, Some(&bearer), Some(&session), whoami).await;
    assert_eq!(called.status, 200);
    assert!(
        called.body.contains(r#"\"subject\":\"alice\""#),
        "{}",
        called.body
    );

    // The session id alone is not enough.
    let ping = r#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#;
    let sessioned = post(&http, &url, None, Some(&session), ping).await;
    assert_eq!(sessioned.status, 401);

    // A token without the required scope: 403 insufficient_scope.
    let unscoped = sign(&key, &header("k1"), &claims(&url, None));
    let forbidden = post(
        &http,
        &url,
        Some(&format!("Bearer {unscoped}")),
        None,
        INITIALIZE,
    )
    .await;
    assert_eq!(forbidden.status, 403);
    assert_eq!(
        forbidden.challenge.as_deref(),
        Some(format!("Bearer error=\"insufficient_scope\", resource_metadata=\"{prm_url}\", scope=\"mcp:tools\"").as_str())
    );

    // An expired token and a tampered one: 401 invalid_token with a JSON body.
    let mut old = claims(&url, Some("mcp:tools"));
    old["exp"] = (now() - 60).into();
    let expired = sign(&key, &header("k1"), &old);
    let refused = post(
        &http,
        &url,
        Some(&format!("Bearer {expired}")),
        None,
        INITIALIZE,
    )
    .await;
    assert_eq!(refused.status, 401);
    let challenge = refused.challenge.unwrap_or_default();
    assert!(
        challenge.starts_with("Bearer error=\"invalid_token\", error_description=\""),
        "{challenge}"
    );
    let body: Value = serde_json::from_str(&refused.body).expect("json body");
    assert_eq!(body["error"], "invalid_token");
    let mut parts: Vec<&str> = token.split('.').collect();
    let forged_payload = b64(claims(&url, Some("mcp:tools other")).to_string());
    parts[1] = &forged_payload;
    let tampered = post(
        &http,
        &url,
        Some(&format!("Bearer {}", parts.join("."))),
        None,
        INITIALIZE,
    )
    .await;
    assert_eq!(tampered.status, 401);

    // Malformed credentials: 401 invalid_request, never 5xx.
    let blank = post(&http, &url, Some("Bearer "), None, INITIALIZE).await;
    assert_eq!(blank.status, 401);
    assert!(
        blank
            .challenge
            .unwrap_or_default()
            .contains("error=\"invalid_request\"")
    );
    let lower = post(
        &http,
        &url,
        Some(&format!("bearer {token}")),
        None,
        INITIALIZE,
    )
    .await;
    assert_eq!(lower.status, 200);

    // The metadata document is public.
    let prm = answer(http.get(&prm_url).send().await.expect("prm")).await;
    assert_eq!(prm.status, 200);
    let prm: Value = serde_json::from_str(&prm.body).expect("prm json");
    assert_eq!(prm["resource"], url.as_str());
    assert_eq!(prm["authorization_servers"], json!([ISSUER]));

    // GET and DELETE are authenticated like POST.
    let get_stream = answer(
        http.get(&url)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", &session)
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(get_stream.status, 401);
    let delete = answer(
        http.delete(&url)
            .header("mcp-session-id", &session)
            .send()
            .await
            .expect("delete"),
    )
    .await;
    assert_eq!(delete.status, 401);

    // An open SSE stream does not hold up shutdown.
    let stream = http
        .get(&url)
        .header("accept", "text/event-stream")
        .header("authorization", &bearer)
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-06-18")
        .send()
        .await
        .expect("stream");
    assert_eq!(stream.status().as_u16(), 200);
    let started = std::time::Instant::now();
    target.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "shutdown took {:?}",
        started.elapsed()
    );
    drop(stream);
    jwks.stop();
}

/// Introspection trust: the target posts the token with Basic client authentication and judges
/// the answer; an unauthenticated-introspection fault is visible to the endpoint.
#[tokio::test]
async fn introspection_trust_round_trip() {
    use axum::http::HeaderMap;
    let seen_auth: Arc<std::sync::Mutex<Vec<Option<String>>>> = Arc::default();
    let audience = Arc::new(std::sync::Mutex::new(String::new()));
    let app = Router::new().route(
        "/introspect",
        axum::routing::post({
            let seen_auth = seen_auth.clone();
            let audience = audience.clone();
            move |headers: HeaderMap, body: String| {
                let authorization = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                if let Ok(mut seen) = seen_auth.lock() {
                    seen.push(authorization);
                }
                let aud = audience.lock().map(|a| a.clone()).unwrap_or_default();
                let form: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
                let token = form.iter().find(|(k, _)| k == "token").map(|(_, v)| v.clone()).unwrap_or_default();
                let hint_ok = form.iter().any(|(k, v)| k == "token_type_hint" && v == "access_token");
                let answer = match token.as_str() {
                    "good" if hint_ok => json!({"active": true, "iss": ISSUER, "sub": "bob", "aud": [aud], "scope": "mcp:tools", "exp": now() + 60, "token_type": "Bearer"}),
                    "refresh" => json!({"active": true, "iss": ISSUER, "aud": aud, "scope": "mcp:tools", "token_type": "refresh_token"}),
                    "broken" => return std::future::ready((StatusCode::INTERNAL_SERVER_ERROR, "{}".to_owned())),
                    _ => json!({"active": false}),
                };
                std::future::ready((StatusCode::OK, answer.to_string()))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let idp = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await;
    });
    let http = client();
    for variant in [
        Variant::Introspection,
        Variant::IntrospectUnauthenticated,
        Variant::IntrospectFailsOpen,
    ] {
        let target = serve(TargetConfig {
            issuer: ISSUER.to_owned(),
            trust: Trust::Introspection {
                endpoint: format!("http://{idp}/introspect"),
                client_id: "conformance-rs".to_owned(),
                client_secret: "conformance-rs-secret".to_owned(),
            },
            variant,
            ..TargetConfig::default()
        })
        .await
        .expect("serve");
        let url = target.url();
        if let Ok(mut aud) = audience.lock() {
            *aud = url.clone();
        }
        let good = post(&http, &url, Some("Bearer good"), None, INITIALIZE).await;
        assert_eq!(good.status, 200, "{variant}: {}", good.body);
        let inactive = post(&http, &url, Some("Bearer revoked"), None, INITIALIZE).await;
        assert_eq!(inactive.status, 401, "{variant}");
        let refresh = post(&http, &url, Some("Bearer refresh"), None, INITIALIZE).await;
        assert_eq!(refresh.status, 401, "{variant}");
        let broken = post(&http, &url, Some("Bearer broken"), None, INITIALIZE).await;
        let expected = if variant == Variant::IntrospectFailsOpen {
            200
        } else {
            401
        };
        assert_eq!(broken.status, expected, "{variant}");
        let expected_auth = (variant != Variant::IntrospectUnauthenticated).then(|| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD
                    .encode("conformance-rs:conformance-rs-secret")
            )
        });
        let seen = seen_auth
            .lock()
            .map(|mut s| std::mem::take(&mut *s))
            .unwrap_or_default();
        assert_eq!(seen.len(), 4, "{variant}");
        assert!(
            seen.iter().all(|a| *a == expected_auth),
            "{variant}: {seen:?}"
        );
        target.shutdown().await;
    }
    let _ = stop.send(());
    let _ = server.await;
}

/// A few faults whose mechanics involve state or key handling, each next to the conformant
/// answer for the same request.
#[tokio::test]
async fn fault_variants_break_their_rule() {
    let key = KeyPair::generate(KeySize::Rsa2048).expect("key");
    let mut jwks = Jwks::start(&[("k1", &key)]).await;
    let http = client();

    for variant in [Variant::Conformant, Variant::AcceptsAlgNone] {
        let target = start_target(variant, &jwks).await;
        let url = target.url();
        let none_header = json!({"alg": "none", "typ": "at+jwt"});
        let unsigned = format!(
            "{}.{}.",
            b64(none_header.to_string()),
            b64(claims(&url, Some("mcp:tools")).to_string())
        );
        let got = post(
            &http,
            &url,
            Some(&format!("Bearer {unsigned}")),
            None,
            INITIALIZE,
        )
        .await;
        let expected = if variant == Variant::Conformant {
            401
        } else {
            200
        };
        assert_eq!(got.status, expected, "{variant} alg none");
        target.shutdown().await;
    }

    for variant in [Variant::Conformant, Variant::SignatureCache] {
        let target = start_target(variant, &jwks).await;
        let url = target.url();
        let token = sign(&key, &header("k1"), &claims(&url, Some("mcp:tools")));
        let first = post(
            &http,
            &url,
            Some(&format!("Bearer {token}")),
            None,
            INITIALIZE,
        )
        .await;
        assert_eq!(first.status, 200);
        let forged = format!(
            "{}.{}",
            token.rsplit_once('.').expect("jws").0,
            b64([7u8; 256])
        );
        let second = post(
            &http,
            &url,
            Some(&format!("Bearer {forged}")),
            None,
            INITIALIZE,
        )
        .await;
        let expected = if variant == Variant::Conformant {
            401
        } else {
            200
        };
        assert_eq!(second.status, expected, "{variant} forged signature");
        target.shutdown().await;
    }

    for variant in [Variant::Conformant, Variant::Hs256PublicKey] {
        let target = start_target(variant, &jwks).await;
        let url = target.url();
        let public = key.public_key();
        let pem = reference_target::jwks::spki_pem(
            public.modulus().big_endian_without_leading_zero(),
            public.exponent().big_endian_without_leading_zero(),
        );
        let hs_header = json!({"alg": "HS256", "typ": "at+jwt", "kid": "k1"});
        let input = format!(
            "{}.{}",
            b64(hs_header.to_string()),
            b64(claims(&url, Some("mcp:tools")).to_string())
        );
        let mac_key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, pem.as_bytes());
        let tag = aws_lc_rs::hmac::sign(&mac_key, input.as_bytes());
        let token = format!("{input}.{}", b64(tag.as_ref()));
        let got = post(
            &http,
            &url,
            Some(&format!("Bearer {token}")),
            None,
            INITIALIZE,
        )
        .await;
        let expected = if variant == Variant::Conformant {
            401
        } else {
            200
        };
        assert_eq!(got.status, expected, "{variant} hs256");
        target.shutdown().await;
    }

    for variant in [Variant::Conformant, Variant::SessionAuthenticates] {
        let target = start_target(variant, &jwks).await;
        let url = target.url();
        let token = sign(&key, &header("k1"), &claims(&url, Some("mcp:tools")));
        let init = post(
            &http,
            &url,
            Some(&format!("Bearer {token}")),
            None,
            INITIALIZE,
        )
        .await;
        let session = init.session.expect("session");
        let ping = r#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#;
        let got = post(&http, &url, Some("Bearer garbage"), Some(&session), ping).await;
        let expected = if variant == Variant::Conformant {
            401
        } else {
            200
        };
        assert_eq!(got.status, expected, "{variant} session");
        target.shutdown().await;
    }

    for variant in [Variant::Conformant, Variant::JwksOutageFailsOpen] {
        jwks.failing.store(true, Ordering::SeqCst);
        let target = start_target(variant, &jwks).await;
        let url = target.url();
        let token = sign(&key, &header("k1"), &claims(&url, Some("mcp:tools")));
        let got = post(
            &http,
            &url,
            Some(&format!("Bearer {token}")),
            None,
            INITIALIZE,
        )
        .await;
        let expected = if variant == Variant::Conformant {
            401
        } else {
            200
        };
        assert_eq!(got.status, expected, "{variant} jwks outage");
        jwks.failing.store(false, Ordering::SeqCst);
        // The outage is over: the next token makes the conformant target fetch again.
        let again = post(
            &http,
            &url,
            Some(&format!("Bearer {token}")),
            None,
            INITIALIZE,
        )
        .await;
        assert_eq!(again.status, 200, "{variant} after the outage");
        target.shutdown().await;
    }

    // Unknown kids trigger a refetch; with the conformant rate limit of zero, each does.
    let target = start_target(Variant::Conformant, &jwks).await;
    let url = target.url();
    let before = jwks.fetches.load(Ordering::SeqCst);
    let stranger = sign(&key, &header("k2"), &claims(&url, Some("mcp:tools")));
    let got = post(
        &http,
        &url,
        Some(&format!("Bearer {stranger}")),
        None,
        INITIALIZE,
    )
    .await;
    assert_eq!(got.status, 401);
    assert_eq!(jwks.fetches.load(Ordering::SeqCst), before + 1);
    target.shutdown().await;

    jwks.stop();
}
