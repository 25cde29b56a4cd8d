//! `POST /register` (RFC 7591 Dynamic Client Registration) and `GET|DELETE /register/{id}`
//! (RFC 7592 client management with the registration access token). In pre-registered mode the
//! endpoints do not exist: they answer 404 like any unknown path.

use aws_lc_rs::constant_time::verify_slices_are_equal;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::api::RefusalReason;
use crate::authz::AsDefect;
use crate::authz::RegistrationMode;
use crate::authz::clients::{AuthMethod, AuthMethods, ClientRecord, Origin, check_registration};
use crate::idp::Idp;
use crate::oauth_error::OAuthError;
use crate::respond::{NO_STORE, RawBody, json_value};
use crate::tokens::random_hex;

fn enabled(idp: &Idp) -> Result<(), OAuthError> {
    match idp.authz().settings.registration {
        RegistrationMode::Dynamic => Ok(()),
        RegistrationMode::PreRegistered => {
            Err(OAuthError::not_found().because(RefusalReason::Registration))
        }
    }
}

fn server_error() -> OAuthError {
    OAuthError::server_error(StatusCode::INTERNAL_SERVER_ERROR)
}

pub(crate) async fn register(
    State(idp): State<Idp>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, OAuthError> {
    enabled(&idp)?;
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(OAuthError::bad_request(
            "invalid_client_metadata",
            "the registration request must be JSON (Content-Type: application/json)",
        ));
    }
    let value: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
        OAuthError::bad_request(
            "invalid_client_metadata",
            format!("the registration request is not valid JSON: {e}"),
        )
    })?;
    let settings = &idp.authz().settings;
    if settings.has(AsDefect::RegisterStrict) {
        const KNOWN: [&str; 7] = [
            "redirect_uris",
            "client_name",
            "grant_types",
            "response_types",
            "token_endpoint_auth_method",
            "scope",
            "application_type",
        ];
        let object = value.as_object();
        let missing = [
            "grant_types",
            "response_types",
            "token_endpoint_auth_method",
        ]
        .into_iter()
        .find(|k| object.is_none_or(|o| !o.contains_key(*k)));
        let unknown = object.and_then(|o| o.keys().find(|k| !KNOWN.contains(&k.as_str())).cloned());
        if let Some(problem) = missing
            .map(|m| format!("{m} is required"))
            .or(unknown.map(|u| format!("unknown field {u}")))
        {
            return Err(OAuthError::bad_request("invalid_client_metadata", problem));
        }
    }
    if settings.has(AsDefect::RegisterNativeRefused)
        && value.get("application_type").and_then(|v| v.as_str()) == Some("native")
    {
        return Err(OAuthError::bad_request(
            "invalid_client_metadata",
            "application_type native is not supported",
        ));
    }
    let registration = match check_registration(&value) {
        Ok(r) => r,
        // The defect: redirect URIs are taken as given, whatever they are.
        Err(e)
            if e.code == "invalid_redirect_uri" && settings.has(AsDefect::RegisterAnyRedirect) =>
        {
            let mut tame = value.clone();
            tame["redirect_uris"] = serde_json::json!(["http://127.0.0.1/callback"]);
            let mut r = check_registration(&tame)
                .map_err(|e| OAuthError::bad_request(e.code, e.description))?;
            r.redirect_uris = value["redirect_uris"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect();
            r
        }
        Err(e) => return Err(OAuthError::bad_request(e.code, e.description)),
    };
    let client_id = format!("dcr_{}", random_hex(12).map_err(|_| server_error())?);
    let client_secret = match registration.auth_method {
        AuthMethod::None => None,
        _ => Some(random_hex(24).map_err(|_| server_error())?),
    };
    let access_token = random_hex(24).map_err(|_| server_error())?;
    let record = ClientRecord {
        client_id: client_id.clone(),
        client_secret,
        auth_method: registration.auth_method,
        // RFC 7591: a dynamic client uses the method it registered, and only that one.
        accepted: AuthMethods::only(registration.auth_method),
        redirect_uris: registration.redirect_uris,
        grant_types: registration.grant_types,
        scope: registration.scope,
        redirect_policy: Default::default(),
        client_name: registration.client_name,
        origin: Origin::Dynamic,
        registration_access_token: Some(access_token),
        issued_at: idp.now(),
        metadata: registration.metadata,
    };
    let uri = client_uri(&idp, &client_id);
    let mut answer = record.registration_response(Some(&uri));
    idp.authz().clients_mut().insert(record);
    let settings = &idp.authz().settings;
    if settings.has(AsDefect::RegisterNoEcho) {
        answer = serde_json::json!({"client_id": answer["client_id"].clone()});
    }
    let status = if settings.has(AsDefect::Register200) {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok(json_value(status, &answer, NO_STORE))
}

fn client_uri(idp: &Idp, client_id: &str) -> String {
    format!("{}/{client_id}", idp.registration_endpoint())
}

/// The client a registration access token manages (RFC 7592 §2: every failure is 401).
fn managed(idp: &Idp, headers: &HeaderMap, client_id: &str) -> Result<ClientRecord, OAuthError> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .ok_or_else(|| {
            OAuthError::invalid_token("a registration access token is required")
                .because(RefusalReason::Registration)
        })?;
    let client = idp
        .authz()
        .client(client_id)
        .filter(|c| c.origin == Origin::Dynamic)
        .ok_or_else(|| {
            OAuthError::invalid_token("unknown client or wrong registration access token")
                .because(RefusalReason::Registration)
        })?;
    let expected = client
        .registration_access_token
        .as_deref()
        .unwrap_or_default();
    if expected.is_empty()
        || verify_slices_are_equal(expected.as_bytes(), presented.as_bytes()).is_err()
    {
        return Err(
            OAuthError::invalid_token("unknown client or wrong registration access token")
                .because(RefusalReason::Registration),
        );
    }
    Ok(client)
}

pub(crate) async fn read_client(
    State(idp): State<Idp>,
    headers: HeaderMap,
    Path(client_id): Path<String>,
) -> Result<Response, OAuthError> {
    enabled(&idp)?;
    let client = managed(&idp, &headers, &client_id)?;
    let answer = client.registration_response(Some(&client_uri(&idp, &client_id)));
    Ok(json_value(StatusCode::OK, &answer, NO_STORE))
}

pub(crate) async fn delete_client(
    State(idp): State<Idp>,
    headers: HeaderMap,
    Path(client_id): Path<String>,
) -> Result<Response, OAuthError> {
    enabled(&idp)?;
    managed(&idp, &headers, &client_id)?;
    idp.authz().clients_mut().remove(&client_id);
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(NO_STORE));
    Ok(response)
}
