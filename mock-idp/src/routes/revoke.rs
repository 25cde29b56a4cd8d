//! `POST /revoke`: RFC 7009 token revocation, for either configured client.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;

use crate::idp::Idp;
use crate::oauth_error::OAuthError;
use crate::routes::client_auth::{authenticate, presented};
use crate::routes::form::Form;
use crate::routes::{NO_STORE, RawBody};

pub(crate) async fn revoke(
    State(idp): State<Idp>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, OAuthError> {
    let form = Form::parse(&headers, &body)?;
    let credentials = presented(&headers, &form)?;
    authenticate(
        credentials.as_ref(),
        &[idp.token_client(), idp.introspection_client()],
    )?;
    let token = form
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    // RFC 7009 §2.2: 200 whether or not the token was known; `token_type_hint` is only a hint.
    idp.revoke(token);
    let mut response = Response::default();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(NO_STORE));
    Ok(response)
}
