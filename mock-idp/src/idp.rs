//! [`Idp`]: the IdP's state and every operation on it, without HTTP.
//!
//! The HTTP control API (`control.rs`) and the protocol endpoints (`routes/`) are thin shells over
//! these methods. Locks are std locks held only inside these synchronous methods, never across an
//! `.await`; slow work (RSA key generation, signing) happens outside them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use axum::body::Bytes;
use serde_json::json;
use tokio::sync::watch;

use crate::api::{
    Audience, ClockNow, ClockRequest, Defect, EndpointKind, Fault, FaultSpec, Info, JsonObject,
    KeyInfo, KeyRef, MintRequest, MintedToken, RecordedRequest, Rotation,
};
use crate::authz::clients::{AuthMethod, AuthMethods, ClientMetadata, ClientRecord, Origin};
use crate::authz::grants::Grant;
use crate::authz::redirect::RedirectPolicy;
use crate::authz::{AuthzState, RegistrationMode};
use crate::clock::Clock;
use crate::config::IdpConfig;
use crate::error::IdpError;
use crate::faults::{FaultTable, fault_endpoint};
use crate::host::Hosts;
use crate::introspection::{
    self, Issued, Lookup, Registry, RevocationsFull, TokenId, TokenRecord, VerifiedJwt,
};
use crate::keys::{KeyMaterial, KeySet, SigningKey};
use crate::log::RequestLog;
use crate::sync::{lock, read, write};
use crate::tokens::{Access, AccessClaims, Signers, TokenFactory};

/// A client the IdP authenticates (client_secret_basic or client_secret_post).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Client {
    pub(crate) id: String,
    pub(crate) secret: String,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("id", &self.id)
            .field("secret", &"[redacted]")
            .finish()
    }
}

#[derive(Debug)]
struct Urls {
    issuer: String,
    jwks_uri: String,
    authorization_endpoint: String,
    registration_endpoint: String,
    userinfo_endpoint: String,
    token_endpoint: String,
    introspection_endpoint: String,
    revocation_endpoint: String,
    control_url: String,
}

#[derive(Debug)]
struct Inner {
    urls: Urls,
    introspection_client: Client,
    token_client: Client,
    authz: AuthzState,
    factory: TokenFactory,
    /// The discovery document, serialised once.
    metadata: Bytes,
    keys: RwLock<KeySet>,
    /// Signs the `untrusted-key*` defects; generated on first use, never published.
    untrusted: Mutex<Option<Arc<SigningKey>>>,
    /// Numbers fresh kids (`untrusted-key-N`, `unknown-kid-N`).
    serial: AtomicU64,
    registry: Mutex<Registry>,
    faults: Mutex<FaultTable>,
    /// Whether the fault table has any rule: lets the hot path skip its lock.
    faults_armed: std::sync::atomic::AtomicBool,
    log: Mutex<RequestLog>,
    /// The log's status slots, set without its lock.
    statuses: Arc<crate::log::StatusSlots>,
    clock: Mutex<Clock>,
    /// Documents served at `/documents/{name}` (`POST /_control/documents`).
    documents: Mutex<std::collections::BTreeMap<String, crate::api::HostedDocument>>,
    /// Set when the server stops, which releases requests held by a `hang` fault.
    stopping: watch::Sender<bool>,
    /// The `Host` values the control API answers to.
    hosts: Hosts,
    /// The bearer token every control request must carry, when one is configured.
    control_token: Option<Vec<u8>>,
    /// Authorization-code flows the `/` page's demo client started: (state, PKCE verifier,
    /// expiry), oldest first, at most [`DEMO_FLOWS`].
    demo_flows: Mutex<std::collections::VecDeque<(String, String, i64)>>,
    /// How long a request body may take to arrive.
    body_read_timeout: std::time::Duration,
}

/// The mock IdP's state and operations: the Rust face of the control API.
///
/// Cheap to clone; every clone shares the same state.
#[derive(Clone, Debug)]
pub struct Idp {
    inner: Arc<Inner>,
}

impl Idp {
    /// State for an IdP whose issuer is `issuer` (no trailing slash), answering control requests
    /// addressed to the issuer's host. Loads or creates keys.
    pub(crate) fn new(config: &IdpConfig, issuer: String) -> Result<Idp, IdpError> {
        let hosts = Hosts::of(&issuer);
        Idp::with_hosts(config, issuer, hosts)
    }

    /// [`Idp::new`] answering control requests addressed to any of `hosts`.
    pub(crate) fn with_hosts(
        config: &IdpConfig,
        issuer: String,
        hosts: Hosts,
    ) -> Result<Idp, IdpError> {
        let urls = Urls {
            jwks_uri: format!("{issuer}/jwks"),
            authorization_endpoint: format!("{issuer}/authorize"),
            registration_endpoint: format!("{issuer}/register"),
            userinfo_endpoint: format!("{issuer}/userinfo"),
            token_endpoint: format!("{issuer}/token"),
            introspection_endpoint: format!("{issuer}/introspect"),
            revocation_endpoint: format!("{issuer}/revoke"),
            control_url: format!("{issuer}/_control"),
            issuer,
        };
        let alg = config.authz.signing_alg;
        let keys = KeySet::open_for(config.state_dir.as_deref(), alg)?;
        // The client-credentials client of the first part stays, as a configured client that
        // may use either secret method.
        let token_client_record = ClientRecord {
            client_id: config.token_client_id.clone(),
            client_secret: Some(config.token_client_secret.clone()),
            auth_method: AuthMethod::ClientSecretBasic,
            accepted: AuthMethods::SECRETS,
            redirect_uris: Vec::new(),
            grant_types: vec!["client_credentials".to_owned()],
            scope: None,
            redirect_policy: RedirectPolicy::default(),
            client_name: Some("client-credentials client".to_owned()),
            origin: Origin::Configured,
            registration_access_token: None,
            issued_at: 0,
            metadata: ClientMetadata::default(),
        };
        let authz = AuthzState::new(
            config.authz.clone(),
            vec![token_client_record],
            crate::clock::wall_secs(),
        )
        .map_err(IdpError::InvalidRequest)?;
        let metadata = metadata_document(&urls, &authz.settings);
        let factory = TokenFactory::new(
            urls.issuer.clone(),
            config.default_audience.clone(),
            config.token_client_id.clone(),
        );
        let log = RequestLog::default();
        Ok(Idp {
            inner: Arc::new(Inner {
                urls,
                introspection_client: Client {
                    id: config.introspection_client_id.clone(),
                    secret: config.introspection_client_secret.clone(),
                },
                token_client: Client {
                    id: config.token_client_id.clone(),
                    secret: config.token_client_secret.clone(),
                },
                authz,
                factory,
                metadata,
                keys: RwLock::new(keys),
                untrusted: Mutex::new(None),
                serial: AtomicU64::new(0),
                registry: Mutex::new(Registry::default()),
                faults: Mutex::new(FaultTable::default()),
                faults_armed: std::sync::atomic::AtomicBool::new(false),
                statuses: log.statuses(),
                log: Mutex::new(log),
                clock: Mutex::new(Clock::Real),
                documents: Mutex::new(Default::default()),
                stopping: watch::channel(false).0,
                hosts,
                control_token: config.control_token.clone().map(String::into_bytes),
                demo_flows: Mutex::new(std::collections::VecDeque::new()),
                body_read_timeout: config.limits.body_read_timeout,
            }),
        })
    }

    // ----- The control API -----

    /// Mints a token (`POST /_control/mint`). Introspection remembers it.
    pub fn mint(&self, request: &MintRequest) -> Result<MintedToken, IdpError> {
        let minted = self.mint_with(request)?;
        lock(&self.inner.registry).remember(
            &minted.0.token,
            TokenRecord::new(minted.0.claims.clone(), minted.1),
        );
        Ok(minted.0)
    }

    /// Adds a new key, published but not signing (`POST /_control/keys/announce`).
    pub fn announce_key(&self) -> Result<KeyRef, IdpError> {
        let material = KeyMaterial::generate_for(self.inner.authz.settings.signing_alg)?;
        let kid = write(&self.inner.keys).announce(material)?;
        Ok(KeyRef { kid })
    }

    /// Makes `kid` the signing key, publishing it if needed (`POST /_control/keys/activate`).
    /// The previously active key stays published, as announced.
    pub fn activate_key(&self, kid: &str) -> Result<KeyRef, IdpError> {
        write(&self.inner.keys).activate(kid)?;
        Ok(KeyRef {
            kid: kid.to_owned(),
        })
    }

    /// Removes `kid` from the JWKS (`POST /_control/keys/retire`). The active key cannot be retired.
    pub fn retire_key(&self, kid: &str) -> Result<KeyRef, IdpError> {
        write(&self.inner.keys).retire(kid)?;
        Ok(KeyRef {
            kid: kid.to_owned(),
        })
    }

    /// Announces and activates a new key and retires the old one (`POST /_control/keys/rotate`).
    /// Deletes a key that does not sign (see the control API's `/keys/forget`).
    pub fn forget_key(&self, kid: &str) -> Result<KeyRef, IdpError> {
        write(&self.inner.keys).forget(kid)?;
        // Tokens it signed no longer verify, so cached verifications go too.
        lock(&self.inner.registry).forget_verified();
        Ok(KeyRef {
            kid: kid.to_owned(),
        })
    }

    /// The sequence number of the newest recorded request (0 before the first).
    pub fn last_request_seq(&self) -> u64 {
        lock(&self.inner.log).last_seq()
    }

    pub fn rotate_keys(&self) -> Result<Rotation, IdpError> {
        let material = KeyMaterial::generate_for(self.inner.authz.settings.signing_alg)?;
        Ok(write(&self.inner.keys).rotate(material)?)
    }

    /// Every managed key in creation order (`GET /_control/keys`).
    pub fn keys(&self) -> Vec<KeyInfo> {
        read(&self.inner.keys).infos()
    }

    /// Appends `jwk` to the published JWKS as given (`POST /_control/keys/extra`).
    pub fn add_extra_jwk(&self, jwk: JsonObject) {
        write(&self.inner.keys).add_extra(jwk);
    }

    /// Removes every extra JWK (`DELETE /_control/keys/extra`).
    pub fn clear_extra_jwks(&self) {
        write(&self.inner.keys).clear_extra();
    }

    /// Introspection of `token` answers exactly `response` from now on
    /// (`POST /_control/introspection/override`).
    pub fn set_introspection_override(&self, token: &str, response: JsonObject) {
        lock(&self.inner.registry).set_override(token, response);
    }

    /// `token` introspects as `{"active":false}` from now on, until it expires
    /// (`POST /_control/revoke`). A token the IdP knows nothing about, or one with an
    /// introspection override, stays revoked until a reset. Fails only when the revocation list
    /// is full of unexpired revocations.
    pub fn revoke(&self, token: &str) -> Result<(), IdpError> {
        let now = self.now();
        // Each lock is taken in a statement of its own: `claims_of` takes the registry again.
        let overridden = lock(&self.inner.registry).has_override(token);
        let expires_at = if overridden {
            None
        } else {
            self.claims_of(token)
                .and_then(|claims| claims.get("exp").and_then(serde_json::Value::as_i64))
        };
        let issued = Issued {
            id: TokenId::of(token),
            expires_at,
        };
        lock(&self.inner.registry).revoke(&[issued], now)?;
        Ok(())
    }

    /// Revokes tokens issued in a grant, each until it expires: all, or none when the
    /// revocation list cannot hold them all.
    pub(crate) fn revoke_issued(&self, issued: &[Issued]) -> Result<(), RevocationsFull> {
        let now = self.now();
        lock(&self.inner.registry).revoke(issued, now)
    }

    /// RFC 7009 revocation on behalf of `client` (`None`: the resource server's introspection
    /// client, which may revoke any token). A client may revoke only tokens issued to it
    /// (RFC 7009 §2.1); a token the IdP does not recognise is not revoked, and that is no error
    /// (§2.2). Revoking a refresh token revokes its family and the access tokens issued in it.
    pub(crate) fn revoke_for(
        &self,
        token: &str,
        client: Option<&str>,
    ) -> Result<(), RevokeRefusal> {
        let owner = self.inner.authz.grants().refresh_owner(token);
        if let Some((family, owner)) = owner {
            if client.is_some_and(|client| client != owner) {
                return Err(RevokeRefusal::OtherClient);
            }
            let now = self.now();
            let size = self.inner.authz.grants().family_size(family);
            let room = lock(&self.inner.registry).has_room(size, now);
            if !room {
                return Err(RevokeRefusal::Full);
            }
            let issued = self.inner.authz.grants().revoke_family(family);
            return self.revoke_issued(&issued).map_err(|_| RevokeRefusal::Full);
        }
        let Some(client) = client else {
            return self.revoke(token).map_err(|_| RevokeRefusal::Full);
        };
        let Some(claims) = self.claims_of(token) else {
            return Ok(());
        };
        if claims.get("client_id").and_then(serde_json::Value::as_str) != Some(client) {
            return Err(RevokeRefusal::OtherClient);
        }
        self.revoke_issued(&[Issued::of(token, &claims)])
            .map_err(|_| RevokeRefusal::Full)
    }

    /// The claims of a token this IdP minted or signed, whatever its state; `None` otherwise.
    fn claims_of(&self, token: &str) -> Option<JsonObject> {
        let known = lock(&self.inner.registry).known_claims(token);
        known.or_else(|| {
            introspection::verify_own_jwt(
                token,
                |kid| read(&self.inner.keys).get(kid).cloned(),
                &self.inner.urls.issuer,
            )
        })
    }

    /// Makes an endpoint misbehave (`POST /_control/faults`).
    pub fn set_fault(&self, spec: FaultSpec) -> Result<(), IdpError> {
        let mut table = lock(&self.inner.faults);
        table.set(spec).map_err(IdpError::InvalidRequest)?;
        self.inner
            .faults_armed
            .store(!table.is_empty(), Ordering::Release);
        Ok(())
    }

    /// Removes every fault (`DELETE /_control/faults`).
    pub fn clear_faults(&self) {
        let mut table = lock(&self.inner.faults);
        table.clear();
        self.inner.faults_armed.store(false, Ordering::Release);
    }

    /// Recorded protocol requests with `seq > since`, oldest first (`GET /_control/requests`).
    pub fn requests(&self, since: Option<u64>) -> Vec<RecordedRequest> {
        lock(&self.inner.log).since(since.unwrap_or(0))
    }

    /// Empties the request log; sequence numbers continue (`DELETE /_control/requests`).
    pub fn clear_requests(&self) {
        lock(&self.inner.log).clear();
    }

    /// Serves `document` at `/documents/{name}` from now on (`POST /_control/documents`).
    pub fn host_document(&self, document: crate::api::HostedDocument) -> Result<(), IdpError> {
        let valid = !document.name.is_empty()
            && document
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !valid {
            return Err(IdpError::InvalidRequest(format!(
                "document name {:?}: use letters, digits, '-', '_' and '.'",
                document.name
            )));
        }
        let mut documents = lock(&self.inner.documents);
        // Bounded, like every other store: a control client cannot grow it without limit.
        if documents.len() >= 1_000 && !documents.contains_key(&document.name) {
            return Err(IdpError::InvalidRequest(
                "at most 1000 hosted documents".to_owned(),
            ));
        }
        documents.insert(document.name.clone(), document);
        Ok(())
    }

    /// The document hosted under `name`.
    pub(crate) fn hosted_document(&self, name: &str) -> Option<crate::api::HostedDocument> {
        lock(&self.inner.documents).get(name).cloned()
    }

    /// Sets, advances or releases the virtual clock (`POST /_control/clock`).
    pub fn set_clock(&self, request: ClockRequest) -> Result<ClockNow, IdpError> {
        let mut clock = lock(&self.inner.clock);
        *clock = clock.apply(request).map_err(IdpError::InvalidRequest)?;
        Ok(ClockNow { now: clock.now() })
    }

    /// The IdP's current time (`GET /_control/clock`).
    pub fn clock(&self) -> ClockNow {
        ClockNow { now: self.now() }
    }

    /// Clears faults, introspection overrides, revocations, codes and refresh tokens, extra JWKs, the request log and the
    /// clock; keys (and minted tokens) stay (`POST /_control/reset`).
    pub fn reset(&self) {
        self.clear_faults();
        self.inner.authz.grants().clear();
        lock(&self.inner.registry).reset();
        self.clear_extra_jwks();
        self.clear_requests();
        lock(&self.inner.documents).clear();
        *lock(&self.inner.clock) = Clock::Real;
    }

    /// Adds (or replaces) a pre-registered client (`POST /_control/clients`).
    pub fn add_client(&self, config: &crate::authz::clients::ClientConfig) -> Result<(), IdpError> {
        let record =
            ClientRecord::from_config(config, self.now()).map_err(IdpError::InvalidRequest)?;
        self.inner.authz.clients_mut().insert(record);
        Ok(())
    }

    /// Every client as its registration would describe it, secrets included
    /// (`GET /_control/clients`).
    pub fn clients(&self) -> Vec<serde_json::Value> {
        self.inner
            .authz
            .clients()
            .list()
            .map(|c| c.registration_response(None))
            .collect()
    }

    /// Forgets dynamically registered clients (`DELETE /_control/clients`).
    pub fn forget_dynamic_clients(&self) {
        self.inner.authz.clients_mut().forget_dynamic();
    }

    /// URLs, client credentials and the active kid (`GET /_control/info`).
    pub fn info(&self) -> Info {
        let urls = &self.inner.urls;
        Info {
            issuer: urls.issuer.clone(),
            jwks_uri: urls.jwks_uri.clone(),
            authorization_endpoint: urls.authorization_endpoint.clone(),
            registration_endpoint: (self.inner.authz.settings.registration
                == RegistrationMode::Dynamic)
                .then(|| urls.registration_endpoint.clone()),
            userinfo_endpoint: urls.userinfo_endpoint.clone(),
            metadata_url: metadata_url(&urls.issuer),
            token_endpoint: urls.token_endpoint.clone(),
            introspection_endpoint: urls.introspection_endpoint.clone(),
            revocation_endpoint: urls.revocation_endpoint.clone(),
            control_url: urls.control_url.clone(),
            introspection_client_id: self.inner.introspection_client.id.clone(),
            introspection_client_secret: self.inner.introspection_client.secret.clone(),
            token_client_id: self.inner.token_client.id.clone(),
            token_client_secret: self.inner.token_client.secret.clone(),
            active_kid: self.active_kid(),
        }
    }

    // ----- Protocol operations -----

    /// The RFC 7662 answer for `token`, as the introspection endpoint gives it.
    pub fn introspect(&self, token: &str) -> JsonObject {
        match self.introspection_of(token) {
            Introspected::Record(record) => introspection::answer(&record, self.now()),
            Introspected::Verified(verified) => verified.answer(self.now()),
            Introspected::Answer(answer) => answer,
        }
    }

    /// [`Idp::introspect`] serialised; a known token's active answer is serialised once.
    pub(crate) fn introspect_json(&self, token: &str) -> Result<Bytes, serde_json::Error> {
        match self.introspection_of(token) {
            Introspected::Record(record) => introspection::answer_bytes(&record, self.now()),
            Introspected::Verified(verified) => Ok(verified.answer_bytes(self.now())),
            Introspected::Answer(answer) => serde_json::to_vec(&answer).map(Bytes::from),
        }
    }

    fn introspection_of(&self, token: &str) -> Introspected {
        let id = TokenId::of(token);
        let lookup = lock(&self.inner.registry).lookup(token, &id);
        match lookup {
            Lookup::Override(response) => Introspected::Answer(response),
            Lookup::Revoked => Introspected::Answer(introspection::inactive()),
            Lookup::Minted(record) => Introspected::Record(record),
            Lookup::Verified(verified) => Introspected::Verified(verified),
            Lookup::Unknown if token.starts_with("mock_rt_") => {
                let found = self.inner.authz.grants().refresh_active(token, self.now());
                Introspected::Answer(match found {
                    Some((grant, expires_at)) => {
                        let mut answer = JsonObject::new();
                        answer.insert("active".into(), json!(true));
                        answer.insert("token_type".into(), json!("refresh_token"));
                        answer.insert("iss".into(), json!(self.inner.urls.issuer));
                        answer.insert("client_id".into(), json!(grant.client_id));
                        answer.insert("sub".into(), json!(grant.subject));
                        if !grant.scope.is_empty() {
                            answer.insert("scope".into(), json!(grant.scope));
                        }
                        answer.insert("exp".into(), json!(expires_at));
                        answer
                    }
                    None => introspection::inactive(),
                })
            }
            Lookup::Unknown => {
                let verified = introspection::verified_jwt(
                    token,
                    |kid| read(&self.inner.keys).get(kid).cloned(),
                    &self.inner.urls.issuer,
                );
                match verified {
                    Some(verified) => {
                        let verified = Arc::new(verified);
                        lock(&self.inner.registry).remember_verified(id, Arc::clone(&verified));
                        Introspected::Verified(verified)
                    }
                    None => Introspected::Answer(introspection::inactive()),
                }
            }
        }
    }

    /// The kid that currently signs.
    pub fn active_kid(&self) -> String {
        read(&self.inner.keys).active().kid().to_owned()
    }

    /// The IdP clock in Unix seconds.
    pub(crate) fn now(&self) -> i64 {
        lock(&self.inner.clock).now()
    }

    /// A token for the `client_credentials` grant; not remembered (introspection verifies it).
    pub(crate) fn issue(
        &self,
        scope: Option<&str>,
        audience: Option<&Audience>,
        client_id: &str,
    ) -> Result<Access, IdpError> {
        self.issue_access(&AccessClaims {
            scope,
            audience,
            client_id: Some(client_id),
            ..AccessClaims::default()
        })
    }

    /// An access token of the token endpoint, signed by the active key.
    fn issue_access(&self, claims: &AccessClaims<'_>) -> Result<Access, IdpError> {
        let signer = Arc::clone(read(&self.inner.keys).active());
        Ok(self
            .inner
            .factory
            .mint_access(claims, self.now(), &signer)?)
    }

    fn mint_with(&self, request: &MintRequest) -> Result<(MintedToken, bool), IdpError> {
        let untrusted = if TokenFactory::needs_untrusted_key(request) {
            Some(self.untrusted_key()?)
        } else {
            None
        };
        let (signer, active) = {
            let keys = read(&self.inner.keys);
            let active = Arc::clone(keys.active());
            let signer = match &request.kid {
                Some(kid) => Arc::clone(
                    keys.get(kid)
                        .ok_or_else(|| IdpError::UnknownKid(kid.clone()))?,
                ),
                None => Arc::clone(&active),
            };
            (signer, active)
        };
        let serial = match request.defect {
            Some(Defect::UntrustedKey | Defect::UnknownKid) => {
                self.inner.serial.fetch_add(1, Ordering::Relaxed) + 1
            }
            _ => 0,
        };
        let minted = self.inner.factory.mint(
            request,
            self.now(),
            serial,
            Signers {
                signer: &signer,
                active: &active,
                untrusted: untrusted.as_deref(),
            },
        )?;
        Ok((minted.token, minted.signature_ok))
    }

    fn untrusted_key(&self) -> Result<Arc<SigningKey>, IdpError> {
        let mut slot = lock(&self.inner.untrusted);
        if let Some(key) = slot.as_ref() {
            return Ok(Arc::clone(key));
        }
        let key = Arc::new(SigningKey::new(
            "untrusted".to_owned(),
            KeyMaterial::generate()?,
        )?);
        *slot = Some(Arc::clone(&key));
        Ok(key)
    }

    /// The serialised JWKS and the headers of a 200 answer with it (see `KeySet::jwks_answer`).
    pub(crate) fn jwks(&self) -> (Bytes, axum::http::HeaderMap) {
        read(&self.inner.keys).jwks_answer()
    }

    /// The serialised discovery document.
    pub(crate) fn metadata(&self) -> Bytes {
        self.inner.metadata.clone()
    }

    /// The OpenID Connect discovery document: the same, unless a defect makes it differ.
    pub(crate) fn metadata_oidc(&self) -> Bytes {
        if !self
            .inner
            .authz
            .settings
            .has(crate::authz::AsDefect::MetadataOidcDiffers)
        {
            return self.metadata();
        }
        let mut doc: serde_json::Value =
            serde_json::from_slice(&self.inner.metadata).unwrap_or_default();
        doc["token_endpoint"] = json!(format!("{}/oidc/token", self.inner.urls.issuer));
        Bytes::from(serde_json::to_vec(&doc).unwrap_or_default())
    }

    /// The authorization-server state.
    pub(crate) fn authz(&self) -> &AuthzState {
        &self.inner.authz
    }

    pub(crate) fn issuer(&self) -> &str {
        &self.inner.urls.issuer
    }

    /// The audience of minted tokens that name none.
    pub(crate) fn default_audience(&self) -> Option<&str> {
        self.inner.factory.default_audience()
    }

    /// The newest `n` recorded requests, newest first (the `/` page).
    pub(crate) fn newest_requests(&self, n: usize) -> Vec<RecordedRequest> {
        lock(&self.inner.log).newest(n)
    }

    pub(crate) fn registration_endpoint(&self) -> &str {
        &self.inner.urls.registration_endpoint
    }

    /// An access token for a user grant: `aud` = the grant's resources (the default audience
    /// when there are none), `client_id`, `scope`, `sub`.
    pub(crate) fn issue_for_grant(
        &self,
        grant: &Grant,
        scope: &str,
        resources: &[String],
    ) -> Result<Access, IdpError> {
        let audience = if self
            .inner
            .authz
            .settings
            .has(crate::authz::AsDefect::AudienceWidened)
        {
            let mut all: Vec<String> = resources.to_vec();
            all.push(self.inner.urls.issuer.clone());
            Some(Audience::Many(all))
        } else {
            match resources {
                [] => None,
                [one] => Some(Audience::One(one.clone())),
                many => Some(Audience::Many(many.to_vec())),
            }
        };
        self.issue_access(&AccessClaims {
            subject: Some(&grant.subject),
            audience: audience.as_ref(),
            scope: (!scope.is_empty()).then_some(scope),
            client_id: Some(&grant.client_id),
            lifetime_secs: Some(self.inner.authz.settings.access_token_ttl_secs),
        })
    }

    /// An OpenID Connect ID token for a grant whose scope includes `openid`.
    pub(crate) fn id_token_for_grant(&self, grant: &Grant) -> Result<MintedToken, IdpError> {
        let mut claims = JsonObject::new();
        claims.insert("auth_time".into(), json!(self.now()));
        claims.insert("scope".into(), serde_json::Value::Null);
        claims.insert("client_id".into(), serde_json::Value::Null);
        claims.insert("azp".into(), json!(grant.client_id));
        if let Some(nonce) = &grant.nonce {
            claims.insert("nonce".into(), json!(nonce));
        }
        let mut header = JsonObject::new();
        header.insert("typ".into(), json!("JWT"));
        let request = MintRequest {
            audience: Some(Audience::One(grant.client_id.clone())),
            subject: Some(grant.subject.clone()),
            lifetime_secs: Some(self.inner.authz.settings.access_token_ttl_secs),
            claims: Some(claims),
            header: Some(header),
            ..MintRequest::default()
        };
        Ok(self.mint_with(&request)?.0)
    }

    pub(crate) fn introspection_client(&self) -> &Client {
        &self.inner.introspection_client
    }

    // ----- Plumbing for the HTTP shell -----

    /// Appends a request to the log; returns its `seq`.
    pub(crate) fn record(&self, entry: crate::log::Captured) -> u64 {
        // The lock is released at the end of the statement; the evicted entry is freed after it.
        let (seq, evicted) = lock(&self.inner.log).push_evicting(entry);
        drop(evicted);
        seq
    }

    pub(crate) fn record_status(&self, seq: u64, status: u16) {
        self.inner.statuses.set(seq, status);
    }

    /// Records why request `seq` was refused. Only refusals take the log's lock a second time.
    pub(crate) fn record_refusal(&self, seq: u64, refusal: crate::api::Refusal) {
        lock(&self.inner.log).set_refusal(seq, refusal);
    }

    /// The fault for one call to `endpoint`, if any (counts the call).
    pub(crate) fn take_fault(&self, endpoint: EndpointKind, client: Option<&str>) -> Option<Fault> {
        if !self.inner.faults_armed.load(Ordering::Acquire) {
            return None;
        }
        let endpoint = fault_endpoint(endpoint)?;
        let mut table = lock(&self.inner.faults);
        let fault = table.take(endpoint, client);
        if table.is_empty() {
            self.inner.faults_armed.store(false, Ordering::Release);
        }
        fault
    }

    /// Whether any fault rule is set (one atomic load: the recorder's fast path asks this on
    /// every request).
    pub(crate) fn faults_armed(&self) -> bool {
        self.inner.faults_armed.load(Ordering::Acquire)
    }

    /// Whether some fault rule names a client.
    pub(crate) fn has_client_faults(&self) -> bool {
        self.inner.faults_armed.load(Ordering::Acquire)
            && lock(&self.inner.faults).has_client_rules()
    }

    /// Rotates keys on the configured schedule until the server stops: announce a new key,
    /// activate it after the overlap, retire the old one after another overlap, and forget the
    /// key retired in the cycle before, so the set stays small. Does nothing without a schedule.
    pub(crate) async fn run_rotation_schedule(self) {
        let settings = &self.inner.authz.settings;
        let Some(period) = settings.key_rotation_secs.filter(|p| *p > 0) else {
            return;
        };
        let period = std::time::Duration::from_secs(period);
        let overlap = std::time::Duration::from_secs(settings.key_overlap_secs);
        let mut stopping = self.stopping();
        let mut previously_retired: Option<String> = None;
        loop {
            let wait = |d| {
                let mut stopping = stopping.clone();
                async move {
                    tokio::select! {
                        () = tokio::time::sleep(d) => true,
                        _ = stopping.wait_for(|s| *s) => false,
                    }
                }
            };
            if !wait(period).await {
                return;
            }
            let old = self.active_kid();
            let Ok(new) = self.announce_key() else {
                continue;
            };
            if !wait(overlap).await {
                return;
            }
            if self.activate_key(&new.kid).is_err() {
                continue;
            }
            if !wait(overlap).await {
                return;
            }
            let _ = self.retire_key(&old);
            if let Some(gone) = previously_retired.replace(old) {
                let _ = self.forget_key(&gone);
            }
            if *stopping.borrow_and_update() {
                return;
            }
        }
    }

    /// Watches for the server stopping.
    pub(crate) fn stopping(&self) -> watch::Receiver<bool> {
        self.inner.stopping.subscribe()
    }

    /// The `Host` values the control API answers to.
    pub(crate) fn hosts(&self) -> &Hosts {
        &self.inner.hosts
    }

    /// The bearer token control requests must carry, if one is configured.
    pub(crate) fn control_token(&self) -> Option<&[u8]> {
        self.inner.control_token.as_deref()
    }

    /// Remembers a demo flow's PKCE verifier under its `state` for ten minutes; the oldest flow
    /// goes when [`DEMO_FLOWS`] are pending.
    pub(crate) fn start_demo_flow(&self, state: String, verifier: String) {
        let now = self.now();
        let mut flows = lock(&self.inner.demo_flows);
        flows.retain(|(_, _, expires_at)| *expires_at > now);
        if flows.len() >= DEMO_FLOWS {
            flows.pop_front();
        }
        flows.push_back((state, verifier, now.saturating_add(600)));
    }

    /// The verifier of the demo flow `state`, once; `None` for an unknown or expired flow.
    pub(crate) fn finish_demo_flow(&self, state: &str) -> Option<String> {
        let now = self.now();
        let mut flows = lock(&self.inner.demo_flows);
        let index = flows.iter().position(|(s, _, _)| s == state)?;
        let (_, verifier, expires_at) = flows.remove(index)?;
        (expires_at > now).then_some(verifier)
    }

    /// How long a request body may take to arrive.
    pub(crate) fn body_read_timeout(&self) -> std::time::Duration {
        self.inner.body_read_timeout
    }

    pub(crate) fn stop(&self) {
        self.inner.stopping.send_replace(true);
    }
}

/// The most demo flows pending at once.
pub(crate) const DEMO_FLOWS: usize = 100;

/// Why a client's revocation request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RevokeRefusal {
    /// The token was issued to another client (RFC 7009 §2.1).
    OtherClient,
    /// The revocation list is full of unexpired revocations.
    Full,
}

/// What introspection found: a token record (answered from its claims at the current time) or a
/// finished answer.
enum Introspected {
    Record(Arc<TokenRecord>),
    Verified(Arc<VerifiedJwt>),
    Answer(JsonObject),
}

/// RFC 8414 §3.1: the well-known segment goes between the host and the issuer's path.
fn metadata_url(issuer: &str) -> String {
    match url::Url::parse(issuer) {
        Ok(url) if url.path() != "/" && !url.path().is_empty() => format!(
            "{}/.well-known/oauth-authorization-server{}",
            url.origin().ascii_serialization(),
            url.path().trim_end_matches('/')
        ),
        _ => format!("{issuer}/.well-known/oauth-authorization-server"),
    }
}

fn metadata_document(urls: &Urls, settings: &crate::authz::AuthzSettings) -> Bytes {
    let secret_methods = ["client_secret_basic", "client_secret_post"];
    let mut doc = json!({
        "issuer": urls.issuer,
        "authorization_endpoint": urls.authorization_endpoint,
        "token_endpoint": urls.token_endpoint,
        "jwks_uri": urls.jwks_uri,
        "userinfo_endpoint": urls.userinfo_endpoint,
        "introspection_endpoint": urls.introspection_endpoint,
        "revocation_endpoint": urls.revocation_endpoint,
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": secret_methods,
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "scopes_supported": settings.scopes_supported,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [settings.signing_alg.name()],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce"],
    });
    if settings.registration == RegistrationMode::Dynamic {
        doc["registration_endpoint"] = json!(urls.registration_endpoint);
    }
    if settings.has(crate::authz::AsDefect::MetadataNoPkce)
        && let Some(map) = doc.as_object_mut()
    {
        map.remove("code_challenge_methods_supported");
    }
    if settings.has(crate::authz::AsDefect::MetadataWrongIssuer) {
        doc["issuer"] = json!(format!("{}/", urls.issuer));
    }
    if settings.has(crate::authz::AsDefect::MetadataDeadRevocationEndpoint) {
        doc["revocation_endpoint"] = json!(format!("{}/oauth/revoke", urls.issuer));
    }
    if settings.has(crate::authz::AsDefect::MetadataNoResponseTypes)
        && let Some(map) = doc.as_object_mut()
    {
        map.remove("response_types_supported");
    }
    if settings.client_id_metadata_documents {
        doc["client_id_metadata_document_supported"] = json!(true);
    }
    Bytes::from(serde_json::to_vec(&doc).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::Value;

    use super::*;
    use crate::api::{Audience, Fault, FaultEndpoint, KeyState, TokenFormat};

    const ISSUER: &str = "http://127.0.0.1:1";

    fn idp() -> Idp {
        let config = IdpConfig {
            default_audience: Some("http://rs/mcp".into()),
            ..IdpConfig::default()
        };
        Idp::new(&config, ISSUER.to_owned()).expect("idp")
    }

    #[test]
    fn info_and_metadata() {
        let idp = idp();
        let info = idp.info();
        assert_eq!(info.issuer, ISSUER);
        assert_eq!(info.jwks_uri, format!("{ISSUER}/jwks"));
        assert_eq!(info.control_url, format!("{ISSUER}/_control"));
        assert_eq!(info.introspection_client_id, "conformance-rs");
        assert_eq!(info.token_client_id, "conformance-client");
        assert_eq!(info.active_kid, "mock-key-1");
        let doc: Value = serde_json::from_slice(&idp.metadata()).expect("json");
        assert_eq!(doc["issuer"], ISSUER);
        assert_eq!(
            doc["grant_types_supported"],
            json!(["authorization_code", "refresh_token", "client_credentials"])
        );
        assert_eq!(doc["authorization_endpoint"], format!("{ISSUER}/authorize"));
        assert_eq!(doc["registration_endpoint"], format!("{ISSUER}/register"));
        assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
    }

    #[test]
    fn introspection_of_minted_issued_revoked_and_overridden_tokens() {
        let idp = idp();
        let minted = idp
            .mint(&MintRequest {
                scope: Some("a b".into()),
                ..MintRequest::default()
            })
            .expect("mint");
        let answer = idp.introspect(&minted.token);
        assert_eq!(answer["active"], true);
        assert_eq!(answer["scope"], "a b");
        assert_eq!(answer["aud"], "http://rs/mcp");
        assert_eq!(answer["token_type"], "Bearer");

        // Issued at /token: not stored, verified against the keys.
        let issued = idp
            .issue(
                Some("s"),
                Some(&Audience::One("http://x".into())),
                "conformance-client",
            )
            .expect("issue");
        let answer = idp.introspect(&issued.token);
        assert_eq!(answer["active"], true);
        assert_eq!(answer["aud"], "http://x");
        assert_eq!(answer["client_id"], "conformance-client");
        let mut forged = issued.token.clone();
        forged.pop();
        forged.push(if issued.token.ends_with('A') {
            'B'
        } else {
            'A'
        });
        assert_eq!(
            Value::Object(idp.introspect(&forged)),
            json!({"active": false})
        );
        assert_eq!(
            Value::Object(idp.introspect("garbage")),
            json!({"active": false})
        );

        idp.revoke(&minted.token).expect("revoke");
        assert_eq!(
            Value::Object(idp.introspect(&minted.token)),
            json!({"active": false})
        );
        idp.revoke(&issued.token).expect("revoke");
        assert_eq!(idp.introspect(&issued.token)["active"], false);

        let response = json!({"active": true, "sub": "overridden"});
        idp.set_introspection_override(
            "anything",
            response.as_object().cloned().unwrap_or_default(),
        );
        assert_eq!(Value::Object(idp.introspect("anything")), response);

        idp.reset();
        assert_eq!(
            idp.introspect(&minted.token)["active"],
            true,
            "reset clears revocations"
        );
        assert_eq!(idp.introspect("anything")["active"], false, "and overrides");
    }

    #[test]
    fn a_verified_jwt_is_remembered_by_its_answer_and_still_follows_the_clock() {
        let idp = idp();
        idp.set_clock(ClockRequest::Set(1_000_000)).expect("set");
        let issued = idp
            .issue(Some("s"), None, "conformance-client")
            .expect("issue");
        let first = idp.introspect_json(&issued.token).expect("json");
        let kept = idp.introspect_json(&issued.token).expect("json");
        assert_eq!(first, kept, "the remembered answer is the verified one");
        assert_eq!(
            Value::Object(idp.introspect(&issued.token)),
            serde_json::from_slice::<Value>(&first).expect("json")
        );
        assert_eq!(idp.introspect(&issued.token)["active"], true);
        idp.set_clock(ClockRequest::Advance(100_000))
            .expect("advance");
        assert_eq!(
            &idp.introspect_json(&issued.token).expect("json")[..],
            br#"{"active":false}"#
        );
        assert_eq!(idp.introspect(&issued.token)["active"], false);
    }

    #[test]
    fn introspection_follows_the_clock_and_defects() {
        let idp = idp();
        idp.set_clock(ClockRequest::Set(1_000_000)).expect("set");
        let minted = idp.mint(&MintRequest::default()).expect("mint");
        assert_eq!(minted.claims["iat"], 1_000_000);
        assert_eq!(idp.introspect(&minted.token)["active"], true);
        let now = idp.set_clock(ClockRequest::Advance(300)).expect("advance");
        assert_eq!(now.now, 1_000_300);
        assert_eq!(idp.introspect(&minted.token)["active"], false);

        for defect in Defect::ALL {
            let minted = idp
                .mint(&MintRequest {
                    defect: Some(*defect),
                    ..MintRequest::default()
                })
                .expect("mint");
            let active = idp.introspect(&minted.token)["active"] == true;
            let expected = !defect.breaks_signature()
                && !matches!(defect, Defect::Expired | Defect::NotYetValid);
            assert_eq!(active, expected, "{defect}");
        }

        let opaque = idp
            .mint(&MintRequest {
                format: Some(TokenFormat::Opaque),
                ..MintRequest::default()
            })
            .expect("opaque");
        assert_eq!(idp.introspect(&opaque.token)["active"], true);
    }

    #[test]
    fn fresh_kids_and_one_untrusted_key() {
        let idp = idp();
        let first = idp
            .mint(&MintRequest {
                defect: Some(Defect::UntrustedKey),
                ..MintRequest::default()
            })
            .expect("mint");
        let second = idp
            .mint(&MintRequest {
                defect: Some(Defect::UntrustedKey),
                ..MintRequest::default()
            })
            .expect("mint");
        assert_ne!(first.kid, second.kid);
        assert!(
            first
                .kid
                .as_deref()
                .is_some_and(|k| k.starts_with("untrusted-key-"))
        );
        // One untrusted key signs them all.
        let key = idp.untrusted_key().expect("key");
        for minted in [&first, &second] {
            let (input, signature) = minted.token.rsplit_once('.').expect("three parts");
            let signature = URL_SAFE_NO_PAD.decode(signature).expect("base64url");
            assert!(key.verify(input.as_bytes(), &signature));
        }
        let jwks: Value = serde_json::from_slice(&idp.jwks().0).expect("jwks");
        assert_eq!(
            jwks["keys"].as_array().map(Vec::len),
            Some(1),
            "untrusted key never published"
        );
    }

    #[test]
    fn key_operations_and_mint_with_kid() {
        let idp = idp();
        let announced = idp.announce_key().expect("announce");
        assert_eq!(announced.kid, "mock-key-2");
        let minted = idp
            .mint(&MintRequest {
                kid: Some("mock-key-2".into()),
                ..MintRequest::default()
            })
            .expect("mint with kid");
        assert_eq!(minted.kid.as_deref(), Some("mock-key-2"));
        assert!(matches!(
            idp.mint(&MintRequest {
                kid: Some("nope".into()),
                ..MintRequest::default()
            }),
            Err(IdpError::UnknownKid(_))
        ));
        assert!(matches!(
            idp.retire_key("mock-key-1"),
            Err(IdpError::RetireActiveKey(_))
        ));
        let rotation = idp.rotate_keys().expect("rotate");
        assert_eq!(
            rotation,
            Rotation {
                kid: "mock-key-3".into(),
                retired: "mock-key-1".into()
            }
        );
        assert_eq!(idp.active_kid(), "mock-key-3");
        let states: Vec<KeyState> = idp.keys().into_iter().map(|k| k.state).collect();
        assert_eq!(
            states,
            [KeyState::Retired, KeyState::Announced, KeyState::Active]
        );
    }

    #[test]
    fn cached_verifications_end_when_the_key_is_forgotten() {
        let idp = idp();
        let issued = idp.issue(None, None, "conformance-client").expect("issue");
        assert_eq!(idp.introspect(&issued.token)["active"], true);
        // Cached now; still active after a rotation (retired keys still verify).
        let rotation = idp.rotate_keys().expect("rotate");
        assert_eq!(idp.introspect(&issued.token)["active"], true);
        idp.forget_key(&rotation.retired).expect("forget");
        assert_eq!(idp.introspect(&issued.token)["active"], false);
    }

    #[test]
    fn faults_and_log_plumbing() {
        let idp = idp();
        idp.set_fault(FaultSpec {
            endpoint: FaultEndpoint::Jwks,
            fault: Fault::Garbage,
            times: Some(1),
            client_id: None,
        })
        .expect("set");
        assert_eq!(idp.take_fault(EndpointKind::Revoke, None), None);
        assert_eq!(
            idp.take_fault(EndpointKind::Jwks, None),
            Some(Fault::Garbage)
        );
        assert_eq!(idp.take_fault(EndpointKind::Jwks, None), None);
        assert!(
            idp.set_fault(FaultSpec {
                endpoint: FaultEndpoint::Jwks,
                fault: Fault::Status { status: 42 },
                times: None,
                client_id: None,
            })
            .is_err()
        );
    }
}
