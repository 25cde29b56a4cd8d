"""FastMCP `OAuthProxy`: an authorization server in front of an upstream IdP without DCR.

MCP clients register with the proxy (DCR is local; every client is public, auth method
`none`), authorize at the proxy, which sends the browser to the upstream's /authorize with
the one pre-registered confidential client and its own PKCE, takes the upstream code at
$MCP_UPSTREAM_CALLBACK_PATH, exchanges it (client_secret_post) and redirects to the client
with a code of its own. The client gets FastMCP-issued HS256 JWTs (iss = the origin with a
trailing slash, aud = $MCP_TARGET_URL), never the upstream's tokens; each request re-verifies the stored
upstream token with a `JWTVerifier` on the upstream JWKS.

The upstream is always asked for resource = $MCP_TARGET_URL (the client's own `resource`,
which the proxy also checks, must name this server anyway), so the upstream token's audience
is known and checked. Client redirect URIs: loopback only (127.0.0.1, localhost, [::1], any
port and path; FastMCP then checks them against these patterns only, not against the URIs the
client registered). State lives in memory: a restart forgets clients and tokens.

Env: MCP_TARGET_URL (or MCP_TARGET_HOST/PORT/PATH), MCP_UPSTREAM_ISSUER,
MCP_UPSTREAM_AUTHORIZATION_ENDPOINT, MCP_UPSTREAM_TOKEN_ENDPOINT,
MCP_UPSTREAM_REVOCATION_ENDPOINT (optional), MCP_UPSTREAM_JWKS_URI, MCP_UPSTREAM_CLIENT_ID,
MCP_UPSTREAM_CLIENT_SECRET, MCP_UPSTREAM_CALLBACK_PATH (default /auth/callback),
MCP_UPSTREAM_SCOPES (scopes clients may ask for; default: the required scopes),
MCP_PROXY_CONSENT (on, the default: FastMCP's consent page; off: none),
MCP_AUTH_REQUIRED_SCOPES.
"""

from urllib.parse import urlsplit

import _common as c

c.quiet_fastmcp()

from fastmcp import FastMCP  # noqa: E402
from fastmcp.server.auth.oauth_proxy import OAuthProxy  # noqa: E402
from fastmcp.server.auth.providers.jwt import JWTVerifier  # noqa: E402
from fastmcp.server.dependencies import get_access_token  # noqa: E402
from key_value.aio.stores.memory import MemoryStore  # noqa: E402

url = urlsplit(c.target_url())
base_url = f"{url.scheme}://{url.netloc}"
mcp_path = url.path or c.path()
issuer = c.env("MCP_UPSTREAM_ISSUER", c.env("MCP_AUTH_ISSUER")).rstrip("/")

upstream_verifier = JWTVerifier(
    jwks_uri=c.env("MCP_UPSTREAM_JWKS_URI", f"{issuer}/jwks"),
    issuer=issuer,
    audience=c.target_url(),
    required_scopes=c.required_scopes(),
)

auth = OAuthProxy(
    upstream_authorization_endpoint=c.env("MCP_UPSTREAM_AUTHORIZATION_ENDPOINT", f"{issuer}/authorize"),
    upstream_token_endpoint=c.env("MCP_UPSTREAM_TOKEN_ENDPOINT", f"{issuer}/token"),
    upstream_revocation_endpoint=c.env("MCP_UPSTREAM_REVOCATION_ENDPOINT") or None,
    upstream_client_id=c.env("MCP_UPSTREAM_CLIENT_ID"),
    upstream_client_secret=c.env("MCP_UPSTREAM_CLIENT_SECRET"),
    token_endpoint_auth_method="client_secret_post",
    token_verifier=upstream_verifier,
    base_url=base_url,
    redirect_path=c.env("MCP_UPSTREAM_CALLBACK_PATH", "/auth/callback"),
    valid_scopes=c.env("MCP_UPSTREAM_SCOPES").split() or None,
    # FastMCP's default (None): redirect URIs must be the client's registered ones, with any
    # loopback port (RFC 8252). A pattern list here would replace that check, not add to it.
    allowed_client_redirect_uris=None,
    extra_authorize_params={"resource": c.target_url()},
    require_authorization_consent=c.env("MCP_PROXY_CONSENT", "on").lower() not in ("off", "false", "0"),
    client_storage=MemoryStore(),
)

mcp = FastMCP("interop-fastmcp-oauth-proxy", auth=auth)


@mcp.tool
def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


@mcp.tool
def whoami() -> dict:
    """The client id and scopes of the caller's access token."""
    token = get_access_token()
    return {"client_id": token.client_id, "scopes": token.scopes} if token else {}


if __name__ == "__main__":
    mcp.run(transport="http", host=c.host(), port=c.port(), path=mcp_path,
            log_level=c.log_level(), show_banner=False)
