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

/// Declares the variants once: the enum, `ALL` (in this order), `name`, `description` and
/// `as_defect` all come from one line per variant.
macro_rules! variants {
    ($($variant:ident = $name:literal $(, defect $defect:ident)? => $description:literal;)*) => {
        /// One behaviour of the reference target: conformant, or conformant except for one rule.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Variant {
            $(
                #[doc = concat!("`", $name, "`: ", $description)]
                $variant,
            )*
        }

        impl Variant {
            /// Every variant, in the order the self-test grades them.
            pub const ALL: &'static [Variant] = &[$(Variant::$variant,)*];

            /// The stable name used on the command line and in reports.
            pub fn name(self) -> &'static str {
                match self {
                    $(Variant::$variant => $name,)*
                }
            }

            /// What the variant does, in one sentence.
            pub fn description(self) -> &'static str {
                match self {
                    $(Variant::$variant => $description,)*
                }
            }

            /// The rule the embedded authorization server breaks, for the `as-*` fault variants.
            pub fn as_defect(self) -> Option<mock_idp::AsDefect> {
                match self {
                    $(Variant::$variant => variants!(@defect $($defect)?),)*
                }
            }
        }
    };
    (@defect) => {
        None
    };
    (@defect $defect:ident) => {
        Some(mock_idp::AsDefect::$defect)
    };
}

variants! {
    Conformant = "conformant" =>
        "Implements every rule correctly (JWT trust).";
    Introspection = "introspection" =>
        "Implements every rule correctly (introspection trust).";
    ModernOnly = "modern-only" =>
        "Implements every rule and speaks only MCP 2026-07-28, the stateless wire (rmcp's modern-only configuration: no initialize, no sessions).";
    LegacyOnly = "legacy-only" =>
        "Implements every rule and speaks only the initialize-based wire, up to MCP 2025-11-25 (modern requests get UnsupportedProtocolVersion).";
    Unauthenticated403 = "unauthenticated-403" =>
        "Answers requests without credentials with 403 instead of 401.";
    PostOnlyAuth = "post-only-auth" =>
        "Authenticates only POST; GET and DELETE reach the MCP endpoint without any auth check.";
    NoWwwAuthenticate = "no-www-authenticate" =>
        "Omits the WWW-Authenticate header from the 401 sent when credentials are missing.";
    NoResourceMetadataParam = "no-resource-metadata-param" =>
        "Never puts resource_metadata in Bearer challenges, although the metadata document is served.";
    ErrorWithoutCredentials = "error-without-credentials" =>
        "Puts error=\"invalid_token\" in the challenge sent when no credentials were given.";
    InvalidTokenNoError = "invalid-token-no-error" =>
        "Omits error and error_description from the challenge sent for an invalid token.";
    NoScopeParam = "no-scope-param" =>
        "Omits the scope attribute from 401 challenges.";
    UnquotedChallengeParams = "unquoted-challenge-params" =>
        "Sends resource_metadata as an unquoted value, which the token syntax does not allow for a URL.";
    MalformedAuth500 = "malformed-auth-500" =>
        "Answers a Bearer header with an empty or blank token with 500.";
    CaseSensitiveScheme = "case-sensitive-scheme" =>
        "Recognises only the exact scheme spelling \"Bearer\"; other casings count as no credentials.";
    AcceptsQueryToken = "accepts-query-token" =>
        "Accepts an access token from the access_token query parameter when no Authorization header is sent.";
    NoPrm = "no-prm" =>
        "Serves no protected resource metadata and advertises none in challenges.";
    PrmRootOnly = "prm-root-only" =>
        "Serves the protected resource metadata only at the root well-known URL instead of the path-inserted one.";
    PrmRequiresAuth = "prm-requires-auth" =>
        "Requires a valid bearer token to read the protected resource metadata.";
    PrmResourceFragment = "prm-resource-fragment" =>
        "Puts a fragment in the metadata resource identifier.";
    PrmResourceTrailingSlash = "prm-resource-trailing-slash" =>
        "Adds a trailing slash to the metadata resource identifier, so it no longer equals the endpoint URL.";
    PrmWellknownMismatch = "prm-wellknown-mismatch" =>
        "Serves, at the well-known URL, metadata whose resource is only the origin, and points challenges at another URL.";
    PrmEmptyAuthorizationServers = "prm-empty-authorization-servers" =>
        "Lists no authorization servers in the metadata.";
    PrmUnresolvableAs = "prm-unresolvable-as" =>
        "Lists an authorization server whose metadata cannot be fetched.";
    PrmAdvertisesQuery = "prm-advertises-query" =>
        "Advertises the query bearer method in the metadata although query tokens are refused.";
    RejectsArrayAud = "rejects-array-aud" =>
        "Rejects a JWT whose aud is an array, even one containing the audience.";
    AcceptsExpired = "accepts-expired" =>
        "Accepts a JWT whose exp is in the past.";
    AcceptsMissingExp = "accepts-missing-exp" =>
        "Accepts a JWT without an exp claim.";
    IgnoresNbf = "ignores-nbf" =>
        "Does not check the nbf claim.";
    SignatureCache = "signature-cache" =>
        "Skips signature verification for a JWT whose header and payload were accepted before.";
    UnknownKidUnverified = "unknown-kid-unverified" =>
        "Accepts a JWT whose kid is not in the JWKS without verifying its signature.";
    AcceptsAlgNone = "accepts-alg-none" =>
        "Accepts unsigned JWTs with alg none.";
    Hs256PublicKey = "hs256-public-key" =>
        "Verifies HS256 JWTs with HMAC keyed by the RSA public key rendered as PEM text (algorithm confusion).";
    IgnoresIssuer = "ignores-issuer" =>
        "Does not check the iss claim.";
    IgnoresTyp = "ignores-typ" =>
        "Does not check that the JWT typ header is at+jwt.";
    IgnoresCrit = "ignores-crit" =>
        "Does not reject JWTs carrying a crit header.";
    JwksNeverRefetched = "jwks-never-refetched" =>
        "Fetches the JWKS once and never again, so rotated keys are never learned.";
    JwksKeysAccumulate = "jwks-keys-accumulate" =>
        "Keeps trusting keys that were removed from the JWKS.";
    JwksOutageFailsOpen = "jwks-outage-fails-open" =>
        "Accepts a JWT without verifying its signature when the JWKS cannot be fetched.";
    JwksStrictParse = "jwks-strict-parse" =>
        "Rejects the whole JWKS when it contains one key the server cannot use.";
    InsufficientScope401 = "insufficient-scope-401" =>
        "Answers a valid token lacking a required scope with 401 invalid_token instead of 403.";
    InsufficientScopeBare403 = "insufficient-scope-bare-403" =>
        "Sends a 403 insufficient_scope challenge without the scope and resource_metadata attributes.";
    ScopeClaimOnly = "scope-claim-only" =>
        "Reads scopes only from the scope claim and ignores scp.";
    ForwardsToken = "forwards-token" =>
        "Forwards the client's access token to the downstream API its call_downstream tool calls, instead of a credential of its own.";
    IgnoresAudience = "ignores-audience" =>
        "Does not check the aud claim at all.";
    AcceptsMissingAud = "accepts-missing-aud" =>
        "Accepts a JWT without an aud claim.";
    AudOriginMatch = "aud-origin-match" =>
        "Compares audiences by origin only, accepting any path on the same origin.";
    SessionAuthenticates = "session-authenticates" =>
        "Lets requests through on an authenticated session id without validating their Authorization header.";
    ModernSkipsAudience = "modern-skips-audience" =>
        "Checks the aud claim on legacy (initialize-based) requests but not on stateless 2026-07-28 ones.";
    ModernSessionAuthenticates = "modern-session-authenticates" =>
        "Lets a stateless 2026-07-28 request through without a token when it carries the id of an authenticated legacy session.";
    SessionUnbound = "session-unbound" =>
        "Does not bind sessions to the user who opened them: any valid token may use any session id.";
    OriginNotValidated = "origin-not-validated" =>
        "Does not validate the Origin header, so a page on any site can reach the server through a rebound DNS name.";
    HeaderMismatchAccepted = "header-mismatch-accepted" =>
        "Serves stateless requests whose Mcp-Method or Mcp-Name header disagrees with the body, instead of refusing them with HeaderMismatch.";
    HeaderRoutedAuth = "header-routed-auth" =>
        "Decides from the Mcp-Method header whether a request needs a token (server/discover is open), then serves the method in the body.";
    OfflineAccessAdvertised = "offline-access-advertised" =>
        "Lists offline_access in its metadata's scopes_supported and in the scope of its 401 challenge.";
    OperationScopeToolError = "operation-scope-tool-error" =>
        "Answers a tool call whose token lacks the tool's extra scopes with a tool error (HTTP 200) instead of 403 insufficient_scope.";
    ScopeChallengeIncremental = "scope-challenge-incremental" =>
        "Names one missing scope per insufficient_scope challenge, so a client needs one step-up per scope.";
    ScopeHierarchyIgnored = "scope-hierarchy-ignored" =>
        "Requires the exact scopes an operation names, ignoring that its broader scope reports implies reports:read and reports:export.";
    ReflectsForwardedHost = "reflects-forwarded-host" =>
        "Builds the resource_metadata URL and the metadata resource from the X-Forwarded-Host header of the request.";
    PrmHttpJwksUri = "prm-http-jwks-uri" =>
        "Advertises a jwks_uri over plain http on a host that is not loopback in its protected-resource metadata.";
    Dpop = "dpop" =>
        "Implements every rule and also accepts DPoP-bound tokens (RFC 9449) with a proof, advertising ES256 proofs in its metadata.";
    DpopProofUnchecked = "dpop-proof-unchecked" =>
        "Accepts DPoP-bound tokens whose proof is signed by the bound key, without checking what the proof says about the request (htm, htu, iat, ath).";
    JwksRefetchUnbounded = "jwks-refetch-unbounded" =>
        "Fetches the JWKS again for every token with an unknown key id, without any limit.";
    IntrospectRejectsArrayAud = "introspect-rejects-array-aud" =>
        "Rejects an introspection answer whose aud is an array, even one containing the audience.";
    IntrospectUnauthenticated = "introspect-unauthenticated" =>
        "Calls the introspection endpoint without client authentication.";
    IntrospectIgnoresActive = "introspect-ignores-active" =>
        "Does not check the active member of the introspection answer.";
    IntrospectIgnoresAud = "introspect-ignores-aud" =>
        "Does not check the aud member of the introspection answer.";
    IntrospectIgnoresClaims = "introspect-ignores-claims" =>
        "Does not check exp, iss and token_type in the introspection answer.";
    IntrospectFailsOpen = "introspect-fails-open" =>
        "Lets the request through when the introspection call fails.";
    AsConformant = "as-conformant" =>
        "Is its own authorization server (the mock IdP's, mounted at its origin) and implements every rule.";
    AsConsentPage = "as-consent-page" =>
        "Is its own authorization server with a login and consent page, and implements every rule.";
    AsPkceNotRequired = "as-pkce-not-required", defect PkceNotRequired =>
        "Is its own authorization server, which accepts authorization requests without a PKCE code_challenge.";
    AsPkcePlainAccepted = "as-pkce-plain-accepted", defect PkcePlainAccepted =>
        "Is its own authorization server, which accepts the plain PKCE method.";
    AsPkceAbsentMethodS256 = "as-pkce-absent-method-s256", defect PkceAbsentMethodS256 =>
        "Is its own authorization server, which takes a code_challenge sent without code_challenge_method as S256 (absent means plain).";
    AsBasicNeedsBodyClientId = "as-basic-needs-body-client-id", defect BasicNeedsBodyClientId =>
        "Is its own authorization server, which authenticates a client_secret_basic client only when client_id is also in the body.";
    AsClientSecretPostIgnored = "as-client-secret-post-ignored", defect ClientSecretPostIgnored =>
        "Is its own authorization server, which advertises client_secret_post but never reads a secret from the body.";
    AsNoScopeDefault = "as-no-scope-default", defect NoScopeDefault =>
        "Is its own authorization server, which grants an empty scope to a request without scope from a client that registered none.";
    AsPkceVerifierUnchecked = "as-pkce-verifier-unchecked", defect PkceVerifierUnchecked =>
        "Is its own authorization server, which does not check the PKCE code_verifier at the token endpoint.";
    AsNoStateEcho = "as-no-state-echo", defect NoStateEcho =>
        "Is its own authorization server, which does not return state in the authorization response.";
    AsNoIss = "as-no-iss", defect NoIss =>
        "Is its own authorization server, which omits iss from authorization responses although its metadata announces it.";
    AsReusableCodes = "as-reusable-codes", defect ReusableCodes =>
        "Is its own authorization server, which lets an authorization code be redeemed more than once.";
    AsUnboundCodes = "as-unbound-codes", defect UnboundCodes =>
        "Is its own authorization server, which does not bind codes to the client and redirect URI they were issued for.";
    AsUnauthorizedClientForBadCredentials = "as-unauthorized-client-for-bad-credentials", defect UnauthorizedClientForBadCredentials =>
        "Is its own authorization server, which answers failed client authentication with 400 unauthorized_client instead of 401 invalid_client.";
    AsInvalidGrant401 = "as-invalid-grant-401", defect InvalidGrant401 =>
        "Is its own authorization server, which answers invalid_grant with HTTP 401 instead of 400.";
    AsErrors200 = "as-errors-200", defect Errors200 =>
        "Is its own authorization server, which answers token-endpoint errors with HTTP 200.";
    AsNoCacheControl = "as-no-cache-control", defect NoCacheControl =>
        "Is its own authorization server, which sends token responses without Cache-Control: no-store.";
    AsRefreshNotRotated = "as-refresh-not-rotated", defect RefreshNotRotated =>
        "Is its own authorization server, which does not rotate public clients' refresh tokens.";
    AsRefreshUnbound = "as-refresh-unbound", defect RefreshUnbound =>
        "Is its own authorization server, which accepts a refresh token from any client.";
    AsRefreshScopeEscalation = "as-refresh-scope-escalation", defect RefreshScopeEscalation =>
        "Is its own authorization server, which lets a refresh ask for more scope than was granted.";
    AsAudienceWidened = "as-audience-widened", defect AudienceWidened =>
        "Is its own authorization server, which adds the issuer as a second audience to access tokens.";
    AsAnyResource = "as-any-resource", defect AnyResource =>
        "Is its own authorization server, which issues tokens for any resource, even ones it does not serve.";
    AsRegister200 = "as-register-200", defect Register200 =>
        "Is its own authorization server, which answers a successful registration with 200 instead of 201.";
    AsRegisterNoEcho = "as-register-no-echo", defect RegisterNoEcho =>
        "Is its own authorization server, which echoes only client_id in the registration response.";
    AsRegisterAnyRedirect = "as-register-any-redirect", defect RegisterAnyRedirect =>
        "Is its own authorization server, which registers any redirect URI (javascript:, fragments, plain http hosts).";
    AsRegisterStrict = "as-register-strict", defect RegisterStrict =>
        "Is its own authorization server, which refuses registrations that omit optional metadata or carry unknown fields.";
    AsRedirectPrefix = "as-redirect-prefix", defect RedirectPrefix =>
        "Is its own authorization server, which matches dynamically registered redirect URIs by prefix.";
    AsRedirectAny = "as-redirect-any", defect RedirectAny =>
        "Is its own authorization server, which accepts any redirect URI for dynamically registered clients.";
    AsRedirectStrictLoopback = "as-redirect-strict-loopback", defect RedirectStrictLoopback =>
        "Is its own authorization server, which requires loopback redirect URIs to keep the registered port.";
    AsErrorRedirectUnregistered = "as-error-redirect-unregistered", defect ErrorRedirectUnregistered =>
        "Is its own authorization server, which redirects errors to an unregistered redirect URI.";
    AsMetadataNoPkce = "as-metadata-no-pkce", defect MetadataNoPkce =>
        "Is its own authorization server, which omits code_challenge_methods_supported from its metadata.";
    AsMetadataWrongIssuer = "as-metadata-wrong-issuer", defect MetadataWrongIssuer =>
        "Is its own authorization server, which names itself in metadata with a trailing slash the issuer URL does not have.";
    AsConsentNoCsrf = "as-consent-no-csrf", defect ConsentNoCsrf =>
        "Is its own authorization server, which accepts consent form submissions without a valid CSRF token.";
    AsConsentFrameable = "as-consent-frameable", defect ConsentFrameable =>
        "Is its own authorization server, which lets its consent page be framed (no X-Frame-Options or frame-ancestors).";
    AsPreRegistered = "as-pre-registered" =>
        "Is its own authorization server with pre-registered clients only (no dynamic registration).";
    AsDcrOnly = "as-dcr-only" =>
        "Is its own authorization server that offers Dynamic Client Registration but no Client ID Metadata Documents.";
    AsIssuerPath = "as-issuer-path" =>
        "Is its own authorization server with an issuer under a path (/oauth), so its metadata sits at the path-inserted URL only.";
    AsConsentPageVague = "as-consent-page-vague", defect ConsentPageVague =>
        "Is its own authorization server, which shows a consent page that names neither the client nor where it redirects.";
    AsMetadataOidcDiffers = "as-metadata-oidc-differs", defect MetadataOidcDiffers =>
        "Is its own authorization server, which names another token endpoint in its OpenID Connect discovery document than in its RFC 8414 metadata.";
    AsMetadataDeadRevocationEndpoint = "as-metadata-dead-revocation-endpoint", defect MetadataDeadRevocationEndpoint =>
        "Is its own authorization server, which advertises a revocation endpoint that does not exist.";
    AsMetadataNoResponseTypes = "as-metadata-no-response-types", defect MetadataNoResponseTypes =>
        "Is its own authorization server, which omits response_types_supported from its metadata.";
    AsTokenTypeWrong = "as-token-type-wrong", defect TokenTypeWrong =>
        "Is its own authorization server, which answers token requests with token_type JWT instead of Bearer.";
    AsRefreshBroken = "as-refresh-broken", defect RefreshBroken =>
        "Is its own authorization server, which issues refresh tokens but refuses every refresh.";
    AsErrorsShownNotRedirected = "as-errors-shown-not-redirected", defect ErrorsShownNotRedirected =>
        "Is its own authorization server, which shows authorization errors as a page even after the client and redirect URI are verified.";
    AsRejectsResource = "as-rejects-resource", defect RejectsResource =>
        "Is its own authorization server, which refuses every authorization request that carries a resource parameter.";
    AsRefreshTokenAccepted = "as-refresh-token-accepted" =>
        "Is its own authorization server, and its MCP endpoint accepts the refresh tokens that server issues as if they were access tokens.";
    AsClientCredentialsRefused = "as-client-credentials-refused", defect ClientCredentialsRefused =>
        "Is its own authorization server, which advertises the client_credentials grant but refuses it.";
    AsProxy = "as-proxy" =>
        "Is an OAuth proxy in front of the upstream identity provider (its own consent page, its own PKCE and tokens upstream) and implements every rule.";
    AsProxyNoConsent = "as-proxy-no-consent" =>
        "Is an OAuth proxy that sends the user to the upstream identity provider without a consent page of its own.";
    AsProxyForwardsChallenge = "as-proxy-forwards-challenge" =>
        "Is an OAuth proxy that forwards the client's PKCE challenge upstream instead of using its own pair.";
    AsProxyAcceptsUpstream = "as-proxy-accepts-upstream" =>
        "Is an OAuth proxy whose MCP endpoint also accepts the upstream identity provider's tokens.";
    AsProxyPassthrough = "as-proxy-passthrough" =>
        "Is an OAuth proxy that hands clients the upstream identity provider's access token instead of its own.";
    AsProxyUnboundCallback = "as-proxy-unbound-callback" =>
        "Is an OAuth proxy whose upstream callback completes the login in any browser, not only the one that consented.";
    AsConsentPerBrowser = "as-consent-per-browser", defect ConsentRememberedPerBrowser =>
        "Is its own authorization server with a consent page that, once approved in a browser, approves every client there.";
    AsDeadRefreshInvalidRequest = "as-dead-refresh-invalid-request", defect DeadRefreshInvalidRequest =>
        "Is its own authorization server, which answers an unknown refresh token with invalid_request instead of invalid_grant.";
    AsTokenScopeOmitted = "as-token-scope-omitted", defect TokenScopeOmitted =>
        "Is its own authorization server with a consent page, whose token responses never say which scope was granted.";
    AsProxyIgnoresUpstreamRevocation = "as-proxy-ignores-upstream-revocation" =>
        "Is an OAuth proxy whose tokens stay valid after the upstream identity provider revoked the authorization behind them.";
    AsForgottenClient500 = "as-forgotten-client-500", defect ForgottenClient500 =>
        "Is its own authorization server that forgets registered clients at a restart and then answers their token requests with 500 instead of invalid_client.";
    AsCimdAdvertisedOnly = "as-cimd-advertised-only", defect CimdAdvertisedOnly =>
        "Is its own authorization server, which advertises Client ID Metadata Documents but never fetches one.";
    AsCimdClientIdUnchecked = "as-cimd-client-id-unchecked", defect CimdClientIdUnchecked =>
        "Is its own authorization server, which accepts a Client ID Metadata Document whose client_id is not its URL.";
    AsCimdRedirectUnchecked = "as-cimd-redirect-unchecked", defect CimdRedirectUnchecked =>
        "Is its own authorization server, which lets a metadata-document client use redirect URIs its document does not list.";
    AsCimdSecretAccepted = "as-cimd-secret-accepted", defect CimdSecretAccepted =>
        "Is its own authorization server, which accepts Client ID Metadata Documents that carry a client secret.";
    AsCimdUrlUnchecked = "as-cimd-url-unchecked", defect CimdUrlUnchecked =>
        "Is its own authorization server, which fetches client ID URLs with a fragment or dot segments.";
    AsCimdOversizeAccepted = "as-cimd-oversize-accepted", defect CimdOversizeAccepted =>
        "Is its own authorization server, which reads Client ID Metadata Documents of any size.";
    AsIssuerPathRootOnly = "as-issuer-path-root-only", defect MetadataRootOnly =>
        "Is its own authorization server with an issuer under a path (`/oauth`), which publishes its metadata only at the origin's root well-known URL.";
    AsResourceExactString = "as-resource-exact-string", defect ResourceExactString =>
        "Is its own authorization server, which compares resource parameters as strings, so an uppercase scheme or host is an unknown resource.";
    AsResourceSlashLoose = "as-resource-slash-loose", defect ResourceSlashLoose =>
        "Is its own authorization server, which accepts its resource with a trailing slash and binds the token to that string, which the MCP endpoint then refuses.";
    AsConsentCookieLoose = "as-consent-cookie-loose", defect ConsentCookieLoose =>
        "Is its own authorization server with a consent page whose cookie is set without HttpOnly and SameSite.";
    AsRegisterNativeRefused = "as-register-native-refused", defect RegisterNativeRefused =>
        "Is its own authorization server, which refuses registrations with application_type native.";
}

impl Variant {
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
                | Variant::ModernOnly
                | Variant::LegacyOnly
                | Variant::Dpop
                | Variant::AsConformant
                | Variant::AsConsentPage
                | Variant::AsProxy
        )
    }

    /// Whether the target accepts DPoP-bound tokens.
    pub fn speaks_dpop(self) -> bool {
        matches!(self, Variant::Dpop | Variant::DpopProofUnchecked)
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
