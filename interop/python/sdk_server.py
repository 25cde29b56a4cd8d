"""Official MCP Python SDK (mcp 2.x `MCPServer`) resource server with a PyJWT TokenVerifier.

The verifier is what a typical user writes: fetch the signing key from the JWKS with
`PyJWKClient`, then `jwt.decode` with the expected issuer and audience.

Env: MCP_TARGET_URL (or MCP_TARGET_HOST/PORT/PATH), MCP_AUTH_ISSUER, MCP_AUTH_JWKS_URI,
MCP_AUTH_AUDIENCE (empty or unset: no audience check), MCP_AUTH_REQUIRED_SCOPES.
"""

from __future__ import annotations

import logging

import anyio
import jwt
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer

import _common as c

logger = logging.getLogger("interop.sdk_server")


class JWKSTokenVerifier(TokenVerifier):
    """Verifies RS256 access tokens against the authorization server's JWKS."""

    def __init__(self, jwks_uri: str, issuer: str, audience: str | None):
        self.jwks_client = jwt.PyJWKClient(jwks_uri)
        self.issuer = issuer
        self.audience = audience

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            # PyJWKClient fetches with blocking urllib: keep it off the event loop.
            signing_key = await anyio.to_thread.run_sync(self.jwks_client.get_signing_key_from_jwt, token)
            claims = jwt.decode(
                token,
                signing_key.key,
                algorithms=["RS256"],
                issuer=self.issuer,
                audience=self.audience,
                options={"require": ["exp", "iss"], "verify_aud": self.audience is not None},
            )
        except jwt.PyJWTError as e:
            logger.info("token rejected: %s", e)
            return None

        scope = claims.get("scope", "")
        return AccessToken(
            token=token,
            client_id=str(claims.get("client_id") or claims.get("azp") or claims.get("sub", "")),
            scopes=scope.split() if isinstance(scope, str) else list(scope),
            expires_at=claims.get("exp"),
            resource=self.audience,
            subject=claims.get("sub"),
            claims=claims,
        )


c.configure_logging()

mcp = MCPServer(
    "interop-sdk-server",
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
    mcp.run("streamable-http", host=c.host(), port=c.port(), streamable_http_path=c.path())
