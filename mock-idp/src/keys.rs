//! Signing keys: generation, JWK rendering, lifecycle (announced → active → retired) and persistence.
//!
//! Keys are parsed once and kept in memory (`aws_lc_rs::rsa::KeyPair`); signing never re-parses.
//! The published JWKS is serialised once per change, so serving it is a copy of cached bytes.
//! With a state directory, the keys live in `keys.json` (written atomically), so a restarted IdP
//! publishes the same JWKS and a target's cached keys stay valid.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use aws_lc_rs::digest;
use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, ED25519, EcdsaKeyPair,
    Ed25519KeyPair, KeyPair as _, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256,
};
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::api::{JsonObject, KeyInfo, KeyState, Rotation};
use crate::names::closed_names;

/// The name of the key file inside the state directory.
pub(crate) const KEY_FILE: &str = "keys.json";
const KEY_FILE_FORMAT: &str = "mock-idp-keys/1";
const KID_PREFIX: &str = "mock-key-";

/// Why a key operation failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum KeyError {
    #[error("unknown kid {0:?}")]
    UnknownKid(String),
    #[error("cannot retire {0:?}: it is the active key; activate another key first")]
    RetireActive(String),
    #[error("crypto failure: {0}")]
    Crypto(&'static str),
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{}: {message}", path.display())]
    Corrupt { path: PathBuf, message: String },
}

closed_names! {
    /// The JWS algorithm an issuer signs with.
    #[derive(Default)]
    pub enum SigningAlg("signing algorithm") {
        /// RSASSA-PKCS1-v1_5 with SHA-256, RSA-2048 keys (the default; what every verifier takes).
        #[default]
        Rs256 = "RS256",
        /// ECDSA P-256 with SHA-256.
        Es256 = "ES256",
        /// Ed25519 (RFC 8037).
        EdDsa = "EdDSA",
    }
}

enum Pair {
    Rsa(KeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A private key before it has a kid: generated (RSA is slow, ~60 ms) outside any lock, then
/// adopted.
pub(crate) struct KeyMaterial {
    pair: Pair,
    pkcs8: Vec<u8>,
}

impl KeyMaterial {
    /// A fresh RSA-2048 key.
    pub(crate) fn generate() -> Result<Self, KeyError> {
        Self::generate_for(SigningAlg::Rs256)
    }

    /// A fresh key for `alg`.
    pub(crate) fn generate_for(alg: SigningAlg) -> Result<Self, KeyError> {
        match alg {
            SigningAlg::Rs256 => {
                let pair = KeyPair::generate(KeySize::Rsa2048)
                    .map_err(|_| KeyError::Crypto("RSA key generation failed"))?;
                let pkcs8 = pair
                    .as_der()
                    .map_err(|_| KeyError::Crypto("PKCS#8 encoding failed"))?
                    .as_ref()
                    .to_vec();
                Ok(KeyMaterial {
                    pair: Pair::Rsa(pair),
                    pkcs8,
                })
            }
            SigningAlg::Es256 => {
                let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                    .map_err(|_| KeyError::Crypto("EC key generation failed"))?;
                let pkcs8 = pair
                    .to_pkcs8v1()
                    .map_err(|_| KeyError::Crypto("PKCS#8 encoding failed"))?
                    .as_ref()
                    .to_vec();
                Ok(KeyMaterial {
                    pair: Pair::Ec(pair),
                    pkcs8,
                })
            }
            SigningAlg::EdDsa => {
                let pair = Ed25519KeyPair::generate()
                    .map_err(|_| KeyError::Crypto("Ed25519 key generation failed"))?;
                let pkcs8 = pair
                    .to_pkcs8()
                    .map_err(|_| KeyError::Crypto("PKCS#8 encoding failed"))?
                    .as_ref()
                    .to_vec();
                Ok(KeyMaterial {
                    pair: Pair::Ed(pair),
                    pkcs8,
                })
            }
        }
    }

    /// A key from its PKCS#8 DER encoding, of whichever supported type it is.
    pub(crate) fn from_pkcs8(der: &[u8]) -> Result<Self, KeyError> {
        let pair = if let Ok(pair) = KeyPair::from_pkcs8(der) {
            Pair::Rsa(pair)
        } else if let Ok(pair) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der) {
            Pair::Ec(pair)
        } else if let Ok(pair) = Ed25519KeyPair::from_pkcs8(der) {
            Pair::Ed(pair)
        } else {
            return Err(KeyError::Crypto("PKCS#8 key rejected"));
        };
        Ok(KeyMaterial {
            pair,
            pkcs8: der.to_vec(),
        })
    }
}

/// A signing key with everything derived from it precomputed.
pub(crate) struct SigningKey {
    kid: String,
    alg: SigningAlg,
    pair: Pair,
    pkcs8: Vec<u8>,
    verifier: ParsedPublicKey,
    jwk: JsonObject,
    spki_pem: String,
    jwk_compact: String,
    /// The encoded JOSE header of the access tokens this key signs, made by the token factory on
    /// first use (`tokens::access_header_b64`).
    pub(crate) access_header_b64: OnceLock<String>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

fn object(value: Value) -> JsonObject {
    match value {
        Value::Object(map) => map,
        _ => JsonObject::new(),
    }
}

impl SigningKey {
    pub(crate) fn new(kid: String, material: KeyMaterial) -> Result<Self, KeyError> {
        let KeyMaterial { pair, pkcs8 } = material;
        let spki_failed = |_| KeyError::Crypto("SPKI encoding failed");
        let (alg, jwk, jwk_compact, spki, verifier) = match &pair {
            Pair::Rsa(rsa) => {
                let public = rsa.public_key();
                let components: PublicKeyComponents<Vec<u8>> = public.into();
                let n = URL_SAFE_NO_PAD.encode(&components.n);
                let e = URL_SAFE_NO_PAD.encode(&components.e);
                let jwk = object(
                    json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": n, "e": e}),
                );
                let compact = format!(r#"{{"kty":"RSA","n":"{n}","e":"{e}"}}"#);
                let spki: PublicKeyX509Der<'static> = public.as_der().map_err(spki_failed)?;
                let verifier = ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public.as_ref())
                    .map_err(|_| KeyError::Crypto("public key rejected"))?;
                (SigningAlg::Rs256, jwk, compact, spki, verifier)
            }
            Pair::Ec(ec) => {
                let public = ec.public_key();
                // An uncompressed P-256 point: 0x04 || x (32 bytes) || y (32 bytes).
                let point = public.as_ref();
                if point.len() != 65 {
                    return Err(KeyError::Crypto("unexpected EC public key encoding"));
                }
                let x = URL_SAFE_NO_PAD.encode(&point[1..33]);
                let y = URL_SAFE_NO_PAD.encode(&point[33..]);
                let jwk = object(json!({
                    "kty": "EC", "use": "sig", "alg": "ES256", "kid": kid, "crv": "P-256", "x": x, "y": y
                }));
                // RFC 7638 member order for the compact form: crv, kty, x, y.
                let compact = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
                let spki: PublicKeyX509Der<'static> = public.as_der().map_err(spki_failed)?;
                let verifier = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                    .map_err(|_| KeyError::Crypto("public key rejected"))?;
                (SigningAlg::Es256, jwk, compact, spki, verifier)
            }
            Pair::Ed(ed) => {
                let public = ed.public_key();
                let x = URL_SAFE_NO_PAD.encode(public.as_ref());
                let jwk = object(json!({
                    "kty": "OKP", "use": "sig", "alg": "EdDSA", "kid": kid, "crv": "Ed25519", "x": x
                }));
                let compact = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
                let spki: PublicKeyX509Der<'static> = public.as_der().map_err(spki_failed)?;
                let verifier = ParsedPublicKey::new(&ED25519, public.as_ref())
                    .map_err(|_| KeyError::Crypto("public key rejected"))?;
                (SigningAlg::EdDsa, jwk, compact, spki, verifier)
            }
        };
        let spki_pem = pem("PUBLIC KEY", spki.as_ref());
        Ok(SigningKey {
            kid,
            alg,
            pair,
            pkcs8,
            verifier,
            jwk,
            spki_pem,
            jwk_compact,
            access_header_b64: OnceLock::new(),
        })
    }

    pub(crate) fn kid(&self) -> &str {
        &self.kid
    }

    /// The JWS algorithm this key signs with.
    pub(crate) fn alg(&self) -> SigningAlg {
        self.alg
    }

    /// The length of this key's signatures in bytes.
    pub(crate) fn signature_len(&self) -> usize {
        match &self.pair {
            Pair::Rsa(rsa) => rsa.public_modulus_len(),
            Pair::Ec(_) | Pair::Ed(_) => 64,
        }
    }

    /// The JWS signature of `message` (RS256, ES256 in the fixed r||s form, or Ed25519).
    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        match &self.pair {
            Pair::Rsa(rsa) => {
                let mut signature = vec![0; rsa.public_modulus_len()];
                rsa.sign(
                    &RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    message,
                    &mut signature,
                )
                .map_err(|_| KeyError::Crypto("RSA signing failed"))?;
                Ok(signature)
            }
            Pair::Ec(ec) => ec
                .sign(&SystemRandom::new(), message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| KeyError::Crypto("ECDSA signing failed")),
            Pair::Ed(ed) => Ok(ed.sign(message).as_ref().to_vec()),
        }
    }

    /// Whether `signature` is a valid signature of `message` by this key.
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        self.verifier.verify_sig(message, signature).is_ok()
    }

    /// The public JWK: `kty`, `use`, `alg`, `kid`, and the key's parameters.
    #[cfg(test)]
    pub(crate) fn jwk(&self) -> &JsonObject {
        &self.jwk
    }

    /// The public key as SPKI PEM: 64-character lines, `\n` line ends, trailing `\n`.
    pub(crate) fn spki_pem(&self) -> &str {
        &self.spki_pem
    }

    /// The public JWK as compact JSON with only the required members, in RFC 7638 order.
    pub(crate) fn jwk_compact(&self) -> &str {
        &self.jwk_compact
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        // Base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[derive(Clone)]
struct ManagedKey {
    key: Arc<SigningKey>,
    state: KeyState,
}

/// The IdP's managed keys (exactly one active), extra JWKs, and the cached JWKS document.
pub(crate) struct KeySet {
    keys: Vec<ManagedKey>,
    extra: Vec<JsonObject>,
    next_index: u64,
    file: Option<PathBuf>,
    jwks: Bytes,
    /// The headers of a `GET /jwks` answer (type, caching, ETag, length, CORS), built once per
    /// key change: cloning five ready entries per request costs a fraction of inserting them
    /// anew, which hashes each name and grows the map.
    jwks_headers: HeaderMap,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySet")
            .field("keys", &self.infos())
            .field("extra", &self.extra.len())
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

impl KeySet {
    /// Keys from `state_dir/keys.json` when it exists; otherwise a fresh `mock-key-1`, active
    /// (persisted there when a state directory is given).
    #[cfg(test)]
    pub(crate) fn open(state_dir: Option<&Path>) -> Result<Self, KeyError> {
        Self::open_for(state_dir, SigningAlg::Rs256)
    }

    /// As [`KeySet::open`], with a first key for `alg` when none is stored.
    pub(crate) fn open_for(state_dir: Option<&Path>, alg: SigningAlg) -> Result<Self, KeyError> {
        let file = state_dir.map(|dir| dir.join(KEY_FILE));
        if let Some(path) = &file {
            match fs::read(path) {
                Ok(bytes) => return Self::from_file(path.clone(), &bytes),
                Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(KeyError::Io {
                        path: path.clone(),
                        source,
                    });
                }
            }
        }
        let mut set = KeySet {
            keys: Vec::new(),
            extra: Vec::new(),
            next_index: 1,
            file,
            jwks: Bytes::new(),
            jwks_headers: HeaderMap::new(),
        };
        let kid = set.next_kid();
        let key = Arc::new(SigningKey::new(kid, KeyMaterial::generate_for(alg)?)?);
        set.commit(
            vec![ManagedKey {
                key,
                state: KeyState::Active,
            }],
            2,
        )?;
        Ok(set)
    }

    fn from_file(path: PathBuf, bytes: &[u8]) -> Result<Self, KeyError> {
        let corrupt = |message: String| KeyError::Corrupt {
            path: path.clone(),
            message,
        };
        let stored: KeyFile = serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
        if stored.format != KEY_FILE_FORMAT {
            return Err(corrupt(format!(
                "unsupported format {:?} (expected {KEY_FILE_FORMAT:?})",
                stored.format
            )));
        }
        let mut keys = Vec::with_capacity(stored.keys.len());
        let mut next_index = 1;
        for entry in stored.keys {
            if keys.iter().any(|k: &ManagedKey| k.key.kid == entry.kid) {
                return Err(corrupt(format!("kid {:?} appears twice", entry.kid)));
            }
            if let Some(n) = kid_index(&entry.kid) {
                next_index = next_index.max(n.saturating_add(1));
            }
            let der = STANDARD
                .decode(entry.pkcs8.as_bytes())
                .map_err(|e| corrupt(format!("kid {:?}: bad base64: {e}", entry.kid)))?;
            let material = KeyMaterial::from_pkcs8(&der)
                .map_err(|e| corrupt(format!("kid {:?}: {e}", entry.kid)))?;
            keys.push(ManagedKey {
                key: Arc::new(SigningKey::new(entry.kid, material)?),
                state: entry.state,
            });
        }
        let active = keys.iter().filter(|k| k.state == KeyState::Active).count();
        if active != 1 {
            return Err(corrupt(format!(
                "expected exactly one active key, found {active}"
            )));
        }
        let mut set = KeySet {
            keys,
            extra: Vec::new(),
            next_index,
            file: Some(path),
            jwks: Bytes::new(),
            jwks_headers: HeaderMap::new(),
        };
        set.rebuild_jwks();
        Ok(set)
    }

    /// The kid the next adopted key gets.
    fn next_kid(&self) -> String {
        format!("{KID_PREFIX}{}", self.next_index)
    }

    /// The key that signs.
    pub(crate) fn active(&self) -> &Arc<SigningKey> {
        // `commit` and `from_file` keep exactly one key active.
        let found = self.keys.iter().find(|k| k.state == KeyState::Active);
        match found {
            Some(managed) => &managed.key,
            None => unreachable!("a KeySet always has one active key"),
        }
    }

    /// Any managed key, whatever its state.
    pub(crate) fn get(&self, kid: &str) -> Option<&Arc<SigningKey>> {
        self.keys.iter().find(|k| k.key.kid == kid).map(|k| &k.key)
    }

    /// Adds `material` as a new announced key and returns its kid.
    pub(crate) fn announce(&mut self, material: KeyMaterial) -> Result<String, KeyError> {
        let kid = self.next_kid();
        let mut keys = self.keys.clone();
        keys.push(ManagedKey {
            key: Arc::new(SigningKey::new(kid.clone(), material)?),
            state: KeyState::Announced,
        });
        self.commit(keys, self.next_index + 1)?;
        Ok(kid)
    }

    /// Makes `kid` the signing key; the previously active key stays published as announced.
    pub(crate) fn activate(&mut self, kid: &str) -> Result<(), KeyError> {
        if self.get(kid).is_none() {
            return Err(KeyError::UnknownKid(kid.to_owned()));
        }
        let keys = self
            .keys
            .iter()
            .map(|k| ManagedKey {
                key: Arc::clone(&k.key),
                state: if k.key.kid == kid {
                    KeyState::Active
                } else if k.state == KeyState::Active {
                    KeyState::Announced
                } else {
                    k.state
                },
            })
            .collect();
        self.commit(keys, self.next_index)
    }

    /// Removes `kid` from the JWKS. The active key cannot be retired.
    pub(crate) fn retire(&mut self, kid: &str) -> Result<(), KeyError> {
        if self.get(kid).is_none() {
            return Err(KeyError::UnknownKid(kid.to_owned()));
        }
        if self.active().kid == kid {
            return Err(KeyError::RetireActive(kid.to_owned()));
        }
        let mut keys = self.keys.clone();
        for k in &mut keys {
            if k.key.kid == kid {
                k.state = KeyState::Retired;
            }
        }
        self.commit(keys, self.next_index)
    }

    /// Deletes a key that no longer signs, from the JWKS and from the state directory, so keys
    /// created for one test run do not pile up in a long-lived IdP. The active key stays.
    pub(crate) fn forget(&mut self, kid: &str) -> Result<(), KeyError> {
        if self.get(kid).is_none() {
            return Err(KeyError::UnknownKid(kid.to_owned()));
        }
        if self.active().kid == kid {
            return Err(KeyError::RetireActive(kid.to_owned()));
        }
        let keys = self
            .keys
            .iter()
            .filter(|k| k.key.kid != kid)
            .cloned()
            .collect();
        self.commit(keys, self.next_index)
    }

    /// Announces and activates `material`, and retires the previously active key.
    pub(crate) fn rotate(&mut self, material: KeyMaterial) -> Result<Rotation, KeyError> {
        let kid = self.next_kid();
        let old = self.active().kid.clone();
        let mut keys = self.keys.clone();
        for k in &mut keys {
            if k.state == KeyState::Active {
                k.state = KeyState::Retired;
            }
        }
        keys.push(ManagedKey {
            key: Arc::new(SigningKey::new(kid.clone(), material)?),
            state: KeyState::Active,
        });
        self.commit(keys, self.next_index + 1)?;
        Ok(Rotation { kid, retired: old })
    }

    /// Every managed key in creation order.
    pub(crate) fn infos(&self) -> Vec<KeyInfo> {
        self.keys
            .iter()
            .map(|k| KeyInfo {
                kid: k.key.kid.clone(),
                state: k.state,
            })
            .collect()
    }

    /// Appends a JWK to the published set exactly as given (not persisted).
    pub(crate) fn add_extra(&mut self, jwk: JsonObject) {
        self.extra.push(jwk);
        self.rebuild_jwks();
    }

    pub(crate) fn clear_extra(&mut self) {
        self.extra.clear();
        self.rebuild_jwks();
    }

    /// The serialised JWKS document and its ETag.
    #[cfg(test)]
    pub(crate) fn jwks(&self) -> (Bytes, &str) {
        let etag = self.jwks_headers.get(header::ETAG);
        let etag = etag.and_then(|etag| etag.to_str().ok()).unwrap_or_default();
        (self.jwks.clone(), etag)
    }

    /// The serialised JWKS document and the headers of a 200 answer with it (`Content-Type`,
    /// `Cache-Control`, `ETag`, `Content-Length`, `Access-Control-Allow-Origin: *`).
    pub(crate) fn jwks_answer(&self) -> (Bytes, HeaderMap) {
        (self.jwks.clone(), self.jwks_headers.clone())
    }

    /// Persists `keys` (when backed by a file), then makes them current.
    fn commit(&mut self, keys: Vec<ManagedKey>, next_index: u64) -> Result<(), KeyError> {
        debug_assert_eq!(
            keys.iter().filter(|k| k.state == KeyState::Active).count(),
            1
        );
        if let Some(path) = &self.file {
            let stored = KeyFile {
                format: KEY_FILE_FORMAT.to_owned(),
                keys: keys
                    .iter()
                    .map(|k| StoredKey {
                        kid: k.key.kid.clone(),
                        state: k.state,
                        pkcs8: STANDARD.encode(&k.key.pkcs8),
                    })
                    .collect(),
            };
            let mut bytes = serde_json::to_vec_pretty(&stored).map_err(|e| KeyError::Corrupt {
                path: path.clone(),
                message: e.to_string(),
            })?;
            bytes.push(b'\n');
            write_atomically(path, &bytes).map_err(|source| KeyError::Io {
                path: path.clone(),
                source,
            })?;
        }
        self.keys = keys;
        self.next_index = next_index;
        self.rebuild_jwks();
        Ok(())
    }

    fn rebuild_jwks(&mut self) {
        let published = self
            .keys
            .iter()
            .filter(|k| k.state != KeyState::Retired)
            .map(|k| Value::Object(k.key.jwk.clone()))
            .chain(self.extra.iter().cloned().map(Value::Object));
        let doc = json!({ "keys": published.collect::<Vec<_>>() });
        let body = serde_json::to_vec(&doc).unwrap_or_else(|_| b"{\"keys\":[]}".to_vec());
        let hash = digest::digest(&digest::SHA256, &body);
        let etag = HeaderValue::from_str(&format!("\"{}\"", hex(&hash.as_ref()[..12])))
            .unwrap_or_else(|_| HeaderValue::from_static("\"\""));
        let mut headers = HeaderMap::with_capacity(5);
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(crate::respond::REVALIDATE),
        );
        headers.insert(header::ETAG, etag);
        // What axum and the recorder add to every answer, here already (they then add nothing, and
        // the cloned map, whose capacity is its length, does not grow).
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        self.jwks_headers = headers;
        self.jwks = Bytes::from(body);
    }
}

/// `7` for `mock-key-7`.
fn kid_index(kid: &str) -> Option<u64> {
    kid.strip_prefix(KID_PREFIX)?.parse().ok()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    format: String,
    keys: Vec<StoredKey>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredKey {
    kid: String,
    state: KeyState,
    /// PKCS#8 DER, standard base64.
    pkcs8: String,
}

/// Writes `bytes` to a temporary file beside `path`, syncs it, then renames it over `path`,
/// so a reader (or a crash) never sees a half-written key file. The file is private to its owner.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = path.with_extension(format!("json.tmp.{}.{unique}", std::process::id()));
    let result = (|| {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::LazyLock;

    use super::*;

    /// Key generation takes tens of milliseconds; tests share a few keys.
    pub(crate) static TEST_PKCS8: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| {
        (0..3)
            .map(|_| KeyMaterial::generate().expect("keygen").pkcs8)
            .collect()
    });

    pub(crate) fn material(i: usize) -> KeyMaterial {
        KeyMaterial::from_pkcs8(&TEST_PKCS8[i]).expect("test key")
    }

    pub(crate) fn test_key(kid: &str, i: usize) -> SigningKey {
        SigningKey::new(kid.to_owned(), material(i)).expect("signing key")
    }

    fn memory_set() -> KeySet {
        let mut set = KeySet {
            keys: Vec::new(),
            extra: Vec::new(),
            next_index: 1,
            file: None,
            jwks: Bytes::new(),
            jwks_headers: HeaderMap::new(),
        };
        let key = Arc::new(test_key("mock-key-1", 0));
        set.commit(
            vec![ManagedKey {
                key,
                state: KeyState::Active,
            }],
            2,
        )
        .expect("commit");
        set
    }

    fn published_kids(set: &KeySet) -> Vec<String> {
        let (body, _) = set.jwks();
        let doc: Value = serde_json::from_slice(&body).expect("jwks is JSON");
        doc["keys"]
            .as_array()
            .expect("keys array")
            .iter()
            .map(|k| k["kid"].as_str().unwrap_or("<none>").to_owned())
            .collect()
    }

    #[test]
    fn jwk_has_the_rs256_shape_and_verifies_signatures() {
        let key = test_key("mock-key-1", 0);
        let jwk = key.jwk();
        let mut names: Vec<&str> = jwk.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["alg", "e", "kid", "kty", "n", "use"]);
        assert_eq!(jwk["kty"], "RSA");
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["alg"], "RS256");
        assert_eq!(jwk["kid"], "mock-key-1");
        assert_eq!(jwk["e"], "AQAB");
        let n = URL_SAFE_NO_PAD
            .decode(jwk["n"].as_str().expect("n"))
            .expect("n is base64url without padding");
        assert_eq!(n.len(), 256);
        assert_ne!(n[0], 0, "no leading zero");

        let signature = key.sign(b"message").expect("sign");
        assert_eq!(signature.len(), 256);
        assert!(key.verify(b"message", &signature));
        assert!(!key.verify(b"messagE", &signature));
        // The JWK components alone verify the signature too.
        let e = URL_SAFE_NO_PAD.decode("AQAB").expect("e");
        let components = PublicKeyComponents {
            n: &n[..],
            e: &e[..],
        };
        components
            .verify(&RSA_PKCS1_2048_8192_SHA256, b"message", &signature)
            .expect("JWK verifies");
    }

    #[test]
    fn pem_and_compact_jwk_forms() {
        let key = test_key("mock-key-1", 0);
        let pem = key.spki_pem();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        assert!(pem.ends_with("\n-----END PUBLIC KEY-----\n"));
        let body: Vec<&str> = pem
            .lines()
            .skip(1)
            .take_while(|l| !l.starts_with("-----"))
            .collect();
        assert!(body.iter().rev().skip(1).all(|line| line.len() == 64));
        let der = STANDARD.decode(body.concat()).expect("PEM body is base64");
        assert!(aws_lc_rs::rsa::PublicKey::from_der(&der).is_ok());

        let compact = key.jwk_compact();
        assert!(compact.starts_with(r#"{"kty":"RSA","n":""#));
        let parsed: Value = serde_json::from_str(compact).expect("compact JWK is JSON");
        assert_eq!(parsed["n"], key.jwk()["n"]);
        assert_eq!(parsed["e"], "AQAB");
        assert!(compact.ends_with(r#","e":"AQAB"}"#));
    }

    #[test]
    fn state_transitions() {
        let mut set = memory_set();
        assert_eq!(published_kids(&set), ["mock-key-1"]);

        let kid = set.announce(material(1)).expect("announce");
        assert_eq!(kid, "mock-key-2");
        assert_eq!(set.active().kid(), "mock-key-1");
        assert_eq!(published_kids(&set), ["mock-key-1", "mock-key-2"]);

        set.activate("mock-key-2").expect("activate");
        assert_eq!(set.active().kid(), "mock-key-2");
        assert_eq!(
            set.infos(),
            [
                KeyInfo {
                    kid: "mock-key-1".into(),
                    state: KeyState::Announced
                },
                KeyInfo {
                    kid: "mock-key-2".into(),
                    state: KeyState::Active
                },
            ]
        );

        assert!(matches!(
            set.retire("mock-key-2"),
            Err(KeyError::RetireActive(_))
        ));
        assert!(matches!(set.retire("nope"), Err(KeyError::UnknownKid(_))));
        assert!(matches!(set.activate("nope"), Err(KeyError::UnknownKid(_))));
        set.retire("mock-key-1").expect("retire");
        assert_eq!(published_kids(&set), ["mock-key-2"]);
        assert!(
            set.get("mock-key-1").is_some(),
            "retired keys are still held"
        );

        // A retired key can be brought back; it is published again.
        set.activate("mock-key-1").expect("re-activate");
        assert_eq!(published_kids(&set), ["mock-key-1", "mock-key-2"]);

        let rotation = set.rotate(material(2)).expect("rotate");
        assert_eq!(
            rotation,
            Rotation {
                kid: "mock-key-3".into(),
                retired: "mock-key-1".into()
            }
        );
        assert_eq!(set.active().kid(), "mock-key-3");
        assert_eq!(published_kids(&set), ["mock-key-2", "mock-key-3"]);
    }

    #[test]
    fn extra_jwks_are_appended_as_given_and_change_the_etag() {
        let mut set = memory_set();
        let (_, etag_before) = set.jwks();
        let etag_before = etag_before.to_owned();
        let extra = json!({"kty": "oct", "kid": "weird", "k": "AA"});
        set.add_extra(extra.as_object().expect("object").clone());
        let (body, etag) = set.jwks();
        assert_ne!(etag, etag_before);
        let doc: Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(doc["keys"][1], extra);
        set.clear_extra();
        assert_eq!(set.jwks().1, etag_before);
    }

    #[test]
    fn persistence_round_trip() {
        let dir = std::env::temp_dir().join(format!(
            "mock-idp-keys-test-{}-{}",
            std::process::id(),
            wall_nanos()
        ));
        let first = KeySet::open(Some(&dir)).expect("open fresh");
        assert_eq!(first.active().kid(), "mock-key-1");
        let path = dir.join(KEY_FILE);
        assert!(path.exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let mut first = first;
        first.announce(material(1)).expect("announce");
        let (jwks_before, _) = first.jwks();

        let second = KeySet::open(Some(&dir)).expect("reopen");
        assert_eq!(second.infos(), first.infos());
        assert_eq!(second.jwks().0, jwks_before, "same JWKS after a restart");
        let sig = second.active().sign(b"x").expect("sign");
        assert!(
            first.active().verify(b"x", &sig),
            "same private key after a restart"
        );
        assert_eq!(second.next_kid(), "mock-key-3");

        // No temporary files are left behind.
        let leftovers: Vec<_> = fs::read_dir(&dir)
            .expect("dir")
            .filter_map(Result::ok)
            .filter(|e| e.file_name() != KEY_FILE)
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");

        fs::write(&path, b"{not json").expect("corrupt it");
        assert!(matches!(
            KeySet::open(Some(&dir)),
            Err(KeyError::Corrupt { .. })
        ));
        let _ = fs::remove_dir_all(&dir);
    }

    fn wall_nanos() -> u128 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    }

    #[test]
    fn hex_encoding() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
    }
}
