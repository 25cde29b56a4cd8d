//! A whole run against a server that is its own authorization server, logs users in with a
//! username page and a password page, and echoes the account everywhere it can: in URLs (its
//! login forms use GET), in pages, in JSON, in its challenges and in the redirect back. The run
//! must log in with the test account, and no format of its report may show the account.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use harness::browser::login::LoginAccount;
use harness::check::Status;
use harness::report::{
    TerminalStyle, render_badge_svg, render_checks_json, render_junit, render_markdown,
    render_shields_json, render_terminal,
};
use harness::{Limits, Options, Report, RunConfig, SpecVersion};
use serde_json::{Value, json};

use crate::stage::account;

/// The server's one account. The password has every character that an encoding changes.
pub const USER: &str = "red-user@example.test";
pub const PASSWORD: &str = "Red\"Pass&<wörd> 1";

#[derive(Clone)]
struct Server {
    origin: String,
    /// Authorization requests waiting for the login, by transaction.
    pending: Arc<Mutex<HashMap<String, HashMap<String, String>>>>,
    next: Arc<Mutex<u32>>,
}

impl Server {
    fn id(&self, prefix: &str) -> String {
        let mut next = self.next.lock().expect("counter");
        *next += 1;
        format!("{prefix}-{next}")
    }
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page(body: String) -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        format!("<!doctype html><html><body>{body}</body></html>"),
    )
        .into_response()
}

fn challenge(server: &Server) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(
            header::WWW_AUTHENTICATE,
            format!(
                "Bearer error=\"invalid_token\", error_description=\"sign in as {USER} first\", resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\"",
                server.origin
            ),
        )],
        Json(json!({"error": "invalid_token", "hint": format!("sign in as {USER}")})),
    )
        .into_response()
}

async fn mcp(State(server): State<Server>, headers: HeaderMap, body: Bytes) -> Response {
    let authorized = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer fake-at-"));
    if !authorized {
        return challenge(&server);
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or_default();
    let Some(id) = request.get("id").cloned() else {
        return StatusCode::ACCEPTED.into_response();
    };
    let result = match request.get("method").and_then(Value::as_str) {
        Some("initialize") => json!({
            "protocolVersion": request.pointer("/params/protocolVersion").cloned().unwrap_or(json!("2025-11-25")),
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "echoing-login-server", "version": "1.0.0"},
            "instructions": format!("logged in as {USER}"),
        }),
        Some("tools/list") => json!({"tools": []}),
        _ => json!({}),
    };
    Json(json!({"jsonrpc": "2.0", "id": id, "result": result})).into_response()
}

async fn protected_resource(State(server): State<Server>) -> Response {
    Json(json!({
        "resource": format!("{}/mcp", server.origin),
        "authorization_servers": [server.origin],
        "scopes_supported": ["mcp"],
    }))
    .into_response()
}

async fn authorization_server(State(server): State<Server>) -> Response {
    let o = &server.origin;
    Json(json!({
        "issuer": o,
        "authorization_endpoint": format!("{o}/authorize"),
        "token_endpoint": format!("{o}/token"),
        "registration_endpoint": format!("{o}/register"),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none"],
        "scopes_supported": ["mcp"],
    }))
    .into_response()
}

async fn register(State(server): State<Server>, body: Bytes) -> Response {
    let mut client: Value = serde_json::from_slice(&body).unwrap_or_else(|_| json!({}));
    client["client_id"] = json!(server.id("client"));
    client["token_endpoint_auth_method"] = json!("none");
    (StatusCode::CREATED, Json(client)).into_response()
}

async fn authorize(
    State(server): State<Server>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let tx = server.id("tx");
    server
        .pending
        .lock()
        .expect("pending")
        .insert(tx.clone(), query);
    (
        [(
            header::SET_COOKIE,
            format!("tx={tx}; Path=/login; HttpOnly; SameSite=Lax"),
        )],
        Redirect::to(&format!("/login?tx={tx}")),
    )
        .into_response()
}

/// The first step: the username, sent with GET so that it lands in the next URL.
async fn login(Query(query): Query<HashMap<String, String>>) -> Response {
    let tx = html_escape(query.get("tx").map(String::as_str).unwrap_or_default());
    page(format!(
        r#"<h1>Sign in</h1><form method="get" action="/login/password">
        <input type="hidden" name="tx" value="{tx}">
        <input type="email" name="email" autocomplete="username">
        <button>Next</button></form>"#
    ))
}

/// The second step: the password, also with GET, on a page that greets the user.
async fn login_password(Query(query): Query<HashMap<String, String>>) -> Response {
    let get = |n: &str| html_escape(query.get(n).map(String::as_str).unwrap_or_default());
    page(format!(
        r#"<h1>Welcome back, {email}</h1><script>var account = {json};</script>
        <form method="get" action="/login/check">
        <input type="hidden" name="tx" value="{tx}">
        <input type="hidden" name="email" value="{email}">
        <input type="password" name="secret">
        <button>Sign in</button></form>"#,
        email = get("email"),
        tx = get("tx"),
        json = json!({"email": query.get("email")}),
    ))
}

/// The end of the login: the code goes back with the user's address as a hint; a wrong password
/// shows the page again, quoting what was typed.
async fn login_check(
    State(server): State<Server>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let get = |n: &str| query.get(n).cloned().unwrap_or_default();
    if get("email") != USER || get("secret") != PASSWORD {
        return page(format!(
            "<p>Wrong password {} for {}</p>",
            html_escape(&get("secret")),
            html_escape(&get("email"))
        ));
    }
    let Some(request) = server.pending.lock().expect("pending").remove(&get("tx")) else {
        return (StatusCode::BAD_REQUEST, "unknown transaction").into_response();
    };
    let mut back = url::Url::parse(
        request
            .get("redirect_uri")
            .map(String::as_str)
            .unwrap_or("http://127.0.0.1:9/"),
    )
    .expect("a redirect URI");
    back.query_pairs_mut()
        .append_pair("code", &server.id("code"))
        .append_pair(
            "state",
            request.get("state").map(String::as_str).unwrap_or_default(),
        )
        .append_pair("login_hint", USER);
    Redirect::to(back.as_str()).into_response()
}

/// Tokens for any code or refresh token, with the account in a member, written as Python writes
/// JSON (non-ASCII escaped).
async fn token(State(server): State<Server>) -> Response {
    let debug = serde_json::to_string(&format!("issued to {USER} who typed {PASSWORD}"))
        .expect("json")
        .replace('ö', "\\u00f6");
    (
        [(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-store")],
        format!(
            r#"{{"access_token":"{}","token_type":"Bearer","expires_in":3600,"refresh_token":"{}","scope":"mcp","debug":{debug}}}"#,
            server.id("fake-at"),
            server.id("fake-rt")
        ),
    )
        .into_response()
}

/// Starts the server on a loopback port; its origin.
pub async fn start_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let origin = format!("http://{}", listener.local_addr().expect("addr"));
    let server = Server {
        origin: origin.clone(),
        pending: Arc::default(),
        next: Arc::default(),
    };
    let app = Router::new()
        .route("/mcp", post(mcp).get(mcp))
        .route(
            "/.well-known/oauth-protected-resource/mcp",
            get(protected_resource),
        )
        .route(
            "/.well-known/oauth-protected-resource",
            get(protected_resource),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(authorization_server),
        )
        .route("/register", post(register))
        .route("/authorize", get(authorize))
        .route("/login", get(login))
        .route("/login/password", get(login_password))
        .route("/login/check", get(login_check))
        .route("/token", post(token))
        .with_state(server);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    origin
}

async fn run_with(login: LoginAccount) -> Report {
    let origin = start_server().await;
    let idp = mock_idp::MockIdp::start(mock_idp::IdpConfig::default())
        .await
        .expect("mock IdP");
    let config = RunConfig {
        target: format!("{origin}/mcp"),
        audience: None,
        spec: SpecVersion::LATEST,
        idp_url: idp.issuer(),
        limits: Limits {
            deadline: Duration::from_secs(3),
            max_body: 256 * 1024,
        },
        options: Options {
            jwks_wait: Duration::from_millis(300),
            jwks_cooldown: Duration::from_secs(1),
            era: harness::context::EraChoice::Legacy,
            login,
            ..Default::default()
        },
        checks: Vec::new(),
        catalogue: harness::load_catalogue(&[]).expect("catalogue"),
        baseline: None,
        restart: None,
    };
    let report = tokio::time::timeout(Duration::from_secs(240), harness::run(config))
        .await
        .expect("the run finished")
        .expect("a report");
    idp.shutdown().await;
    report
}

/// The account in the encodings it travels in (the report's own JSON and XML escaping included);
/// `wörd` and `red-user` catch any other.
pub fn spellings() -> Vec<String> {
    let form = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let json = |s: &str| {
        serde_json::to_string(s)
            .expect("json")
            .trim_matches('"')
            .to_string()
    };
    vec![
        USER.to_string(),
        form(USER),
        "red-user".to_string(),
        PASSWORD.to_string(),
        form(PASSWORD),
        json(PASSWORD),
        html_escape(PASSWORD),
        "wörd".to_string(),
        "w%C3%B6rd".to_string(),
        "w\\u00f6rd".to_string(),
        "Red\\\"Pass".to_string(),
        "Red&quot;Pass".to_string(),
    ]
}

/// The first of `spellings` that `text` shows, with the lines that show it.
pub fn shows(text: &str, spellings: &[String]) -> Option<String> {
    let spelling = spellings.iter().find(|s| text.contains(s.as_str()))?;
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(spelling.as_str()))
        .collect();
    Some(format!("{spelling:?}:\n{}", lines.join("\n")))
}

/// Every format of the report, as written to disk or printed.
fn every_format(report: &Report) -> Vec<(&'static str, String)> {
    let normalized = report.normalized();
    vec![
        ("report.json", report.to_json()),
        ("report.json --normalize", report.normalized_json()),
        ("checks.json", render_checks_json(report)),
        ("checks.json --normalize", render_checks_json(&normalized)),
        ("junit.xml", render_junit(report)),
        ("summary.md", render_markdown(report)),
        ("terminal", render_terminal(report, TerminalStyle::Plain)),
        (
            "terminal (colour)",
            render_terminal(report, TerminalStyle::Color),
        ),
        ("badge.svg", render_badge_svg(report)),
        ("shields.json", render_shields_json(report)),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_account_logs_in_and_no_report_format_shows_it() {
    let report = run_with(account(Some(USER), Some(PASSWORD), &[])).await;
    assert!(
        report.positive_control.passed,
        "the login with the test account worked: {}",
        report.positive_control.message
    );
    let spellings = spellings();
    let mut redacted = false;
    for (format, text) in every_format(&report) {
        if let Some(shown) = shows(&text, &spellings) {
            panic!("{format} shows {shown}");
        }
        redacted |= text.contains("[REDACTED]");
    }
    assert!(redacted, "the echoed account was replaced, not absent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_test_account_the_login_stops_at_the_form_and_says_how_to_give_one() {
    let report = run_with(LoginAccount::default()).await;
    assert!(!report.positive_control.passed);
    let login = report
        .checks
        .iter()
        .find(|c| c.id == "login.headless-flow")
        .expect("login.headless-flow");
    assert_eq!(login.status, Status::Fail, "{}", login.message);
    for words in [
        "a login page asks for a username (field `email`)",
        "--login-user",
        "--login-password",
        "--login-field",
        "--interactive",
    ] {
        assert!(login.message.contains(words), "{words}: {}", login.message);
    }
}
