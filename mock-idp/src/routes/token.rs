//! `POST /token`: the `authorization_code` (with PKCE), `refresh_token` and `client_credentials`
//! grants, RFC 8707 `resource`, and the RFC 6749 §5.2 errors exactly.

use std::collections::HashSet;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

use crate::api::{Audience, RefusalReason};
use crate::authz::AsDefect;
use crate::authz::clients::{AuthMethod, ClientRecord, GRANT_TYPES};
use crate::authz::grants::{CodeRefusal, Grant, RefreshRefusal};
use crate::authz::pkce;
use crate::idp::Idp;
use crate::introspection::{Issued, TokenId};
use crate::json_text;
use crate::oauth_error::OAuthError;
use crate::respond::{FormRequest, NO_STORE, json_bytes, json_value};
use crate::routes::client_auth::{Presented, authenticate_registered, presented_client};
use crate::routes::form::Form;
use crate::tokens::{Access, random_hex};

pub(crate) async fn token(
    State(idp): State<Idp>,
    FormRequest { headers, body }: FormRequest,
) -> Response {
    let result = answer(&idp, &headers, &body);
    // Whatever shape the answer takes (GitHub's form or HTTP 200, a defect's status), the
    // request log and the log line say which rule the request broke.
    let refused = result.as_ref().err().cloned();
    let mark = |mut response: Response| {
        if let Some(error) = &refused
            && !response.status().is_server_error()
        {
            error.mark(&mut response);
        }
        response
    };
    let settings = &idp.authz().settings;
    let wants_json = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/json"));
    if settings.form_unless_json() && !wants_json {
        // GitHub: `access_token=...&scope=repo%2Cgist&token_type=bearer`, errors alike.
        let (status, value) = match result {
            Ok(answer) => (StatusCode::OK, answer.to_value()),
            Err(error) => (error_status(settings, &error), error_value(&error)),
        };
        return mark(form_response(status, &value));
    }
    let mut response = match result {
        Ok(answer) => json_bytes(StatusCode::OK, Bytes::from(answer.to_json()), NO_STORE),
        Err(error) if settings.errors_with_200() => {
            json_value(StatusCode::OK, &error_value(&error), NO_STORE)
        }
        Err(error)
            if error.code() == "invalid_grant" && settings.has(AsDefect::InvalidGrant401) =>
        {
            json_value(StatusCode::UNAUTHORIZED, &error_value(&error), NO_STORE)
        }
        Err(error)
            if error.code() == "invalid_client"
                && settings.has(AsDefect::UnauthorizedClientForBadCredentials) =>
        {
            let value = json!({"error": "unauthorized_client", "error_description": error.description().unwrap_or_default()});
            json_value(StatusCode::BAD_REQUEST, &value, NO_STORE)
        }
        // The defect: a client id of the shape this server issues, but no record of it (as
        // after a restart that lost the registrations), crashes the lookup.
        Err(error)
            if error.code() == "invalid_client"
                && settings.has(AsDefect::ForgottenClient500)
                && url::form_urlencoded::parse(&body).any(|(k, v)| {
                    k == "client_id" && v.starts_with("dcr_") && idp.authz().client(&v).is_none()
                }) =>
        {
            OAuthError::server_error(StatusCode::INTERNAL_SERVER_ERROR).into_response()
        }
        Err(error) => error.into_response(),
    };
    if settings.has(AsDefect::NoCacheControl) {
        response.headers_mut().remove(header::CACHE_CONTROL);
    }
    mark(response)
}

fn error_status(settings: &crate::authz::AuthzSettings, error: &OAuthError) -> StatusCode {
    if settings.errors_with_200() {
        StatusCode::OK
    } else {
        error.status()
    }
}

fn error_value(error: &OAuthError) -> Value {
    match error.description() {
        Some(d) => json!({"error": error.code(), "error_description": d}),
        None => json!({"error": error.code()}),
    }
}

/// A flat JSON object as a form body; the persona's comma-separated scopes.
fn form_response(status: StatusCode, value: &Value) -> Response {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    if let Some(map) = value.as_object() {
        for (key, value) in map {
            let text = match value {
                Value::String(s) if key == "scope" => {
                    s.split_ascii_whitespace().collect::<Vec<_>>().join(",")
                }
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            form.append_pair(key, &text);
        }
    }
    let mut response = (status, form.finish()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(NO_STORE));
    response
}

/// A successful token answer (RFC 6749 §5.1). The members are declared in the order serde_json
/// writes a map's (sorted), the order of the answers before this type existed; [`Self::to_json`]
/// writes what `serde_json::to_vec` would, without its byte-by-byte escaping of the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct TokenAnswer {
    access_token: String,
    expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    token_type: &'static str,
}

impl TokenAnswer {
    /// The answer carrying `access`, a bearer token of that scope.
    fn new(access: Access, scope: Option<String>) -> Self {
        TokenAnswer {
            expires_in: access.lifetime(),
            access_token: access.token,
            id_token: None,
            refresh_token: None,
            scope,
            token_type: "Bearer",
        }
    }

    /// The JSON body.
    fn to_json(&self) -> Vec<u8> {
        let optional = [
            ("id_token", &self.id_token),
            ("refresh_token", &self.refresh_token),
            ("scope", &self.scope),
        ];
        let size = 96
            + self.access_token.len()
            + optional
                .iter()
                .map(|(_, v)| v.as_ref().map_or(0, |v| v.len() + 24))
                .sum::<usize>();
        let mut out = Vec::with_capacity(size);
        out.push(b'{');
        json_text::push_name(&mut out, "access_token");
        json_text::push_str(&mut out, &self.access_token);
        out.push(b',');
        json_text::push_name(&mut out, "expires_in");
        json_text::push_i64(&mut out, self.expires_in);
        for (name, value) in optional {
            if let Some(value) = value {
                out.push(b',');
                json_text::push_name(&mut out, name);
                json_text::push_str(&mut out, value);
            }
        }
        out.push(b',');
        json_text::push_name(&mut out, "token_type");
        json_text::push_str(&mut out, self.token_type);
        out.push(b'}');
        out
    }

    /// The answer as a JSON value (for the answers a persona sends as a form).
    fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// What the grant's records keep of an access token.
fn issued(access: &Access) -> Issued {
    Issued {
        id: TokenId::of(&access.token),
        expires_at: Some(access.exp),
    }
}

fn answer(idp: &Idp, headers: &HeaderMap, body: &[u8]) -> Result<TokenAnswer, OAuthError> {
    let form = Form::parse(headers, body)?;
    let presented = presented_client(headers, &form)?;
    let grant_type = form
        .get("grant_type")
        .ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
    // basic-needs-body-client-id: the Basic header is not enough without client_id in the body.
    // client-secret-post-ignored: a secret in the body never authenticates.
    if let Presented::Secret(_, method) = &presented {
        let settings = &idp.authz().settings;
        let refused = match method {
            AuthMethod::ClientSecretBasic => {
                settings.has(AsDefect::BasicNeedsBodyClientId) && form.get("client_id").is_none()
            }
            AuthMethod::ClientSecretPost => settings.has(AsDefect::ClientSecretPostIgnored),
            _ => false,
        };
        if refused {
            return Err(OAuthError::invalid_client("client authentication failed"));
        }
    }
    let either = idp.authz().settings.either_secret_method();
    let client = authenticate_registered(&presented, |id| idp.authz().client(id), either)?;
    if !GRANT_TYPES.contains(&grant_type) {
        return Err(OAuthError::unsupported_grant_type(format!(
            "grant_type {grant_type:?} is not supported; use authorization_code, refresh_token or client_credentials"
        )));
    }
    // RFC 6749 §5.2: an authenticated client that may not use this grant.
    if !client.allows_grant(grant_type) {
        return Err(OAuthError::bad_request(
            "unauthorized_client",
            format!("this client is not allowed the {grant_type} grant"),
        ));
    }
    // client-credentials-refused: the grant the metadata advertises is not implemented.
    if grant_type == "client_credentials"
        && idp.authz().settings.has(AsDefect::ClientCredentialsRefused)
    {
        return Err(OAuthError::unsupported_grant_type(
            "grant_type \"client_credentials\" is not supported",
        ));
    }
    match grant_type {
        "client_credentials" => client_credentials(idp, &client, &form),
        "authorization_code" => authorization_code(idp, &client, &form),
        _ => refresh_token(idp, &client, &form),
    }
}

fn server_error(err: crate::error::IdpError) -> OAuthError {
    OAuthError::server_error(StatusCode::INTERNAL_SERVER_ERROR).with_description(err.to_string())
}

/// The `resource` parameters, checked (RFC 8707 §2).
fn resources(idp: &Idp, form: &Form) -> Result<Vec<String>, OAuthError> {
    if !idp.authz().settings.honours_resource() {
        return Ok(Vec::new());
    }
    let resources: Vec<String> = form.all("resource").map(str::to_owned).collect();
    idp.authz().check_resources(&resources)
}

fn client_credentials(
    idp: &Idp,
    client: &ClientRecord,
    form: &Form,
) -> Result<TokenAnswer, OAuthError> {
    let mut resources = resources(idp, form)?;
    let scope = form.get("scope").map(str::to_owned);
    if let Some(scope) = &scope
        && !client.scope_allowed(scope)
    {
        return Err(OAuthError::bad_request(
            "invalid_scope",
            format!("scope {scope:?} is not allowed for this client"),
        ));
    }
    let audience = match resources.len() {
        0 => None,
        1 => resources.pop().map(Audience::One),
        _ => Some(Audience::Many(resources)),
    };
    let access = idp
        .issue(scope.as_deref(), audience.as_ref(), &client.client_id)
        .map_err(server_error)?;
    Ok(TokenAnswer::new(access, scope))
}

fn authorization_code(
    idp: &Idp,
    client: &ClientRecord,
    form: &Form,
) -> Result<TokenAnswer, OAuthError> {
    let code = form
        .get("code")
        .ok_or_else(|| OAuthError::invalid_request("code is required"))?;
    let authz = idp.authz();
    let unbound = authz.settings.has(AsDefect::UnboundCodes);
    let reusable = authz.settings.has(AsDefect::ReusableCodes);
    // The code is checked here and used only once the whole request has passed: a request that
    // fails (no verifier, a wrong one, another redirect URI) obtains nothing, so it does not use
    // the code up, and the client can send a correct request while the code lasts. Single use
    // (RFC 6749 §4.1.2, OAuth 2.1 §4.1.3) is about obtaining tokens twice; with S256 PKCE a
    // thief cannot guess the verifier, and a failed attempt by one cannot destroy the
    // legitimate client's code either.
    let checked = authz
        .grants()
        .check_code(code, &client.client_id, idp.now(), unbound, reusable);
    let record = checked.map_err(|refusal| code_refused(idp, refusal))?;
    if let Some(sent) = &record.redirect_uri
        && !unbound
        && form.get("redirect_uri") != Some(sent.as_str())
    {
        return Err(OAuthError::invalid_grant(
            "redirect_uri must be the one sent to the authorization endpoint",
        )
        .because(RefusalReason::RedirectUri));
    }
    // Without a challenge (a waived PKCE defect) there is nothing to verify.
    let unchecked = authz.settings.has(AsDefect::PkceVerifierUnchecked)
        || (record.code_challenge.is_empty() && authz.settings.has(AsDefect::PkceNotRequired));
    if !unchecked {
        let verifier = form.get("code_verifier").ok_or_else(|| {
            OAuthError::invalid_request("code_verifier is required (PKCE)")
                .because(RefusalReason::Pkce)
        })?;
        if let Some(problem) = pkce::verifier_problem(verifier, &record.code_challenge) {
            return Err(OAuthError::invalid_grant(problem).because(RefusalReason::Pkce));
        }
    }
    let resources = narrowed_resources(idp, form, &record.grant)?;
    let used = authz.grants().use_code(code, reusable);
    used.map_err(|refusal| code_refused(idp, refusal))?;
    let grant = record.grant;
    let access = idp
        .issue_for_grant(&grant, &grant.scope, &resources)
        .map_err(server_error)?;
    let issued = issued(&access);
    let mut answer = token_answer(access, &grant.scope);
    if authz.settings.has(AsDefect::TokenTypeWrong) {
        answer.token_type = "JWT";
    }
    if authz.settings.has(AsDefect::TokenScopeOmitted) {
        answer.scope = None;
    }
    let mut family = None;
    if client.allows_grant("refresh_token") {
        let now = idp.now();
        let expires_at = now.saturating_add(authz.settings.refresh_token_ttl_secs);
        let id = authz.grants().new_family(grant.clone(), expires_at, now);
        let refresh = new_refresh_token(idp, id)?;
        authz.grants().family_issued(id, issued, now);
        answer.refresh_token = Some(refresh);
        family = Some(id);
    }
    authz.grants().code_issued(code, issued, family);
    if grant.scope.split_ascii_whitespace().any(|s| s == "openid") {
        let id_token = idp.id_token_for_grant(&grant).map_err(server_error)?;
        answer.id_token = Some(id_token.token);
    }
    Ok(answer)
}

/// The error for a code that cannot be redeemed. A replayed code revokes what it issued
/// (OAuth 2.1 §4.1.3; RFC 6749 §4.1.2: "SHOULD revoke (when possible)": a full revocation list
/// leaves them to expire).
fn code_refused(idp: &Idp, refusal: CodeRefusal) -> OAuthError {
    match refusal {
        CodeRefusal::Replayed { mut tokens, family } => {
            if let Some(family) = family {
                let issued = idp.authz().grants().revoke_family(family);
                tokens.extend(issued);
            }
            let _ = idp.revoke_issued(&tokens);
            OAuthError::invalid_grant(
                "the authorization code was already used; the tokens issued for it are revoked",
            )
        }
        CodeRefusal::Expired => OAuthError::invalid_grant("the authorization code expired"),
        CodeRefusal::Unknown | CodeRefusal::OtherClient => {
            OAuthError::invalid_grant("unknown authorization code, or issued to another client")
        }
    }
}

fn refresh_token(idp: &Idp, client: &ClientRecord, form: &Form) -> Result<TokenAnswer, OAuthError> {
    let presented = form
        .get("refresh_token")
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
    let authz = idp.authz();
    if authz.settings.has(AsDefect::RefreshBroken) {
        return Err(OAuthError::invalid_grant("refresh tokens are not accepted")
            .because(RefusalReason::Grant));
    }
    // The request is checked before the token is used, so a bad request does not burn it.
    let peeked = authz.grants().peek_refresh(presented);
    let unbound = authz.settings.has(AsDefect::RefreshUnbound);
    let owner = match (unbound, &peeked) {
        (true, Some(grant)) => grant.client_id.clone(),
        _ => client.client_id.clone(),
    };
    let checks = peeked
        .filter(|grant| unbound || grant.client_id == client.client_id)
        .map(|grant| {
            let scope = if authz.settings.has(AsDefect::RefreshScopeEscalation) {
                form.get("scope")
                    .map_or_else(|| grant.scope.clone(), str::to_owned)
            } else {
                requested_scope(form, &grant)?
            };
            let resources = narrowed_resources(idp, form, &grant)?;
            Ok::<_, OAuthError>((scope, resources))
        })
        .transpose()?;
    // Public clients' refresh tokens rotate (OAuth 2.1 §4.3.1); confidential ones on request.
    let rotate = (client.is_public() && !authz.settings.has(AsDefect::RefreshNotRotated))
        || authz.settings.rotate_confidential_refresh_tokens;
    let used = authz
        .grants()
        .use_refresh(presented, &owner, idp.now(), rotate);
    // Every refusal of the refresh token itself is the grant's (not an authorization code's).
    let grant_refused = |error: OAuthError| Err(error.because(RefusalReason::Grant));
    let (family, grant) = match used {
        Ok(found) => found,
        Err(RefreshRefusal::Replayed { tokens }) => {
            // Revoked when possible (a full revocation list leaves them to expire).
            let _ = idp.revoke_issued(&tokens);
            return grant_refused(OAuthError::invalid_grant(
                "the refresh token was already used (rotated); the whole token family is revoked",
            ));
        }
        Err(RefreshRefusal::Revoked) => {
            return grant_refused(OAuthError::invalid_grant("the refresh token was revoked"));
        }
        Err(RefreshRefusal::Expired) => {
            return grant_refused(OAuthError::invalid_grant("the refresh token expired"));
        }
        Err(RefreshRefusal::Unknown) if authz.settings.has(AsDefect::DeadRefreshInvalidRequest) => {
            return grant_refused(OAuthError::invalid_request("refresh_token is not valid"));
        }
        Err(RefreshRefusal::Unknown | RefreshRefusal::OtherClient) => {
            return grant_refused(OAuthError::invalid_grant(
                "unknown refresh token, or issued to another client",
            ));
        }
    };
    let (scope, resources) = match checks {
        Some(checked) => checked,
        None => (grant.scope.clone(), grant.resources.clone()),
    };
    let access = idp
        .issue_for_grant(&grant, &scope, &resources)
        .map_err(server_error)?;
    let issued = issued(&access);
    let mut answer = token_answer(access, &scope);
    let refresh = if rotate {
        new_refresh_token(idp, family)?
    } else {
        presented.to_owned()
    };
    authz.grants().family_issued(family, issued, idp.now());
    answer.refresh_token = Some(refresh);
    Ok(answer)
}

/// The scope a refresh asks for: the grant's, or a narrower one (RFC 6749 §6).
fn requested_scope(form: &Form, grant: &Grant) -> Result<String, OAuthError> {
    Ok(match form.get("scope") {
        None => grant.scope.clone(),
        Some(asked) => {
            let granted: HashSet<&str> = grant.scope.split_ascii_whitespace().collect();
            if let Some(extra) = asked
                .split_ascii_whitespace()
                .find(|s| !granted.contains(s))
            {
                return Err(OAuthError::bad_request(
                    "invalid_scope",
                    format!("scope {extra:?} was not granted originally"),
                ));
            }
            asked.to_owned()
        }
    })
}

/// The audiences for a token: the `resource`s of this request, which must be among the grant's,
/// or else all of the grant's.
fn narrowed_resources(idp: &Idp, form: &Form, grant: &Grant) -> Result<Vec<String>, OAuthError> {
    let asked = resources(idp, form)?;
    if asked.is_empty() {
        return Ok(grant.resources.clone());
    }
    if !grant.resources.is_empty()
        && let Some(other) = asked.iter().find(|r| !grant.resources.contains(r))
    {
        return Err(OAuthError::invalid_target(format!(
            "resource {other:?} was not part of the authorization"
        )));
    }
    Ok(asked)
}

fn new_refresh_token(idp: &Idp, family: u64) -> Result<String, OAuthError> {
    let token = format!(
        "mock_rt_{}",
        random_hex(24).map_err(|e| server_error(e.into()))?
    );
    let expires_at = idp
        .now()
        .saturating_add(idp.authz().settings.refresh_token_ttl_secs);
    idp.authz()
        .grants()
        .add_refresh(token.clone(), family, expires_at);
    Ok(token)
}

fn token_answer(access: Access, scope: &str) -> TokenAnswer {
    TokenAnswer::new(access, (!scope.is_empty()).then(|| scope.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_written_as_serde_json_writes_them() {
        let access = Access {
            token: "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln".to_owned(),
            iat: 1_800_000_000,
            exp: 1_800_000_300,
        };
        let plain = TokenAnswer::new(access.clone(), None);
        let full = TokenAnswer {
            id_token: Some("id.token.x".to_owned()),
            refresh_token: Some("mock_rt_1".to_owned()),
            scope: Some("openid \"odd\"\tscope".to_owned()),
            token_type: "JWT",
            ..TokenAnswer::new(access, None)
        };
        for answer in [plain, full] {
            assert_eq!(
                answer.to_json(),
                serde_json::to_vec(&answer).expect("serialise")
            );
            let value: Value = serde_json::from_slice(&answer.to_json()).expect("JSON");
            assert_eq!(value, answer.to_value());
            assert_eq!(value["expires_in"], 300);
        }
    }
}
