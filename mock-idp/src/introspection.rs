//! RFC 7662 introspection answers, and the memory of minted, revoked and overridden tokens.
//!
//! Tokens minted through the control API are remembered (bounded, oldest forgotten first) with
//! their claims and whether their signature can verify. Tokens issued at `/token` are not stored:
//! introspection verifies them against the IdP's own keys instead, which keeps memory flat under load;
//! of a verified one it keeps only its digest, when it is active and its serialised answer.
//! Revocations are different: a revoked token must stay revoked until it expires, so they are
//! never forgotten early; when the list is full of unexpired revocations, the next revocation is
//! refused instead.

use std::borrow::{Borrow, Cow};
use std::cmp::Reverse;
use std::collections::hash_map::Entry;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::fmt;
use std::hash::Hash;
use std::sync::{Arc, OnceLock};

use aws_lc_rs::digest;

use axum::body::Bytes;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::api::JsonObject;
use crate::json_text;
use crate::keys::SigningKey;

/// How many minted tokens, overrides and verified tokens are remembered (each).
pub(crate) const MEMORY: usize = 8192;
/// How many unexpired revocations are kept; more are refused, never evicted.
pub(crate) const REVOCATION_CAPACITY: usize = 65_536;

/// A token by its SHA-256 digest: what the IdP keeps of tokens it must recognise later but never
/// hands out again (revoked tokens, access tokens issued in a grant), 32 bytes whatever the
/// token's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct TokenId([u8; 32]);

impl TokenId {
    pub(crate) fn of(token: &str) -> TokenId {
        let mut id = [0; 32];
        id.copy_from_slice(digest::digest(&digest::SHA256, token.as_bytes()).as_ref());
        TokenId(id)
    }
}

/// A token issued in a grant, kept so that it can be revoked with the grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Issued {
    pub(crate) id: TokenId,
    /// Its `exp`; `None` for a token that never expires.
    pub(crate) expires_at: Option<i64>,
}

impl Issued {
    /// A token with these claims.
    pub(crate) fn of(token: &str, claims: &JsonObject) -> Issued {
        Issued {
            id: TokenId::of(token),
            expires_at: claims.get("exp").and_then(Value::as_i64),
        }
    }
}

/// The revocation list is full of revocations that have not expired yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RevocationsFull;

/// Revoked tokens, each kept until it expires (RFC 7009 §2: a revoked token stays invalid).
/// Expired entries are dropped only when the list is full, oldest expiry first; a token with no
/// expiry stays until a reset.
#[derive(Debug)]
struct Revocations {
    /// Each token's expiry (`None`: never).
    entries: HashMap<TokenId, Option<i64>>,
    /// The entries that expire, soonest first (an entry whose expiry changed is skipped).
    by_expiry: BinaryHeap<Reverse<(i64, TokenId)>>,
    capacity: usize,
}

impl Revocations {
    fn new(capacity: usize) -> Self {
        Revocations {
            entries: HashMap::new(),
            by_expiry: BinaryHeap::new(),
            capacity,
        }
    }

    fn contains(&self, id: &TokenId) -> bool {
        self.entries.contains_key(id)
    }

    fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many more revocations fit once the expired ones (at IdP time `now`) are dropped.
    fn room(&mut self, now: i64) -> usize {
        if self.entries.len() >= self.capacity {
            self.drop_expired(now);
        }
        self.capacity.saturating_sub(self.entries.len())
    }

    /// Drops the entries that expired at or before `now`.
    fn drop_expired(&mut self, now: i64) {
        while let Some(Reverse((expires_at, id))) = self.by_expiry.peek().copied() {
            if expires_at > now {
                break;
            }
            self.by_expiry.pop();
            if self.entries.get(&id) == Some(&Some(expires_at)) {
                self.entries.remove(&id);
            }
        }
    }

    /// Revokes every token of `issued`, or none of them when they do not all fit.
    fn insert_all(&mut self, issued: &[Issued], now: i64) -> Result<(), RevocationsFull> {
        let new = issued
            .iter()
            .filter(|i| i.expires_at.is_none_or(|exp| exp > now))
            .filter(|i| !self.entries.contains_key(&i.id))
            .count();
        if new > self.room(now) {
            return Err(RevocationsFull);
        }
        for Issued { id, expires_at } in issued.iter().copied() {
            // An expired token is inactive anyway; it needs no entry.
            if expires_at.is_some_and(|exp| exp <= now) {
                continue;
            }
            let kept = self.entries.entry(id).or_insert(expires_at);
            // The later expiry wins; `None` (never) is later than any time.
            let later = match (*kept, expires_at) {
                (None, _) | (_, None) => None,
                (Some(a), Some(b)) => Some(a.max(b)),
            };
            *kept = later;
            if let Some(exp) = later {
                self.by_expiry.push(Reverse((exp, id)));
            }
        }
        // Superseded heap entries are skipped when they surface; keep the heap from growing
        // without bound when the same tokens are revoked over and over.
        if self.by_expiry.len() > 2 * self.capacity {
            self.by_expiry = self
                .entries
                .iter()
                .filter_map(|(id, exp)| exp.map(|exp| Reverse((exp, *id))))
                .collect();
        }
        Ok(())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.by_expiry.clear();
    }
}

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

/// [`answer`] serialised, byte for byte what serde_json writes for it. Written straight from the
/// claims: copying every claim into a new map only to serialise it cost an uncached introspection
/// (a JWT seen for the first time) about 15,000 instructions, against about 4,000 now (callgrind,
/// `bench/log_cost.sh`).
pub(crate) fn answer_bytes(record: &TokenRecord, now: i64) -> Result<Bytes, serde_json::Error> {
    if !record.signature_ok || !time_valid(&record.claims, now) {
        return Ok(Bytes::from_static(br#"{"active":false}"#));
    }
    if let Some(kept) = record.active_answer.get() {
        return Ok(kept.clone());
    }
    let bytes = Bytes::from(active_answer_json(&record.claims)?);
    Ok(record.active_answer.get_or_init(|| bytes).clone())
}

/// The claims of an active answer in the order serde_json writes a map's members (sorted by
/// name): [`ANSWER_CLAIMS`] with `active` and `token_type` (`None`: the fixed members).
const ANSWER_ORDER: [(&str, Option<&str>); 11] = [
    ("active", None),
    ("aud", Some("aud")),
    ("client_id", Some("client_id")),
    ("exp", Some("exp")),
    ("iat", Some("iat")),
    ("iss", Some("iss")),
    ("jti", Some("jti")),
    ("nbf", Some("nbf")),
    ("scope", Some("scope")),
    ("sub", Some("sub")),
    ("token_type", None),
];

/// The JSON of an active answer for these claims, as `serde_json::to_vec(&answer(..))` writes it.
fn active_answer_json(claims: &JsonObject) -> Result<Vec<u8>, serde_json::Error> {
    write_active_answer(|name| claims.get(name).map(Claim::Value))
}

/// A claim an answer is written from: a parsed value (a minted token's claims) or its JSON text as
/// the token holds it (a verified token's, see [`ClaimsText`]).
#[derive(Clone, Copy)]
enum Claim<'a> {
    Value(&'a Value),
    Text(&'a RawValue),
}

/// The JSON of an active answer with the claims `claim` finds, as serde_json writes the answer's
/// map: the same bytes whichever kind of claim it is given.
fn write_active_answer<'a>(
    claim: impl Fn(&str) -> Option<Claim<'a>>,
) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(512);
    out.push(b'{');
    for (name, source) in ANSWER_ORDER {
        let value = match source {
            Some(source) => match claim(source) {
                Some(value) => Some(value),
                None => continue,
            },
            None => None,
        };
        if out.len() > 1 {
            out.push(b',');
        }
        json_text::push_name(&mut out, name);
        match (name, value) {
            ("active", _) => out.extend_from_slice(b"true"),
            (_, None) => json_text::push_str(&mut out, "Bearer"),
            (_, Some(Claim::Value(value))) => write_value(&mut out, value)?,
            // A string without escapes reads back and is written again as the same bytes; any
            // other text (numbers, which serde_json may write differently, escapes, arrays) goes
            // through a value, as the map path writes it.
            (_, Some(Claim::Text(text))) if is_plain_string(text.get()) => {
                out.extend_from_slice(text.get().as_bytes());
            }
            (_, Some(Claim::Text(text))) => {
                write_value(&mut out, &serde_json::from_str::<Value>(text.get())?)?;
            }
        }
    }
    out.push(b'}');
    Ok(out)
}

fn write_value(out: &mut Vec<u8>, value: &Value) -> Result<(), serde_json::Error> {
    match value {
        Value::String(text) => {
            json_text::push_str(out, text);
            Ok(())
        }
        value => serde_json::to_writer(out, value),
    }
}

/// Whether `text`, a JSON value as written, is a string that serde_json writes back byte for byte:
/// quoted, with no backslash (escape) and no control character in it (a bare quote cannot be
/// inside a JSON string).
fn is_plain_string(text: &str) -> bool {
    text.len() >= 2 && text.starts_with('"') && !text.bytes().any(|b| b == b'\\' || b < 0x20)
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
    ActiveWindow::of(claims).contains(now)
}

/// A time claim (`exp`, `nbf`) as introspection reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum TimeClaim {
    Absent,
    At(f64),
    /// Present but not a number: it cannot be honoured, so the token is never active.
    Unreadable,
}

impl TimeClaim {
    fn of(claims: &JsonObject, name: &str) -> TimeClaim {
        TimeClaim::of_value(claims.get(name))
    }

    fn of_value(value: Option<&Value>) -> TimeClaim {
        match value {
            None => TimeClaim::Absent,
            Some(value) => value.as_f64().map_or(TimeClaim::Unreadable, TimeClaim::At),
        }
    }

    /// The claim from its JSON text: read as a value, so it means what it means in a map.
    fn of_text(text: Option<&RawValue>) -> TimeClaim {
        match text {
            None => TimeClaim::Absent,
            Some(text) => match serde_json::from_str::<Value>(text.get()) {
                Ok(value) => TimeClaim::of_value(Some(&value)),
                Err(_) => TimeClaim::Unreadable,
            },
        }
    }
}

/// When a token's answer is active, read once from its `exp` and `nbf`: at or after `nbf` and
/// before `exp`, each when present.
#[derive(Debug, Clone, Copy, PartialEq)]
struct ActiveWindow {
    exp: TimeClaim,
    nbf: TimeClaim,
}

impl ActiveWindow {
    fn of(claims: &JsonObject) -> ActiveWindow {
        ActiveWindow {
            exp: TimeClaim::of(claims, "exp"),
            nbf: TimeClaim::of(claims, "nbf"),
        }
    }

    /// Whether the token is active at IdP time `now`.
    fn contains(&self, now: i64) -> bool {
        let now = now as f64;
        let exp_ok = match self.exp {
            TimeClaim::Absent => true,
            TimeClaim::At(exp) => now < exp,
            TimeClaim::Unreadable => false,
        };
        let nbf_ok = match self.nbf {
            TimeClaim::Absent => true,
            TimeClaim::At(nbf) => now >= nbf,
            TimeClaim::Unreadable => false,
        };
        exp_ok && nbf_ok
    }
}

/// What the IdP keeps of a JWT it signed and has verified once: when it is active, and its active
/// answer serialised. Kept instead of its claims, so that a resource server introspecting a stream
/// of new tokens (each verified once, none asked again) does not hold thousands of claim maps
/// and the token text itself: a few hundred bytes per token, keyed by the token's digest.
#[derive(Debug, PartialEq)]
pub(crate) struct VerifiedJwt {
    window: ActiveWindow,
    answer: Bytes,
}

impl VerifiedJwt {
    /// What is kept of a token with these claims (the map form, which only the tests still use to
    /// hold [`VerifiedJwt::of_text`] to).
    #[cfg(test)]
    pub(crate) fn of(claims: &JsonObject) -> Result<VerifiedJwt, serde_json::Error> {
        Ok(VerifiedJwt {
            window: ActiveWindow::of(claims),
            answer: Bytes::from(active_answer_json(claims)?),
        })
    }

    /// What is kept of a token with these claims, read from their text: the same window and answer
    /// as from the map of the same claims.
    fn of_text(claims: &ClaimsText<'_>) -> Result<VerifiedJwt, serde_json::Error> {
        Ok(VerifiedJwt {
            window: ActiveWindow {
                exp: TimeClaim::of_text(claims.get("exp")),
                nbf: TimeClaim::of_text(claims.get("nbf")),
            },
            answer: Bytes::from(write_active_answer(|name| {
                claims.get(name).map(Claim::Text)
            })?),
        })
    }

    /// The answer at IdP time `now`, serialised.
    pub(crate) fn answer_bytes(&self, now: i64) -> Bytes {
        if self.window.contains(now) {
            self.answer.clone()
        } else {
            Bytes::from_static(br#"{"active":false}"#)
        }
    }

    /// The answer at IdP time `now`.
    pub(crate) fn answer(&self, now: i64) -> JsonObject {
        if self.window.contains(now) {
            // Written by `active_answer_json` from a map: it reads back as one.
            serde_json::from_slice(&self.answer).unwrap_or_else(|_| inactive())
        } else {
            inactive()
        }
    }
}

/// The members of a JWT header introspection reads, borrowed from the decoded header where no
/// escape forced a copy (read into a map, they cost a dozen allocations per uncached token).
/// Other members are ignored, as they were when the header was read into a map.
#[derive(Deserialize)]
struct JoseHeader<'a> {
    #[serde(borrow, default)]
    kid: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    alg: Option<Cow<'a, str>>,
}

/// A JWT's claims as written: each member's name and its JSON text, borrowed from the decoded
/// payload. An uncached introspection reads a token's claims this way rather than into a map of
/// owned names and values, which cost about seventeen allocations per token (callgrind) only to
/// be dropped once the answer was written.
struct ClaimsText<'a>(Vec<(Text<'a>, &'a RawValue)>);

/// Any JSON, read as strictly as a `serde_json::Value` is (the same `deserialize_any` calls: numbers
/// in range, escapes decoded, nesting within serde_json's limit) and kept nowhere: no allocation.
struct StrictJson;

impl<'de> Deserialize<'de> for StrictJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Strict;
        impl<'de> Visitor<'de> for Strict {
            type Value = StrictJson;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("JSON")
            }
            fn visit_bool<E>(self, _: bool) -> Result<StrictJson, E> {
                Ok(StrictJson)
            }
            fn visit_i64<E>(self, _: i64) -> Result<StrictJson, E> {
                Ok(StrictJson)
            }
            fn visit_u64<E>(self, _: u64) -> Result<StrictJson, E> {
                Ok(StrictJson)
            }
            fn visit_f64<E>(self, _: f64) -> Result<StrictJson, E> {
                Ok(StrictJson)
            }
            fn visit_str<E>(self, _: &str) -> Result<StrictJson, E> {
                Ok(StrictJson)
            }
            fn visit_unit<E>(self) -> Result<StrictJson, E> {
                Ok(StrictJson)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<StrictJson, A::Error> {
                while seq.next_element::<StrictJson>()?.is_some() {}
                Ok(StrictJson)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StrictJson, A::Error> {
                while map.next_entry::<StrictJson, StrictJson>()?.is_some() {}
                Ok(StrictJson)
            }
        }
        deserializer.deserialize_any(Strict)
    }
}

/// A JSON string, borrowed from the input unless an escape forced a copy.
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

impl<'a> ClaimsText<'a> {
    /// A claim's text; the last one when a name repeats, which is the one a map keeps.
    fn get(&self, name: &str) -> Option<&'a RawValue> {
        self.0
            .iter()
            .rev()
            .find(|(member, _)| member.0 == name)
            .map(|(_, text)| *text)
    }
}

impl<'de> Deserialize<'de> for ClaimsText<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> Visitor<'de> for Members {
            type Value = ClaimsText<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::with_capacity(12);
                while let Some(name) = map.next_key::<Text<'de>>()? {
                    members.push((name, map.next_value::<&'de RawValue>()?));
                }
                Ok(ClaimsText(members))
            }
        }
        deserializer.deserialize_map(Members)
    }
}

/// Claims of a JWT this IdP signed: the key's own `alg`, a `kid` the IdP holds (in any state), a valid
/// signature and `iss` equal to `issuer`. `None` for anything else.
pub(crate) fn verify_own_jwt(
    token: &str,
    key_for: impl Fn(&str) -> Option<Arc<SigningKey>>,
    issuer: &str,
) -> Option<JsonObject> {
    let claims: JsonObject = serde_json::from_slice(&signed_payload(token, key_for)?).ok()?;
    (claims.get("iss").and_then(Value::as_str) == Some(issuer)).then_some(claims)
}

/// What introspection keeps of a JWT [`verify_own_jwt`] accepts, read from the text of its claims
/// without building their map. `None` where `verify_own_jwt` gives `None`, and for claims whose
/// answer cannot be written (a value serde_json cannot write; not seen in practice).
pub(crate) fn verified_jwt(
    token: &str,
    key_for: impl Fn(&str) -> Option<Arc<SigningKey>>,
    issuer: &str,
) -> Option<VerifiedJwt> {
    let payload = signed_payload(token, key_for)?;
    // Capturing a member's text checks less than parsing it into a value does (numbers out of
    // range, lone surrogates, nesting past serde_json's limit): read the payload as strictly as
    // `verify_own_jwt`'s map first, so that both accept the same tokens, and revocation (which
    // reads the map) and introspection agree.
    serde_json::from_slice::<StrictJson>(&payload).ok()?;
    let claims: ClaimsText<'_> = serde_json::from_slice(&payload).ok()?;
    let iss = claims
        .get("iss")
        .and_then(|text| serde_json::from_str::<Text<'_>>(text.get()).ok());
    if iss.as_ref().map(|iss| iss.0.as_ref()) != Some(issuer) {
        return None;
    }
    VerifiedJwt::of_text(&claims).ok()
}

/// The decoded claims of a JWT signed by a key this IdP holds (in any state), with that key's own
/// `alg`, before any claim is read. `None` for anything else.
fn signed_payload(
    token: &str,
    key_for: impl Fn(&str) -> Option<Arc<SigningKey>>,
) -> Option<Vec<u8>> {
    let mut segments = token.split('.');
    let (header_b64, payload_b64, signature_b64) =
        (segments.next()?, segments.next()?, segments.next()?);
    if segments.next().is_some() {
        return None;
    }
    let header_json = URL_SAFE_NO_PAD.decode(header_b64).ok()?;
    // Only an object is a JOSE header (a derived struct would also take a JSON array).
    if !header_json.trim_ascii_start().starts_with(b"{") {
        return None;
    }
    let header: JoseHeader<'_> = serde_json::from_slice(&header_json).ok()?;
    let key = key_for(header.kid?.as_ref())?;
    // The alg must be the key's own: no algorithm confusion.
    if header.alg.as_deref() != Some(key.alg().name()) {
        return None;
    }
    let signature = URL_SAFE_NO_PAD.decode(signature_b64).ok()?;
    let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
    if !key.verify(signing_input.as_bytes(), &signature) {
        return None;
    }
    URL_SAFE_NO_PAD.decode(payload_b64).ok()
}

/// A map that forgets its oldest entries beyond a capacity.
#[derive(Debug)]
struct Bounded<K, V> {
    map: HashMap<K, V>,
    order: VecDeque<K>,
    capacity: usize,
}

impl<K: Hash + Eq + Clone, V> Bounded<K, V> {
    fn new(capacity: usize) -> Self {
        Bounded {
            map: HashMap::new(),
            order: VecDeque::new(),
            capacity,
        }
    }

    fn insert(&mut self, key: K, value: V) {
        // One hash of the key instead of a lookup and an insert: on the paths that insert, the
        // key is nearly always new.
        match self.map.entry(key.clone()) {
            Entry::Occupied(mut slot) => {
                slot.insert(value);
                return;
            }
            Entry::Vacant(slot) => {
                slot.insert(value);
            }
        }
        self.order.push_back(key);
        while self.order.len() > self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.map.remove(&oldest);
            }
        }
    }

    fn get<Q: Hash + Eq + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
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
    /// A JWT the IdP signed at `/token`, verified before.
    Verified(Arc<VerifiedJwt>),
    /// Not remembered; may still be a JWT the IdP signed at `/token`.
    Unknown,
}

/// Minted tokens, overrides and revocations.
#[derive(Debug)]
pub(crate) struct Registry {
    minted: Bounded<Arc<str>, Arc<TokenRecord>>,
    overrides: Bounded<Arc<str>, JsonObject>,
    revoked: Revocations,
    /// JWTs this IdP signed whose signature was verified once: resource servers introspect the
    /// same token on every request, and its signature cannot change.
    verified: Bounded<TokenId, Arc<VerifiedJwt>>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry::with_capacity(MEMORY, REVOCATION_CAPACITY)
    }
}

impl Registry {
    pub(crate) fn with_capacity(memory: usize, revocations: usize) -> Self {
        Registry {
            minted: Bounded::new(memory),
            overrides: Bounded::new(memory),
            revoked: Revocations::new(revocations),
            verified: Bounded::new(memory),
        }
    }

    pub(crate) fn remember(&mut self, token: &str, record: TokenRecord) {
        self.minted.insert(Arc::from(token), Arc::new(record));
    }

    /// Remembers what a verified JWT (of digest `id`) answers.
    pub(crate) fn remember_verified(&mut self, id: TokenId, verified: Arc<VerifiedJwt>) {
        self.verified.insert(id, verified);
    }

    /// Forgets every verified JWT, e.g. when a key is deleted and its tokens stop verifying.
    pub(crate) fn forget_verified(&mut self) {
        self.verified.clear();
    }

    pub(crate) fn set_override(&mut self, token: &str, response: JsonObject) {
        self.overrides.insert(Arc::from(token), response);
    }

    /// Revokes every token of `issued` until it expires (at IdP time `now`), or none of them
    /// when the list has no room for them all.
    pub(crate) fn revoke(&mut self, issued: &[Issued], now: i64) -> Result<(), RevocationsFull> {
        self.revoked.insert_all(issued, now)
    }

    /// Whether `count` more revocations fit now.
    pub(crate) fn has_room(&mut self, count: usize, now: i64) -> bool {
        self.revoked.room(now) >= count
    }

    /// How many revocations are kept.
    #[cfg(test)]
    pub(crate) fn revocations(&self) -> usize {
        self.revoked.len()
    }

    /// The claims the IdP knows for a token it minted through the control API, without
    /// verifying anything (a verified JWT's claims are not kept: verify it again).
    pub(crate) fn known_claims(&self, token: &str) -> Option<JsonObject> {
        self.minted.get(token).map(|record| record.claims.clone())
    }

    /// Whether an override answers for `token`.
    pub(crate) fn has_override(&self, token: &str) -> bool {
        self.overrides.get(token).is_some()
    }

    /// Forgets overrides and revocations; minted tokens stay known.
    pub(crate) fn reset(&mut self) {
        self.overrides.clear();
        self.revoked.clear();
    }

    /// Revocation wins over an override (a revoked token stays revoked, as RFC 7009 §2 says),
    /// and an override wins over what was minted.
    /// `id` is the token's digest ([`TokenId::of`]), which the caller keeps to remember the token
    /// after verifying it.
    pub(crate) fn lookup(&self, token: &str, id: &TokenId) -> Lookup {
        if !self.revoked.is_empty() && self.revoked.contains(id) {
            Lookup::Revoked
        } else if let Some(response) = self.overrides.get(token) {
            Lookup::Override(response.clone())
        } else if let Some(record) = self.minted.get(token) {
            Lookup::Minted(Arc::clone(record))
        } else if let Some(verified) = self.verified.get(id) {
            Lookup::Verified(Arc::clone(verified))
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

    #[test]
    fn the_written_answer_is_what_serde_json_writes() {
        let shapes = [
            full_claims(),
            json!({"iss": "http://idp", "exp": 2_000}),
            json!({}),
            json!({
                "aud": ["http://rs/a", "http://rs/\"b\""], "nbf": 1_000, "exp": 1.9e3,
                "sub": "quote \" backslash \\ control \u{1} é", "scope": ["not", "a string"],
                "client_id": null, "jti": {"nested": true}, "iat": -5, "token_type": "ignored"
            }),
        ];
        for claims in shapes {
            let record = record(claims.clone(), true);
            let expected = serde_json::to_vec(&answer(&record, 1_500)).expect("json");
            assert_eq!(
                answer_bytes(&record, 1_500).expect("json").to_vec(),
                expected,
                "{claims}"
            );
        }
    }

    /// A fresh EdDSA key for signing test JWTs (fast to generate).
    fn test_key() -> Arc<SigningKey> {
        use crate::keys::{KeyMaterial, SigningAlg};
        let material = KeyMaterial::generate_for(SigningAlg::EdDsa).expect("key");
        Arc::new(SigningKey::new("k1".into(), material).expect("key"))
    }

    /// A JWT of this header and payload text, signed by `key`.
    fn signed_jwt(key: &SigningKey, header: &str, payload: &str) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let signature = key.sign(input.as_bytes()).expect("sign");
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    #[test]
    fn only_an_object_header_naming_the_key_and_its_alg_verifies() {
        let key = test_key();
        let kid = key.kid().to_owned();
        let jwt = |header: &str, claims: Value| signed_jwt(&key, header, &claims.to_string());
        let verify = |token: &str| {
            verify_own_jwt(
                token,
                |k| (k == kid).then(|| Arc::clone(&key)),
                "http://idp",
            )
        };
        let claims = json!({"iss": "http://idp", "sub": "u"});
        let good = jwt(
            &format!(r#"{{"alg":"EdDSA","kid":"{kid}","typ":"at+jwt"}}"#),
            claims.clone(),
        );
        assert_eq!(verify(&good).map(Value::Object), Some(claims.clone()));
        // An escaped kid is the same kid (decoded, not borrowed).
        let (first, rest) = kid.split_at(1);
        let escaped = format!(
            r#"{{"kid":"{first}\u{:04x}{}","alg":"EdDSA"}}"#,
            u32::from(rest.chars().next().expect("two characters")),
            &rest[1..]
        );
        assert!(
            verify(&jwt(&escaped, claims.clone())).is_some(),
            "{escaped}"
        );
        for header in [
            format!(r#"["EdDSA","{kid}"]"#),
            format!(r#"{{"alg":"RS256","kid":"{kid}"}}"#),
            r#"{"alg":"EdDSA","kid":7}"#.to_owned(),
            r#"{"alg":"EdDSA"}"#.to_owned(),
            format!(r#"{{"alg":"EdDSA","kid":"{kid}x"}}"#),
        ] {
            assert_eq!(verify(&jwt(&header, claims.clone())), None, "{header}");
        }
        let other_issuer = jwt(
            &format!(r#"{{"alg":"EdDSA","kid":"{kid}"}}"#),
            json!({"iss": "http://other"}),
        );
        assert_eq!(verify(&other_issuer), None);
    }

    #[test]
    fn claims_read_as_text_keep_what_their_map_would() {
        let mut payloads: Vec<String> = [
            full_claims(),
            json!({"sub": "u", "nbf": 1_200, "exp": 1_800}),
            json!({"sub": "u", "exp": "soon"}),
            json!({"sub": "u", "nbf": null, "exp": null}),
            json!({}),
            json!({
                "aud": ["http://rs/a", "http://rs/\"b\""], "nbf": 1_000, "exp": 1.9e3,
                "sub": "quote \" backslash \\ control \u{1} é", "scope": ["not", "a string"],
                "client_id": null, "jti": {"nested": true}, "iat": -5, "token_type": "ignored"
            }),
        ]
        .iter()
        .flat_map(|claims| {
            [
                serde_json::to_string(claims).expect("json"),
                serde_json::to_string_pretty(claims).expect("json"),
            ]
        })
        .collect();
        // Text serde_json would not write: other number forms, escapes it would not use, space,
        // a repeated name (the last one counts, as in a map).
        payloads.extend(
            [
                r#"{"exp": 1e3, "nbf": -0, "iat": 10.50, "sub": "\u0041\/b"}"#,
                r#"{ "iss" : "http://idp" , "aud" : [ "x" ,"y" ] , "scope":"a b" }"#,
                r#"{"sub": "first", "exp": 1000, "sub": "second", "exp": "later"}"#,
                r#"{"jti": "\ud83d\ude00", "client_id": "\"quoted\"", "exp": 2E3}"#,
            ]
            .map(str::to_owned),
        );
        for payload in payloads {
            let map: JsonObject = serde_json::from_str(&payload).expect("an object");
            let text: ClaimsText<'_> = serde_json::from_str(&payload).expect("an object");
            assert_eq!(
                VerifiedJwt::of_text(&text).expect("json"),
                VerifiedJwt::of(&map).expect("json"),
                "{payload}"
            );
        }
        for not_an_object in ["[]", "\"claims\"", "7", r#"{"a": }"#, r#"{"a": 1} x"#] {
            assert!(
                serde_json::from_str::<ClaimsText<'_>>(not_an_object).is_err(),
                "{not_an_object}"
            );
        }
    }

    #[test]
    fn a_verified_jwt_is_read_as_verify_own_jwt_reads_it() {
        let key = test_key();
        let kid = key.kid().to_owned();
        let jwt = |header: &str, payload: &str| signed_jwt(&key, header, payload);
        let key_for = |k: &str| (k == kid).then(|| Arc::clone(&key));
        let header = format!(r#"{{"alg":"EdDSA","kid":"{kid}"}}"#);
        for payload in [
            full_claims().to_string(),
            r#"{"iss":"http://idp","sub":"u","exp":1800}"#.to_owned(),
            r#"{"iss":"http:\/\/idp","sub":"escaped issuer"}"#.to_owned(),
            r#"{"iss":"http://other","sub":"u"}"#.to_owned(),
            r#"{"iss":7}"#.to_owned(),
            r#"{"sub":"no issuer"}"#.to_owned(),
            r#"["http://idp"]"#.to_owned(),
            // What capturing text alone would let through and a map refuses: both refuse it.
            r#"{"iss":"http://idp","x":1e400}"#.to_owned(),
            r#"{"iss":"http://idp","x":"\ud800"}"#.to_owned(),
            r#"{"iss":"http://idp","exp":1e400,"exp":2000}"#.to_owned(),
            format!(
                r#"{{"iss":"http://idp","x":{}{}}}"#,
                "[".repeat(200),
                "]".repeat(200)
            ),
            format!(
                r#"{{"iss":"http://idp","x":{}{}}}"#,
                "[".repeat(100),
                "]".repeat(100)
            ),
        ] {
            let token = jwt(&header, &payload);
            let by_map = verify_own_jwt(&token, key_for, "http://idp")
                .map(|claims| VerifiedJwt::of(&claims).expect("json"));
            assert_eq!(
                verified_jwt(&token, key_for, "http://idp"),
                by_map,
                "{payload}"
            );
        }
        let forged = jwt(&header, &full_claims().to_string()).replace('.', ".x");
        assert_eq!(verified_jwt(&forged, key_for, "http://idp"), None);
    }

    #[test]
    fn a_verified_jwt_answers_as_its_claims_would() {
        let shapes = [
            full_claims(),
            json!({"sub": "u", "nbf": 1_200, "exp": 1_800}),
            json!({"sub": "u", "exp": "soon"}),
            json!({"sub": "u", "nbf": null}),
            json!({"sub": "u"}),
        ];
        for claims in shapes {
            let record = record(claims.clone(), true);
            let verified = VerifiedJwt::of(&record.claims).expect("json");
            for now in [0, 1_199, 1_200, 1_500, 1_799, 1_800, 2_000, 9_999] {
                let expected = answer(&record, now);
                assert_eq!(verified.answer(now), expected, "{claims} at {now}");
                assert_eq!(
                    verified.answer_bytes(now).to_vec(),
                    serde_json::to_vec(&expected).expect("json"),
                    "{claims} at {now}"
                );
            }
        }
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

    fn forever(token: &str) -> Issued {
        Issued {
            id: TokenId::of(token),
            expires_at: None,
        }
    }

    fn until(token: &str, expires_at: i64) -> Issued {
        Issued {
            id: TokenId::of(token),
            expires_at: Some(expires_at),
        }
    }

    #[test]
    fn registry_precedence_and_reset() {
        let mut registry = Registry::default();
        assert_eq!(registry.lookup("t", &TokenId::of("t")), Lookup::Unknown);
        registry.remember("t", record(full_claims(), true));
        assert!(matches!(
            registry.lookup("t", &TokenId::of("t")),
            Lookup::Minted(_)
        ));
        registry.revoke(&[forever("t")], 0).expect("room");
        assert_eq!(registry.lookup("t", &TokenId::of("t")), Lookup::Revoked);
        let response = json!({"active": true, "sub": "override"});
        registry.set_override("t", response.as_object().expect("object").clone());
        // A revoked token stays revoked, whatever override is set later.
        assert_eq!(registry.lookup("t", &TokenId::of("t")), Lookup::Revoked);
        registry.remember("u", record(full_claims(), true));
        registry.set_override("u", response.as_object().expect("object").clone());
        assert!(
            matches!(registry.lookup("u", &TokenId::of("u")), Lookup::Override(r) if r["sub"] == "override")
        );
        registry.reset();
        assert!(matches!(
            registry.lookup("t", &TokenId::of("t")),
            Lookup::Minted(_)
        ));
    }

    #[test]
    fn minted_tokens_are_bounded() {
        let mut registry = Registry::with_capacity(2, 8);
        for token in ["a", "b", "c"] {
            registry.remember(token, record(json!({}), true));
        }
        assert_eq!(registry.lookup("a", &TokenId::of("a")), Lookup::Unknown);
        assert!(matches!(
            registry.lookup("b", &TokenId::of("b")),
            Lookup::Minted(_)
        ));
        assert!(matches!(
            registry.lookup("c", &TokenId::of("c")),
            Lookup::Minted(_)
        ));
        registry.remember("c", record(json!({"sub": "again"}), true));
        assert!(
            matches!(registry.lookup("b", &TokenId::of("b")), Lookup::Minted(_)),
            "replacing does not evict"
        );
    }

    #[test]
    fn a_full_revocation_list_refuses_rather_than_forgets() {
        let mut registry = Registry::with_capacity(8, 3);
        registry.revoke(&[until("first", 100)], 0).expect("room");
        registry
            .revoke(&[until("b", 200), forever("c")], 0)
            .expect("room");
        assert!(!registry.has_room(1, 0));
        assert_eq!(
            registry.revoke(&[until("d", 300)], 0),
            Err(RevocationsFull),
            "full of unexpired revocations: refused"
        );
        assert_eq!(
            registry.lookup("first", &TokenId::of("first")),
            Lookup::Revoked,
            "never forgotten"
        );
        // Revoking a token that is already revoked, or already expired, needs no room.
        assert_eq!(registry.revoke(&[until("b", 250)], 0), Ok(()));
        assert_eq!(registry.revoke(&[until("old", 10)], 50), Ok(()));
        // All or nothing: a batch that does not fit revokes none of its tokens.
        assert_eq!(
            registry.revoke(&[until("x", 300), until("y", 300)], 150),
            Err(RevocationsFull)
        );
        assert_eq!(registry.lookup("x", &TokenId::of("x")), Lookup::Unknown);
        // Once "first" has expired (IdP time 100), its entry makes room.
        registry
            .revoke(&[until("d", 300)], 100)
            .expect("room after expiry");
        assert_eq!(registry.revocations(), 3);
        assert_eq!(registry.lookup("d", &TokenId::of("d")), Lookup::Revoked);
        assert_eq!(
            registry.lookup("b", &TokenId::of("b")),
            Lookup::Revoked,
            "revoked until 250"
        );
        assert_eq!(
            registry.lookup("c", &TokenId::of("c")),
            Lookup::Revoked,
            "no expiry: kept"
        );
    }
}
