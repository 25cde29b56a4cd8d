//! The authorization server over real HTTP on 127.0.0.1: registration, the authorization code
//! flow with PKCE, refresh rotation and reuse detection, consent, and the RFC 6749 §5.2 errors.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use mock_idp::{
    AuthMethod, AuthzSettings, ClientConfig, ConsentMode, IdpConfig, MockIdp, RedirectPolicy,
    RegistrationMode,
};
use reqwest::StatusCode;
use reqwest::header;
use serde_json::{Value, json};

use common::{Reply, http, send};

const RESOURCE: &str = "http://127.0.0.1:8000/mcp";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const FORM: &str = "application/x-www-form-urlencoded";

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()))
}

async fn start(authz: AuthzSettings) -> MockIdp {
    MockIdp::start(IdpConfig {
        authz,
        ..IdpConfig::default()
    })
    .await
    .expect("IdP starts")
}

fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

async fn token(idp: &MockIdp, pairs: &[(&str, &str)], basic: Option<(&str, &str)>) -> Reply {
    let mut request = http()
        .post(idp.token_endpoint())
        .header(header::CONTENT_TYPE, FORM)
        .body(form(pairs));
    if let Some((id, secret)) = basic {
        request = request.header(
            header::AUTHORIZATION,
            format!("Basic {}", STANDARD.encode(format!("{id}:{secret}"))),
        );
    }
    send(request).await
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

async fn authorize(idp: &MockIdp, pairs: &[(&str, &str)]) -> Reply {
    send(http().get(format!("{}/authorize?{}", idp.issuer(), form(pairs)))).await
}

fn authorize_params<'a>(
    client_id: &'a str,
    redirect: &'a str,
    challenge: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect),
        ("scope", "mcp:tools openid"),
        ("state", "st4te"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
        ("resource", RESOURCE),
    ]
}

#[tokio::test]
async fn dcr_pkce_code_refresh_and_replay_detection() {
    let idp = start(AuthzSettings::default()).await;
    let metadata = send(http().get(format!(
        "{}/.well-known/oauth-authorization-server",
        idp.issuer()
    )))
    .await
    .json();
    assert_eq!(
        metadata["registration_endpoint"],
        format!("{}/register", idp.issuer())
    );
    assert_eq!(
        metadata["code_challenge_methods_supported"],
        json!(["S256"])
    );
    assert_eq!(
        metadata["authorization_response_iss_parameter_supported"],
        true
    );

    // A public native client registers a loopback redirect URI.
    let registered = register(
        &idp,
        json!({
            "client_name": "test app",
            "redirect_uris": ["http://127.0.0.1:3000/callback"],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none"
        }),
    )
    .await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.text()
    );
    assert_eq!(registered.header(header::CACHE_CONTROL), "no-store");
    let client = registered.json();
    let client_id = client["client_id"].as_str().expect("client_id").to_owned();
    assert!(client.get("client_secret").is_none(), "public client");
    assert_eq!(client["client_name"], "test app");

    // RFC 7592: read with the registration access token; a wrong token is 401.
    let rat = client["registration_access_token"].as_str().expect("rat");
    let uri = client["registration_client_uri"].as_str().expect("uri");
    let read = send(http().get(uri).bearer_auth(rat)).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.json()["client_id"], client_id);
    let wrong = send(http().get(uri).bearer_auth("nope")).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.header(header::WWW_AUTHENTICATE).starts_with("Bearer"));

    // The loopback port may change (RFC 8252 §7.3).
    let challenge = challenge(VERIFIER);
    let redirect = "http://127.0.0.1:49152/callback";
    let answer = authorize(&idp, &authorize_params(&client_id, redirect, &challenge)).await;
    assert_eq!(answer.status, StatusCode::FOUND, "{}", answer.text());
    assert!(answer.header(header::LOCATION).starts_with(redirect));
    let query = answer.location_query();
    assert_eq!(query["state"], "st4te");
    assert_eq!(query["iss"], idp.issuer());
    let code = query["code"].clone();

    let tokens = token(
        &idp,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect),
            ("client_id", &client_id),
            ("code_verifier", VERIFIER),
        ],
        None,
    )
    .await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.text());
    assert_eq!(tokens.header(header::CACHE_CONTROL), "no-store");
    let tokens = tokens.json();
    let access = tokens["access_token"].as_str().expect("access").to_owned();
    let refresh = tokens["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], "mcp:tools openid");
    assert!(
        tokens["id_token"].is_string(),
        "openid scope gives an ID token"
    );

    // The access token is bound to the resource and introspects with the grant's facts.
    let info = idp.idp().introspect(&access);
    assert_eq!(info["active"], true);
    assert_eq!(info["aud"], RESOURCE);
    assert_eq!(info["client_id"], client_id.as_str());
    assert_eq!(info["sub"], "conformance-user");
    let userinfo = send(
        http()
            .get(format!("{}/userinfo", idp.issuer()))
            .bearer_auth(&access),
    )
    .await;
    assert_eq!(userinfo.json()["sub"], "conformance-user");

    // The code is single-use; a replay revokes the tokens it issued.
    let replay = token(
        &idp,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect),
            ("client_id", &client_id),
            ("code_verifier", VERIFIER),
        ],
        None,
    )
    .await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    assert_eq!(replay.json()["error"], "invalid_grant");
    assert_eq!(idp.idp().introspect(&access)["active"], false);
    // The family the code started is revoked as well.
    let refreshed = token(
        &idp,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", &client_id),
        ],
        None,
    )
    .await;
    assert_eq!(refreshed.json()["error"], "invalid_grant");
}

/// Runs the code flow for a public client and returns (access, refresh).
async fn login(idp: &MockIdp, client_id: &str, redirect: &str) -> (String, String) {
    let challenge = challenge(VERIFIER);
    let answer = authorize(idp, &authorize_params(client_id, redirect, &challenge)).await;
    let code = answer.location_query()["code"].clone();
    let tokens = token(
        idp,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect),
            ("client_id", client_id),
            ("code_verifier", VERIFIER),
        ],
        None,
    )
    .await
    .json();
    (
        tokens["access_token"].as_str().expect("access").to_owned(),
        tokens["refresh_token"]
            .as_str()
            .expect("refresh")
            .to_owned(),
    )
}

fn public_client(id: &str, policy: RedirectPolicy) -> ClientConfig {
    ClientConfig {
        client_id: id.into(),
        client_secret: None,
        token_endpoint_auth_method: None,
        token_endpoint_auth_methods: None,
        redirect_uris: vec!["http://127.0.0.1:3000/cb".into()],
        grant_types: None,
        scope: None,
        redirect_policy: policy,
        client_name: None,
    }
}

#[tokio::test]
async fn public_refresh_tokens_rotate_and_reuse_revokes_the_family() {
    let idp = start(AuthzSettings {
        clients: vec![public_client("app", RedirectPolicy::LoopbackAnyPort)],
        ..AuthzSettings::default()
    })
    .await;
    let (access1, refresh1) = login(&idp, "app", "http://127.0.0.1:3000/cb").await;
    let refresh = |rt: String| {
        let idp = &idp;
        async move {
            token(
                idp,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &rt),
                    ("client_id", "app"),
                ],
                None,
            )
            .await
        }
    };
    // A wider scope than granted is invalid_scope, and does not use the token up.
    let wider = token(
        &idp,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh1),
            ("client_id", "app"),
            ("scope", "mcp:tools admin"),
        ],
        None,
    )
    .await;
    assert_eq!(wider.json()["error"], "invalid_scope");
    let second = refresh(refresh1.clone()).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.text());
    let second = second.json();
    let refresh2 = second["refresh_token"]
        .as_str()
        .expect("rotated")
        .to_owned();
    assert_ne!(
        refresh2, refresh1,
        "a public client's refresh token rotates"
    );
    let access2 = second["access_token"].as_str().expect("access").to_owned();
    assert_eq!(
        idp.idp().introspect(&refresh2)["token_type"],
        "refresh_token"
    );

    // Replaying the rotated token revokes the family: the newest refresh token and the access
    // tokens die with it.
    let replay = refresh(refresh1).await;
    assert_eq!(replay.json()["error"], "invalid_grant");
    assert_eq!(refresh(refresh2).await.json()["error"], "invalid_grant");
    assert_eq!(idp.idp().introspect(&access1)["active"], false);
    assert_eq!(idp.idp().introspect(&access2)["active"], false);
}

#[tokio::test]
async fn token_endpoint_errors_follow_rfc_6749_section_5_2() {
    let confidential = ClientConfig {
        client_id: "conf".into(),
        client_secret: Some("s3cret".into()),
        token_endpoint_auth_method: Some(AuthMethod::ClientSecretBasic),
        token_endpoint_auth_methods: None,
        redirect_uris: vec!["https://app.example/cb".into()],
        grant_types: Some(vec!["authorization_code".into()]),
        scope: Some("mcp:tools".into()),
        redirect_policy: RedirectPolicy::LoopbackAnyPort,
        client_name: None,
    };
    let idp = start(AuthzSettings {
        clients: vec![
            confidential,
            public_client("app", RedirectPolicy::LoopbackAnyPort),
        ],
        ..AuthzSettings::default()
    })
    .await;
    let err = |r: &Reply| {
        (
            r.status.as_u16(),
            r.json()["error"].as_str().unwrap_or_default().to_owned(),
        )
    };

    // invalid_client: 401 with a Basic challenge.
    let wrong_secret = token(
        &idp,
        &[("grant_type", "authorization_code"), ("code", "x")],
        Some(("conf", "nope")),
    )
    .await;
    assert_eq!(err(&wrong_secret), (401, "invalid_client".into()));
    assert!(
        wrong_secret
            .header(header::WWW_AUTHENTICATE)
            .starts_with("Basic")
    );
    let unknown = token(
        &idp,
        &[("grant_type", "authorization_code"), ("client_id", "ghost")],
        None,
    )
    .await;
    assert_eq!(err(&unknown), (401, "invalid_client".into()));
    // The registered method only: conf is a Basic client.
    let post = token(
        &idp,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "conf"),
            ("client_secret", "s3cret"),
            ("code", "x"),
        ],
        None,
    )
    .await;
    assert_eq!(err(&post), (401, "invalid_client".into()));
    // A confidential client without its secret.
    let bare = token(
        &idp,
        &[("grant_type", "authorization_code"), ("client_id", "conf")],
        None,
    )
    .await;
    assert_eq!(err(&bare), (401, "invalid_client".into()));

    // unauthorized_client: authenticated, but not allowed this grant.
    let cc = token(
        &idp,
        &[("grant_type", "client_credentials")],
        Some(("conf", "s3cret")),
    )
    .await;
    assert_eq!(err(&cc), (400, "unauthorized_client".into()));
    // unsupported_grant_type.
    let password = token(
        &idp,
        &[("grant_type", "password")],
        Some(("conf", "s3cret")),
    )
    .await;
    assert_eq!(err(&password), (400, "unsupported_grant_type".into()));
    // invalid_grant: an unknown code.
    let code = token(
        &idp,
        &[
            ("grant_type", "authorization_code"),
            ("code", "nope"),
            ("code_verifier", VERIFIER),
        ],
        Some(("conf", "s3cret")),
    )
    .await;
    assert_eq!(err(&code), (400, "invalid_grant".into()));
    // invalid_request: no grant_type.
    let none = token(&idp, &[], Some(("conf", "s3cret"))).await;
    assert_eq!(err(&none), (400, "invalid_request".into()));
    // PKCE: a wrong verifier is invalid_grant; a missing one invalid_request.
    let challenge = challenge(VERIFIER);
    let redirect = "http://127.0.0.1:3000/cb";
    let answer = authorize(&idp, &authorize_params("app", redirect, &challenge)).await;
    let code = answer.location_query()["code"].clone();
    let missing = token(
        &idp,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect),
            ("client_id", "app"),
        ],
        None,
    )
    .await;
    assert_eq!(err(&missing), (400, "invalid_request".into()));
    let answer = authorize(&idp, &authorize_params("app", redirect, &challenge)).await;
    let code = answer.location_query()["code"].clone();
    let other_verifier = "A".repeat(43);
    let wrong = token(
        &idp,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect),
            ("client_id", "app"),
            ("code_verifier", &other_verifier),
        ],
        None,
    )
    .await;
    assert_eq!(err(&wrong), (400, "invalid_grant".into()));
}

#[tokio::test]
async fn authorization_errors_redirect_only_to_registered_uris() {
    let idp = start(AuthzSettings {
        clients: vec![
            public_client("app", RedirectPolicy::LoopbackAnyPort),
            public_client("strict", RedirectPolicy::Strict),
        ],
        resources: Some(vec![RESOURCE.into()]),
        ..AuthzSettings::default()
    })
    .await;
    let challenge = challenge(VERIFIER);
    // An unregistered redirect URI: an error page, never a redirect.
    let evil = authorize(
        &idp,
        &authorize_params("app", "https://evil.example/cb", &challenge),
    )
    .await;
    assert_eq!(evil.status, StatusCode::BAD_REQUEST);
    assert!(evil.headers.get(header::LOCATION).is_none());
    // A strict client refuses the changed loopback port (the bug native clients hit).
    let strict = authorize(
        &idp,
        &authorize_params("strict", "http://127.0.0.1:3001/cb", &challenge),
    )
    .await;
    assert_eq!(strict.status, StatusCode::BAD_REQUEST);
    // plain PKCE, unknown resources: errors at the registered redirect URI, with state and iss.
    let mut plain = authorize_params("app", "http://127.0.0.1:3000/cb", &challenge);
    plain.retain(|(k, _)| *k != "code_challenge_method");
    plain.push(("code_challenge_method", "plain"));
    let answer = authorize(&idp, &plain).await;
    assert_eq!(answer.status, StatusCode::FOUND);
    let query = answer.location_query();
    assert_eq!(query["error"], "invalid_request");
    assert_eq!(query["state"], "st4te");
    assert_eq!(query["iss"], idp.issuer());
    let mut other = authorize_params("app", "http://127.0.0.1:3000/cb", &challenge);
    other.retain(|(k, _)| *k != "resource");
    other.push(("resource", "http://127.0.0.1:9999/other"));
    assert_eq!(
        authorize(&idp, &other).await.location_query()["error"],
        "invalid_target"
    );
}

#[tokio::test]
async fn pre_registered_mode_has_no_registration_endpoint() {
    let idp = start(AuthzSettings {
        registration: RegistrationMode::PreRegistered,
        clients: vec![public_client("app", RedirectPolicy::LoopbackAnyPort)],
        ..AuthzSettings::default()
    })
    .await;
    let metadata = send(http().get(format!("{}/.well-known/openid-configuration", idp.issuer())))
        .await
        .json();
    assert!(metadata.get("registration_endpoint").is_none());
    let attempt = register(&idp, json!({"redirect_uris": ["http://127.0.0.1/cb"]})).await;
    assert_eq!(attempt.status, StatusCode::NOT_FOUND);
    let (access, _) = login(&idp, "app", "http://127.0.0.1:3000/cb").await;
    assert_eq!(idp.idp().introspect(&access)["active"], true);
}

#[tokio::test]
async fn consent_page_needs_its_csrf_cookie_and_can_narrow_or_deny() {
    let idp = start(AuthzSettings {
        consent: ConsentMode::Page,
        clients: vec![public_client("app", RedirectPolicy::LoopbackAnyPort)],
        ..AuthzSettings::default()
    })
    .await;
    let challenge = challenge(VERIFIER);
    let redirect = "http://127.0.0.1:3000/cb";
    let page = authorize(&idp, &authorize_params("app", redirect, &challenge)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.header(header::CONTENT_TYPE).starts_with("text/html"));
    let html = page.text();
    let field = |name: &str| form_field(&html, name);
    let (request_id, csrf) = (field("request_id"), field("csrf"));
    // Without the cookie the form is refused (and the page is used up).
    let forged = decide(
        &idp,
        vec![
            ("request_id", request_id.clone()),
            ("csrf", csrf.clone()),
            ("decision", "approve".into()),
        ],
        None,
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    // A fresh page, approved for another subject with one scope unticked.
    let (field, cookie) = consent_page(&idp, redirect, &challenge).await;
    let approved = decide(
        &idp,
        vec![
            ("request_id", field("request_id")),
            ("csrf", field("csrf")),
            ("subject", "alice".into()),
            ("scope", "mcp:tools".into()),
            ("decision", "approve".into()),
        ],
        Some(cookie),
    )
    .await;
    assert_eq!(
        approved.status,
        StatusCode::SEE_OTHER,
        "{}",
        approved.text()
    );
    let code = approved.location_query()["code"].clone();
    let tokens = token(
        &idp,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect),
            ("client_id", "app"),
            ("code_verifier", VERIFIER),
        ],
        None,
    )
    .await
    .json();
    assert_eq!(tokens["scope"], "mcp:tools");
    let info = idp
        .idp()
        .introspect(tokens["access_token"].as_str().expect("access"));
    assert_eq!(info["sub"], "alice");

    // Deny: access_denied at the redirect URI.
    let (field, cookie) = consent_page(&idp, redirect, &challenge).await;
    let denied = decide(
        &idp,
        vec![
            ("request_id", field("request_id")),
            ("csrf", field("csrf")),
            ("decision", "deny".into()),
        ],
        Some(cookie),
    )
    .await;
    assert_eq!(denied.location_query()["error"], "access_denied");
    assert_eq!(denied.location_query()["state"], "st4te");
}

/// Opens a consent page: a reader of its form fields, and its CSRF cookie.
async fn consent_page(
    idp: &MockIdp,
    redirect: &str,
    challenge: &str,
) -> (impl Fn(&str) -> String, String) {
    let page = authorize(idp, &authorize_params("app", redirect, challenge)).await;
    let html = page.text();
    let cookie = page
        .header(header::SET_COOKIE)
        .split(';')
        .next()
        .expect("cookie")
        .to_owned();
    (move |name: &str| form_field(&html, name), cookie)
}

/// Posts the consent form.
async fn decide(idp: &MockIdp, pairs: Vec<(&str, String)>, cookie: Option<String>) -> Reply {
    let mut request = http()
        .post(format!("{}/authorize/decision", idp.issuer()))
        .header(header::CONTENT_TYPE, FORM)
        .body(
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())))
                .finish(),
        );
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    send(request).await
}

/// The value of a hidden or text input in the consent page.
fn form_field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).expect("field") + marker.len();
    html[start..start + html[start..].find('"').expect("end")].to_owned()
}

#[tokio::test]
async fn several_issuers_each_with_own_keys_clients_and_mode() {
    let idp = MockIdp::start(IdpConfig {
        issuers: vec![mock_idp::config::IssuerConfig {
            name: "github".into(),
            issuer: None,
            audience: None,
            authz: AuthzSettings {
                registration: RegistrationMode::PreRegistered,
                clients: vec![public_client("proxy", RedirectPolicy::LoopbackAnyPort)],
                ..AuthzSettings::default()
            },
        }],
        ..IdpConfig::default()
    })
    .await
    .expect("IdP starts");
    let root = idp.issuer();
    let github = format!("{root}/github");
    // RFC 8414 §3.1 path-inserted form, and the OIDC appended form.
    for url in [
        format!("{root}/.well-known/oauth-authorization-server/github"),
        format!("{root}/.well-known/openid-configuration/github"),
        format!("{github}/.well-known/openid-configuration"),
    ] {
        let doc = send(http().get(&url)).await;
        assert_eq!(doc.status, StatusCode::OK, "{url}");
        let doc = doc.json();
        assert_eq!(doc["issuer"], github, "{url}");
        assert_eq!(doc["token_endpoint"], format!("{github}/token"));
        assert!(doc.get("registration_endpoint").is_none(), "pre-registered");
    }
    let root_doc = send(http().get(format!("{root}/.well-known/oauth-authorization-server")))
        .await
        .json();
    assert_eq!(root_doc["issuer"], root);
    assert!(root_doc["registration_endpoint"].is_string());
    // Own keys: the two JWKS differ.
    let root_jwks = send(http().get(format!("{root}/jwks"))).await.json();
    let github_jwks = send(http().get(format!("{github}/jwks"))).await.json();
    assert_ne!(root_jwks["keys"][0]["n"], github_jwks["keys"][0]["n"]);
    // Own clients: the proxy client logs in at github, and is unknown at the root.
    let challenge = challenge(VERIFIER);
    let redirect = "http://127.0.0.1:3000/cb";
    let answer = send(http().get(format!(
        "{github}/authorize?{}",
        form(&authorize_params("proxy", redirect, &challenge))
    )))
    .await;
    assert_eq!(answer.status, StatusCode::FOUND, "{}", answer.text());
    assert_eq!(answer.location_query()["iss"], github);
    let at_root = authorize(&idp, &authorize_params("proxy", redirect, &challenge)).await;
    assert_eq!(at_root.status, StatusCode::BAD_REQUEST);
    let tokens = send(
        http()
            .post(format!("{github}/token"))
            .header(header::CONTENT_TYPE, FORM)
            .body(form(&[
                ("grant_type", "authorization_code"),
                ("code", &answer.location_query()["code"]),
                ("redirect_uri", redirect),
                ("client_id", "proxy"),
                ("code_verifier", VERIFIER),
            ])),
    )
    .await
    .json();
    let access = tokens["access_token"].as_str().expect("access");
    let info = idp.issuer_idp("github").expect("github").introspect(access);
    assert_eq!(info["iss"], github);
    assert_eq!(info["active"], true);
    // The root issuer did not sign it.
    assert_eq!(idp.idp().introspect(access)["active"], false);
    // CORS preflight and header.
    let preflight = send(
        http()
            .request(reqwest::Method::OPTIONS, format!("{github}/token"))
            .header(header::ORIGIN, "http://localhost:6274")
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST"),
    )
    .await;
    assert_eq!(preflight.status, StatusCode::NO_CONTENT);
    assert_eq!(preflight.header(header::ACCESS_CONTROL_ALLOW_ORIGIN), "*");
}

#[tokio::test]
async fn client_id_metadata_documents_are_fetched_with_limits() {
    // Documents name their own URL, so the listener comes first.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let origin = format!("http://{}", listener.local_addr().expect("addr"));
    let id = format!("{origin}/client.json");
    let good = json!({
        "client_id": id,
        "client_name": "Metadata App",
        "redirect_uris": ["http://127.0.0.1:3000/cb"],
        "token_endpoint_auth_method": "none"
    })
    .to_string();
    let big = "x".repeat(6 * 1024);
    let router = axum::Router::new()
        .route(
            "/client.json",
            axum::routing::get(move || async move { good }),
        )
        .route("/big.json", axum::routing::get(move || async move { big }))
        .route(
            "/moved.json",
            axum::routing::get(|| async { axum::response::Redirect::temporary("/client.json") }),
        );
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });

    let settings = AuthzSettings {
        client_id_metadata_documents: true,
        allow_private_metadata_urls: true,
        ..AuthzSettings::default()
    };
    let idp = start(settings.clone()).await;
    let metadata = send(http().get(format!(
        "{}/.well-known/oauth-authorization-server",
        idp.issuer()
    )))
    .await
    .json();
    assert_eq!(metadata["client_id_metadata_document_supported"], true);
    let (access, _) = login(&idp, &id, "http://127.0.0.1:3000/cb").await;
    assert_eq!(idp.idp().introspect(&access)["client_id"], id.as_str());

    let challenge = challenge(VERIFIER);
    for bad in [format!("{origin}/big.json"), format!("{origin}/moved.json")] {
        let answer = authorize(
            &idp,
            &authorize_params(&bad, "http://127.0.0.1:3000/cb", &challenge),
        )
        .await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            answer.text()
        );
        assert!(answer.headers.get(header::LOCATION).is_none());
    }
    // Without the test switch, loopback documents are refused (SSRF).
    let strict = start(AuthzSettings {
        allow_private_metadata_urls: false,
        ..settings
    })
    .await;
    let answer = authorize(
        &strict,
        &authorize_params(&id, "http://127.0.0.1:3000/cb", &challenge),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.json()["error"], "invalid_client");
}

#[tokio::test]
async fn faults_can_target_a_client_and_reshape_answers() {
    let idp = start(AuthzSettings::default()).await;
    let set = |fault: Value| {
        let idp = &idp;
        async move {
            let reply = send(
                http()
                    .post(format!("{}/faults", idp.control_url()))
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(fault.to_string()),
            )
            .await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        }
    };
    let cc = || {
        token(
            &idp,
            &[("grant_type", "client_credentials")],
            Some(("conformance-client", "conformance-client-secret")),
        )
    };

    set(json!({"endpoint": "token", "fault": {"kind": "form-encoded"}, "times": 1})).await;
    let form_answer = cc().await;
    assert_eq!(form_answer.status, StatusCode::OK);
    assert_eq!(form_answer.header(header::CONTENT_TYPE), FORM);
    let pairs: HashMap<String, String> = url::form_urlencoded::parse(&form_answer.body)
        .into_owned()
        .collect();
    assert_eq!(pairs["token_type"], "Bearer");
    assert!(pairs["access_token"].starts_with("eyJ"));

    set(json!({"endpoint": "token", "fault": {"kind": "truncated"}, "times": 1})).await;
    let cut = cc().await;
    assert!(
        serde_json::from_slice::<Value>(&cut.body).is_err(),
        "truncated JSON"
    );

    set(json!({"endpoint": "token", "fault": {"kind": "html"}, "times": 1})).await;
    assert!(
        cc().await
            .header(header::CONTENT_TYPE)
            .starts_with("text/html")
    );

    // Only this client gets the error; others are served.
    set(json!({
        "endpoint": "token",
        "client_id": "conformance-client",
        "fault": {"kind": "oauth-error", "error": "temporarily_unavailable", "status": 503},
        "times": 1
    }))
    .await;
    let other = token(
        &idp,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "nobody"),
        ],
        None,
    )
    .await;
    assert_eq!(
        other.json()["error"],
        "invalid_client",
        "not the faulted client"
    );
    let faulted = cc().await;
    assert_eq!(faulted.status.as_u16(), 503);
    assert_eq!(faulted.json()["error"], "temporarily_unavailable");
    assert_eq!(cc().await.status, StatusCode::OK, "the fault ran out");
}

#[tokio::test]
async fn github_persona_reproduces_its_quirks() {
    let idp = start(AuthzSettings {
        persona: mock_idp::Persona::Github,
        clients: vec![ClientConfig {
            client_id: "oauth-app".into(),
            client_secret: Some("app-secret".into()),
            token_endpoint_auth_method: Some(AuthMethod::ClientSecretPost),
            token_endpoint_auth_methods: None,
            redirect_uris: vec!["http://127.0.0.1:3000/cb".into()],
            grant_types: None,
            scope: None,
            redirect_policy: RedirectPolicy::LoopbackAnyPort,
            client_name: None,
        }],
        ..AuthzSettings::default()
    })
    .await;
    // No discovery documents, no registration.
    let metadata = send(http().get(format!(
        "{}/.well-known/oauth-authorization-server",
        idp.issuer()
    )))
    .await;
    assert_eq!(metadata.status, StatusCode::NOT_FOUND);
    let attempt = register(&idp, json!({"redirect_uris": ["http://127.0.0.1/cb"]})).await;
    assert_eq!(attempt.status, StatusCode::NOT_FOUND);

    let challenge = challenge(VERIFIER);
    let redirect = "http://127.0.0.1:3000/cb";
    let mut params = authorize_params("oauth-app", redirect, &challenge);
    params.retain(|(k, _)| *k != "scope");
    params.push(("scope", "repo gist"));
    let code = authorize(&idp, &params).await.location_query()["code"].clone();
    let exchange = |code: String, accept: Option<&'static str>| {
        let idp = &idp;
        async move {
            let mut request = http()
                .post(idp.token_endpoint())
                .header(header::CONTENT_TYPE, FORM)
                .body(form(&[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", redirect),
                    ("client_id", "oauth-app"),
                    ("client_secret", "app-secret"),
                    ("code_verifier", VERIFIER),
                ]));
            if let Some(accept) = accept {
                request = request.header(header::ACCEPT, accept);
            }
            send(request).await
        }
    };
    // Form-encoded by default, scopes comma-separated; `resource` ignored (no aud binding).
    let answer = exchange(code, None).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.header(header::CONTENT_TYPE).starts_with(FORM));
    let pairs: HashMap<String, String> = url::form_urlencoded::parse(&answer.body)
        .into_owned()
        .collect();
    assert_eq!(pairs["scope"], "repo,gist");
    assert_ne!(
        idp.idp()
            .introspect(&pairs["access_token"])
            .get("aud")
            .and_then(Value::as_str),
        Some(RESOURCE),
        "resource is not bound"
    );
    // JSON when asked for; errors come with HTTP 200.
    let replay = exchange("no-such-code".into(), Some("application/json")).await;
    assert_eq!(replay.status, StatusCode::OK);
    assert_eq!(replay.json()["error"], "invalid_grant");
}

#[tokio::test]
async fn es256_and_eddsa_issuers_sign_tokens_an_independent_verifier_accepts() {
    for (alg, jwt_alg, kty) in [
        (
            mock_idp::SigningAlg::Es256,
            jsonwebtoken::Algorithm::ES256,
            "EC",
        ),
        (
            mock_idp::SigningAlg::EdDsa,
            jsonwebtoken::Algorithm::EdDSA,
            "OKP",
        ),
    ] {
        let idp = start(AuthzSettings {
            signing_alg: alg,
            ..AuthzSettings::default()
        })
        .await;
        let jwks = send(http().get(idp.jwks_uri())).await.json();
        let jwk = &jwks["keys"][0];
        assert_eq!(jwk["kty"], kty);
        assert_eq!(jwk["alg"], alg.name());
        let answer = token(
            &idp,
            &[("grant_type", "client_credentials"), ("resource", RESOURCE)],
            Some(("conformance-client", "conformance-client-secret")),
        )
        .await
        .json();
        let access = answer["access_token"].as_str().expect("token");
        // The jsonwebtoken crate (not our code) verifies the signature against the JWKS.
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone()).expect("jwk");
        let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).expect("decoding key");
        let mut validation = jsonwebtoken::Validation::new(jwt_alg);
        validation.set_audience(&[RESOURCE]);
        validation.set_issuer(&[idp.issuer()]);
        let decoded = jsonwebtoken::decode::<Value>(access, &key, &validation)
            .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        assert_eq!(decoded.header.alg, jwt_alg);
        assert_eq!(idp.idp().introspect(access)["active"], true);
        let metadata = send(http().get(format!(
            "{}/.well-known/oauth-authorization-server",
            idp.issuer()
        )))
        .await
        .json();
        assert_eq!(
            metadata["id_token_signing_alg_values_supported"],
            json!([alg.name()])
        );
    }
}

#[tokio::test]
async fn scheduled_rotation_announces_activates_then_retires() {
    let idp = start(AuthzSettings {
        key_rotation_secs: Some(1),
        key_overlap_secs: 1,
        ..AuthzSettings::default()
    })
    .await;
    let states = || {
        idp.idp()
            .keys()
            .into_iter()
            .map(|k| (k.kid, format!("{:?}", k.state)))
            .collect::<Vec<_>>()
    };
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    // Watch one cycle: key 2 announced while key 1 signs, then active with key 1 still
    // published, then key 1 retired.
    while std::time::Instant::now() < deadline {
        let now = states();
        if seen.last() != Some(&now) {
            seen.push(now.clone());
        }
        if now
            .iter()
            .any(|(kid, s)| kid == "mock-key-1" && s == "Retired")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let expected = [
        vec![("mock-key-1", "Active")],
        vec![("mock-key-1", "Active"), ("mock-key-2", "Announced")],
        vec![("mock-key-1", "Announced"), ("mock-key-2", "Active")],
        vec![("mock-key-1", "Retired"), ("mock-key-2", "Active")],
    ];
    let expected: Vec<Vec<(String, String)>> = expected
        .iter()
        .map(|v| {
            v.iter()
                .map(|(k, s)| ((*k).to_owned(), (*s).to_owned()))
                .collect()
        })
        .collect();
    assert_eq!(seen, expected);
}

/// Random token and authorization requests built from real parts (a registered public client,
/// a confidential one, live codes and refresh tokens, valid and broken PKCE values): every
/// answer is a redirect, a page, a token, or an RFC 6749 error — never a server error.
#[test]
fn random_flows_never_get_a_server_error() {
    use proptest::prelude::*;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let confidential = ClientConfig {
        client_id: "conf".into(),
        client_secret: Some("s3cret".into()),
        token_endpoint_auth_method: None,
        token_endpoint_auth_methods: None,
        redirect_uris: vec!["https://app.example/cb".into()],
        grant_types: Some(vec![
            "authorization_code".into(),
            "refresh_token".into(),
            "client_credentials".into(),
        ]),
        scope: None,
        redirect_policy: RedirectPolicy::LoopbackAnyPort,
        client_name: None,
    };
    let idp = runtime.block_on(start(AuthzSettings {
        clients: vec![
            public_client("app", RedirectPolicy::LoopbackAnyPort),
            confidential,
        ],
        ..AuthzSettings::default()
    }));
    let (_, refresh) = runtime.block_on(login(&idp, "app", "http://127.0.0.1:3000/cb"));
    let challenge_value = challenge(VERIFIER);
    let fresh_code = || {
        runtime.block_on(async {
            authorize(
                &idp,
                &authorize_params("app", "http://127.0.0.1:3000/cb", &challenge_value),
            )
            .await
            .location_query()["code"]
                .clone()
        })
    };
    let codes: Vec<String> = (0..4).map(|_| fresh_code()).collect();

    let name = prop::sample::select(vec![
        "grant_type",
        "code",
        "code_verifier",
        "redirect_uri",
        "client_id",
        "client_secret",
        "refresh_token",
        "scope",
        "resource",
        "response_type",
        "code_challenge",
        "code_challenge_method",
        "state",
    ]);
    let mut values: Vec<String> = vec![
        "authorization_code".into(),
        "refresh_token".into(),
        "client_credentials".into(),
        "app".into(),
        "conf".into(),
        "s3cret".into(),
        VERIFIER.into(),
        "A".repeat(43),
        challenge_value.clone(),
        "S256".into(),
        "plain".into(),
        "code".into(),
        "http://127.0.0.1:3000/cb".into(),
        "http://127.0.0.1:4000/cb".into(),
        "https://evil.example/cb".into(),
        RESOURCE.into(),
        "not a uri".into(),
        "mcp:tools openid".into(),
        refresh.clone(),
        String::new(),
        "\u{0}\u{ffff}".into(),
    ];
    values.extend(codes);
    let value = prop::sample::select(values);
    let pairs = prop::collection::vec((name, value), 0..8);
    let basic = prop::option::of(prop::sample::select(vec![
        ("conf", "s3cret"),
        ("conf", "wrong"),
        ("app", ""),
        ("ghost", "x"),
    ]));
    let to_token = any::<bool>();
    let config = ProptestConfig {
        cases: 200,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(pairs in pairs, basic in basic, to_token in to_token)| {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())))
            .finish();
        let reply = runtime.block_on(async {
            if to_token {
                let mut request = http()
                    .post(idp.token_endpoint())
                    .header(header::CONTENT_TYPE, FORM)
                    .body(body.clone());
                if let Some((id, secret)) = basic {
                    request = request.header(
                        header::AUTHORIZATION,
                        format!("Basic {}", STANDARD.encode(format!("{id}:{secret}"))),
                    );
                }
                send(request).await
            } else {
                send(http().get(format!("{}/authorize?{body}", idp.issuer()))).await
            }
        });
        let status = reply.status.as_u16();
        prop_assert!(status < 500, "{body}: {status} {}", reply.text());
        if to_token {
            prop_assert!([200, 400, 401].contains(&status), "{body}: {status}");
            let json: Value = serde_json::from_slice(&reply.body)
                .map_err(|e| TestCaseError::fail(format!("{body}: not JSON: {e}")))?;
            if status != 200 {
                prop_assert!(json["error"].is_string(), "{body}: {json}");
            }
            if status == 401 {
                prop_assert!(reply.header(header::WWW_AUTHENTICATE).starts_with("Basic"));
            }
        } else {
            prop_assert!([200, 302, 400].contains(&status), "{body}: {status}");
            if status == 302 {
                let location = reply.header(header::LOCATION);
                prop_assert!(
                    location.starts_with("http://127.0.0.1:") || location.starts_with("https://app.example/cb"),
                    "redirected to an unregistered URI: {location}"
                );
            }
        }
    });
    runtime.block_on(idp.shutdown());
}

/// A confidential client that names several methods, or none.
fn secret_client(
    id: &str,
    one: Option<AuthMethod>,
    several: Option<Vec<AuthMethod>>,
) -> ClientConfig {
    ClientConfig {
        client_id: id.into(),
        client_secret: Some(format!("{id}-secret")),
        token_endpoint_auth_method: one,
        token_endpoint_auth_methods: several,
        redirect_uris: Vec::new(),
        grant_types: Some(vec!["client_credentials".into()]),
        scope: None,
        redirect_policy: RedirectPolicy::LoopbackAnyPort,
        client_name: None,
    }
}

/// The `client_credentials` answer for `id` authenticating by Basic or in the form.
async fn client_credentials(idp: &MockIdp, id: &str, method: AuthMethod) -> Reply {
    let secret = format!("{id}-secret");
    match method {
        AuthMethod::ClientSecretBasic => {
            token(
                idp,
                &[("grant_type", "client_credentials")],
                Some((id, &secret)),
            )
            .await
        }
        _ => {
            let pairs = [
                ("grant_type", "client_credentials"),
                ("client_id", id),
                ("client_secret", &secret),
            ];
            token(idp, &pairs, None).await
        }
    }
}

/// Upstream clients as real upstreams configure them (issue 16): a configured confidential client
/// that names no method may send its secret by Basic or in the form, as at GitHub, Google or
/// Entra ID; one that lists methods may use each; one that names a single method is held to it,
/// except under the `github` persona, whose provider has no per-client method. The metadata
/// advertises every method.
#[tokio::test]
async fn configured_clients_use_every_secret_method_they_may() {
    use AuthMethod::{ClientSecretBasic as Basic, ClientSecretPost as Post};
    let clients = vec![
        secret_client("either", None, None),
        secret_client("listed", None, Some(vec![Post, Basic])),
        secret_client("strict", Some(Post), None),
        secret_client("strict-list", None, Some(vec![Basic])),
    ];
    let idp = start(AuthzSettings {
        clients: clients.clone(),
        ..AuthzSettings::default()
    })
    .await;
    for (id, method, accepted) in [
        ("either", Basic, true),
        ("either", Post, true),
        ("listed", Basic, true),
        ("listed", Post, true),
        ("strict", Post, true),
        ("strict", Basic, false),
        ("strict-list", Basic, true),
        ("strict-list", Post, false),
    ] {
        let reply = client_credentials(&idp, id, method).await;
        if accepted {
            assert_eq!(
                reply.status,
                StatusCode::OK,
                "{id} by {method}: {}",
                reply.text()
            );
        } else {
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{id} by {method}");
            assert_eq!(reply.json()["error"], "invalid_client");
            let description = reply.json()["error_description"].to_string();
            assert!(description.contains("registered for"), "{description}");
        }
    }
    let metadata = send(http().get(format!(
        "{}/.well-known/oauth-authorization-server",
        idp.issuer()
    )))
    .await
    .json();
    assert_eq!(
        metadata["token_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post", "none"])
    );
    // The client list says which methods each client may use.
    let listed = idp.idp().clients();
    let find = |id: &str| {
        listed
            .iter()
            .find(|c| c["client_id"] == id)
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(
        find("listed")["token_endpoint_auth_method"],
        "client_secret_post"
    );
    assert_eq!(
        find("listed")["token_endpoint_auth_methods"],
        json!(["client_secret_basic", "client_secret_post"])
    );
    assert_eq!(
        find("either")["token_endpoint_auth_methods"],
        json!(["client_secret_basic", "client_secret_post"])
    );
    assert!(find("strict").get("token_endpoint_auth_methods").is_none());
    idp.shutdown().await;

    // GitHub takes the secret either way, whatever a client was configured with.
    let github = start(AuthzSettings {
        persona: mock_idp::Persona::Github,
        clients,
        ..AuthzSettings::default()
    })
    .await;
    for (id, method) in [("strict", Basic), ("strict-list", Post)] {
        let reply = client_credentials(&github, id, method).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{id} by {method}: {}",
            reply.text()
        );
    }
    github.shutdown().await;

    // Contradictory configurations are refused when the IdP starts.
    for bad in [
        secret_client("both", Some(Post), Some(vec![Post])),
        secret_client("empty", None, Some(Vec::new())),
        secret_client("mixed", None, Some(vec![AuthMethod::None, Post])),
    ] {
        let started = MockIdp::start(IdpConfig {
            authz: AuthzSettings {
                clients: vec![bad.clone()],
                ..AuthzSettings::default()
            },
            ..IdpConfig::default()
        })
        .await;
        assert!(started.is_err(), "{bad:?}");
    }
}
