//! `GET|POST /authorize` and the consent page's `POST /authorize/decision`: the authorization
//! code flow's front channel (OAuth 2.1 §4.1.1, RFC 7636, RFC 8707, RFC 9207).

use std::collections::HashSet;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::api::RefusalReason;
use crate::authz::cimd;
use crate::authz::{
    AuthorizeParams, AuthorizeRequest, AuthorizeStep, CONSENT_TTL_SECS, ConsentMode,
    PendingConsent, error_redirect,
};
use crate::idp::Idp;
use crate::oauth_error::OAuthError;
use crate::respond::{RawBody, escape};
use crate::routes::form::{Distinct, MAX_PARAMS, too_many_parameters};
use crate::tokens::random_hex;

/// The cookie that carries the consent page's CSRF token (double submit).
const CSRF_COOKIE: &str = "mock_idp_csrf";
/// The `consent-remembered-per-browser` defect's cookie.
const REMEMBERED_COOKIE: &str = "mock_idp_consented";

pub(crate) async fn authorize(
    State(idp): State<Idp>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    RawBody(body): RawBody,
) -> Response {
    // OIDC allows POST with a form body; GET carries the query.
    let raw: &[u8] = if method == Method::POST {
        &body
    } else {
        query.as_deref().unwrap_or_default().as_bytes()
    };
    let params = match parse_params(raw) {
        Ok(params) => params,
        Err(error) => return error_page(&headers, error),
    };
    let client = match params.client_id.as_deref() {
        None => None,
        Some(id) => match idp.authz().client(id) {
            Some(client) => Some(client),
            None if idp.authz().settings.client_id_metadata_documents
                && !idp
                    .authz()
                    .settings
                    .has(crate::authz::AsDefect::CimdAdvertisedOnly)
                && cimd::is_url_client_id(id) =>
            {
                let settings = &idp.authz().settings;
                let allow_private = settings.allow_private_metadata_urls;
                let lax = cimd::Lax::of(settings);
                match cimd::fetch(id, allow_private, idp.now(), lax).await {
                    Ok(mut client) => {
                        if settings.has(crate::authz::AsDefect::CimdRedirectUnchecked) {
                            client.redirect_policy = crate::authz::redirect::RedirectPolicy::Any;
                        }
                        idp.authz().clients_mut().insert(client.clone());
                        Some(client)
                    }
                    // The redirect URI cannot be trusted without the document: no redirect.
                    Err(error) => {
                        return error_page(&headers, error.because(RefusalReason::Registration));
                    }
                }
            }
            None => None,
        },
    };
    match idp.authz().check_authorize(&params, client, idp.issuer()) {
        AuthorizeStep::ErrorPage(error) => error_page(&headers, error),
        AuthorizeStep::Redirect(location, error) => {
            let mut response = redirect(StatusCode::FOUND, &location);
            error.mark(&mut response);
            response
        }
        AuthorizeStep::Consent(request) => match idp.authz().settings.consent {
            ConsentMode::Auto => {
                let subject = idp.authz().settings.default_subject.clone();
                approve(
                    &idp,
                    &request,
                    &subject,
                    &request.scope.clone(),
                    StatusCode::FOUND,
                )
            }
            // The defect: a browser that approved once is never asked again, whatever the client.
            ConsentMode::Page
                if cookie(&headers, REMEMBERED_COOKIE).is_some()
                    && idp
                        .authz()
                        .settings
                        .has(crate::authz::AsDefect::ConsentRememberedPerBrowser) =>
            {
                let subject = idp.authz().settings.default_subject.clone();
                approve(
                    &idp,
                    &request,
                    &subject,
                    &request.scope.clone(),
                    StatusCode::FOUND,
                )
            }
            ConsentMode::Page => consent_page(&idp, *request),
        },
    }
}

fn approve(
    idp: &Idp,
    request: &AuthorizeRequest,
    subject: &str,
    scope: &str,
    status: StatusCode,
) -> Response {
    let code = match random_hex(24) {
        Ok(code) => code,
        Err(_) => {
            return OAuthError::server_error(StatusCode::INTERNAL_SERVER_ERROR).into_response();
        }
    };
    let location = idp
        .authz()
        .approve(request, subject, scope, code, idp.now(), idp.issuer());
    redirect(status, &location)
}

fn parse_params(raw: &[u8]) -> Result<AuthorizeParams, OAuthError> {
    let mut params = AuthorizeParams::default();
    let mut seen = Distinct::default();
    for (count, (name, value)) in url::form_urlencoded::parse(raw).enumerate() {
        if count >= MAX_PARAMS {
            return Err(too_many_parameters());
        }
        if value.is_empty() {
            continue;
        }
        seen.check(&name)?;
        let value = value.into_owned();
        match name.as_ref() {
            "client_id" => params.client_id = Some(value),
            "redirect_uri" => params.redirect_uri = Some(value),
            "response_type" => params.response_type = Some(value),
            "scope" => params.scope = Some(value),
            "state" => params.state = Some(value),
            "code_challenge" => params.code_challenge = Some(value),
            "code_challenge_method" => params.code_challenge_method = Some(value),
            "resource" => params.resources.push(value),
            "nonce" => params.nonce = Some(value),
            // Unknown parameters are ignored (RFC 6749 §3.1).
            _ => {}
        }
    }
    Ok(params)
}

fn redirect(status: StatusCode, location: &str) -> Response {
    let mut response = status.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// An error that must not be redirected: JSON for programs, a page for browsers.
fn error_page(headers: &HeaderMap, error: OAuthError) -> Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if !wants_html {
        return error.into_response();
    }
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Authorization error</title></head>\
         <body><h1>Authorization error</h1><p><code id=\"error\">{}</code></p><p id=\"error_description\">{}</p>\
         <p>The request was not sent back to the application because its client or redirect URI could not be trusted.</p></body></html>",
        escape(error.code()),
        escape(error.description().unwrap_or_default())
    );
    let mut response = html(error.status(), body, None, false);
    error.mark(&mut response);
    response
}

fn html(status: StatusCode, body: String, cookie: Option<String>, frameable: bool) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // The page must not be framed (clickjacking, RFC 6749 §10.13).
    if !frameable {
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("frame-ancestors 'none'"),
        );
    }
    if let Some(cookie) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.insert(header::SET_COOKIE, cookie);
    }
    response
}

/// For a client known only by its metadata document whose redirect URIs are all on this
/// computer: anyone can publish such a document, so the page says where the code will go
/// (MCP 2025-11-25, Client ID Metadata Documents: localhost redirect URI risks).
fn localhost_warning(request: &AuthorizeRequest) -> String {
    let loopback = |uri: &String| {
        url::Url::parse(uri)
            .is_ok_and(|u| matches!(u.host_str(), Some("127.0.0.1" | "[::1]" | "localhost")))
    };
    let client = &request.client;
    if client.origin != crate::authz::clients::Origin::MetadataDocument
        || !client.redirect_uris.iter().all(loopback)
    {
        return String::new();
    }
    "<p id=\"localhost-warning\"><strong>Warning:</strong> this application sends the authorization to a program on your own computer. Approve only if you started it yourself.</p>".to_owned()
}

fn consent_page(idp: &Idp, request: AuthorizeRequest) -> Response {
    let (Ok(id), Ok(csrf)) = (random_hex(16), random_hex(16)) else {
        return OAuthError::server_error(StatusCode::INTERNAL_SERVER_ERROR).into_response();
    };
    let vague = idp
        .authz()
        .settings
        .has(crate::authz::AsDefect::ConsentPageVague);
    let client_label = if vague {
        "An application".to_owned()
    } else {
        request
            .client
            .client_name
            .clone()
            .unwrap_or_else(|| request.client.client_id.clone())
    };
    let scopes: String = request
        .scope
        .split_ascii_whitespace()
        .map(|s| {
            let s = escape(s);
            format!(
                "<li><label><input type=\"checkbox\" name=\"scope\" value=\"{s}\" checked> {s}</label></li>"
            )
        })
        .collect();
    let resources: String = request
        .resources
        .iter()
        .map(|r| format!("<li><code>{}</code></li>", escape(r)))
        .collect();
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Sign in to mock-idp</title></head><body>\
         <h1>Sign in and approve</h1>\
         <p><strong id=\"client\">{client}</strong> asks for access{resources_intro}</p>{resources_list}\
         <form method=\"post\" action=\"{action}\" id=\"consent\">\
         <input type=\"hidden\" name=\"request_id\" value=\"{id}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <p><label>Subject (user) <input type=\"text\" name=\"subject\" id=\"subject\" value=\"{subject}\"></label></p>\
         <fieldset><legend>Scopes</legend><ul>{scopes}</ul></fieldset>\
         <button type=\"submit\" name=\"decision\" value=\"approve\" id=\"approve\">Approve</button> \
         <button type=\"submit\" name=\"decision\" value=\"deny\" id=\"deny\">Deny</button>\
         </form>{redirect}</body></html>",
        client = escape(&client_label),
        resources_intro = if resources.is_empty() { "" } else { " to:" },
        resources_list = if resources.is_empty() {
            String::new()
        } else {
            format!("<ul id=\"resources\">{resources}</ul>")
        },
        action = escape(&format!("{}/authorize/decision", idp.issuer())),
        subject = escape(&idp.authz().settings.default_subject),
        redirect = if vague {
            String::new()
        } else {
            format!(
                "<p>Redirects to <code>{}</code></p>{}",
                escape(&request.redirect_uri),
                localhost_warning(&request)
            )
        },
    );
    let now = idp.now();
    idp.authz().park(
        PendingConsent {
            request,
            csrf: csrf.clone(),
            expires_at: now.saturating_add(CONSENT_TTL_SECS),
        },
        id,
        now,
    );
    let settings = &idp.authz().settings;
    // Script on the page must not read the token, and other sites must not send it.
    let cookie = if settings.has(crate::authz::AsDefect::ConsentCookieLoose) {
        format!("{CSRF_COOKIE}={csrf}; Path=/")
    } else {
        format!("{CSRF_COOKIE}={csrf}; Path=/; HttpOnly; SameSite=Lax")
    };
    let frameable = settings.has(crate::authz::AsDefect::ConsentFrameable);
    html(StatusCode::OK, body, Some(cookie), frameable)
}

/// `POST /authorize/decision`: the consent form's answer.
pub(crate) async fn decision(
    State(idp): State<Idp>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Response {
    let mut request_id = None;
    let mut csrf = None;
    let mut subject = None;
    let mut decision = None;
    let mut scopes: Vec<String> = Vec::new();
    for (count, (name, value)) in url::form_urlencoded::parse(&body).enumerate() {
        if count >= MAX_PARAMS {
            return error_page(&headers, too_many_parameters());
        }
        match name.as_ref() {
            "request_id" => request_id = Some(value.into_owned()),
            "csrf" => csrf = Some(value.into_owned()),
            "subject" => subject = Some(value.trim().to_owned()),
            "decision" => decision = Some(value.into_owned()),
            "scope" => scopes.push(value.into_owned()),
            _ => {}
        }
    }
    let Some(pending) = request_id.and_then(|id| idp.authz().unpark(&id, idp.now())) else {
        return error_page(
            &headers,
            OAuthError::invalid_request(
                "this consent page has expired or was already answered; start the login again",
            )
            .because(RefusalReason::Consent),
        );
    };
    let cookie_csrf = cookie(&headers, CSRF_COOKIE);
    let csrf_ok = (csrf.as_deref() == Some(pending.csrf.as_str())
        && cookie_csrf.as_deref() == Some(pending.csrf.as_str()))
        || idp
            .authz()
            .settings
            .has(crate::authz::AsDefect::ConsentNoCsrf);
    if !csrf_ok {
        return error_page(
            &headers,
            OAuthError::new(StatusCode::FORBIDDEN, "access_denied")
                .with_description("the consent form's CSRF token is missing or does not match"),
        );
    }
    let request = pending.request;
    if decision.as_deref() != Some("approve") {
        let error = OAuthError::new(StatusCode::FOUND, "access_denied")
            .with_description("the user denied the request");
        let location = error_redirect(
            &request.redirect_uri,
            &error,
            request.state.as_deref(),
            idp.issuer(),
        );
        let mut response = redirect(StatusCode::SEE_OTHER, &location);
        error.mark(&mut response);
        return response;
    }
    // Only scopes that were asked for can be granted; unticking narrows the grant.
    let asked: HashSet<&str> = request.scope.split_ascii_whitespace().collect();
    let granted: Vec<&str> = scopes
        .iter()
        .map(String::as_str)
        .filter(|s| asked.contains(s))
        .collect();
    let subject = subject
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| idp.authz().settings.default_subject.clone());
    let mut response = approve(
        &idp,
        &request,
        &subject,
        &granted.join(" "),
        StatusCode::SEE_OTHER,
    );
    if idp
        .authz()
        .settings
        .has(crate::authz::AsDefect::ConsentRememberedPerBrowser)
    {
        response.headers_mut().append(
            header::SET_COOKIE,
            HeaderValue::from_static("mock_idp_consented=1; Path=/; HttpOnly; SameSite=Lax"),
        );
    }
    response
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_parse_with_repeated_resources_only() {
        let p = parse_params(b"client_id=a&resource=x&resource=y&scope=a+b&unknown=1").expect("ok");
        assert_eq!(p.client_id.as_deref(), Some("a"));
        assert_eq!(p.resources, ["x", "y"]);
        assert_eq!(p.scope.as_deref(), Some("a b"));
        assert!(parse_params(b"client_id=a&client_id=b").is_err());
        let many: String = (0..=MAX_PARAMS).map(|i| format!("x{i}=1&")).collect();
        assert_eq!(
            parse_params(many.as_bytes()).expect_err("too many").code(),
            "invalid_request"
        );
    }

    #[test]
    fn html_is_escaped_and_cookies_read() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; mock_idp_csrf=abc; b=2"),
        );
        assert_eq!(cookie(&headers, CSRF_COOKIE).as_deref(), Some("abc"));
    }
}
