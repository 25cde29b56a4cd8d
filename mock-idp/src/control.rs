//! The HTTP control API under `/_control` (`docs/contracts.md` §2): JSON in, JSON out, each route a
//! thin call into [`Idp`]. Control requests are not recorded and faults never apply to them.
//! Every error is `{"error":"invalid_request","error_description":...}` with status 400
//! (or `server_error` with 500 when the IdP itself failed, e.g. writing the key file).
//!
//! The control API is for test programs, never for web pages: it has no CORS, refuses requests a
//! browser marks as cross-origin, takes bodies only as `application/json` (which a page cannot
//! send without a preflight), and answers only requests whose `Host` names the IdP itself (DNS
//! rebinding). With a control token configured, every request must also carry it as a bearer
//! token. [`refusal`] holds these rules; the recorder applies them before any route.

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use axum::response::Response;
use axum::routing::{MethodFilter, on};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::api::{
    ClockRequest, ExtraJwk, FaultSpec, IntrospectionOverride, KeyRef, MintRequest,
    RevokeGrantRequest, RevokeRequest,
};
use crate::error::IdpError;
use crate::idp::Idp;
use crate::oauth_error::OAuthError;
use crate::respond::{NO_STORE, RawBody, json_value, method_not_allowed};
use crate::routes::page::{page_demo, page_mint};
use crate::secret::same_secret;

/// Declares the control routes once: the router serves them and [`CONTROL_ROUTES`] lists them
/// (a test holds `docs/contracts.md` §2 to that list).
macro_rules! control_routes {
    ($($method:ident $path:literal => $handler:ident,)+) => {
        /// Every route of the control API as (method, path under `/_control`), in the order of
        /// `docs/contracts.md` §2.
        pub const CONTROL_ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path)),+];

        pub(crate) fn router() -> Router<Idp> {
            Router::new()
                $(.route($path, on(MethodFilter::$method, $handler)))+
                .method_not_allowed_fallback(method_not_allowed)
        }
    };
}

control_routes! {
    GET "/info" => info,
    POST "/mint" => mint,
    GET "/keys" => keys,
    POST "/keys/announce" => announce,
    POST "/keys/activate" => activate,
    POST "/keys/retire" => retire,
    POST "/keys/rotate" => rotate,
    POST "/keys/forget" => forget,
    POST "/keys/extra" => add_extra,
    DELETE "/keys/extra" => clear_extra,
    POST "/introspection/override" => set_override,
    POST "/revoke" => revoke,
    POST "/documents" => host_document,
    POST "/revoke/grant" => revoke_grant,
    POST "/faults" => set_fault,
    DELETE "/faults" => clear_faults,
    GET "/requests" => requests,
    GET "/requests/last" => last_request,
    DELETE "/requests" => clear_requests,
    POST "/clock" => set_clock,
    GET "/clock" => clock,
    POST "/reset" => reset,
    GET "/clients" => list_clients,
    POST "/clients" => add_client,
    DELETE "/clients" => forget_clients,
    POST "/page/mint" => page_mint,
    POST "/page/demo" => page_demo,
}

/// Why a control request is refused before its body is read, if it is: a request that is not
/// addressed to this server by its own name (421), one a browser made for a web page (403), or
/// one without the control token when one is configured (401).
pub(crate) fn refusal(idp: &Idp, parts: &Parts) -> Option<OAuthError> {
    if let Some(misdirected) = misdirected(idp, parts) {
        return Some(misdirected);
    }
    let preflight = parts.method == Method::OPTIONS
        && parts
            .headers
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let foreign_origin = parts
        .headers
        .get(header::ORIGIN)
        .is_some_and(|origin| !origin.to_str().is_ok_and(|o| idp.hosts().is_own_origin(o)));
    // Fetch metadata: what a browser says about who made the request.
    let cross_site = parts
        .headers
        .get("sec-fetch-site")
        .is_some_and(|site| !matches!(site.as_bytes(), b"same-origin" | b"none"));
    if preflight || foreign_origin || cross_site {
        return Some(
            OAuthError::new(StatusCode::FORBIDDEN, "access_denied")
                .with_description("the control API does not answer requests from web pages"),
        );
    }
    // The page's forms carry the token in the form (a browser cannot add the header); their
    // handler checks it with the form's CSRF token.
    if crate::routes::page::is_page_form(parts.uri.path()) {
        return None;
    }
    let expected = idp.control_token()?;
    let presented = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    match presented {
        None => Some(OAuthError::invalid_token(
            "the control API needs Authorization: Bearer <control token>",
        )),
        Some(token) if !same_secret(token.as_bytes(), expected) => {
            Some(OAuthError::invalid_token("wrong control token"))
        }
        Some(_) => None,
    }
}

/// Why a request is refused for not naming this server in its `Host` (421), if it is: a web
/// page whose domain an attacker rebound to the IdP's address sends the attacker's name.
pub(crate) fn misdirected(idp: &Idp, parts: &Parts) -> Option<OAuthError> {
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()));
    (!host.is_some_and(|host| idp.hosts().allows(host))).then(|| {
        OAuthError::new(StatusCode::MISDIRECTED_REQUEST, "invalid_request").with_description(
            "the control API and the page answer only requests addressed to the IdP's own address (Host)",
        )
    })
}

/// Why a control request's body is refused, if it is: a body that is not declared JSON (415),
/// or for the page's forms, one that is not a form.
pub(crate) fn body_refusal(parts: &Parts, body: &[u8]) -> Option<OAuthError> {
    let essence = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim);
    let (expected, declared) = if crate::routes::page::is_page_form(parts.uri.path()) {
        let form = "application/x-www-form-urlencoded";
        (form, essence.is_some_and(|e| e.eq_ignore_ascii_case(form)))
    } else {
        let json = "application/json";
        (json, essence.is_some_and(|e| e.eq_ignore_ascii_case(json)))
    };
    if !body.is_empty() && !declared {
        return Some(
            OAuthError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "invalid_request")
                .with_description(format!(
                    "this control request's body needs Content-Type: {expected}"
                )),
        );
    }
    None
}

type Answer = Result<Response, OAuthError>;

/// A body that must be `{}` (or empty).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

fn ok<T: serde::Serialize>(value: &T) -> Answer {
    Ok(json_value(StatusCode::OK, value, NO_STORE))
}

fn done() -> Answer {
    ok(&json!({}))
}

/// Parses a JSON body; an empty body counts as `{}`.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, OAuthError> {
    let body = if body.trim_ascii().is_empty() {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(body)
        .map_err(|err| OAuthError::invalid_request(format!("bad JSON body: {err}")))
}

fn failed(err: IdpError) -> OAuthError {
    if matches!(err, IdpError::RevocationsFull) {
        return OAuthError::temporarily_unavailable(err.to_string());
    }
    if err.is_client_error() {
        OAuthError::invalid_request(err.to_string())
    } else {
        OAuthError::server_error(StatusCode::INTERNAL_SERVER_ERROR)
            .with_description(err.to_string())
    }
}

async fn list_clients(State(idp): State<Idp>) -> Answer {
    ok(&idp.clients())
}

async fn add_client(State(idp): State<Idp>, RawBody(body): RawBody) -> Answer {
    let config: crate::authz::clients::ClientConfig = parse(&body)?;
    idp.add_client(&config).map_err(failed)?;
    done()
}

async fn forget_clients(State(idp): State<Idp>) -> Answer {
    idp.forget_dynamic_clients();
    done()
}

async fn info(State(idp): State<Idp>) -> Answer {
    ok(&idp.info())
}

async fn mint(State(idp): State<Idp>, RawBody(body): RawBody) -> Answer {
    let request: MintRequest = parse(&body)?;
    ok(&idp.mint(&request).map_err(failed)?)
}

async fn keys(State(idp): State<Idp>) -> Answer {
    ok(&idp.keys())
}

async fn announce(State(idp): State<Idp>, RawBody(body): RawBody) -> Answer {
    let Empty {} = parse(&body)?;
    ok(&idp.announce_key().map_err(failed)?)
}

async fn activate(State(idp): State<Idp>, RawBody(body): RawBody) -> Answer {
    let KeyRef { kid } = parse(&body)?;
    ok(&idp.activate_key(&kid).map_err(failed)?)
}

async fn retire(State(idp): State<Idp>, RawBody(body): RawBody) -> Answer {
    let KeyRef { kid } = parse(&body)?;
    ok(&idp.retire_key(&kid).map_err(failed)?)
}

async fn forget(State(idp): State<Idp>, RawBody(body): RawBody) -> Answer {
    let KeyRef { kid } = parse(&body)?;
    ok(&idp.forget_key(&kid).map_err(failed)?)
}

async fn last_request(State(idp): State<Idp>) -> Answer {
    ok(&serde_json::json!({ "seq": idp.last_request_seq() }))
}

async fn rotate(State(idp): State<Idp>, RawBody(body): RawBody) -> Answer {
    let Empty {} = parse(&body)?;
    ok(&idp.rotate_keys().map_err(failed)?)
}

async fn add_extra(State(idp): State<Idp>, RawBody(body): RawBody) -> Answer {
    let ExtraJwk { jwk } = parse(&body)?;
    idp.add_extra_jwk(jwk);
    done()
}

async fn clear_extra(State(idp): State<Idp>) -> Answer {
    idp.clear_extra_jwks();
    done()
}

async fn set_override(State(idp): State<Idp>, RawBody(body): RawBody) -> Answer {
    let IntrospectionOverride { token, response } = parse(&body)?;
    idp.set_introspection_override(&token, response);
    done()
}

async fn revoke(State(idp): State<Idp>, RawBody(body): RawBody) -> Answer {
    let RevokeRequest { token } = parse(&body)?;
    idp.revoke(&token).map_err(failed)?;
    done()
}

async fn host_document(State(idp): State<Idp>, RawBody(body): RawBody) -> Answer {
    let document: crate::api::HostedDocument = parse(&body)?;
    idp.host_document(document).map_err(failed)?;
    done()
}

async fn revoke_grant(State(idp): State<Idp>, RawBody(body): RawBody) -> Answer {
    let RevokeGrantRequest { code } = parse(&body)?;
    let tokens = idp
        .authz()
        .grants()
        .revoke_code_grant(&code)
        .ok_or_else(|| OAuthError::invalid_request("no authorization code of this issuer"))?;
    idp.revoke_issued(&tokens)
        .map_err(|full| failed(full.into()))?;
    done()
}

async fn set_fault(State(idp): State<Idp>, RawBody(body): RawBody) -> Answer {
    let spec: FaultSpec = parse(&body)?;
    idp.set_fault(spec).map_err(failed)?;
    done()
}

async fn clear_faults(State(idp): State<Idp>) -> Answer {
    idp.clear_faults();
    done()
}

async fn requests(State(idp): State<Idp>, RawQuery(query): RawQuery) -> Answer {
    let mut since = None;
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if name == "since" {
            let seq = value.parse::<u64>().map_err(|_| {
                OAuthError::invalid_request(format!(
                    "since must be a sequence number, not {value:?}"
                ))
            })?;
            since = Some(seq);
        }
    }
    ok(&idp.requests(since))
}

async fn clear_requests(State(idp): State<Idp>) -> Answer {
    idp.clear_requests();
    done()
}

async fn clock(State(idp): State<Idp>) -> Answer {
    ok(&idp.clock())
}

async fn set_clock(State(idp): State<Idp>, RawBody(body): RawBody) -> Answer {
    let request: ClockRequest = parse(&body)?;
    ok(&idp.set_clock(request).map_err(failed)?)
}

async fn reset(State(idp): State<Idp>, RawBody(body): RawBody) -> Answer {
    let Empty {} = parse(&body)?;
    idp.reset();
    done()
}
