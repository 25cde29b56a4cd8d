//! The discovery documents: RFC 8414 authorization server metadata and, with the same content,
//! OpenID Connect Discovery.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use crate::idp::Idp;
use crate::respond::{REVALIDATE, json_bytes};

/// The `metadata-root-only` defect: none of the issuer's own discovery URLs answer (only the
/// origin's root one does, see [`discovery_at_root`]).
fn root_only(idp: &Idp) -> bool {
    idp.authz()
        .settings
        .has(crate::authz::AsDefect::MetadataRootOnly)
}

/// The `metadata-root-only` defect's document at the origin's root well-known URL.
pub(crate) async fn discovery_at_root(State(idp): State<Idp>) -> Response {
    json_bytes(StatusCode::OK, idp.metadata(), REVALIDATE)
}

pub(crate) async fn discovery(State(idp): State<Idp>) -> Response {
    if !idp.authz().settings.publishes_metadata() || root_only(&idp) {
        return axum::response::IntoResponse::into_response(
            crate::oauth_error::OAuthError::not_found(),
        );
    }
    json_bytes(StatusCode::OK, idp.metadata(), REVALIDATE)
}

/// The OpenID Connect discovery document (`/.well-known/openid-configuration`).
pub(crate) async fn discovery_oidc(State(idp): State<Idp>) -> Response {
    if !idp.authz().settings.publishes_metadata() || root_only(&idp) {
        return axum::response::IntoResponse::into_response(
            crate::oauth_error::OAuthError::not_found(),
        );
    }
    json_bytes(StatusCode::OK, idp.metadata_oidc(), REVALIDATE)
}
