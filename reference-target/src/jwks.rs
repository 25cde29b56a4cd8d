//! The JWKS cache: fetches the issuer's key set lazily, refetches on unknown key ids with a rate
//! limit, and fails closed when the key set cannot be fetched.
//!
//! Keys this crate cannot use (not RSA, meant for encryption, meant for another algorithm,
//! missing or malformed members) are skipped, so that one odd key in a published set does not
//! take the others down with it. The module also renders an RSA key as SPKI PEM text, which the
//! `hs256-public-key` variant needs to reproduce the classic algorithm-confusion bug.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde_json::Value;

use crate::variant::Variant;

/// Largest JWKS document accepted; a bigger answer counts as a failed fetch.
pub const JWKS_MAX_BYTES: usize = 256 * 1024;
/// Time limit of one JWKS fetch, connection to last body byte.
pub const JWKS_TIMEOUT: Duration = Duration::from_secs(2);

/// An RSA verification key taken from the JWKS.
#[derive(Debug, Clone)]
pub struct RsaKey {
    /// The key id it was published under.
    pub kid: String,
    /// The modulus, big-endian, without leading zero bytes.
    pub n: Vec<u8>,
    /// The public exponent, big-endian, without leading zero bytes.
    pub e: Vec<u8>,
    /// The key parsed once, when the JWKS was read, so verification never re-parses it.
    pub verifier: Arc<aws_lc_rs::signature::ParsedPublicKey>,
}

impl PartialEq for RsaKey {
    fn eq(&self, other: &Self) -> bool {
        self.kid == other.kid && self.n == other.n && self.e == other.e
    }
}

impl Eq for RsaKey {}

impl RsaKey {
    /// Whether `signature` is a valid RS256 (PKCS#1 v1.5, SHA-256) signature of `message`.
    pub fn verify_rs256(&self, message: &[u8], signature: &[u8]) -> bool {
        self.verifier.verify_sig(message, signature).is_ok()
    }
}

/// What a key lookup found.
#[derive(Debug, Clone)]
pub enum KeyLookup {
    /// The key set holds a usable key for the id.
    Found(Arc<RsaKey>),
    /// The key set, fetched again for this lookup (or within `min_refetch`), has no such key.
    Unknown,
    /// The cached key set has no such key, and fetches are being spaced out because the last
    /// ones found nothing new: the token is refused without a fetch.
    RateLimited,
    /// The key set could not be fetched; the reason is for the error description.
    Unavailable(String),
}

/// How many fetches in a row may find nothing new before they are spaced out.
pub const FRUITLESS_BURST: u32 = 5;

/// The gap between fetches once that many found nothing new.
pub const FRUITLESS_INTERVAL: Duration = Duration::from_secs(1);

/// The cached key set of one issuer.
pub struct JwksCache {
    uri: String,
    client: reqwest::Client,
    min_refetch: Duration,
    variant: Variant,
    // A tokio mutex is held across the fetch on purpose: concurrent requests with an unknown kid
    // then wait for one fetch instead of each starting their own.
    state: tokio::sync::Mutex<CacheState>,
}

#[derive(Default)]
struct CacheState {
    keys: Vec<Arc<RsaKey>>,
    /// A fetch has succeeded at least once.
    loaded: bool,
    last_attempt: Option<Instant>,
    /// How many fetches in a row found the key set unchanged: after [`FRUITLESS_BURST`] of them,
    /// the next waits [`FRUITLESS_INTERVAL`], so a flood of tokens with made-up key ids cannot
    /// turn into a flood of requests to the issuer (RFC 8725 §3.10), while a key the issuer
    /// really added (which changes the set) is learned at once.
    fruitless_streak: u32,
    /// The key ids of the last key set fetched, to tell whether the next one changed.
    last_fetched: Vec<String>,
    /// Why the most recent fetch failed; `None` when it succeeded or none was made.
    last_failure: Option<String>,
}

impl CacheState {
    /// The key with that id, or the first key when no id is given.
    fn find(&self, kid: Option<&str>) -> Option<Arc<RsaKey>> {
        match kid {
            Some(kid) => self.keys.iter().find(|key| key.kid == kid).cloned(),
            None => self.keys.first().cloned(),
        }
    }
}

impl JwksCache {
    /// A cache for the key set at `uri`; nothing is fetched until the first lookup.
    pub fn new(
        uri: String,
        client: reqwest::Client,
        min_refetch: Duration,
        variant: Variant,
    ) -> Self {
        JwksCache {
            uri,
            client,
            min_refetch,
            variant,
            state: tokio::sync::Mutex::new(CacheState::default()),
        }
    }

    /// Finds the key for `kid` (or the first key when `kid` is `None`), fetching the key set when
    /// it was never fetched or does not know the id, at most once per `min_refetch`.
    pub async fn lookup(&self, kid: Option<&str>) -> KeyLookup {
        let mut state = self.state.lock().await;
        if let Some(key) = state.find(kid) {
            return KeyLookup::Found(key);
        }
        // jwks-never-refetched: once a key set was loaded it is kept forever, so a key the
        // issuer introduced later is never learned.
        if self.variant == Variant::JwksNeverRefetched && state.loaded {
            return KeyLookup::Unknown;
        }
        let now = Instant::now();
        // jwks-refetch-unbounded: every unknown key id is worth a fetch.
        let spaced_out = self.variant != Variant::JwksRefetchUnbounded
            && state.fruitless_streak >= FRUITLESS_BURST
            && state
                .last_attempt
                .is_some_and(|at| at.elapsed() < FRUITLESS_INTERVAL);
        if spaced_out {
            return KeyLookup::RateLimited;
        }
        let may_fetch = state
            .last_attempt
            .is_none_or(|at| at.elapsed() >= self.min_refetch);
        if !may_fetch {
            // Within the rate limit the last answer stands: an outage stays an outage.
            return match &state.last_failure {
                Some(reason) => KeyLookup::Unavailable(reason.clone()),
                None => KeyLookup::Unknown,
            };
        }
        state.last_attempt = Some(now);
        match self.fetch().await {
            Ok(keys) => {
                let mut kids: Vec<String> = keys.iter().map(|k| k.kid.clone()).collect();
                kids.sort();
                let unchanged = state.loaded && kids == state.last_fetched;
                state.last_fetched = kids;
                state.fruitless_streak = if unchanged {
                    state.fruitless_streak.saturating_add(1)
                } else {
                    0
                };
                state.loaded = true;
                state.last_failure = None;
                if self.variant == Variant::JwksKeysAccumulate {
                    // jwks-keys-accumulate: new keys are added and changed ones updated, but a
                    // key the issuer removed is never dropped and stays trusted.
                    for key in keys {
                        match state.keys.iter_mut().find(|known| known.kid == key.kid) {
                            Some(known) => *known = key,
                            None => state.keys.push(key),
                        }
                    }
                } else {
                    // The new set replaces the old one, so retired keys stop being trusted.
                    state.keys = keys;
                }
                match state.find(kid) {
                    Some(key) => KeyLookup::Found(key),
                    None => KeyLookup::Unknown,
                }
            }
            Err(reason) => {
                // The cache is kept as it was; the token that needed the fetch is rejected.
                state.last_failure = Some(reason.clone());
                KeyLookup::Unavailable(reason)
            }
        }
    }

    async fn fetch(&self) -> Result<Vec<Arc<RsaKey>>, String> {
        let response = self
            .client
            .get(&self.uri)
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(JWKS_TIMEOUT)
            .send()
            .await
            .map_err(|err| format!("JWKS fetch failed: {}", crate::http::error_chain(&err)))?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(format!(
                "JWKS fetch answered {}",
                response.status().as_u16()
            ));
        }
        let body = crate::http::read_capped(response, JWKS_MAX_BYTES)
            .await
            .map_err(|err| format!("JWKS fetch failed: {err}"))?;
        // jwks-strict-parse: one unusable key makes the whole set count as a failed fetch.
        let strict = self.variant == Variant::JwksStrictParse;
        let keys = parse_jwks(&body, strict)?;
        Ok(keys.into_iter().map(Arc::new).collect())
    }
}

/// Parses a JWKS document into the RSA keys this crate can verify RS256 signatures with.
///
/// Unusable keys are skipped, or, when `strict`, make the whole document an error. A document
/// that is not a JSON object with a `keys` array is always an error.
pub fn parse_jwks(body: &[u8], strict: bool) -> Result<Vec<RsaKey>, String> {
    let document: Value =
        serde_json::from_slice(body).map_err(|_| "JWKS is not JSON".to_owned())?;
    let Some(entries) = document.get("keys").and_then(Value::as_array) else {
        return Err("JWKS has no keys array".to_owned());
    };
    let mut keys: Vec<RsaKey> = Vec::new();
    for entry in entries {
        match usable_key(entry) {
            // The first usable key with a given id wins; a later duplicate cannot replace it.
            Ok(key) if keys.iter().all(|known| known.kid != key.kid) => keys.push(key),
            Ok(_) => {}
            Err(reason) if strict => return Err(format!("JWKS holds an unusable key: {reason}")),
            Err(_) => {}
        }
    }
    Ok(keys)
}

/// One JWK as an RS256 verification key, or why it cannot be one.
fn usable_key(jwk: &Value) -> Result<RsaKey, String> {
    let member = |name: &str| jwk.get(name).and_then(Value::as_str);
    if member("kty") != Some("RSA") {
        return Err("kty is not RSA".to_owned());
    }
    if let Some(key_use) = jwk.get("use")
        && key_use.as_str() != Some("sig")
    {
        return Err("use is not sig".to_owned());
    }
    if let Some(alg) = jwk.get("alg")
        && alg.as_str() != Some("RS256")
    {
        return Err("alg is not RS256".to_owned());
    }
    let kid = member("kid").ok_or("kid missing")?;
    let n = member("n").ok_or("n missing")?;
    let e = member("e").ok_or("e missing")?;
    let n = strip_leading_zeros(decode_b64url(n).ok_or("n is not base64url")?);
    let e = strip_leading_zeros(decode_b64url(e).ok_or("e is not base64url")?);
    // RS256 verification accepts moduli from 2048 to 8192 bits; anything else is unusable.
    if !(256..=1024).contains(&n.len()) {
        return Err("modulus size out of range".to_owned());
    }
    if e.is_empty() || e.len() > 8 {
        return Err("exponent size out of range".to_owned());
    }
    let verifier = aws_lc_rs::signature::ParsedPublicKey::new(
        &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
        spki_der(&n, &e),
    )
    .map_err(|_| "not a usable RSA public key".to_owned())?;
    Ok(RsaKey {
        kid: kid.to_owned(),
        n,
        e,
        verifier: Arc::new(verifier),
    })
}

/// Decodes base64url, with or without padding (JWKs in the wild use both).
fn decode_b64url(text: &str) -> Option<Vec<u8>> {
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    LENIENT.decode(text).ok()
}

fn strip_leading_zeros(mut bytes: Vec<u8>) -> Vec<u8> {
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    bytes.drain(..zeros);
    bytes
}

/// Renders an RSA public key as SPKI PEM text: `-----BEGIN PUBLIC KEY-----\n`, the base64 of the
/// DER `SubjectPublicKeyInfo` in 64-character lines each ending in `\n`, then
/// `-----END PUBLIC KEY-----\n`. The mock IdP keys its `hs256-public-key-pem` tokens with
/// exactly this text.
pub fn spki_pem(n: &[u8], e: &[u8]) -> String {
    let encoded = STANDARD.encode(spki_der(n, e));
    let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
    for line in encoded.as_bytes().chunks(64) {
        // Base64 output is ASCII, so every chunk is valid UTF-8.
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END PUBLIC KEY-----\n");
    pem
}

/// DER of `SubjectPublicKeyInfo { rsaEncryption, RSAPublicKey { n, e } }` (RFC 5280, RFC 8017).
pub fn spki_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    // AlgorithmIdentifier: OID 1.2.840.113549.1.1.1 (rsaEncryption) with NULL parameters.
    const RSA_ENCRYPTION: [u8; 15] = [
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let mut integers = der_integer(n);
    integers.extend(der_integer(e));
    let rsa_public_key = der_element(0x30, &integers);
    // The BIT STRING starts with the count of unused bits, always 0 here.
    let mut bits = vec![0u8];
    bits.extend(rsa_public_key);
    let mut info = RSA_ENCRYPTION.to_vec();
    info.extend(der_element(0x03, &bits));
    der_element(0x30, &info)
}

/// A DER INTEGER holding a non-negative big-endian number.
fn der_integer(magnitude: &[u8]) -> Vec<u8> {
    let trimmed: &[u8] = match magnitude.iter().position(|b| *b != 0) {
        Some(first) => &magnitude[first..],
        None => &[],
    };
    let mut content = Vec::with_capacity(trimmed.len() + 1);
    // A set high bit would read as negative, so a zero byte goes in front; zero itself is 0x00.
    if trimmed.first().is_none_or(|b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(trimmed);
    der_element(0x02, &content)
}

fn der_element(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rsa::{KeyPair, KeySize};
    use aws_lc_rs::signature::KeyPair as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn rsa_jwk(kid: &str) -> Value {
        serde_json::json!({
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
            "n": URL_SAFE_NO_PAD.encode([0xc5u8; 256]), "e": "AQAB"
        })
    }

    #[test]
    fn spki_der_matches_aws_lc() {
        let pair = KeyPair::generate(KeySize::Rsa2048).expect("key generation");
        let public = pair.public_key();
        let n = public.modulus().big_endian_without_leading_zero().to_vec();
        let e = public.exponent().big_endian_without_leading_zero().to_vec();
        let expected = public.as_der().expect("der");
        assert_eq!(spki_der(&n, &e), expected.as_ref());
    }

    #[test]
    fn spki_pem_has_64_char_lines_and_trailing_newline() {
        let pem = spki_pem(&[0xc5u8; 256], &[1, 0, 1]);
        assert!(pem.starts_with(
            "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAxcXF"
        ));
        assert!(pem.ends_with("\n-----END PUBLIC KEY-----\n"));
        let body: Vec<&str> = pem
            .lines()
            .skip(1)
            .take_while(|l| !l.starts_with("-----"))
            .collect();
        assert!(body[..body.len() - 1].iter().all(|line| line.len() == 64));
        assert!(body.last().is_some_and(|line| line.len() <= 64));
    }

    #[test]
    fn der_integers_are_minimal_and_positive() {
        assert_eq!(der_integer(&[0, 0, 1, 0, 1]), vec![0x02, 0x03, 1, 0, 1]);
        assert_eq!(der_integer(&[0x80]), vec![0x02, 0x02, 0x00, 0x80]);
        assert_eq!(der_integer(&[]), vec![0x02, 0x01, 0x00]);
        assert_eq!(
            der_element(0x04, &[7u8; 300])[..4],
            [0x04, 0x82, 0x01, 0x2c]
        );
    }

    #[test]
    fn unusable_keys_are_skipped_or_fatal_when_strict() {
        let mut enc = rsa_jwk("enc");
        enc["use"] = "enc".into();
        let mut bad_b64 = rsa_jwk("bad");
        bad_b64["n"] = "***".into();
        let mut no_e = rsa_jwk("no-e");
        no_e.as_object_mut().map(|o| o.remove("e"));
        let ec =
            serde_json::json!({"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"});
        let doc =
            serde_json::json!({"keys": [ec, enc, rsa_jwk("good"), bad_b64, no_e, rsa_jwk("good")]});
        let body = serde_json::to_vec(&doc).expect("json");
        let keys = parse_jwks(&body, false).expect("lenient parse");
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid, "good");
        assert_eq!(keys[0].e, vec![1, 0, 1]);
        assert!(parse_jwks(&body, true).is_err());
        let clean = serde_json::to_vec(&serde_json::json!({"keys": [rsa_jwk("a")]})).expect("json");
        assert_eq!(parse_jwks(&clean, true).expect("strict parse").len(), 1);
    }

    #[test]
    fn documents_that_are_not_key_sets_fail() {
        assert!(parse_jwks(b"not json", false).is_err());
        assert!(parse_jwks(b"{}", false).is_err());
        assert!(parse_jwks(b"[]", false).is_err());
        assert_eq!(parse_jwks(br#"{"keys": []}"#, false), Ok(vec![]));
    }
}
