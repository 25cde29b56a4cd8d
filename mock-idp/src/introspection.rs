//! RFC 7662 introspection answers, and the memory of minted, revoked and overridden tokens.
//!
//! Tokens minted through the control API are remembered (bounded, oldest forgotten first) with
//! their claims and whether their signature can verify. Tokens issued at `/token` are not stored:
//! introspection verifies them against the IdP's own keys instead, which keeps memory flat under load.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, OnceLock};

use axum::body::Bytes;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::api::JsonObject;
use crate::keys::SigningKey;

/// How many minted tokens, overrides and revocations are remembered (each).
pub(crate) const MEMORY: usize = 8192;

/// The claims copied from a token into an active introspection answer, in answer order.
const ANSWER_CLAIMS: [&str; 9] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "nbf",
    "jti",
    "client_id",
    "scope",
];

/// What the IdP knows about a token it minted.
#[derive(Debug, Clone)]
pub(crate) struct TokenRecord {
    pub(crate) claims: JsonObject,
    /// False for tokens minted with a signature defect.
    pub(crate) signature_ok: bool,
    /// The serialised active answer, made on the first introspection: only whether the token is
    /// active depends on the time, and resource servers introspect the same token on every call.
    pub(crate) active_answer: OnceLock<Bytes>,
}

/// Records are equal when they say the same about the token, whether or not an answer was kept.
impl PartialEq for TokenRecord {
    fn eq(&self, other: &Self) -> bool {
        self.claims == other.claims && self.signature_ok == other.signature_ok
    }
}

impl TokenRecord {
    pub(crate) fn new(claims: JsonObject, signature_ok: bool) -> Self {
        TokenRecord {
            claims,
            signature_ok,
            active_answer: OnceLock::new(),
        }
    }
}

/// [`answer`] serialised.
pub(crate) fn answer_bytes(record: &TokenRecord, now: i64) -> Result<Bytes, serde_json::Error> {
    if !record.signature_ok || !time_valid(&record.claims, now) {
        return Ok(Bytes::from_static(br#"{"active":false}"#));
    }
    if let Some(kept) = record.active_answer.get() {
        return Ok(kept.clone());
    }
    let bytes = Bytes::from(serde_json::to_vec(&answer(record, now))?);
    Ok(record.active_answer.get_or_init(|| bytes).clone())
}

/// `{"active": false}`.
pub(crate) fn inactive() -> JsonObject {
    let mut answer = JsonObject::new();
    answer.insert("active".into(), json!(false));
    answer
}

/// The answer for a token with these claims at IdP time `now`: inactive when its signature cannot
/// verify, when `now` is at or past `exp`, or before `nbf`; otherwise the claims of [`ANSWER_CLAIMS`]
/// that are present, with `active: true` and `token_type: Bearer`.
pub(crate) fn answer(record: &TokenRecord, now: i64) -> JsonObject {
    if !record.signature_ok || !time_valid(&record.claims, now) {
        return inactive();
    }
    let mut answer = JsonObject::new();
    answer.insert("active".into(), json!(true));
    for name in ANSWER_CLAIMS {
        if let Some(value) = record.claims.get(name) {
            answer.insert(name.into(), value.clone());
        }
    }
    answer.insert("token_type".into(), json!("Bearer"));
    answer
}

fn time_valid(claims: &JsonObject, now: i64) -> bool {
    // A present but non-numeric time claim cannot be honoured, so the token is not valid.
    let now = now as f64;
    let exp_ok = claims
        .get("exp")
        .is_none_or(|exp| exp.as_f64().is_some_and(|exp| now < exp));
    let nbf_ok = claims
        .get("nbf")
        .is_none_or(|nbf| nbf.as_f64().is_some_and(|nbf| now >= nbf));
    exp_ok && nbf_ok
}

/// Claims of a JWT this IdP signed: the key's own `alg`, a `kid` the IdP holds (in any state), a valid
/// signature and `iss` equal to `issuer`. `None` for anything else.
pub(crate) fn verify_own_jwt(
    token: &str,
    key_for: impl Fn(&str) -> Option<Arc<SigningKey>>,
    issuer: &str,
) -> Option<JsonObject> {
    let mut segments = token.split('.');
    let (header_b64, payload_b64, signature_b64) =
        (segments.next()?, segments.next()?, segments.next()?);
    if segments.next().is_some() {
        return None;
    }
    let header: JsonObject =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header_b64).ok()?).ok()?;
    let key = key_for(header.get("kid")?.as_str()?)?;
    // The alg must be the key's own: no algorithm confusion.
    if header.get("alg").and_then(Value::as_str) != Some(key.alg().name()) {
        return None;
    }
    let signature = URL_SAFE_NO_PAD.decode(signature_b64).ok()?;
    let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
    if !key.verify(signing_input.as_bytes(), &signature) {
        return None;
    }
    let claims: JsonObject =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload_b64).ok()?).ok()?;
    (claims.get("iss").and_then(Value::as_str) == Some(issuer)).then_some(claims)
}

/// A map that forgets its oldest entries beyond a capacity.
#[derive(Debug)]
struct Bounded<V> {
    map: HashMap<Arc<str>, V>,
    order: VecDeque<Arc<str>>,
    capacity: usize,
}

impl<V> Bounded<V> {
    fn new(capacity: usize) -> Self {
        Bounded {
            map: HashMap::new(),
            order: VecDeque::new(),
            capacity,
        }
    }

    fn insert(&mut self, key: &str, value: V) {
        if let Some(slot) = self.map.get_mut(key) {
            *slot = value;
            return;
        }
        let key: Arc<str> = Arc::from(key);
        self.map.insert(Arc::clone(&key), value);
        self.order.push_back(key);
        while self.order.len() > self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.map.remove(&oldest);
            }
        }
    }

    fn get(&self, key: &str) -> Option<&V> {
        self.map.get(key)
    }

    fn clear(&mut self) {
        self.map.clear();
        self.order.clear();
    }
}

/// What the registry knows about a token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lookup {
    /// An override answers instead of the rules.
    Override(JsonObject),
    /// Revoked: inactive.
    Revoked,
    /// Minted through the control API.
    Minted(Arc<TokenRecord>),
    /// Not remembered; may still be a JWT the IdP signed at `/token`.
    Unknown,
}

/// Minted tokens, overrides and revocations.
#[derive(Debug)]
pub(crate) struct Registry {
    minted: Bounded<Arc<TokenRecord>>,
    overrides: Bounded<JsonObject>,
    revoked: Bounded<()>,
    /// JWTs this IdP signed whose signature was verified once: resource servers introspect the
    /// same token on every request, and its signature cannot change.
    verified: Bounded<Arc<TokenRecord>>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry::with_capacity(MEMORY)
    }
}

impl Registry {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Registry {
            minted: Bounded::new(capacity),
            overrides: Bounded::new(capacity),
            revoked: Bounded::new(capacity),
            verified: Bounded::new(capacity),
        }
    }

    pub(crate) fn remember(&mut self, token: &str, record: TokenRecord) {
        self.minted.insert(token, Arc::new(record));
    }

    /// Remembers a verified JWT's claims.
    pub(crate) fn remember_verified(&mut self, token: &str, record: Arc<TokenRecord>) {
        self.verified.insert(token, record);
    }

    /// Forgets every verified JWT, e.g. when a key is deleted and its tokens stop verifying.
    pub(crate) fn forget_verified(&mut self) {
        self.verified.clear();
    }

    pub(crate) fn set_override(&mut self, token: &str, response: JsonObject) {
        self.overrides.insert(token, response);
    }

    pub(crate) fn revoke(&mut self, token: &str) {
        self.revoked.insert(token, ());
    }

    /// Forgets overrides and revocations; minted tokens stay known.
    pub(crate) fn reset(&mut self) {
        self.overrides.clear();
        self.revoked.clear();
    }

    /// Revocation wins over an override (a revoked token stays revoked, as RFC 7009 §2 says),
    /// and an override wins over what was minted.
    pub(crate) fn lookup(&self, token: &str) -> Lookup {
        if self.revoked.get(token).is_some() {
            Lookup::Revoked
        } else if let Some(response) = self.overrides.get(token) {
            Lookup::Override(response.clone())
        } else if let Some(record) = self.minted.get(token) {
            Lookup::Minted(Arc::clone(record))
        } else if let Some(record) = self.verified.get(token) {
            Lookup::Minted(Arc::clone(record))
        } else {
            Lookup::Unknown
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(claims: Value, signature_ok: bool) -> TokenRecord {
        TokenRecord::new(
            match claims {
                Value::Object(map) => map,
                _ => unreachable!(),
            },
            signature_ok,
        )
    }

    #[test]
    fn the_serialised_answer_is_kept_but_time_still_counts() {
        let record = record(full_claims(), true);
        let fresh = serde_json::to_vec(&answer(&record, 1_500)).expect("json");
        assert_eq!(&answer_bytes(&record, 1_500).expect("json")[..], &fresh[..]);
        assert!(
            record.active_answer.get().is_some(),
            "kept after the first answer"
        );
        assert_eq!(&answer_bytes(&record, 1_600).expect("json")[..], &fresh[..]);
        assert_eq!(
            &answer_bytes(&record, 2_000).expect("json")[..],
            br#"{"active":false}"#
        );
        let forged = super::TokenRecord::new(record.claims.clone(), false);
        assert_eq!(
            &answer_bytes(&forged, 1_500).expect("json")[..],
            br#"{"active":false}"#
        );
    }

    fn full_claims() -> Value {
        json!({
            "iss": "http://idp", "sub": "u", "aud": "http://rs/mcp", "exp": 2_000, "iat": 1_000,
            "jti": "j", "client_id": "c", "scope": "a b", "custom": "not copied"
        })
    }

    #[test]
    fn active_answer_copies_the_listed_claims() {
        let answer = answer(&record(full_claims(), true), 1_500);
        assert_eq!(
            Value::Object(answer),
            json!({
                "active": true, "iss": "http://idp", "sub": "u", "aud": "http://rs/mcp",
                "exp": 2_000, "iat": 1_000, "jti": "j", "client_id": "c", "scope": "a b",
                "token_type": "Bearer"
            })
        );
    }

    #[test]
    fn time_rules() {
        let r = record(full_claims(), true);
        assert_eq!(answer(&r, 1_999)["active"], true);
        assert_eq!(
            Value::Object(answer(&r, 2_000)),
            json!({"active": false}),
            "exp is exclusive"
        );
        let mut claims = full_claims();
        claims["nbf"] = json!(1_800);
        let r = record(claims, true);
        assert_eq!(answer(&r, 1_799)["active"], false);
        assert_eq!(answer(&r, 1_800)["active"], true);
        assert_eq!(answer(&r, 1_800)["nbf"], 1_800);
        let mut claims = full_claims();
        claims.as_object_mut().expect("object").remove("exp");
        assert_eq!(
            answer(&record(claims, true), i64::MAX)["active"],
            true,
            "no exp never expires"
        );
        let mut claims = full_claims();
        claims["exp"] = json!("soon");
        assert_eq!(answer(&record(claims, true), 0)["active"], false);
    }

    #[test]
    fn signature_defects_are_inactive() {
        assert_eq!(
            Value::Object(answer(&record(full_claims(), false), 1_500)),
            json!({"active": false})
        );
    }

    #[test]
    fn missing_claims_are_omitted() {
        let answer = answer(&record(json!({"sub": "u"}), true), 0);
        assert_eq!(
            Value::Object(answer),
            json!({"active": true, "sub": "u", "token_type": "Bearer"})
        );
    }

    #[test]
    fn registry_precedence_and_reset() {
        let mut registry = Registry::default();
        assert_eq!(registry.lookup("t"), Lookup::Unknown);
        registry.remember("t", record(full_claims(), true));
        assert!(matches!(registry.lookup("t"), Lookup::Minted(_)));
        registry.revoke("t");
        assert_eq!(registry.lookup("t"), Lookup::Revoked);
        let response = json!({"active": true, "sub": "override"});
        registry.set_override("t", response.as_object().expect("object").clone());
        // A revoked token stays revoked, whatever override is set later.
        assert_eq!(registry.lookup("t"), Lookup::Revoked);
        registry.remember("u", record(full_claims(), true));
        registry.set_override("u", response.as_object().expect("object").clone());
        assert!(matches!(registry.lookup("u"), Lookup::Override(r) if r["sub"] == "override"));
        registry.reset();
        assert!(matches!(registry.lookup("t"), Lookup::Minted(_)));
    }

    #[test]
    fn registry_is_bounded() {
        let mut registry = Registry::with_capacity(2);
        for token in ["a", "b", "c"] {
            registry.remember(token, record(json!({}), true));
            registry.revoke(token);
        }
        registry.reset();
        assert_eq!(registry.lookup("a"), Lookup::Unknown);
        assert!(matches!(registry.lookup("b"), Lookup::Minted(_)));
        assert!(matches!(registry.lookup("c"), Lookup::Minted(_)));
        registry.remember("c", record(json!({"sub": "again"}), true));
        assert!(
            matches!(registry.lookup("b"), Lookup::Minted(_)),
            "replacing does not evict"
        );
    }
}
