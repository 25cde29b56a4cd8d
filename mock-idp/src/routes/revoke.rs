//! `POST /revoke`: RFC 7009 token revocation, for the resource server's introspection client and
//! for every registered client (public clients identify themselves by `client_id`).

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;

use crate::idp::Idp;
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
    if !introspection_client {
        authenticate_registered(&presented, |id| idp.authz().client(id))?;
    }
    let token = form
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    // RFC 7009 §2.2: 200 whether or not the token was known; `token_type_hint` is only a hint.
    // Revoking a refresh token revokes its family and the access tokens issued in it (§2.1).
    idp.revoke(token);
    // The family is read under one short lock and revoked under another: a guard borrowed by an
    // `if let` scrutinee would live through the block and deadlock the second lock.
    let family = idp.authz().grants().family_of(token);
    if let Some(family) = family {
        let issued = idp.authz().grants().revoke_family(family);
        for access in issued {
            idp.revoke(&access);
        }
    }
    let mut response = Response::default();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(NO_STORE));
    Ok(response)
}
