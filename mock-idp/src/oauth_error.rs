//! OAuth error responses (RFC 6749 §5.2): `{"error": code, "error_description"?: text}`.
//!
//! Every failure the IdP answers, including malformed requests, unknown paths and wrong methods,
//! goes out in this shape, so a client never sees a framework's plain-text rejection.
//!
//! A refusal (any error but `server_error`) also says which rule the request broke
//! ([`RefusalReason`]): the answer carries it as a response extension, which the recorder puts
//! in the request log and the log line. Most reasons follow from the error code; the places
//! where one code covers several rules (`invalid_request` for PKCE, `invalid_grant` for a
//! refresh token) name theirs with [`OAuthError::because`].

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::api::{Refusal, RefusalReason};

/// The `WWW-Authenticate` challenge sent with every 401 (RFC 6749 §5.2, RFC 9110 §11.6.1).
pub(crate) const BASIC_CHALLENGE: &str = "Basic realm=\"mock-idp\"";

/// The longest error description the request log and log lines keep (a description may quote
/// what the client sent, such as a 60 KiB redirect URI).
const DESCRIPTION_CAP: usize = 512;

/// An OAuth error as a protocol value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OAuthError {
    status: StatusCode,
    code: &'static str,
    description: Option<String>,
    /// The rule broken, when the code alone does not say it.
    reason: Option<RefusalReason>,
}

impl OAuthError {
    pub(crate) fn new(status: StatusCode, code: &'static str) -> Self {
        OAuthError {
            status,
            code,
            description: None,
            reason: None,
        }
    }

    /// Names the rule the request broke.
    pub(crate) fn because(mut self, reason: RefusalReason) -> Self {
        self.reason = Some(reason);
        self
    }

    /// The rule the request broke: as named, else what the code means; `None` for a
    /// `server_error` (the IdP failed, or a fault made it answer so), which refuses nothing.
    pub(crate) fn reason(&self) -> Option<RefusalReason> {
        if self.code == "server_error" {
            return None;
        }
        Some(self.reason.unwrap_or(match self.code {
            "invalid_client" => RefusalReason::ClientAuth,
            "invalid_scope" => RefusalReason::Scope,
            "invalid_target" => RefusalReason::Resource,
            "unsupported_grant_type" | "unauthorized_client" => RefusalReason::Grant,
            "invalid_grant" => RefusalReason::Code,
            "invalid_redirect_uri" | "invalid_client_metadata" => RefusalReason::Registration,
            "access_denied" => RefusalReason::Consent,
            "invalid_token" => RefusalReason::Token,
            _ => RefusalReason::Request,
        }))
    }

    /// What the request log and the log line say about this error, if it is a refusal.
    pub(crate) fn refusal(&self) -> Option<Refusal> {
        let reason = self.reason()?;
        let description = self.description.as_deref().map(|d| {
            let mut end = d.len().min(DESCRIPTION_CAP);
            while !d.is_char_boundary(end) {
                end -= 1;
            }
            d[..end].to_owned()
        });
        Some(Refusal {
            reason,
            error: self.code.to_owned(),
            description,
        })
    }

    /// Marks `response` (answered some other way than [`IntoResponse`]: a redirect, an HTML
    /// page, GitHub's form or HTTP 200) as this refusal.
    pub(crate) fn mark(&self, response: &mut Response) {
        if let Some(refusal) = self.refusal() {
            response.extensions_mut().insert(refusal);
        }
    }

    pub(crate) fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// 400 `invalid_request`.
    pub(crate) fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request").with_description(description)
    }

    /// 401 `invalid_client`, with a Basic challenge.
    pub(crate) fn invalid_client(description: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_client").with_description(description)
    }

    /// 400 with any RFC 6749 §5.2 / RFC 7591 §3.2.2 code (`invalid_grant`, `invalid_scope`,
    /// `unauthorized_client`, `invalid_client_metadata`, ...).
    pub(crate) fn bad_request(code: &'static str, description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code).with_description(description)
    }

    /// 400 `invalid_grant`.
    pub(crate) fn invalid_grant(description: impl Into<String>) -> Self {
        Self::bad_request("invalid_grant", description)
    }

    /// 401 `invalid_token` with a Bearer challenge (RFC 6750 §3.1), for bearer-protected
    /// endpoints such as userinfo and client management.
    pub(crate) fn invalid_token(description: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_token").with_description(description)
    }

    /// 400 `unsupported_grant_type`.
    pub(crate) fn unsupported_grant_type(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "unsupported_grant_type").with_description(description)
    }

    /// 400 `invalid_target` (RFC 8707 §2).
    pub(crate) fn invalid_target(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_target").with_description(description)
    }

    /// 503 `temporarily_unavailable` (RFC 6749 §4.1.2.1): the server cannot answer now, but may
    /// later.
    pub(crate) fn temporarily_unavailable(description: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable")
            .with_description(description)
    }

    /// 404 `not_found`.
    pub(crate) fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found")
    }

    /// 405 `invalid_request`.
    pub(crate) fn method_not_allowed() -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "invalid_request")
            .with_description("method not allowed on this endpoint")
    }

    /// 413 `invalid_request`.
    pub(crate) fn payload_too_large() -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request")
            .with_description("request body exceeds 64 KiB")
    }

    /// `server_error` with the given status.
    pub(crate) fn server_error(status: StatusCode) -> Self {
        Self::new(status, "server_error")
    }

    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    pub(crate) fn code(&self) -> &'static str {
        self.code
    }

    pub(crate) fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.description {
            Some(description) => write!(f, "{}: {description}", self.code),
            None => f.write_str(self.code),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = match &self.description {
            Some(description) => json!({"error": self.code, "error_description": description}),
            None => json!({"error": self.code}),
        };
        let mut response = (self.status, body.to_string()).into_response();
        self.mark(&mut response);
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.code == "invalid_token" {
            // RFC 6750 §3: a Bearer challenge naming the error; the description is ours, so
            // it contains no quote or backslash that would need escaping.
            let challenge = match &self.description {
                Some(d) => format!(
                    "Bearer error=\"invalid_token\", error_description=\"{}\"",
                    d.replace(['"', '\\'], "'")
                ),
                None => "Bearer error=\"invalid_token\"".to_owned(),
            };
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                headers.insert(header::WWW_AUTHENTICATE, value);
            }
        } else if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(BASIC_CHALLENGE),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use axum::body::to_bytes;

    use super::*;

    async fn body_of(response: Response) -> serde_json::Value {
        let bytes = to_bytes(response.into_body(), 1 << 16).await.expect("body");
        serde_json::from_slice(&bytes).expect("JSON")
    }

    #[tokio::test]
    async fn shape_and_headers() {
        let response = OAuthError::invalid_client("bad secret").into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            BASIC_CHALLENGE
        );
        assert_eq!(
            body_of(response).await,
            json!({"error": "invalid_client", "error_description": "bad secret"})
        );

        let response = OAuthError::not_found().into_response();
        assert!(response.headers().get(header::WWW_AUTHENTICATE).is_none());
        assert_eq!(body_of(response).await, json!({"error": "not_found"}));
    }
}
