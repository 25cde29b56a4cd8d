"""The in-memory `OAuthAuthorizationServerProvider` of the Python SDK's authorization-server targets.

Written the way a server author fills in the SDK's protocol (`mcp.server.auth.provider`); shared by
`sdk_auth_server.py`, which approves every authorization request at once for a fixed user, and
`sdk_login_server.py`, which first asks the user to log in, so that the two differ only in that.

- `authorize` approves at once; it refuses a `resource` other than the server's (invalid_target)
  and grants the requested scopes, or the default scopes when none are requested. The SDK checks
  the client, its redirect URI (exact match with a registered one) and the requested scopes
  against the registered ones before it is called.
- the token endpoint: the SDK verifies PKCE (S256), redirect_uri and client authentication; codes
  are single use (60 s); access tokens are opaque random strings (1 h) bound to the resource;
  refresh tokens rotate (the old refresh token and its access token die at each refresh).
- everything is in memory: a restart forgets clients and tokens.
"""

from __future__ import annotations

import secrets
import time
from urllib.parse import urlsplit, urlunsplit

from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    AuthorizeError,
    OAuthAuthorizationServerProvider,
    RefreshToken,
    construct_redirect_uri,
)
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken

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
        self.check_resource(params)
        return self.approve(client, params, SUBJECT)

    def check_resource(self, params: AuthorizationParams) -> None:
        # Scheme and host are case-insensitive (RFC 3986 §6.2.2.1); the token names the resource
        # as this server spells it.
        if params.resource is not None and _canonical(params.resource) != _canonical(self.resource):
            raise AuthorizeError("invalid_target", f"unknown resource {params.resource}")

    def approve(self, client: OAuthClientInformationFull, params: AuthorizationParams, subject: str) -> str:
        """A code for `subject`, and the redirect that hands it to the client."""
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
            subject=subject,
        )
        return construct_redirect_uri(str(params.redirect_uri), code=code, state=params.state)

    # -- token endpoint --

    async def load_authorization_code(self, client: OAuthClientInformationFull, authorization_code: str):
        code = self.codes.get(authorization_code)
        return code if code and code.client_id == client.client_id else None

    async def exchange_authorization_code(self, client: OAuthClientInformationFull, authorization_code: AuthorizationCode):
        del self.codes[authorization_code.code]  # single use
        return self._issue(client.client_id or "", authorization_code.scopes, authorization_code.resource,
                           authorization_code.subject)

    async def load_refresh_token(self, client: OAuthClientInformationFull, refresh_token: str):
        token = self.refresh_tokens.get(refresh_token)
        return token if token and token.client_id == client.client_id else None

    async def exchange_refresh_token(self, client: OAuthClientInformationFull, refresh_token: RefreshToken, scopes: list[str]):
        self._revoke_pair(refresh_token.token)  # rotation
        return self._issue(client.client_id or "", scopes, refresh_token.resource, refresh_token.subject)

    def _issue(self, client_id: str, scopes: list[str], resource: str | None, subject: str | None) -> OAuthToken:
        now = int(time.time())
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        self.access_tokens[access] = AccessToken(
            token=access, client_id=client_id, scopes=scopes, expires_at=now + ACCESS_TTL,
            resource=resource, subject=subject, claims={"iss": self.issuer},
        )
        self.refresh_tokens[refresh] = RefreshToken(
            token=refresh, client_id=client_id, scopes=scopes, expires_at=now + REFRESH_TTL,
            resource=resource, subject=subject,
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
