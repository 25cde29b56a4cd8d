//! DPoP (RFC 9449) for the `dpop` variants: access tokens bound to a client key (`cnf.jkt`),
//! presented with the `DPoP` scheme and a proof JWT signed by that key.
//!
//! The proof is checked as RFC 9449 §4.3 lists: one `DPoP` header holding a JWS with
//! `typ: dpop+jwt`, an asymmetric `alg` (ES256 here) and a public `jwk` (no private part), a valid
//! signature by that key, a `jti`, `htm` and `htu` naming this request, an `iat` within five
//! minutes of now, and `ath` the hash of the access token. The key's thumbprint (RFC 7638) must
//! equal the token's `cnf.jkt`.

use aws_lc_rs::digest;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

/// How far a proof's `iat` may be from now, in seconds.
pub const IAT_WINDOW_SECS: f64 = 300.0;

/// The signing algorithms the target accepts for proofs (its metadata says so).
pub const ALGS: &[&str] = &["ES256"];

/// What a proof must name: the request it came with, and the token it goes with.
pub struct ProofContext<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub access_token: &'a str,
    pub now: f64,
}

/// Checks a proof and returns its key's thumbprint. `claims_checked` is false for the
/// `dpop-proof-unchecked` fault, which verifies the signature and the key but not what the proof
/// says about the request (`htm`, `htu`, `iat`, `ath`).
pub fn check_proof(
    proof: &str,
    cx: &ProofContext<'_>,
    claims_checked: bool,
) -> Result<String, String> {
    let parts: Vec<&str> = proof.split('.').collect();
    let [header_b64, claims_b64, signature_b64] = parts.as_slice() else {
        return Err("the DPoP proof is not a signed JWT".to_owned());
    };
    let header = decode_object(header_b64).ok_or("the DPoP proof header is not JSON")?;
    let claims = decode_object(claims_b64).ok_or("the DPoP proof claims are not JSON")?;
    if header.get("typ").and_then(Value::as_str) != Some("dpop+jwt") {
        return Err("the DPoP proof's typ is not dpop+jwt".to_owned());
    }
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
    if !ALGS.contains(&alg) {
        return Err(format!("the DPoP proof's alg {alg:?} is not supported"));
    }
    let jwk = header
        .get("jwk")
        .and_then(Value::as_object)
        .ok_or("the DPoP proof carries no jwk")?;
    if jwk.contains_key("d") {
        return Err("the DPoP proof's jwk holds a private key".to_owned());
    }
    let (x, y) = match (
        jwk.get("kty").and_then(Value::as_str),
        jwk.get("crv").and_then(Value::as_str),
        jwk.get("x").and_then(Value::as_str),
        jwk.get("y").and_then(Value::as_str),
    ) {
        (Some("EC"), Some("P-256"), Some(x), Some(y)) => (x, y),
        _ => return Err("the DPoP proof's jwk is not a P-256 EC public key".to_owned()),
    };
    let mut point = vec![0x04];
    for coordinate in [x, y] {
        let bytes = URL_SAFE_NO_PAD
            .decode(coordinate)
            .map_err(|_| "the DPoP proof's jwk is not base64url")?;
        if bytes.len() != 32 {
            return Err("the DPoP proof's jwk is not a P-256 point".to_owned());
        }
        point.extend(bytes);
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .map_err(|_| "the DPoP proof's signature is not base64url")?;
    let signing_input = format!("{header_b64}.{claims_b64}");
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point)
        .verify(signing_input.as_bytes(), &signature)
        .map_err(|_| "the DPoP proof's signature does not verify")?;
    if claims
        .get("jti")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err("the DPoP proof has no jti".to_owned());
    }
    if claims_checked {
        check_claims(&claims, cx)?;
    }
    Ok(thumbprint(x, y))
}

/// `htm`, `htu`, `iat` and `ath` against the request and the token.
fn check_claims(claims: &Map<String, Value>, cx: &ProofContext<'_>) -> Result<(), String> {
    if claims.get("htm").and_then(Value::as_str) != Some(cx.method) {
        return Err("the DPoP proof's htm is not this request's method".to_owned());
    }
    let htu = claims.get("htu").and_then(Value::as_str).unwrap_or("");
    if without_query(htu) != without_query(cx.url) {
        return Err("the DPoP proof's htu is not this request's URL".to_owned());
    }
    match claims.get("iat").and_then(Value::as_f64) {
        Some(iat) if (iat - cx.now).abs() <= IAT_WINDOW_SECS => {}
        _ => return Err("the DPoP proof's iat is missing or too far from now".to_owned()),
    }
    let ath = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, cx.access_token.as_bytes()));
    if claims.get("ath").and_then(Value::as_str) != Some(ath.as_str()) {
        return Err("the DPoP proof's ath is not the hash of this access token".to_owned());
    }
    Ok(())
}

/// The RFC 7638 thumbprint of a P-256 key.
pub fn thumbprint(x: &str, y: &str) -> String {
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, canonical.as_bytes()))
}

/// The `cnf.jkt` of a JWT's claims (read after the token itself was validated).
pub fn token_jkt(token: &str) -> Option<String> {
    let claims = decode_object(token.split('.').nth(1)?)?;
    claims.get("cnf")?.get("jkt")?.as_str().map(str::to_owned)
}

/// The access token of an `Authorization: DPoP <token>` header, if the request has one.
pub fn dpop_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("dpop")
        .then(|| token.trim())
        .filter(|t| !t.is_empty() && crate::http::is_token68(t))
}

fn without_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

fn decode_object(segment: &str) -> Option<Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(segment.trim_end_matches('=')).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprints_follow_rfc_7638() {
        // The canonical form lists crv, kty, x, y in that order, so swapping x and y is another
        // key and another thumbprint.
        let t = thumbprint(
            "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
        );
        assert_eq!(t.len(), 43);
        assert_ne!(
            t,
            thumbprint(
                "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
                "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"
            )
        );
    }

    #[test]
    fn the_dpop_scheme_is_read_case_insensitively() {
        assert_eq!(dpop_token("DPoP abc.def.ghi"), Some("abc.def.ghi"));
        assert_eq!(dpop_token("dpop abc"), Some("abc"));
        assert_eq!(dpop_token("Bearer abc"), None);
        assert_eq!(dpop_token("DPoP "), None);
    }

    #[test]
    fn malformed_proofs_are_refused() {
        let cx = ProofContext {
            method: "POST",
            url: "http://127.0.0.1:1/mcp",
            access_token: "t",
            now: 0.0,
        };
        assert!(check_proof("not-a-jwt", &cx, true).is_err());
        assert!(check_proof("a.b.c", &cx, true).is_err());
    }
}
