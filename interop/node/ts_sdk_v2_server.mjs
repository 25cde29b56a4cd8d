// Interop target: an MCP server on the TypeScript SDK v2 (@modelcontextprotocol/server 2.4), wired
// the way the SDK's "Require authorization" and "Serve with Express" guides show it:
// createMcpHandler(factory) adapted with toNodeHandler from @modelcontextprotocol/node, mounted on
// createMcpExpressApp from @modelcontextprotocol/express behind that package's requireBearerAuth,
// with mcpAuthMetadataRouter serving the RFC 9728 metadata the 401 challenge points at. The one
// function the guides leave to the server author, verifyAccessToken, is a JWT check with jose.
//
// Eras: createMcpHandler's default posture, legacy: 'stateless', is the one the guides present
// first and the one a server gets when it names nothing: it serves the stateless 2026-07-28 wire
// and answers 2025-era clients (initialize, no _meta) per request, without sessions. The guides
// offer legacy: 'reject' for a modern-only endpoint; MCP_TS_LEGACY=reject selects it, so both
// postures are judged from one file.
//
// Configured only by environment variables (see README.md). Logs to stderr.
import * as z from 'zod';
import { createRemoteJWKSet, jwtVerify, errors as joseErrors } from 'jose';
import { createMcpHandler, McpServer, OAuthError, OAuthErrorCode } from '@modelcontextprotocol/server';
import {
    createMcpExpressApp,
    getOAuthProtectedResourceMetadataUrl,
    mcpAuthMetadataRouter,
    requireBearerAuth
} from '@modelcontextprotocol/express';
import { toNodeHandler } from '@modelcontextprotocol/node';

const env = process.env;
const HOST = env.MCP_TARGET_HOST || '127.0.0.1';
const PORT = Number.parseInt(env.MCP_TARGET_PORT || '8000', 10);
const PATH = env.MCP_TARGET_PATH || '/mcp';
const TARGET_URL = new URL(env.MCP_TARGET_URL || `http://${HOST.includes(':') ? `[${HOST}]` : HOST}:${PORT}${PATH}`);
const ISSUER = required('MCP_AUTH_ISSUER');
const JWKS_URI = env.MCP_AUTH_JWKS_URI || `${ISSUER.replace(/\/$/, '')}/jwks`;
const AUDIENCE = env.MCP_AUTH_AUDIENCE || TARGET_URL.href;
const REQUIRED_SCOPES = (env.MCP_AUTH_REQUIRED_SCOPES || '').split(/\s+/).filter(Boolean);
const LEGACY = env.MCP_TS_LEGACY || 'stateless';
const VERBOSE = env.MCP_TARGET_VERBOSE === '1';

if (LEGACY !== 'stateless' && LEGACY !== 'reject') {
    console.error(`ts_sdk_v2_server: MCP_TS_LEGACY must be 'stateless' or 'reject', not '${LEGACY}'`);
    process.exit(2);
}

function required(name) {
    const value = env[name];
    if (!value) {
        console.error(`ts_sdk_v2_server: ${name} must be set`);
        process.exit(2);
    }
    return value;
}

function log(...args) {
    if (VERBOSE) console.error('ts_sdk_v2_server:', ...args);
}

// ---- token verifier (OAuthTokenVerifier) ----------------------------------------------------

const jwks = createRemoteJWKSet(new URL(JWKS_URI));

// Errors that mean "this token is not acceptable": the guide has the verifier throw
// OAuthError(InvalidToken) for those (401). Anything else (JWKS unreachable or malformed, a bug)
// is left to propagate, which requireBearerAuth answers with 500 server_error, as the guide says.
const TOKEN_ERRORS = [
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

const verifier = {
    async verifyAccessToken(token) {
        let payload;
        try {
            ({ payload } = await jwtVerify(token, jwks, { issuer: ISSUER, audience: AUDIENCE }));
        } catch (err) {
            log('token rejected:', err?.code || err?.name, err?.message);
            if (TOKEN_ERRORS.some(cls => err instanceof cls)) {
                throw new OAuthError(OAuthErrorCode.InvalidToken, err instanceof joseErrors.JWTExpired ? 'Token has expired' : 'Invalid token');
            }
            throw err;
        }
        const scopes =
            typeof payload.scope === 'string' ? payload.scope.split(' ').filter(Boolean) : Array.isArray(payload.scp) ? payload.scp : [];
        return {
            token,
            clientId: payload.client_id ?? payload.azp ?? payload.sub ?? 'unknown',
            scopes,
            // requireBearerAuth refuses a token whose expiresAt is unset, so it comes from exp.
            expiresAt: payload.exp,
            // jwtVerify checked that AUDIENCE is among the token's audiences.
            resource: new URL(AUDIENCE),
            extra: { sub: payload.sub }
        };
    }
};

// ---- authorization-server metadata (mcpAuthMetadataRouter mirrors it) -----------------------

async function fetchAuthorizationServerMetadata() {
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
    console.error(`ts_sdk_v2_server: could not fetch authorization server metadata for ${ISSUER}; using a minimal document`);
    return {
        issuer: ISSUER,
        authorization_endpoint: `${base}/authorize`,
        token_endpoint: `${base}/token`,
        response_types_supported: ['code']
    };
}

// ---- MCP server -----------------------------------------------------------------------------

// createMcpHandler calls the factory for every request: a fresh server per request is the SDK's
// model, so the factory only registers the tools.
function buildServer() {
    const server = new McpServer({ name: 'mcp-auth-conformance-ts-sdk-v2-target', version: '0.0.0' });
    server.registerTool(
        'echo',
        {
            title: 'Echo',
            description: 'Returns the text it is given',
            inputSchema: z.object({ text: z.string().describe('Text to echo') })
        },
        async ({ text }) => ({ content: [{ type: 'text', text }] })
    );
    server.registerTool('whoami', { description: "The client id and scopes of the caller's access token" }, async ctx => {
        // ctx.http.authInfo is what the verifier returned, forwarded from req.auth by toNodeHandler.
        const caller = ctx.http?.authInfo;
        const who = caller ? { client_id: caller.clientId, scopes: caller.scopes } : {};
        return { content: [{ type: 'text', text: JSON.stringify(who) }] };
    });
    return server;
}

const oauthMetadata = await fetchAuthorizationServerMetadata();
const resourceMetadataUrl = getOAuthProtectedResourceMetadataUrl(TARGET_URL);

// Host and Origin validation come with createMcpExpressApp on a loopback bind.
const app = createMcpExpressApp({ host: HOST });

app.use(
    mcpAuthMetadataRouter({
        oauthMetadata,
        resourceServerUrl: TARGET_URL,
        scopesSupported: REQUIRED_SCOPES.length > 0 ? REQUIRED_SCOPES : undefined,
        resourceName: 'MCP auth conformance interop target (TypeScript SDK v2)'
    })
);

const auth = requireBearerAuth({ verifier, requiredScopes: REQUIRED_SCOPES, resourceMetadataUrl });

// legacy: 'stateless' is the default and is left unnamed, as a server author who picks nothing
// would leave it.
const handler = createMcpHandler(buildServer, {
    ...(LEGACY === 'reject' ? { legacy: 'reject' } : {}),
    onerror: error => log('handler error:', error?.message)
});
const node = toNodeHandler(handler);
app.all(PATH, auth, (req, res) => void node(req, res, req.body));

const httpServer = app.listen(PORT, HOST, error => {
    if (error) {
        console.error('ts_sdk_v2_server: failed to listen:', error);
        process.exit(1);
    }
    console.error(
        `ts_sdk_v2_server: listening on http://${HOST}:${PORT}${PATH} (resource ${TARGET_URL.href}, issuer ${ISSUER}, ` +
            `required scopes [${REQUIRED_SCOPES.join(' ')}], legacy '${LEGACY}')`
    );
});

async function shutdown() {
    await handler.close().catch(() => {});
    httpServer.close();
    httpServer.closeAllConnections?.();
    process.exit(0);
}
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
