//! PKCE (RFC 7636) with S256 only: OAuth 2.1 §4.1.1 and the MCP authorization spec require it,
//! and `plain` protects nothing against an attacker who can read the authorization request.

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Why a `code_challenge` / `code_challenge_method` pair is refused, if it is.
pub(crate) fn challenge_problem(challenge: Option<&str>, method: Option<&str>) -> Option<String> {
    let Some(challenge) = challenge else {
        return Some("code_challenge is required (PKCE with S256)".to_owned());
    };
    match method {
        Some("S256") => {}
        // RFC 7636 §4.3: an absent method means plain, which this server does not accept.
        None => {
            return Some(
                "code_challenge_method is required and must be S256 (absent means plain)"
                    .to_owned(),
            );
        }
        Some("plain") => {
            return Some("code_challenge_method plain is not supported; use S256".to_owned());
        }
        Some(other) => {
            return Some(format!(
                "code_challenge_method {other:?} is not supported; use S256"
            ));
        }
    }
    // An S256 challenge is the base64url of a SHA-256 digest: exactly 43 characters.
    let well_formed = challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (!well_formed).then(|| {
        "code_challenge must be the base64url SHA-256 of the verifier (43 characters)".to_owned()
    })
}

/// Why a `code_verifier` does not satisfy `challenge`, if it does not.
pub(crate) fn verifier_problem(verifier: &str, challenge: &str) -> Option<&'static str> {
    // RFC 7636 §4.1: 43 to 128 unreserved characters.
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    if !well_formed {
        return Some("code_verifier must be 43 to 128 unreserved characters");
    }
    let computed = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()));
    verify_slices_are_equal(computed.as_bytes(), challenge.as_bytes())
        .err()
        .map(|_| "code_verifier does not match the code_challenge")
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn rfc_7636_example() {
        assert_eq!(challenge_problem(Some(CHALLENGE), Some("S256")), None);
        assert_eq!(verifier_problem(VERIFIER, CHALLENGE), None);
        let mut other = VERIFIER.to_owned();
        other.replace_range(0..1, "e");
        assert!(verifier_problem(&other, CHALLENGE).is_some());
    }

    #[test]
    fn plain_missing_and_malformed_are_refused() {
        assert!(challenge_problem(None, Some("S256")).is_some());
        assert!(challenge_problem(Some(CHALLENGE), None).is_some());
        assert!(challenge_problem(Some(CHALLENGE), Some("plain")).is_some());
        assert!(challenge_problem(Some(CHALLENGE), Some("s256")).is_some());
        assert!(challenge_problem(Some("short"), Some("S256")).is_some());
        assert!(verifier_problem("short", CHALLENGE).is_some());
        assert!(verifier_problem(&"a".repeat(129), CHALLENGE).is_some());
    }
}
