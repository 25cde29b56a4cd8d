//! The mock IdP over real HTTP on 127.0.0.1, driven only through its protocol endpoints and its
//! control API, as the harness drives it.

mod common;

use std::time::Duration;

use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mock_idp::{IdpConfig, MockIdp};
use proptest::prelude::*;
use reqwest::header;
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

use common::{Reply, send};

const AUDIENCE: &str = "http://127.0.0.1:8000/mcp";
const FORM: &str = "application/x-www-form-urlencoded";

async fn start() -> MockIdp {
    MockIdp::start(IdpConfig {
        default_audience: Some(AUDIENCE.to_owned()),
        ..IdpConfig::default()
    })
    .await
    .expect("IdP starts")
}

fn client() -> Client {
    common::http()
}

async fn get(client: &Client, url: String) -> Reply {
    send(client.get(url)).await
}

async fn control(client: &Client, idp: &MockIdp, method: Method, path: &str, body: Value) -> Reply {
    let url = format!("{}{path}", idp.control_url());
    let request = client.request(method.clone(), url);
    let request = if method == Method::GET || method == Method::DELETE {
        request
    } else {
        request
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
    };
    send(request).await
}

async fn post_form(client: &Client, url: String, form: &str, basic: Option<(&str, &str)>) -> Reply {
    let mut request = client
        .post(url)
        .header(header::CONTENT_TYPE, FORM)
        .body(form.to_owned());
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    send(request).await
}

fn b64(segment: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(segment).expect("base64url")
}

/// Verifies a JWS against a JWKS document, as a resource server would; returns the claims.
fn verify_with_jwks(token: &str, jwks: &Value) -> Result<Value, String> {
    let parts: Vec<&str> = token.split('.').collect();
    let [header_b64, payload_b64, signature_b64] = parts[..] else {
        return Err("not three segments".into());
    };
    let header: Value = serde_json::from_slice(&b64(header_b64)).map_err(|e| e.to_string())?;
    if header["alg"] != "RS256" {
        return Err(format!("alg {}", header["alg"]));
    }
    let jwk = jwks["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["kid"] == header["kid"]))
        .ok_or("kid not in JWKS")?;
    let n = b64(jwk["n"].as_str().ok_or("n")?);
    let e = b64(jwk["e"].as_str().ok_or("e")?);
    let key = RsaPublicKeyComponents { n: &n, e: &e };
    key.verify(
        &RSA_PKCS1_2048_8192_SHA256,
        format!("{header_b64}.{payload_b64}").as_bytes(),
        &b64(signature_b64),
    )
    .map_err(|_| "bad signature".to_owned())?;
    serde_json::from_slice(&b64(payload_b64)).map_err(|e| e.to_string())
}

#[tokio::test]
async fn metadata_and_jwks() {
    let idp = start().await;
    let client = client();
    let issuer = idp.issuer();
    assert!(issuer.starts_with("http://127.0.0.1:") && !issuer.ends_with('/'));

    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let reply = get(&client, format!("{issuer}{path}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        assert_eq!(reply.header(header::CONTENT_TYPE), "application/json");
        let doc = reply.json();
        assert_eq!(doc["issuer"], issuer);
        assert_eq!(doc["jwks_uri"], idp.jwks_uri());
        assert_eq!(doc["token_endpoint"], idp.token_endpoint());
        assert_eq!(doc["introspection_endpoint"], idp.introspection_endpoint());
        assert_eq!(doc["revocation_endpoint"], format!("{issuer}/revoke"));
        assert_eq!(
            doc["grant_types_supported"],
            json!(["authorization_code", "refresh_token", "client_credentials"])
        );
        assert_eq!(doc["response_types_supported"], json!(["code"]));
        assert_eq!(doc["authorization_endpoint"], format!("{issuer}/authorize"));
        assert_eq!(
            doc["token_endpoint_auth_methods_supported"],
            json!(["client_secret_basic", "client_secret_post", "none"])
        );
        let methods = json!(["client_secret_basic", "client_secret_post"]);
        assert_eq!(
            doc["introspection_endpoint_auth_methods_supported"],
            methods
        );
        assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(doc["subject_types_supported"], json!(["public"]));
        assert_eq!(
            doc["id_token_signing_alg_values_supported"],
            json!(["RS256"])
        );
        assert!(doc["scopes_supported"].is_array());
    }

    let reply = get(&client, idp.jwks_uri()).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header(header::CONTENT_TYPE), "application/json");
    assert_eq!(reply.header(header::CACHE_CONTROL), "max-age=0");
    let jwks = reply.json();
    let keys = jwks["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 1);
    let jwk = &keys[0];
    assert_eq!(jwk["kty"], "RSA");
    assert_eq!(jwk["use"], "sig");
    assert_eq!(jwk["alg"], "RS256");
    assert_eq!(jwk["kid"], "mock-key-1");
    assert_eq!(jwk["e"], "AQAB");
    assert_eq!(b64(jwk["n"].as_str().expect("n")).len(), 256);

    let etag = reply.header(header::ETAG).to_owned();
    assert!(etag.starts_with('"'));
    let reply = send(
        client
            .get(idp.jwks_uri())
            .header(header::IF_NONE_MATCH, &etag),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_MODIFIED);

    let health = get(&client, format!("{issuer}/healthz")).await;
    assert_eq!(
        (health.status, health.json()),
        (StatusCode::OK, json!({"status": "ok"}))
    );
    idp.shutdown().await;
}

#[tokio::test]
async fn minted_tokens_verify_against_the_jwks() {
    let idp = start().await;
    let client = client();
    let minted = control(
        &client,
        &idp,
        Method::POST,
        "/mint",
        json!({"scope": "mcp:tools", "subject": "alice"}),
    )
    .await;
    assert_eq!(minted.status, StatusCode::OK);
    let minted = minted.json();
    assert_eq!(minted["kid"], "mock-key-1");
    assert_eq!(
        minted["header"],
        json!({"alg": "RS256", "typ": "at+jwt", "kid": "mock-key-1"})
    );
    let jwks = get(&client, idp.jwks_uri()).await.json();
    let token = minted["token"].as_str().expect("token");
    let claims = verify_with_jwks(token, &jwks).expect("verifies");
    assert_eq!(claims, minted["claims"]);
    assert_eq!(claims["iss"], idp.issuer());
    assert_eq!(claims["aud"], AUDIENCE);
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["scope"], "mcp:tools");
    assert_eq!(claims["client_id"], "conformance-client");
    assert_eq!(claims["jti"], minted["jti"]);

    // Defects: a signature defect does not verify; a claims defect does.
    let bad = control(
        &client,
        &idp,
        Method::POST,
        "/mint",
        json!({"defect": "bad-signature"}),
    )
    .await
    .json();
    assert!(verify_with_jwks(bad["token"].as_str().expect("token"), &jwks).is_err());
    let expired = control(
        &client,
        &idp,
        Method::POST,
        "/mint",
        json!({"defect": "expired"}),
    )
    .await
    .json();
    let claims = verify_with_jwks(expired["token"].as_str().expect("token"), &jwks).expect("ok");
    assert!(claims["exp"].as_i64() < claims["iat"].as_i64().map(|iat| iat + 901));

    // Malformed control requests get 400 invalid_request.
    for body in [
        json!({"defect": "no-such-defect"}),
        json!({"lifetime": 5}),
        json!([1]),
    ] {
        let reply = control(&client, &idp, Method::POST, "/mint", body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert_eq!(reply.json()["error"], "invalid_request");
    }
    let reply = send(
        client
            .post(format!("{}/mint", idp.control_url()))
            .header(header::CONTENT_TYPE, "application/json")
            .body("{not json"),
    )
    .await;
    assert_eq!(
        (reply.status, reply.json()["error"].clone()),
        (StatusCode::BAD_REQUEST, json!("invalid_request"))
    );
    idp.shutdown().await;
}

#[tokio::test]
async fn token_endpoint_client_credentials() {
    let idp = start().await;
    let client = client();
    let creds = Some(("conformance-client", "conformance-client-secret"));

    let reply = post_form(
        &client,
        idp.token_endpoint(),
        "grant_type=client_credentials&scope=mcp%3Atools&resource=https%3A%2F%2Frs.example%2Fmcp",
        creds,
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "{:?}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.header(header::CACHE_CONTROL), "no-store");
    let answer = reply.json();
    assert_eq!(answer["token_type"], "Bearer");
    assert_eq!(answer["expires_in"], 300);
    assert_eq!(answer["scope"], "mcp:tools");
    let jwks = get(&client, idp.jwks_uri()).await.json();
    let claims = verify_with_jwks(answer["access_token"].as_str().expect("token"), &jwks)
        .expect("issued tokens verify");
    assert_eq!(claims["aud"], "https://rs.example/mcp");
    assert_eq!(claims["scope"], "mcp:tools");

    // client_secret_post, default audience, no scope in the answer.
    let reply = post_form(
        &client,
        idp.token_endpoint(),
        "grant_type=client_credentials&client_id=conformance-client&client_secret=conformance-client-secret",
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let answer = reply.json();
    assert!(answer.get("scope").is_none());
    let claims = verify_with_jwks(answer["access_token"].as_str().expect("t"), &jwks).expect("ok");
    assert_eq!(claims["aud"], AUDIENCE);

    let reply = post_form(
        &client,
        idp.token_endpoint(),
        "grant_type=client_credentials",
        Some(("conformance-client", "wrong")),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.json()["error"], "invalid_client");
    assert_eq!(
        reply.header(header::WWW_AUTHENTICATE),
        "Basic realm=\"mock-idp\""
    );

    let reply = post_form(&client, idp.token_endpoint(), "grant_type=password", creds).await;
    assert_eq!(
        (reply.status, reply.json()["error"].clone()),
        (StatusCode::BAD_REQUEST, json!("unsupported_grant_type"))
    );
    let reply = post_form(&client, idp.token_endpoint(), "scope=x", creds).await;
    assert_eq!(reply.json()["error"], "invalid_request");
    let reply = post_form(
        &client,
        idp.token_endpoint(),
        "grant_type=client_credentials&resource=relative",
        creds,
    )
    .await;
    assert_eq!(reply.json()["error"], "invalid_target");
    idp.shutdown().await;
}

#[tokio::test]
async fn introspection_and_revocation() {
    let idp = start().await;
    let client = client();
    let introspector = Some(("conformance-rs", "conformance-rs-secret"));
    let token = control(
        &client,
        &idp,
        Method::POST,
        "/mint",
        json!({"scope": "a b"}),
    )
    .await
    .json()["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let form = format!("token={token}");

    let reply = post_form(&client, idp.introspection_endpoint(), &form, introspector).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header(header::CACHE_CONTROL), "no-store");
    let answer = reply.json();
    assert_eq!(answer["active"], true);
    assert_eq!(answer["scope"], "a b");
    assert_eq!(answer["aud"], AUDIENCE);
    assert_eq!(answer["token_type"], "Bearer");
    assert_eq!(answer["client_id"], "conformance-client");

    // Form credentials work too.
    let reply = post_form(
        &client,
        idp.introspection_endpoint(),
        &format!("{form}&client_id=conformance-rs&client_secret=conformance-rs-secret"),
        None,
    )
    .await;
    assert_eq!(reply.json()["active"], true);

    // Without client authentication: 401 invalid_client.
    let reply = post_form(&client, idp.introspection_endpoint(), &form, None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.json()["error"], "invalid_client");
    assert!(!reply.header(header::WWW_AUTHENTICATE).is_empty());
    // The token client is not the introspection client.
    let reply = post_form(
        &client,
        idp.introspection_endpoint(),
        &form,
        Some(("conformance-client", "conformance-client-secret")),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    // Missing token: 400 invalid_request.
    let reply = post_form(&client, idp.introspection_endpoint(), "", introspector).await;
    assert_eq!(
        (reply.status, reply.json()["error"].clone()),
        (StatusCode::BAD_REQUEST, json!("invalid_request"))
    );
    // Unknown token: inactive.
    let reply = post_form(
        &client,
        idp.introspection_endpoint(),
        "token=nope",
        introspector,
    )
    .await;
    assert_eq!(reply.json(), json!({"active": false}));

    // RFC 7009 revocation, then the token is inactive.
    let reply = post_form(
        &client,
        idp.revocation_endpoint(),
        &form,
        Some(("conformance-client", "conformance-client-secret")),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let reply = post_form(&client, idp.introspection_endpoint(), &form, introspector).await;
    assert_eq!(reply.json(), json!({"active": false}));

    // An override answers exactly, even for an unknown token.
    let response = json!({"active": true, "sub": "s", "scope": "x"});
    let reply = control(
        &client,
        &idp,
        Method::POST,
        "/introspection/override",
        json!({"token": "custom", "response": response}),
    )
    .await;
    assert_eq!(reply.json(), json!({}));
    let reply = post_form(
        &client,
        idp.introspection_endpoint(),
        "token=custom",
        introspector,
    )
    .await;
    assert_eq!(reply.json(), response);

    // The control API's revoke, and reset, which forgets revocations and overrides.
    let other = control(&client, &idp, Method::POST, "/mint", json!({}))
        .await
        .json()["token"]
        .clone();
    control(
        &client,
        &idp,
        Method::POST,
        "/revoke",
        json!({"token": other}),
    )
    .await;
    let other_form = format!("token={}", other.as_str().expect("token"));
    assert_eq!(
        post_form(
            &client,
            idp.introspection_endpoint(),
            &other_form,
            introspector
        )
        .await
        .json()["active"],
        false
    );
    control(&client, &idp, Method::POST, "/reset", json!({})).await;
    assert_eq!(
        post_form(
            &client,
            idp.introspection_endpoint(),
            &other_form,
            introspector
        )
        .await
        .json()["active"],
        true
    );
    assert_eq!(
        post_form(
            &client,
            idp.introspection_endpoint(),
            "token=custom",
            introspector
        )
        .await
        .json()["active"],
        false
    );
    idp.shutdown().await;
}

#[tokio::test]
async fn faults_and_the_request_log() {
    let idp = start().await;
    let client = client();
    control(&client, &idp, Method::DELETE, "/requests", json!(null)).await;

    let reply = control(
        &client,
        &idp,
        Method::POST,
        "/faults",
        json!({"endpoint": "jwks", "fault": {"kind": "status", "status": 500}, "times": 1}),
    )
    .await;
    assert_eq!((reply.status, reply.json()), (StatusCode::OK, json!({})));
    let first = get(&client, idp.jwks_uri()).await;
    assert_eq!(first.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(first.json(), json!({"error": "server_error"}));
    let second = get(&client, idp.jwks_uri()).await;
    assert_eq!(second.status, StatusCode::OK);

    // Garbage on metadata until cleared.
    control(
        &client,
        &idp,
        Method::POST,
        "/faults",
        json!({"endpoint": "metadata", "fault": {"kind": "garbage"}, "times": null}),
    )
    .await;
    let metadata_url = format!("{}/.well-known/oauth-authorization-server", idp.issuer());
    for _ in 0..2 {
        let reply = get(&client, metadata_url.clone()).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.header(header::CONTENT_TYPE), "application/json");
        assert!(serde_json::from_slice::<Value>(&reply.body).is_err());
    }
    control(&client, &idp, Method::DELETE, "/faults", json!(null)).await;
    assert!(
        serde_json::from_slice::<Value>(&get(&client, metadata_url.clone()).await.body).is_ok()
    );

    // A hang holds only its own request.
    control(
        &client,
        &idp,
        Method::POST,
        "/faults",
        json!({"endpoint": "introspect", "fault": {"kind": "hang"}, "times": 1}),
    )
    .await;
    let hung = tokio::spawn({
        let client = client.clone();
        let url = idp.introspection_endpoint();
        async move { client.post(url).send().await }
    });
    // Wait until the held request has reached the IdP (it is in the log, unanswered).
    for _ in 0..500 {
        let log = control(&client, &idp, Method::GET, "/requests", json!(null))
            .await
            .json();
        if log
            .as_array()
            .is_some_and(|l| l.iter().any(|e| e["endpoint"] == "introspect"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let started = std::time::Instant::now();
    assert_eq!(get(&client, idp.jwks_uri()).await.status, StatusCode::OK);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(!hung.is_finished());
    hung.abort();

    // A delay answers normally, later.
    control(
        &client,
        &idp,
        Method::POST,
        "/faults",
        json!({"endpoint": "token", "fault": {"kind": "delay", "ms": 150}, "times": 1}),
    )
    .await;
    let started = std::time::Instant::now();
    let reply = post_form(
        &client,
        idp.token_endpoint(),
        "grant_type=client_credentials",
        Some(("conformance-client", "conformance-client-secret")),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(150));

    // Invalid fault requests.
    for body in [
        json!({"endpoint": "nowhere", "fault": {"kind": "hang"}}),
        json!({"endpoint": "jwks", "fault": {"kind": "explode"}}),
        json!({"endpoint": "jwks", "fault": {"kind": "status", "status": 99}}),
    ] {
        let reply = control(&client, &idp, Method::POST, "/faults", body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    }

    // The log saw every protocol request, in order, and no control request.
    let log = control(&client, &idp, Method::GET, "/requests", json!(null))
        .await
        .json();
    let entries = log.as_array().expect("array");
    let summary: Vec<(String, String, u64)> = entries
        .iter()
        .map(|e| {
            (
                e["endpoint"].as_str().unwrap_or_default().to_owned(),
                e["path"].as_str().unwrap_or_default().to_owned(),
                e["status"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    let expected = [
        ("jwks", "/jwks", 500),
        ("jwks", "/jwks", 200),
        ("metadata", "/.well-known/oauth-authorization-server", 200),
        ("metadata", "/.well-known/oauth-authorization-server", 200),
        ("metadata", "/.well-known/oauth-authorization-server", 200),
        ("introspect", "/introspect", 0),
        ("jwks", "/jwks", 200),
        ("token", "/token", 200),
    ];
    let expected: Vec<(String, String, u64)> = expected
        .iter()
        .map(|(e, p, s)| ((*e).to_owned(), (*p).to_owned(), *s))
        .collect();
    assert_eq!(summary, expected);
    let seqs: Vec<u64> = entries.iter().filter_map(|e| e["seq"].as_u64()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    let token_request = &entries[7];
    assert_eq!(token_request["method"], "POST");
    assert_eq!(token_request["body"], "grant_type=client_credentials");
    assert_eq!(token_request["query"], Value::Null);
    assert_eq!(token_request["headers"]["content-type"], FORM);
    assert!(
        token_request["headers"]["authorization"]
            .as_str()
            .is_some_and(|v| v.starts_with("Basic "))
    );
    assert!(
        token_request["at_ms"]
            .as_u64()
            .is_some_and(|ms| ms > 1_600_000_000_000)
    );

    let since = seqs[5];
    let later = control(
        &client,
        &idp,
        Method::GET,
        &format!("/requests?since={since}"),
        json!(null),
    )
    .await
    .json();
    assert_eq!(later.as_array().map(Vec::len), Some(2));
    let reply = control(
        &client,
        &idp,
        Method::GET,
        "/requests?since=abc",
        json!(null),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);

    // Probes and unknown paths are recorded too.
    control(&client, &idp, Method::DELETE, "/requests", json!(null)).await;
    let probe = get(&client, format!("{}/_probe/jku?x=1", idp.issuer())).await;
    assert_eq!(
        (probe.status, probe.json()),
        (StatusCode::NOT_FOUND, json!({"error": "not_found"}))
    );
    let other = get(&client, format!("{}/nowhere", idp.issuer())).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    let log = control(&client, &idp, Method::GET, "/requests", json!(null))
        .await
        .json();
    assert_eq!(log[0]["endpoint"], "probe");
    assert_eq!(log[0]["query"], "x=1");
    assert_eq!(log[0]["status"], 404);
    assert_eq!(log[1]["endpoint"], "other");
    assert_eq!(log.as_array().map(Vec::len), Some(2));
    idp.shutdown().await;
}

#[tokio::test]
async fn key_rotation_and_the_clock() {
    let idp = start().await;
    let client = client();
    let info = control(&client, &idp, Method::GET, "/info", json!(null))
        .await
        .json();
    assert_eq!(info["active_kid"], "mock-key-1");
    assert_eq!(info["introspection_client_id"], "conformance-rs");
    assert_eq!(info["token_client_secret"], "conformance-client-secret");
    assert_eq!(info["control_url"], idp.control_url());

    let announced = control(&client, &idp, Method::POST, "/keys/announce", json!({}))
        .await
        .json();
    assert_eq!(announced, json!({"kid": "mock-key-2"}));
    let kids = |jwks: &Value| -> Vec<String> {
        jwks["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .map(|k| k["kid"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(
        kids(&get(&client, idp.jwks_uri()).await.json()),
        ["mock-key-1", "mock-key-2"]
    );

    let rotated = control(&client, &idp, Method::POST, "/keys/rotate", json!({}))
        .await
        .json();
    assert_eq!(
        rotated,
        json!({"kid": "mock-key-3", "retired": "mock-key-1"})
    );
    let jwks = get(&client, idp.jwks_uri()).await.json();
    assert_eq!(kids(&jwks), ["mock-key-2", "mock-key-3"]);
    let keys = control(&client, &idp, Method::GET, "/keys", json!(null))
        .await
        .json();
    assert_eq!(
        keys,
        json!([
            {"kid": "mock-key-1", "state": "retired"},
            {"kid": "mock-key-2", "state": "announced"},
            {"kid": "mock-key-3", "state": "active"}
        ])
    );
    let minted = control(&client, &idp, Method::POST, "/mint", json!({}))
        .await
        .json();
    assert_eq!(minted["kid"], "mock-key-3");
    assert!(verify_with_jwks(minted["token"].as_str().expect("token"), &jwks).is_ok());

    let activated = control(
        &client,
        &idp,
        Method::POST,
        "/keys/activate",
        json!({"kid": "mock-key-2"}),
    )
    .await;
    assert_eq!(activated.json(), json!({"kid": "mock-key-2"}));
    let retired = control(
        &client,
        &idp,
        Method::POST,
        "/keys/retire",
        json!({"kid": "mock-key-3"}),
    )
    .await;
    assert_eq!(retired.json(), json!({"kid": "mock-key-3"}));
    assert_eq!(
        kids(&get(&client, idp.jwks_uri()).await.json()),
        ["mock-key-2"]
    );
    let refused = control(
        &client,
        &idp,
        Method::POST,
        "/keys/retire",
        json!({"kid": "mock-key-2"}),
    )
    .await;
    assert_eq!(
        (refused.status, refused.json()["error"].clone()),
        (StatusCode::BAD_REQUEST, json!("invalid_request"))
    );
    let unknown = control(
        &client,
        &idp,
        Method::POST,
        "/keys/activate",
        json!({"kid": "nope"}),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);

    let extra = json!({"kty": "EC", "kid": "odd", "crv": "P-256"});
    control(
        &client,
        &idp,
        Method::POST,
        "/keys/extra",
        json!({"jwk": extra}),
    )
    .await;
    assert_eq!(get(&client, idp.jwks_uri()).await.json()["keys"][1], extra);
    control(&client, &idp, Method::DELETE, "/keys/extra", json!(null)).await;
    assert_eq!(
        kids(&get(&client, idp.jwks_uri()).await.json()),
        ["mock-key-2"]
    );

    let now = control(
        &client,
        &idp,
        Method::POST,
        "/clock",
        json!({"set": 2_000_000_000}),
    )
    .await
    .json();
    assert_eq!(now, json!({"now": 2_000_000_000}));
    let minted = control(
        &client,
        &idp,
        Method::POST,
        "/mint",
        json!({"lifetime_secs": 60}),
    )
    .await
    .json();
    assert_eq!(minted["claims"]["exp"], 2_000_000_060);
    let now = control(
        &client,
        &idp,
        Method::POST,
        "/clock",
        json!({"advance": 61}),
    )
    .await
    .json();
    assert_eq!(now, json!({"now": 2_000_000_061}));
    let form = format!("token={}", minted["token"].as_str().expect("token"));
    let answer = post_form(
        &client,
        idp.introspection_endpoint(),
        &form,
        Some(("conformance-rs", "conformance-rs-secret")),
    )
    .await;
    assert_eq!(answer.json(), json!({"active": false}));
    let real = control(&client, &idp, Method::POST, "/clock", json!({"real": true}))
        .await
        .json();
    assert!(real["now"].as_i64().is_some_and(|now| now < 2_000_000_000));
    assert_eq!(
        control(&client, &idp, Method::POST, "/clock", json!({"bogus": 1}))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    idp.shutdown().await;
}

#[tokio::test]
async fn keys_survive_a_restart_with_a_state_dir() {
    let dir = std::env::temp_dir().join(format!("mock-idp-http-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = IdpConfig {
        state_dir: Some(dir.clone()),
        ..IdpConfig::default()
    };
    let client = client();
    let first = MockIdp::start(config.clone()).await.expect("start");
    first.idp().announce_key().expect("announce");
    let jwks_before = get(&client, first.jwks_uri()).await.body;
    let token = first
        .idp()
        .mint(&mock_idp::MintRequest::default())
        .expect("mint")
        .token;
    first.shutdown().await;

    let second = MockIdp::start(config).await.expect("restart");
    let jwks_after = get(&client, second.jwks_uri()).await.json();
    assert_eq!(
        serde_json::from_slice::<Value>(&jwks_before).expect("json"),
        jwks_after
    );
    assert!(
        verify_with_jwks(&token, &jwks_after).is_ok(),
        "old tokens verify after a restart"
    );
    second.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn unknown_paths_and_wrong_methods_answer_json() {
    let idp = start().await;
    let client = client();
    let reply = get(&client, format!("{}/nope", idp.issuer())).await;
    assert_eq!(
        (reply.status, reply.json()),
        (StatusCode::NOT_FOUND, json!({"error": "not_found"}))
    );
    let reply = get(&client, idp.token_endpoint()).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.json()["error"], "invalid_request");
    let reply = send(client.delete(idp.jwks_uri())).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    let reply = get(&client, format!("{}/mint", idp.control_url())).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.json()["error"], "invalid_request");
    let reply = get(&client, format!("{}/nope", idp.control_url())).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let big = "token=".to_owned() + &"x".repeat(70 * 1024);
    let reply = post_form(
        &client,
        idp.introspection_endpoint(),
        &big,
        Some(("conformance-rs", "conformance-rs-secret")),
    )
    .await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply.json()["error"], "invalid_request");
    idp.shutdown().await;
}

// ----- Property: no request to a protocol endpoint gets a 5xx or a non-JSON error -----

#[derive(Debug, Clone)]
struct Probe {
    method: &'static str,
    path: String,
    content_type: Option<String>,
    authorization: Option<String>,
    body: Vec<u8>,
}

/// Registration requests, mostly malformed: odd types, unknown methods, bad redirect URIs.
fn registration_json() -> impl Strategy<Value = Vec<u8>> {
    let field = prop::sample::select(vec![
        "redirect_uris",
        "grant_types",
        "response_types",
        "token_endpoint_auth_method",
        "scope",
        "client_name",
    ]);
    let value = prop_oneof![
        Just(json!(["http://127.0.0.1:3000/cb"])),
        Just(json!(["https://evil.example/cb#f", "javascript:x"])),
        Just(json!(["authorization_code", "refresh_token"])),
        Just(json!(["client_credentials"])),
        Just(json!(["implicit"])),
        Just(json!("none")),
        Just(json!("private_key_jwt")),
        Just(json!(42)),
        Just(json!(null)),
        Just(json!({"nested": [1, 2]})),
        "[ -~]{0,16}".prop_map(Value::String),
    ];
    prop::collection::vec((field, value), 0..6).prop_map(|pairs| {
        let object: serde_json::Map<String, Value> =
            pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        Value::Object(object).to_string().into_bytes()
    })
}

fn form_body() -> impl Strategy<Value = Vec<u8>> {
    let name = prop::sample::select(vec![
        "grant_type",
        "token",
        "client_id",
        "client_secret",
        "scope",
        "resource",
        "token_type_hint",
        "code",
        "code_verifier",
        "refresh_token",
        "redirect_uri",
        "response_type",
        "code_challenge",
        "code_challenge_method",
        "state",
        "request_id",
        "csrf",
        "decision",
        "x",
    ]);
    let value = prop_oneof![
        prop::sample::select(vec![
            "client_credentials",
            "authorization_code",
            "refresh_token",
            "code",
            "S256",
            "plain",
            "approve",
            "http%3A%2F%2F127.0.0.1%3A3000%2Fcb",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "password",
            "conformance-client",
            "conformance-client-secret",
            "conformance-rs",
            "conformance-rs-secret",
            "https%3A%2F%2Frs.example%2Fmcp",
            "%ZZ",
            "a+b",
            "",
        ])
        .prop_map(str::to_owned),
        "[a-zA-Z0-9%+:/._=-]{0,24}",
    ];
    prop::collection::vec((name, value), 0..6).prop_map(|pairs| {
        pairs
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("&")
            .into_bytes()
    })
}

fn probe() -> impl Strategy<Value = Probe> {
    // Mostly the endpoint's own method (so requests get past routing), sometimes any method.
    let endpoint = prop::sample::select(vec![
        ("GET", "/.well-known/oauth-authorization-server"),
        ("GET", "/.well-known/openid-configuration"),
        ("GET", "/jwks"),
        ("POST", "/token"),
        ("POST", "/token"),
        ("POST", "/introspect"),
        ("POST", "/introspect"),
        ("POST", "/revoke"),
        ("GET", "/authorize"),
        ("POST", "/authorize"),
        ("POST", "/authorize/decision"),
        ("POST", "/register"),
        ("GET", "/register/dcr_0"),
        ("DELETE", "/register/dcr_0"),
        ("GET", "/userinfo"),
        ("GET", "/_probe/jku"),
        ("GET", "/_probe/x5u"),
        ("GET", "/healthz"),
        ("GET", "/nope"),
        ("POST", "/token/"),
        // The control API must answer malformed input with the same JSON error shape.
        ("POST", "/_control/mint"),
        ("POST", "/_control/keys/activate"),
        ("POST", "/_control/keys/forget"),
        ("POST", "/_control/keys/extra"),
        ("POST", "/_control/introspection/override"),
        ("POST", "/_control/revoke"),
        ("POST", "/_control/faults"),
        ("POST", "/_control/clock"),
        ("GET", "/_control/requests"),
        ("POST", "/_control/clients"),
    ]);
    let other_method = prop::option::weighted(
        0.2,
        prop::sample::select(vec![
            "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "BREW",
        ]),
    );
    let query = prop::option::weighted(
        0.4,
        prop_oneof![
            "[a-z0-9=&%._-]{0,16}".boxed(),
            form_body()
                .prop_map(|b| String::from_utf8_lossy(&b).into_owned())
                .boxed(),
        ],
    );
    let target = (endpoint, other_method, query).prop_map(|((method, path), other, query)| {
        let path = match query {
            Some(q) => format!("{path}?{q}"),
            None => path.to_owned(),
        };
        (other.unwrap_or(method), path)
    });
    let content_type = prop_oneof![
        1 => Just(None),
        6 => Just(Some(FORM.to_owned())),
        1 => Just(Some(
            "application/x-www-form-urlencoded; charset=utf-8".to_owned()
        )),
        2 => Just(Some("application/json".to_owned())),
        1 => Just(Some("multipart/form-data; boundary=x".to_owned())),
        1 => "[ -~]{0,24}".prop_map(Some),
    ];
    let authorization = prop_oneof![
        1 => Just(None),
        3 => Just(Some(
            "Basic Y29uZm9ybWFuY2UtY2xpZW50OmNvbmZvcm1hbmNlLWNsaWVudC1zZWNyZXQ=".to_owned()
        )),
        3 => Just(Some(
            "Basic Y29uZm9ybWFuY2UtcnM6Y29uZm9ybWFuY2UtcnMtc2VjcmV0".to_owned()
        )),
        1 => Just(Some("Basic %%%not base64".to_owned())),
        1 => Just(Some("Basic".to_owned())),
        1 => Just(Some("Bearer abc.def.ghi".to_owned())),
        1 => "[ -~]{0,32}".prop_map(Some),
    ];
    let body = prop_oneof![
        8 => form_body(),
        2 => registration_json(),
        1 => prop::collection::vec(any::<u8>(), 0..256),
        1 => "[ -~]{0,64}".prop_map(String::into_bytes),
        1 => Just(vec![b'a'; 70 * 1024]),
    ];
    (target, content_type, authorization, body).prop_map(
        |((method, path), content_type, authorization, body)| Probe {
            method,
            path,
            content_type,
            authorization,
            body,
        },
    )
}

async fn fire(client: &Client, base: &str, probe: &Probe) -> Result<Reply, String> {
    let method = Method::from_bytes(probe.method.as_bytes()).map_err(|e| e.to_string())?;
    let mut request = client.request(method, format!("{base}{}", probe.path));
    if let Some(Ok(value)) = probe
        .content_type
        .as_deref()
        .map(header::HeaderValue::from_str)
    {
        request = request.header(header::CONTENT_TYPE, value);
    }
    if let Some(Ok(value)) = probe
        .authorization
        .as_deref()
        .map(header::HeaderValue::from_str)
    {
        request = request.header(header::AUTHORIZATION, value);
    }
    let response = request
        .body(probe.body.clone())
        .send()
        .await
        .map_err(|e| format!("no answer: {e}"))?;
    Ok(Reply {
        status: response.status(),
        headers: response.headers().clone(),
        body: response.bytes().await.map_err(|e| e.to_string())?.to_vec(),
    })
}

#[test]
fn random_requests_never_get_a_server_error() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let idp = runtime.block_on(start());
    let client = client();
    let base = idp.issuer();
    let config = ProptestConfig {
        cases: 160,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(probe in probe())| {
        let reply = runtime.block_on(fire(&client, &base, &probe));
        let reply = match reply {
            Ok(reply) => reply,
            Err(err) => return Err(TestCaseError::fail(format!("{probe:?}: {err}"))),
        };
        prop_assert!(reply.status.as_u16() < 500, "{probe:?} got {}", reply.status);
        if reply.status.as_u16() >= 400 && probe.method != "HEAD" {
            let body: Value = serde_json::from_slice(&reply.body)
                .map_err(|e| TestCaseError::fail(format!("{probe:?}: error body not JSON: {e}")))?;
            prop_assert!(body["error"].is_string(), "{probe:?}: {body}");
            prop_assert_eq!(reply.header(header::CONTENT_TYPE), "application/json");
        }
    });
    runtime.block_on(idp.shutdown());
}
