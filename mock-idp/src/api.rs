//! The JSON vocabulary of the control API (`docs/contracts.md` §2).
//!
//! Every type here serialises to exactly the JSON the contract shows, so the HTTP control API and
//! the Rust API ([`Idp`](crate::idp::Idp)) exchange the same values.
//! Request types reject unknown fields: a typo in a scenario is an error, not a silently ignored knob.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::names::closed_names;

/// A JSON object, as used for claims, JOSE headers, JWKs and introspection answers.
pub type JsonObject = Map<String, Value>;

closed_names! {
    /// How a minted token is encoded.
    #[derive(Default)]
    pub enum TokenFormat("token format") {
        /// A JWS compact serialisation (RFC 7515), the default.
        #[default]
        Jwt = "jwt",
        /// A random reference token, meaningful only through introspection.
        Opaque = "opaque",
    }
}

/// The `aud` of a minted token: one string or an array of strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// A single audience, rendered as a JSON string.
    One(String),
    /// Several audiences, rendered as a JSON array.
    Many(Vec<String>),
}

impl Audience {
    pub(crate) fn to_value(&self) -> Value {
        match self {
            Audience::One(one) => Value::String(one.clone()),
            Audience::Many(many) => Value::from(many.clone()),
        }
    }
}

/// The body of `POST /_control/mint`; every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MintRequest {
    /// `jwt` (default) or `opaque`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<TokenFormat>,
    /// Defaults to the IdP's default audience; the `aud` claim is omitted when neither is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<Audience>,
    /// A space-separated scope string; no `scope` claim when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Defaults to `conformance-user`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Defaults to 300; may be negative.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime_secs: Option<i64>,
    /// Merged into the claims last; a `null` value removes the claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<JsonObject>,
    /// Merged into the JOSE header last (JWT only); a `null` value removes the parameter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<JsonObject>,
    /// A deliberate flaw, applied after the defaults and before the merges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defect: Option<Defect>,
    /// Sign with this managed key instead of the active one (JWT only). Announced and retired keys
    /// are accepted too, so a test can mint a token signed by a key no longer published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
}

closed_names! {
    /// A deliberate flaw in a minted token. Each is applied after the defaults.
    pub enum Defect("defect") {
        /// `exp` = now − 600, `iat` = now − 900.
        Expired = "expired",
        /// `nbf` = now + 3600.
        NotYetValid = "not-yet-valid",
        /// No `exp` claim.
        MissingExp = "missing-exp",
        /// `aud` = `https://other.example/mcp`.
        WrongAudience = "wrong-audience",
        /// No `aud` claim.
        MissingAudience = "missing-audience",
        /// `iss` = `https://other-issuer.example`.
        WrongIssuer = "wrong-issuer",
        /// One byte of the signature flipped.
        BadSignature = "bad-signature",
        /// The payload changed after signing (`sub` = `attacker`).
        TamperedPayload = "tampered-payload",
        /// Signed by a key that is not in the JWKS, with a fresh kid `untrusted-key-N`.
        UntrustedKey = "untrusted-key",
        /// Signed by a key that is not in the JWKS, with the active key's kid.
        UntrustedKeyKnownKid = "untrusted-key-known-kid",
        /// Signed by the active key, with a fresh kid `unknown-kid-N`.
        UnknownKid = "unknown-kid",
        /// `alg` = `none` with an empty signature (`h.p.`).
        AlgNone = "alg-none",
        /// `alg` = `none` with only two segments (`h.p`).
        AlgNoneUnsigned = "alg-none-unsigned",
        /// HS256 keyed with the RSA public key as SPKI PEM text.
        Hs256PublicKeyPem = "hs256-public-key-pem",
        /// HS256 keyed with the RSA public JWK as compact JSON (`kty`, `n`, `e`).
        Hs256PublicKeyJwk = "hs256-public-key-jwk",
        /// `typ` = `JWT` instead of `at+jwt`.
        WrongTyp = "wrong-typ",
        /// No `scope` claim.
        MissingScope = "missing-scope",
        /// The scope moved to `scp` as an array.
        ScopeAsScpArray = "scope-as-scp-array",
        /// The scope moved to `scp` as a space-separated string.
        ScopeAsScpString = "scope-as-scp-string",
        /// Header `crit` names an unknown extension, which is also present.
        CritUnknown = "crit-unknown",
        /// Header `jku` points at the IdP's probe endpoint.
        JkuHeader = "jku-header",
        /// Header `x5u` points at the IdP's probe endpoint.
        X5uHeader = "x5u-header",
        /// `kid` = `../../../../dev/null`.
        KidPathTraversal = "kid-path-traversal",
    }
}

impl Defect {
    /// Whether a verifier that trusts only the IdP's JWKS can never accept the token.
    /// Introspection answers `{"active":false}` for such tokens.
    pub fn breaks_signature(self) -> bool {
        matches!(
            self,
            Defect::BadSignature
                | Defect::TamperedPayload
                | Defect::UntrustedKey
                | Defect::UntrustedKeyKnownKid
                | Defect::UnknownKid
                | Defect::AlgNone
                | Defect::AlgNoneUnsigned
                | Defect::Hs256PublicKeyPem
                | Defect::Hs256PublicKeyJwk
        )
    }

    /// Whether the defect changes only the claims, and so also applies to opaque tokens.
    pub fn is_claims_only(self) -> bool {
        matches!(
            self,
            Defect::Expired
                | Defect::NotYetValid
                | Defect::MissingExp
                | Defect::WrongAudience
                | Defect::MissingAudience
                | Defect::WrongIssuer
                | Defect::MissingScope
                | Defect::ScopeAsScpArray
                | Defect::ScopeAsScpString
        )
    }
}

/// The answer of `POST /_control/mint`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MintedToken {
    /// The token as a client would send it.
    pub token: String,
    /// The JOSE header as encoded in the token; `null` for opaque tokens.
    pub header: Option<JsonObject>,
    /// The claims as encoded in the token (for opaque tokens: as introspection knows them).
    pub claims: JsonObject,
    /// The `kid` the header names (not necessarily the key that signed); `null` when none.
    pub kid: Option<String>,
    /// The token's `jti`.
    pub jti: String,
}

closed_names! {
    /// Lifecycle state of a managed signing key.
    pub enum KeyState("key state") {
        /// Published in the JWKS, not used for signing.
        Announced = "announced",
        /// Published and signing; exactly one key is active.
        Active = "active",
        /// Removed from the JWKS.
        Retired = "retired",
    }
}

/// One entry of `GET /_control/keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyInfo {
    /// `mock-key-N`, in creation order.
    pub kid: String,
    /// The key's state.
    pub state: KeyState,
}

/// `{"kid": ...}`: the body of activate/retire, and the answer of announce/activate/retire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRef {
    /// The key concerned.
    pub kid: String,
}

/// The answer of `POST /_control/keys/rotate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rotation {
    /// The new active key.
    pub kid: String,
    /// The previously active key, now retired.
    pub retired: String,
}

/// The body of `POST /_control/keys/extra`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtraJwk {
    /// Appended to the published JWKS exactly as given.
    pub jwk: JsonObject,
}

/// The body of `POST /_control/introspection/override`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntrospectionOverride {
    /// The token whose introspection is replaced.
    pub token: String,
    /// The whole introspection answer for that token.
    pub response: JsonObject,
}

/// The body of `POST /_control/documents`: a document served at `/documents/{name}`, such as a
/// Client ID Metadata Document the authorization server under test fetches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostedDocument {
    /// The last path segment: letters, digits, `-`, `_`, `.`.
    pub name: String,
    /// The body, as given.
    #[serde(default)]
    pub body: String,
    /// Default `application/json`.
    #[serde(default)]
    pub content_type: Option<String>,
    /// Default 200.
    #[serde(default)]
    pub status: Option<u16>,
    /// A `Location` header (with a 3xx status, a redirect).
    #[serde(default)]
    pub location: Option<String>,
    /// A `Cache-Control` header.
    #[serde(default)]
    pub cache_control: Option<String>,
}

/// The body of `POST /_control/revoke/grant`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeGrantRequest {
    /// An authorization code this issuer issued: every token its redemption and its refresh
    /// family produced is revoked.
    pub code: String,
}

/// The body of `POST /_control/revoke`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    /// The token to revoke.
    pub token: String,
}

closed_names! {
    /// A protocol endpoint that can be told to misbehave.
    pub enum FaultEndpoint("fault endpoint") {
        /// `GET /jwks`.
        Jwks = "jwks",
        /// `POST /introspect`.
        Introspect = "introspect",
        /// `POST /token`.
        Token = "token",
        /// Both discovery documents.
        Metadata = "metadata",
        /// `/authorize` and its consent form.
        Authorize = "authorize",
        /// `/register` and `/register/{id}`.
        Register = "register",
        /// `/userinfo`.
        Userinfo = "userinfo",
        /// `POST /revoke`.
        Revoke = "revoke",
    }
}

/// How a faulty endpoint misbehaves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Fault {
    /// Answer this status (200–599) with `{"error":"server_error"}`.
    Status {
        /// The HTTP status code.
        status: u16,
    },
    /// Never answer (the request sleeps up to 300 s, then gets a 503).
    Hang,
    /// Answer 200 `application/json` with a body that is not JSON.
    Garbage,
    /// Answer normally after a delay.
    Delay {
        /// The delay in milliseconds (at most 300 000).
        ms: u64,
    },
    /// Answer any OAuth error: `{"error": error, "error_description"?: description}`.
    OauthError {
        /// The error code, e.g. `invalid_grant`, `temporarily_unavailable`.
        error: String,
        /// The HTTP status (default 400).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<u16>,
        /// The `error_description`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
    },
    /// The real answer, cut off halfway through its body.
    Truncated,
    /// The real JSON answer re-encoded as `application/x-www-form-urlencoded` (as GitHub answers
    /// token requests that do not ask for JSON).
    FormEncoded,
    /// A 200 `text/html` page where JSON is due (a login wall or a proxy's error page).
    Html,
}

/// The body of `POST /_control/faults`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// The endpoint that misbehaves.
    pub endpoint: FaultEndpoint,
    /// How it misbehaves.
    pub fault: Fault,
    /// How many calls misbehave; `null` (or absent) means every call until cleared.
    #[serde(default)]
    pub times: Option<u32>,
    /// Only requests from this client (its `client_id` in the form, the query or Basic
    /// credentials); a rule for a client wins over the endpoint-wide rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

closed_names! {
    /// Which protocol endpoint a recorded request reached.
    pub enum EndpointKind("endpoint") {
        /// A discovery document.
        Metadata = "metadata",
        /// The JWKS.
        Jwks = "jwks",
        /// The token endpoint.
        Token = "token",
        /// The introspection endpoint.
        Introspect = "introspect",
        /// The revocation endpoint.
        Revoke = "revoke",
        /// The authorization endpoint and its consent form.
        Authorize = "authorize",
        /// Dynamic client registration and management.
        Register = "register",
        /// The userinfo endpoint.
        Userinfo = "userinfo",
        /// `/_probe/*` (URLs planted in `jku`/`x5u` headers).
        Probe = "probe",
        /// `/healthz`.
        Health = "health",
        /// `/downstream`: a stand-in for an API an MCP server calls on behalf of its users.
        Downstream = "downstream",
        /// `/documents/{name}`: documents hosted through the control API.
        Document = "document",
        /// Any other path.
        Other = "other",
    }
}

/// One entry of `GET /_control/requests`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// Increases by one per request, starting at 1; never reused, even after a clear.
    pub seq: u64,
    /// Wall-clock arrival time in Unix milliseconds (not the virtual clock).
    pub at_ms: u64,
    /// The endpoint reached.
    pub endpoint: EndpointKind,
    /// The HTTP method.
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    /// Header names lowercased; repeated headers joined with `", "`.
    pub headers: BTreeMap<String, String>,
    /// The body as text (lossy UTF-8), at most its first 64 KiB.
    pub body: String,
    /// The status answered; 0 while the request is still being answered (e.g. a hang fault).
    pub status: u16,
    /// Why the request was refused, when it was (absent otherwise, and for injected faults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<Refusal>,
}

closed_names! {
    /// Why the IdP refused a protocol request: the stable field of its log line and of
    /// [`Refusal`], one per rule a client can break.
    pub enum RefusalReason("refusal reason") {
        /// A malformed request: a missing or repeated parameter, an unknown path or method, a
        /// body too large or too slow, an unsupported response type.
        Request = "request",
        /// The authorization endpoint does not know the client, or it has no usable redirect URI.
        Client = "client",
        /// The redirect URI is not registered for the client (under its policy), or the token
        /// request does not repeat the one the authorization request sent.
        RedirectUri = "redirect_uri",
        /// PKCE: no `code_challenge`, a method other than S256, a malformed challenge, or a
        /// missing or wrong `code_verifier`.
        Pkce = "pkce",
        /// Client authentication failed: unknown client, wrong secret, a method the client may
        /// not use, or no credentials.
        ClientAuth = "client_auth",
        /// RFC 8707: a `resource` that is not an absolute URI, not served, or not granted.
        Resource = "resource",
        /// A scope the client may not have, or one the grant did not include.
        Scope = "scope",
        /// The grant type is unsupported or not allowed for the client, or the refresh token is
        /// unknown, expired, revoked, replayed or another client's.
        Grant = "grant",
        /// The authorization code is unknown, expired, replayed or another client's.
        Code = "code",
        /// The user denied the request, or the consent form's CSRF check failed or it expired.
        Consent = "consent",
        /// Client registration was refused: dynamic registration (RFC 7591/7592) or a Client ID
        /// Metadata Document that could not be used.
        Registration = "registration",
        /// A token the request presents is invalid (userinfo), or not the client's to revoke.
        Token = "token",
    }
}

/// Why a protocol request was refused: the rule ([`RefusalReason`]) and the OAuth error answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// The rule the request broke.
    pub reason: RefusalReason,
    /// The OAuth error code answered (`invalid_request`, `invalid_grant`, ...).
    pub error: String,
    /// The error description answered, if any (at most its first 512 bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The body of `POST /_control/clock`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClockRequest {
    /// Freeze the clock at this Unix time in seconds.
    Set(i64),
    /// Move the clock by this many seconds (a frozen clock stays frozen, a running one keeps running).
    Advance(i64),
    /// Back to the wall clock; only `true` is accepted.
    Real(bool),
}

/// The answer of `GET`/`POST /_control/clock`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockNow {
    /// The IdP's current time in Unix seconds.
    pub now: i64,
}

/// The answer of `GET /_control/info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info {
    /// The issuer, `http://127.0.0.1:PORT` (no trailing slash).
    pub issuer: String,
    /// `{issuer}/jwks`.
    pub jwks_uri: String,
    /// `{issuer}/authorize`.
    pub authorization_endpoint: String,
    /// `{issuer}/register`, in dynamic registration mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_endpoint: Option<String>,
    /// `{issuer}/userinfo`.
    pub userinfo_endpoint: String,
    /// The RFC 8414 discovery URL for this issuer (path-inserted for a named issuer).
    pub metadata_url: String,
    /// `{issuer}/token`.
    pub token_endpoint: String,
    /// `{issuer}/introspect`.
    pub introspection_endpoint: String,
    /// `{issuer}/revoke`.
    pub revocation_endpoint: String,
    /// `{issuer}/_control`.
    pub control_url: String,
    /// The client that may call the introspection endpoint.
    pub introspection_client_id: String,
    /// Its secret.
    pub introspection_client_secret: String,
    /// The client that may use `client_credentials` at the token endpoint.
    pub token_client_id: String,
    /// Its secret.
    pub token_client_secret: String,
    /// The kid that currently signs.
    pub active_kid: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defect_names_match_serde() {
        for defect in Defect::ALL {
            let wire = serde_json::to_value(defect).expect("serialise");
            assert_eq!(wire, json!(defect.name()));
            assert_eq!(defect.name().parse::<Defect>(), Ok(*defect));
        }
        assert_eq!(Defect::ALL.len(), 23);
    }

    #[test]
    fn every_defect_is_either_claims_only_or_jose() {
        let jose_not_signature = [
            Defect::WrongTyp,
            Defect::CritUnknown,
            Defect::JkuHeader,
            Defect::X5uHeader,
            Defect::KidPathTraversal,
        ];
        for defect in Defect::ALL {
            let classes = [
                defect.is_claims_only(),
                defect.breaks_signature(),
                jose_not_signature.contains(defect),
            ];
            assert_eq!(classes.iter().filter(|c| **c).count(), 1, "{defect}");
        }
    }

    #[test]
    fn fault_json_shapes() {
        let cases = [
            (
                json!({"kind": "status", "status": 500}),
                Fault::Status { status: 500 },
            ),
            (json!({"kind": "hang"}), Fault::Hang),
            (json!({"kind": "garbage"}), Fault::Garbage),
            (json!({"kind": "delay", "ms": 25}), Fault::Delay { ms: 25 }),
        ];
        for (wire, fault) in cases {
            assert_eq!(
                serde_json::from_value::<Fault>(wire.clone()).expect("parse"),
                fault
            );
            assert_eq!(serde_json::to_value(fault).expect("serialise"), wire);
        }
        let spec: FaultSpec =
            serde_json::from_value(json!({"endpoint": "jwks", "fault": {"kind": "hang"}}))
                .expect("times may be absent");
        assert_eq!(spec.times, None);
    }

    #[test]
    fn mint_request_rejects_unknown_fields_and_accepts_both_audiences() {
        assert!(serde_json::from_value::<MintRequest>(json!({"audiance": "x"})).is_err());
        let one: MintRequest = serde_json::from_value(json!({"audience": "a"})).expect("one");
        assert_eq!(one.audience, Some(Audience::One("a".into())));
        let many: MintRequest =
            serde_json::from_value(json!({"audience": ["a", "b"]})).expect("many");
        assert_eq!(
            many.audience,
            Some(Audience::Many(vec!["a".into(), "b".into()]))
        );
        assert_eq!(
            serde_json::to_value(MintRequest::default()).expect("ser"),
            json!({})
        );
    }

    #[test]
    fn clock_request_shapes() {
        let set: ClockRequest = serde_json::from_value(json!({"set": 1000})).expect("set");
        assert_eq!(set, ClockRequest::Set(1000));
        let adv: ClockRequest = serde_json::from_value(json!({"advance": -5})).expect("advance");
        assert_eq!(adv, ClockRequest::Advance(-5));
        let real: ClockRequest = serde_json::from_value(json!({"real": true})).expect("real");
        assert_eq!(real, ClockRequest::Real(true));
    }
}
