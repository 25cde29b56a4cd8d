//! The mock IdP's hardening, over real HTTP on 127.0.0.1: revocation (no deadlock, bound to the
//! client, never forgotten early), registration (nothing echoed that the server issues, safe
//! redirect URI schemes), codes that a failed exchange does not burn, forms judged in linear
//! time, and a control API that web pages cannot drive. Slow clients are in `slow_clients.rs`.

mod common;

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mock_idp::{IdpConfig, MockIdp};
use reqwest::StatusCode;
use reqwest::header;
use serde_json::{Value, json};

use common::{Reply, http, send};

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const REDIRECT: &str = "http://127.0.0.1:3000/cb";
const FORM: &str = "application/x-www-form-urlencoded";

async fn start() -> MockIdp {
    MockIdp::start(IdpConfig::default())
        .await
        .expect("IdP starts")
}

fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

async fn post_form(url: String, pairs: &[(&str, &str)]) -> Reply {
    send(
        http()
            .post(url)
            .header(header::CONTENT_TYPE, FORM)
            .body(form(pairs)),
    )
    .await
}

/// Registers a public client (RFC 7591) and returns its id.
async fn register_public(idp: &MockIdp) -> String {
    let body = json!({
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "none",
    });
    let reply = send(
        http()
            .post(format!("{}/register", idp.issuer()))
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.to_string()),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    reply.json()["client_id"]
        .as_str()
        .expect("client_id")
        .to_owned()
}

/// Authorizes (automatic consent) and returns the code.
async fn authorize(idp: &MockIdp, client_id: &str) -> String {
    let challenge = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, VERIFIER.as_bytes()));
    let query = form(&[
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    let reply = send(http().get(format!("{}/authorize?{query}", idp.issuer()))).await;
    assert_eq!(reply.status, StatusCode::FOUND, "{}", reply.text());
    reply.location_query()["code"].clone()
}

/// The code flow for a public client: (access token, refresh token).
async fn login(idp: &MockIdp, client_id: &str) -> (String, String) {
    let code = authorize(idp, client_id).await;
    let reply = post_form(
        idp.token_endpoint(),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", client_id),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let tokens = reply.json();
    (
        tokens["access_token"].as_str().expect("access").to_owned(),
        tokens["refresh_token"]
            .as_str()
            .expect("refresh")
            .to_owned(),
    )
}

/// A refresh (public clients rotate): (access token, new refresh token).
async fn refresh(idp: &MockIdp, client_id: &str, refresh_token: &str) -> (String, String) {
    let reply = post_form(
        idp.token_endpoint(),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", client_id),
        ],
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let tokens = reply.json();
    (
        tokens["access_token"].as_str().expect("access").to_owned(),
        tokens["refresh_token"]
            .as_str()
            .expect("refresh")
            .to_owned(),
    )
}

async fn revoke(idp: &MockIdp, client_id: &str, token: &str) -> Reply {
    post_form(
        idp.revocation_endpoint(),
        &[("token", token), ("client_id", client_id)],
    )
    .await
}

async fn active(idp: &MockIdp, token: &str) -> bool {
    let reply = send(
        http()
            .post(idp.introspection_endpoint())
            .basic_auth("conformance-rs", Some("conformance-rs-secret"))
            .header(header::CONTENT_TYPE, FORM)
            .body(form(&[("token", token)])),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    reply.json()["active"] == Value::Bool(true)
}

async fn healthy(idp: &MockIdp) -> bool {
    let reply = send(http().get(format!("{}/healthz", idp.issuer()))).await;
    reply.status == StatusCode::OK
}

/// The request that once deadlocked the whole IdP: a public client revokes its refresh token.
/// Every request has a deadline (the test client's), so a hang fails the test instead of
/// stalling it.
#[tokio::test]
async fn revoking_a_refresh_token_answers_and_ends_its_family() {
    let idp = start().await;
    let client = register_public(&idp).await;
    let (first_access, first_refresh) = login(&idp, &client).await;
    let (second_access, refresh_token) = refresh(&idp, &client, &first_refresh).await;
    for token in [&first_access, &second_access, &refresh_token] {
        assert!(active(&idp, token).await, "active before the revocation");
    }

    let reply = revoke(&idp, &client, &refresh_token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.header(header::CACHE_CONTROL), "no-store");
    assert!(healthy(&idp).await, "the IdP still answers");

    // RFC 7009 §2.1: the refresh token and the access tokens of its grant are revoked.
    for token in [&refresh_token, &first_access, &second_access] {
        assert!(!active(&idp, token).await, "inactive after the revocation");
    }
    let refused = post_form(
        idp.token_endpoint(),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_token),
            ("client_id", &client),
        ],
    )
    .await;
    assert_eq!(refused.json()["error"], "invalid_grant");
    // Revoking it again, or an access token, still answers (and the IdP stays up).
    assert_eq!(
        revoke(&idp, &client, &refresh_token).await.status,
        StatusCode::OK
    );
    assert_eq!(
        revoke(&idp, &client, &first_access).await.status,
        StatusCode::OK
    );
    assert!(healthy(&idp).await);
    idp.shutdown().await;
}

/// RFC 7009 §2.1: a client may revoke only tokens issued to it; another client's request is
/// refused with an error and revokes nothing. A token the IdP does not know is no error (§2.2).
#[tokio::test]
async fn a_client_cannot_revoke_another_clients_tokens() {
    let idp = start().await;
    let victim = register_public(&idp).await;
    let attacker = register_public(&idp).await;
    let (access, refresh_token) = login(&idp, &victim).await;

    for token in [&access, &refresh_token] {
        let reply = revoke(&idp, &attacker, token).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text());
        assert_eq!(reply.json()["error"], "unauthorized_client");
    }
    assert!(active(&idp, &access).await, "the victim's access token");
    assert!(
        active(&idp, &refresh_token).await,
        "the victim's refresh token"
    );
    let unknown = revoke(&idp, &attacker, "not-a-token-of-this-idp").await;
    assert_eq!(unknown.status, StatusCode::OK);

    // The owner may; the resource server's introspection client may revoke any token.
    assert_eq!(revoke(&idp, &victim, &access).await.status, StatusCode::OK);
    assert!(!active(&idp, &access).await);
    let (other_access, _) = login(&idp, &victim).await;
    let reply = send(
        http()
            .post(idp.revocation_endpoint())
            .basic_auth("conformance-rs", Some("conformance-rs-secret"))
            .header(header::CONTENT_TYPE, FORM)
            .body(form(&[("token", &other_access)])),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert!(!active(&idp, &other_access).await);
    idp.shutdown().await;
}

/// The revocation list once evicted its oldest entries, so a revoked token came back to life
/// after 8,192 junk revocations. A revocation now lasts until the token expires.
#[tokio::test]
async fn a_revoked_token_stays_revoked_after_10000_more_revocations() {
    let idp = start().await;
    let client = register_public(&idp).await;
    let (access, refresh_token) = login(&idp, &client).await;
    assert_eq!(revoke(&idp, &client, &access).await.status, StatusCode::OK);

    // One client, so the 20,000 requests share a few connections.
    let client_http = http();
    let control = format!("{}/revoke", idp.control_url());
    let junk: Vec<String> = (0..10_000).map(|i| format!("junk-token-{i}")).collect();
    for batch in junk.chunks(100) {
        let requests = batch.iter().map(|token| {
            client_http
                .post(&control)
                .header(header::CONTENT_TYPE, "application/json")
                .body(json!({ "token": token }).to_string())
        });
        for reply in in_parallel(requests).await {
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        }
    }
    // And as many revocations of unknown tokens at the protocol endpoint (nothing is stored).
    for batch in junk.chunks(100) {
        let requests = batch.iter().map(|token| {
            client_http
                .post(idp.revocation_endpoint())
                .header(header::CONTENT_TYPE, FORM)
                .body(form(&[("token", token), ("client_id", &client)]))
        });
        for reply in in_parallel(requests).await {
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        }
    }
    assert!(!active(&idp, &access).await, "still revoked");
    assert!(
        active(&idp, &refresh_token).await,
        "an access token's revocation leaves the refresh token"
    );
    assert!(!active(&idp, "junk-token-0").await);
    idp.shutdown().await;
}

/// Sends requests at once and returns their answers in order.
async fn in_parallel(requests: impl Iterator<Item = reqwest::RequestBuilder>) -> Vec<Reply> {
    let mut set = tokio::task::JoinSet::new();
    for (i, request) in requests.enumerate() {
        set.spawn(async move { (i, send(request).await) });
    }
    let mut replies = set.join_all().await;
    replies.sort_by_key(|(i, _)| *i);
    replies.into_iter().map(|(_, reply)| reply).collect()
}

async fn register(idp: &MockIdp, body: Value) -> Reply {
    send(
        http()
            .post(format!("{}/register", idp.issuer()))
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.to_string()),
    )
    .await
}

/// Registration issues its own secret (or none) and never echoes one the caller chose; redirect
/// URIs with schemes that are no place for an authorization response are refused.
#[tokio::test]
async fn registration_keeps_only_what_it_issues_and_safe_redirect_uris() {
    let idp = start().await;
    let confidential = register(
        &idp,
        json!({"redirect_uris": [REDIRECT], "client_secret": "chosen-by-the-caller"}),
    )
    .await;
    assert_eq!(confidential.status, StatusCode::CREATED);
    let answer = confidential.json();
    assert_eq!(answer["token_endpoint_auth_method"], "client_secret_basic");
    let issued = answer["client_secret"]
        .as_str()
        .expect("a secret is issued");
    assert_ne!(issued, "chosen-by-the-caller");
    let public = register(
        &idp,
        json!({
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "none",
            "client_secret": "chosen-by-the-caller",
        }),
    )
    .await
    .json();
    assert_eq!(
        public.get("client_secret"),
        None,
        "a public client has none"
    );

    for uri in [
        "ftp://a.example/cb",
        "ws://127.0.0.1:9/cb",
        "about:blank",
        "myapp:/cb",
    ] {
        let reply = register(&idp, json!({"redirect_uris": [uri]})).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(reply.json()["error"], "invalid_redirect_uri", "{uri}");
    }
    for uri in [
        "https://a.example/cb",
        "http://[::1]:9/cb",
        "com.example.app:/cb",
    ] {
        let reply = register(&idp, json!({"redirect_uris": [uri]})).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{uri}: {}", reply.text());
    }
    idp.shutdown().await;
}

/// A code exchange without `code_verifier` is refused for what it is (`invalid_request`) and
/// does not use the code up: the corrected request succeeds. A wrong verifier is refused with
/// `invalid_grant`, and the code still serves the client that holds the right one.
#[tokio::test]
async fn a_failed_code_exchange_does_not_burn_the_code() {
    let idp = start().await;
    let client = register_public(&idp).await;
    let code = authorize(&idp, &client).await;
    let exchange = |verifier: Option<&'static str>| {
        let mut pairs = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("client_id", client.as_str()),
        ];
        if let Some(verifier) = verifier {
            pairs.push(("code_verifier", verifier));
        }
        let body = form(&pairs);
        let url = idp.token_endpoint();
        async move {
            send(
                http()
                    .post(url)
                    .header(header::CONTENT_TYPE, FORM)
                    .body(body),
            )
            .await
        }
    };
    let missing = exchange(None).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.json()["error"], "invalid_request");
    let wrong = exchange(Some("wrong-verifier-wrong-verifier-wrong-verifier-x")).await;
    assert_eq!(wrong.json()["error"], "invalid_grant");
    let right = exchange(Some(VERIFIER)).await;
    assert_eq!(right.status, StatusCode::OK, "{}", right.text());
    // Used now: a replay is refused as one.
    let replay = exchange(Some(VERIFIER)).await;
    assert_eq!(replay.json()["error"], "invalid_grant");
    assert!(
        replay.json()["error_description"]
            .as_str()
            .is_some_and(|d| d.contains("already used"))
    );
    idp.shutdown().await;
}

/// A 64 KiB form of many parameters is judged by its count (linear time, whatever the body),
/// and a request under the cap with a repeat is refused as a repeat.
#[tokio::test]
async fn large_forms_are_refused_by_their_parameter_count() {
    let idp = start().await;
    let mut many = String::new();
    while many.len() < 64 * 1024 - 16 {
        many.push_str(&format!("p{}=1&", many.len()));
    }
    assert!(many.len() <= 64 * 1024, "under the body cap");
    for url in [
        idp.token_endpoint(),
        idp.revocation_endpoint(),
        idp.introspection_endpoint(),
    ] {
        let reply = send(
            http()
                .post(&url)
                .header(header::CONTENT_TYPE, FORM)
                .body(many.clone()),
        )
        .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{url}");
        assert_eq!(reply.json()["error"], "invalid_request", "{url}");
        assert!(reply.text().contains("more than 256 parameters"), "{url}");
    }
    // A request line is bounded by the HTTP layer; 300 parameters are enough to pass the cap.
    let query: String = (0..300).map(|i| format!("p{i}=1&")).collect();
    let reply = send(http().get(format!("{}/authorize?{query}", idp.issuer()))).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()["error"], "invalid_request");
    let padding: String = (0..200).map(|i| format!("x{i}=1&")).collect();
    let repeated = format!("{padding}grant_type=a&grant_type=b");
    let reply = post_form_raw(&idp, repeated).await;
    assert_eq!(
        reply.json()["error_description"],
        "parameter \"grant_type\" is repeated"
    );
    idp.shutdown().await;
}

async fn post_form_raw(idp: &MockIdp, body: String) -> Reply {
    send(
        http()
            .post(idp.token_endpoint())
            .header(header::CONTENT_TYPE, FORM)
            .body(body),
    )
    .await
}

/// The control API answers programs, never web pages: no CORS, no preflight, no request a
/// browser marks as coming from another site, bodies only as JSON, and only requests addressed
/// to the IdP by its own address (a rebound DNS name is refused). Protocol endpoints keep CORS.
#[tokio::test]
async fn the_control_api_refuses_cross_origin_use() {
    let idp = start().await;
    let info = format!("{}/info", idp.control_url());
    let reset = format!("{}/reset", idp.control_url());
    let cors_headers = |reply: &Reply| {
        reply
            .headers
            .keys()
            .filter(|name| name.as_str().starts_with("access-control-"))
            .count()
    };

    // A program's request: answered, without CORS headers.
    let ok = send(http().get(&info)).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(cors_headers(&ok), 0);
    let port = idp.addr().port();
    let by_name = send(
        http()
            .get(&info)
            .header(header::HOST, format!("localhost:{port}")),
    )
    .await;
    assert_eq!(
        by_name.status,
        StatusCode::OK,
        "localhost names a loopback IdP"
    );
    let same_origin = send(
        http()
            .get(&info)
            .header(header::ORIGIN, format!("http://127.0.0.1:{port}")),
    )
    .await;
    assert_eq!(same_origin.status, StatusCode::OK);

    // A page on another origin, simple request or preflight: refused, without CORS headers.
    let cross = send(
        http()
            .get(&info)
            .header(header::ORIGIN, "https://evil.example"),
    )
    .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    assert_eq!(cross.json()["error"], "access_denied");
    assert_eq!(cors_headers(&cross), 0);
    let fetch_metadata = send(http().get(&info).header("sec-fetch-site", "cross-site")).await;
    assert_eq!(fetch_metadata.status, StatusCode::FORBIDDEN);
    let preflight = send(
        http()
            .request(reqwest::Method::OPTIONS, &reset)
            .header(header::ORIGIN, "https://evil.example")
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "content-type"),
    )
    .await;
    assert_eq!(preflight.status, StatusCode::FORBIDDEN);
    assert_eq!(cors_headers(&preflight), 0);
    assert_eq!(preflight.json()["error"], "access_denied");

    // DNS rebinding: the attacker's name in Host.
    let port = idp.addr().port();
    for host in [
        format!("rebind.evil.example:{port}"),
        "127.0.0.1:1".to_owned(),
    ] {
        let rebound = send(http().get(&info).header(header::HOST, host.as_str())).await;
        assert_eq!(rebound.status, StatusCode::MISDIRECTED_REQUEST, "{host}");
        assert_eq!(rebound.json()["error"], "invalid_request");
    }

    // A body that is not declared JSON (what a page can send without a preflight).
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let mut request = http().post(&reset).body("{}");
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        let refused = send(request).await;
        assert_eq!(
            refused.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type:?}"
        );
        assert_eq!(refused.json()["error"], "invalid_request");
    }
    let json = send(
        http()
            .post(&reset)
            .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
            .body("{}"),
    )
    .await;
    assert_eq!(json.status, StatusCode::OK, "{}", json.text());

    // The protocol endpoints keep their CORS for browser-based clients.
    let token_preflight = send(
        http()
            .request(reqwest::Method::OPTIONS, idp.token_endpoint())
            .header(header::ORIGIN, "https://app.example")
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST"),
    )
    .await;
    assert_eq!(token_preflight.status, StatusCode::NO_CONTENT);
    assert_eq!(
        token_preflight.header(header::ACCESS_CONTROL_ALLOW_ORIGIN),
        "*"
    );
    assert_eq!(
        token_preflight.header(header::ACCESS_CONTROL_ALLOW_HEADERS),
        "",
        "nothing asked, nothing allowed"
    );
    // Whatever headers a browser-based client asks to send are allowed, on every protocol
    // endpoint, and caches are told the answer depends on them.
    for url in [idp.token_endpoint(), format!("{}/jwks", idp.issuer())] {
        let asked = send(
            http()
                .request(reqwest::Method::OPTIONS, &url)
                .header(header::ORIGIN, "https://app.example")
                .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
                .header(
                    header::ACCESS_CONTROL_REQUEST_HEADERS,
                    "authorization,dpop,x-request-id",
                ),
        )
        .await;
        assert_eq!(asked.status, StatusCode::NO_CONTENT, "{url}");
        assert_eq!(
            asked.header(header::ACCESS_CONTROL_ALLOW_HEADERS),
            "authorization,dpop,x-request-id",
            "{url}"
        );
        assert_eq!(asked.header(header::VARY), "Access-Control-Request-Headers");
    }
    idp.shutdown().await;
}

/// Hosted documents are data, never pages that run on the IdP's origin.
#[tokio::test]
async fn hosted_documents_cannot_run_as_pages() {
    let idp = start().await;
    let hosted = send(
        http()
            .post(format!("{}/documents", idp.control_url()))
            .header(header::CONTENT_TYPE, "application/json")
            .body(
                json!({"name": "page.html", "body": "<script>alert(1)</script>", "content_type": "text/html"})
                    .to_string(),
            ),
    )
    .await;
    assert_eq!(hosted.status, StatusCode::OK, "{}", hosted.text());
    let page = send(http().get(format!("{}/documents/page.html", idp.issuer()))).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.header(header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    assert_eq!(
        page.header(header::CONTENT_SECURITY_POLICY),
        "sandbox; default-src 'none'"
    );
    idp.shutdown().await;
}

/// An issuer nested under `/{name}` has the same guard on its control API.
#[tokio::test]
async fn a_nested_issuers_control_api_is_guarded_too() {
    let idp = MockIdp::start(IdpConfig {
        issuers: vec![mock_idp::config::IssuerConfig {
            name: "second".into(),
            issuer: None,
            audience: None,
            authz: mock_idp::AuthzSettings::default(),
        }],
        ..IdpConfig::default()
    })
    .await
    .expect("IdP starts");
    let info = format!("{}/second/_control/info", idp.issuer());
    let ok = send(http().get(&info)).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    assert_eq!(ok.json()["issuer"], format!("{}/second", idp.issuer()));
    let cross = send(
        http()
            .get(&info)
            .header(header::ORIGIN, "https://evil.example"),
    )
    .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    assert!(cross.header(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_empty());
    let rebound = send(http().get(&info).header(header::HOST, "evil.example")).await;
    assert_eq!(rebound.status, StatusCode::MISDIRECTED_REQUEST);
    // Its protocol endpoints keep CORS.
    let jwks = send(
        http()
            .get(format!("{}/second/jwks", idp.issuer()))
            .header(header::ORIGIN, "https://app.example"),
    )
    .await;
    assert_eq!(jwks.header(header::ACCESS_CONTROL_ALLOW_ORIGIN), "*");
    idp.shutdown().await;
}

/// With a control token, every control request of every issuer needs it as a bearer token (401
/// with a Bearer challenge otherwise); the protocol endpoints do not. Listening beyond loopback
/// without one is refused before anything is bound.
#[tokio::test]
async fn a_control_token_guards_every_issuers_control_api() {
    let refused = MockIdp::start(IdpConfig {
        addr: "0.0.0.0:0".parse().expect("addr"),
        ..IdpConfig::default()
    })
    .await
    .expect_err("no control token beyond loopback");
    assert!(
        matches!(refused, mock_idp::IdpError::ControlTokenRequired { .. }),
        "{refused}"
    );
    assert!(refused.to_string().contains("--control-token"), "{refused}");

    let idp = MockIdp::start(IdpConfig {
        control_token: Some("s3cret".into()),
        issuers: vec![mock_idp::config::IssuerConfig {
            name: "second".into(),
            issuer: None,
            audience: None,
            authz: mock_idp::AuthzSettings::default(),
        }],
        ..IdpConfig::default()
    })
    .await
    .expect("IdP starts");
    for control in [
        idp.control_url(),
        format!("{}/second/_control", idp.issuer()),
    ] {
        let info = format!("{control}/info");
        let without = send(http().get(&info)).await;
        assert_eq!(without.status, StatusCode::UNAUTHORIZED, "{info}");
        assert_eq!(without.json()["error"], "invalid_token");
        assert!(
            without
                .header(header::WWW_AUTHENTICATE)
                .starts_with("Bearer "),
            "{}",
            without.header(header::WWW_AUTHENTICATE)
        );
        for wrong in ["s3cre", "s3cret2", "S3CRET", ""] {
            let reply = send(http().get(&info).bearer_auth(wrong)).await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{wrong:?}");
        }
        let basic = send(http().get(&info).basic_auth("s3cret", Some("s3cret"))).await;
        assert_eq!(basic.status, StatusCode::UNAUTHORIZED);
        let ok = send(http().get(&info).bearer_auth("s3cret")).await;
        assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
        // The other guards still come first: a web page gets 403 even with the token.
        let cross = send(
            http()
                .get(&info)
                .bearer_auth("s3cret")
                .header(header::ORIGIN, "https://evil.example"),
        )
        .await;
        assert_eq!(cross.status, StatusCode::FORBIDDEN);
    }
    let minted = send(
        http()
            .post(format!("{}/mint", idp.control_url()))
            .bearer_auth("s3cret")
            .header(header::CONTENT_TYPE, "application/json")
            .body("{}"),
    )
    .await;
    assert_eq!(minted.status, StatusCode::OK, "{}", minted.text());
    // The protocol endpoints answer without it.
    let jwks = send(http().get(format!("{}/jwks", idp.issuer()))).await;
    assert_eq!(jwks.status, StatusCode::OK);
    idp.shutdown().await;
}

/// A configured public issuer names every URL, while the server is reached at its bound address;
/// an extra issuer's public URL is the root's plus its name unless it has its own.
#[tokio::test]
async fn public_issuer_urls_name_the_metadata_and_tokens() {
    let idp = MockIdp::start(IdpConfig {
        issuer: Some("https://idp.example.test/".into()),
        issuers: vec![
            mock_idp::config::IssuerConfig {
                name: "second".into(),
                issuer: None,
                audience: None,
                authz: mock_idp::AuthzSettings::default(),
            },
            mock_idp::config::IssuerConfig {
                name: "third".into(),
                issuer: Some("https://third.example.test".into()),
                audience: None,
                authz: mock_idp::AuthzSettings::default(),
            },
        ],
        ..IdpConfig::default()
    })
    .await
    .expect("IdP starts");
    assert_eq!(idp.issuer(), "https://idp.example.test");
    assert_eq!(idp.token_endpoint(), "https://idp.example.test/token");
    let local = format!("http://{}", idp.addr());
    for (path, issuer) in [
        ("", "https://idp.example.test"),
        ("/second", "https://idp.example.test/second"),
        ("/third", "https://third.example.test"),
    ] {
        let metadata =
            send(http().get(format!("{local}{path}/.well-known/openid-configuration"))).await;
        assert_eq!(metadata.status, StatusCode::OK, "{path}");
        let doc = metadata.json();
        assert_eq!(doc["issuer"], issuer);
        assert_eq!(doc["token_endpoint"], format!("{issuer}/token"));
        let minted = send(
            http()
                .post(format!("{local}{path}/_control/mint"))
                .header(header::CONTENT_TYPE, "application/json")
                .body("{}"),
        )
        .await;
        assert_eq!(minted.status, StatusCode::OK, "{}", minted.text());
        assert_eq!(minted.json()["claims"]["iss"], issuer);
    }
    // Behind a TLS-terminating proxy the control API is addressed by the public name.
    let by_name = send(
        http()
            .get(format!("{local}/_control/info"))
            .header(header::HOST, "idp.example.test"),
    )
    .await;
    assert_eq!(by_name.status, StatusCode::OK, "{}", by_name.text());
    let third = send(
        http()
            .get(format!("{local}/third/_control/info"))
            .header(header::HOST, "third.example.test"),
    )
    .await;
    assert_eq!(third.status, StatusCode::OK, "{}", third.text());
    assert!(
        MockIdp::start(IdpConfig {
            issuer: Some("idp.example.test".into()),
            ..IdpConfig::default()
        })
        .await
        .is_err(),
        "an issuer that is not a URL"
    );
    idp.shutdown().await;
}
