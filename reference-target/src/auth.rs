//! Bearer-token authentication of every MCP request, and the variant faults that break it.
//!
//! The axum middleware [`require_bearer`] runs before rmcp sees a request. It takes the token
//! from the one `Authorization: Bearer` header (RFC 6750 §2.1), validates it as an RFC 9068 JWT
//! against the JWKS or through RFC 7662 introspection, checks the required scopes, and answers
//! failures with the status codes and `WWW-Authenticate` challenges of RFC 6750 §3 and
//! RFC 9728 §5.1.
//!
//! Every variant fault is an explicit `if self.variant == ...` (or match arm) at the one place
//! its rule lives, with a comment naming the variant; nothing else differs between variants.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value, json};

use crate::challenge::{Challenge, sanitize};
use crate::http::is_token68;
use crate::introspection::Introspector;
use crate::jwks::{JwksCache, KeyLookup, spki_pem};
use crate::operation::{Operation, effective_scopes, header};
use crate::variant::Variant;

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECS: f64 = 5.0;

/// The header carrying the MCP session id.
const SESSION_HEADER: &str = "mcp-session-id";

/// Upper bound on remembered signing inputs and sessions, so that nothing the target remembers
/// grows without limit.
const MEMORY_LIMIT: usize = 10_000;

/// The largest request body the middleware reads to learn the operation (rmcp's own limit is
/// larger; a bigger body is refused here with 413).
const MAX_BODY: usize = 1024 * 1024;

/// Who the request was authenticated as; inserted into the request extensions for the tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthInfo {
    /// The `sub` of the token, when it has one.
    pub subject: Option<String>,
    /// The scopes the token grants.
    pub scopes: Vec<String>,
    /// The `client_id` of the token, when it has one.
    pub client_id: Option<String>,
    /// How the token was judged: `jwt`, `introspection`, or a note that a fault let it through.
    pub verified_by: &'static str,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// No `Authorization` header, or one with another scheme.
    NoCredentials,
    /// Bearer credentials that do not follow RFC 6750 §2.1.
    Malformed {
        /// The token is empty or only whitespace.
        blank_token: bool,
        /// For `error_description`.
        description: &'static str,
    },
    /// The token is not valid (RFC 6750 §3.1 `invalid_token`).
    InvalidToken(String),
    /// A DPoP proof is missing or wrong, or does not bind the token (RFC 9449 §7.1).
    InvalidDpopProof(String),
    /// The token is valid but lacks a scope the operation needs.
    InsufficientScope {
        /// For `error_description`.
        description: String,
        /// Every scope the operation needs.
        needed: Vec<String>,
        /// The needed scopes the token does not grant.
        missing: Vec<String>,
    },
}

/// How access tokens are judged.
pub enum Verifier {
    /// Locally, as JWTs signed by a key from the issuer's JWKS.
    Jwt(JwksCache),
    /// By the issuer's introspection endpoint.
    Introspection(Introspector),
}

/// Everything the middleware needs, shared by all requests.
pub struct AuthState {
    /// The behaviour the target runs with.
    pub variant: Variant,
    /// The trusted issuer (`iss`).
    pub issuer: String,
    /// The audience tokens must be issued for: the MCP endpoint URL unless configured.
    pub audience: String,
    /// Scopes every request needs.
    pub required_scopes: Vec<String>,
    /// The `resource_metadata` URL for challenges, `None` when none is advertised.
    pub resource_metadata: Option<String>,
    /// The token judge.
    pub verifier: Verifier,
    /// `signature-cache` only: the `header.payload` parts of accepted tokens.
    accepted_signing_inputs: Mutex<HashSet<String>>,
    /// Legacy session ids handed out on authenticated requests, each with the subject of the
    /// token that opened it: a session belongs to that user (MCP 2025-11-25 Security Best
    /// Practices, Session Hijacking).
    sessions: Mutex<SessionOwners>,
    /// The `Origin` values a browser page of this server would send; any other is refused.
    pub allowed_origins: Vec<String>,
    /// `reflects-forwarded-host` only: the `host:port` the target's own URLs carry.
    pub own_host: String,
    /// The `as-*` variants: the embedded authorization server, asked whether a token it issued
    /// was revoked since (a replayed code or refresh token revokes what it issued).
    pub revocation: Option<mock_idp::Idp>,
    /// `as-proxy-accepts-upstream` and `as-proxy-passthrough`: the upstream's introspection
    /// endpoint, asked about tokens the proxy did not issue (which a proxy must refuse).
    pub upstream_introspection: Option<String>,
    /// The `as-proxy*` variants: the proxy, asked whether the upstream authorization behind one
    /// of its tokens is still active.
    pub upstream_session: Option<Arc<crate::proxy::ProxyState>>,
}

/// A `std` mutex guard even if a panicking thread poisoned the lock: the sets hold plain strings,
/// which cannot be left half-updated.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Seconds since the Unix epoch.
fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_secs_f64())
        .unwrap_or(0.0)
}

/// Session ids and the subjects that opened them, oldest first for eviction.
#[derive(Default)]
struct SessionOwners {
    owners: HashMap<String, Option<String>>,
    order: VecDeque<String>,
}

impl SessionOwners {
    fn insert(&mut self, id: String, subject: Option<String>) {
        if self.owners.contains_key(&id) {
            return;
        }
        while self.order.len() >= MEMORY_LIMIT {
            if let Some(oldest) = self.order.pop_front() {
                self.owners.remove(&oldest);
            }
        }
        self.order.push_back(id.clone());
        self.owners.insert(id, subject);
    }
}

/// The axum middleware in front of the MCP endpoint.
pub async fn require_bearer(
    State(state): State<Arc<AuthState>>,
    request: Request,
    next: Next,
) -> Response {
    // The Origin header is checked on every request before anything else (MCP Streamable HTTP,
    // Security Warning; 403 since 2025-11-25), so a page on another site cannot use a rebound
    // DNS name to reach a local server. origin-not-validated skips it.
    if state.variant != Variant::OriginNotValidated && !state.origin_allowed(request.headers()) {
        return forbidden_origin();
    }
    // post-only-auth: only POST is authenticated; the GET stream and the DELETE that ends a
    // session reach rmcp unchecked.
    if state.variant == Variant::PostOnlyAuth && request.method() != Method::POST {
        return next.run(request).await;
    }
    // The body says what the request does; it is read once and handed on unchanged.
    let (mut parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
    };
    let mut operation = Operation::read(&parts.headers, &bytes);
    operation.http_method = parts.method.as_str().to_owned();
    // header-mismatch-accepted and header-routed-auth: the headers are made to agree with the
    // body, so rmcp serves what the body asks whatever the headers said.
    if matches!(
        state.variant,
        Variant::HeaderMismatchAccepted | Variant::HeaderRoutedAuth
    ) {
        align_headers(&mut parts.headers, &operation);
    }
    let session = header(&parts.headers, SESSION_HEADER);
    let forwarded_host = header(&parts.headers, "x-forwarded-host");
    // session-authenticates (legacy requests) and modern-session-authenticates (stateless
    // requests): a known session id stands in for the token, whatever the Authorization header
    // holds.
    let session_fault = if operation.modern {
        Variant::ModernSessionAuthenticates
    } else {
        Variant::SessionAuthenticates
    };
    let request = Request::from_parts(parts, Body::from(bytes));
    if state.variant == session_fault && state.session_is_known(session.as_deref()) {
        return next.run(request).await;
    }
    if operation.is_open(request.headers(), state.variant) {
        return next.run(request).await;
    }
    let mut request = request;
    let response = match state
        .authenticate(request.headers(), request.uri(), &operation)
        .await
    {
        Ok(info) => {
            // A legacy session belongs to the user who opened it; another user's token gets the
            // answer an unknown session gets. session-unbound lets anyone in.
            if let Some(id) = &session
                && !operation.modern
                && state.variant != Variant::SessionUnbound
                && state
                    .session_owner(id)
                    .is_some_and(|owner| owner != info.subject)
            {
                return (StatusCode::NOT_FOUND, "Not Found: Session not found").into_response();
            }
            let subject = info.subject.clone();
            request.extensions_mut().insert(info);
            let response = next.run(request).await;
            state.remember_session(&response, subject);
            response
        }
        Err(rejection) => state.reject(&rejection),
    };
    state.reflect_forwarded_host(response, forwarded_host.as_deref())
}

/// Sets `Mcp-Method` and `Mcp-Name` to what the body says (the two header faults).
fn align_headers(headers: &mut HeaderMap, operation: &Operation) {
    if let Ok(method) = HeaderValue::from_str(&operation.method) {
        headers.insert("mcp-method", method);
    }
    match operation
        .name
        .as_deref()
        .and_then(|n| HeaderValue::from_str(n).ok())
    {
        Some(name) => {
            headers.insert("mcp-name", name);
        }
        None => {
            headers.remove("mcp-name");
        }
    }
}

/// The 403 for a foreign `Origin`, with a JSON-RPC error that has no id (MCP 2025-11-25,
/// Streamable HTTP: Security Warning).
fn forbidden_origin() -> Response {
    let body = json!({
        "jsonrpc": "2.0",
        "error": {"code": -32600, "message": "Forbidden: Origin not allowed"}
    });
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = StatusCode::FORBIDDEN;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

impl AuthState {
    /// Shared state for the middleware.
    pub fn new(
        variant: Variant,
        issuer: String,
        audience: String,
        required_scopes: Vec<String>,
        resource_metadata: Option<String>,
        verifier: Verifier,
    ) -> Self {
        AuthState {
            variant,
            issuer,
            audience,
            required_scopes,
            resource_metadata,
            verifier,
            accepted_signing_inputs: Mutex::new(HashSet::new()),
            sessions: Mutex::new(SessionOwners::default()),
            allowed_origins: Vec::new(),
            own_host: String::new(),
            revocation: None,
            upstream_introspection: None,
            upstream_session: None,
        }
    }

    /// Authenticates one request from its headers (and, for one fault, its query), and checks
    /// that the token grants the scopes `operation` needs.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        uri: &Uri,
        operation: &Operation,
    ) -> Result<AuthInfo, Rejection> {
        // The dpop variants: a DPoP-scheme token comes with a proof, checked before the token.
        let dpop = self.variant.speaks_dpop();
        let dpop_key = match headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(crate::dpop::dpop_token)
        {
            Some(token) if dpop => Some((
                token.to_owned(),
                self.check_dpop_proof(headers, token, operation)?,
            )),
            _ => None,
        };
        let token = match dpop_key.as_ref().map(|(t, _)| t.clone()) {
            Some(token) => token,
            None => match bearer_token(headers, self.variant)? {
                Some(token) => token,
                // accepts-query-token: without an Authorization header, the access_token query
                // parameter is used, which RFC 9700 §2.1 and the MCP spec forbid.
                None if self.variant == Variant::AcceptsQueryToken
                    && !headers.contains_key(AUTHORIZATION) =>
                {
                    query_token(uri).ok_or(Rejection::NoCredentials)?
                }
                None => return Err(Rejection::NoCredentials),
            },
        };
        let own = match &self.verifier {
            Verifier::Jwt(jwks) => self.validate_jwt(&token, jwks, operation.modern).await,
            Verifier::Introspection(introspector) => {
                self.validate_introspected(&token, introspector).await
            }
        };
        // as-refresh-token-accepted: a token the embedded authorization server knows as active
        // is let in whatever kind it is, so its refresh tokens work as access tokens.
        let own = match (own, &self.revocation) {
            (Err(_), Some(idp)) if self.variant == Variant::AsRefreshTokenAccepted => {
                let answer = idp.introspect(&token);
                if answer.get("active") == Some(&Value::Bool(true)) {
                    Ok(AuthInfo {
                        subject: answer.get("sub").and_then(Value::as_str).map(str::to_owned),
                        scopes: token_scopes(&answer, false),
                        client_id: answer
                            .get("client_id")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                        verified_by: "the authorization server's records (a fault)",
                    })
                } else {
                    Err(Rejection::InvalidToken("token is not active".to_owned()))
                }
            }
            (own, _) => own,
        };
        let info = match (own, &self.upstream_introspection) {
            (Err(rejection), Some(endpoint)) => {
                return self
                    .upstream_accepts(&token, endpoint)
                    .await
                    .ok_or(rejection);
            }
            (result, _) => result?,
        };
        if let Some(idp) = &self.revocation
            && idp.introspect(&token).get("active") != Some(&Value::Bool(true))
        {
            return Err(Rejection::InvalidToken("the token was revoked".to_owned()));
        }
        if let Some(proxy) = &self.upstream_session
            && !proxy.upstream_active(&token).await
        {
            return Err(Rejection::InvalidToken(
                "the upstream authorization behind the token was revoked".to_owned(),
            ));
        }
        if dpop {
            // RFC 9449 §7.1-7.2: a bound token only with a proof by its key, and a proof only for
            // a bound token.
            match (crate::dpop::token_jkt(&token), &dpop_key) {
                (Some(jkt), Some((_, thumbprint))) if jkt == *thumbprint => {}
                (Some(_), Some(_)) => {
                    return Err(Rejection::InvalidDpopProof(
                        "the DPoP proof is not signed by the key the token is bound to".to_owned(),
                    ));
                }
                (Some(_), None) => {
                    return Err(Rejection::InvalidToken(
                        "a DPoP-bound token presented as a bearer token".to_owned(),
                    ));
                }
                (None, Some(_)) => {
                    return Err(Rejection::InvalidToken(
                        "a token not bound to a key presented with the DPoP scheme".to_owned(),
                    ));
                }
                (None, None) => {}
            }
        }
        // A fault that let the token through unexamined (introspection failing open, an inactive
        // answer believed) checks nothing else either.
        if info.verified_by.starts_with("nothing") {
            return Ok(info);
        }
        // operation-scope-tool-error: only the scopes every request needs are checked here; the
        // admin tool finds out for itself and answers with a tool error.
        let needed = if self.variant == Variant::OperationScopeToolError {
            self.required_scopes.clone()
        } else {
            operation.needed_scopes(&self.required_scopes)
        };
        self.require_scopes(&info.scopes, needed)?;
        Ok(info)
    }

    /// Checks the request's one DPoP proof for `token`; returns its key's thumbprint.
    fn check_dpop_proof(
        &self,
        headers: &HeaderMap,
        token: &str,
        operation: &Operation,
    ) -> Result<String, Rejection> {
        let mut proofs = headers.get_all("dpop").iter();
        let (Some(proof), None) = (proofs.next(), proofs.next()) else {
            return Err(Rejection::InvalidDpopProof(
                "exactly one DPoP header is required".to_owned(),
            ));
        };
        let proof = proof
            .to_str()
            .map_err(|_| Rejection::InvalidDpopProof("the DPoP header is not text".to_owned()))?;
        let cx = crate::dpop::ProofContext {
            method: &operation.http_method,
            url: &self.audience,
            access_token: token,
            now: now_secs(),
        };
        // dpop-proof-unchecked: the signature and the key are checked, what the proof says about
        // the request is not.
        crate::dpop::check_proof(proof, &cx, self.variant != Variant::DpopProofUnchecked)
            .map_err(Rejection::InvalidDpopProof)
    }

    /// The proxy faults: asks the upstream whether it issued `token` for this audience.
    async fn upstream_accepts(&self, token: &str, endpoint: &str) -> Option<AuthInfo> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(std::time::Duration::from_secs(2))
            .build()
            .ok()?;
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("token", token)
            .finish();
        let bytes = client
            .post(endpoint)
            .basic_auth("conformance-rs", Some("conformance-rs-secret"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .ok()?
            .bytes()
            .await
            .ok()?;
        let answer: Value = serde_json::from_slice(&bytes).ok()?;
        let active = answer.get("active").and_then(Value::as_bool) == Some(true);
        let audience_ok = match answer.get("aud") {
            Some(Value::String(a)) => *a == self.audience,
            Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(self.audience.as_str())),
            _ => false,
        };
        let scopes: Vec<String> = answer
            .get("scope")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        let scoped = self.required_scopes.iter().all(|r| scopes.contains(r));
        (active && audience_ok && scoped).then(|| AuthInfo {
            subject: answer.get("sub").and_then(Value::as_str).map(str::to_owned),
            scopes,
            client_id: answer
                .get("client_id")
                .and_then(Value::as_str)
                .map(str::to_owned),
            verified_by: "upstream introspection (a proxy fault)",
        })
    }

    /// Validates a JWT access token (RFC 9068 §4) and its scopes.
    async fn validate_jwt(
        &self,
        token: &str,
        jwks: &JwksCache,
        modern: bool,
    ) -> Result<AuthInfo, Rejection> {
        let invalid = |description: &str| Rejection::InvalidToken(description.to_owned());
        let segments: Vec<&str> = token.split('.').collect();
        let (header_b64, payload_b64, signature_b64) = match segments.as_slice() {
            [header, payload, signature] => (*header, *payload, Some(*signature)),
            [header, payload] => (*header, *payload, None),
            _ => return Err(invalid("token is not a signed JWT")),
        };
        let header =
            decode_json_object(header_b64).ok_or_else(|| invalid("malformed JWT header"))?;
        let claims =
            decode_json_object(payload_b64).ok_or_else(|| invalid("malformed JWT claims"))?;
        let signing_input = format!("{header_b64}.{payload_b64}");

        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.as_str()),
            Some(_) => return Err(invalid("kid is not a string")),
        };
        enum Check {
            Rs256,
            Hs256,
            Unsigned,
        }
        let check = match alg {
            "RS256" => Check::Rs256,
            // accepts-alg-none: an unsecured JWT (RFC 7519 §6) is taken without any signature.
            "none" if self.variant == Variant::AcceptsAlgNone => Check::Unsigned,
            // hs256-public-key: HS256 is allowed and keyed with the RSA public key's PEM text.
            "HS256" if self.variant == Variant::Hs256PublicKey => Check::Hs256,
            _ => return Err(invalid("unsupported alg; only RS256 is accepted")),
        };
        if signature_b64.is_none() && !matches!(check, Check::Unsigned) {
            return Err(invalid("token is not a signed JWT"));
        }
        // ignores-typ: the explicit typing of RFC 9068 §2.1 is not checked, so other kinds of
        // JWT (ID tokens, for one) pass as access tokens.
        if self.variant != Variant::IgnoresTyp {
            let typ = header
                .get("typ")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !(typ.eq_ignore_ascii_case("at+jwt")
                || typ.eq_ignore_ascii_case("application/at+jwt"))
            {
                return Err(invalid("typ must be at+jwt"));
            }
        }
        // ignores-crit: a critical extension this server does not understand must make the
        // token invalid (RFC 7515 §4.1.11); the fault ignores it.
        if self.variant != Variant::IgnoresCrit && header.contains_key("crit") {
            return Err(invalid("unsupported crit header"));
        }

        // signature-cache: a header.payload accepted before is trusted again without looking
        // at the signature, so a token with a forged signature over a seen payload passes.
        let cached = self.variant == Variant::SignatureCache
            && lock(&self.accepted_signing_inputs).contains(&signing_input);
        if !cached {
            let signature = signature_b64.unwrap_or_default();
            match check {
                Check::Unsigned => {}
                Check::Rs256 => {
                    let kid = kid.ok_or_else(|| invalid("kid missing"))?;
                    match jwks.lookup(Some(kid)).await {
                        KeyLookup::Found(key) => {
                            let sig = URL_SAFE_NO_PAD.decode(signature).unwrap_or_default();
                            if !key.verify_rs256(signing_input.as_bytes(), &sig) {
                                return Err(invalid("signature verification failed"));
                            }
                        }
                        // unknown-kid-unverified: a token signed by a key nobody published has
                        // its claims believed without any signature check.
                        KeyLookup::Unknown if self.variant == Variant::UnknownKidUnverified => {}
                        KeyLookup::Unknown => {
                            return Err(invalid("no key in the JWKS for this kid"));
                        }
                        KeyLookup::RateLimited => {
                            return Err(invalid(
                                "no key in the cached JWKS for this kid (refetches are spaced out)",
                            ));
                        }
                        // jwks-outage-fails-open: when the keys cannot be fetched, the claims
                        // are believed without a signature check.
                        KeyLookup::Unavailable(_)
                            if self.variant == Variant::JwksOutageFailsOpen => {}
                        KeyLookup::Unavailable(reason) => {
                            return Err(Rejection::InvalidToken(reason));
                        }
                    }
                }
                Check::Hs256 => match jwks.lookup(kid).await {
                    KeyLookup::Found(key) => {
                        // hs256-public-key: the RSA public key, public by definition, is used as
                        // an HMAC secret, so anyone can forge tokens.
                        let pem = spki_pem(&key.n, &key.e);
                        let decoding = DecodingKey::from_secret(pem.as_bytes());
                        if !verify(signature, &signing_input, &decoding, Algorithm::HS256) {
                            return Err(invalid("signature verification failed"));
                        }
                    }
                    KeyLookup::Unknown => return Err(invalid("no key in the JWKS for this kid")),
                    KeyLookup::RateLimited => {
                        return Err(invalid(
                            "no key in the cached JWKS for this kid (refetches are spaced out)",
                        ));
                    }
                    KeyLookup::Unavailable(reason) => return Err(Rejection::InvalidToken(reason)),
                },
            }
        }

        self.check_jwt_claims(&claims, modern)?;
        let info = AuthInfo {
            subject: string_claim(&claims, "sub"),
            // scope-claim-only: scp (used by several issuers) is ignored.
            scopes: token_scopes(&claims, self.variant != Variant::ScopeClaimOnly),
            client_id: string_claim(&claims, "client_id"),
            verified_by: if cached {
                "jwt (signature cache)"
            } else {
                "jwt"
            },
        };
        if self.variant == Variant::SignatureCache {
            let mut seen = lock(&self.accepted_signing_inputs);
            if seen.len() >= MEMORY_LIMIT {
                seen.clear();
            }
            seen.insert(signing_input);
        }
        Ok(info)
    }

    /// The time, issuer and audience claims of a JWT (RFC 9068 §4, RFC 7519 §4.1).
    fn check_jwt_claims(&self, claims: &Map<String, Value>, modern: bool) -> Result<(), Rejection> {
        let invalid = |description: &str| Rejection::InvalidToken(description.to_owned());
        let now = now_secs();
        match numeric_claim(claims, "exp").map_err(|d| invalid(&d))? {
            // accepts-missing-exp: a token without exp never expires.
            None if self.variant == Variant::AcceptsMissingExp => {}
            None => return Err(invalid("exp missing")),
            // accepts-expired: exp is read but its value not enforced.
            Some(exp) if now > exp + LEEWAY_SECS && self.variant != Variant::AcceptsExpired => {
                return Err(invalid("token expired"));
            }
            Some(_) => {}
        }
        // ignores-nbf: a token that is not yet valid is accepted.
        if self.variant != Variant::IgnoresNbf
            && let Some(nbf) = numeric_claim(claims, "nbf").map_err(|d| invalid(&d))?
            && nbf > now + LEEWAY_SECS
        {
            return Err(invalid("token not yet valid"));
        }
        // ignores-issuer: tokens from any issuer are accepted.
        if self.variant != Variant::IgnoresIssuer
            && claims.get("iss").and_then(Value::as_str) != Some(self.issuer.as_str())
        {
            return Err(invalid("wrong issuer"));
        }
        // ignores-audience: tokens issued for any resource are accepted (no RFC 8707 binding);
        // modern-skips-audience: so are the stateless wire's, while legacy requests are checked.
        let skip_audience = self.variant == Variant::IgnoresAudience
            || (modern && self.variant == Variant::ModernSkipsAudience);
        if !skip_audience {
            let rules = AudienceRules {
                // rejects-array-aud: RFC 7519 §4.1.3 allows an array; the fault does not.
                allow_array: self.variant != Variant::RejectsArrayAud,
                // accepts-missing-aud: a token bound to no audience is accepted.
                allow_missing: self.variant == Variant::AcceptsMissingAud,
                // aud-origin-match: any resource on the same origin is accepted.
                origin_only: self.variant == Variant::AudOriginMatch,
            };
            check_audience(claims.get("aud"), &self.audience, rules).map_err(|d| invalid(&d))?;
        }
        Ok(())
    }

    /// Validates a token by introspection (RFC 7662 §2.2) and checks its scopes.
    async fn validate_introspected(
        &self,
        token: &str,
        introspector: &Introspector,
    ) -> Result<AuthInfo, Rejection> {
        let invalid = |description: &str| Rejection::InvalidToken(description.to_owned());
        let answer = match introspector.introspect(token).await {
            Ok(answer) => answer,
            // introspect-fails-open: when the authorization server cannot be asked, the
            // request goes through as if the token were fine.
            Err(_) if self.variant == Variant::IntrospectFailsOpen => {
                return Ok(AuthInfo {
                    subject: None,
                    scopes: vec![],
                    client_id: None,
                    verified_by: "nothing (introspection failed open)",
                });
            }
            Err(reason) => return Err(Rejection::InvalidToken(reason)),
        };
        let info = AuthInfo {
            subject: string_claim(&answer, "sub"),
            scopes: token_scopes(&answer, false),
            client_id: string_claim(&answer, "client_id"),
            verified_by: "introspection",
        };
        if answer.get("active") != Some(&Value::Bool(true)) {
            // introspect-ignores-active: an inactive (revoked, expired, unknown) token is
            // let through; such answers carry no claims to check, so none are.
            if self.variant == Variant::IntrospectIgnoresActive {
                return Ok(AuthInfo {
                    verified_by: "nothing (introspection answer not active)",
                    ..info
                });
            }
            return Err(invalid("token is not active"));
        }
        // introspect-ignores-aud: tokens issued for any resource are accepted.
        if self.variant != Variant::IntrospectIgnoresAud {
            let rules = AudienceRules {
                // introspect-rejects-array-aud: an array aud is refused even when it holds
                // the audience.
                allow_array: self.variant != Variant::IntrospectRejectsArrayAud,
                allow_missing: false,
                origin_only: false,
            };
            check_audience(answer.get("aud"), &self.audience, rules).map_err(|d| invalid(&d))?;
        }
        // introspect-ignores-claims: exp, iss and token_type in the answer are not checked.
        if self.variant != Variant::IntrospectIgnoresClaims {
            if let Some(exp) = numeric_claim(&answer, "exp").map_err(|d| invalid(&d))?
                && now_secs() > exp + LEEWAY_SECS
            {
                return Err(invalid("token expired"));
            }
            if let Some(iss) = answer.get("iss")
                && iss.as_str() != Some(self.issuer.as_str())
            {
                return Err(invalid("wrong issuer"));
            }
            if let Some(token_type) = answer.get("token_type") {
                let token_type = token_type
                    .as_str()
                    .ok_or_else(|| invalid("token_type is not a string"))?;
                if token_type.eq_ignore_ascii_case("refresh_token") {
                    return Err(invalid("refresh tokens are not access tokens"));
                }
            }
        }
        Ok(info)
    }

    /// Fails with `InsufficientScope` unless the token grants every scope in `needed`, counting
    /// the scopes its broader scopes imply.
    fn require_scopes(&self, granted: &[String], needed: Vec<String>) -> Result<(), Rejection> {
        let effective = effective_scopes(granted, self.variant);
        let missing: Vec<String> = needed
            .iter()
            .filter(|scope| !effective.contains(scope))
            .cloned()
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(Rejection::InsufficientScope {
                description: format!("token lacks required scope {}", missing.join(" ")),
                needed,
                missing,
            })
        }
    }

    /// The scope attribute value of a 401: the required scopes, space-separated.
    fn scope_param(&self) -> Option<String> {
        (!self.required_scopes.is_empty()).then(|| self.required_scopes.join(" "))
    }

    /// A challenge with the resource metadata URL, and the scope unless the variant drops it.
    fn challenge_401(&self, error: Option<&str>, description: Option<&str>) -> Challenge {
        Challenge {
            error: error.map(str::to_owned),
            error_description: description.map(str::to_owned),
            resource_metadata: self.resource_metadata.clone(),
            // no-scope-param: 401 challenges do not say which scope is needed.
            scope: if self.variant == Variant::NoScopeParam {
                None
            } else {
                self.scope_param()
            },
            // unquoted-challenge-params: resource_metadata goes out as a bare token.
            unquoted_resource_metadata: self.variant == Variant::UnquotedChallengeParams,
        }
    }

    /// The HTTP answer for a refused request. The dpop variants add a `DPoP` challenge to every
    /// 401 (RFC 9449 §7.1), beside the Bearer one.
    pub fn reject(&self, rejection: &Rejection) -> Response {
        let mut response = self.refusal(rejection);
        if self.variant.speaks_dpop()
            && response.status() == StatusCode::UNAUTHORIZED
            && !matches!(rejection, Rejection::InvalidDpopProof(_))
        {
            let value = format!("DPoP algs=\"{}\"", crate::dpop::ALGS.join(" "));
            if let Ok(value) = HeaderValue::from_str(&value) {
                response.headers_mut().append(WWW_AUTHENTICATE, value);
            }
        }
        response
    }

    fn refusal(&self, rejection: &Rejection) -> Response {
        match rejection {
            Rejection::NoCredentials => {
                // error-without-credentials: RFC 6750 §3.1 says a request without credentials
                // gets no error code; the fault claims the (absent) token is invalid.
                let challenge = if self.variant == Variant::ErrorWithoutCredentials {
                    self.challenge_401(Some("invalid_token"), None)
                } else {
                    self.challenge_401(None, None)
                };
                // unauthenticated-403: missing credentials are answered as forbidden.
                let status = if self.variant == Variant::Unauthenticated403 {
                    StatusCode::FORBIDDEN
                } else {
                    StatusCode::UNAUTHORIZED
                };
                // no-www-authenticate: the 401 carries no challenge, so a client cannot
                // discover how to authenticate.
                let challenge = (self.variant != Variant::NoWwwAuthenticate).then_some(challenge);
                respond(status, challenge.as_ref(), None)
            }
            Rejection::Malformed {
                blank_token,
                description,
            } => {
                // malformed-auth-500: an empty bearer token crashes the request handling.
                if *blank_token && self.variant == Variant::MalformedAuth500 {
                    return (StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
                        .into_response();
                }
                let challenge = self.challenge_401(Some("invalid_request"), Some(description));
                respond(
                    StatusCode::UNAUTHORIZED,
                    Some(&challenge),
                    Some(("invalid_request", description)),
                )
            }
            Rejection::InvalidToken(description) => self.invalid_token_response(description),
            Rejection::InvalidDpopProof(description) => {
                let mut response = respond(
                    StatusCode::UNAUTHORIZED,
                    None,
                    Some(("invalid_dpop_proof", description)),
                );
                let challenge = format!(
                    "DPoP algs=\"{}\", error=\"invalid_dpop_proof\", error_description=\"{}\"",
                    crate::dpop::ALGS.join(" "),
                    sanitize(description)
                );
                if let Ok(value) = HeaderValue::from_str(&challenge) {
                    response.headers_mut().insert(WWW_AUTHENTICATE, value);
                }
                response
            }
            Rejection::InsufficientScope {
                description,
                needed,
                missing,
            } => {
                // insufficient-scope-401: a valid but under-scoped token is called invalid,
                // so the client re-authenticates instead of asking for more scope.
                if self.variant == Variant::InsufficientScope401 {
                    return self.invalid_token_response(description);
                }
                let challenge = if self.variant == Variant::InsufficientScopeBare403 {
                    // insufficient-scope-bare-403: neither the needed scope nor the metadata
                    // URL is given, so the client cannot step up.
                    Challenge {
                        error: Some("insufficient_scope".to_owned()),
                        ..Challenge::default()
                    }
                } else {
                    // One challenge names every scope the operation needs (MCP 2026-07-28,
                    // Runtime Insufficient Scope Errors); scope-challenge-incremental names the
                    // first missing one only, so each retry meets the next.
                    let scope = if self.variant == Variant::ScopeChallengeIncremental {
                        needed
                            .iter()
                            .filter(|s| !missing.contains(s) || Some(*s) == missing.first())
                            .cloned()
                            .collect::<Vec<_>>()
                    } else {
                        needed.clone()
                    };
                    Challenge {
                        error: Some("insufficient_scope".to_owned()),
                        scope: Some(scope.join(" ")),
                        resource_metadata: self.resource_metadata.clone(),
                        unquoted_resource_metadata: self.variant
                            == Variant::UnquotedChallengeParams,
                        ..Challenge::default()
                    }
                };
                respond(
                    StatusCode::FORBIDDEN,
                    Some(&challenge),
                    Some(("insufficient_scope", description)),
                )
            }
        }
    }

    fn invalid_token_response(&self, description: &str) -> Response {
        // invalid-token-no-error: the challenge does not say why the token was refused.
        let challenge = if self.variant == Variant::InvalidTokenNoError {
            self.challenge_401(None, None)
        } else {
            self.challenge_401(Some("invalid_token"), Some(description))
        };
        respond(
            StatusCode::UNAUTHORIZED,
            Some(&challenge),
            Some(("invalid_token", description)),
        )
    }

    fn session_is_known(&self, id: Option<&str>) -> bool {
        id.is_some_and(|id| lock(&self.sessions).owners.contains_key(id))
    }

    /// The subject that opened a session, when the session is known.
    fn session_owner(&self, id: &str) -> Option<Option<String>> {
        lock(&self.sessions).owners.get(id).cloned()
    }

    /// Remembers the session an authenticated request opened, with its user.
    fn remember_session(&self, response: &Response, subject: Option<String>) {
        if let Some(id) = response
            .headers()
            .get(SESSION_HEADER)
            .and_then(|value| value.to_str().ok())
        {
            lock(&self.sessions).insert(id.to_owned(), subject);
        }
    }

    /// Whether the request's `Origin` (if any) is one of the target's own.
    fn origin_allowed(&self, headers: &HeaderMap) -> bool {
        match headers.get(axum::http::header::ORIGIN) {
            None => true,
            Some(value) => value
                .to_str()
                .is_ok_and(|origin| self.allowed_origins.iter().any(|o| o == origin)),
        }
    }

    /// reflects-forwarded-host: the challenge's `resource_metadata` is rebuilt on the host the
    /// request's `X-Forwarded-Host` names, which any client can set.
    pub fn reflect_forwarded_host(
        &self,
        mut response: Response,
        forwarded: Option<&str>,
    ) -> Response {
        let Some(forwarded) = forwarded.filter(|_| self.variant == Variant::ReflectsForwardedHost)
        else {
            return response;
        };
        if let Some(value) = response
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.replace(&self.own_host, forwarded))
            && let Ok(value) = HeaderValue::from_str(&value)
        {
            response.headers_mut().insert(WWW_AUTHENTICATE, value);
        }
        response
    }
}

/// Builds an error answer: status, optional challenge, and an optional JSON error body
/// `{"error", "error_description"}` (a missing-credentials answer has an empty body).
fn respond(
    status: StatusCode,
    challenge: Option<&Challenge>,
    body: Option<(&str, &str)>,
) -> Response {
    let mut response = match body {
        Some((error, description)) => {
            let json = json!({"error": error, "error_description": sanitize(description)});
            let mut response = Response::new(Body::from(json.to_string()));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        None => Response::new(Body::empty()),
    };
    *response.status_mut() = status;
    if let Some(challenge) = challenge
        && let Ok(value) = HeaderValue::from_str(&challenge.render())
    {
        response.headers_mut().insert(WWW_AUTHENTICATE, value);
    }
    response
}

/// The bearer token of the request, `None` when it has no Bearer credentials.
///
/// Exactly one `Authorization` header is allowed; its scheme is matched case-insensitively
/// (RFC 9110 §11.1) and the credentials must be one token68 (RFC 6750 §2.1).
pub fn bearer_token(headers: &HeaderMap, variant: Variant) -> Result<Option<String>, Rejection> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Rejection::Malformed {
            blank_token: false,
            description: "more than one Authorization header",
        });
    }
    let bytes = value.as_bytes();
    let split = bytes
        .iter()
        .position(|b| *b == b' ' || *b == b'\t')
        .unwrap_or(bytes.len());
    let (scheme, rest) = bytes.split_at(split);
    // case-sensitive-scheme: only the spelling "Bearer" is recognised, though auth schemes are
    // case-insensitive.
    let is_bearer = if variant == Variant::CaseSensitiveScheme {
        scheme == b"Bearer"
    } else {
        scheme.eq_ignore_ascii_case(b"Bearer")
    };
    if !is_bearer {
        return Ok(None);
    }
    let token = rest.trim_ascii();
    if token.is_empty() {
        return Err(Rejection::Malformed {
            blank_token: true,
            description: "empty bearer token",
        });
    }
    if token.iter().any(|b| b.is_ascii_whitespace()) {
        return Err(Rejection::Malformed {
            blank_token: false,
            description: "bearer credentials must be a single token",
        });
    }
    match std::str::from_utf8(token) {
        Ok(token) if is_token68(token) => Ok(Some(token.to_owned())),
        _ => Err(Rejection::Malformed {
            blank_token: false,
            description: "bearer token is not token68",
        }),
    }
}

/// The non-empty `access_token` query parameter (used only by the `accepts-query-token` fault).
fn query_token(uri: &Uri) -> Option<String> {
    url::form_urlencoded::parse(uri.query()?.as_bytes())
        .find(|(name, _)| name == "access_token")
        .map(|(_, value)| value.into_owned())
        .filter(|value| !value.is_empty())
}

/// Decodes one base64url JWT segment holding a JSON object.
fn decode_json_object(segment: &str) -> Option<Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(segment).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(object) => Some(object),
        _ => None,
    }
}

/// Checks a JWS signature; any decoding or key error counts as a failed check.
fn verify(signature: &str, signing_input: &str, key: &DecodingKey, algorithm: Algorithm) -> bool {
    jsonwebtoken::crypto::verify(signature, signing_input.as_bytes(), key, algorithm)
        .unwrap_or(false)
}

fn string_claim(claims: &Map<String, Value>, name: &str) -> Option<String> {
    claims.get(name).and_then(Value::as_str).map(str::to_owned)
}

/// A NumericDate claim: `Ok(None)` when absent, an error when present but not a number.
fn numeric_claim(claims: &Map<String, Value>, name: &str) -> Result<Option<f64>, String> {
    match claims.get(name) {
        None => Ok(None),
        Some(value) => value
            .as_f64()
            .map(Some)
            .ok_or_else(|| format!("{name} is not a number")),
    }
}

/// The scopes a token grants: the space-separated `scope` claim (RFC 9068 §2.2.3) and, when
/// `read_scp`, the `scp` claim as an array of strings or a space-separated string.
pub fn token_scopes(claims: &Map<String, Value>, read_scp: bool) -> Vec<String> {
    let mut scopes: Vec<String> = Vec::new();
    let mut add = |scope: &str| {
        if !scope.is_empty() && !scopes.iter().any(|known| known == scope) {
            scopes.push(scope.to_owned());
        }
    };
    if let Some(scope) = claims.get("scope").and_then(Value::as_str) {
        scope.split(' ').for_each(&mut add);
    }
    if read_scp {
        match claims.get("scp") {
            Some(Value::String(scp)) => scp.split(' ').for_each(&mut add),
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).for_each(&mut add),
            _ => {}
        }
    }
    scopes
}

/// How audiences are compared; the conformant rules are `allow_array` only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudienceRules {
    /// An array `aud` is accepted when one element matches.
    pub allow_array: bool,
    /// A missing `aud` is accepted.
    pub allow_missing: bool,
    /// Values match when their origins (scheme, host, port) match; a fault.
    pub origin_only: bool,
}

/// Checks `aud` (a string or an array of strings) against the expected audience.
pub fn check_audience(
    aud: Option<&Value>,
    expected: &str,
    rules: AudienceRules,
) -> Result<(), String> {
    let matches = |value: &str| {
        if rules.origin_only {
            same_origin(value, expected)
        } else {
            value == expected
        }
    };
    match aud {
        None if rules.allow_missing => Ok(()),
        None => Err("aud missing".to_owned()),
        Some(Value::String(value)) if matches(value) => Ok(()),
        Some(Value::Array(_)) if !rules.allow_array => {
            Err("aud must be a single string".to_owned())
        }
        Some(Value::Array(values)) if values.iter().filter_map(Value::as_str).any(matches) => {
            Ok(())
        }
        Some(_) => Err("token is not for this resource (aud)".to_owned()),
    }
}

/// True when both are absolute URLs with the same scheme, host and port.
fn same_origin(a: &str, b: &str) -> bool {
    match (url::Url::parse(a), url::Url::parse(b)) {
        (Ok(a), Ok(b)) => a.origin() == b.origin() && matches!(a.origin(), url::Origin::Tuple(..)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(
                AUTHORIZATION,
                HeaderValue::from_str(value).expect("header value"),
            );
        }
        map
    }

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn bearer_scheme_is_case_insensitive_except_in_the_fault() {
        let h = headers(&["bearer abc.def-_~+/="]);
        assert_eq!(
            bearer_token(&h, Variant::Conformant),
            Ok(Some("abc.def-_~+/=".into()))
        );
        assert_eq!(bearer_token(&h, Variant::CaseSensitiveScheme), Ok(None));
        assert_eq!(
            bearer_token(&headers(&["BEARER x"]), Variant::Conformant),
            Ok(Some("x".into()))
        );
        assert_eq!(
            bearer_token(&headers(&["Bearer  x "]), Variant::Conformant),
            Ok(Some("x".into()))
        );
    }

    #[test]
    fn missing_or_other_schemes_are_no_credentials() {
        assert_eq!(
            bearer_token(&HeaderMap::new(), Variant::Conformant),
            Ok(None)
        );
        assert_eq!(
            bearer_token(&headers(&["Basic dXNlcjpwYXNz"]), Variant::Conformant),
            Ok(None)
        );
        assert_eq!(
            bearer_token(&headers(&["BearerX abc"]), Variant::Conformant),
            Ok(None)
        );
    }

    #[test]
    fn malformed_bearer_credentials_are_invalid_requests() {
        let blank = |r: Result<Option<String>, Rejection>| match r {
            Err(Rejection::Malformed { blank_token, .. }) => Some(blank_token),
            _ => None,
        };
        assert_eq!(
            blank(bearer_token(&headers(&["Bearer"]), Variant::Conformant)),
            Some(true)
        );
        assert_eq!(
            blank(bearer_token(&headers(&["Bearer    "]), Variant::Conformant)),
            Some(true)
        );
        assert_eq!(
            blank(bearer_token(&headers(&["Bearer a b"]), Variant::Conformant)),
            Some(false)
        );
        assert_eq!(
            blank(bearer_token(
                &headers(&["Bearer a", "Bearer b"]),
                Variant::Conformant
            )),
            Some(false)
        );
        assert_eq!(
            blank(bearer_token(&headers(&["Bearer a,b"]), Variant::Conformant)),
            Some(false)
        );
        assert_eq!(
            blank(bearer_token(
                &headers(&["Bearer =abc"]),
                Variant::Conformant
            )),
            Some(false)
        );
    }

    #[test]
    fn token68_syntax() {
        assert!(is_token68("eyJ.abc_-~+/=="));
        assert!(!is_token68("==="));
        assert!(!is_token68("a=b"));
        assert!(!is_token68("a\"b"));
    }

    #[test]
    fn scopes_come_from_scope_and_scp() {
        let claims = object(json!({"scope": "a  b", "scp": ["c", "a", 5]}));
        assert_eq!(token_scopes(&claims, true), vec!["a", "b", "c"]);
        assert_eq!(token_scopes(&claims, false), vec!["a", "b"]);
        let claims = object(json!({"scp": "x y"}));
        assert_eq!(token_scopes(&claims, true), vec!["x", "y"]);
        assert!(token_scopes(&claims, false).is_empty());
        assert!(token_scopes(&object(json!({"scope": 3})), true).is_empty());
    }

    #[test]
    fn audience_matching() {
        const AUD: &str = "http://127.0.0.1:4000/mcp";
        let strict = AudienceRules {
            allow_array: true,
            allow_missing: false,
            origin_only: false,
        };
        let check = |aud: Value, rules| check_audience(Some(&aud), AUD, rules);
        assert!(check(json!(AUD), strict).is_ok());
        assert!(check(json!(["x", AUD]), strict).is_ok());
        assert!(check(json!(["x"]), strict).is_err());
        assert!(check(json!("http://127.0.0.1:4000/mcp/"), strict).is_err());
        assert!(check(json!("http://127.0.0.1:4000"), strict).is_err());
        assert!(check(json!(7), strict).is_err());
        assert!(check_audience(None, AUD, strict).is_err());

        let no_array = AudienceRules {
            allow_array: false,
            ..strict
        };
        assert!(check(json!([AUD]), no_array).is_err());
        assert!(check(json!(AUD), no_array).is_ok());

        let missing_ok = AudienceRules {
            allow_missing: true,
            ..strict
        };
        assert!(check_audience(None, AUD, missing_ok).is_ok());
        assert!(check(json!("https://other.example/mcp"), missing_ok).is_err());

        let origin = AudienceRules {
            origin_only: true,
            ..strict
        };
        assert!(check(json!("http://127.0.0.1:4000"), origin).is_ok());
        assert!(check(json!("http://127.0.0.1:4000/other"), origin).is_ok());
        assert!(check(json!("http://127.0.0.1:4001/mcp"), origin).is_err());
        assert!(check(json!("https://127.0.0.1:4000/mcp"), origin).is_err());
        assert!(check(json!("not a url"), origin).is_err());
    }

    #[test]
    fn query_tokens_are_read_only_from_access_token() {
        let uri: Uri = "/mcp?x=1&access_token=abc%2Bd".parse().expect("uri");
        assert_eq!(query_token(&uri), Some("abc+d".into()));
        let uri: Uri = "/mcp?access_token=".parse().expect("uri");
        assert_eq!(query_token(&uri), None);
    }

    #[test]
    fn numeric_claims() {
        let claims = object(json!({"exp": 10, "nbf": "soon", "iat": 1.5}));
        assert_eq!(numeric_claim(&claims, "exp"), Ok(Some(10.0)));
        assert_eq!(numeric_claim(&claims, "iat"), Ok(Some(1.5)));
        assert!(numeric_claim(&claims, "nbf").is_err());
        assert_eq!(numeric_claim(&claims, "missing"), Ok(None));
    }
}
