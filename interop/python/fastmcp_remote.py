"""FastMCP resource server with `RemoteAuthProvider` around a `JWTVerifier`.

Serves RFC 9728 protected-resource metadata at /.well-known/oauth-protected-resource<path>.
FastMCP builds the metadata's `resource` as base_url + the MCP path, so base_url is the
origin of $MCP_TARGET_URL and `resource` comes out equal to $MCP_TARGET_URL.

Env: MCP_TARGET_URL (or MCP_TARGET_HOST/PORT/PATH), MCP_AUTH_ISSUER, MCP_AUTH_JWKS_URI,
MCP_AUTH_AUDIENCE (empty or unset: no audience check), MCP_AUTH_REQUIRED_SCOPES.
"""

from urllib.parse import urlsplit

import _common as c

c.quiet_fastmcp()

from fastmcp import FastMCP  # noqa: E402
from fastmcp.server.auth import RemoteAuthProvider  # noqa: E402
from fastmcp.server.auth.providers.jwt import JWTVerifier  # noqa: E402
from fastmcp.server.dependencies import get_access_token  # noqa: E402

url = urlsplit(c.target_url())
base_url = f"{url.scheme}://{url.netloc}"
mcp_path = url.path or c.path()

verifier = JWTVerifier(
    jwks_uri=c.env("MCP_AUTH_JWKS_URI"),
    issuer=c.env("MCP_AUTH_ISSUER"),
    audience=c.audience(),
    required_scopes=c.required_scopes(),
)

auth = RemoteAuthProvider(
    token_verifier=verifier,
    authorization_servers=[c.env("MCP_AUTH_ISSUER")],
    base_url=base_url,
)

mcp = FastMCP("interop-fastmcp-remote", auth=auth)


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
