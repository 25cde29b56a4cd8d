// Interop target: the official TypeScript SDK (@modelcontextprotocol/sdk 1.32) as an OAuth proxy:
// `mcpAuthRouter` with a `ProxyOAuthServerProvider` whose endpoints are the upstream IdP's, in front
// of a Streamable HTTP MCP endpoint guarded by `requireBearerAuth`.
//
// The SDK's proxy is a pass-through: /authorize redirects the browser to the upstream's /authorize
// with the client's own client_id, redirect_uri, PKCE challenge, state, scope and resource; /token
// and /revoke forward to the upstream (client_secret_post, the secret taken from getClient's answer)
// and hand the upstream's tokens to the client unchanged. It has no callback of its own.
//
// Clients: the upstream accepts only its pre-registered client, so there is nothing to register
// locally: `getClient` knows exactly one client, the upstream's (id, secret, redirect URIs), and no
// /register is offered (no registration_endpoint in the metadata). An MCP client is configured
// with that client id and secret out of band, as for any IdP without DCR; since the client
// redirects straight to the upstream, its redirect URI must be one the upstream registered
// (loopback http://127.0.0.1/callback or http://localhost/callback, any port). A deployment that
// wants DCR must mint local clients and run a second authorization leg itself (a callback of its
// own, its own codes and tokens): that is FastMCP's OAuthProxy, not this SDK class.
//
// Resource: the upstream is always asked for a token for $MCP_TARGET_URL (the default when the
// client names none; another resource is refused with invalid_target), so `verifyAccessToken`
// checks the upstream JWT with jose against the upstream JWKS, issuer and aud = $MCP_TARGET_URL.
//
// Configured only by environment variables: MCP_TARGET_URL (or MCP_TARGET_HOST/PORT/PATH),
// MCP_UPSTREAM_ISSUER, MCP_UPSTREAM_AUTHORIZATION_ENDPOINT, MCP_UPSTREAM_TOKEN_ENDPOINT,
// MCP_UPSTREAM_REVOCATION_ENDPOINT (optional), MCP_UPSTREAM_JWKS_URI, MCP_UPSTREAM_CLIENT_ID,
// MCP_UPSTREAM_CLIENT_SECRET, MCP_UPSTREAM_CALLBACK_PATH (only listed among the client's redirect
// URIs), MCP_UPSTREAM_SCOPES (advertised scopes_supported), MCP_AUTH_REQUIRED_SCOPES,
// MCP_TARGET_VERBOSE=1 (log token rejections). Logs to stderr.
import { randomUUID } from 'node:crypto';
import * as z from 'zod';
import { createRemoteJWKSet, jwtVerify, errors as joseErrors } from 'jose';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import { mcpAuthRouter, getOAuthProtectedResourceMetadataUrl } from '@modelcontextprotocol/sdk/server/auth/router.js';
import { ProxyOAuthServerProvider } from '@modelcontextprotocol/sdk/server/auth/providers/proxyProvider.js';
import { InvalidTargetError, InvalidTokenError, ServerError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { TOKEN_ERRORS } from './_target.mjs';

const env = process.env;
const HOST = env.MCP_TARGET_HOST || '127.0.0.1';
const PORT = Number.parseInt(env.MCP_TARGET_PORT || '8000', 10);
const TARGET_URL = new URL(
    env.MCP_TARGET_URL || `http://${HOST.includes(':') ? `[${HOST}]` : HOST}:${PORT}${env.MCP_TARGET_PATH || '/mcp'}`
);
const PATH = TARGET_URL.pathname;
const ORIGIN = TARGET_URL.origin;
const UPSTREAM = (env.MCP_UPSTREAM_ISSUER || env.MCP_AUTH_ISSUER || '').replace(/\/$/, '');
if (!UPSTREAM) fatal('MCP_UPSTREAM_ISSUER must be set');
const UPSTREAM_CLIENT_ID = env.MCP_UPSTREAM_CLIENT_ID || fatal('MCP_UPSTREAM_CLIENT_ID must be set');
const UPSTREAM_CLIENT_SECRET = env.MCP_UPSTREAM_CLIENT_SECRET || undefined;
const CALLBACK_PATH = env.MCP_UPSTREAM_CALLBACK_PATH || '/auth/callback';
const UPSTREAM_SCOPES = (env.MCP_UPSTREAM_SCOPES || '').split(/\s+/).filter(Boolean);
const REQUIRED_SCOPES = (env.MCP_AUTH_REQUIRED_SCOPES || '').split(/\s+/).filter(Boolean);
const VERBOSE = env.MCP_TARGET_VERBOSE === '1';

function fatal(message) {
    console.error(`ts_sdk_proxy: ${message}`);
    process.exit(2);
}

function log(...args) {
    if (VERBOSE) console.error('ts_sdk_proxy:', ...args);
}

// ---- the one client the upstream knows -------------------------------------------------------

const upstreamClient = {
    client_id: UPSTREAM_CLIENT_ID,
    ...(UPSTREAM_CLIENT_SECRET && { client_secret: UPSTREAM_CLIENT_SECRET }),
    redirect_uris: [`${ORIGIN}${CALLBACK_PATH}`, 'http://127.0.0.1/callback', 'http://localhost/callback'],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: UPSTREAM_CLIENT_SECRET ? 'client_secret_post' : 'none',
    ...(UPSTREAM_SCOPES.length > 0 && { scope: UPSTREAM_SCOPES.join(' ') })
};

// ---- upstream token verification (jose) -----------------------------------------------------

const jwks = createRemoteJWKSet(new URL(env.MCP_UPSTREAM_JWKS_URI || `${UPSTREAM}/jwks`));


async function verifyAccessToken(token) {
    let payload;
    try {
        ({ payload } = await jwtVerify(token, jwks, { issuer: UPSTREAM, audience: TARGET_URL.href }));
    } catch (err) {
        log('token rejected:', err?.code || err?.name, err?.message);
        if (TOKEN_ERRORS.some(cls => err instanceof cls)) {
            throw new InvalidTokenError(err instanceof joseErrors.JWTExpired ? 'Token has expired' : 'Invalid token');
        }
        throw new ServerError('Token verification failed');
    }
    return {
        token,
        clientId: payload.client_id ?? payload.azp ?? payload.sub ?? 'unknown',
        scopes: typeof payload.scope === 'string' ? payload.scope.split(' ').filter(Boolean) : [],
        expiresAt: payload.exp,
        resource: new URL(TARGET_URL.href), // jwtVerify checked it is among the audiences
        extra: { sub: payload.sub }
    };
}

// ---- the proxy provider ---------------------------------------------------------------------

// The SDK class forwards the client's `resource` and `scope` as they are; this one makes
// $MCP_TARGET_URL the default resource and refuses any other, so every upstream token is
// audience-bound to this server, and asks for the required scopes when the client names none.
function ownResource(resource) {
    if (resource && resource.href.replace(/\/$/, '') !== TARGET_URL.href.replace(/\/$/, '')) {
        throw new InvalidTargetError(`This server is ${TARGET_URL.href}, not ${resource.href}`);
    }
    return new URL(TARGET_URL.href);
}

class ResourceBoundProxy extends ProxyOAuthServerProvider {
    async authorize(client, params, res) {
        const scopes = params.scopes?.length ? params.scopes : REQUIRED_SCOPES;
        return super.authorize(client, { ...params, scopes, resource: ownResource(params.resource) }, res);
    }

    async exchangeAuthorizationCode(client, code, codeVerifier, redirectUri, resource) {
        return super.exchangeAuthorizationCode(client, code, codeVerifier, redirectUri, ownResource(resource));
    }

    async exchangeRefreshToken(client, refreshToken, scopes, resource) {
        return super.exchangeRefreshToken(client, refreshToken, scopes, ownResource(resource));
    }
}

const provider = new ResourceBoundProxy({
    endpoints: {
        authorizationUrl: env.MCP_UPSTREAM_AUTHORIZATION_ENDPOINT || `${UPSTREAM}/authorize`,
        tokenUrl: env.MCP_UPSTREAM_TOKEN_ENDPOINT || `${UPSTREAM}/token`,
        revocationUrl: env.MCP_UPSTREAM_REVOCATION_ENDPOINT || undefined
        // no registrationUrl: the upstream has no DCR, so neither does the proxy
    },
    verifyAccessToken,
    getClient: async clientId => (clientId === UPSTREAM_CLIENT_ID ? upstreamClient : undefined)
});

// ---- MCP server -----------------------------------------------------------------------------

function buildServer() {
    const server = new McpServer({ name: 'mcp-auth-conformance-ts-sdk-proxy', version: '0.0.0' });
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

const app = createMcpExpressApp({ host: HOST });

app.use(
    mcpAuthRouter({
        provider,
        issuerUrl: new URL(ORIGIN),
        resourceServerUrl: TARGET_URL,
        scopesSupported: UPSTREAM_SCOPES.length > 0 ? UPSTREAM_SCOPES : REQUIRED_SCOPES.length > 0 ? REQUIRED_SCOPES : undefined,
        resourceName: 'MCP auth conformance interop target (TypeScript SDK OAuth proxy)',
        // The SDK's default rate limits (50 token and 100 authorize requests per 15 minutes)
        // would answer 429 halfway through a conformance run, which sends many on purpose.
        authorizationOptions: { rateLimit: false },
        tokenOptions: { rateLimit: false },
        clientRegistrationOptions: { rateLimit: false },
        revocationOptions: { rateLimit: false }
    })
);

const authMiddleware = requireBearerAuth({
    verifier: provider,
    requiredScopes: REQUIRED_SCOPES,
    resourceMetadataUrl: getOAuthProtectedResourceMetadataUrl(TARGET_URL),
    expectedResource: TARGET_URL
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
                onsessioninitialized: id => transports.set(id, transport)
            });
            transport.onclose = () => {
                if (transport.sessionId) transports.delete(transport.sessionId);
            };
            await buildServer().connect(transport);
        }
        await transport.handleRequest(req, res, req.body);
    } catch (err) {
        console.error('ts_sdk_proxy: error handling MCP request:', err);
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
        console.error('ts_sdk_proxy: error handling MCP request:', err);
        if (!res.headersSent) jsonRpcError(res, 500, -32603, 'Internal server error');
    }
};
app.get(PATH, authMiddleware, sessionRequest);
app.delete(PATH, authMiddleware, sessionRequest);

const httpServer = app.listen(PORT, HOST, error => {
    if (error) {
        console.error('ts_sdk_proxy: failed to listen:', error);
        process.exit(1);
    }
    console.error(`ts_sdk_proxy: listening on http://${HOST}:${PORT}${PATH} (resource ${TARGET_URL.href}, upstream ${UPSTREAM})`);
});

async function shutdown() {
    for (const transport of transports.values()) await transport.close().catch(() => {});
    httpServer.close();
    httpServer.closeAllConnections?.();
    process.exit(0);
}
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
