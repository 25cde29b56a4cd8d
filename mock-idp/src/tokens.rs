//! Minting access tokens: the default claims, the defects, and the JOSE encoding.
//!
//! The JWS compact serialisation is built by hand (`b64(header).b64(claims).b64(signature)`) with a
//! key parsed once, because a JWT library would re-parse the private key for every token.
//!
//! Two paths make tokens. [`TokenFactory::mint`] takes any [`MintRequest`] (the control API's: defects,
//! extra claims and header members) and keeps the header and claims as JSON maps for its answer.
//! [`TokenFactory::mint_access`] makes the plain access tokens of the token endpoint, the same
//! token `mint` makes from the equivalent request (a test holds them to it), with the claims written
//! straight into bytes and the encoded header kept with the key: it runs once per token `/token`
//! issues, where everything but the signature is overhead.

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::api::{Audience, Defect, JsonObject, MintRequest, MintedToken, TokenFormat};
use crate::json_text;
use crate::keys::{KeyError, SigningKey, hex};

/// `sub` when the request names none.
pub(crate) const DEFAULT_SUBJECT: &str = "conformance-user";
/// Token lifetime when the request names none.
pub(crate) const DEFAULT_LIFETIME_SECS: i64 = 300;
/// `aud` of the `wrong-audience` defect.
pub(crate) const OTHER_AUDIENCE: &str = "https://other.example/mcp";
/// `iss` of the `wrong-issuer` defect.
pub(crate) const OTHER_ISSUER: &str = "https://other-issuer.example";
/// The extension the `crit-unknown` defect marks critical.
pub(crate) const UNKNOWN_CRIT: &str = "urn:example:unknown";
/// `kid` of the `kid-path-traversal` defect.
pub(crate) const TRAVERSAL_KID: &str = "../../../../dev/null";

/// Why a token could not be minted.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MintError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// The keys a mint may need.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Signers<'a> {
    /// Signs the token: the active key, or the one the request names.
    pub(crate) signer: &'a SigningKey,
    /// The active key, whose kid `untrusted-key-known-kid` borrows.
    pub(crate) active: &'a SigningKey,
    /// The never-published key; required only by the `untrusted-key*` defects.
    pub(crate) untrusted: Option<&'a SigningKey>,
}

/// A minted token and what introspection should know about it.
#[derive(Debug, Clone)]
pub(crate) struct Minted {
    pub(crate) token: MintedToken,
    /// False when a verifier trusting the published JWKS must reject it whatever its claims.
    pub(crate) signature_ok: bool,
}

/// What an access token of the token endpoint says: the default claims with these values, no
/// defect, no other header member.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct AccessClaims<'a> {
    /// `sub`; [`DEFAULT_SUBJECT`] when `None`.
    pub(crate) subject: Option<&'a str>,
    /// `aud`; the factory's default audience when `None`.
    pub(crate) audience: Option<&'a Audience>,
    pub(crate) scope: Option<&'a str>,
    /// `client_id`; the factory's own when `None`.
    pub(crate) client_id: Option<&'a str>,
    /// [`DEFAULT_LIFETIME_SECS`] when `None`.
    pub(crate) lifetime_secs: Option<i64>,
}

impl AccessClaims<'_> {
    /// The control API's request for the same token.
    #[cfg(test)]
    pub(crate) fn to_request(self) -> MintRequest {
        MintRequest {
            audience: self.audience.cloned(),
            scope: self.scope.map(str::to_owned),
            subject: self.subject.map(str::to_owned),
            lifetime_secs: self.lifetime_secs,
            claims: self.client_id.map(|id| {
                let mut claims = JsonObject::new();
                claims.insert("client_id".into(), json!(id));
                claims
            }),
            ..MintRequest::default()
        }
    }
}

/// An access token the token endpoint issues, with the times its answer and the grant's records
/// need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Access {
    pub(crate) token: String,
    pub(crate) iat: i64,
    pub(crate) exp: i64,
}

impl Access {
    /// `expires_in` of the token answer.
    pub(crate) fn lifetime(&self) -> i64 {
        self.exp - self.iat
    }
}

/// Mints tokens for one issuer.
#[derive(Debug, Clone)]
pub(crate) struct TokenFactory {
    issuer: String,
    default_audience: Option<String>,
    client_id: String,
}

enum Signing<'a> {
    Rs256(&'a SigningKey),
    Hs256(&'a [u8]),
    /// `alg: none`; `true` keeps the trailing dot (`h.p.`).
    None(bool),
}

impl TokenFactory {
    /// The audience of tokens whose request names none.
    pub(crate) fn default_audience(&self) -> Option<&str> {
        self.default_audience.as_deref()
    }

    pub(crate) fn new(issuer: String, default_audience: Option<String>, client_id: String) -> Self {
        TokenFactory {
            issuer,
            default_audience,
            client_id,
        }
    }

    /// Whether minting `request` needs the untrusted key.
    pub(crate) fn needs_untrusted_key(request: &MintRequest) -> bool {
        matches!(
            request.defect,
            Some(Defect::UntrustedKey | Defect::UntrustedKeyKnownKid)
        )
    }

    /// Mints a token. `now` is the IdP clock; `serial` numbers fresh kids (`unknown-kid-N`).
    pub(crate) fn mint(
        &self,
        request: &MintRequest,
        now: i64,
        serial: u64,
        signers: Signers<'_>,
    ) -> Result<Minted, MintError> {
        let format = request.format.unwrap_or_default();
        if format == TokenFormat::Opaque {
            if let Some(defect) = request.defect.filter(|d| !d.is_claims_only()) {
                return Err(MintError::Invalid(format!(
                    "defect {defect} applies only to JWTs, not to opaque tokens"
                )));
            }
            if request.header.is_some() || request.kid.is_some() {
                return Err(MintError::Invalid(
                    "header and kid apply only to JWTs, not to opaque tokens".to_owned(),
                ));
            }
        }

        let jti = random_hex(16)?;
        let mut claims = self.default_claims(request, now, &jti);
        let mut header = access_header(signers.signer);
        let mut signing = Signing::Rs256(signers.signer);

        match request.defect {
            None | Some(Defect::BadSignature | Defect::TamperedPayload) => {}
            Some(Defect::Expired) => {
                claims.insert("exp".into(), json!(now.saturating_sub(600)));
                claims.insert("iat".into(), json!(now.saturating_sub(900)));
            }
            Some(Defect::NotYetValid) => {
                claims.insert("nbf".into(), json!(now.saturating_add(3600)));
            }
            Some(Defect::MissingExp) => {
                claims.remove("exp");
            }
            Some(Defect::WrongAudience) => {
                claims.insert("aud".into(), json!(OTHER_AUDIENCE));
            }
            Some(Defect::MissingAudience) => {
                claims.remove("aud");
            }
            Some(Defect::WrongIssuer) => {
                claims.insert("iss".into(), json!(OTHER_ISSUER));
            }
            Some(Defect::MissingScope) => {
                claims.remove("scope");
            }
            Some(Defect::ScopeAsScpArray) => {
                if let Some(scope) = claims.remove("scope") {
                    let parts: Vec<&str> = scope
                        .as_str()
                        .unwrap_or_default()
                        .split_whitespace()
                        .collect();
                    claims.insert("scp".into(), json!(parts));
                }
            }
            Some(Defect::ScopeAsScpString) => {
                if let Some(scope) = claims.remove("scope") {
                    claims.insert("scp".into(), scope);
                }
            }
            Some(Defect::UntrustedKey) => {
                header.insert("kid".into(), json!(format!("untrusted-key-{serial}")));
                signing = Signing::Rs256(untrusted(signers)?);
            }
            Some(Defect::UntrustedKeyKnownKid) => {
                header.insert("kid".into(), json!(signers.active.kid()));
                signing = Signing::Rs256(untrusted(signers)?);
            }
            Some(Defect::UnknownKid) => {
                header.insert("kid".into(), json!(format!("unknown-kid-{serial}")));
            }
            Some(Defect::AlgNone) => {
                header.insert("alg".into(), json!("none"));
                signing = Signing::None(true);
            }
            Some(Defect::AlgNoneUnsigned) => {
                header.insert("alg".into(), json!("none"));
                signing = Signing::None(false);
            }
            Some(Defect::Hs256PublicKeyPem) => {
                header.insert("alg".into(), json!("HS256"));
                signing = Signing::Hs256(signers.signer.spki_pem().as_bytes());
            }
            Some(Defect::Hs256PublicKeyJwk) => {
                header.insert("alg".into(), json!("HS256"));
                signing = Signing::Hs256(signers.signer.jwk_compact().as_bytes());
            }
            Some(Defect::WrongTyp) => {
                header.insert("typ".into(), json!("JWT"));
            }
            Some(Defect::CritUnknown) => {
                header.insert("crit".into(), json!([UNKNOWN_CRIT]));
                header.insert(UNKNOWN_CRIT.into(), json!(true));
            }
            Some(Defect::JkuHeader) => {
                header.insert("jku".into(), json!(format!("{}/_probe/jku", self.issuer)));
            }
            Some(Defect::X5uHeader) => {
                header.insert("x5u".into(), json!(format!("{}/_probe/x5u", self.issuer)));
            }
            Some(Defect::KidPathTraversal) => {
                header.insert("kid".into(), json!(TRAVERSAL_KID));
            }
        }

        if let Some(extra) = &request.claims {
            merge(&mut claims, extra);
        }
        let jti = claims
            .get("jti")
            .and_then(Value::as_str)
            .map_or(jti, str::to_owned);
        let signature_ok = !request.defect.is_some_and(Defect::breaks_signature);

        if format == TokenFormat::Opaque {
            let token = format!("mock-opaque-{}", random_hex(32)?);
            return Ok(Minted {
                token: MintedToken {
                    token,
                    header: None,
                    claims,
                    kid: None,
                    jti,
                },
                signature_ok,
            });
        }

        if let Some(extra) = &request.header {
            merge(&mut header, extra);
        }
        let header_b64 = b64_json(&header);
        let mut payload_b64 = b64_json(&claims);
        let signing_input = format!("{header_b64}.{payload_b64}");
        let token = match signing {
            Signing::Rs256(key) => {
                let mut signature = key.sign(signing_input.as_bytes())?;
                match request.defect {
                    Some(Defect::BadSignature) => {
                        let middle = signature.len() / 2;
                        signature[middle] ^= 0xff;
                    }
                    Some(Defect::TamperedPayload) => {
                        claims.insert("sub".into(), json!("attacker"));
                        payload_b64 = b64_json(&claims);
                    }
                    _ => {}
                }
                format!(
                    "{header_b64}.{payload_b64}.{}",
                    URL_SAFE_NO_PAD.encode(signature)
                )
            }
            Signing::Hs256(secret) => {
                let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
                let tag = hmac::sign(&key, signing_input.as_bytes());
                format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
            }
            Signing::None(true) => format!("{signing_input}."),
            Signing::None(false) => signing_input,
        };
        let kid = header.get("kid").and_then(Value::as_str).map(str::to_owned);
        Ok(Minted {
            token: MintedToken {
                token,
                header: Some(header),
                claims,
                kid,
                jti,
            },
            signature_ok,
        })
    }

    /// The token endpoint's access token: what [`mint`](Self::mint) makes from the equivalent
    /// request, written without maps. `now` is the IdP clock.
    pub(crate) fn mint_access(
        &self,
        claims: &AccessClaims<'_>,
        now: i64,
        signer: &SigningKey,
    ) -> Result<Access, MintError> {
        let jti = random_hex(16)?;
        let exp = now.saturating_add(claims.lifetime_secs.unwrap_or(DEFAULT_LIFETIME_SECS));
        let payload = self.access_payload(claims, now, exp, &jti);
        let header = access_header_b64(signer);
        let encoded = |bytes: usize| (bytes * 4).div_ceil(3);
        let mut token = String::with_capacity(
            header.len() + 1 + encoded(payload.len()) + 1 + encoded(signer.signature_len()),
        );
        token.push_str(header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
        let signature = signer.sign(token.as_bytes())?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        Ok(Access {
            token,
            iat: now,
            exp,
        })
    }

    /// The claims of [`mint_access`](Self::mint_access) as JSON: the members of
    /// [`default_claims`](Self::default_claims), in the order serde_json writes a map (sorted), so
    /// that both paths make the same bytes.
    fn access_payload(&self, claims: &AccessClaims<'_>, now: i64, exp: i64, jti: &str) -> Vec<u8> {
        let client_id = claims.client_id.unwrap_or(&self.client_id);
        let subject = claims.subject.unwrap_or(DEFAULT_SUBJECT);
        let mut out = Vec::with_capacity(
            128 + self.issuer.len()
                + client_id.len()
                + subject.len()
                + claims.scope.map_or(0, str::len)
                + claims.audience.map_or_else(
                    || self.default_audience.as_ref().map_or(0, String::len),
                    |audience| match audience {
                        Audience::One(one) => one.len(),
                        Audience::Many(many) => many.iter().map(|a| a.len() + 3).sum(),
                    },
                ),
        );
        out.push(b'{');
        match (claims.audience, &self.default_audience) {
            (Some(Audience::One(one)), _) | (None, Some(one)) => {
                json_text::push_name(&mut out, "aud");
                json_text::push_str(&mut out, one);
                out.push(b',');
            }
            (Some(Audience::Many(many)), _) => {
                json_text::push_name(&mut out, "aud");
                json_text::push_str_array(&mut out, many.iter().map(String::as_str));
                out.push(b',');
            }
            (None, None) => {}
        }
        json_text::push_name(&mut out, "client_id");
        json_text::push_str(&mut out, client_id);
        out.push(b',');
        json_text::push_name(&mut out, "exp");
        json_text::push_i64(&mut out, exp);
        out.push(b',');
        json_text::push_name(&mut out, "iat");
        json_text::push_i64(&mut out, now);
        out.push(b',');
        json_text::push_name(&mut out, "iss");
        json_text::push_str(&mut out, &self.issuer);
        out.push(b',');
        json_text::push_name(&mut out, "jti");
        json_text::push_str(&mut out, jti);
        out.push(b',');
        if let Some(scope) = claims.scope {
            json_text::push_name(&mut out, "scope");
            json_text::push_str(&mut out, scope);
            out.push(b',');
        }
        json_text::push_name(&mut out, "sub");
        json_text::push_str(&mut out, subject);
        out.push(b'}');
        out
    }

    fn default_claims(&self, request: &MintRequest, now: i64, jti: &str) -> JsonObject {
        let mut claims = JsonObject::new();
        claims.insert("iss".into(), json!(self.issuer));
        let subject = request.subject.as_deref().unwrap_or(DEFAULT_SUBJECT);
        claims.insert("sub".into(), json!(subject));
        let audience = match &request.audience {
            Some(audience) => Some(audience.to_value()),
            None => self.default_audience.as_ref().map(|a| json!(a)),
        };
        if let Some(audience) = audience {
            claims.insert("aud".into(), audience);
        }
        let lifetime = request.lifetime_secs.unwrap_or(DEFAULT_LIFETIME_SECS);
        claims.insert("exp".into(), json!(now.saturating_add(lifetime)));
        claims.insert("iat".into(), json!(now));
        claims.insert("jti".into(), json!(jti));
        claims.insert("client_id".into(), json!(self.client_id));
        if let Some(scope) = &request.scope {
            claims.insert("scope".into(), json!(scope));
        }
        claims
    }
}

/// The JOSE header of an access token signed by `key`, before any defect or request changes it.
fn access_header(key: &SigningKey) -> JsonObject {
    json_object(json!({
        "alg": key.alg().name(),
        "typ": "at+jwt",
        "kid": key.kid(),
    }))
}

/// [`access_header`] encoded, made once per key.
fn access_header_b64(key: &SigningKey) -> &str {
    key.access_header_b64
        .get_or_init(|| b64_json(&access_header(key)))
}

fn untrusted<'a>(signers: Signers<'a>) -> Result<&'a SigningKey, MintError> {
    signers
        .untrusted
        .ok_or_else(|| MintError::Invalid("the untrusted key was not provided".to_owned()))
}

/// Merges `extra` into `target`; a `null` value removes the entry.
fn merge(target: &mut JsonObject, extra: &JsonObject) {
    for (name, value) in extra {
        if value.is_null() {
            target.remove(name);
        } else {
            target.insert(name.clone(), value.clone());
        }
    }
}

fn json_object(value: Value) -> JsonObject {
    match value {
        Value::Object(map) => map,
        _ => JsonObject::new(),
    }
}

fn b64_json(object: &JsonObject) -> String {
    // Serialising a map of JSON values cannot fail.
    let bytes = serde_json::to_vec(object).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `2 * bytes` hex digits from the system RNG.
pub(crate) fn random_hex(bytes: usize) -> Result<String, KeyError> {
    let mut buf = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut buf).map_err(|_| KeyError::Crypto("random generator failed"))?;
    Ok(hex(&buf))
}

#[cfg(test)]
mod tests {
    use std::sync::LazyLock;

    use base64::engine::general_purpose::STANDARD;

    use super::*;
    use crate::api::Audience;
    use crate::keys::tests::test_key;

    const NOW: i64 = 1_800_000_000;
    const ISSUER: &str = "http://127.0.0.1:9400";

    struct Fixture {
        active: SigningKey,
        other: SigningKey,
        untrusted: SigningKey,
    }

    static KEYS: LazyLock<Fixture> = LazyLock::new(|| Fixture {
        active: test_key("mock-key-1", 0),
        other: test_key("mock-key-2", 1),
        untrusted: test_key("untrusted", 2),
    });

    fn factory() -> TokenFactory {
        TokenFactory::new(
            ISSUER.to_owned(),
            Some("http://127.0.0.1:8000/mcp".to_owned()),
            "conformance-client".to_owned(),
        )
    }

    fn signers() -> Signers<'static> {
        Signers {
            signer: &KEYS.active,
            active: &KEYS.active,
            untrusted: Some(&KEYS.untrusted),
        }
    }

    fn mint(request: MintRequest) -> Minted {
        factory().mint(&request, NOW, 7, signers()).expect("mint")
    }

    fn with_defect(defect: Defect) -> Minted {
        mint(MintRequest {
            scope: Some("read write".into()),
            defect: Some(defect),
            ..MintRequest::default()
        })
    }

    /// Splits a token into decoded header, decoded payload and signature bytes.
    fn parts(token: &str) -> (Value, Value, Option<Vec<u8>>, String) {
        let segments: Vec<&str> = token.split('.').collect();
        let header = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segments[0]).expect("h"))
            .expect("header JSON");
        let payload = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segments[1]).expect("p"))
            .expect("payload JSON");
        let signature = segments
            .get(2)
            .map(|s| URL_SAFE_NO_PAD.decode(s).expect("signature base64url"));
        (
            header,
            payload,
            signature,
            format!("{}.{}", segments[0], segments[1]),
        )
    }

    #[test]
    fn default_jwt() {
        let minted = mint(MintRequest::default());
        let (header, payload, signature, input) = parts(&minted.token.token);
        assert_eq!(
            header,
            json!({"alg": "RS256", "typ": "at+jwt", "kid": "mock-key-1"})
        );
        assert_eq!(payload["iss"], ISSUER);
        assert_eq!(payload["sub"], DEFAULT_SUBJECT);
        assert_eq!(payload["aud"], "http://127.0.0.1:8000/mcp");
        assert_eq!(payload["iat"], NOW);
        assert_eq!(payload["exp"], NOW + 300);
        assert_eq!(payload["client_id"], "conformance-client");
        assert!(payload.get("scope").is_none());
        let jti = payload["jti"].as_str().expect("jti");
        assert_eq!(jti.len(), 32);
        assert_eq!(minted.token.jti, jti);
        assert_eq!(minted.token.kid.as_deref(), Some("mock-key-1"));
        assert_eq!(Value::Object(minted.token.claims.clone()), payload);
        assert_eq!(minted.token.header.clone().map(Value::Object), Some(header));
        assert!(
            KEYS.active
                .verify(input.as_bytes(), &signature.expect("signed"))
        );
        assert!(minted.signature_ok);
    }

    #[test]
    fn request_fields_and_merges() {
        let minted = mint(MintRequest {
            audience: Some(Audience::Many(vec!["a".into(), "b".into()])),
            scope: Some("mcp:tools".into()),
            subject: Some("alice".into()),
            lifetime_secs: Some(60),
            claims: Some(json_object(json!({"extra": 1, "client_id": null}))),
            header: Some(json_object(json!({"typ": null, "x": "y"}))),
            kid: None,
            ..MintRequest::default()
        });
        let (header, payload, _, _) = parts(&minted.token.token);
        assert_eq!(payload["aud"], json!(["a", "b"]));
        assert_eq!(payload["scope"], "mcp:tools");
        assert_eq!(payload["sub"], "alice");
        assert_eq!(payload["exp"], NOW + 60);
        assert_eq!(payload["extra"], 1);
        assert!(payload.get("client_id").is_none());
        assert!(header.get("typ").is_none());
        assert_eq!(header["x"], "y");
    }

    #[test]
    fn other_key_signs_when_asked() {
        let request = MintRequest::default();
        let minted = factory()
            .mint(
                &request,
                NOW,
                1,
                Signers {
                    signer: &KEYS.other,
                    ..signers()
                },
            )
            .expect("mint");
        let (header, _, signature, input) = parts(&minted.token.token);
        assert_eq!(header["kid"], "mock-key-2");
        assert!(
            KEYS.other
                .verify(input.as_bytes(), &signature.expect("sig"))
        );
    }

    #[test]
    fn claim_defects() {
        let (_, p, _, _) = parts(&with_defect(Defect::Expired).token.token);
        assert_eq!(
            (p["exp"].clone(), p["iat"].clone()),
            (json!(NOW - 600), json!(NOW - 900))
        );
        let (_, p, _, _) = parts(&with_defect(Defect::NotYetValid).token.token);
        assert_eq!(p["nbf"], NOW + 3600);
        let (_, p, _, _) = parts(&with_defect(Defect::MissingExp).token.token);
        assert!(p.get("exp").is_none());
        let (_, p, _, _) = parts(&with_defect(Defect::WrongAudience).token.token);
        assert_eq!(p["aud"], OTHER_AUDIENCE);
        let (_, p, _, _) = parts(&with_defect(Defect::MissingAudience).token.token);
        assert!(p.get("aud").is_none());
        let (_, p, _, _) = parts(&with_defect(Defect::WrongIssuer).token.token);
        assert_eq!(p["iss"], OTHER_ISSUER);
        let (_, p, _, _) = parts(&with_defect(Defect::MissingScope).token.token);
        assert!(p.get("scope").is_none());
        let (_, p, _, _) = parts(&with_defect(Defect::ScopeAsScpArray).token.token);
        assert!(p.get("scope").is_none());
        assert_eq!(p["scp"], json!(["read", "write"]));
        let (_, p, _, _) = parts(&with_defect(Defect::ScopeAsScpString).token.token);
        assert!(p.get("scope").is_none());
        assert_eq!(p["scp"], "read write");
        for defect in Defect::ALL.iter().filter(|d| d.is_claims_only()) {
            let minted = with_defect(*defect);
            let (_, _, signature, input) = parts(&minted.token.token);
            assert!(
                KEYS.active
                    .verify(input.as_bytes(), &signature.expect("sig")),
                "{defect}"
            );
            assert!(minted.signature_ok);
        }
    }

    #[test]
    fn signature_defects() {
        let minted = with_defect(Defect::BadSignature);
        let (_, payload, signature, input) = parts(&minted.token.token);
        let signature = signature.expect("sig");
        assert_eq!(signature.len(), 256);
        assert!(!KEYS.active.verify(input.as_bytes(), &signature));
        let mut repaired = signature.clone();
        repaired[128] ^= 0xff;
        assert!(
            KEYS.active.verify(input.as_bytes(), &repaired),
            "exactly one byte flipped"
        );
        assert_eq!(payload["sub"], DEFAULT_SUBJECT);

        let minted = with_defect(Defect::TamperedPayload);
        let (_, payload, signature, input) = parts(&minted.token.token);
        assert_eq!(payload["sub"], "attacker");
        assert_eq!(minted.token.claims["sub"], "attacker");
        assert!(
            !KEYS
                .active
                .verify(input.as_bytes(), &signature.expect("sig"))
        );

        let minted = with_defect(Defect::UntrustedKey);
        let (header, _, signature, input) = parts(&minted.token.token);
        assert_eq!(header["kid"], "untrusted-key-7");
        assert!(
            KEYS.untrusted
                .verify(input.as_bytes(), signature.as_deref().expect("sig"))
        );
        assert!(
            !KEYS
                .active
                .verify(input.as_bytes(), &signature.expect("sig"))
        );

        let minted = with_defect(Defect::UntrustedKeyKnownKid);
        let (header, _, signature, input) = parts(&minted.token.token);
        assert_eq!(header["kid"], "mock-key-1");
        assert!(
            KEYS.untrusted
                .verify(input.as_bytes(), &signature.expect("sig"))
        );

        let minted = with_defect(Defect::UnknownKid);
        let (header, _, signature, input) = parts(&minted.token.token);
        assert_eq!(header["kid"], "unknown-kid-7");
        assert!(
            KEYS.active
                .verify(input.as_bytes(), &signature.expect("sig"))
        );

        let minted = with_defect(Defect::AlgNone);
        assert!(minted.token.token.ends_with('.'));
        assert_eq!(minted.token.token.matches('.').count(), 2);
        let (header, _, signature, _) = parts(&minted.token.token);
        assert_eq!(header["alg"], "none");
        assert_eq!(signature, Some(Vec::new()));

        let minted = with_defect(Defect::AlgNoneUnsigned);
        assert_eq!(minted.token.token.matches('.').count(), 1);
        let (header, _, signature, _) = parts(&minted.token.token);
        assert_eq!(header["alg"], "none");
        assert_eq!(signature, None);

        for defect in Defect::ALL.iter().filter(|d| d.breaks_signature()) {
            assert!(!with_defect(*defect).signature_ok, "{defect}");
        }
    }

    #[test]
    fn hs256_key_confusion() {
        for (defect, secret) in [
            (Defect::Hs256PublicKeyPem, KEYS.active.spki_pem().to_owned()),
            (
                Defect::Hs256PublicKeyJwk,
                KEYS.active.jwk_compact().to_owned(),
            ),
        ] {
            let minted = with_defect(defect);
            let (header, _, signature, input) = parts(&minted.token.token);
            assert_eq!(header["alg"], "HS256");
            assert_eq!(header["kid"], "mock-key-1");
            let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
            hmac::verify(&key, input.as_bytes(), &signature.expect("tag")).expect("HMAC verifies");
        }
        // The PEM secret is the standard SPKI PEM text.
        let pem = KEYS.active.spki_pem();
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        assert!(STANDARD.decode(body).is_ok());
    }

    #[test]
    fn header_defects() {
        let (h, _, _, _) = parts(&with_defect(Defect::WrongTyp).token.token);
        assert_eq!(h["typ"], "JWT");
        let (h, _, _, _) = parts(&with_defect(Defect::CritUnknown).token.token);
        assert_eq!(h["crit"], json!([UNKNOWN_CRIT]));
        assert_eq!(h[UNKNOWN_CRIT], true);
        let (h, _, _, _) = parts(&with_defect(Defect::JkuHeader).token.token);
        assert_eq!(h["jku"], format!("{ISSUER}/_probe/jku"));
        let (h, _, _, _) = parts(&with_defect(Defect::X5uHeader).token.token);
        assert_eq!(h["x5u"], format!("{ISSUER}/_probe/x5u"));
        let minted = with_defect(Defect::KidPathTraversal);
        let (h, _, signature, input) = parts(&minted.token.token);
        assert_eq!(h["kid"], TRAVERSAL_KID);
        assert_eq!(minted.token.kid.as_deref(), Some(TRAVERSAL_KID));
        assert!(
            KEYS.active
                .verify(input.as_bytes(), &signature.expect("sig"))
        );
    }

    #[test]
    fn opaque_tokens() {
        let minted = mint(MintRequest {
            format: Some(TokenFormat::Opaque),
            scope: Some("s".into()),
            defect: Some(Defect::Expired),
            ..MintRequest::default()
        });
        assert!(minted.token.token.starts_with("mock-opaque-"));
        assert!(!minted.token.token.contains('.'));
        assert_eq!(minted.token.header, None);
        assert_eq!(minted.token.kid, None);
        assert_eq!(minted.token.claims["exp"], NOW - 600);
        assert_eq!(minted.token.claims["scope"], "s");

        let refused = factory().mint(
            &MintRequest {
                format: Some(TokenFormat::Opaque),
                defect: Some(Defect::AlgNone),
                ..MintRequest::default()
            },
            NOW,
            1,
            signers(),
        );
        assert!(matches!(refused, Err(MintError::Invalid(_))));
    }

    #[test]
    fn access_tokens_are_the_tokens_mint_makes() {
        let audiences = [
            None,
            Some(Audience::One("https://rs.example/mcp".into())),
            Some(Audience::Many(vec!["a".into(), "b\"c".into()])),
            Some(Audience::Many(Vec::new())),
        ];
        let without_default = TokenFactory::new(ISSUER.to_owned(), None, "cc".to_owned());
        for factory in [factory(), without_default] {
            for audience in &audiences {
                for scope in [None, Some("mcp:tools"), Some("a \"quoted\"\tscope")] {
                    for (subject, client_id, lifetime_secs) in
                        [(None, None, None), (Some("alice"), Some("dcr_x"), Some(60))]
                    {
                        let claims = AccessClaims {
                            subject,
                            audience: audience.as_ref(),
                            scope,
                            client_id,
                            lifetime_secs,
                        };
                        let fast = factory
                            .mint_access(&claims, NOW, &KEYS.active)
                            .expect("mint_access");
                        let slow = factory
                            .mint(&claims.to_request(), NOW, 0, signers())
                            .expect("mint");
                        let fast_segments: Vec<&str> = fast.token.split('.').collect();
                        let slow_segments: Vec<&str> = slow.token.token.split('.').collect();
                        assert_eq!(fast_segments[0], slow_segments[0], "the same header");
                        // The same payload bytes, but for the jti (random, of the same length).
                        let (_, payload, signature, input) = parts(&fast.token);
                        let fast_jti = payload["jti"].as_str().expect("jti");
                        let slow_payload = URL_SAFE_NO_PAD.decode(slow_segments[1]).expect("b64");
                        let slow_payload = String::from_utf8(slow_payload)
                            .expect("utf-8")
                            .replace(&slow.token.jti, fast_jti);
                        let fast_payload = URL_SAFE_NO_PAD.decode(fast_segments[1]).expect("b64");
                        assert_eq!(
                            String::from_utf8(fast_payload).expect("utf-8"),
                            slow_payload,
                            "{claims:?}"
                        );
                        assert!(
                            KEYS.active
                                .verify(input.as_bytes(), &signature.expect("signed"))
                        );
                        assert_eq!(
                            (fast.iat, fast.exp, fast.lifetime()),
                            (
                                NOW,
                                payload["exp"].as_i64().expect("exp"),
                                lifetime_secs.unwrap_or(300)
                            )
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn access_tokens_are_unique() {
        let claims = AccessClaims::default();
        let a = factory()
            .mint_access(&claims, NOW, &KEYS.active)
            .expect("a");
        let b = factory()
            .mint_access(&claims, NOW, &KEYS.active)
            .expect("b");
        assert_ne!(a.token, b.token);
    }

    #[test]
    fn tokens_are_unique() {
        let a = mint(MintRequest::default());
        let b = mint(MintRequest::default());
        assert_ne!(a.token.jti, b.token.jti);
        assert_ne!(a.token.token, b.token.token);
    }

    #[test]
    fn missing_untrusted_key_is_an_error_not_a_panic() {
        let result = factory().mint(
            &MintRequest {
                defect: Some(Defect::UntrustedKey),
                ..MintRequest::default()
            },
            NOW,
            1,
            Signers {
                untrusted: None,
                ..signers()
            },
        );
        assert!(matches!(result, Err(MintError::Invalid(_))));
    }
}
