// Minimal host for oidc-provider (bench/run.sh). Usage: node oidc-provider-host.mjs PORT
//
// - The client `conformance-client` / `conformance-client-secret` (client_secret_basic) may use
//   the client_credentials grant, like mock-idp's token client.
// - A request naming the resource indicator below (RFC 8707 `resource`) gets an RS256 JWT access
//   token (`at+jwt`); a request without `resource` gets an opaque token kept in the in-memory
//   development adapter, which is what introspection looks up.
// - Introspection (RFC 7662, /token/introspection) is enabled; `conformance-rs` /
//   `conformance-rs-secret` is a client that only introspects, like mock-idp's.
// - An RSA-2048 signing key is generated at every start, as oauth2-mock-server does.
// Prints "oidc-provider ready <issuer>" once it listens; stops on SIGTERM or SIGINT.
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node oidc-provider-host.mjs PORT');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;
const RESOURCE = 'https://mcp.example.test/mcp';
const SCOPE = 'mcp:tools';

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'bench-key-1', alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'conformance-client',
      client_secret: 'conformance-client-secret',
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope: SCOPE,
    },
    {
      client_id: 'conformance-rs',
      client_secret: 'conformance-rs-secret',
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: [],
      response_types: [],
      redirect_uris: [],
    },
  ],
  scopes: [SCOPE],
  jwks: { keys: [signingKey] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // No `resource` parameter: no audience, so the token stays opaque.
      defaultResource: () => undefined,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, resourceIndicator) => {
        if (resourceIndicator !== RESOURCE) {
          throw new Error(`unknown resource ${resourceIndicator}`);
        }
        return {
          scope: SCOPE,
          audience: RESOURCE,
          accessTokenTTL: 3600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
});
provider.on('server_error', (_ctx, err) => console.error('oidc-provider server_error', err));

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider ready ${issuer}`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
