// Interop target: an MCP server on the official TypeScript SDK (@modelcontextprotocol/sdk 1.32),
// Streamable HTTP with sessions, protected by the SDK's requireBearerAuth middleware and a
// JWT verifier written with jose, the way a typical server author wires it up.
//
// Configured only by environment variables (see README.md). Logs to stderr.
import { randomUUID } from 'node:crypto';
import * as z from 'zod';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import { mcpAuthMetadataRouter, getOAuthProtectedResourceMetadataUrl } from '@modelcontextprotocol/sdk/server/auth/router.js';
import { InvalidTokenError, ServerError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { fetchAuthorizationServerMetadata, joseVerifier, targetConfig } from './_target.mjs';

const config = targetConfig('ts_sdk_server');
const { HOST, PORT, PATH, TARGET_URL, ISSUER, REQUIRED_SCOPES, log } = config;

// ---- token verifier (OAuthTokenVerifier) ----------------------------------------------------

// A token that is not acceptable is InvalidTokenError (401); any other failure (JWKS unreachable
// or malformed, a bug) is ServerError (500).
const verify = joseVerifier(config, description => new InvalidTokenError(description));
const verifier = {
    async verifyAccessToken(token) {
        try {
            return await verify(token);
        } catch (err) {
            if (err instanceof InvalidTokenError) throw err;
            throw new ServerError('Token verification failed');
        }
    }
};

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

const oauthMetadata = await fetchAuthorizationServerMetadata('ts_sdk_server', ISSUER);

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
