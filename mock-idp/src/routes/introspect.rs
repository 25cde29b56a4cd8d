//! `POST /introspect`: RFC 7662 token introspection for the introspection client.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use crate::idp::Idp;
use crate::oauth_error::OAuthError;
use crate::respond::{FormRequest, NO_STORE, json_bytes};
use crate::routes::client_auth::{authenticate, presented};
use crate::routes::form::Form;

pub(crate) async fn introspect(
    State(idp): State<Idp>,
    FormRequest { headers, body }: FormRequest,
) -> Result<Response, OAuthError> {
    let form = Form::parse(&headers, &body)?;
    let credentials = presented(&headers, &form)?;
    authenticate(credentials.as_ref(), &[idp.introspection_client()])?;
    let token = form
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    let answer = idp
        .introspect_json(token)
        .map_err(|_| OAuthError::server_error(StatusCode::INTERNAL_SERVER_ERROR))?;
    Ok(json_bytes(StatusCode::OK, answer, NO_STORE))
}
