// Interop target: an MCP server on the official TypeScript SDK (@modelcontextprotocol/sdk 1.32),
// Streamable HTTP with sessions, protected by the SDK's requireBearerAuth middleware and a
// JWT verifier written with jose, the way a typical server author wires it up.
//
// Configured only by environment variables (see README.md). Logs to stderr.
import { randomUUID } from 'node:crypto';
import * as z from 'zod';
import { createRemoteJWKSet, jwtVerify, errors as joseErrors } from 'jose';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import { mcpAuthMetadataRouter, getOAuthProtectedResourceMetadataUrl } from '@modelcontextprotocol/sdk/server/auth/router.js';
import { InvalidTokenError, ServerError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';

const env = process.env;
const HOST = env.MCP_TARGET_HOST || '127.0.0.1';
const PORT = Number.parseInt(env.MCP_TARGET_PORT || '8000', 10);
const PATH = env.MCP_TARGET_PATH || '/mcp';
const TARGET_URL = new URL(env.MCP_TARGET_URL || `http://${HOST.includes(':') ? `[${HOST}]` : HOST}:${PORT}${PATH}`);
const ISSUER = required('MCP_AUTH_ISSUER');
const JWKS_URI = env.MCP_AUTH_JWKS_URI || `${ISSUER.replace(/\/$/, '')}/jwks`;
const AUDIENCE = env.MCP_AUTH_AUDIENCE || TARGET_URL.href;
const REQUIRED_SCOPES = (env.MCP_AUTH_REQUIRED_SCOPES || '').split(/\s+/).filter(Boolean);
const VERBOSE = env.MCP_TARGET_VERBOSE === '1';

function required(name) {
    const value = env[name];
    if (!value) {
        console.error(`ts_sdk_server: ${name} must be set`);
        process.exit(2);
    }
    return value;
}

function log(...args) {
    if (VERBOSE) console.error('ts_sdk_server:', ...args);
}

// ---- token verifier (OAuthTokenVerifier) ----------------------------------------------------

const jwks = createRemoteJWKSet(new URL(JWKS_URI));

// Errors that mean "this token is not acceptable" (401); anything else (JWKS unreachable,
// JWKS malformed, a bug) is a server-side failure (500).
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
                throw new InvalidTokenError(err instanceof joseErrors.JWTExpired ? 'Token has expired' : 'Invalid token');
            }
            throw new ServerError('Token verification failed');
        }
        const scopes =
            typeof payload.scope === 'string' ? payload.scope.split(' ').filter(Boolean) : Array.isArray(payload.scp) ? payload.scp : [];
        return {
            token,
            clientId: payload.client_id ?? payload.azp ?? payload.sub ?? 'unknown',
            scopes,
            expiresAt: payload.exp,
            // jwtVerify checked that AUDIENCE is among the token's audiences
            resource: new URL(AUDIENCE),
            extra: { sub: payload.sub }
        };
    }
};

// ---- authorization-server metadata (needed by mcpAuthMetadataRouter) ------------------------

async function fetchAuthorizationServerMetadata() {
    const base = ISSUER.replace(/\/$/, '');
    const issuerPath = new URL(ISSUER).pathname.replace(/\/$/, '');
    // RFC 8414: insert the well-known segment before the issuer's path; fall back to appending it.
    const candidates = [
        new URL(`/.well-known/oauth-authorization-server${issuerPath}`, ISSUER).href,
        `${base}/.well-known/oauth-authorization-server`
    ];
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
    console.error(`ts_sdk_server: could not fetch authorization server metadata for ${ISSUER}; using a minimal document`);
    return {
        issuer: ISSUER,
        authorization_endpoint: `${base}/authorize`,
        token_endpoint: `${base}/token`,
        response_types_supported: ['code']
    };
}

// ---- MCP server -----------------------------------------------------------------------------

function buildServer() {
    const server = new McpServer({ name: 'mcp-auth-conformance-ts-sdk-target', version: '0.0.0' });
    server.registerTool(
        'echo',
        {
            title: 'Echo',
            description: 'Returns the text it is given',
            inputSchema: { text: z.string().describe('Text to echo') }
        },
        async ({ text }) => ({ content: [{ type: 'text', text }] })
    );
    return server;
}

const oauthMetadata = await fetchAuthorizationServerMetadata();

const app = createMcpExpressApp({ host: HOST });

app.use(
    mcpAuthMetadataRouter({
        oauthMetadata,
        resourceServerUrl: TARGET_URL,
        scopesSupported: REQUIRED_SCOPES.length > 0 ? REQUIRED_SCOPES : undefined,
        resourceName: 'MCP auth conformance interop target (TypeScript SDK)'
    })
);

const authMiddleware = requireBearerAuth({
    verifier,
    requiredScopes: REQUIRED_SCOPES,
    resourceMetadataUrl: getOAuthProtectedResourceMetadataUrl(TARGET_URL)
});

const transports = new Map(); // session id -> StreamableHTTPServerTransport

function jsonRpcError(res, status, code, message) {
    res.status(status).json({ jsonrpc: '2.0', error: { code, message }, id: null });
}

app.post(PATH, authMiddleware, async (req, res) => {
    const sessionId = req.headers['mcp-session-id'];
    try {
        let transport = sessionId ? transports.get(sessionId) : undefined;
        if (!transport) {
            if (sessionId) return jsonRpcError(res, 404, -32001, 'Session not found');
            if (!isInitializeRequest(req.body)) return jsonRpcError(res, 400, -32000, 'Bad Request: No valid session ID provided');
            transport = new StreamableHTTPServerTransport({
                sessionIdGenerator: () => randomUUID(),
                onsessioninitialized: id => {
                    log('session initialized', id);
                    transports.set(id, transport);
                }
            });
            transport.onclose = () => {
                if (transport.sessionId) transports.delete(transport.sessionId);
            };
            await buildServer().connect(transport);
        }
        await transport.handleRequest(req, res, req.body);
    } catch (err) {
        console.error('ts_sdk_server: error handling MCP request:', err);
        if (!res.headersSent) jsonRpcError(res, 500, -32603, 'Internal server error');
    }
});

const sessionRequest = async (req, res) => {
    const sessionId = req.headers['mcp-session-id'];
    if (!sessionId) return jsonRpcError(res, 400, -32000, 'Bad Request: Missing session ID');
    const transport = transports.get(sessionId);
    if (!transport) return jsonRpcError(res, 404, -32001, 'Session not found');
    try {
        await transport.handleRequest(req, res);
    } catch (err) {
        console.error('ts_sdk_server: error handling MCP request:', err);
        if (!res.headersSent) jsonRpcError(res, 500, -32603, 'Internal server error');
    }
};
app.get(PATH, authMiddleware, sessionRequest);
app.delete(PATH, authMiddleware, sessionRequest);

const httpServer = app.listen(PORT, HOST, error => {
    if (error) {
        console.error('ts_sdk_server: failed to listen:', error);
        process.exit(1);
    }
    console.error(
        `ts_sdk_server: listening on http://${HOST}:${PORT}${PATH} (resource ${TARGET_URL.href}, issuer ${ISSUER}, ` +
            `required scopes [${REQUIRED_SCOPES.join(' ')}])`
    );
});

async function shutdown() {
    for (const transport of transports.values()) await transport.close().catch(() => {});
    httpServer.close();
    httpServer.closeAllConnections?.();
    process.exit(0);
}
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
