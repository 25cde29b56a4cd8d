//! The discovery documents: RFC 8414 authorization server metadata and, with the same content,
//! OpenID Connect Discovery.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use crate::idp::Idp;
use crate::routes::{REVALIDATE, json_bytes};

pub(crate) async fn discovery(State(idp): State<Idp>) -> Response {
    if !idp.authz().settings.publishes_metadata() {
        return axum::response::IntoResponse::into_response(
            crate::oauth_error::OAuthError::not_found(),
        );
    }
    json_bytes(StatusCode::OK, idp.metadata(), REVALIDATE)
}

/// The OpenID Connect discovery document (`/.well-known/openid-configuration`).
pub(crate) async fn discovery_oidc(State(idp): State<Idp>) -> Response {
    if !idp.authz().settings.publishes_metadata() {
        return axum::response::IntoResponse::into_response(
            crate::oauth_error::OAuthError::not_found(),
        );
    }
    json_bytes(StatusCode::OK, idp.metadata_oidc(), REVALIDATE)
}
