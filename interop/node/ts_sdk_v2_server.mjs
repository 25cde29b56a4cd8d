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
import { createMcpHandler, McpServer, OAuthError, OAuthErrorCode } from '@modelcontextprotocol/server';
import {
    createMcpExpressApp,
    getOAuthProtectedResourceMetadataUrl,
    mcpAuthMetadataRouter,
    requireBearerAuth
} from '@modelcontextprotocol/express';
import { toNodeHandler } from '@modelcontextprotocol/node';
import { fetchAuthorizationServerMetadata, joseVerifier, targetConfig } from './_target.mjs';

const config = targetConfig('ts_sdk_v2_server');
const { HOST, PORT, PATH, TARGET_URL, ISSUER, REQUIRED_SCOPES, log } = config;
const LEGACY = process.env.MCP_TS_LEGACY || 'stateless';

if (LEGACY !== 'stateless' && LEGACY !== 'reject') {
    console.error(`ts_sdk_v2_server: MCP_TS_LEGACY must be 'stateless' or 'reject', not '${LEGACY}'`);
    process.exit(2);
}

// ---- token verifier (OAuthTokenVerifier) ----------------------------------------------------

// A token that is not acceptable: the guide has the verifier throw OAuthError(InvalidToken) (401).
// Anything else (JWKS unreachable or malformed, a bug) is left to propagate, which
// requireBearerAuth answers with 500 server_error, as the guide says.
const verifier = {
    verifyAccessToken: joseVerifier(config, description => new OAuthError(OAuthErrorCode.InvalidToken, description))
};

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

const oauthMetadata = await fetchAuthorizationServerMetadata('ts_sdk_v2_server', ISSUER);
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
