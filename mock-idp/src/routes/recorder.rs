//! The middleware in front of every protocol endpoint: it reads the body (at most 64 KiB), records
//! the request, applies an injected fault, and records the status answered.
//! Control API requests pass through untouched.

use std::future::poll_fn;
use std::pin::Pin;
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::api::Fault;
use crate::faults::{GARBAGE_BODY, MAX_HOLD};
use crate::idp::Idp;
use crate::log::{BODY_CAP, capture, classify};
use crate::oauth_error::OAuthError;

pub(crate) async fn record(State(idp): State<Idp>, request: Request, next: Next) -> Response {
    if let Some(answer) = crate::routes::preflight(&request) {
        return answer;
    }
    let mut response = record_inner(idp, request, next).await;
    crate::routes::allow_any_origin(&mut response);
    response
}

async fn record_inner(idp: Idp, request: Request, next: Next) -> Response {
    let Some(endpoint) = classify(request.uri().path()) else {
        // The control API is not recorded, but its bodies are read and capped the same way: a
        // handler that ignores an oversized body would otherwise leave the client blocked
        // sending it while a large answer is written, and the connection would be cut.
        let (parts, body) = request.into_parts();
        return match read_capped(body, BODY_CAP).await {
            Ok((bytes, false)) => {
                next.run(Request::from_parts(parts, Body::from(bytes)))
                    .await
            }
            Ok((_, true)) => OAuthError::payload_too_large().into_response(),
            Err(()) => {
                OAuthError::invalid_request("could not read the request body").into_response()
            }
        };
    };
    let (parts, body) = request.into_parts();
    let (bytes, refusal) = match read_capped(body, BODY_CAP).await {
        Ok((bytes, false)) => (bytes, None),
        Ok((bytes, true)) => (bytes, Some(OAuthError::payload_too_large())),
        Err(()) => (
            Bytes::new(),
            Some(OAuthError::invalid_request(
                "could not read the request body",
            )),
        ),
    };
    let seq = idp.record(capture(&parts, endpoint, &bytes));

    // Reading the client out of the request costs a parse; only client-scoped faults need it.
    let client = if idp.has_client_faults() {
        client_of(&parts, &bytes)
    } else {
        None
    };
    let response = match idp.take_fault(endpoint, client.as_deref()) {
        Some(Fault::Status { status }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            OAuthError::server_error(status).into_response()
        }
        Some(Fault::Garbage) => {
            let mut response = Response::new(Body::from(GARBAGE_BODY));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        Some(Fault::Hang) => {
            hold(&idp, MAX_HOLD).await;
            OAuthError::server_error(StatusCode::SERVICE_UNAVAILABLE)
                .with_description("hang fault released")
                .into_response()
        }
        Some(Fault::Delay { ms }) => {
            hold(&idp, Duration::from_millis(ms)).await;
            proceed(Request::from_parts(parts, Body::from(bytes)), refusal, next).await
        }
        Some(Fault::OauthError {
            error,
            status,
            description,
        }) => {
            let status = status
                .and_then(|s| StatusCode::from_u16(s).ok())
                .unwrap_or(StatusCode::BAD_REQUEST);
            let mut body = serde_json::json!({ "error": error });
            if let Some(description) = description {
                body["error_description"] = serde_json::json!(description);
            }
            let mut response = (status, body.to_string()).into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        Some(Fault::Truncated) => {
            let real = proceed(Request::from_parts(parts, Body::from(bytes)), refusal, next).await;
            rewrite_body(real, |body| {
                let half = body.len() / 2;
                (body.slice(..half), None)
            })
            .await
        }
        Some(Fault::FormEncoded) => {
            let real = proceed(Request::from_parts(parts, Body::from(bytes)), refusal, next).await;
            rewrite_body(real, |body| {
                (
                    Bytes::from(json_as_form(&body)),
                    Some("application/x-www-form-urlencoded"),
                )
            })
            .await
        }
        Some(Fault::Html) => {
            let mut response = Response::new(Body::from(HTML_BODY));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            response
        }
        None => proceed(Request::from_parts(parts, Body::from(bytes)), refusal, next).await,
    };
    idp.record_status(seq, response.status().as_u16());
    response
}

/// The body of an `html` fault: what a login wall or a proxy's error page looks like.
const HTML_BODY: &str = "<!doctype html><html><head><title>Sign in</title></head><body><h1>Please sign in</h1></body></html>";

/// The largest real answer a body-rewriting fault reads.
const REWRITE_CAP: usize = 1 << 20;

/// Replaces the body of `response` (and its content type, when given).
async fn rewrite_body(
    response: Response,
    change: impl FnOnce(Bytes) -> (Bytes, Option<&'static str>),
) -> Response {
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, REWRITE_CAP).await else {
        return OAuthError::server_error(StatusCode::INTERNAL_SERVER_ERROR).into_response();
    };
    let (bytes, content_type) = change(bytes);
    parts.headers.remove(header::CONTENT_LENGTH);
    if let Some(content_type) = content_type {
        parts
            .headers
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// A flat JSON object as a form: strings as they are, other values as JSON text. Anything that
/// is not an object becomes an empty form.
fn json_as_form(body: &[u8]) -> String {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(body) else {
        return String::new();
    };
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in &map {
        match value {
            serde_json::Value::String(s) => form.append_pair(key, s),
            other => form.append_pair(key, &other.to_string()),
        };
    }
    form.finish()
}

/// The client a request names: Basic credentials, else `client_id` in the form or the query.
fn client_of(parts: &axum::http::request::Parts, body: &[u8]) -> Option<String> {
    use base64::Engine as _;
    if let Some(value) = parts.headers.get(header::AUTHORIZATION)
        && let Ok(text) = value.to_str()
        && let Some((scheme, payload)) = text.split_once(' ')
        && scheme.eq_ignore_ascii_case("basic")
        && let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(payload.trim())
        && let Ok(decoded) = String::from_utf8(decoded)
        && let Some((id, _)) = decoded.split_once(':')
    {
        return Some(
            url::form_urlencoded::parse(format!("c={id}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_else(|| id.to_owned()),
        );
    }
    let from = |bytes: &[u8]| {
        url::form_urlencoded::parse(bytes)
            .find(|(k, _)| k == "client_id")
            .map(|(_, v)| v.into_owned())
    };
    from(body).or_else(|| parts.uri.query().and_then(|q| from(q.as_bytes())))
}

async fn proceed(request: Request, refusal: Option<OAuthError>, next: Next) -> Response {
    match refusal {
        Some(error) => error.into_response(),
        None => next.run(request).await,
    }
}

/// Sleeps for `duration`, or until the server stops.
async fn hold(idp: &Idp, duration: Duration) {
    let mut stopping = idp.stopping();
    tokio::select! {
        () = tokio::time::sleep(duration) => {}
        _ = stopping.wait_for(|stopping| *stopping) => {}
    }
}

/// Reads at most `cap` bytes of `body`. The flag says whether the body was longer (the rest is
/// left unread); `Err` means the body could not be read.
async fn read_capped(mut body: Body, cap: usize) -> Result<(Bytes, bool), ()> {
    // Most GETs have no body at all: nothing to poll.
    if body.size_hint().exact() == Some(0) {
        return Ok((Bytes::new(), false));
    }
    let mut buffer: Vec<u8> = Vec::new();
    loop {
        let frame = poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
        match frame {
            None => return Ok((Bytes::from(buffer), false)),
            Some(Err(_)) => return Err(()),
            Some(Ok(frame)) => {
                let Ok(data) = frame.into_data() else {
                    continue; // trailers
                };
                let room = cap - buffer.len();
                if data.len() > room {
                    buffer.extend_from_slice(&data[..room]);
                    return Ok((Bytes::from(buffer), true));
                }
                buffer.extend_from_slice(&data);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_answers_become_forms() {
        assert_eq!(
            json_as_form(br#"{"access_token":"a b","expires_in":300,"token_type":"bearer"}"#),
            "access_token=a+b&expires_in=300&token_type=bearer"
        );
        assert_eq!(json_as_form(b"[1]"), "");
    }

    #[test]
    fn the_client_is_read_from_basic_form_or_query() {
        let request = axum::http::Request::builder()
            .uri("/authorize?client_id=q")
            .header(header::AUTHORIZATION, "Basic bXkrYXBwOnNlY3JldA==")
            .body(())
            .expect("request");
        let (parts, ()) = request.into_parts();
        assert_eq!(client_of(&parts, b"client_id=f").as_deref(), Some("my app"));
        let request = axum::http::Request::builder()
            .uri("/authorize?client_id=q")
            .body(())
            .expect("request");
        let (parts, ()) = request.into_parts();
        assert_eq!(client_of(&parts, b"client_id=f").as_deref(), Some("f"));
        assert_eq!(client_of(&parts, b"").as_deref(), Some("q"));
    }

    #[tokio::test]
    async fn read_capped_keeps_the_first_bytes() {
        let (bytes, over) = read_capped(Body::from("hello"), 5).await.expect("read");
        assert_eq!((&bytes[..], over), (&b"hello"[..], false));
        let (bytes, over) = read_capped(Body::from("hello!"), 5).await.expect("read");
        assert_eq!((&bytes[..], over), (&b"hello"[..], true));
        let (bytes, over) = read_capped(Body::empty(), 5).await.expect("read");
        assert_eq!((bytes.len(), over), (0, false));
    }
}
