"""Official MCP Python SDK (mcp 2.x `MCPServer`) as its own authorization server.

The SDK's `mcp.server.auth` routes (RFC 8414 metadata, /authorize, /token, /register, /revoke,
RFC 9728 metadata) around an in-memory `OAuthAuthorizationServerProvider` written here, the way
a server author fills in the SDK's protocol:

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

import logging
import secrets
import time
from urllib.parse import urlsplit, urlunsplit

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    AuthorizeError,
    OAuthAuthorizationServerProvider,
    RefreshToken,
    construct_redirect_uri,
)
from mcp.server.auth.settings import AuthSettings, ClientRegistrationOptions, RevocationOptions
from mcp.server.mcpserver import MCPServer
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken

import _common as c

logger = logging.getLogger("interop.sdk_auth_server")

CODE_TTL = 60
ACCESS_TTL = 3600
REFRESH_TTL = 24 * 3600
SUBJECT = "interop-user"


def _canonical(url: str) -> str:
    """The URL with its scheme and host in lowercase."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, parts.query, parts.fragment))


class InMemoryAuthServer(OAuthAuthorizationServerProvider[AuthorizationCode, RefreshToken, AccessToken]):
    def __init__(self, issuer: str, resource: str, default_scopes: list[str]):
        self.issuer = issuer
        self.resource = resource
        self.default_scopes = default_scopes
        self.clients: dict[str, OAuthClientInformationFull] = {}
        self.codes: dict[str, AuthorizationCode] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.pairs: dict[str, str] = {}  # refresh token -> its current access token

    # -- clients (DCR) --

    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        return self.clients.get(client_id)

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        assert client_info.client_id
        self.clients[client_info.client_id] = client_info

    # -- authorization endpoint: auto-approve --

    async def authorize(self, client: OAuthClientInformationFull, params: AuthorizationParams) -> str:
        # Scheme and host are case-insensitive (RFC 3986 §6.2.2.1); the token names the resource
        # as this server spells it.
        if params.resource is not None and _canonical(params.resource) != _canonical(self.resource):
            raise AuthorizeError("invalid_target", f"unknown resource {params.resource}")
        code = secrets.token_urlsafe(32)
        self.codes[code] = AuthorizationCode(
            code=code,
            client_id=client.client_id or "",
            scopes=params.scopes if params.scopes is not None else list(self.default_scopes),
            expires_at=time.time() + CODE_TTL,
            code_challenge=params.code_challenge,
            redirect_uri=params.redirect_uri,
            redirect_uri_provided_explicitly=params.redirect_uri_provided_explicitly,
            resource=self.resource,
            subject=SUBJECT,
        )
        return construct_redirect_uri(str(params.redirect_uri), code=code, state=params.state)

    # -- token endpoint --

    async def load_authorization_code(self, client: OAuthClientInformationFull, authorization_code: str):
        code = self.codes.get(authorization_code)
        return code if code and code.client_id == client.client_id else None

    async def exchange_authorization_code(self, client: OAuthClientInformationFull, authorization_code: AuthorizationCode):
        del self.codes[authorization_code.code]  # single use
        return self._issue(client.client_id or "", authorization_code.scopes, authorization_code.resource)

    async def load_refresh_token(self, client: OAuthClientInformationFull, refresh_token: str):
        token = self.refresh_tokens.get(refresh_token)
        return token if token and token.client_id == client.client_id else None

    async def exchange_refresh_token(self, client: OAuthClientInformationFull, refresh_token: RefreshToken, scopes: list[str]):
        self._revoke_pair(refresh_token.token)  # rotation
        return self._issue(client.client_id or "", scopes, refresh_token.resource)

    def _issue(self, client_id: str, scopes: list[str], resource: str | None) -> OAuthToken:
        now = int(time.time())
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        self.access_tokens[access] = AccessToken(
            token=access, client_id=client_id, scopes=scopes, expires_at=now + ACCESS_TTL,
            resource=resource, subject=SUBJECT, claims={"iss": self.issuer},
        )
        self.refresh_tokens[refresh] = RefreshToken(
            token=refresh, client_id=client_id, scopes=scopes, expires_at=now + REFRESH_TTL,
            resource=resource, subject=SUBJECT,
        )
        self.pairs[refresh] = access
        return OAuthToken(access_token=access, token_type="Bearer", expires_in=ACCESS_TTL,
                          refresh_token=refresh, scope=" ".join(scopes))

    # -- resource server side --

    async def load_access_token(self, token: str) -> AccessToken | None:
        found = self.access_tokens.get(token)
        if found and found.expires_at and found.expires_at < time.time():
            del self.access_tokens[token]
            return None
        return found

    # -- revocation --

    async def revoke_token(self, token: AccessToken | RefreshToken) -> None:
        if isinstance(token, RefreshToken):
            self._revoke_pair(token.token)
            return
        self.access_tokens.pop(token.token, None)
        for refresh, access in list(self.pairs.items()):
            if access == token.token:
                self._revoke_pair(refresh)

    def _revoke_pair(self, refresh: str) -> None:
        self.refresh_tokens.pop(refresh, None)
        self.access_tokens.pop(self.pairs.pop(refresh, ""), None)


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
