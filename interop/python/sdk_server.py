"""Official MCP Python SDK (mcp 2.x `MCPServer`) resource server with a PyJWT TokenVerifier.

The verifier is what a typical user writes: fetch the signing key from the JWKS with
`PyJWKClient`, then `jwt.decode` with the expected issuer and audience (`_jwks_verifier.py`).

With MCP_SDK_STATELESS=1 (target `python-sdk-stateless`) the same server is run the way the SDK's
"Running your server" and "Serving legacy clients" pages show for a deployment without sessions:
`mcp.run("streamable-http", stateless_http=True)`. The SDK routes each request by its
`MCP-Protocol-Version` header: a 2026-07-28 request goes to the modern (always sessionless) handler,
anything else to the legacy transport, which `stateless_http=True` serves per request without an
`Mcp-Session-Id`. The SDK has no switch to turn either era off, so both targets speak both.

Env: MCP_TARGET_URL (or MCP_TARGET_HOST/PORT/PATH), MCP_AUTH_ISSUER, MCP_AUTH_JWKS_URI,
MCP_AUTH_AUDIENCE (empty or unset: no audience check), MCP_AUTH_REQUIRED_SCOPES, MCP_SDK_STATELESS.
"""

from __future__ import annotations

import os

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer

import _common as c
from _jwks_verifier import JWKSTokenVerifier


c.configure_logging()

STATELESS = os.environ.get("MCP_SDK_STATELESS") == "1"

mcp = MCPServer(
    "interop-sdk-stateless-server" if STATELESS else "interop-sdk-server",
    token_verifier=JWKSTokenVerifier(
        jwks_uri=c.env("MCP_AUTH_JWKS_URI"),
        issuer=c.env("MCP_AUTH_ISSUER"),
        audience=c.audience(),
    ),
    auth=AuthSettings(
        issuer_url=c.env("MCP_AUTH_ISSUER"),
        resource_server_url=c.target_url(),
        required_scopes=c.required_scopes(),
        # The verifier checks the token's audience itself.
        validate_token_resource=False,
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
    # Transport options go to run(), not to MCPServer(...), as the SDK's documentation insists.
    transport = {"stateless_http": True} if STATELESS else {}
    mcp.run("streamable-http", host=c.host(), port=c.port(), streamable_http_path=c.path(), **transport)
