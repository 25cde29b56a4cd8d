//! The response helpers every HTTP module shares: cache headers, JSON answers, the raw body
//! extractor, and the OAuth-shaped answers for unknown paths and wrong methods.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::oauth_error::OAuthError;

/// `Cache-Control` for answers that carry tokens or token state.
pub(crate) const NO_STORE: &str = "no-store";
/// `Cache-Control` for documents that change only with keys.
pub(crate) const REVALIDATE: &str = "max-age=0";

pub(crate) async fn not_found() -> OAuthError {
    OAuthError::not_found()
}

pub(crate) async fn method_not_allowed() -> OAuthError {
    OAuthError::method_not_allowed()
}

/// A JSON response from already-serialised bytes.
pub(crate) fn json_bytes(status: StatusCode, body: Bytes, cache_control: &'static str) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    response
}

/// A JSON response from a serialisable value.
pub(crate) fn json_value<T: Serialize>(
    status: StatusCode,
    value: &T,
    cache_control: &'static str,
) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => json_bytes(status, Bytes::from(body), cache_control),
        Err(_) => OAuthError::server_error(StatusCode::INTERNAL_SERVER_ERROR).into_response(),
    }
}

/// `text` with the five characters HTML gives meaning escaped: safe as element content and as a
/// quoted attribute value.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The raw request body; a failed read becomes an OAuth error instead of a plain-text rejection.
#[derive(Debug)]
pub(crate) struct RawBody(pub(crate) Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = OAuthError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Bytes::from_request(request, state).await {
            Ok(bytes) => Ok(RawBody(bytes)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(OAuthError::payload_too_large())
            }
            Err(_) => Err(OAuthError::invalid_request(
                "could not read the request body",
            )),
        }
    }
}

/// The request's headers and whole body, for the handlers of form endpoints: the headers are
/// moved out of the request, not copied as axum's `HeaderMap` extractor copies them; a failed read
/// is an OAuth error as with [`RawBody`].
#[derive(Debug)]
pub(crate) struct FormRequest {
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl<S: Send + Sync> FromRequest<S> for FormRequest {
    type Rejection = OAuthError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let headers = std::mem::take(&mut parts.headers);
        let RawBody(body) = RawBody::from_request(Request::from_parts(parts, body), state).await?;
        Ok(FormRequest { headers, body })
    }
}
