//! `POST /revoke`: RFC 7009 token revocation, for the resource server's introspection client and
//! for every registered client (public clients identify themselves by `client_id`).

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;

use crate::api::RefusalReason;
use crate::idp::{Idp, RevokeRefusal};
use crate::oauth_error::OAuthError;
use crate::respond::{NO_STORE, RawBody};
use crate::routes::client_auth::{
    Presented, authenticate, authenticate_registered, presented_client,
};
use crate::routes::form::Form;

pub(crate) async fn revoke(
    State(idp): State<Idp>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, OAuthError> {
    let form = Form::parse(&headers, &body)?;
    let presented = presented_client(&headers, &form)?;
    let introspection_client = match &presented {
        Presented::Secret(credentials, _) => {
            authenticate(Some(credentials), &[idp.introspection_client()]).is_ok()
        }
        _ => false,
    };
    // The resource server's introspection client may revoke any token; every other client
    // only what was issued to it.
    let client = if introspection_client {
        None
    } else {
        let either = idp.authz().settings.either_secret_method();
        Some(authenticate_registered(&presented, |id| idp.authz().client(id), either)?.client_id)
    };
    let token = form
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    // RFC 7009 §2.2: 200 whether or not the token was known; `token_type_hint` is only a hint.
    // Revoking a refresh token revokes its family and the access tokens issued in it (§2.1).
    match idp.revoke_for(token, client.as_deref()) {
        Ok(()) => {}
        // RFC 7009 §2.1: the server "verifies whether the token was issued to the client making
        // the revocation request. If this validation fails, the request is refused and the
        // client is informed of the error" (§2.2.1: the RFC 6749 §5.2 codes). The client is
        // authenticated but not entitled to this token: `unauthorized_client`, not
        // `invalid_client`, which would say its credentials failed.
        Err(RevokeRefusal::OtherClient) => {
            return Err(OAuthError::bad_request(
                "unauthorized_client",
                "the token was not issued to this client",
            )
            .because(RefusalReason::Token));
        }
        // The token stays valid rather than being forgotten later; the client may retry
        // (RFC 7009 §2.2.1 allows any RFC 6749 error; 503 says "not now").
        Err(RevokeRefusal::Full) => {
            return Err(OAuthError::temporarily_unavailable(
                "the revocation list is full of unexpired revocations; try again later",
            )
            .because(RefusalReason::Token));
        }
    }
    let mut response = Response::default();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(NO_STORE));
    Ok(response)
}
