//! The log line of each protocol request, captured in-process: one `mock_idp::request` event per
//! request, and for each kind of refusal one event naming its reason (the same reason the request
//! log keeps). Each test runs the IdP and its client on one thread (`#[tokio::test]`'s runtime),
//! where the capturing subscriber is the default.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mock_idp::{
    AuthzSettings, ClientConfig, ConsentMode, Fault, FaultEndpoint, FaultSpec, IdpConfig, MockIdp,
    RedirectPolicy, RefusalReason,
};
use reqwest::StatusCode;
use reqwest::header;
use serde_json::json;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt as _};

use common::{Reply, http, send};

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const REDIRECT: &str = "http://127.0.0.1:3000/cb";
const FORM: &str = "application/x-www-form-urlencoded";

/// The fields of each `mock_idp::request` event, as text.
#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<BTreeMap<String, String>>>>);

impl Events {
    fn all(&self) -> Vec<BTreeMap<String, String>> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The events naming `reason`; fails unless there is exactly one.
    fn one_refused_for(&self, reason: RefusalReason) -> BTreeMap<String, String> {
        let all = self.all();
        let matching: Vec<_> = all
            .iter()
            .filter(|e| e.get("reason").map(String::as_str) == Some(reason.name()))
            .cloned()
            .collect();
        assert_eq!(
            matching.len(),
            1,
            "one event with reason {reason}: {all:#?}"
        );
        let event = matching.into_iter().next().unwrap_or_default();
        assert_eq!(event["outcome"], "refused", "{event:?}");
        event
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Events {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() != mock_idp::events::TARGET {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(fields.0);
    }
}

#[derive(Default)]
struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

/// Captures events on this thread until the guard drops.
fn capture() -> (Events, tracing::subscriber::DefaultGuard) {
    let events = Events::default();
    let subscriber = tracing_subscriber::registry().with(events.clone());
    (events, tracing::subscriber::set_default(subscriber))
}

fn app() -> ClientConfig {
    ClientConfig {
        client_id: "app".into(),
        client_secret: None,
        token_endpoint_auth_method: None,
        token_endpoint_auth_methods: None,
        redirect_uris: vec![REDIRECT.into()],
        grant_types: None,
        scope: Some("mcp:tools".into()),
        redirect_policy: RedirectPolicy::Strict,
        client_name: None,
    }
}

async fn start(consent: ConsentMode) -> MockIdp {
    MockIdp::start(IdpConfig {
        authz: AuthzSettings {
            clients: vec![app()],
            consent,
            resources: Some(vec!["http://127.0.0.1:8000/mcp".into()]),
            ..AuthzSettings::default()
        },
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

async fn post_form(url: String, pairs: &[(&str, &str)], basic: Option<(&str, &str)>) -> Reply {
    let mut request = http()
        .post(url)
        .header(header::CONTENT_TYPE, FORM)
        .body(form(pairs));
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    send(request).await
}

/// An authorization request of `app`, with `changes` applied (a `None` value drops the
/// parameter).
async fn authorize(idp: &MockIdp, changes: &[(&str, Option<&str>)]) -> Reply {
    let challenge = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, VERIFIER.as_bytes()));
    let mut pairs: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", "app"),
        ("redirect_uri", REDIRECT),
        ("scope", "mcp:tools"),
        ("state", "st4te"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ];
    for (name, value) in changes {
        pairs.retain(|(n, _)| n != name);
        if let Some(value) = value {
            pairs.push((name, value));
        }
    }
    send(http().get(format!("{}/authorize?{}", idp.issuer(), form(&pairs)))).await
}

/// The last entry of the request log names the same refusal over HTTP.
async fn log_names(idp: &MockIdp, reason: RefusalReason) {
    let log = send(http().get(format!("{}/requests", idp.control_url()))).await;
    let entries = log.json();
    let last = entries
        .as_array()
        .and_then(|all| all.last())
        .cloned()
        .unwrap_or_default();
    assert_eq!(last["refusal"]["reason"], reason.name(), "{last}");
}

#[tokio::test]
async fn an_unregistered_redirect_uri_is_one_event_naming_redirect_uri() {
    let (events, _guard) = capture();
    let idp = start(ConsentMode::Auto).await;
    let reply = authorize(&idp, &[("redirect_uri", Some("http://127.0.0.1:3001/cb"))]).await;
    assert_eq!(
        reply.status,
        StatusCode::BAD_REQUEST,
        "shown, not redirected"
    );
    let event = events.one_refused_for(RefusalReason::RedirectUri);
    assert_eq!(event["client"], "app");
    assert_eq!(event["error"], "invalid_request");
    assert!(event["description"].contains("3001"), "{event:?}");
    log_names(&idp, RefusalReason::RedirectUri).await;
}

#[tokio::test]
async fn a_missing_code_challenge_is_one_event_naming_pkce() {
    let (events, _guard) = capture();
    let idp = start(ConsentMode::Auto).await;
    let reply = authorize(&idp, &[("code_challenge", None)]).await;
    assert_eq!(reply.status, StatusCode::FOUND, "redirected to the client");
    assert_eq!(reply.location_query()["error"], "invalid_request");
    let event = events.one_refused_for(RefusalReason::Pkce);
    assert_eq!(event["status"], "302");
    log_names(&idp, RefusalReason::Pkce).await;
}

#[tokio::test]
async fn a_wrong_code_verifier_is_one_event_naming_pkce() {
    let (events, _guard) = capture();
    let idp = start(ConsentMode::Auto).await;
    let code = authorize(&idp, &[]).await.location_query()["code"].clone();
    let wrong = format!("{}x", &VERIFIER[1..]);
    let reply = post_form(
        idp.token_endpoint(),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", "app"),
            ("code_verifier", &wrong),
        ],
        None,
    )
    .await;
    assert_eq!(reply.json()["error"], "invalid_grant");
    let event = events.one_refused_for(RefusalReason::Pkce);
    assert_eq!(event["message"], "POST /token");
    log_names(&idp, RefusalReason::Pkce).await;
}

#[tokio::test]
async fn a_wrong_client_secret_is_one_event_naming_client_auth() {
    let (events, _guard) = capture();
    let idp = start(ConsentMode::Auto).await;
    let reply = post_form(
        idp.token_endpoint(),
        &[("grant_type", "client_credentials")],
        Some(("conformance-client", "wrong")),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let event = events.one_refused_for(RefusalReason::ClientAuth);
    assert_eq!(event["client"], "conformance-client");
    assert_eq!(event["error"], "invalid_client");
    log_names(&idp, RefusalReason::ClientAuth).await;
}

#[tokio::test]
async fn an_unknown_resource_is_one_event_naming_resource() {
    let (events, _guard) = capture();
    let idp = start(ConsentMode::Auto).await;
    let reply = authorize(&idp, &[("resource", Some("http://127.0.0.1:9/other"))]).await;
    assert_eq!(reply.location_query()["error"], "invalid_target");
    events.one_refused_for(RefusalReason::Resource);
    log_names(&idp, RefusalReason::Resource).await;
}

#[tokio::test]
async fn a_scope_the_client_may_not_have_is_one_event_naming_scope() {
    let (events, _guard) = capture();
    let idp = start(ConsentMode::Auto).await;
    let reply = authorize(&idp, &[("scope", Some("admin"))]).await;
    assert_eq!(reply.location_query()["error"], "invalid_scope");
    events.one_refused_for(RefusalReason::Scope);
    log_names(&idp, RefusalReason::Scope).await;
}

#[tokio::test]
async fn an_unsupported_grant_type_is_one_event_naming_grant() {
    let (events, _guard) = capture();
    let idp = start(ConsentMode::Auto).await;
    let reply = post_form(
        idp.token_endpoint(),
        &[("grant_type", "password")],
        Some(("conformance-client", "conformance-client-secret")),
    )
    .await;
    assert_eq!(reply.json()["error"], "unsupported_grant_type");
    events.one_refused_for(RefusalReason::Grant);
    log_names(&idp, RefusalReason::Grant).await;
}

#[tokio::test]
async fn an_unknown_refresh_token_is_one_event_naming_grant() {
    let (events, _guard) = capture();
    let idp = start(ConsentMode::Auto).await;
    let reply = post_form(
        idp.token_endpoint(),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "mock_rt_nothing"),
            ("client_id", "app"),
        ],
        None,
    )
    .await;
    assert_eq!(reply.json()["error"], "invalid_grant");
    events.one_refused_for(RefusalReason::Grant);
}

#[tokio::test]
async fn a_replayed_code_is_one_event_naming_code() {
    let (events, _guard) = capture();
    let idp = start(ConsentMode::Auto).await;
    let code = authorize(&idp, &[]).await.location_query()["code"].clone();
    let exchange = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("client_id", "app"),
        ("code_verifier", VERIFIER),
    ];
    let redeemed = post_form(idp.token_endpoint(), &exchange, None).await;
    assert_eq!(redeemed.status, StatusCode::OK);
    let replay = post_form(idp.token_endpoint(), &exchange, None).await;
    assert_eq!(replay.json()["error"], "invalid_grant");
    events.one_refused_for(RefusalReason::Code);
    log_names(&idp, RefusalReason::Code).await;
    // Every request has its line: the authorization, the exchange and the replay.
    let outcomes: Vec<String> = events.all().iter().map(|e| e["outcome"].clone()).collect();
    assert_eq!(outcomes, ["ok", "ok", "refused"]);
}

#[tokio::test]
async fn a_denied_consent_is_one_event_naming_consent() {
    let (events, _guard) = capture();
    let idp = start(ConsentMode::Page).await;
    let page = authorize(&idp, &[]).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    let field = |name: &str| {
        let marker = format!("name=\"{name}\" value=\"");
        let start = html.find(&marker).expect("field") + marker.len();
        html[start..start + html[start..].find('"').expect("end")].to_owned()
    };
    let cookie = page
        .header(header::SET_COOKIE)
        .split(';')
        .next()
        .unwrap_or_default()
        .to_owned();
    let denied = send(
        http()
            .post(format!("{}/authorize/decision", idp.issuer()))
            .header(header::CONTENT_TYPE, FORM)
            .header(header::COOKIE, cookie)
            .body(form(&[
                ("request_id", &field("request_id")),
                ("csrf", &field("csrf")),
                ("decision", "deny"),
            ])),
    )
    .await;
    assert_eq!(denied.location_query()["error"], "access_denied");
    let event = events.one_refused_for(RefusalReason::Consent);
    assert_eq!(event["error"], "access_denied");
    log_names(&idp, RefusalReason::Consent).await;
}

#[tokio::test]
async fn a_refused_registration_is_one_event_naming_registration() {
    let (events, _guard) = capture();
    let idp = start(ConsentMode::Auto).await;
    let reply = send(
        http()
            .post(format!("{}/register", idp.issuer()))
            .header(header::CONTENT_TYPE, "application/json")
            .body(json!({"redirect_uris": ["http://evil.example/cb"]}).to_string()),
    )
    .await;
    assert_eq!(reply.json()["error"], "invalid_redirect_uri");
    events.one_refused_for(RefusalReason::Registration);
    log_names(&idp, RefusalReason::Registration).await;
}

#[tokio::test]
async fn an_unknown_client_is_one_event_naming_client() {
    let (events, _guard) = capture();
    let idp = start(ConsentMode::Auto).await;
    let reply = authorize(&idp, &[("client_id", Some("nobody"))]).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let event = events.one_refused_for(RefusalReason::Client);
    assert_eq!(event["client"], "nobody");
    log_names(&idp, RefusalReason::Client).await;
}

#[tokio::test]
async fn an_invalid_access_token_is_one_event_naming_token() {
    let (events, _guard) = capture();
    let idp = start(ConsentMode::Auto).await;
    let reply = send(
        http()
            .get(format!("{}/userinfo", idp.issuer()))
            .bearer_auth("not-a-token"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    events.one_refused_for(RefusalReason::Token);
    log_names(&idp, RefusalReason::Token).await;
}

#[tokio::test]
async fn a_malformed_request_is_one_event_naming_request() {
    let (events, _guard) = capture();
    let idp = start(ConsentMode::Auto).await;
    let reply = post_form(
        idp.token_endpoint(),
        &[],
        Some(("conformance-client", "conformance-client-secret")),
    )
    .await;
    assert_eq!(reply.json()["error"], "invalid_request");
    let event = events.one_refused_for(RefusalReason::Request);
    assert!(event["description"].contains("grant_type"), "{event:?}");
    log_names(&idp, RefusalReason::Request).await;
}

/// Answers that refuse nothing have lines without a reason: a success, an injected fault, and
/// no line at all for the control API.
#[tokio::test]
async fn successes_and_faults_have_lines_without_a_reason() {
    let (events, _guard) = capture();
    let idp = start(ConsentMode::Auto).await;
    assert_eq!(
        send(http().get(format!("{}/jwks", idp.issuer())))
            .await
            .status,
        StatusCode::OK
    );
    idp.idp()
        .set_fault(FaultSpec {
            endpoint: FaultEndpoint::Token,
            fault: Fault::OauthError {
                error: "invalid_grant".into(),
                status: None,
                description: None,
            },
            times: Some(1),
            client_id: None,
        })
        .expect("fault");
    let faulted = post_form(
        idp.token_endpoint(),
        &[("grant_type", "client_credentials")],
        Some(("conformance-client", "conformance-client-secret")),
    )
    .await;
    assert_eq!(faulted.json()["error"], "invalid_grant");
    let control = send(http().get(format!("{}/info", idp.control_url()))).await;
    assert_eq!(control.status, StatusCode::OK);
    let all = events.all();
    assert_eq!(all.len(), 2, "{all:#?}");
    assert_eq!(all[0]["message"], "GET /jwks");
    assert_eq!(all[0]["outcome"], "ok");
    assert_eq!(all[1]["outcome"], "fault");
    assert_eq!(all[1]["fault"], "oauth-error");
    assert!(all.iter().all(|e| !e.contains_key("reason")), "{all:#?}");
    let log = idp.idp().requests(None);
    assert!(log.iter().all(|r| r.refusal.is_none()), "{log:#?}");
}
