"""FastMCP resource server with `StaticTokenVerifier`: exactly one pre-shared token.

Env: MCP_TARGET_HOST/PORT/PATH, MCP_AUTH_STATIC_TOKEN (required), MCP_AUTH_REQUIRED_SCOPES
(both the scopes the token carries and the scopes required).
"""

import sys

import _common as c

c.quiet_fastmcp()

from fastmcp import FastMCP  # noqa: E402
from fastmcp.server.auth.providers.jwt import StaticTokenVerifier  # noqa: E402
from fastmcp.server.dependencies import get_access_token  # noqa: E402

static_token = c.env("MCP_AUTH_STATIC_TOKEN")
if not static_token:
    sys.exit("fastmcp_static.py: MCP_AUTH_STATIC_TOKEN is not set")

verifier = StaticTokenVerifier(
    tokens={static_token: {"client_id": "interop-client", "scopes": c.required_scopes()}},
    required_scopes=c.required_scopes(),
)

mcp = FastMCP("interop-fastmcp-static", auth=verifier)


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
    mcp.run(transport="http", host=c.host(), port=c.port(), path=c.path(),
            log_level=c.log_level(), show_banner=False)
