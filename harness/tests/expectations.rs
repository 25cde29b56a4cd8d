//! What the harness must conclude about each reference-target variant.
//!
//! A typed table, matched exhaustively: a new variant does not compile until it is graded here.
//! `fails` lists the checks the variant must fail; `not_testable` the checks that cannot be judged
//! because of it (for example, everything that needs a valid token when the valid token is
//! refused). Every other applicable check must pass.

use reference_target::Variant;

pub struct Expectation {
    pub fails: &'static [&'static str],
    pub not_testable: &'static [&'static str],
}

const fn fails(ids: &'static [&'static str]) -> Expectation {
    Expectation {
        fails: ids,
        not_testable: &[],
    }
}

/// Checks that depend on the unauthenticated request's Bearer challenge.
const NEEDS_CHALLENGE: &[&str] = &[
    "www.resource-metadata-param",
    "www.no-error-without-credentials",
    "www.scope-param",
];

/// Checks that need the positive control in introspection mode.
const NEEDS_VALID_INTROSPECTION: &[&str] = &[
    "introspect.inactive-rejected",
    "introspect.revocation-honoured",
    "introspect.aud-mismatch",
    "introspect.claims-validated",
    "introspect.error-fails-closed",
    "rs.scheme-case-insensitive",
    "rs.query-token-ignored",
    "scope.insufficient-403",
    "scope.challenge-params",
    "transport.session-not-auth",
];

pub fn expectation(variant: Variant) -> Expectation {
    match variant {
        Variant::Conformant | Variant::Introspection => fails(&[]),
        Variant::Unauthenticated403 => fails(&["rs.unauthenticated-401"]),
        Variant::PostOnlyAuth => fails(&["rs.all-methods-protected"]),
        Variant::NoWwwAuthenticate => Expectation {
            fails: &["rs.www-authenticate-bearer"],
            not_testable: NEEDS_CHALLENGE,
        },
        // The 403 challenge loses resource_metadata too, which MCP 2025-11-25 asks for there.
        Variant::NoResourceMetadataParam => {
            fails(&["www.resource-metadata-param", "scope.challenge-params"])
        }
        Variant::ErrorWithoutCredentials => fails(&["www.no-error-without-credentials"]),
        Variant::InvalidTokenNoError => fails(&["www.invalid-token-error"]),
        Variant::NoScopeParam => fails(&["www.scope-param"]),
        Variant::UnquotedChallengeParams => fails(&["www.challenge-syntax"]),
        Variant::MalformedAuth500 => fails(&["rs.malformed-authorization"]),
        Variant::CaseSensitiveScheme => fails(&["rs.scheme-case-insensitive"]),
        Variant::AcceptsQueryToken => fails(&["rs.query-token-ignored"]),
        Variant::NoPrm => fails(&["prm.discovery-mechanism"]),
        Variant::PrmRootOnly => fails(&["prm.path-inserted"]),
        Variant::PrmRequiresAuth => fails(&["prm.no-auth-required"]),
        Variant::PrmResourceFragment => Expectation {
            fails: &["prm.resource-valid"],
            not_testable: &["prm.resource-equals-request-url"],
        },
        Variant::PrmResourceTrailingSlash => fails(&["prm.resource-equals-request-url"]),
        Variant::PrmWellknownMismatch => fails(&["prm.wellknown-resource-consistency"]),
        Variant::PrmEmptyAuthorizationServers => Expectation {
            fails: &["prm.authorization-servers"],
            not_testable: &["prm.as-resolvable"],
        },
        Variant::PrmUnresolvableAs => fails(&["prm.as-resolvable"]),
        Variant::PrmAdvertisesQuery => fails(&["prm.optional-fields"]),
        Variant::RejectsArrayAud => fails(&["jwt.valid-accepted"]),
        Variant::AcceptsExpired => fails(&["jwt.expired-rejected"]),
        Variant::AcceptsMissingExp => fails(&["jwt.missing-exp-rejected"]),
        Variant::IgnoresNbf => fails(&["jwt.nbf-future-rejected"]),
        Variant::SignatureCache => fails(&["jwt.bad-signature"]),
        // Every check that presents a kid the target does not know sees the token accepted.
        Variant::UnknownKidUnverified => fails(&[
            "jwt.untrusted-key",
            "jwt.header-abuse",
            "jwks.removed-key-rejected",
        ]),
        Variant::AcceptsAlgNone => fails(&["jwt.alg-none"]),
        Variant::Hs256PublicKey => fails(&["jwt.alg-confusion"]),
        Variant::IgnoresIssuer => fails(&["jwt.wrong-issuer"]),
        Variant::IgnoresTyp => fails(&["jwt.typ-enforced"]),
        Variant::IgnoresCrit => fails(&["jwt.header-abuse"]),
        // Past the cool-down, not refetching for a new kid is a failure wherever a new kid appears;
        // the removal and outage checks never see a fetch and cannot be judged.
        Variant::JwksNeverRefetched => Expectation {
            fails: &["jwks.new-key-picked-up", "jwks.unknown-key-ignored"],
            not_testable: &["jwks.removed-key-rejected", "jwks.outage-fails-closed"],
        },
        Variant::JwksKeysAccumulate => fails(&["jwks.removed-key-rejected"]),
        Variant::JwksOutageFailsOpen => fails(&["jwks.outage-fails-closed"]),
        Variant::JwksStrictParse => fails(&["jwks.unknown-key-ignored"]),
        Variant::InsufficientScope401 => Expectation {
            fails: &["scope.insufficient-403"],
            not_testable: &["scope.challenge-params"],
        },
        Variant::InsufficientScopeBare403 => fails(&["scope.challenge-params"]),
        Variant::ScopeClaimOnly => fails(&["scope.claim-formats"]),
        Variant::IgnoresAudience => fails(&[
            "aud.wrong-audience",
            "aud.missing-audience",
            "aud.other-audiences",
        ]),
        Variant::AcceptsMissingAud => fails(&["aud.missing-audience"]),
        Variant::AudOriginMatch => fails(&["aud.other-audiences"]),
        Variant::SessionAuthenticates => fails(&["transport.session-not-auth"]),
        Variant::IntrospectRejectsArrayAud => fails(&["introspect.active-accepted"]),
        // The IdP refuses an unauthenticated caller, so no token is ever accepted: the positive
        // control fails, and with it every check that needs a valid token.
        Variant::IntrospectUnauthenticated => Expectation {
            fails: &["introspect.request-shape", "introspect.active-accepted"],
            not_testable: NEEDS_VALID_INTROSPECTION,
        },
        // The IdP answers active:false for tokens it does not know, so garbage gets in too.
        Variant::IntrospectIgnoresActive => fails(&[
            "introspect.inactive-rejected",
            "introspect.revocation-honoured",
            "www.invalid-token-error",
            "transport.session-not-auth",
        ]),
        Variant::IntrospectIgnoresAud => fails(&["introspect.aud-mismatch"]),
        Variant::IntrospectIgnoresClaims => fails(&["introspect.claims-validated"]),
        Variant::IntrospectFailsOpen => fails(&["introspect.error-fails-closed"]),
    }
}
