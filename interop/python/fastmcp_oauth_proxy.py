"""FastMCP `OAuthProxy`: an authorization server in front of an upstream IdP without DCR.

Configured as FastMCP's OAuth proxy guide shows it, with FastMCP's defaults everywhere else, so
that the verdicts are those a FastMCP user gets: the upstream's endpoints and the one
pre-registered confidential client, a `JWTVerifier` for the upstream's tokens, `base_url`, and
the optional settings the guide lists for an upstream that has them (revocation endpoint,
callback path, valid scopes); consent on (the default) or off (`MCP_PROXY_CONSENT=off`).

What the defaults mean here: MCP clients register with the proxy (DCR is local; every client is
public, auth method `none`) and authorize at the proxy, which sends the browser to the
upstream's /authorize with its own PKCE pair and the client's `resource` (forward_resource),
takes the upstream code at $MCP_UPSTREAM_CALLBACK_PATH and redeems it with authlib's default
client authentication (client_secret_basic), then redirects to the client with a code of its
own. The client gets FastMCP-issued HS256 JWTs (iss = the origin with a trailing slash, aud =
$MCP_TARGET_URL), never the upstream's tokens; each request re-verifies the stored upstream
token with the `JWTVerifier`. Client redirect URIs: the registered ones, on any loopback port
(RFC 8252). Clients and tokens are kept in FastMCP's default store, an encrypted file tree under
$FASTMCP_HOME (interop/run.sh gives each run a fresh one), so they survive a restart.

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
    token_verifier=upstream_verifier,
    base_url=base_url,
    redirect_path=c.env("MCP_UPSTREAM_CALLBACK_PATH", "/auth/callback"),
    valid_scopes=c.env("MCP_UPSTREAM_SCOPES").split() or None,
    require_authorization_consent=c.env("MCP_PROXY_CONSENT", "on").lower() not in ("off", "false", "0"),
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
