"""Official MCP Python SDK (mcp 2.x `MCPServer`) as its own authorization server.

The SDK's `mcp.server.auth` routes (RFC 8414 metadata, /authorize, /token, /register, /revoke,
RFC 9728 metadata) around an in-memory `OAuthAuthorizationServerProvider` (`_sdk_memory_provider.py`),
written the way a server author fills in the SDK's protocol:

- /authorize approves at once (no login, no consent page) for a fixed user; it refuses a
  `resource` other than $MCP_TARGET_URL (invalid_target) and grants the requested scopes, or the
  required scopes when none are requested. The SDK checks the client, its redirect URI (exact
  match with a registered one) and the requested scopes against the registered ones.
- /token: the SDK verifies PKCE (S256), redirect_uri and client authentication; codes are single
  use (60 s); access tokens are opaque random strings (1 h) bound to the resource; refresh
  tokens rotate (the old refresh token and its access token die at each refresh).
- the bearer check is the SDK's, with `validate_token_resource`: a token must name this resource.

Everything is in memory: a restart forgets clients and tokens. issuer = origin of
$MCP_TARGET_URL; DCR is open.

Env: MCP_TARGET_URL (or MCP_TARGET_HOST/PORT/PATH), MCP_AUTH_REQUIRED_SCOPES.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.settings import AuthSettings, ClientRegistrationOptions, RevocationOptions
from mcp.server.mcpserver import MCPServer

import _common as c
from _sdk_memory_provider import InMemoryAuthServer

c.configure_logging()

target = urlsplit(c.target_url())
origin = f"{target.scheme}://{target.netloc}"
scopes = c.required_scopes()

mcp = MCPServer(
    "interop-sdk-auth-server",
    auth_server_provider=InMemoryAuthServer(origin, c.target_url(), scopes),
    auth=AuthSettings(
        issuer_url=origin,
        resource_server_url=c.target_url(),
        required_scopes=scopes,
        client_registration_options=ClientRegistrationOptions(
            enabled=True, valid_scopes=scopes or None, default_scopes=scopes or None
        ),
        revocation_options=RevocationOptions(enabled=True),
        validate_token_resource=True,
    ),
    log_level=c.log_level(),
)


@mcp.tool()
def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


@mcp.tool()
def whoami() -> dict:
    """The client id and scopes of the caller's access token."""
    token = get_access_token()
    return {"client_id": token.client_id, "scopes": token.scopes} if token else {}


if __name__ == "__main__":
    mcp.run("streamable-http", host=c.host(), port=c.port(), streamable_http_path=target.path or c.path())
