"""The token verifier of the official Python SDK targets (`sdk_server.py`, served with and without sessions).

It is what a typical user writes for the SDK's `TokenVerifier` protocol: fetch the signing key from
the JWKS with `PyJWKClient`, then `jwt.decode` with the expected issuer and audience. Both targets
import it from here so that they are judged with the same verifier and differ only in how the SDK
serves them.
"""

from __future__ import annotations

import logging

import anyio
import jwt
from mcp.server.auth.provider import AccessToken, TokenVerifier

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
