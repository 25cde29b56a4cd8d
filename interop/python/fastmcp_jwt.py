"""FastMCP resource server with a pure `JWTVerifier` (no protected-resource metadata).

Env: MCP_TARGET_HOST/PORT/PATH, MCP_AUTH_ISSUER, MCP_AUTH_JWKS_URI,
MCP_AUTH_AUDIENCE (empty or unset: no audience check), MCP_AUTH_REQUIRED_SCOPES.
"""

import _common as c

c.quiet_fastmcp()

from fastmcp import FastMCP  # noqa: E402
from fastmcp.server.auth.providers.jwt import JWTVerifier  # noqa: E402
from fastmcp.server.dependencies import get_access_token  # noqa: E402

verifier = JWTVerifier(
    jwks_uri=c.env("MCP_AUTH_JWKS_URI"),
    issuer=c.env("MCP_AUTH_ISSUER"),
    audience=c.audience(),
    required_scopes=c.required_scopes(),
)

mcp = FastMCP("interop-fastmcp-jwt", auth=verifier)


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
