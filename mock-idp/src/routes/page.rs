//! The page at `GET /` for people watching the IdP: the endpoints and clients to copy, the keys
//! and their states, the last requests with their outcome and the reason of every refusal, a
//! form that mints a token, and one that starts an authorization-code flow for a demo client.
//!
//! The page is read-only: it is served without CORS to requests that name the IdP in `Host`
//! (as the control API is, against DNS rebinding), never framed, and runs no script. Its two
//! forms post to control routes (`/_control/page/mint`, `/_control/page/demo`), which keep the
//! control API's guard (`Host`, `Origin`, `Sec-Fetch-Site`) and take a form instead of JSON: a
//! same-origin form is what a page can send without script. Since the JSON-only rule no longer
//! keeps other sites out of these two routes, they also need the page's CSRF token, in the form
//! and in a `SameSite=Strict` cookie; with a control token configured, the form carries it too
//! (typed into a password field, as a browser cannot add an `Authorization` header to a form).
//! Client secrets appear on the page only when no control token is configured (a loopback IdP,
//! whose ready line prints them anyway).
//!
//! The demo client is a confidential web application that lives on the IdP's own origin: the
//! IdP starts its flow with a PKCE pair it keeps (a page without script cannot compute S256),
//! sends the browser through the real authorization endpoint (consent page included), and at
//! `/_demo/callback` redeems the code at the real token endpoint, in process but through the
//! recorder, so the exchange is in the request log like any client's. Its secret is never shown
//! on the page (only the control API lists it), so a code sent to its callback is of no use to
//! whoever sees it there.

use std::fmt::Write as _;
use std::future::poll_fn;

use axum::body::Body;
use axum::extract::{OriginalUri, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use tower_service::Service;

use crate::api::{Audience, KeyInfo, MintRequest, RecordedRequest};
use crate::authz::clients::{AuthMethod, AuthMethods, ClientMetadata, ClientRecord, Origin};
use crate::authz::redirect::RedirectPolicy;
use crate::idp::Idp;
use crate::respond::{RawBody, escape};
use crate::routes::form::Form;
use crate::tokens::random_hex;

/// The cookie that carries the page's CSRF token (double submit).
const CSRF_COOKIE: &str = "mock_idp_page";
/// The demo client's id.
pub(crate) const DEMO_CLIENT: &str = "mock-idp-demo";
/// How many of the newest requests the page lists.
const SHOWN_REQUESTS: usize = 50;
/// How many clients the page lists.
const SHOWN_CLIENTS: usize = 50;
/// How long the demo callback waits for its own token endpoint.
const REDEEM_DEADLINE: std::time::Duration = std::time::Duration::from_secs(15);

/// Whether `path` (issuer-relative) is one of the page's own routes, which are neither recorded
/// nor faulted and answer only requests that name the IdP.
pub(crate) fn is_page(path: &str) -> bool {
    matches!(path, "/" | "/_demo/callback" | "/favicon.ico")
}

/// `GET /favicon.ico`: nothing, so that a browser showing the page does not fill the request log
/// with refused requests for an icon.
pub(crate) async fn favicon() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// Whether `path` (issuer-relative) is one of the page's form routes under the control API.
pub(crate) fn is_page_form(path: &str) -> bool {
    matches!(path, "/_control/page/mint" | "/_control/page/demo")
}

/// Where this issuer's routes are, as the browser addressed them: empty for the root issuer,
/// `/{name}` for a nested one (axum strips the prefix before the nested router sees the path).
fn prefix(original: &Uri, uri: &Uri) -> String {
    let full = original.path();
    let own = uri.path();
    full.strip_suffix(own)
        .or_else(|| full.strip_suffix(own.trim_end_matches('/')))
        .unwrap_or("")
        .trim_end_matches('/')
        .to_owned()
}

/// Another issuer of the same server, for the root page's links: its name and public URL.
pub(crate) type Sibling = (String, String);

/// `GET /`.
pub(crate) async fn home(
    State(idp): State<Idp>,
    siblings: std::sync::Arc<[Sibling]>,
    request: Request,
) -> Response {
    let original = request
        .extensions()
        .get::<OriginalUri>()
        .map_or_else(|| request.uri().clone(), |o| o.0.clone());
    let prefix = prefix(&original, request.uri());
    let Ok(csrf) = random_hex(16) else {
        return message(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Error",
            "no randomness",
            &prefix,
        );
    };
    let body = render_home(&idp, &siblings, &prefix, &csrf);
    let mut response = html(StatusCode::OK, body);
    let cookie =
        format!("{CSRF_COOKIE}={csrf}; Path={prefix}/_control/page; HttpOnly; SameSite=Strict");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

fn render_home(idp: &Idp, siblings: &[Sibling], prefix: &str, csrf: &str) -> String {
    let info = idp.info();
    let settings = &idp.authz().settings;
    let guarded = idp.control_token().is_some();
    let mut page = String::with_capacity(16 * 1024);
    let _ = write!(
        page,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>mock-idp: {issuer}</title><style>{STYLE}</style></head><body>\
         <h1>mock-idp <code id=\"issuer\">{issuer}</code></h1>\
         <p class=\"note\">A mock OAuth 2.1 / OpenID Connect authorization server for tests and \
         local development. This page only shows; the forms below use the control API.</p>",
        issuer = escape(&info.issuer),
    );
    if guarded {
        page.push_str(
            "<p class=\"note\" id=\"guarded\">This IdP has a control token: client secrets are \
             hidden, and the forms below need the token.</p>",
        );
    }

    // Endpoints to copy.
    page.push_str("<h2>Endpoints</h2><table id=\"endpoints\"><tbody>");
    let metadata = if settings.publishes_metadata() {
        info.metadata_url.clone()
    } else {
        format!(
            "{} (not published: persona {})",
            info.metadata_url, settings.persona
        )
    };
    let registration = info
        .registration_endpoint
        .clone()
        .unwrap_or_else(|| "none: pre-registered clients only".to_owned());
    let health = format!("{}/healthz", info.issuer);
    for (name, value) in [
        ("issuer", info.issuer.as_str()),
        ("metadata", metadata.as_str()),
        (
            "authorization_endpoint",
            info.authorization_endpoint.as_str(),
        ),
        ("token_endpoint", info.token_endpoint.as_str()),
        ("registration_endpoint", registration.as_str()),
        ("jwks_uri", info.jwks_uri.as_str()),
        ("userinfo_endpoint", info.userinfo_endpoint.as_str()),
        (
            "introspection_endpoint",
            info.introspection_endpoint.as_str(),
        ),
        ("revocation_endpoint", info.revocation_endpoint.as_str()),
        ("control API", info.control_url.as_str()),
        ("health", health.as_str()),
    ] {
        let _ = write!(
            page,
            "<tr><th>{}</th><td><code>{}</code></td></tr>",
            escape(name),
            escape(value)
        );
    }
    page.push_str("</tbody></table>");
    if !siblings.is_empty() {
        page.push_str("<p>Other issuers here: ");
        for (i, (name, url)) in siblings.iter().enumerate() {
            let _ = write!(
                page,
                "{}<a href=\"{prefix}/{name}\">{}</a> (<code>{}</code>)",
                if i == 0 { "" } else { ", " },
                escape(name),
                escape(url),
                prefix = escape(prefix),
                name = escape(name),
            );
        }
        page.push_str("</p>");
    }

    // The built-in clients and the configured, registered and fetched ones.
    let secret = |value: &str| {
        if guarded {
            "<span class=\"note\">(hidden)</span>".to_owned()
        } else {
            format!("<code>{}</code>", escape(value))
        }
    };
    let _ = write!(
        page,
        "<h2>Clients</h2><table id=\"builtin\"><tbody>\
         <tr><th>introspection (resource servers, HTTP Basic)</th><td><code>{}</code> / {}</td></tr>\
         <tr><th>client_credentials at the token endpoint</th><td><code>{}</code> / {}</td></tr>\
         </tbody></table>",
        escape(&info.introspection_client_id),
        secret(&info.introspection_client_secret),
        escape(&info.token_client_id),
        secret(&info.token_client_secret),
    );
    let clients = idp.clients();
    page.push_str(
        "<table id=\"clients\"><thead><tr><th>client_id</th><th>name</th><th>secret</th>\
         <th>authentication</th><th>grant types</th><th>redirect URIs</th></tr></thead><tbody>",
    );
    for client in clients.iter().take(SHOWN_CLIENTS) {
        let text = |key: &str| client.get(key).and_then(Value::as_str).unwrap_or_default();
        let list = |key: &str| {
            client
                .get(key)
                .and_then(Value::as_array)
                .map(|items| {
                    items
                        .iter()
                        .filter_map(Value::as_str)
                        .map(|s| format!("<code>{}</code>", escape(s)))
                        .collect::<Vec<_>>()
                        .join("<br>")
                })
                .unwrap_or_default()
        };
        let methods = match client.get("token_endpoint_auth_methods") {
            Some(_) => list("token_endpoint_auth_methods"),
            None => format!(
                "<code>{}</code>",
                escape(text("token_endpoint_auth_method"))
            ),
        };
        let client_secret = match client.get("client_secret").and_then(Value::as_str) {
            Some(_) if text("client_id") == DEMO_CLIENT => {
                "<span class=\"note\">(kept by the IdP)</span>".to_owned()
            }
            Some(value) => secret(value),
            None => "none (public)".to_owned(),
        };
        let _ = write!(
            page,
            "<tr><td><code>{}</code></td><td>{}</td><td>{client_secret}</td><td>{methods}</td>\
             <td>{}</td><td>{}</td></tr>",
            escape(text("client_id")),
            escape(text("client_name")),
            list("grant_types"),
            list("redirect_uris"),
        );
    }
    page.push_str("</tbody></table>");
    if clients.len() > SHOWN_CLIENTS {
        let _ = write!(
            page,
            "<p class=\"note\">and {} more (<code>GET /_control/clients</code>)</p>",
            clients.len() - SHOWN_CLIENTS
        );
    }

    // Keys.
    page.push_str("<h2>Signing keys</h2><table id=\"keys\"><thead><tr><th>kid</th><th>state</th></tr></thead><tbody>");
    for KeyInfo { kid, state } in idp.keys() {
        let _ = write!(
            page,
            "<tr><td><code>{}</code></td><td class=\"key-{state}\">{state}</td></tr>",
            escape(&kid)
        );
    }
    let _ = write!(
        page,
        "</tbody></table><p class=\"note\">Algorithm {}; the JWKS publishes the announced and the \
         active key.</p>",
        escape(settings.signing_alg.name())
    );

    // The last requests.
    let _ = write!(
        page,
        "<h2>Last requests</h2><p class=\"note\">The newest {SHOWN_REQUESTS}, newest first; the \
         whole log is <code>GET /_control/requests</code>. Reload to see more.</p>\
         <table id=\"requests\"><thead><tr><th>#</th><th>time (UTC)</th><th>request</th>\
         <th>client</th><th>status</th><th>outcome</th><th>reason</th><th>why</th></tr></thead><tbody>"
    );
    for entry in idp.newest_requests(SHOWN_REQUESTS) {
        page.push_str(&request_row(&entry));
    }
    page.push_str("</tbody></table>");

    // Mint a token.
    let token_field = if guarded {
        "<label>control token <input type=\"password\" name=\"control_token\" \
         autocomplete=\"off\" required></label>"
    } else {
        ""
    };
    let _ = write!(
        page,
        "<h2>Mint a token</h2>\
         <form method=\"post\" action=\"{prefix}/_control/page/mint\" id=\"mint\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label>audience <input type=\"text\" name=\"audience\" value=\"{audience}\" size=\"40\"></label>\
         <label>scope <input type=\"text\" name=\"scope\" value=\"\" size=\"20\"></label>\
         <label>subject <input type=\"text\" name=\"subject\" value=\"{subject}\" size=\"16\"></label>\
         <label>lifetime (s) <input type=\"number\" name=\"lifetime_secs\" value=\"300\" min=\"1\"></label>\
         {token_field}<button type=\"submit\" id=\"mint-button\">Mint a token</button></form>",
        prefix = escape(prefix),
        csrf = escape(csrf),
        audience = escape(idp.default_audience().unwrap_or_default()),
        subject = escape(&settings.default_subject),
    );

    // The demo flow.
    let _ = write!(
        page,
        "<h2>Try a login</h2><p>Starts the authorization-code flow with PKCE for a demo client \
         (<code>{DEMO_CLIENT}</code>, a confidential web application on this origin): the IdP \
         keeps its PKCE pair, sends your browser through the authorization endpoint{consent}, \
         then redeems the code at the token endpoint and shows what it got.</p>\
         <form method=\"post\" action=\"{prefix}/_control/page/demo\" id=\"demo\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">{token_field}\
         <button type=\"submit\" id=\"demo-button\">Start an authorization-code flow</button></form>\
         </body></html>",
        consent = if settings.consent == crate::authz::ConsentMode::Page {
            " and its consent page"
        } else {
            " (consent is automatic: start with --consent page to see the page)"
        },
        prefix = escape(prefix),
        csrf = escape(csrf),
    );
    page
}

/// One row of the request table.
fn request_row(entry: &RecordedRequest) -> String {
    let time = clock_time(entry.at_ms);
    let target = match &entry.query {
        Some(query) if !query.is_empty() => format!("{}?{}", entry.path, query),
        _ => entry.path.clone(),
    };
    // Long URLs (an authorization request) are cut for the table; the log has them whole.
    let target: String = if target.chars().count() > 120 {
        target
            .chars()
            .take(120)
            .chain(std::iter::once('…'))
            .collect()
    } else {
        target
    };
    let (outcome, reason, why) = match &entry.refusal {
        Some(refusal) => (
            "refused",
            refusal.reason.name(),
            format!(
                "<code>{}</code> {}",
                escape(&refusal.error),
                escape(refusal.description.as_deref().unwrap_or_default())
            ),
        ),
        None if entry.status == 0 => ("pending", "", String::new()),
        None if entry.status >= 500 => ("error", "", String::new()),
        None => ("ok", "", String::new()),
    };
    format!(
        "<tr class=\"{outcome}\"><td>{seq}</td><td>{time}</td><td class=\"req\"><code>{method} {target}</code></td>\
         <td>{client}</td><td>{status}</td><td>{outcome}</td><td class=\"reason\">{reason}</td>\
         <td class=\"why\">{why}</td></tr>",
        seq = entry.seq,
        method = escape(&entry.method),
        target = escape(&target),
        client = client_of(entry)
            .map(|c| format!("<code>{}</code>", escape(&c)))
            .unwrap_or_default(),
        status = entry.status,
    )
}

/// The client a recorded request names: HTTP Basic credentials, else `client_id` in its form body
/// or its query.
fn client_of(entry: &RecordedRequest) -> Option<String> {
    if let Some(value) = entry.headers.get("authorization")
        && let Some((scheme, payload)) = value.split_once(' ')
        && scheme.eq_ignore_ascii_case("basic")
        && let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(payload.trim())
        && let Ok(decoded) = String::from_utf8(decoded)
        && let Some((id, _)) = decoded.split_once(':')
    {
        return url::form_urlencoded::parse(format!("c={id}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned());
    }
    let find = |text: &str| {
        url::form_urlencoded::parse(text.as_bytes())
            .find(|(k, _)| k == "client_id")
            .map(|(_, v)| v.into_owned())
    };
    let form = entry
        .headers
        .get("content-type")
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    form.then(|| find(&entry.body))
        .flatten()
        .or_else(|| entry.query.as_deref().and_then(find))
}

/// `HH:MM:SS.mmm` of a Unix time in milliseconds, UTC.
fn clock_time(at_ms: u64) -> String {
    let day_ms = at_ms % 86_400_000;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        day_ms / 3_600_000,
        day_ms / 60_000 % 60,
        day_ms / 1_000 % 60,
        day_ms % 1_000
    )
}

/// The checks both forms share: the CSRF token in the form and in the cookie, and the control
/// token when one is configured (from the form's password field, or a bearer header for a
/// program). `Err` is the page to answer.
fn checked_form<'a>(
    idp: &Idp,
    headers: &HeaderMap,
    body: &'a [u8],
    prefix: &str,
) -> Result<Form<'a>, Box<Response>> {
    let form = Form::parse(headers, body).map_err(|e| {
        Box::new(message(
            StatusCode::BAD_REQUEST,
            "Not a form",
            e.description().unwrap_or_default(),
            prefix,
        ))
    })?;
    let cookie = cookie(headers, CSRF_COOKIE);
    let csrf_ok = match (form.get("csrf"), cookie.as_deref()) {
        (Some(sent), Some(kept)) => crate::secret::same_secret(sent.as_bytes(), kept.as_bytes()),
        _ => false,
    };
    if !csrf_ok {
        return Err(Box::new(message(
            StatusCode::FORBIDDEN,
            "Form refused",
            "The form's CSRF token is missing or does not match its cookie: reload the page and \
             send the form again.",
            prefix,
        )));
    }
    if let Some(expected) = idp.control_token() {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        let presented = form.get("control_token").or(bearer);
        if !presented.is_some_and(|token| crate::secret::same_secret(token.as_bytes(), expected)) {
            let mut response = message(
                StatusCode::UNAUTHORIZED,
                "Control token needed",
                "This IdP has a control token, and the form did not carry it (or carried \
                 another).",
                prefix,
            );
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"mock-idp control API\""),
            );
            return Err(Box::new(response));
        }
    }
    Ok(form)
}

/// `POST /_control/page/mint`: the page's mint form; answers a page with the token.
pub(crate) async fn page_mint(
    State(idp): State<Idp>,
    OriginalUri(original): OriginalUri,
    uri: Uri,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Response {
    let prefix = form_prefix(&original, &uri);
    let form = match checked_form(&idp, &headers, &body, &prefix) {
        Ok(form) => form,
        Err(page) => return *page,
    };
    let lifetime = match form.get("lifetime_secs").map(str::parse::<i64>) {
        None => None,
        Some(Ok(secs)) => Some(secs),
        Some(Err(_)) => {
            return message(
                StatusCode::BAD_REQUEST,
                "Not minted",
                "The lifetime must be a whole number of seconds.",
                &prefix,
            );
        }
    };
    let request = MintRequest {
        audience: form.get("audience").map(|a| Audience::One(a.to_owned())),
        scope: form.get("scope").map(str::to_owned),
        subject: form.get("subject").map(str::to_owned),
        lifetime_secs: lifetime,
        ..MintRequest::default()
    };
    let minted = match idp.mint(&request) {
        Ok(minted) => minted,
        Err(err) => {
            return message(
                StatusCode::BAD_REQUEST,
                "Not minted",
                &err.to_string(),
                &prefix,
            );
        }
    };
    let pretty = |value: &Value| serde_json::to_string_pretty(value).unwrap_or_default();
    let body = format!(
        "<h1>Minted</h1><p>An access token signed by <code>{kid}</code>; introspection knows it \
         until it expires.</p><h2>Token</h2><textarea id=\"token\" readonly rows=\"6\" cols=\"100\">{token}</textarea>\
         <h2>Header</h2><pre>{header}</pre><h2>Claims</h2><pre id=\"claims\">{claims}</pre>",
        kid = escape(minted.kid.as_deref().unwrap_or("none")),
        token = escape(&minted.token),
        header = escape(&pretty(&Value::from(minted.header.unwrap_or_default()))),
        claims = escape(&pretty(&Value::Object(minted.claims))),
    );
    html(StatusCode::OK, shell("Minted token", &body, &prefix))
}

/// `POST /_control/page/demo`: starts the demo client's flow and sends the browser to the
/// authorization endpoint.
pub(crate) async fn page_demo(
    State(idp): State<Idp>,
    OriginalUri(original): OriginalUri,
    uri: Uri,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Response {
    let prefix = form_prefix(&original, &uri);
    if let Err(page) = checked_form(&idp, &headers, &body, &prefix) {
        return *page;
    }
    let redirect_uri = format!("{}/_demo/callback", idp.issuer());
    if ensure_demo_client(&idp, &redirect_uri).is_none() {
        return message(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Error",
            "no randomness",
            &prefix,
        );
    }
    let (Ok(state), Ok(verifier)) = (random_hex(16), random_hex(32)) else {
        return message(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Error",
            "no randomness",
            &prefix,
        );
    };
    let challenge = URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        verifier.as_bytes(),
    ));
    idp.start_demo_flow(state.clone(), verifier);
    let mut location = url::Url::parse(&idp.info().authorization_endpoint)
        .unwrap_or_else(|_| url::Url::parse("http://127.0.0.1/authorize").expect("a URL"));
    location
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", DEMO_CLIENT)
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("scope", "openid")
        .append_pair("state", &state)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location.as_str()) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The demo client, registered the first time a demo starts: confidential (its secret stays on
/// the server), redirect URI exactly the callback. `None` when no secret could be made.
fn ensure_demo_client(idp: &Idp, redirect_uri: &str) -> Option<()> {
    let existing = idp.authz().client(DEMO_CLIENT);
    if existing.is_some_and(|c| c.redirect_uris == [redirect_uri] && c.client_secret.is_some()) {
        return Some(());
    }
    let secret = random_hex(24).ok()?;
    idp.authz().clients_mut().insert(ClientRecord {
        client_id: DEMO_CLIENT.to_owned(),
        client_secret: Some(secret),
        auth_method: AuthMethod::ClientSecretPost,
        accepted: AuthMethods::SECRETS,
        redirect_uris: vec![redirect_uri.to_owned()],
        grant_types: vec!["authorization_code".to_owned()],
        scope: None,
        redirect_policy: RedirectPolicy::Strict,
        client_name: Some("mock-idp demo (the / page)".to_owned()),
        origin: Origin::Configured,
        registration_access_token: None,
        issued_at: idp.now(),
        metadata: ClientMetadata::default(),
    });
    Some(())
}

/// `GET /_demo/callback`: where the demo client's flow comes back; redeems the code and shows
/// the answer.
pub(crate) async fn demo_callback(
    State(idp): State<Idp>,
    OriginalUri(original): OriginalUri,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Response {
    let prefix = prefix(&original, &uri)
        .strip_suffix("/_demo/callback")
        .map(str::to_owned)
        .unwrap_or_else(|| prefix(&original, &uri));
    let params: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let Some(verifier) = params
        .get("state")
        .and_then(|state| idp.finish_demo_flow(state))
    else {
        return message(
            StatusCode::BAD_REQUEST,
            "Unknown demo flow",
            "This callback does not belong to a demo flow this IdP started in the last ten \
             minutes (or it was already used): start it again from the page.",
            &prefix,
        );
    };
    if let Some(error) = params.get("error") {
        let body = format!(
            "<h1>The authorization was refused</h1><p><code id=\"error\">{}</code> {}</p>\
             <p>The page's request table says why, too.</p>",
            escape(error),
            escape(params.get("error_description").map_or("", String::as_str)),
        );
        return html(StatusCode::OK, shell("Demo login refused", &body, &prefix));
    }
    let Some(code) = params.get("code") else {
        return message(
            StatusCode::BAD_REQUEST,
            "No code",
            "The callback carries neither a code nor an error.",
            &prefix,
        );
    };
    let answer = redeem(&idp, code, &verifier).await;
    let token = answer
        .as_ref()
        .ok()
        .and_then(|v| v.get("access_token"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let shown = match &answer {
        Ok(value) => serde_json::to_string_pretty(value).unwrap_or_default(),
        Err(problem) => problem.clone(),
    };
    let Some(token) = token else {
        // The token endpoint refused (a code that expired on the consent page, a fault armed
        // through the control API): say so, with its answer.
        let body = format!(
            "<h1>The code exchange was refused</h1><p>The demo client received the authorization              code <code id=\"code\">{code}</code>, but the token endpoint did not issue a token;              the page's request table says why, too.</p><h2>Token response</h2>\
             <pre id=\"token-response\">{shown}</pre>",
            code = escape(code),
            shown = escape(&shown),
        );
        return html(StatusCode::OK, shell("Demo login refused", &body, &prefix));
    };
    let introspected =
        serde_json::to_string_pretty(&Value::Object(idp.introspect(&token))).unwrap_or_default();
    let body = format!(
        "<h1>Logged in</h1><p>The demo client received the authorization code \
         <code id=\"code\">{code}</code> (with <code>iss</code> <code>{iss}</code>) and redeemed it \
         at the token endpoint with its PKCE verifier and secret.</p>\
         <h2>Token response</h2><pre id=\"token-response\">{shown}</pre>\
         <h2>The access token, introspected</h2><pre id=\"introspection\">{introspected}</pre>",
        code = escape(code),
        iss = escape(params.get("iss").map_or("(none)", String::as_str)),
        shown = escape(&shown),
        introspected = escape(&introspected),
    );
    html(StatusCode::OK, shell("Demo login", &body, &prefix))
}

/// Redeems a demo code at this issuer's own token endpoint, in process but through the recorder
/// (the exchange is in the request log), as the demo client.
async fn redeem(idp: &Idp, code: &str, verifier: &str) -> Result<Value, String> {
    let secret = idp
        .authz()
        .client(DEMO_CLIENT)
        .and_then(|c| c.client_secret)
        .ok_or("the demo client is gone")?;
    let redirect_uri = format!("{}/_demo/callback", idp.issuer());
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", code)
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("client_id", DEMO_CLIENT)
        .append_pair("client_secret", &secret)
        .append_pair("code_verifier", verifier)
        .finish();
    let host = url::Url::parse(idp.issuer())
        .ok()
        .and_then(|u| {
            u.host_str().map(|h| {
                format!(
                    "{h}{}",
                    u.port().map(|p| format!(":{p}")).unwrap_or_default()
                )
            })
        })
        .unwrap_or_default();
    let request = Request::builder()
        .method(Method::POST)
        .uri("/token")
        .header(header::HOST, host)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "application/json")
        .header(header::USER_AGENT, "mock-idp demo client")
        .body(Body::from(body))
        .map_err(|e| e.to_string())?;
    let mut app = crate::routes::app(idp.clone(), None);
    let Ok(()) = poll_fn(|cx| Service::<Request>::poll_ready(&mut app, cx)).await;
    // A `hang` or `delay` fault armed on the token endpoint must not hold the page for minutes.
    let answered =
        tokio::time::timeout(REDEEM_DEADLINE, Service::<Request>::call(&mut app, request)).await;
    let Ok(Ok(response)) = answered else {
        return Err(format!(
            "the token endpoint did not answer within {} s",
            REDEEM_DEADLINE.as_secs()
        ));
    };
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .map_err(|e| e.to_string())?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|_| format!("HTTP {status}: {}", String::from_utf8_lossy(&bytes)))?;
    Ok(value)
}

/// The prefix of a form route (`{prefix}/_control/page/...`).
fn form_prefix(original: &Uri, uri: &Uri) -> String {
    let full = original.path();
    full.find("/_control/page/")
        .map(|at| full[..at].to_owned())
        .unwrap_or_else(|| prefix(original, uri))
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5rem;max-width:80rem}\
code,pre,textarea{font-family:ui-monospace,monospace;font-size:.9em}\
pre{white-space:pre-wrap;overflow-wrap:anywhere}textarea{width:100%}\
table{border-collapse:collapse;margin:.5rem 0}th,td{border:1px solid #ccc;padding:.2rem .4rem;\
text-align:left;vertical-align:top}thead th{background:#f0f0f0}.note{color:#555}\
tr.refused td{background:#fff0f0}tr.error td{background:#fff6e0}td.reason{font-weight:bold}\
td.req{max-width:26rem;overflow-wrap:anywhere}td.why{min-width:16rem;max-width:32rem;\
overflow-wrap:anywhere}label{margin-right:.8rem}\
form{margin:.5rem 0}.key-active{font-weight:bold}";

/// A whole page around `body`, with a link back to the main page.
fn shell(title: &str, body: &str, prefix: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>mock-idp: {title}</title>\
         <style>{STYLE}</style></head><body>{body}<p><a href=\"{back}\" id=\"back\">Back to the IdP's page</a></p></body></html>",
        title = escape(title),
        back = escape(if prefix.is_empty() { "/" } else { prefix }),
    )
}

fn message(status: StatusCode, title: &str, text: &str, prefix: &str) -> Response {
    let body = format!(
        "<h1>{}</h1><p id=\"message\">{}</p>",
        escape(title),
        escape(text)
    );
    html(status, shell(title, &body, prefix))
}

/// An HTML answer that runs no script, cannot be framed and is not cached.
fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Not `no-referrer`: with it a browser sends `Origin: null` on the forms' posts, which the
    // control API's guard refuses as another origin.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_of_nested_and_root_routes() {
        let uri = |s: &str| s.parse::<Uri>().expect("uri");
        assert_eq!(prefix(&uri("/"), &uri("/")), "");
        assert_eq!(prefix(&uri("/second"), &uri("/")), "/second");
        assert_eq!(prefix(&uri("/second/"), &uri("/")), "/second");
        assert_eq!(
            form_prefix(
                &uri("/second/_control/page/mint"),
                &uri("/_control/page/mint")
            ),
            "/second"
        );
        assert_eq!(
            form_prefix(&uri("/_control/page/mint"), &uri("/_control/page/mint")),
            ""
        );
    }

    #[test]
    fn times_and_clients_of_recorded_requests() {
        assert_eq!(clock_time(86_400_000 + 3_723_004), "01:02:03.004");
        let mut entry = RecordedRequest {
            seq: 1,
            at_ms: 0,
            endpoint: crate::api::EndpointKind::Token,
            method: "POST".into(),
            path: "/token".into(),
            query: Some("client_id=q".into()),
            headers: Default::default(),
            body: "client_id=f".into(),
            status: 200,
            refusal: None,
        };
        assert_eq!(
            client_of(&entry).as_deref(),
            Some("q"),
            "a body that is not a form"
        );
        entry.headers.insert(
            "content-type".into(),
            "application/x-www-form-urlencoded".into(),
        );
        assert_eq!(client_of(&entry).as_deref(), Some("f"));
        entry
            .headers
            .insert("authorization".into(), "Basic bXkrYXBwOnNlY3JldA==".into());
        assert_eq!(client_of(&entry).as_deref(), Some("my app"));
    }

    #[test]
    fn a_row_escapes_what_clients_sent() {
        let entry = RecordedRequest {
            seq: 7,
            at_ms: 0,
            endpoint: crate::api::EndpointKind::Authorize,
            method: "GET".into(),
            path: "/authorize".into(),
            query: Some("client_id=%3Cscript%3Ealert(1)%3C/script%3E".into()),
            headers: Default::default(),
            body: String::new(),
            status: 400,
            refusal: Some(crate::api::Refusal {
                reason: crate::api::RefusalReason::Client,
                error: "invalid_request".into(),
                description: Some("unknown client_id \"<script>alert(1)</script>\"".into()),
            }),
        };
        let row = request_row(&entry);
        assert!(!row.contains("<script>"), "{row}");
        assert!(row.contains("&lt;script&gt;"), "{row}");
        assert!(row.contains(">client<"), "{row}");
    }
}
