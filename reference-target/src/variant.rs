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
    /// `forwards-token`: Forwards the client's access token to the downstream API its call_downstream tool calls, instead of a credential of its own.
    ForwardsToken,
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
    /// `as-conformant`: Is its own authorization server (the mock IdP's, mounted at its origin) and implements every rule.
    AsConformant,
    /// `as-consent-page`: Is its own authorization server with a login and consent page, and implements every rule.
    AsConsentPage,
    /// `as-pkce-not-required`: Is its own authorization server, which accepts authorization requests without a PKCE code_challenge.
    AsPkceNotRequired,
    /// `as-pkce-plain-accepted`: Is its own authorization server, which accepts the plain PKCE method.
    AsPkcePlainAccepted,
    /// `as-pkce-verifier-unchecked`: Is its own authorization server, which does not check the PKCE code_verifier at the token endpoint.
    AsPkceVerifierUnchecked,
    /// `as-no-state-echo`: Is its own authorization server, which does not return state in the authorization response.
    AsNoStateEcho,
    /// `as-no-iss`: Is its own authorization server, which omits iss from authorization responses although its metadata announces it.
    AsNoIss,
    /// `as-reusable-codes`: Is its own authorization server, which lets an authorization code be redeemed more than once.
    AsReusableCodes,
    /// `as-unbound-codes`: Is its own authorization server, which does not bind codes to the client and redirect URI they were issued for.
    AsUnboundCodes,
    /// `as-unauthorized-client-for-bad-credentials`: Is its own authorization server, which answers failed client authentication with 400 unauthorized_client instead of 401 invalid_client.
    AsUnauthorizedClientForBadCredentials,
    /// `as-invalid-grant-401`: Is its own authorization server, which answers invalid_grant with HTTP 401 instead of 400.
    AsInvalidGrant401,
    /// `as-errors-200`: Is its own authorization server, which answers token-endpoint errors with HTTP 200.
    AsErrors200,
    /// `as-no-cache-control`: Is its own authorization server, which sends token responses without Cache-Control: no-store.
    AsNoCacheControl,
    /// `as-refresh-not-rotated`: Is its own authorization server, which does not rotate public clients' refresh tokens.
    AsRefreshNotRotated,
    /// `as-refresh-unbound`: Is its own authorization server, which accepts a refresh token from any client.
    AsRefreshUnbound,
    /// `as-refresh-scope-escalation`: Is its own authorization server, which lets a refresh ask for more scope than was granted.
    AsRefreshScopeEscalation,
    /// `as-audience-widened`: Is its own authorization server, which adds the issuer as a second audience to access tokens.
    AsAudienceWidened,
    /// `as-any-resource`: Is its own authorization server, which issues tokens for any resource, even ones it does not serve.
    AsAnyResource,
    /// `as-register-200`: Is its own authorization server, which answers a successful registration with 200 instead of 201.
    AsRegister200,
    /// `as-register-no-echo`: Is its own authorization server, which echoes only client_id in the registration response.
    AsRegisterNoEcho,
    /// `as-register-any-redirect`: Is its own authorization server, which registers any redirect URI (javascript:, fragments, plain http hosts).
    AsRegisterAnyRedirect,
    /// `as-register-strict`: Is its own authorization server, which refuses registrations that omit optional metadata or carry unknown fields.
    AsRegisterStrict,
    /// `as-redirect-prefix`: Is its own authorization server, which matches dynamically registered redirect URIs by prefix.
    AsRedirectPrefix,
    /// `as-redirect-any`: Is its own authorization server, which accepts any redirect URI for dynamically registered clients.
    AsRedirectAny,
    /// `as-redirect-strict-loopback`: Is its own authorization server, which requires loopback redirect URIs to keep the registered port.
    AsRedirectStrictLoopback,
    /// `as-error-redirect-unregistered`: Is its own authorization server, which redirects errors to an unregistered redirect URI.
    AsErrorRedirectUnregistered,
    /// `as-metadata-no-pkce`: Is its own authorization server, which omits code_challenge_methods_supported from its metadata.
    AsMetadataNoPkce,
    /// `as-metadata-wrong-issuer`: Is its own authorization server, which names itself in metadata with a trailing slash the issuer URL does not have.
    AsMetadataWrongIssuer,
    /// `as-consent-no-csrf`: Is its own authorization server, which accepts consent form submissions without a valid CSRF token.
    AsConsentNoCsrf,
    /// `as-proxy`: Is an OAuth proxy in front of the upstream identity provider (its own consent page, its own PKCE and tokens upstream) and implements every rule.
    AsProxy,
    /// `as-proxy-no-consent`: Is an OAuth proxy that sends the user to the upstream identity provider without a consent page of its own.
    AsProxyNoConsent,
    /// `as-proxy-forwards-challenge`: Is an OAuth proxy that forwards the client's PKCE challenge upstream instead of using its own pair.
    AsProxyForwardsChallenge,
    /// `as-proxy-accepts-upstream`: Is an OAuth proxy whose MCP endpoint also accepts the upstream identity provider's tokens.
    AsProxyAcceptsUpstream,
    /// `as-proxy-passthrough`: Is an OAuth proxy that hands clients the upstream identity provider's access token instead of its own.
    AsProxyPassthrough,
    /// `as-proxy-unbound-callback`: Is an OAuth proxy whose upstream callback completes the login in any browser, not only the one that consented.
    AsProxyUnboundCallback,
    /// `as-consent-per-browser`: Is its own authorization server with a consent page that, once approved in a browser, approves every client there.
    AsConsentPerBrowser,
    /// `as-dead-refresh-invalid-request`: Is its own authorization server, which answers an unknown refresh token with invalid_request instead of invalid_grant.
    AsDeadRefreshInvalidRequest,
    /// `as-token-scope-omitted`: Is its own authorization server with a consent page, whose token responses never say which scope was granted.
    AsTokenScopeOmitted,
    /// `as-resource-exact-string`: Is its own authorization server, which compares resource parameters as strings, so an uppercase scheme or host is an unknown resource.
    AsResourceExactString,
    /// `as-resource-slash-loose`: Is its own authorization server, which accepts its resource with a trailing slash and binds the token to that string, which the MCP endpoint then refuses.
    AsResourceSlashLoose,
    /// `as-consent-cookie-loose`: Is its own authorization server with a consent page whose cookie is set without HttpOnly and SameSite.
    AsConsentCookieLoose,
    /// `as-proxy-ignores-upstream-revocation`: Is an OAuth proxy whose tokens stay valid after the upstream identity provider revoked the authorization behind them.
    AsProxyIgnoresUpstreamRevocation,
    /// `as-forgotten-client-500`: Is its own authorization server that forgets registered clients at a restart and then answers their token requests with 500 instead of invalid_client.
    AsForgottenClient500,
    /// `as-cimd-advertised-only`: Is its own authorization server, which advertises Client ID Metadata Documents but never fetches one.
    AsCimdAdvertisedOnly,
    /// `as-cimd-client-id-unchecked`: Is its own authorization server, which accepts a Client ID Metadata Document whose client_id is not its URL.
    AsCimdClientIdUnchecked,
    /// `as-cimd-redirect-unchecked`: Is its own authorization server, which lets a metadata-document client use redirect URIs its document does not list.
    AsCimdRedirectUnchecked,
    /// `as-cimd-secret-accepted`: Is its own authorization server, which accepts Client ID Metadata Documents that carry a client secret.
    AsCimdSecretAccepted,
    /// `as-cimd-url-unchecked`: Is its own authorization server, which fetches client ID URLs with a fragment or dot segments.
    AsCimdUrlUnchecked,
    /// `as-cimd-oversize-accepted`: Is its own authorization server, which reads Client ID Metadata Documents of any size.
    AsCimdOversizeAccepted,
    /// `as-issuer-path-root-only`: Is its own authorization server with an issuer under a path (`/oauth`), which publishes its metadata only at the origin's root well-known URL.
    AsIssuerPathRootOnly,
    /// `as-register-native-refused`: Is its own authorization server, which refuses registrations with application_type native.
    AsRegisterNativeRefused,
    /// `as-pre-registered`: Is its own authorization server with pre-registered clients only (no dynamic registration).
    AsPreRegistered,
    /// `as-issuer-path`: Is its own authorization server with an issuer under a path (`/oauth`), so its metadata sits at the path-inserted URL only.
    AsIssuerPath,
    /// `as-consent-page-vague`: Is its own authorization server, which shows a consent page that names neither the client nor where it redirects.
    AsConsentPageVague,
    /// `as-metadata-oidc-differs`: Is its own authorization server, which names another token endpoint in its OpenID Connect discovery document than in its RFC 8414 metadata.
    AsMetadataOidcDiffers,
    /// `as-metadata-dead-revocation-endpoint`: Is its own authorization server, which advertises a revocation endpoint that does not exist.
    AsMetadataDeadRevocationEndpoint,
    /// `as-metadata-no-response-types`: Is its own authorization server, which omits response_types_supported from its metadata.
    AsMetadataNoResponseTypes,
    /// `as-token-type-wrong`: Is its own authorization server, which answers token requests with token_type JWT instead of Bearer.
    AsTokenTypeWrong,
    /// `as-refresh-broken`: Is its own authorization server, which issues refresh tokens but refuses every refresh.
    AsRefreshBroken,
    /// `as-errors-shown-not-redirected`: Is its own authorization server, which shows authorization errors as a page even after the client and redirect URI are verified.
    AsErrorsShownNotRedirected,
    /// `as-rejects-resource`: Is its own authorization server, which refuses every authorization request that carries a resource parameter.
    AsRejectsResource,
    /// `as-consent-frameable`: Is its own authorization server, which lets its consent page be framed (no X-Frame-Options or frame-ancestors).
    AsConsentFrameable,
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
        Variant::ForwardsToken,
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
        Variant::AsConformant,
        Variant::AsConsentPage,
        Variant::AsPkceNotRequired,
        Variant::AsPkcePlainAccepted,
        Variant::AsPkceVerifierUnchecked,
        Variant::AsNoStateEcho,
        Variant::AsNoIss,
        Variant::AsReusableCodes,
        Variant::AsUnboundCodes,
        Variant::AsUnauthorizedClientForBadCredentials,
        Variant::AsInvalidGrant401,
        Variant::AsErrors200,
        Variant::AsNoCacheControl,
        Variant::AsRefreshNotRotated,
        Variant::AsRefreshUnbound,
        Variant::AsRefreshScopeEscalation,
        Variant::AsAudienceWidened,
        Variant::AsAnyResource,
        Variant::AsRegister200,
        Variant::AsRegisterNoEcho,
        Variant::AsRegisterAnyRedirect,
        Variant::AsRegisterStrict,
        Variant::AsRedirectPrefix,
        Variant::AsRedirectAny,
        Variant::AsRedirectStrictLoopback,
        Variant::AsErrorRedirectUnregistered,
        Variant::AsMetadataNoPkce,
        Variant::AsMetadataWrongIssuer,
        Variant::AsConsentNoCsrf,
        Variant::AsConsentFrameable,
        Variant::AsPreRegistered,
        Variant::AsIssuerPath,
        Variant::AsConsentPageVague,
        Variant::AsMetadataOidcDiffers,
        Variant::AsMetadataDeadRevocationEndpoint,
        Variant::AsMetadataNoResponseTypes,
        Variant::AsTokenTypeWrong,
        Variant::AsRefreshBroken,
        Variant::AsErrorsShownNotRedirected,
        Variant::AsRejectsResource,
        Variant::AsProxy,
        Variant::AsProxyNoConsent,
        Variant::AsProxyForwardsChallenge,
        Variant::AsProxyAcceptsUpstream,
        Variant::AsProxyPassthrough,
        Variant::AsProxyUnboundCallback,
        Variant::AsConsentPerBrowser,
        Variant::AsDeadRefreshInvalidRequest,
        Variant::AsTokenScopeOmitted,
        Variant::AsProxyIgnoresUpstreamRevocation,
        Variant::AsForgottenClient500,
        Variant::AsCimdAdvertisedOnly,
        Variant::AsCimdClientIdUnchecked,
        Variant::AsCimdRedirectUnchecked,
        Variant::AsCimdSecretAccepted,
        Variant::AsCimdUrlUnchecked,
        Variant::AsCimdOversizeAccepted,
        Variant::AsIssuerPathRootOnly,
        Variant::AsResourceExactString,
        Variant::AsResourceSlashLoose,
        Variant::AsConsentCookieLoose,
        Variant::AsRegisterNativeRefused,
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
            Variant::ForwardsToken => "forwards-token",
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
            Variant::AsConformant => "as-conformant",
            Variant::AsConsentPage => "as-consent-page",
            Variant::AsPkceNotRequired => "as-pkce-not-required",
            Variant::AsPkcePlainAccepted => "as-pkce-plain-accepted",
            Variant::AsPkceVerifierUnchecked => "as-pkce-verifier-unchecked",
            Variant::AsNoStateEcho => "as-no-state-echo",
            Variant::AsNoIss => "as-no-iss",
            Variant::AsReusableCodes => "as-reusable-codes",
            Variant::AsUnboundCodes => "as-unbound-codes",
            Variant::AsUnauthorizedClientForBadCredentials => {
                "as-unauthorized-client-for-bad-credentials"
            }
            Variant::AsInvalidGrant401 => "as-invalid-grant-401",
            Variant::AsErrors200 => "as-errors-200",
            Variant::AsNoCacheControl => "as-no-cache-control",
            Variant::AsRefreshNotRotated => "as-refresh-not-rotated",
            Variant::AsRefreshUnbound => "as-refresh-unbound",
            Variant::AsRefreshScopeEscalation => "as-refresh-scope-escalation",
            Variant::AsAudienceWidened => "as-audience-widened",
            Variant::AsAnyResource => "as-any-resource",
            Variant::AsRegister200 => "as-register-200",
            Variant::AsRegisterNoEcho => "as-register-no-echo",
            Variant::AsRegisterAnyRedirect => "as-register-any-redirect",
            Variant::AsRegisterStrict => "as-register-strict",
            Variant::AsRedirectPrefix => "as-redirect-prefix",
            Variant::AsRedirectAny => "as-redirect-any",
            Variant::AsRedirectStrictLoopback => "as-redirect-strict-loopback",
            Variant::AsErrorRedirectUnregistered => "as-error-redirect-unregistered",
            Variant::AsMetadataNoPkce => "as-metadata-no-pkce",
            Variant::AsMetadataWrongIssuer => "as-metadata-wrong-issuer",
            Variant::AsConsentNoCsrf => "as-consent-no-csrf",
            Variant::AsConsentFrameable => "as-consent-frameable",
            Variant::AsProxy => "as-proxy",
            Variant::AsProxyNoConsent => "as-proxy-no-consent",
            Variant::AsProxyForwardsChallenge => "as-proxy-forwards-challenge",
            Variant::AsProxyAcceptsUpstream => "as-proxy-accepts-upstream",
            Variant::AsProxyPassthrough => "as-proxy-passthrough",
            Variant::AsProxyUnboundCallback => "as-proxy-unbound-callback",
            Variant::AsIssuerPathRootOnly => "as-issuer-path-root-only",
            Variant::AsCimdOversizeAccepted => "as-cimd-oversize-accepted",
            Variant::AsCimdUrlUnchecked => "as-cimd-url-unchecked",
            Variant::AsCimdSecretAccepted => "as-cimd-secret-accepted",
            Variant::AsCimdRedirectUnchecked => "as-cimd-redirect-unchecked",
            Variant::AsCimdClientIdUnchecked => "as-cimd-client-id-unchecked",
            Variant::AsCimdAdvertisedOnly => "as-cimd-advertised-only",
            Variant::AsForgottenClient500 => "as-forgotten-client-500",
            Variant::AsProxyIgnoresUpstreamRevocation => "as-proxy-ignores-upstream-revocation",
            Variant::AsConsentPerBrowser => "as-consent-per-browser",
            Variant::AsDeadRefreshInvalidRequest => "as-dead-refresh-invalid-request",
            Variant::AsTokenScopeOmitted => "as-token-scope-omitted",
            Variant::AsResourceExactString => "as-resource-exact-string",
            Variant::AsResourceSlashLoose => "as-resource-slash-loose",
            Variant::AsConsentCookieLoose => "as-consent-cookie-loose",
            Variant::AsRegisterNativeRefused => "as-register-native-refused",
            Variant::AsPreRegistered => "as-pre-registered",
            Variant::AsIssuerPath => "as-issuer-path",
            Variant::AsConsentPageVague => "as-consent-page-vague",
            Variant::AsMetadataOidcDiffers => "as-metadata-oidc-differs",
            Variant::AsMetadataDeadRevocationEndpoint => "as-metadata-dead-revocation-endpoint",
            Variant::AsMetadataNoResponseTypes => "as-metadata-no-response-types",
            Variant::AsTokenTypeWrong => "as-token-type-wrong",
            Variant::AsRefreshBroken => "as-refresh-broken",
            Variant::AsErrorsShownNotRedirected => "as-errors-shown-not-redirected",
            Variant::AsRejectsResource => "as-rejects-resource",
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
            Variant::ForwardsToken => {
                "Forwards the client's access token to the downstream API its call_downstream tool calls, instead of a credential of its own."
            }
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
            Variant::AsConformant => {
                "Is its own authorization server (the mock IdP's, mounted at its origin) and implements every rule."
            }
            Variant::AsConsentPage => {
                "Is its own authorization server with a login and consent page, and implements every rule."
            }
            Variant::AsPkceNotRequired => {
                "Is its own authorization server, which accepts authorization requests without a PKCE code_challenge."
            }
            Variant::AsPkcePlainAccepted => {
                "Is its own authorization server, which accepts the plain PKCE method."
            }
            Variant::AsPkceVerifierUnchecked => {
                "Is its own authorization server, which does not check the PKCE code_verifier at the token endpoint."
            }
            Variant::AsNoStateEcho => {
                "Is its own authorization server, which does not return state in the authorization response."
            }
            Variant::AsNoIss => {
                "Is its own authorization server, which omits iss from authorization responses although its metadata announces it."
            }
            Variant::AsReusableCodes => {
                "Is its own authorization server, which lets an authorization code be redeemed more than once."
            }
            Variant::AsUnboundCodes => {
                "Is its own authorization server, which does not bind codes to the client and redirect URI they were issued for."
            }
            Variant::AsUnauthorizedClientForBadCredentials => {
                "Is its own authorization server, which answers failed client authentication with 400 unauthorized_client instead of 401 invalid_client."
            }
            Variant::AsInvalidGrant401 => {
                "Is its own authorization server, which answers invalid_grant with HTTP 401 instead of 400."
            }
            Variant::AsErrors200 => {
                "Is its own authorization server, which answers token-endpoint errors with HTTP 200."
            }
            Variant::AsNoCacheControl => {
                "Is its own authorization server, which sends token responses without Cache-Control: no-store."
            }
            Variant::AsRefreshNotRotated => {
                "Is its own authorization server, which does not rotate public clients' refresh tokens."
            }
            Variant::AsRefreshUnbound => {
                "Is its own authorization server, which accepts a refresh token from any client."
            }
            Variant::AsRefreshScopeEscalation => {
                "Is its own authorization server, which lets a refresh ask for more scope than was granted."
            }
            Variant::AsAudienceWidened => {
                "Is its own authorization server, which adds the issuer as a second audience to access tokens."
            }
            Variant::AsAnyResource => {
                "Is its own authorization server, which issues tokens for any resource, even ones it does not serve."
            }
            Variant::AsRegister200 => {
                "Is its own authorization server, which answers a successful registration with 200 instead of 201."
            }
            Variant::AsRegisterNoEcho => {
                "Is its own authorization server, which echoes only client_id in the registration response."
            }
            Variant::AsRegisterAnyRedirect => {
                "Is its own authorization server, which registers any redirect URI (javascript:, fragments, plain http hosts)."
            }
            Variant::AsRegisterStrict => {
                "Is its own authorization server, which refuses registrations that omit optional metadata or carry unknown fields."
            }
            Variant::AsRedirectPrefix => {
                "Is its own authorization server, which matches dynamically registered redirect URIs by prefix."
            }
            Variant::AsRedirectAny => {
                "Is its own authorization server, which accepts any redirect URI for dynamically registered clients."
            }
            Variant::AsRedirectStrictLoopback => {
                "Is its own authorization server, which requires loopback redirect URIs to keep the registered port."
            }
            Variant::AsErrorRedirectUnregistered => {
                "Is its own authorization server, which redirects errors to an unregistered redirect URI."
            }
            Variant::AsMetadataNoPkce => {
                "Is its own authorization server, which omits code_challenge_methods_supported from its metadata."
            }
            Variant::AsMetadataWrongIssuer => {
                "Is its own authorization server, which names itself in metadata with a trailing slash the issuer URL does not have."
            }
            Variant::AsConsentNoCsrf => {
                "Is its own authorization server, which accepts consent form submissions without a valid CSRF token."
            }
            Variant::AsProxy => {
                "Is an OAuth proxy in front of the upstream identity provider (its own consent page, its own PKCE and tokens upstream) and implements every rule."
            }
            Variant::AsProxyNoConsent => {
                "Is an OAuth proxy that sends the user to the upstream identity provider without a consent page of its own."
            }
            Variant::AsProxyForwardsChallenge => {
                "Is an OAuth proxy that forwards the client's PKCE challenge upstream instead of using its own pair."
            }
            Variant::AsProxyAcceptsUpstream => {
                "Is an OAuth proxy whose MCP endpoint also accepts the upstream identity provider's tokens."
            }
            Variant::AsProxyPassthrough => {
                "Is an OAuth proxy that hands clients the upstream identity provider's access token instead of its own."
            }
            Variant::AsProxyUnboundCallback => {
                "Is an OAuth proxy whose upstream callback completes the login in any browser, not only the one that consented."
            }
            Variant::AsConsentPerBrowser => {
                "Is its own authorization server with a consent page that, once approved in a browser, approves every client there."
            }
            Variant::AsDeadRefreshInvalidRequest => {
                "Is its own authorization server, which answers an unknown refresh token with invalid_request instead of invalid_grant."
            }
            Variant::AsTokenScopeOmitted => {
                "Is its own authorization server with a consent page, whose token responses never say which scope was granted."
            }
            Variant::AsProxyIgnoresUpstreamRevocation => {
                "Is an OAuth proxy whose tokens stay valid after the upstream identity provider revoked the authorization behind them."
            }
            Variant::AsForgottenClient500 => {
                "Is its own authorization server that forgets registered clients at a restart and then answers their token requests with 500 instead of invalid_client."
            }
            Variant::AsCimdAdvertisedOnly => {
                "Is its own authorization server, which advertises Client ID Metadata Documents but never fetches one."
            }
            Variant::AsCimdClientIdUnchecked => {
                "Is its own authorization server, which accepts a Client ID Metadata Document whose client_id is not its URL."
            }
            Variant::AsCimdRedirectUnchecked => {
                "Is its own authorization server, which lets a metadata-document client use redirect URIs its document does not list."
            }
            Variant::AsCimdSecretAccepted => {
                "Is its own authorization server, which accepts Client ID Metadata Documents that carry a client secret."
            }
            Variant::AsCimdUrlUnchecked => {
                "Is its own authorization server, which fetches client ID URLs with a fragment or dot segments."
            }
            Variant::AsCimdOversizeAccepted => {
                "Is its own authorization server, which reads Client ID Metadata Documents of any size."
            }
            Variant::AsIssuerPathRootOnly => {
                "Is its own authorization server with an issuer under a path (`/oauth`), which publishes its metadata only at the origin's root well-known URL."
            }
            Variant::AsResourceExactString => {
                "Is its own authorization server, which compares resource parameters as strings, so an uppercase scheme or host is an unknown resource."
            }
            Variant::AsResourceSlashLoose => {
                "Is its own authorization server, which accepts its resource with a trailing slash and binds the token to that string, which the MCP endpoint then refuses."
            }
            Variant::AsConsentCookieLoose => {
                "Is its own authorization server with a consent page whose cookie is set without HttpOnly and SameSite."
            }
            Variant::AsRegisterNativeRefused => {
                "Is its own authorization server, which refuses registrations with application_type native."
            }
            Variant::AsPreRegistered => {
                "Is its own authorization server with pre-registered clients only (no dynamic registration)."
            }
            Variant::AsIssuerPath => {
                "Is its own authorization server with an issuer under a path (/oauth), so its metadata sits at the path-inserted URL only."
            }
            Variant::AsConsentPageVague => {
                "Is its own authorization server, which shows a consent page that names neither the client nor where it redirects."
            }
            Variant::AsMetadataOidcDiffers => {
                "Is its own authorization server, which names another token endpoint in its OpenID Connect discovery document than in its RFC 8414 metadata."
            }
            Variant::AsMetadataDeadRevocationEndpoint => {
                "Is its own authorization server, which advertises a revocation endpoint that does not exist."
            }
            Variant::AsMetadataNoResponseTypes => {
                "Is its own authorization server, which omits response_types_supported from its metadata."
            }
            Variant::AsTokenTypeWrong => {
                "Is its own authorization server, which answers token requests with token_type JWT instead of Bearer."
            }
            Variant::AsRefreshBroken => {
                "Is its own authorization server, which issues refresh tokens but refuses every refresh."
            }
            Variant::AsErrorsShownNotRedirected => {
                "Is its own authorization server, which shows authorization errors as a page even after the client and redirect URI are verified."
            }
            Variant::AsRejectsResource => {
                "Is its own authorization server, which refuses every authorization request that carries a resource parameter."
            }
            Variant::AsConsentFrameable => {
                "Is its own authorization server, which lets its consent page be framed (no X-Frame-Options or frame-ancestors)."
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

    /// True for the variants that break no rule.
    pub fn is_conformant(self) -> bool {
        matches!(
            self,
            Variant::Conformant
                | Variant::Introspection
                | Variant::AsConformant
                | Variant::AsConsentPage
                | Variant::AsProxy
        )
    }

    /// Whether the target is its own authorization server (the mock IdP's, mounted at its origin).
    pub fn is_authorization_server(self) -> bool {
        self.name().starts_with("as-")
    }

    /// Whether its authorization server's issuer is under a path (`{origin}/oauth`).
    pub fn issuer_under_path(self) -> bool {
        matches!(self, Variant::AsIssuerPath | Variant::AsIssuerPathRootOnly)
    }

    /// Whether the target is an OAuth proxy in front of the upstream identity provider.
    pub fn is_proxy(self) -> bool {
        self.name().starts_with("as-proxy")
    }

    /// The rule the embedded authorization server breaks, for the `as-*` fault variants.
    pub fn as_defect(self) -> Option<mock_idp::AsDefect> {
        use mock_idp::AsDefect as D;
        Some(match self {
            Variant::AsPkceNotRequired => D::PkceNotRequired,
            Variant::AsPkcePlainAccepted => D::PkcePlainAccepted,
            Variant::AsPkceVerifierUnchecked => D::PkceVerifierUnchecked,
            Variant::AsNoStateEcho => D::NoStateEcho,
            Variant::AsNoIss => D::NoIss,
            Variant::AsReusableCodes => D::ReusableCodes,
            Variant::AsUnboundCodes => D::UnboundCodes,
            Variant::AsUnauthorizedClientForBadCredentials => {
                D::UnauthorizedClientForBadCredentials
            }
            Variant::AsInvalidGrant401 => D::InvalidGrant401,
            Variant::AsErrors200 => D::Errors200,
            Variant::AsNoCacheControl => D::NoCacheControl,
            Variant::AsRefreshNotRotated => D::RefreshNotRotated,
            Variant::AsRefreshUnbound => D::RefreshUnbound,
            Variant::AsRefreshScopeEscalation => D::RefreshScopeEscalation,
            Variant::AsAudienceWidened => D::AudienceWidened,
            Variant::AsAnyResource => D::AnyResource,
            Variant::AsRegister200 => D::Register200,
            Variant::AsRegisterNoEcho => D::RegisterNoEcho,
            Variant::AsRegisterAnyRedirect => D::RegisterAnyRedirect,
            Variant::AsRegisterStrict => D::RegisterStrict,
            Variant::AsRedirectPrefix => D::RedirectPrefix,
            Variant::AsRedirectAny => D::RedirectAny,
            Variant::AsRedirectStrictLoopback => D::RedirectStrictLoopback,
            Variant::AsErrorRedirectUnregistered => D::ErrorRedirectUnregistered,
            Variant::AsMetadataNoPkce => D::MetadataNoPkce,
            Variant::AsMetadataWrongIssuer => D::MetadataWrongIssuer,
            Variant::AsConsentNoCsrf => D::ConsentNoCsrf,
            Variant::AsConsentFrameable => D::ConsentFrameable,
            Variant::AsConsentPageVague => D::ConsentPageVague,
            Variant::AsMetadataOidcDiffers => D::MetadataOidcDiffers,
            Variant::AsMetadataDeadRevocationEndpoint => D::MetadataDeadRevocationEndpoint,
            Variant::AsMetadataNoResponseTypes => D::MetadataNoResponseTypes,
            Variant::AsTokenTypeWrong => D::TokenTypeWrong,
            Variant::AsRefreshBroken => D::RefreshBroken,
            Variant::AsErrorsShownNotRedirected => D::ErrorsShownNotRedirected,
            Variant::AsRejectsResource => D::RejectsResource,

            Variant::AsConsentPerBrowser => D::ConsentRememberedPerBrowser,
            Variant::AsDeadRefreshInvalidRequest => D::DeadRefreshInvalidRequest,
            Variant::AsTokenScopeOmitted => D::TokenScopeOmitted,
            Variant::AsResourceExactString => D::ResourceExactString,
            Variant::AsResourceSlashLoose => D::ResourceSlashLoose,
            Variant::AsConsentCookieLoose => D::ConsentCookieLoose,
            Variant::AsRegisterNativeRefused => D::RegisterNativeRefused,
            Variant::AsIssuerPathRootOnly => D::MetadataRootOnly,
            Variant::AsCimdOversizeAccepted => D::CimdOversizeAccepted,
            Variant::AsCimdUrlUnchecked => D::CimdUrlUnchecked,
            Variant::AsCimdSecretAccepted => D::CimdSecretAccepted,
            Variant::AsCimdRedirectUnchecked => D::CimdRedirectUnchecked,
            Variant::AsCimdClientIdUnchecked => D::CimdClientIdUnchecked,
            Variant::AsCimdAdvertisedOnly => D::CimdAdvertisedOnly,
            Variant::AsForgottenClient500 => D::ForgottenClient500,
            _ => return None,
        })
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
