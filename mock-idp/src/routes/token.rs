//! `POST /token`: the `client_credentials` grant (RFC 6749 §4.4) with RFC 8707 `resource`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use crate::api::Audience;
use crate::idp::Idp;
use crate::oauth_error::OAuthError;
use crate::routes::client_auth::{authenticate, presented};
use crate::routes::form::Form;
use crate::routes::{NO_STORE, RawBody, json_value};

pub(crate) async fn token(
    State(idp): State<Idp>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, OAuthError> {
    let form = Form::parse(&headers, &body)?;
    let credentials = presented(&headers, &form)?;
    authenticate(credentials.as_ref(), &[idp.token_client()])?;
    match form.get("grant_type") {
        None => return Err(OAuthError::invalid_request("grant_type is required")),
        Some("client_credentials") => {}
        Some(other) => {
            return Err(OAuthError::unsupported_grant_type(format!(
                "grant_type {other:?} is not supported; use client_credentials"
            )));
        }
    }
    let mut resources = form
        .all("resource")
        .map(checked_resource)
        .collect::<Result<Vec<String>, OAuthError>>()?;
    let audience = match resources.len() {
        0 => None,
        1 => resources.pop().map(Audience::One),
        _ => Some(Audience::Many(resources)),
    };
    let scope = form.get("scope").map(str::to_owned);
    let minted = idp.issue(scope.clone(), audience).map_err(|err| {
        OAuthError::server_error(StatusCode::INTERNAL_SERVER_ERROR)
            .with_description(err.to_string())
    })?;
    let lifetime = minted
        .claims
        .get("exp")
        .and_then(Value::as_i64)
        .unwrap_or_default()
        - minted
            .claims
            .get("iat")
            .and_then(Value::as_i64)
            .unwrap_or_default();
    let mut answer = json!({
        "access_token": minted.token,
        "token_type": "Bearer",
        "expires_in": lifetime,
    });
    if let Some(scope) = scope {
        answer["scope"] = json!(scope);
    }
    Ok(json_value(StatusCode::OK, &answer, NO_STORE))
}

/// RFC 8707 §2: an absolute URI without a fragment; kept exactly as sent (it becomes `aud`).
fn checked_resource(resource: &str) -> Result<String, OAuthError> {
    let url = url::Url::parse(resource).map_err(|_| {
        OAuthError::invalid_target(format!("resource {resource:?} is not an absolute URI"))
    })?;
    if url.fragment().is_some() {
        return Err(OAuthError::invalid_target(format!(
            "resource {resource:?} must not contain a fragment"
        )));
    }
    Ok(resource.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_rules() {
        assert_eq!(
            checked_resource("https://rs.example/mcp").as_deref().ok(),
            Some("https://rs.example/mcp")
        );
        assert!(checked_resource("/relative").is_err());
        assert!(checked_resource("https://rs.example/mcp#frag").is_err());
    }
}
