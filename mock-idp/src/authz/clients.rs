//! OAuth clients: pre-registered ones from the configuration, and ones registered dynamically
//! (RFC 7591) and managed by their registration access token (RFC 7592).

use std::collections::{BTreeMap, HashSet, VecDeque};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::api::JsonObject;
use crate::authz::redirect::{RedirectPolicy, registration_problem};
use crate::names::closed_names;

closed_names! {
    /// How a client authenticates at the token endpoint (RFC 7591 §2).
    #[derive(Default)]
    pub enum AuthMethod("client authentication method") {
        /// A public client: `client_id` only, no secret.
        None = "none",
        /// HTTP Basic (RFC 6749 §2.3.1); the RFC 7591 default.
        #[default]
        ClientSecretBasic = "client_secret_basic",
        /// `client_id` and `client_secret` in the form body.
        ClientSecretPost = "client_secret_post",
    }
}

/// A set of [`AuthMethod`]s: the ways one client may authenticate at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct AuthMethods(u8);

impl AuthMethods {
    /// `client_secret_basic` and `client_secret_post`: what a real provider's configured
    /// confidential client may use (GitHub, Google and Entra ID take the secret either way).
    pub(crate) const SECRETS: AuthMethods = AuthMethods(0b110);

    fn bit(method: AuthMethod) -> u8 {
        match method {
            AuthMethod::None => 0b001,
            AuthMethod::ClientSecretBasic => 0b010,
            AuthMethod::ClientSecretPost => 0b100,
        }
    }

    /// Exactly `method`.
    pub(crate) fn only(method: AuthMethod) -> AuthMethods {
        AuthMethods(Self::bit(method))
    }

    /// Every method in `methods`.
    pub(crate) fn of(methods: &[AuthMethod]) -> AuthMethods {
        AuthMethods(methods.iter().fold(0, |set, m| set | Self::bit(*m)))
    }

    pub(crate) fn contains(self, method: AuthMethod) -> bool {
        self.0 & Self::bit(method) != 0
    }

    /// The methods, in the order of [`AuthMethod::ALL`].
    pub(crate) fn iter(self) -> impl Iterator<Item = AuthMethod> {
        AuthMethod::ALL
            .iter()
            .copied()
            .filter(move |m| self.contains(*m))
    }

    /// Their names joined with "or", for error messages.
    pub(crate) fn names(self) -> String {
        self.iter()
            .map(AuthMethod::name)
            .collect::<Vec<_>>()
            .join(" or ")
    }
}

/// The grant types the IdP implements.
pub(crate) const GRANT_TYPES: &[&str] =
    &["authorization_code", "refresh_token", "client_credentials"];

/// A client known in advance, from the configuration file or the Rust API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// The `client_id`.
    pub client_id: String,
    /// The secret of a confidential client; none for a public client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// The one method the client must use (strict). Without this and without
    /// `token_endpoint_auth_methods`: `client_secret_basic` or `client_secret_post` with a
    /// secret, as at real providers, and `none` without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<AuthMethod>,
    /// Every method the client may use, the first being the one it is registered with (RFC 7591
    /// has a single method; an upstream's configured client often may use several). Give this or
    /// `token_endpoint_auth_method`, not both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_methods: Option<Vec<AuthMethod>>,
    /// Registered redirect URIs.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Defaults to `authorization_code` and `refresh_token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_types: Option<Vec<String>>,
    /// Scopes the client may ask for (space-separated); any scope when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// How redirect URIs are matched.
    #[serde(default)]
    pub redirect_policy: RedirectPolicy,
    /// A display name for the consent page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
}

/// Where a client came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    Configured,
    Dynamic,
    /// Fetched from its Client ID Metadata Document URL.
    MetadataDocument,
}

/// A client as the IdP knows it.
#[derive(Clone, PartialEq)]
pub(crate) struct ClientRecord {
    pub(crate) client_id: String,
    pub(crate) client_secret: Option<String>,
    /// The method it is registered with (what its registration says).
    pub(crate) auth_method: AuthMethod,
    /// Every method it may authenticate with; contains `auth_method`.
    pub(crate) accepted: AuthMethods,
    pub(crate) redirect_uris: Vec<String>,
    pub(crate) grant_types: Vec<String>,
    pub(crate) scope: Option<String>,
    pub(crate) redirect_policy: RedirectPolicy,
    pub(crate) client_name: Option<String>,
    pub(crate) origin: Origin,
    /// RFC 7592: the bearer token that reads or deletes a dynamically registered client.
    pub(crate) registration_access_token: Option<String>,
    pub(crate) issued_at: i64,
    /// The further metadata it registered, echoed in the registration answer.
    pub(crate) metadata: ClientMetadata,
}

impl std::fmt::Debug for ClientRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRecord")
            .field("client_id", &self.client_id)
            .field("auth_method", &self.auth_method)
            .field("redirect_uris", &self.redirect_uris)
            .field("grant_types", &self.grant_types)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl ClientRecord {
    pub(crate) fn from_config(config: &ClientConfig, now: i64) -> Result<ClientRecord, String> {
        let id = &config.client_id;
        let secret = config.client_secret.is_some();
        let (auth_method, accepted) = match (
            config.token_endpoint_auth_method,
            config.token_endpoint_auth_methods.as_deref(),
        ) {
            (Some(_), Some(_)) => {
                return Err(format!(
                    "client {id:?}: give token_endpoint_auth_method or token_endpoint_auth_methods, not both"
                ));
            }
            (Some(method), None) => (method, AuthMethods::only(method)),
            (None, Some([])) => {
                return Err(format!(
                    "client {id:?}: token_endpoint_auth_methods must name a method"
                ));
            }
            (None, Some(methods @ [first, ..])) => (*first, AuthMethods::of(methods)),
            (None, None) if secret => (AuthMethod::ClientSecretBasic, AuthMethods::SECRETS),
            (None, None) => (AuthMethod::None, AuthMethods::only(AuthMethod::None)),
        };
        let public = accepted.contains(AuthMethod::None);
        if public && accepted != AuthMethods::only(AuthMethod::None) {
            return Err(format!(
                "client {id:?}: a client is public (none) or authenticates with a secret, not both"
            ));
        }
        match (public, secret) {
            (true, true) => {
                return Err(format!(
                    "client {id:?}: a public client (token_endpoint_auth_method none) has no client_secret"
                ));
            }
            (false, false) => {
                return Err(format!(
                    "client {id:?}: {} needs a client_secret",
                    accepted.names()
                ));
            }
            _ => {}
        }
        let grant_types = config
            .grant_types
            .clone()
            .unwrap_or_else(|| vec!["authorization_code".to_owned(), "refresh_token".to_owned()]);
        if let Some(unknown) = grant_types
            .iter()
            .find(|g| !GRANT_TYPES.contains(&g.as_str()))
        {
            return Err(format!(
                "client {:?}: unknown grant type {unknown:?}",
                config.client_id
            ));
        }
        if let Some(problem) = config
            .redirect_uris
            .iter()
            .find_map(|u| registration_problem(u))
        {
            return Err(format!("client {:?}: {problem}", config.client_id));
        }
        Ok(ClientRecord {
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
            auth_method,
            accepted,
            redirect_uris: config.redirect_uris.clone(),
            grant_types,
            scope: config.scope.clone(),
            redirect_policy: config.redirect_policy,
            client_name: config.client_name.clone(),
            origin: Origin::Configured,
            registration_access_token: None,
            issued_at: now,
            metadata: ClientMetadata::default(),
        })
    }

    pub(crate) fn allows_grant(&self, grant: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant)
    }

    pub(crate) fn is_public(&self) -> bool {
        self.auth_method == AuthMethod::None
    }

    /// Whether every scope in `requested` is one this client may have.
    pub(crate) fn scope_allowed(&self, requested: &str) -> bool {
        match &self.scope {
            None => true,
            Some(allowed) => {
                // A set, so that a long scope string costs linear time, not the product of both.
                let allowed: HashSet<&str> = allowed.split_ascii_whitespace().collect();
                requested
                    .split_ascii_whitespace()
                    .all(|s| allowed.contains(s))
            }
        }
    }

    /// The RFC 7591 §3.2.1 / RFC 7592 §3 answer describing this client.
    pub(crate) fn registration_response(&self, registration_client_uri: Option<&str>) -> Value {
        let mut out = JsonObject::new();
        self.metadata.echo(&mut out);
        out.insert("client_id".into(), json!(self.client_id));
        out.insert("client_id_issued_at".into(), json!(self.issued_at));
        if let Some(secret) = &self.client_secret {
            out.insert("client_secret".into(), json!(secret));
            out.insert("client_secret_expires_at".into(), json!(0));
        }
        out.insert(
            "token_endpoint_auth_method".into(),
            json!(self.auth_method.name()),
        );
        if self.accepted != AuthMethods::only(self.auth_method) {
            let all: Vec<&str> = self.accepted.iter().map(AuthMethod::name).collect();
            out.insert("token_endpoint_auth_methods".into(), json!(all));
        }
        out.insert("redirect_uris".into(), json!(self.redirect_uris));
        out.insert("grant_types".into(), json!(self.grant_types));
        out.insert(
            "response_types".into(),
            if self.allows_grant("authorization_code") {
                json!(["code"])
            } else {
                json!([])
            },
        );
        if let Some(scope) = &self.scope {
            out.insert("scope".into(), json!(scope));
        }
        if let Some(name) = &self.client_name {
            out.insert("client_name".into(), json!(name));
        }
        if let (Some(token), Some(uri)) = (&self.registration_access_token, registration_client_uri)
        {
            out.insert("registration_access_token".into(), json!(token));
            out.insert("registration_client_uri".into(), json!(uri));
        }
        Value::Object(out)
    }
}

/// An RFC 7591 §3.2.2 error: `invalid_redirect_uri` or `invalid_client_metadata`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RegistrationError {
    pub(crate) code: &'static str,
    pub(crate) description: String,
}

fn metadata_error(description: impl Into<String>) -> RegistrationError {
    RegistrationError {
        code: "invalid_client_metadata",
        description: description.into(),
    }
}

/// The fields of a registration request the IdP acts on, checked (RFC 7591 §2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Registration {
    pub(crate) auth_method: AuthMethod,
    pub(crate) redirect_uris: Vec<String>,
    pub(crate) grant_types: Vec<String>,
    pub(crate) scope: Option<String>,
    pub(crate) client_name: Option<String>,
    /// The further metadata to keep and echo.
    pub(crate) metadata: ClientMetadata,
}

/// Checks a registration request body (JSON object).
pub(crate) fn check_registration(body: &Value) -> Result<Registration, RegistrationError> {
    let Some(object) = body.as_object() else {
        return Err(metadata_error(
            "the registration request must be a JSON object",
        ));
    };
    let strings = |name: &str| -> Result<Option<Vec<String>>, RegistrationError> {
        match object.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| {
                    i.as_str().map(str::to_owned).ok_or_else(|| {
                        metadata_error(format!("{name} must be an array of strings"))
                    })
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(metadata_error(format!(
                "{name} must be an array of strings"
            ))),
        }
    };
    let string = |name: &str| -> Result<Option<String>, RegistrationError> {
        match object.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(metadata_error(format!("{name} must be a string"))),
        }
    };
    let auth_method = match string("token_endpoint_auth_method")? {
        None => AuthMethod::ClientSecretBasic,
        Some(m) => m.parse::<AuthMethod>().ok().ok_or_else(|| {
            metadata_error(format!(
                "token_endpoint_auth_method {m:?} is not supported; use none, client_secret_basic or client_secret_post"
            ))
        })?,
    };
    let grant_types =
        strings("grant_types")?.unwrap_or_else(|| vec!["authorization_code".to_owned()]);
    if grant_types.is_empty() {
        return Err(metadata_error("grant_types must not be empty"));
    }
    if let Some(unknown) = grant_types
        .iter()
        .find(|g| !GRANT_TYPES.contains(&g.as_str()))
    {
        return Err(metadata_error(format!(
            "grant type {unknown:?} is not supported"
        )));
    }
    let response_types = strings("response_types")?.unwrap_or_else(|| vec!["code".to_owned()]);
    if let Some(unknown) = response_types.iter().find(|r| r.as_str() != "code") {
        return Err(metadata_error(format!(
            "response type {unknown:?} is not supported; only code"
        )));
    }
    let wants_code = grant_types.iter().any(|g| g == "authorization_code");
    // RFC 7591 §2.1: the grant and response types must agree.
    if wants_code && !response_types.iter().any(|r| r == "code") {
        return Err(metadata_error(
            "grant type authorization_code needs response type code",
        ));
    }
    if auth_method == AuthMethod::None && grant_types.iter().any(|g| g == "client_credentials") {
        return Err(metadata_error(
            "a public client (token_endpoint_auth_method none) cannot use client_credentials",
        ));
    }
    let redirect_uris = strings("redirect_uris")?.unwrap_or_default();
    if wants_code && redirect_uris.is_empty() {
        return Err(RegistrationError {
            code: "invalid_redirect_uri",
            description: "redirect_uris is required for the authorization_code grant".to_owned(),
        });
    }
    if let Some(problem) = redirect_uris.iter().find_map(|u| registration_problem(u)) {
        return Err(RegistrationError {
            code: "invalid_redirect_uri",
            description: problem,
        });
    }
    let metadata = ClientMetadata::from_json(object).map_err(metadata_error)?;
    let registration = Registration {
        auth_method,
        redirect_uris,
        grant_types,
        scope: string("scope")?,
        client_name: string("client_name")?,
        metadata,
    };
    let kept = registration.kept_bytes();
    if kept > MAX_METADATA_BYTES {
        return Err(metadata_error(format!(
            "the client metadata to keep takes {kept} bytes; at most {MAX_METADATA_BYTES} are kept per client"
        )));
    }
    Ok(registration)
}

impl Registration {
    /// The bytes of metadata this registration asks the IdP to keep.
    fn kept_bytes(&self) -> usize {
        let all = |items: &[String]| items.iter().map(String::len).sum::<usize>();
        all(&self.redirect_uris)
            + all(&self.grant_types)
            + self.scope.as_deref().map_or(0, str::len)
            + self.client_name.as_deref().map_or(0, str::len)
            + self.metadata.kept_bytes()
    }
}

/// The most bytes of metadata kept per dynamically registered client (redirect URIs, grant
/// types, scope, name and the fields of [`ClientMetadata`]): far more than a real client sends,
/// and it keeps the 10,000 registrations the IdP holds within about 50 MB.
pub(crate) const MAX_METADATA_BYTES: usize = 4096;

closed_names! {
    /// OpenID Connect Registration §2 `application_type`.
    pub enum ApplicationType("application type") {
        /// A native application (loopback or private-use redirect URIs).
        Native = "native",
        /// A web application (the default when absent).
        Web = "web",
    }
}

/// The optional RFC 7591 §2 metadata (and OpenID Connect's `application_type`) that a client
/// registered, as typed fields: what the registration answer echoes besides the fields the IdP
/// acts on. Any other field is ignored (RFC 7591 §2: "The authorization server MUST ignore any
/// client metadata sent by the client that it does not understand"), so it is neither kept nor
/// echoed, and neither is anything the server issues itself (`client_secret`, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ClientMetadata {
    pub(crate) application_type: Option<ApplicationType>,
    pub(crate) client_uri: Option<Box<str>>,
    pub(crate) logo_uri: Option<Box<str>>,
    pub(crate) tos_uri: Option<Box<str>>,
    pub(crate) policy_uri: Option<Box<str>>,
    pub(crate) software_id: Option<Box<str>>,
    pub(crate) software_version: Option<Box<str>>,
    pub(crate) contacts: Box<[Box<str>]>,
}

impl ClientMetadata {
    /// Reads the fields from a registration request or a metadata document; a field of the
    /// wrong type is an error (`invalid_client_metadata`).
    pub(crate) fn from_json(object: &JsonObject) -> Result<ClientMetadata, String> {
        let string = |name: &str| -> Result<Option<Box<str>>, String> {
            match object.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.as_str().into())),
                Some(_) => Err(format!("{name} must be a string")),
            }
        };
        let application_type = match string("application_type")? {
            None => None,
            // OpenID Connect Registration §2: native or web (web when absent).
            Some(kind) => Some(kind.parse::<ApplicationType>().map_err(|_| {
                format!("application_type {kind:?} is not supported; use native or web")
            })?),
        };
        let contacts = match object.get("contacts") {
            None | Some(Value::Null) => Box::default(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| item.as_str().map(Box::from))
                .collect::<Option<_>>()
                .ok_or("contacts must be an array of strings")?,
            Some(_) => return Err("contacts must be an array of strings".to_owned()),
        };
        Ok(ClientMetadata {
            application_type,
            client_uri: string("client_uri")?,
            logo_uri: string("logo_uri")?,
            tos_uri: string("tos_uri")?,
            policy_uri: string("policy_uri")?,
            software_id: string("software_id")?,
            software_version: string("software_version")?,
            contacts,
        })
    }

    /// The optional string fields by name.
    fn strings(&self) -> [(&'static str, Option<&str>); 7] {
        [
            ("application_type", self.application_type.map(|a| a.name())),
            ("client_uri", self.client_uri.as_deref()),
            ("logo_uri", self.logo_uri.as_deref()),
            ("tos_uri", self.tos_uri.as_deref()),
            ("policy_uri", self.policy_uri.as_deref()),
            ("software_id", self.software_id.as_deref()),
            ("software_version", self.software_version.as_deref()),
        ]
    }

    /// Adds the fields that were registered to a registration answer.
    fn echo(&self, out: &mut JsonObject) {
        for (name, value) in self.strings() {
            if let Some(value) = value {
                out.insert(name.into(), json!(value));
            }
        }
        if !self.contacts.is_empty() {
            out.insert("contacts".into(), json!(self.contacts));
        }
    }

    fn kept_bytes(&self) -> usize {
        let strings: usize = self
            .strings()
            .iter()
            .filter_map(|(_, v)| *v)
            .map(str::len)
            .sum();
        strings + self.contacts.iter().map(|c| c.len()).sum::<usize>()
    }
}

/// The most dynamically registered clients kept; the oldest are forgotten first.
const DYNAMIC_CAPACITY: usize = 10_000;

/// Every client of one issuer.
#[derive(Debug, Default)]
pub(crate) struct ClientRegistry {
    clients: BTreeMap<String, ClientRecord>,
    /// Dynamic clients in registration order, for eviction.
    dynamic_order: VecDeque<String>,
}

impl ClientRegistry {
    pub(crate) fn get(&self, client_id: &str) -> Option<&ClientRecord> {
        self.clients.get(client_id)
    }

    /// Adds or replaces a client.
    pub(crate) fn insert(&mut self, record: ClientRecord) {
        if record.origin != Origin::Configured {
            if self.clients.contains_key(&record.client_id) {
                self.dynamic_order.retain(|id| id != &record.client_id);
            }
            self.dynamic_order.push_back(record.client_id.clone());
            while self.dynamic_order.len() > DYNAMIC_CAPACITY {
                if let Some(old) = self.dynamic_order.pop_front() {
                    self.clients.remove(&old);
                }
            }
        }
        self.clients.insert(record.client_id.clone(), record);
    }

    pub(crate) fn remove(&mut self, client_id: &str) -> Option<ClientRecord> {
        self.dynamic_order.retain(|id| id != client_id);
        self.clients.remove(client_id)
    }

    /// Forgets every dynamically registered and fetched client.
    pub(crate) fn forget_dynamic(&mut self) {
        self.clients.retain(|_, c| c.origin == Origin::Configured);
        self.dynamic_order.clear();
    }

    pub(crate) fn list(&self) -> impl Iterator<Item = &ClientRecord> {
        self.clients.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_defaults_follow_rfc_7591() {
        let r = check_registration(&json!({"redirect_uris": ["http://127.0.0.1:9/cb"]}))
            .expect("valid");
        assert_eq!(r.auth_method, AuthMethod::ClientSecretBasic);
        assert_eq!(r.grant_types, ["authorization_code"]);
    }

    #[test]
    fn registration_errors_use_the_rfc_7591_codes() {
        let code = |body: Value| check_registration(&body).expect_err("invalid").code;
        assert_eq!(code(json!({})), "invalid_redirect_uri");
        assert_eq!(
            code(json!({"redirect_uris": ["http://evil.example/cb"]})),
            "invalid_redirect_uri"
        );
        assert_eq!(code(json!([])), "invalid_client_metadata");
        assert_eq!(
            code(json!({"redirect_uris": "https://a.example/cb"})),
            "invalid_client_metadata"
        );
        assert_eq!(
            code(
                json!({"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "private_key_jwt"})
            ),
            "invalid_client_metadata"
        );
        assert_eq!(
            code(
                json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"})
            ),
            "invalid_client_metadata"
        );
        assert_eq!(
            code(json!({"redirect_uris": ["https://a.example/cb"], "response_types": ["token"]})),
            "invalid_client_metadata"
        );
        for scheme in ["ftp://a.example/cb", "ws://127.0.0.1/cb", "about:blank"] {
            assert_eq!(
                code(json!({"redirect_uris": [scheme]})),
                "invalid_redirect_uri",
                "{scheme}"
            );
        }
        assert!(
            check_registration(&json!({"grant_types": ["client_credentials"]})).is_ok(),
            "no redirect URI is needed without the code grant"
        );
    }

    #[test]
    fn only_known_metadata_is_kept_and_echoed() {
        let r = check_registration(&json!({
            "redirect_uris": ["http://127.0.0.1:9/cb"],
            "token_endpoint_auth_method": "none",
            "client_secret": "chosen-by-the-caller",
            "client_secret_expires_at": 99,
            "registration_access_token": "mine",
            "application_type": "native",
            "client_uri": "https://app.example",
            "contacts": ["ops@app.example"],
            "x_unknown": {"nested": [1, 2, 3]},
        }))
        .expect("valid");
        let record = ClientRecord {
            client_id: "dcr_1".into(),
            client_secret: None,
            auth_method: r.auth_method,
            accepted: AuthMethods::only(r.auth_method),
            redirect_uris: r.redirect_uris,
            grant_types: r.grant_types,
            scope: r.scope,
            redirect_policy: RedirectPolicy::default(),
            client_name: r.client_name,
            origin: Origin::Dynamic,
            registration_access_token: None,
            issued_at: 7,
            metadata: r.metadata,
        };
        assert_eq!(
            record.registration_response(None),
            json!({
                "client_id": "dcr_1",
                "client_id_issued_at": 7,
                "token_endpoint_auth_method": "none",
                "redirect_uris": ["http://127.0.0.1:9/cb"],
                "grant_types": ["authorization_code"],
                "response_types": ["code"],
                "application_type": "native",
                "client_uri": "https://app.example",
                "contacts": ["ops@app.example"],
            }),
            "nothing the caller chose for the server (a secret, a token) and nothing unknown"
        );
    }

    #[test]
    fn kept_metadata_is_bounded_and_typed() {
        let big = json!({
            "redirect_uris": ["http://127.0.0.1:9/cb"],
            "client_name": "n".repeat(MAX_METADATA_BYTES),
        });
        let err = check_registration(&big).expect_err("too much to keep");
        assert_eq!(err.code, "invalid_client_metadata");
        // Unknown fields cost nothing: they are not kept.
        let padded = json!({
            "redirect_uris": ["http://127.0.0.1:9/cb"],
            "x_padding": "p".repeat(60 * 1024),
        });
        assert!(check_registration(&padded).is_ok());
        for bad in [
            json!({"redirect_uris": ["http://127.0.0.1:9/cb"], "contacts": "a@b"}),
            json!({"redirect_uris": ["http://127.0.0.1:9/cb"], "logo_uri": 1}),
            json!({"redirect_uris": ["http://127.0.0.1:9/cb"], "application_type": "tv"}),
        ] {
            let err = check_registration(&bad).expect_err("wrong type");
            assert_eq!(err.code, "invalid_client_metadata", "{bad}");
        }
    }

    #[test]
    fn configured_clients_are_checked() {
        let public = ClientConfig {
            client_id: "p".into(),
            client_secret: None,
            token_endpoint_auth_method: None,
            token_endpoint_auth_methods: None,
            redirect_uris: vec!["http://127.0.0.1/cb".into()],
            grant_types: None,
            scope: Some("a b".into()),
            redirect_policy: RedirectPolicy::default(),
            client_name: None,
        };
        let record = ClientRecord::from_config(&public, 0).expect("valid");
        assert!(record.is_public());
        assert!(record.scope_allowed("a"));
        assert!(!record.scope_allowed("a c"));
        let mut bad = public.clone();
        bad.token_endpoint_auth_method = Some(AuthMethod::ClientSecretPost);
        assert!(ClientRecord::from_config(&bad, 0).is_err());
        let mut bad = public;
        bad.grant_types = Some(vec!["implicit".into()]);
        assert!(ClientRecord::from_config(&bad, 0).is_err());
    }

    #[test]
    fn dynamic_clients_are_bounded() {
        let mut registry = ClientRegistry::default();
        for i in 0..DYNAMIC_CAPACITY + 2 {
            registry.insert(ClientRecord {
                client_id: format!("c{i}"),
                client_secret: None,
                auth_method: AuthMethod::None,
                accepted: AuthMethods::only(AuthMethod::None),
                redirect_uris: vec![],
                grant_types: vec![],
                scope: None,
                redirect_policy: RedirectPolicy::default(),
                client_name: None,
                origin: Origin::Dynamic,
                registration_access_token: None,
                issued_at: 0,
                metadata: ClientMetadata::default(),
            });
        }
        assert!(registry.get("c0").is_none());
        assert!(registry.get("c2").is_some());
        assert_eq!(registry.list().count(), DYNAMIC_CAPACITY);
    }
}
