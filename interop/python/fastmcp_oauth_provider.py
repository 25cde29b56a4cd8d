"""FastMCP as its own authorization server: the stock `InMemoryOAuthProvider`.

One process is both the authorization server and the MCP resource: RFC 8414 metadata,
/authorize (auto-approves: no login, no consent page, redirects straight back with a code),
/token (authorization_code with PKCE S256, refresh_token with rotation), /register (open
RFC 7591 DCR), /revoke, and RFC 9728 metadata for the MCP endpoint. Tokens are opaque random
strings held in memory (1 h access, refresh without expiry), not bound to a resource; a restart
forgets clients and tokens. base_url = issuer = the origin of $MCP_TARGET_URL.

Scopes: a client asking for none gets a token with none (the provider grants only what was asked
for and what the client registered), so with $MCP_AUTH_REQUIRED_SCOPES set such a token is
refused with 403 insufficient_scope. DCR clients that omit `scope` are registered with the
required scopes.

Env: MCP_TARGET_URL (or MCP_TARGET_HOST/PORT/PATH), MCP_AUTH_REQUIRED_SCOPES.
"""

from urllib.parse import urlsplit

import _common as c

c.quiet_fastmcp()

from fastmcp import FastMCP  # noqa: E402
from fastmcp.server.auth.providers.in_memory import InMemoryOAuthProvider  # noqa: E402
from fastmcp.server.dependencies import get_access_token  # noqa: E402
from mcp.server.auth.settings import ClientRegistrationOptions, RevocationOptions  # noqa: E402

url = urlsplit(c.target_url())
base_url = f"{url.scheme}://{url.netloc}"
mcp_path = url.path or c.path()
scopes = c.required_scopes()

auth = InMemoryOAuthProvider(
    base_url=base_url,
    client_registration_options=ClientRegistrationOptions(
        enabled=True,
        valid_scopes=scopes or None,
        default_scopes=scopes or None,
    ),
    revocation_options=RevocationOptions(enabled=True),
    required_scopes=scopes,
)

mcp = FastMCP("interop-fastmcp-oauth-provider", auth=auth)


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
