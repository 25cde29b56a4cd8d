//! The closed set of behaviours the reference target can run with.
//!
//! `Conformant` and `Introspection` implement every rule; every other variant breaks exactly one
//! rule, so that a conformance check can be shown to catch the fault it exists for. The variant
//! names are stable identifiers used on the command line and in reports.

use std::fmt;
use std::str::FromStr;

/// Which trust setup a variant is built for: local JWT validation or RFC 7662 introspection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValidationKind {
    /// Access tokens are JWTs (RFC 9068) verified against the issuer's JWKS.
    Jwt,
    /// Access tokens are checked by calling the issuer's introspection endpoint (RFC 7662).
    Introspection,
}

/// One behaviour of the reference target: conformant, or conformant except for one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    /// `conformant`: Implements every rule correctly (JWT trust).
    Conformant,
    /// `introspection`: Implements every rule correctly (introspection trust).
    Introspection,
    /// `unauthenticated-403`: Answers requests without credentials with 403 instead of 401.
    Unauthenticated403,
    /// `post-only-auth`: Authenticates only POST; GET and DELETE reach the MCP endpoint without any auth check.
    PostOnlyAuth,
    /// `no-www-authenticate`: Omits the WWW-Authenticate header from the 401 sent when credentials are missing.
    NoWwwAuthenticate,
    /// `no-resource-metadata-param`: Never puts resource_metadata in Bearer challenges, although the metadata document is served.
    NoResourceMetadataParam,
    /// `error-without-credentials`: Puts error="invalid_token" in the challenge sent when no credentials were given.
    ErrorWithoutCredentials,
    /// `invalid-token-no-error`: Omits error and error_description from the challenge sent for an invalid token.
    InvalidTokenNoError,
    /// `no-scope-param`: Omits the scope attribute from 401 challenges.
    NoScopeParam,
    /// `unquoted-challenge-params`: Sends resource_metadata as an unquoted value, which the token syntax does not allow for a URL.
    UnquotedChallengeParams,
    /// `malformed-auth-500`: Answers a Bearer header with an empty or blank token with 500.
    MalformedAuth500,
    /// `case-sensitive-scheme`: Recognises only the exact scheme spelling "Bearer"; other casings count as no credentials.
    CaseSensitiveScheme,
    /// `accepts-query-token`: Accepts an access token from the access_token query parameter when no Authorization header is sent.
    AcceptsQueryToken,
    /// `no-prm`: Serves no protected resource metadata and advertises none in challenges.
    NoPrm,
    /// `prm-root-only`: Serves the protected resource metadata only at the root well-known URL instead of the path-inserted one.
    PrmRootOnly,
    /// `prm-requires-auth`: Requires a valid bearer token to read the protected resource metadata.
    PrmRequiresAuth,
    /// `prm-resource-fragment`: Puts a fragment in the metadata resource identifier.
    PrmResourceFragment,
    /// `prm-resource-trailing-slash`: Adds a trailing slash to the metadata resource identifier, so it no longer equals the endpoint URL.
    PrmResourceTrailingSlash,
    /// `prm-wellknown-mismatch`: Serves, at the well-known URL, metadata whose resource is only the origin, and points challenges at another URL.
    PrmWellknownMismatch,
    /// `prm-empty-authorization-servers`: Lists no authorization servers in the metadata.
    PrmEmptyAuthorizationServers,
    /// `prm-unresolvable-as`: Lists an authorization server whose metadata cannot be fetched.
    PrmUnresolvableAs,
    /// `prm-advertises-query`: Advertises the query bearer method in the metadata although query tokens are refused.
    PrmAdvertisesQuery,
    /// `rejects-array-aud`: Rejects a JWT whose aud is an array, even one containing the audience.
    RejectsArrayAud,
    /// `accepts-expired`: Accepts a JWT whose exp is in the past.
    AcceptsExpired,
    /// `accepts-missing-exp`: Accepts a JWT without an exp claim.
    AcceptsMissingExp,
    /// `ignores-nbf`: Does not check the nbf claim.
    IgnoresNbf,
    /// `signature-cache`: Skips signature verification for a JWT whose header and payload were accepted before.
    SignatureCache,
    /// `unknown-kid-unverified`: Accepts a JWT whose kid is not in the JWKS without verifying its signature.
    UnknownKidUnverified,
    /// `accepts-alg-none`: Accepts unsigned JWTs with alg none.
    AcceptsAlgNone,
    /// `hs256-public-key`: Verifies HS256 JWTs with HMAC keyed by the RSA public key rendered as PEM text (algorithm confusion).
    Hs256PublicKey,
    /// `ignores-issuer`: Does not check the iss claim.
    IgnoresIssuer,
    /// `ignores-typ`: Does not check that the JWT typ header is at+jwt.
    IgnoresTyp,
    /// `ignores-crit`: Does not reject JWTs carrying a crit header.
    IgnoresCrit,
    /// `jwks-never-refetched`: Fetches the JWKS once and never again, so rotated keys are never learned.
    JwksNeverRefetched,
    /// `jwks-keys-accumulate`: Keeps trusting keys that were removed from the JWKS.
    JwksKeysAccumulate,
    /// `jwks-outage-fails-open`: Accepts a JWT without verifying its signature when the JWKS cannot be fetched.
    JwksOutageFailsOpen,
    /// `jwks-strict-parse`: Rejects the whole JWKS when it contains one key the server cannot use.
    JwksStrictParse,
    /// `insufficient-scope-401`: Answers a valid token lacking a required scope with 401 invalid_token instead of 403.
    InsufficientScope401,
    /// `insufficient-scope-bare-403`: Sends a 403 insufficient_scope challenge without the scope and resource_metadata attributes.
    InsufficientScopeBare403,
    /// `scope-claim-only`: Reads scopes only from the scope claim and ignores scp.
    ScopeClaimOnly,
    /// `ignores-audience`: Does not check the aud claim at all.
    IgnoresAudience,
    /// `accepts-missing-aud`: Accepts a JWT without an aud claim.
    AcceptsMissingAud,
    /// `aud-origin-match`: Compares audiences by origin only, accepting any path on the same origin.
    AudOriginMatch,
    /// `session-authenticates`: Lets requests through on an authenticated session id without validating their Authorization header.
    SessionAuthenticates,
    /// `introspect-rejects-array-aud`: Rejects an introspection answer whose aud is an array, even one containing the audience.
    IntrospectRejectsArrayAud,
    /// `introspect-unauthenticated`: Calls the introspection endpoint without client authentication.
    IntrospectUnauthenticated,
    /// `introspect-ignores-active`: Does not check the active member of the introspection answer.
    IntrospectIgnoresActive,
    /// `introspect-ignores-aud`: Does not check the aud member of the introspection answer.
    IntrospectIgnoresAud,
    /// `introspect-ignores-claims`: Does not check exp, iss and token_type in the introspection answer.
    IntrospectIgnoresClaims,
    /// `introspect-fails-open`: Lets the request through when the introspection call fails.
    IntrospectFailsOpen,
}

impl Variant {
    /// Every variant, conformant ones first, in a stable order.
    pub const ALL: &'static [Variant] = &[
        Variant::Conformant,
        Variant::Introspection,
        Variant::Unauthenticated403,
        Variant::PostOnlyAuth,
        Variant::NoWwwAuthenticate,
        Variant::NoResourceMetadataParam,
        Variant::ErrorWithoutCredentials,
        Variant::InvalidTokenNoError,
        Variant::NoScopeParam,
        Variant::UnquotedChallengeParams,
        Variant::MalformedAuth500,
        Variant::CaseSensitiveScheme,
        Variant::AcceptsQueryToken,
        Variant::NoPrm,
        Variant::PrmRootOnly,
        Variant::PrmRequiresAuth,
        Variant::PrmResourceFragment,
        Variant::PrmResourceTrailingSlash,
        Variant::PrmWellknownMismatch,
        Variant::PrmEmptyAuthorizationServers,
        Variant::PrmUnresolvableAs,
        Variant::PrmAdvertisesQuery,
        Variant::RejectsArrayAud,
        Variant::AcceptsExpired,
        Variant::AcceptsMissingExp,
        Variant::IgnoresNbf,
        Variant::SignatureCache,
        Variant::UnknownKidUnverified,
        Variant::AcceptsAlgNone,
        Variant::Hs256PublicKey,
        Variant::IgnoresIssuer,
        Variant::IgnoresTyp,
        Variant::IgnoresCrit,
        Variant::JwksNeverRefetched,
        Variant::JwksKeysAccumulate,
        Variant::JwksOutageFailsOpen,
        Variant::JwksStrictParse,
        Variant::InsufficientScope401,
        Variant::InsufficientScopeBare403,
        Variant::ScopeClaimOnly,
        Variant::IgnoresAudience,
        Variant::AcceptsMissingAud,
        Variant::AudOriginMatch,
        Variant::SessionAuthenticates,
        Variant::IntrospectRejectsArrayAud,
        Variant::IntrospectUnauthenticated,
        Variant::IntrospectIgnoresActive,
        Variant::IntrospectIgnoresAud,
        Variant::IntrospectIgnoresClaims,
        Variant::IntrospectFailsOpen,
    ];

    /// The stable kebab-case name of the variant.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Conformant => "conformant",
            Variant::Introspection => "introspection",
            Variant::Unauthenticated403 => "unauthenticated-403",
            Variant::PostOnlyAuth => "post-only-auth",
            Variant::NoWwwAuthenticate => "no-www-authenticate",
            Variant::NoResourceMetadataParam => "no-resource-metadata-param",
            Variant::ErrorWithoutCredentials => "error-without-credentials",
            Variant::InvalidTokenNoError => "invalid-token-no-error",
            Variant::NoScopeParam => "no-scope-param",
            Variant::UnquotedChallengeParams => "unquoted-challenge-params",
            Variant::MalformedAuth500 => "malformed-auth-500",
            Variant::CaseSensitiveScheme => "case-sensitive-scheme",
            Variant::AcceptsQueryToken => "accepts-query-token",
            Variant::NoPrm => "no-prm",
            Variant::PrmRootOnly => "prm-root-only",
            Variant::PrmRequiresAuth => "prm-requires-auth",
            Variant::PrmResourceFragment => "prm-resource-fragment",
            Variant::PrmResourceTrailingSlash => "prm-resource-trailing-slash",
            Variant::PrmWellknownMismatch => "prm-wellknown-mismatch",
            Variant::PrmEmptyAuthorizationServers => "prm-empty-authorization-servers",
            Variant::PrmUnresolvableAs => "prm-unresolvable-as",
            Variant::PrmAdvertisesQuery => "prm-advertises-query",
            Variant::RejectsArrayAud => "rejects-array-aud",
            Variant::AcceptsExpired => "accepts-expired",
            Variant::AcceptsMissingExp => "accepts-missing-exp",
            Variant::IgnoresNbf => "ignores-nbf",
            Variant::SignatureCache => "signature-cache",
            Variant::UnknownKidUnverified => "unknown-kid-unverified",
            Variant::AcceptsAlgNone => "accepts-alg-none",
            Variant::Hs256PublicKey => "hs256-public-key",
            Variant::IgnoresIssuer => "ignores-issuer",
            Variant::IgnoresTyp => "ignores-typ",
            Variant::IgnoresCrit => "ignores-crit",
            Variant::JwksNeverRefetched => "jwks-never-refetched",
            Variant::JwksKeysAccumulate => "jwks-keys-accumulate",
            Variant::JwksOutageFailsOpen => "jwks-outage-fails-open",
            Variant::JwksStrictParse => "jwks-strict-parse",
            Variant::InsufficientScope401 => "insufficient-scope-401",
            Variant::InsufficientScopeBare403 => "insufficient-scope-bare-403",
            Variant::ScopeClaimOnly => "scope-claim-only",
            Variant::IgnoresAudience => "ignores-audience",
            Variant::AcceptsMissingAud => "accepts-missing-aud",
            Variant::AudOriginMatch => "aud-origin-match",
            Variant::SessionAuthenticates => "session-authenticates",
            Variant::IntrospectRejectsArrayAud => "introspect-rejects-array-aud",
            Variant::IntrospectUnauthenticated => "introspect-unauthenticated",
            Variant::IntrospectIgnoresActive => "introspect-ignores-active",
            Variant::IntrospectIgnoresAud => "introspect-ignores-aud",
            Variant::IntrospectIgnoresClaims => "introspect-ignores-claims",
            Variant::IntrospectFailsOpen => "introspect-fails-open",
        }
    }

    /// One sentence saying which rule the variant breaks (or that it breaks none).
    pub fn description(self) -> &'static str {
        match self {
            Variant::Conformant => "Implements every rule correctly (JWT trust).",
            Variant::Introspection => "Implements every rule correctly (introspection trust).",
            Variant::Unauthenticated403 => {
                "Answers requests without credentials with 403 instead of 401."
            }
            Variant::PostOnlyAuth => {
                "Authenticates only POST; GET and DELETE reach the MCP endpoint without any auth check."
            }
            Variant::NoWwwAuthenticate => {
                "Omits the WWW-Authenticate header from the 401 sent when credentials are missing."
            }
            Variant::NoResourceMetadataParam => {
                "Never puts resource_metadata in Bearer challenges, although the metadata document is served."
            }
            Variant::ErrorWithoutCredentials => {
                "Puts error=\"invalid_token\" in the challenge sent when no credentials were given."
            }
            Variant::InvalidTokenNoError => {
                "Omits error and error_description from the challenge sent for an invalid token."
            }
            Variant::NoScopeParam => "Omits the scope attribute from 401 challenges.",
            Variant::UnquotedChallengeParams => {
                "Sends resource_metadata as an unquoted value, which the token syntax does not allow for a URL."
            }
            Variant::MalformedAuth500 => {
                "Answers a Bearer header with an empty or blank token with 500."
            }
            Variant::CaseSensitiveScheme => {
                "Recognises only the exact scheme spelling \"Bearer\"; other casings count as no credentials."
            }
            Variant::AcceptsQueryToken => {
                "Accepts an access token from the access_token query parameter when no Authorization header is sent."
            }
            Variant::NoPrm => {
                "Serves no protected resource metadata and advertises none in challenges."
            }
            Variant::PrmRootOnly => {
                "Serves the protected resource metadata only at the root well-known URL instead of the path-inserted one."
            }
            Variant::PrmRequiresAuth => {
                "Requires a valid bearer token to read the protected resource metadata."
            }
            Variant::PrmResourceFragment => "Puts a fragment in the metadata resource identifier.",
            Variant::PrmResourceTrailingSlash => {
                "Adds a trailing slash to the metadata resource identifier, so it no longer equals the endpoint URL."
            }
            Variant::PrmWellknownMismatch => {
                "Serves, at the well-known URL, metadata whose resource is only the origin, and points challenges at another URL."
            }
            Variant::PrmEmptyAuthorizationServers => {
                "Lists no authorization servers in the metadata."
            }
            Variant::PrmUnresolvableAs => {
                "Lists an authorization server whose metadata cannot be fetched."
            }
            Variant::PrmAdvertisesQuery => {
                "Advertises the query bearer method in the metadata although query tokens are refused."
            }
            Variant::RejectsArrayAud => {
                "Rejects a JWT whose aud is an array, even one containing the audience."
            }
            Variant::AcceptsExpired => "Accepts a JWT whose exp is in the past.",
            Variant::AcceptsMissingExp => "Accepts a JWT without an exp claim.",
            Variant::IgnoresNbf => "Does not check the nbf claim.",
            Variant::SignatureCache => {
                "Skips signature verification for a JWT whose header and payload were accepted before."
            }
            Variant::UnknownKidUnverified => {
                "Accepts a JWT whose kid is not in the JWKS without verifying its signature."
            }
            Variant::AcceptsAlgNone => "Accepts unsigned JWTs with alg none.",
            Variant::Hs256PublicKey => {
                "Verifies HS256 JWTs with HMAC keyed by the RSA public key rendered as PEM text (algorithm confusion)."
            }
            Variant::IgnoresIssuer => "Does not check the iss claim.",
            Variant::IgnoresTyp => "Does not check that the JWT typ header is at+jwt.",
            Variant::IgnoresCrit => "Does not reject JWTs carrying a crit header.",
            Variant::JwksNeverRefetched => {
                "Fetches the JWKS once and never again, so rotated keys are never learned."
            }
            Variant::JwksKeysAccumulate => "Keeps trusting keys that were removed from the JWKS.",
            Variant::JwksOutageFailsOpen => {
                "Accepts a JWT without verifying its signature when the JWKS cannot be fetched."
            }
            Variant::JwksStrictParse => {
                "Rejects the whole JWKS when it contains one key the server cannot use."
            }
            Variant::InsufficientScope401 => {
                "Answers a valid token lacking a required scope with 401 invalid_token instead of 403."
            }
            Variant::InsufficientScopeBare403 => {
                "Sends a 403 insufficient_scope challenge without the scope and resource_metadata attributes."
            }
            Variant::ScopeClaimOnly => "Reads scopes only from the scope claim and ignores scp.",
            Variant::IgnoresAudience => "Does not check the aud claim at all.",
            Variant::AcceptsMissingAud => "Accepts a JWT without an aud claim.",
            Variant::AudOriginMatch => {
                "Compares audiences by origin only, accepting any path on the same origin."
            }
            Variant::SessionAuthenticates => {
                "Lets requests through on an authenticated session id without validating their Authorization header."
            }
            Variant::IntrospectRejectsArrayAud => {
                "Rejects an introspection answer whose aud is an array, even one containing the audience."
            }
            Variant::IntrospectUnauthenticated => {
                "Calls the introspection endpoint without client authentication."
            }
            Variant::IntrospectIgnoresActive => {
                "Does not check the active member of the introspection answer."
            }
            Variant::IntrospectIgnoresAud => {
                "Does not check the aud member of the introspection answer."
            }
            Variant::IntrospectIgnoresClaims => {
                "Does not check exp, iss and token_type in the introspection answer."
            }
            Variant::IntrospectFailsOpen => {
                "Lets the request through when the introspection call fails."
            }
        }
    }

    /// The trust setup the variant is built for: introspection for the `introspect*` variants,
    /// JWT validation for all others.
    pub fn validation(self) -> ValidationKind {
        if self.name().starts_with("introspect") {
            ValidationKind::Introspection
        } else {
            ValidationKind::Jwt
        }
    }

    /// True for the two variants that break no rule.
    pub fn is_conformant(self) -> bool {
        matches!(self, Variant::Conformant | Variant::Introspection)
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error returned when a string names no variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown variant {0:?} (run with --list-variants to see them all)")]
pub struct UnknownVariant(pub String);

impl FromStr for Variant {
    type Err = UnknownVariant;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Variant::ALL
            .iter()
            .copied()
            .find(|variant| variant.name() == s)
            .ok_or_else(|| UnknownVariant(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_kebab_case_and_round_trip() {
        let mut seen = HashSet::new();
        for &variant in Variant::ALL {
            let name = variant.name();
            assert!(seen.insert(name), "duplicate name {name}");
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{name} is not kebab-case"
            );
            assert_eq!(name.parse::<Variant>(), Ok(variant));
            assert!(!variant.description().is_empty());
        }
        assert!("Conformant".parse::<Variant>().is_err());
    }

    #[test]
    fn validation_kind_follows_the_name() {
        assert_eq!(Variant::Conformant.validation(), ValidationKind::Jwt);
        assert_eq!(
            Variant::Introspection.validation(),
            ValidationKind::Introspection
        );
        assert_eq!(
            Variant::IntrospectFailsOpen.validation(),
            ValidationKind::Introspection
        );
        assert_eq!(
            Variant::SessionAuthenticates.validation(),
            ValidationKind::Jwt
        );
        let introspecting = Variant::ALL
            .iter()
            .filter(|v| v.validation() == ValidationKind::Introspection)
            .count();
        assert_eq!(introspecting, 7);
    }
}
