"""FastMCP resource server with `IntrospectionTokenVerifier` (RFC 7662).

Env: MCP_TARGET_HOST/PORT/PATH, MCP_AUTH_INTROSPECTION_URL, MCP_AUTH_CLIENT_ID,
MCP_AUTH_CLIENT_SECRET, MCP_AUTH_AUDIENCE (empty or unset: no audience check),
MCP_AUTH_REQUIRED_SCOPES.
"""

import _common as c

c.quiet_fastmcp()

from fastmcp import FastMCP  # noqa: E402
from fastmcp.server.auth.providers.introspection import IntrospectionTokenVerifier  # noqa: E402
from fastmcp.server.dependencies import get_access_token  # noqa: E402

verifier = IntrospectionTokenVerifier(
    introspection_url=c.env("MCP_AUTH_INTROSPECTION_URL"),
    client_id=c.env("MCP_AUTH_CLIENT_ID"),
    client_secret=c.env("MCP_AUTH_CLIENT_SECRET"),
    required_scopes=c.required_scopes(),
    audience=c.audience(),
)

mcp = FastMCP("interop-fastmcp-introspection", auth=verifier)


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
