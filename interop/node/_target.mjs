// What the TypeScript SDK targets (ts_sdk_server.mjs on SDK v1, ts_sdk_v2_server.mjs on v2) have
// in common and what no SDK supplies: their configuration from the environment the harness gives,
// the JWT check a server author writes with jose, and fetching the authorization server's metadata
// for mcpAuthMetadataRouter. Each target keeps the part that differs between SDK versions: how a
// refused token becomes the SDK's error.
import { createRemoteJWKSet, jwtVerify, errors as joseErrors } from 'jose';

/** The target's settings from the environment; `prog` names the target in its log lines. */
export function targetConfig(prog) {
    const env = process.env;
    const required = name => {
        const value = env[name];
        if (!value) {
            console.error(`${prog}: ${name} must be set`);
            process.exit(2);
        }
        return value;
    };
    const HOST = env.MCP_TARGET_HOST || '127.0.0.1';
    const PORT = Number.parseInt(env.MCP_TARGET_PORT || '8000', 10);
    const PATH = env.MCP_TARGET_PATH || '/mcp';
    const TARGET_URL = new URL(env.MCP_TARGET_URL || `http://${HOST.includes(':') ? `[${HOST}]` : HOST}:${PORT}${PATH}`);
    const ISSUER = required('MCP_AUTH_ISSUER');
    const VERBOSE = env.MCP_TARGET_VERBOSE === '1';
    return {
        HOST,
        PORT,
        PATH,
        TARGET_URL,
        ISSUER,
        JWKS_URI: env.MCP_AUTH_JWKS_URI || `${ISSUER.replace(/\/$/, '')}/jwks`,
        AUDIENCE: env.MCP_AUTH_AUDIENCE || TARGET_URL.href,
        REQUIRED_SCOPES: (env.MCP_AUTH_REQUIRED_SCOPES || '').split(/\s+/).filter(Boolean),
        log: (...args) => {
            if (VERBOSE) console.error(`${prog}:`, ...args);
        }
    };
}

// Errors that mean "this token is not acceptable"; anything else (JWKS unreachable or malformed,
// a bug) is a server-side failure, which each target hands to its SDK the way its guide says.
export const TOKEN_ERRORS = [
    joseErrors.JWTClaimValidationFailed,
    joseErrors.JWTExpired, // not a subclass of JWTClaimValidationFailed in jose 6
    joseErrors.JWTInvalid,
    joseErrors.JWSInvalid,
    joseErrors.JWSSignatureVerificationFailed,
    joseErrors.JOSEAlgNotAllowed,
    joseErrors.JOSENotSupported,
    joseErrors.JWKSNoMatchingKey,
    joseErrors.JWKSMultipleMatchingKeys
];

/**
 * The jose check of an access token: `verify(token)` resolves to the SDK's AuthInfo, or throws
 * `refused(description)` for a token that is not acceptable, or the error itself for anything else.
 */
export function joseVerifier({ JWKS_URI, ISSUER, AUDIENCE, log }, refused) {
    const jwks = createRemoteJWKSet(new URL(JWKS_URI));
    return async function verify(token) {
        let payload;
        try {
            ({ payload } = await jwtVerify(token, jwks, { issuer: ISSUER, audience: AUDIENCE }));
        } catch (err) {
            log('token rejected:', err?.code || err?.name, err?.message);
            if (TOKEN_ERRORS.some(cls => err instanceof cls)) {
                throw refused(err instanceof joseErrors.JWTExpired ? 'Token has expired' : 'Invalid token');
            }
            throw err;
        }
        const scopes =
            typeof payload.scope === 'string' ? payload.scope.split(' ').filter(Boolean) : Array.isArray(payload.scp) ? payload.scp : [];
        return {
            token,
            clientId: payload.client_id ?? payload.azp ?? payload.sub ?? 'unknown',
            scopes,
            // SDK v2's requireBearerAuth refuses a token whose expiresAt is unset, so it comes from exp.
            expiresAt: payload.exp,
            // jwtVerify checked that AUDIENCE is among the token's audiences.
            resource: new URL(AUDIENCE),
            extra: { sub: payload.sub }
        };
    };
}

/** The authorization server's RFC 8414 metadata, which mcpAuthMetadataRouter mirrors. */
export async function fetchAuthorizationServerMetadata(prog, ISSUER) {
    const base = ISSUER.replace(/\/$/, '');
    const issuerPath = new URL(ISSUER).pathname.replace(/\/$/, '');
    // RFC 8414: insert the well-known segment before the issuer's path; fall back to appending it.
    const candidates = [new URL(`/.well-known/oauth-authorization-server${issuerPath}`, ISSUER).href, `${base}/.well-known/oauth-authorization-server`];
    for (let attempt = 0; attempt < 20; attempt++) {
        for (const url of candidates) {
            try {
                const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
                if (res.ok) return await res.json();
            } catch {
                // try again below
            }
        }
        await new Promise(r => setTimeout(r, 250));
    }
    console.error(`${prog}: could not fetch authorization server metadata for ${ISSUER}; using a minimal document`);
    return {
        issuer: ISSUER,
        authorization_endpoint: `${base}/authorize`,
        token_endpoint: `${base}/token`,
        response_types_supported: ['code']
    };
}
