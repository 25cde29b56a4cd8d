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
    /// Checks that pass with a warning (a SHOULD inside a MUST check broken as a consequence).
    pub warns: &'static [&'static str],
}

const fn fails(ids: &'static [&'static str]) -> Expectation {
    Expectation {
        warns: &[],
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
    "passthrough.no-downstream-forward",
    "scope.per-operation-403",
    "scope.single-challenge",
    "scope.hierarchy",
    "transport.origin-validation",
    "transport.header-mismatch",
    "transport.state-handle-not-auth",
    "transport.session-user-binding",
];

/// Checks that need a token the target accepts but which lacks a scope: a target that accepts
/// only the tokens its own authorization server issues never gets one.
const AS_NO_MINTED: &[&str] = &["scope.insufficient-403", "scope.challenge-params"];

/// An `as-*` variant that fails `ids` and nothing else.
const fn as_fails(ids: &'static [&'static str]) -> Expectation {
    Expectation {
        warns: &[],
        fails: ids,
        not_testable: AS_NO_MINTED,
    }
}

/// What cannot be judged without a login, besides the metadata-document checks.
const NO_LOGIN_BASE: &[&str] = &[
    "scope.insufficient-403",
    "scope.challenge-params",
    "scope.per-operation-403",
    "transport.session-not-auth",
    "transport.origin-validation",
    "transport.header-mismatch",
    "transport.state-handle-not-auth",
    "rs.refresh-token-as-bearer",
    "pkce.missing-verifier",
    "pkce.required",
    "pkce.s256-flow",
    "pkce.wrong-verifier",
    "redirect.exact-match",
    "redirect.localhost-any-port",
    "redirect.lookalikes",
    "redirect.loopback-any-port",
    "redirect.loopback-strict-rest",
    "redirect.no-redirect-on-bad-client",
    "authz.code-binding",
    "authz.code-single-use",
    "authz.error-redirects",
    "token.auth-method-enforced",
    "token.headers",
    "token.invalid-grant",
    "token.invalid-request",
    "token.no-200-errors",
    "token.success-shape",
    "token.unauthorized-client",
    "token.unsupported-grant",
    "refresh.client-binding",
    "refresh.dead-token-error",
    "refresh.no-scope-escalation",
    "refresh.rotation-public",
    "refresh.works",
    "resource.as-binds-audience",
    "resource.as-invalid-target",
    "consent.anti-framing",
    "consent.csrf",
    "consent.page-content",
    "consent.per-client",
    "consent.cross-site-prompt",
    "pkce.downgrade",
    "scope.as-reports-granted",
    "resource.slash-variants",
    "consent.cookie-flags",
    "consent.redirect-change",
    "passthrough.no-downstream-forward",
    "dcr.client-usable",
    "cimd.fetched",
];

/// The metadata-document checks that first need a valid document accepted.
const CIMD_AFTER_CONTROL: &[&str] = &[
    "cimd.client-id-mismatch",
    "cimd.fetch-safety",
    "cimd.invalid-document",
    "cimd.no-shared-secret",
    "cimd.redirect-not-listed",
    "cimd.consent-shows-host",
];

/// What cannot be judged once the headless login obtained no token at all.
const AS_NO_LOGIN: &[&str] = &concat::<{ NO_LOGIN_BASE.len() + CIMD_AFTER_CONTROL.len() }>(
    NO_LOGIN_BASE,
    CIMD_AFTER_CONTROL,
);

/// A metadata document that is never fetched leaves only [`AS_NO_MINTED`] and the checks
/// that need one accepted.
const CIMD_NEVER_FETCHED: &[&str] =
    &concat::<{ AS_NO_MINTED.len() + CIMD_AFTER_CONTROL.len() }>(AS_NO_MINTED, CIMD_AFTER_CONTROL);

/// What needs the authorization response, beyond [`AS_NO_LOGIN`].
const AUTHORIZATION_ONLY: &[&str] = &[
    "as-meta.iss-flag",
    "authz.iss",
    "authz.state-echo",
    "token.invalid-client-401",
    "resource.as-accepts-param",
];

/// [`AS_NO_LOGIN`] plus what needs the authorization response, when the login stopped before it.
const AS_NO_AUTHORIZATION: &[&str] =
    &concat::<{ AS_NO_LOGIN.len() + AUTHORIZATION_ONLY.len() }>(AS_NO_LOGIN, AUTHORIZATION_ONLY);

/// Without dynamic registration (and without --client-id) there is no confidential client for
/// the client_credentials grant either.
const PRE_REGISTERED: &[&str] =
    &concat::<{ AS_NO_AUTHORIZATION.len() + 1 }>(AS_NO_AUTHORIZATION, &["ext.client-credentials"]);

/// [`AS_NO_MINTED`], and no confidential client for the client_credentials grant.
const NO_MACHINE_CLIENT: &[&str] =
    &concat::<{ AS_NO_MINTED.len() + 1 }>(AS_NO_MINTED, &["ext.client-credentials"]);

/// [`AS_NO_LOGIN`], and the resource parameter refused at the token endpoint as well.
const NO_LOGIN_NO_RESOURCE: &[&str] =
    &concat::<{ AS_NO_LOGIN.len() + 1 }>(AS_NO_LOGIN, &["ext.client-credentials"]);

/// A registration refused for `application_type: native` stops the login's own registration,
/// whose answer `dcr.echo-metadata` judges.
const NATIVE_REFUSED: &[&str] =
    &concat::<{ AS_NO_AUTHORIZATION.len() + 1 }>(AS_NO_AUTHORIZATION, &["dcr.echo-metadata"]);

/// What needs the authorization-server metadata, beyond [`AS_NO_AUTHORIZATION`].
const METADATA_ONLY: &[&str] = &[
    "as-meta.cimd-offered",
    "as-meta.endpoints-live",
    "as-meta.issuer-match",
    "as-meta.pkce-s256",
    "as-meta.registration-advertised",
    "as-meta.required-fields",
    "dcr.application-type",
    "dcr.echo-metadata",
    "dcr.error-codes",
    "dcr.lenient-input",
    "dcr.register-basic",
    "token.unknown-client",
    "ext.client-credentials",
];

/// When no metadata is found where clients look, nothing after discovery can be judged.
const AS_NO_METADATA: &[&str] = &concat::<{ AS_NO_AUTHORIZATION.len() + METADATA_ONLY.len() }>(
    AS_NO_AUTHORIZATION,
    METADATA_ONLY,
);

/// Two lists as one (the lists above are built from each other at compile time).
const fn concat<const N: usize>(a: &[&'static str], b: &[&'static str]) -> [&'static str; N] {
    let mut out = [""; N];
    let mut i = 0;
    while i < a.len() {
        out[i] = a[i];
        i += 1;
    }
    while i < N {
        out[i] = b[i - a.len()];
        i += 1;
    }
    out
}

pub fn expectation(variant: Variant) -> Expectation {
    match variant {
        Variant::Conformant
        | Variant::Introspection
        | Variant::ModernOnly
        | Variant::LegacyOnly
        | Variant::Dpop => fails(&[]),
        Variant::DpopProofUnchecked => fails(&["ext.dpop"]),
        // The legacy wire checks the audience, so only the modern era's verdicts fail.
        Variant::ModernSkipsAudience => fails(&[
            "aud.wrong-audience",
            "aud.missing-audience",
            "aud.other-audiences",
        ]),
        Variant::ModernSessionAuthenticates => fails(&["transport.state-handle-not-auth"]),
        Variant::SessionUnbound => fails(&["transport.session-user-binding"]),
        Variant::OriginNotValidated => fails(&["transport.origin-validation"]),
        Variant::HeaderMismatchAccepted | Variant::HeaderRoutedAuth => {
            fails(&["transport.header-mismatch"])
        }
        Variant::OfflineAccessAdvertised => fails(&["scope.no-offline-access"]),
        // The tool error is no challenge, so nothing says what a step-up would need.
        Variant::OperationScopeToolError => Expectation {
            warns: &[],
            fails: &["scope.per-operation-403"],
            not_testable: &["scope.single-challenge", "scope.hierarchy"],
        },
        Variant::ScopeChallengeIncremental => fails(&["scope.single-challenge"]),
        Variant::ScopeHierarchyIgnored => fails(&["scope.hierarchy"]),
        Variant::ReflectsForwardedHost => fails(&["transport.host-not-reflected"]),
        Variant::PrmHttpJwksUri => fails(&["transport.https"]),
        Variant::JwksRefetchUnbounded => fails(&["jwks.refetch-rate-limited"]),
        Variant::AsRefreshTokenAccepted => as_fails(&["rs.refresh-token-as-bearer"]),
        Variant::AsClientCredentialsRefused => as_fails(&["ext.client-credentials"]),
        Variant::ForwardsToken => fails(&["passthrough.no-downstream-forward"]),
        Variant::Unauthenticated403 => fails(&["rs.unauthenticated-401"]),
        Variant::PostOnlyAuth => fails(&["rs.all-methods-protected"]),
        Variant::NoWwwAuthenticate => Expectation {
            warns: &[],
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
            warns: &[],
            fails: &["prm.resource-valid"],
            not_testable: &["prm.resource-equals-request-url"],
        },
        Variant::PrmResourceTrailingSlash => fails(&["prm.resource-equals-request-url"]),
        Variant::PrmWellknownMismatch => fails(&["prm.wellknown-resource-consistency"]),
        Variant::PrmEmptyAuthorizationServers => Expectation {
            warns: &[],
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
        // Every check that presents a kid the target does not know sees the token accepted, so
        // a burst of them shows nothing of the refetches.
        Variant::UnknownKidUnverified => Expectation {
            warns: &[],
            fails: &[
                "jwt.untrusted-key",
                "jwt.header-abuse",
                "jwks.removed-key-rejected",
            ],
            not_testable: &["jwks.refetch-rate-limited"],
        },
        Variant::AcceptsAlgNone => fails(&["jwt.alg-none"]),
        Variant::Hs256PublicKey => fails(&["jwt.alg-confusion"]),
        Variant::IgnoresIssuer => fails(&["jwt.wrong-issuer"]),
        Variant::IgnoresTyp => fails(&["jwt.typ-enforced"]),
        Variant::IgnoresCrit => fails(&["jwt.header-abuse"]),
        // Past the cool-down, not refetching for a new kid is a failure wherever a new kid appears;
        // the removal check never sees a fetch and cannot be judged. The outage is shown to a
        // restarted target, which has loaded nothing yet: it fetches, meets the outage and
        // refuses, so that check passes.
        Variant::JwksNeverRefetched => Expectation {
            warns: &[],
            fails: &["jwks.new-key-picked-up", "jwks.unknown-key-ignored"],
            not_testable: &["jwks.removed-key-rejected"],
        },
        Variant::JwksKeysAccumulate => fails(&["jwks.removed-key-rejected"]),
        Variant::JwksOutageFailsOpen => fails(&["jwks.outage-fails-closed"]),
        Variant::JwksStrictParse => fails(&["jwks.unknown-key-ignored"]),
        // Every scope refusal is a 401, so no challenge says what a step-up would need.
        Variant::InsufficientScope401 => Expectation {
            warns: &[],
            fails: &["scope.insufficient-403", "scope.per-operation-403"],
            not_testable: &[
                "scope.challenge-params",
                "scope.single-challenge",
                "scope.hierarchy",
            ],
        },
        // The 403 names no scope, so neither does the per-operation one.
        Variant::InsufficientScopeBare403 => Expectation {
            warns: &[],
            fails: &["scope.challenge-params", "scope.per-operation-403"],
            not_testable: &["scope.single-challenge", "scope.hierarchy"],
        },
        Variant::ScopeClaimOnly => fails(&["scope.claim-formats"]),
        Variant::IgnoresAudience => fails(&[
            "aud.wrong-audience",
            "aud.missing-audience",
            "aud.other-audiences",
        ]),
        Variant::AcceptsMissingAud => fails(&["aud.missing-audience"]),
        Variant::AudOriginMatch => fails(&["aud.other-audiences"]),
        // A session id that replaces the token lets any user into any session, and skips the
        // scope check of the operation too (the tool then refuses with a tool error).
        Variant::SessionAuthenticates => fails(&[
            "transport.session-not-auth",
            "transport.session-user-binding",
            "scope.per-operation-403",
        ]),
        Variant::IntrospectRejectsArrayAud => fails(&["introspect.active-accepted"]),
        // The IdP refuses an unauthenticated caller, so no token is ever accepted: the positive
        // control fails, and with it every check that needs a valid token.
        Variant::IntrospectUnauthenticated => Expectation {
            warns: &[],
            fails: &["introspect.request-shape", "introspect.active-accepted"],
            not_testable: NEEDS_VALID_INTROSPECTION,
        },
        // The IdP answers active:false for tokens it does not know, so garbage gets in too
        // (though not into a session, which belongs to the user who opened it).
        Variant::IntrospectIgnoresActive => fails(&[
            "introspect.inactive-rejected",
            "introspect.revocation-honoured",
            "www.invalid-token-error",
            "transport.state-handle-not-auth",
        ]),
        Variant::IntrospectIgnoresAud => fails(&["introspect.aud-mismatch"]),
        Variant::IntrospectIgnoresClaims => fails(&["introspect.claims-validated"]),
        Variant::IntrospectFailsOpen => fails(&["introspect.error-fails-closed"]),
        Variant::AsConformant | Variant::AsConsentPage => as_fails(&[]),
        // Its metadata is found through the protected-resource metadata; 2025-03-26 clients,
        // which look at the origin root, do not find it (an INFO finding).
        Variant::AsIssuerPath => as_fails(&["legacy.mar26-as-location"]),
        // Without a registration path and without --client-id, the login stops at registration.
        Variant::AsPreRegistered => Expectation {
            warns: &[],
            fails: &["login.headless-flow", "as-meta.registration-advertised"],
            not_testable: PRE_REGISTERED,
        },
        // Without a challenge the verifier is not looked at either, so a downgrade goes through.
        Variant::AsDcrOnly => as_fails(&["as-meta.cimd-offered"]),
        Variant::AsPkceNotRequired => as_fails(&["pkce.required", "pkce.downgrade"]),
        Variant::AsTokenScopeOmitted => as_fails(&["scope.as-reports-granted"]),
        Variant::AsPkcePlainAccepted => as_fails(&["pkce.s256-flow"]),
        Variant::AsPkceAbsentMethodS256 => as_fails(&["pkce.s256-flow"]),
        // A machine client authenticates with the Basic header alone too.
        Variant::AsBasicNeedsBodyClientId => {
            as_fails(&["token.auth-method-enforced", "ext.client-credentials"])
        }
        Variant::AsClientSecretPostIgnored => as_fails(&["token.auth-method-enforced"]),
        Variant::AsNoScopeDefault => as_fails(&["scope.as-reports-granted"]),
        Variant::AsPkceVerifierUnchecked => {
            as_fails(&["pkce.missing-verifier", "pkce.wrong-verifier"])
        }
        Variant::AsNoStateEcho => as_fails(&["authz.state-echo"]),
        Variant::AsNoIss => as_fails(&["as-meta.iss-flag", "authz.iss"]),
        Variant::AsReusableCodes => as_fails(&["authz.code-single-use"]),
        Variant::AsUnboundCodes => as_fails(&["authz.code-binding"]),
        // Every check that expects invalid_client sees unauthorized_client.
        Variant::AsUnauthorizedClientForBadCredentials => as_fails(&[
            "token.auth-method-enforced",
            "token.invalid-client-401",
            "token.unknown-client",
        ]),
        // Every check that sees invalid_grant judges its status (the rfc profile).
        Variant::AsInvalidGrant401 => as_fails(&[
            "token.invalid-grant",
            "pkce.wrong-verifier",
            "authz.code-binding",
            "authz.code-single-use",
            "refresh.client-binding",
            "refresh.dead-token-error",
            "refresh.rotation-public",
        ]),
        // Every check that judges an error's status sees 200.
        Variant::AsErrors200 => as_fails(&[
            "pkce.missing-verifier",
            "pkce.wrong-verifier",
            "authz.code-binding",
            "authz.code-single-use",
            "refresh.client-binding",
            "refresh.dead-token-error",
            "refresh.rotation-public",
            "token.invalid-client-401",
            "token.invalid-grant",
            "token.invalid-request",
            "token.no-200-errors",
            "token.unauthorized-client",
            "token.unknown-client",
            "token.unsupported-grant",
        ]),
        Variant::AsNoCacheControl => as_fails(&["token.headers"]),
        Variant::AsRefreshNotRotated => as_fails(&["refresh.rotation-public"]),
        Variant::AsRefreshUnbound => as_fails(&["refresh.client-binding"]),
        Variant::AsRefreshScopeEscalation => as_fails(&["refresh.no-scope-escalation"]),
        Variant::AsAudienceWidened => as_fails(&["resource.as-binds-audience"]),
        // The token is bound to the resource as spelled, which the MCP endpoint then refuses.
        Variant::AsAnyResource => {
            as_fails(&["resource.as-invalid-target", "resource.slash-variants"])
        }
        Variant::AsRegister200 => as_fails(&["dcr.register-basic"]),
        // Without client_secret in the answer the client looks public, so token.invalid-client-401
        // has no confidential client and is skipped.
        // ... nor a client secret for the client_credentials grant.
        Variant::AsRegisterNoEcho => Expectation {
            warns: &[],
            fails: &["dcr.echo-metadata"],
            not_testable: NO_MACHINE_CLIENT,
        },
        Variant::AsRegisterAnyRedirect => as_fails(&["dcr.error-codes"]),
        // A machine client's registration has no redirect URIs or response types either.
        Variant::AsRegisterStrict => Expectation {
            warns: &[],
            fails: &["dcr.lenient-input"],
            not_testable: NO_MACHINE_CLIENT,
        },
        // Prefix matching also loses the loopback port exception.
        Variant::AsRedirectPrefix => as_fails(&[
            "redirect.exact-match",
            "redirect.localhost-any-port",
            "redirect.loopback-any-port",
        ]),
        Variant::AsRedirectAny => as_fails(&[
            "consent.redirect-change",
            "redirect.exact-match",
            "redirect.lookalikes",
            "redirect.loopback-strict-rest",
            "redirect.no-redirect-on-bad-client",
        ]),
        Variant::AsRedirectStrictLoopback => {
            as_fails(&["redirect.localhost-any-port", "redirect.loopback-any-port"])
        }
        // An error redirected to an unregistered URI is a redirect to it all the same.
        Variant::AsErrorRedirectUnregistered => as_fails(&[
            "cimd.redirect-not-listed",
            "consent.redirect-change",
            "redirect.exact-match",
            "redirect.lookalikes",
            "redirect.loopback-strict-rest",
            "redirect.no-redirect-on-bad-client",
        ]),
        Variant::AsMetadataNoPkce => as_fails(&["as-meta.pkce-s256"]),
        // The issuer named in the metadata is not the one the client asked for, nor the iss of
        // the authorization response.
        Variant::AsMetadataWrongIssuer => as_fails(&[
            "prm.as-resolvable",
            "as-meta.issuer-match",
            "as-meta.iss-flag",
            "authz.iss",
        ]),
        Variant::AsConsentNoCsrf => as_fails(&["consent.csrf"]),
        Variant::AsConsentFrameable => as_fails(&["consent.anti-framing"]),
        // The redirect URI is what both checks look for.
        Variant::AsConsentPageVague => {
            as_fails(&["consent.page-content", "cimd.consent-shows-host"])
        }
        Variant::AsMetadataOidcDiffers => as_fails(&["as-meta.oidc-alias-consistent"]),
        Variant::AsMetadataDeadRevocationEndpoint => as_fails(&["as-meta.endpoints-live"]),
        Variant::AsMetadataNoResponseTypes => as_fails(&["as-meta.required-fields"]),
        Variant::AsTokenTypeWrong => as_fails(&["token.success-shape"]),
        // A login that cannot refresh is a login clients lose after the first token expires.
        Variant::AsRefreshBroken => Expectation {
            warns: &[],
            fails: &["login.headless-flow", "refresh.works"],
            not_testable: &[
                "scope.insufficient-403",
                "scope.challenge-params",
                "refresh.no-scope-escalation",
                "refresh.rotation-public",
            ],
        },
        Variant::AsErrorsShownNotRedirected => as_fails(&["authz.error-redirects"]),
        Variant::AsProxy => as_fails(&[]),
        Variant::AsProxyUnboundCallback => as_fails(&["consent.callback-binding"]),
        // Remembered for every client and every site.
        Variant::AsConsentPerBrowser => {
            as_fails(&["consent.per-client", "consent.cross-site-prompt"])
        }
        // token.invalid-grant also presents an unknown refresh token.
        Variant::AsDeadRefreshInvalidRequest => {
            as_fails(&["refresh.dead-token-error", "token.invalid-grant"])
        }
        Variant::AsProxyNoConsent => as_fails(&["consent.before-upstream"]),
        // It never redeems the upstream code, so it holds no upstream session to bind to.
        Variant::AsProxyForwardsChallenge => {
            as_fails(&["pkce.proxy-two-legs", "passthrough.upstream-revocation"])
        }
        Variant::AsProxyIgnoresUpstreamRevocation => as_fails(&["passthrough.upstream-revocation"]),
        Variant::AsProxyAcceptsUpstream => as_fails(&["passthrough.upstream-token-rejected"]),
        // The client holds the upstream's token, which a replayed proxy code cannot revoke.
        Variant::AsProxyPassthrough => Expectation {
            warns: &["authz.code-single-use"],
            fails: &["passthrough.proxy-own-tokens"],
            not_testable: AS_NO_MINTED,
        },
        // Each spelling of the resource gets a token bound to that spelling.
        Variant::AsResourceExactString | Variant::AsResourceSlashLoose => {
            as_fails(&["resource.slash-variants"])
        }
        Variant::AsConsentCookieLoose => as_fails(&["consent.cookie-flags"]),
        Variant::AsForgottenClient500 => as_fails(&["dcr.client-usable"]),
        // Clients find no metadata, so the login stops before registration; 2025-03-26 clients,
        // which look at the root, would find it (legacy.mar26-as-location passes).
        Variant::AsIssuerPathRootOnly => Expectation {
            warns: &[],
            fails: &[
                "prm.as-resolvable",
                "login.headless-flow",
                "as-meta.path-insertion",
            ],
            not_testable: AS_NO_METADATA,
        },
        // Without a fetch there is no valid document to compare the refusals with.
        Variant::AsCimdAdvertisedOnly => Expectation {
            warns: &[],
            fails: &["cimd.fetched"],
            not_testable: CIMD_NEVER_FETCHED,
        },
        Variant::AsCimdClientIdUnchecked => as_fails(&["cimd.client-id-mismatch"]),
        Variant::AsCimdRedirectUnchecked => as_fails(&["cimd.redirect-not-listed"]),
        Variant::AsCimdSecretAccepted => as_fails(&["cimd.no-shared-secret"]),
        Variant::AsCimdUrlUnchecked => as_fails(&["cimd.invalid-document"]),
        Variant::AsCimdOversizeAccepted => as_fails(&["cimd.fetch-safety"]),
        // The login registers as a native client too, so it stops at registration.
        Variant::AsRegisterNativeRefused => Expectation {
            warns: &[],
            fails: &[
                "login.headless-flow",
                "dcr.register-basic",
                "dcr.application-type",
            ],
            not_testable: NATIVE_REFUSED,
        },
        Variant::AsRejectsResource => Expectation {
            warns: &[],
            fails: &["login.headless-flow", "resource.as-accepts-param"],
            not_testable: NO_LOGIN_NO_RESOURCE,
        },
    }
}
