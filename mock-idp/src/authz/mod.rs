//! The authorization-server side of the IdP: clients and their registration, the authorization
//! endpoint with PKCE and consent, and the grants the token endpoint redeems.
//!
//! Pure rules live in the submodules; this module holds the per-issuer state and the steps of
//! the authorization-code flow, which the HTTP handlers in `routes/` only parse and shape.

pub(crate) mod cimd;
pub(crate) mod clients;
pub(crate) mod grants;
pub(crate) mod pkce;
pub(crate) mod redirect;

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde::{Deserialize, Serialize};

use crate::api::RefusalReason;
use crate::names::closed_names;
use crate::oauth_error::OAuthError;
use crate::sync::{lock, read, write};
use clients::{ClientConfig, ClientRecord, ClientRegistry};
use grants::{CodeRecord, Grant, GrantStore};

closed_names! {
    /// Whether clients may register themselves.
    #[derive(Default)]
    pub enum RegistrationMode("registration mode") {
        /// RFC 7591 Dynamic Client Registration at `/register`, RFC 7592 management
        /// (like WorkOS AuthKit or Descope).
        #[default]
        Dynamic = "dynamic",
        /// Only configured clients; no `registration_endpoint` and no `/register` (like GitHub,
        /// Google or Azure).
        PreRegistered = "pre-registered",
    }
}

closed_names! {
    /// How the authorization endpoint obtains the user's approval.
    #[derive(Default)]
    pub enum ConsentMode("consent mode") {
        /// Approve at once, as the default subject, with the scopes asked for.
        #[default]
        Auto = "auto",
        /// An HTML login and consent page: choose the subject and scopes, approve or deny.
        Page = "page",
    }
}

closed_names! {
    /// A provider whose documented quirks the issuer reproduces (see `docs/personas.md`).
    #[derive(Default)]
    pub enum Persona("persona") {
        /// The standards as written: RFC 8414 metadata, JSON everywhere, RFC 8707 resources.
        #[default]
        Standard = "standard",
        /// Like GitHub's OAuth apps: pre-registered clients only, no discovery documents, token
        /// answers form-encoded unless JSON is asked for, comma-separated scopes, token errors with
        /// HTTP 200, and `resource` ignored.
        Github = "github",
        /// Like a SaaS identity platform built for MCP (WorkOS AuthKit, Descope): open dynamic
        /// registration, Client ID Metadata Documents, RFC 8707 resources bound into `aud`, refresh
        /// tokens that rotate for every client.
        Saas = "saas",
    }
}

closed_names! {
    /// A rule the authorization server breaks on purpose, so that a conformance check can be shown
    /// to catch it (the harness's self-tests mount the IdP inside the reference target with these).
    /// Each is one explicit branch at the place its rule lives.
    #[derive(PartialOrd, Ord)]
    pub enum AsDefect("authorization-server defect") {
        /// Authorization requests without `code_challenge` are accepted.
        PkceNotRequired = "pkce-not-required",
        /// `code_challenge_method=plain` is accepted.
        PkcePlainAccepted = "pkce-plain-accepted",
        /// A `code_challenge` without `code_challenge_method` is taken as S256 (RFC 7636 §4.3 says
        /// an absent method means plain).
        PkceAbsentMethodS256 = "pkce-absent-method-s256",
        /// The token endpoint does not check `code_verifier` (wrong or missing).
        PkceVerifierUnchecked = "pkce-verifier-unchecked",
        /// `state` is not returned to the client.
        NoStateEcho = "no-state-echo",
        /// The authorization response carries no `iss`, though the metadata says it does.
        NoIss = "no-iss",
        /// Authorization codes can be redeemed more than once.
        ReusableCodes = "reusable-codes",
        /// Codes are not bound to the client and redirect URI they were issued for.
        UnboundCodes = "unbound-codes",
        /// Failed client authentication answers 400 `unauthorized_client`, not 401 `invalid_client`.
        UnauthorizedClientForBadCredentials = "unauthorized-client-for-bad-credentials",
        /// `invalid_grant` with HTTP 401 instead of 400.
        InvalidGrant401 = "invalid-grant401",
        /// Token-endpoint errors with HTTP 200.
        Errors200 = "errors200",
        /// Token responses without `Cache-Control: no-store`.
        NoCacheControl = "no-cache-control",
        /// Public clients' refresh tokens do not rotate.
        RefreshNotRotated = "refresh-not-rotated",
        /// A refresh token works for any client.
        RefreshUnbound = "refresh-unbound",
        /// A refresh may ask for more scope than was granted.
        RefreshScopeEscalation = "refresh-scope-escalation",
        /// Access tokens carry the issuer as a second audience.
        AudienceWidened = "audience-widened",
        /// Any `resource` is accepted, even one the server does not serve.
        AnyResource = "any-resource",
        /// Registration answers 200 instead of 201.
        Register200 = "register200",
        /// The registration answer echoes only `client_id`.
        RegisterNoEcho = "register-no-echo",
        /// Registration accepts any redirect URI (`javascript:`, fragments, plain `http` hosts).
        RegisterAnyRedirect = "register-any-redirect",
        /// Registration refuses requests that omit optional metadata or carry unknown fields.
        RegisterStrict = "register-strict",
        /// Dynamically registered clients match redirect URIs by prefix.
        RedirectPrefix = "redirect-prefix",
        /// Dynamically registered clients accept any redirect URI.
        RedirectAny = "redirect-any",
        /// Loopback redirect URIs must match the registered port exactly.
        RedirectStrictLoopback = "redirect-strict-loopback",
        /// An unregistered redirect URI gets the error redirected to it.
        ErrorRedirectUnregistered = "error-redirect-unregistered",
        /// The metadata omits `code_challenge_methods_supported`.
        MetadataNoPkce = "metadata-no-pkce",
        /// The metadata's `issuer` differs from the issuer URL (a trailing slash).
        MetadataWrongIssuer = "metadata-wrong-issuer",
        /// The consent form carries no CSRF protection.
        ConsentNoCsrf = "consent-no-csrf",
        /// The consent page may be framed (no `X-Frame-Options`, no `frame-ancestors`).
        ConsentFrameable = "consent-frameable",
        /// The consent page names neither the client nor where it redirects.
        ConsentPageVague = "consent-page-vague",
        /// The OpenID Connect discovery document names another token endpoint than the RFC 8414 one.
        MetadataOidcDiffers = "metadata-oidc-differs",
        /// The metadata advertises a revocation endpoint that does not exist.
        MetadataDeadRevocationEndpoint = "metadata-dead-revocation-endpoint",
        /// The metadata omits `response_types_supported`.
        MetadataNoResponseTypes = "metadata-no-response-types",
        /// Token responses say `token_type: JWT` instead of Bearer.
        TokenTypeWrong = "token-type-wrong",
        /// Refresh tokens are issued but never accepted (`invalid_grant`).
        RefreshBroken = "refresh-broken",
        /// Errors after the client and redirect URI were verified are shown, not redirected.
        ErrorsShownNotRedirected = "errors-shown-not-redirected",
        /// Any `resource` parameter is refused with `invalid_target`.
        RejectsResource = "rejects-resource",
        /// Once a browser approved one client, every client is approved there without a page.
        ConsentRememberedPerBrowser = "consent-remembered-per-browser",
        /// An unknown refresh token gets `invalid_request` instead of `invalid_grant`.
        DeadRefreshInvalidRequest = "dead-refresh-invalid-request",
        /// Token responses never carry `scope`, even when less was granted than asked for.
        TokenScopeOmitted = "token-scope-omitted",
        /// Resources are compared as strings, so `HTTP://HOST/mcp` is not the resource `http://host/mcp`.
        ResourceExactString = "resource-exact-string",
        /// A resource with or without a trailing slash is accepted as the configured one, and the
        /// token's audience is the string as sent.
        ResourceSlashLoose = "resource-slash-loose",
        /// The consent page's cookie is set without `HttpOnly` and `SameSite`.
        ConsentCookieLoose = "consent-cookie-loose",
        /// Registrations with `application_type: native` are refused.
        RegisterNativeRefused = "register-native-refused",
        /// A token request from a dynamically registered client id the server has no record of
        /// (as after a restart) answers 500 instead of `invalid_client`.
        ForgottenClient500 = "forgotten-client500",
        /// Client ID Metadata Documents are advertised in the metadata, but URL client IDs are
        /// treated as unknown clients (never fetched).
        CimdAdvertisedOnly = "cimd-advertised-only",
        /// A metadata document whose `client_id` differs from its URL is accepted.
        CimdClientIdUnchecked = "cimd-client-id-unchecked",
        /// A metadata-document client may use any redirect URI, not only those its document lists.
        CimdRedirectUnchecked = "cimd-redirect-unchecked",
        /// A metadata document with a client secret or a secret-based authentication method is
        /// accepted (the client is treated as public anyway).
        CimdSecretAccepted = "cimd-secret-accepted",
        /// Client ID URLs with a fragment or dot segments are fetched like any other.
        CimdUrlUnchecked = "cimd-url-unchecked",
        /// Metadata documents of any size are read.
        CimdOversizeAccepted = "cimd-oversize-accepted",
        /// An issuer under a path publishes its metadata only at the origin's root well-known URL
        /// (`/.well-known/oauth-authorization-server`), none of the forms MCP clients probe.
        MetadataRootOnly = "metadata-root-only",
        /// The metadata advertises the `client_credentials` grant, but the token endpoint refuses
        /// it with `unsupported_grant_type`.
        ClientCredentialsRefused = "client-credentials-refused",
        /// A `client_secret_basic` client must also send `client_id` in the body; the Basic header
        /// alone is refused with `invalid_client`.
        BasicNeedsBodyClientId = "basic-needs-body-client-id",
        /// The metadata advertises `client_secret_post`, but a secret in the body never
        /// authenticates a client (`invalid_client`).
        ClientSecretPostIgnored = "client-secret-post-ignored",
        /// An authorization request without `scope` from a client that registered none is
        /// granted an empty scope, instead of a default or `invalid_scope`.
        NoScopeDefault = "no-scope-default",
    }
}

/// The authorization-server settings of one issuer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthzSettings {
    /// Dynamic registration, or configured clients only.
    pub registration: RegistrationMode,
    /// Accept HTTPS URLs as client IDs and fetch their Client ID Metadata Documents.
    pub client_id_metadata_documents: bool,
    /// Let Client ID Metadata Document URLs resolve to loopback or private addresses (tests only).
    pub allow_private_metadata_urls: bool,
    /// Clients known in advance.
    pub clients: Vec<ClientConfig>,
    /// Automatic approval or a consent page.
    pub consent: ConsentMode,
    /// The subject of automatically approved grants.
    pub default_subject: String,
    /// When set, the only RFC 8707 resources tokens may be requested for; others get
    /// `invalid_target`.
    pub resources: Option<Vec<String>>,
    /// Lifetime of access tokens issued by grants.
    pub access_token_ttl_secs: i64,
    /// Lifetime of refresh tokens.
    pub refresh_token_ttl_secs: i64,
    /// Lifetime of authorization codes.
    pub code_ttl_secs: i64,
    /// Rotate the refresh tokens of confidential clients too (public clients always rotate).
    pub rotate_confidential_refresh_tokens: bool,
    /// `scopes_supported` in the metadata. The IdP grants any scope a client may ask for.
    pub scopes_supported: Vec<String>,
    /// A provider to imitate; it overrides the settings its quirks concern.
    pub persona: Persona,
    /// The algorithm of the issuer's keys: `RS256` (default), `ES256` or `EdDSA`. Keys already
    /// stored in the state directory keep theirs.
    pub signing_alg: crate::keys::SigningAlg,
    /// Rotate keys on a schedule: every this many seconds a new key is announced, activated
    /// after `key_overlap_secs`, and the old one retired after another `key_overlap_secs`.
    pub key_rotation_secs: Option<u64>,
    /// The announce → active → retired overlap of scheduled rotation (default 30 s).
    pub key_overlap_secs: u64,
    /// Rules broken on purpose (fault targets for conformance tests); empty by default.
    pub defects: Vec<AsDefect>,
}

impl Default for AuthzSettings {
    fn default() -> Self {
        AuthzSettings {
            registration: RegistrationMode::Dynamic,
            client_id_metadata_documents: false,
            allow_private_metadata_urls: false,
            clients: Vec::new(),
            consent: ConsentMode::Auto,
            default_subject: "conformance-user".to_owned(),
            resources: None,
            access_token_ttl_secs: 300,
            refresh_token_ttl_secs: 86_400,
            code_ttl_secs: 60,
            rotate_confidential_refresh_tokens: false,
            scopes_supported: ["openid", "profile", "email", "offline_access"]
                .map(str::to_owned)
                .to_vec(),
            persona: Persona::Standard,
            signing_alg: crate::keys::SigningAlg::Rs256,
            key_rotation_secs: None,
            key_overlap_secs: 30,
            defects: Vec::new(),
        }
    }
}

impl AuthzSettings {
    /// The settings with the persona's choices applied over them.
    pub(crate) fn with_persona(mut self) -> AuthzSettings {
        match self.persona {
            Persona::Standard => {}
            Persona::Github => {
                self.registration = RegistrationMode::PreRegistered;
                self.client_id_metadata_documents = false;
            }
            Persona::Saas => {
                self.registration = RegistrationMode::Dynamic;
                self.client_id_metadata_documents = true;
                self.rotate_confidential_refresh_tokens = true;
            }
        }
        self
    }

    /// Token answers are form-encoded unless the request accepts JSON (GitHub).
    pub(crate) fn form_unless_json(&self) -> bool {
        self.persona == Persona::Github
    }

    /// Whether the issuer breaks `rule` on purpose.
    pub(crate) fn has(&self, defect: AsDefect) -> bool {
        self.defects.contains(&defect)
    }

    /// Token endpoint errors are answered with HTTP 200 (GitHub).
    pub(crate) fn errors_with_200(&self) -> bool {
        self.persona == Persona::Github || self.has(AsDefect::Errors200)
    }

    /// Whether discovery documents are published (GitHub publishes none for OAuth apps).
    pub(crate) fn publishes_metadata(&self) -> bool {
        self.persona != Persona::Github
    }

    /// The scope granted when neither the request nor the client's registration names one: every
    /// advertised scope but `offline_access` (documented in the metadata, as RFC 6749 §3.3 asks).
    pub(crate) fn default_scope(&self) -> String {
        self.scopes_supported
            .iter()
            .filter(|s| *s != "offline_access")
            .cloned()
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Whether a confidential client may send its secret by either method, whatever method it
    /// was configured with (GitHub: an OAuth app has no authentication-method setting; its docs
    /// name `client_id` and `client_secret` as parameters of the token request, and the HTTP
    /// Basic header is taken too: golang.org/x/oauth2 sent GitHub's token endpoint Basic
    /// credentials only, since github.com is not among the providers its `internal/token.go`
    /// lists as refusing the header).
    pub(crate) fn either_secret_method(&self) -> bool {
        self.persona == Persona::Github
    }

    /// Whether RFC 8707 `resource` is honoured (GitHub ignores it).
    pub(crate) fn honours_resource(&self) -> bool {
        self.persona != Persona::Github
    }
}

/// A checked authorization request, ready to be approved or denied.
#[derive(Debug, Clone)]
pub(crate) struct AuthorizeRequest {
    pub(crate) client: ClientRecord,
    /// Where the answer goes.
    pub(crate) redirect_uri: String,
    /// The `redirect_uri` as sent, which the token request must repeat (absent if not sent).
    pub(crate) redirect_uri_sent: Option<String>,
    pub(crate) state: Option<String>,
    pub(crate) scope: String,
    pub(crate) resources: Vec<String>,
    pub(crate) code_challenge: String,
    pub(crate) nonce: Option<String>,
}

/// The raw parameters of an authorization request.
#[derive(Debug, Clone, Default)]
pub(crate) struct AuthorizeParams {
    pub(crate) client_id: Option<String>,
    pub(crate) redirect_uri: Option<String>,
    pub(crate) response_type: Option<String>,
    pub(crate) scope: Option<String>,
    pub(crate) state: Option<String>,
    pub(crate) code_challenge: Option<String>,
    pub(crate) code_challenge_method: Option<String>,
    pub(crate) resources: Vec<String>,
    pub(crate) nonce: Option<String>,
}

/// What the authorization endpoint does with a request.
#[derive(Debug)]
pub(crate) enum AuthorizeStep {
    /// The request cannot be answered at any redirect URI: show this error, never redirect
    /// (RFC 6749 §4.1.2.1, OAuth 2.1 §4.1.2.1).
    ErrorPage(OAuthError),
    /// Send the user agent here with this error for the client to see.
    Redirect(String, OAuthError),
    /// Ask the user (or approve at once).
    Consent(Box<AuthorizeRequest>),
}

/// A consent page waiting for the user's decision.
#[derive(Debug, Clone)]
pub(crate) struct PendingConsent {
    pub(crate) request: AuthorizeRequest,
    /// Must come back in the form and in the cookie (double-submit CSRF protection).
    pub(crate) csrf: String,
    pub(crate) expires_at: i64,
}

const PENDING_CAPACITY: usize = 1_000;
/// How long a consent page stays answerable.
pub(crate) const CONSENT_TTL_SECS: i64 = 600;

/// The authorization-server state of one issuer.
#[derive(Debug)]
pub(crate) struct AuthzState {
    pub(crate) settings: AuthzSettings,
    clients: RwLock<ClientRegistry>,
    grants: Mutex<GrantStore>,
    pending: Mutex<(HashMap<String, PendingConsent>, VecDeque<String>)>,
}

impl AuthzState {
    /// State with the configured clients (and `extra`, e.g. the client-credentials client).
    pub(crate) fn new(
        settings: AuthzSettings,
        extra: Vec<ClientRecord>,
        now: i64,
    ) -> Result<AuthzState, String> {
        let settings = settings.with_persona();
        let mut registry = ClientRegistry::default();
        for record in extra {
            registry.insert(record);
        }
        for config in &settings.clients {
            registry.insert(ClientRecord::from_config(config, now)?);
        }
        Ok(AuthzState {
            settings,
            clients: RwLock::new(registry),
            grants: Mutex::new(GrantStore::default()),
            pending: Mutex::new((HashMap::new(), VecDeque::new())),
        })
    }

    pub(crate) fn client(&self, client_id: &str) -> Option<ClientRecord> {
        read(&self.clients).get(client_id).cloned()
    }

    pub(crate) fn clients(&self) -> RwLockReadGuard<'_, ClientRegistry> {
        read(&self.clients)
    }

    pub(crate) fn clients_mut(&self) -> RwLockWriteGuard<'_, ClientRegistry> {
        write(&self.clients)
    }

    pub(crate) fn grants(&self) -> MutexGuard<'_, GrantStore> {
        lock(&self.grants)
    }

    /// The redirect policy the client is held to (a defect may loosen it for dynamic clients).
    pub(crate) fn redirect_policy(&self, client: &ClientRecord) -> redirect::RedirectPolicy {
        let dynamic = client.registration_access_token.is_some();
        if dynamic && self.settings.has(AsDefect::RedirectAny) {
            redirect::RedirectPolicy::Any
        } else if dynamic && self.settings.has(AsDefect::RedirectPrefix) {
            redirect::RedirectPolicy::Prefix
        } else if self.settings.has(AsDefect::RedirectStrictLoopback) {
            redirect::RedirectPolicy::Strict
        } else {
            client.redirect_policy
        }
    }

    /// Checks an authorization request. `client` is the resolved client, if any.
    pub(crate) fn check_authorize(
        &self,
        params: &AuthorizeParams,
        client: Option<ClientRecord>,
        issuer: &str,
    ) -> AuthorizeStep {
        // 1. Problems that make the redirect URI untrustworthy: answer here, never redirect.
        let Some(client_id) = params.client_id.as_deref() else {
            return AuthorizeStep::ErrorPage(OAuthError::invalid_request("client_id is required"));
        };
        let Some(client) = client else {
            return AuthorizeStep::ErrorPage(
                OAuthError::invalid_request(format!("unknown client_id {client_id:?}"))
                    .because(RefusalReason::Client),
            );
        };
        let redirect_uri = match params.redirect_uri.as_deref() {
            Some(uri) => {
                if !redirect::matches(self.redirect_policy(&client), &client.redirect_uris, uri) {
                    let error = OAuthError::invalid_request(format!(
                        "redirect_uri {uri:?} is not registered for this client"
                    ))
                    .because(RefusalReason::RedirectUri);
                    if self.settings.has(AsDefect::ErrorRedirectUnregistered) {
                        let location = error_redirect(uri, &error, params.state.as_deref(), issuer);
                        return AuthorizeStep::Redirect(location, error);
                    }
                    return AuthorizeStep::ErrorPage(error);
                }
                uri.to_owned()
            }
            None => match client.redirect_uris.as_slice() {
                [only] => only.clone(),
                [] => {
                    return AuthorizeStep::ErrorPage(
                        OAuthError::invalid_request("the client has no registered redirect URI")
                            .because(RefusalReason::Client),
                    );
                }
                _ => {
                    return AuthorizeStep::ErrorPage(
                        OAuthError::invalid_request(
                            "redirect_uri is required: the client has several",
                        )
                        .because(RefusalReason::RedirectUri),
                    );
                }
            },
        };
        // 2. Everything else goes back to the client at its redirect URI.
        let shown = self.settings.has(AsDefect::ErrorsShownNotRedirected);
        let back = |error: OAuthError| {
            if shown {
                return AuthorizeStep::ErrorPage(error);
            }
            let location = error_redirect(&redirect_uri, &error, params.state.as_deref(), issuer);
            AuthorizeStep::Redirect(location, error)
        };
        match params.response_type.as_deref() {
            Some("code") => {}
            None => return back(OAuthError::invalid_request("response_type is required")),
            Some(other) => {
                return back(OAuthError::bad_request(
                    "unsupported_response_type",
                    format!("response_type {other:?} is not supported; use code"),
                ));
            }
        }
        if !client.allows_grant("authorization_code") {
            return back(OAuthError::bad_request(
                "unauthorized_client",
                "this client may not use the authorization_code grant",
            ));
        }
        let pkce_waived = (params.code_challenge.is_none()
            && self.settings.has(AsDefect::PkceNotRequired))
            || (params.code_challenge_method.as_deref() == Some("plain")
                && self.settings.has(AsDefect::PkcePlainAccepted));
        // pkce-absent-method-s256: a challenge without a method is checked (and later verified)
        // as S256.
        let method = match params.code_challenge_method.as_deref() {
            None if params.code_challenge.is_some()
                && self.settings.has(AsDefect::PkceAbsentMethodS256) =>
            {
                Some("S256")
            }
            method => method,
        };
        if !pkce_waived
            && let Some(problem) = pkce::challenge_problem(params.code_challenge.as_deref(), method)
        {
            return back(OAuthError::invalid_request(problem).because(RefusalReason::Pkce));
        }
        // RFC 6749 §3.3: without a requested scope, a pre-defined default: the client's
        // registered scope, else every scope the server advertises (no-scope-default grants
        // nothing instead).
        let scope = match params.scope.clone().or_else(|| client.scope.clone()) {
            Some(scope) => scope,
            None if self.settings.has(AsDefect::NoScopeDefault) => String::new(),
            None => self.settings.default_scope(),
        };
        if !client.scope_allowed(&scope) {
            return back(OAuthError::bad_request(
                "invalid_scope",
                format!("scope {scope:?} is not allowed for this client"),
            ));
        }
        let resources = match self.check_resources(&params.resources) {
            Ok(resources) => resources,
            Err(error) => return back(error),
        };
        let request = AuthorizeRequest {
            client,
            redirect_uri,
            redirect_uri_sent: params.redirect_uri.clone(),
            state: params.state.clone(),
            scope,
            resources,
            code_challenge: params.code_challenge.clone().unwrap_or_default(),
            nonce: params.nonce.clone(),
        };
        AuthorizeStep::Consent(Box::new(request))
    }

    /// RFC 8707 §2: absolute URIs without fragments, and known ones when a list is configured.
    /// Returns the resources the tokens are bound to: a known resource in its configured form,
    /// whatever the case of the scheme and host it was asked for with (RFC 3986 §6.2.2.1), so
    /// that the audience is the one the resource server compares with. Empty when the server
    /// does not honour `resource`.
    pub(crate) fn check_resources(&self, resources: &[String]) -> Result<Vec<String>, OAuthError> {
        if !self.settings.honours_resource() {
            return Ok(Vec::new());
        }
        if let Some(resource) = resources.first()
            && self.settings.has(AsDefect::RejectsResource)
        {
            return Err(OAuthError::invalid_target(format!(
                "resource {resource:?}: resource indicators are not supported"
            )));
        }
        let mut bound = Vec::with_capacity(resources.len());
        for resource in resources {
            let url = url::Url::parse(resource).map_err(|_| {
                OAuthError::invalid_target(format!("resource {resource:?} is not an absolute URI"))
            })?;
            if url.fragment().is_some() {
                return Err(OAuthError::invalid_target(format!(
                    "resource {resource:?} must not contain a fragment"
                )));
            }
            let Some(known) = &self.settings.resources else {
                bound.push(resource.clone());
                continue;
            };
            if self.settings.has(AsDefect::AnyResource) {
                bound.push(resource.clone());
                continue;
            }
            let found = known.iter().find(|k| {
                if self.settings.has(AsDefect::ResourceExactString) {
                    *k == resource
                } else if self.settings.has(AsDefect::ResourceSlashLoose) {
                    let bare = |u: &str| {
                        url::Url::parse(u.trim_end_matches('/'))
                            .map(|u| u.as_str().trim_end_matches('/').to_owned())
                    };
                    matches!((bare(k), bare(resource)), (Ok(a), Ok(b)) if a == b)
                } else {
                    url::Url::parse(k).is_ok_and(|k| k == url)
                }
            });
            match found {
                Some(_) if self.settings.has(AsDefect::ResourceSlashLoose) => {
                    bound.push(resource.clone())
                }
                Some(k) => bound.push(k.clone()),
                None => {
                    return Err(OAuthError::invalid_target(format!(
                        "resource {resource:?} is not a resource this server issues tokens for"
                    )));
                }
            }
        }
        Ok(bound)
    }

    /// Approves a request: stores a code and returns the redirect that carries it.
    pub(crate) fn approve(
        &self,
        request: &AuthorizeRequest,
        subject: &str,
        scope: &str,
        code: String,
        now: i64,
        issuer: &str,
    ) -> String {
        let record = CodeRecord {
            grant: Grant {
                client_id: request.client.client_id.clone(),
                subject: subject.to_owned(),
                scope: scope.to_owned(),
                resources: request.resources.clone(),
                nonce: request.nonce.clone(),
            },
            redirect_uri: request.redirect_uri_sent.clone(),
            code_challenge: request.code_challenge.clone(),
            expires_at: now.saturating_add(self.settings.code_ttl_secs),
            used: false,
            issued_tokens: Vec::new(),
            family: None,
        };
        self.grants().add_code(code.clone(), record);
        let mut pairs = vec![("code", code.as_str())];
        if let Some(state) = &request.state
            && !self.settings.has(AsDefect::NoStateEcho)
        {
            pairs.push(("state", state));
        }
        if !self.settings.has(AsDefect::NoIss) {
            pairs.push(("iss", issuer));
        }
        with_query(&request.redirect_uri, &pairs)
    }

    /// Parks a request for the consent page; returns its id.
    pub(crate) fn park(&self, pending: PendingConsent, id: String, now: i64) {
        let mut guard = lock(&self.pending);
        let (map, order) = &mut *guard;
        map.retain(|_, p| p.expires_at > now);
        order.retain(|k| map.contains_key(k));
        order.push_back(id.clone());
        map.insert(id, pending);
        while order.len() > PENDING_CAPACITY {
            if let Some(old) = order.pop_front() {
                map.remove(&old);
            }
        }
    }

    /// Takes a parked request (each consent page answers once).
    pub(crate) fn unpark(&self, id: &str, now: i64) -> Option<PendingConsent> {
        let mut guard = lock(&self.pending);
        let pending = guard.0.remove(id)?;
        (pending.expires_at > now).then_some(pending)
    }
}

/// The redirect that reports an error to the client (RFC 6749 §4.1.2.1, RFC 9207 `iss`).
pub(crate) fn error_redirect(
    redirect_uri: &str,
    error: &OAuthError,
    state: Option<&str>,
    issuer: &str,
) -> String {
    let mut pairs = vec![("error", error.code())];
    let description = error.description().unwrap_or_default();
    if !description.is_empty() {
        pairs.push(("error_description", description));
    }
    if let Some(state) = state {
        pairs.push(("state", state));
    }
    pairs.push(("iss", issuer));
    with_query(redirect_uri, &pairs)
}

/// `uri` with `pairs` appended to its query, keeping what it already has.
fn with_query(uri: &str, pairs: &[(&str, &str)]) -> String {
    match url::Url::parse(uri) {
        Ok(mut url) => {
            {
                let mut query = url.query_pairs_mut();
                for (k, v) in pairs {
                    query.append_pair(k, v);
                }
            }
            url.to_string()
        }
        // Registered URIs are absolute, so this is not reached; keep the URI usable anyway.
        Err(_) => {
            let encoded: String = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs)
                .finish();
            let separator = if uri.contains('?') { '&' } else { '?' };
            format!("{uri}{separator}{encoded}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clients::AuthMethod;
    use redirect::RedirectPolicy;

    const ISSUER: &str = "http://127.0.0.1:1";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn state(settings: AuthzSettings) -> AuthzState {
        let client = ClientConfig {
            client_id: "app".into(),
            client_secret: None,
            token_endpoint_auth_method: Some(AuthMethod::None),
            token_endpoint_auth_methods: None,
            redirect_uris: vec!["http://127.0.0.1:3000/cb".into()],
            grant_types: None,
            scope: Some("mcp:tools openid".into()),
            redirect_policy: RedirectPolicy::LoopbackAnyPort,
            client_name: None,
        };
        AuthzState::new(
            AuthzSettings {
                clients: vec![client],
                ..settings
            },
            vec![],
            0,
        )
        .expect("state")
    }

    fn params() -> AuthorizeParams {
        AuthorizeParams {
            client_id: Some("app".into()),
            redirect_uri: Some("http://127.0.0.1:4567/cb".into()),
            response_type: Some("code".into()),
            scope: Some("mcp:tools".into()),
            state: Some("xyz".into()),
            code_challenge: Some(CHALLENGE.into()),
            code_challenge_method: Some("S256".into()),
            resources: vec!["http://127.0.0.1:9/mcp".into()],
            nonce: None,
        }
    }

    fn step(s: &AuthzState, p: &AuthorizeParams) -> AuthorizeStep {
        let client = p.client_id.as_deref().and_then(|id| s.client(id));
        s.check_authorize(p, client, ISSUER)
    }

    #[test]
    fn a_good_request_is_approved_with_code_state_and_iss() {
        let s = state(AuthzSettings::default());
        let AuthorizeStep::Consent(request) = step(&s, &params()) else {
            panic!("expected consent");
        };
        let location = s.approve(&request, "u", "mcp:tools", "CODE".into(), 0, ISSUER);
        assert_eq!(
            location,
            "http://127.0.0.1:4567/cb?code=CODE&state=xyz&iss=http%3A%2F%2F127.0.0.1%3A1"
        );
    }

    #[test]
    fn untrustworthy_redirects_get_an_error_page() {
        let s = state(AuthzSettings::default());
        let mut p = params();
        p.redirect_uri = Some("https://evil.example/cb".into());
        assert!(matches!(step(&s, &p), AuthorizeStep::ErrorPage(_)));
        let mut p = params();
        p.client_id = Some("nobody".into());
        assert!(matches!(step(&s, &p), AuthorizeStep::ErrorPage(_)));
        let mut p = params();
        p.client_id = None;
        assert!(matches!(step(&s, &p), AuthorizeStep::ErrorPage(_)));
    }

    #[test]
    fn other_errors_go_back_to_the_client() {
        let s = state(AuthzSettings {
            resources: Some(vec!["http://127.0.0.1:9/mcp".into()]),
            ..AuthzSettings::default()
        });
        let error_of = |p: &AuthorizeParams| match step(&s, p) {
            AuthorizeStep::Redirect(location, _) => {
                let url = url::Url::parse(&location).expect("url");
                let pairs: HashMap<String, String> = url.query_pairs().into_owned().collect();
                assert_eq!(pairs.get("state").map(String::as_str), Some("xyz"));
                assert_eq!(pairs.get("iss").map(String::as_str), Some(ISSUER));
                pairs["error"].clone()
            }
            other => panic!("expected a redirect, got {other:?}"),
        };
        let mut p = params();
        p.code_challenge_method = Some("plain".into());
        assert_eq!(error_of(&p), "invalid_request");
        let mut p = params();
        p.code_challenge = None;
        assert_eq!(error_of(&p), "invalid_request");
        let mut p = params();
        p.response_type = Some("token".into());
        assert_eq!(error_of(&p), "unsupported_response_type");
        let mut p = params();
        p.scope = Some("admin".into());
        assert_eq!(error_of(&p), "invalid_scope");
        let mut p = params();
        p.resources = vec!["http://127.0.0.1:9/other".into()];
        assert_eq!(error_of(&p), "invalid_target");
    }

    #[test]
    fn consent_pages_answer_once_and_expire() {
        let s = state(AuthzSettings::default());
        let AuthorizeStep::Consent(request) = step(&s, &params()) else {
            panic!("expected consent");
        };
        let pending = PendingConsent {
            request: *request,
            csrf: "c".into(),
            expires_at: 100,
        };
        s.park(pending.clone(), "id".into(), 0);
        assert!(s.unpark("id", 0).is_some());
        assert!(s.unpark("id", 0).is_none());
        s.park(pending, "late".into(), 0);
        assert!(s.unpark("late", 100).is_none());
    }

    #[test]
    fn query_is_appended() {
        assert_eq!(
            with_query("https://a.example/cb?x=1", &[("code", "a b")]),
            "https://a.example/cb?x=1&code=a+b"
        );
        assert_eq!(
            with_query("com.example.app:/cb", &[("code", "c")]),
            "com.example.app:/cb?code=c"
        );
    }
}
