//! `GET|POST /userinfo` (OpenID Connect Core §5.3): who the bearer of an access token is.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use crate::idp::Idp;
use crate::oauth_error::OAuthError;
use crate::respond::{NO_STORE, json_value};

pub(crate) async fn userinfo(
    State(idp): State<Idp>,
    headers: HeaderMap,
) -> Result<Response, OAuthError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|t| !t.is_empty())
        .ok_or_else(|| OAuthError::invalid_token("an access token is required"))?;
    let answer = idp.introspect(token);
    let active = answer.get("active").and_then(Value::as_bool) == Some(true)
        && answer.get("token_type").and_then(Value::as_str) != Some("refresh_token");
    let Some(subject) = answer.get("sub").filter(|_| active) else {
        return Err(OAuthError::invalid_token(
            "the access token is invalid, expired or revoked",
        ));
    };
    Ok(json_value(
        StatusCode::OK,
        &json!({ "sub": subject }),
        NO_STORE,
    ))
}
