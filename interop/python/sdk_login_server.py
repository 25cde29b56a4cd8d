"""Official MCP Python SDK (mcp 2.x `MCPServer`) as its own authorization server, with a login page.

The shape of the SDK's "simple auth" example server: the provider's `authorize` does not approve
at once but sends the user agent to a login page of the server's own (`/login`, a custom route),
whose form asks for a username and a password; the form is posted back to `/login`, and only a
right password gets the authorization code, handed to the client's redirect URI with its `state`.
Everything after that (token endpoint, refresh rotation, revocation, the bearer check with
`validate_token_resource`) is `sdk_auth_server.py`'s in-memory provider, unchanged, so the two
targets differ only in the login.

The server knows one account, a test account made for the interop suite and nothing else (like
the example's demo user): `TEST_USER` / `TEST_PASSWORD` below, which interop/run.sh gives the
harness with --login-user and --login-password. As in the example, a pending login is known by
the client's `state` (a random one when the client sent none), here together with its `client_id`
so that two clients cannot meet; it is kept for ten minutes, and a wrong password shows the form
again with HTTP 401, as a person would see it.

Env: MCP_TARGET_URL (or MCP_TARGET_HOST/PORT/PATH), MCP_AUTH_REQUIRED_SCOPES.
"""

from __future__ import annotations

import hmac
import html
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AuthorizationParams
from mcp.server.auth.settings import AuthSettings, ClientRegistrationOptions, RevocationOptions
from mcp.server.mcpserver import MCPServer
from mcp.shared.auth import OAuthClientInformationFull
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

import _common as c
from _sdk_memory_provider import InMemoryAuthServer

# The interop suite's test account: it exists only in this file and in interop/run.sh.
TEST_USER = "interop-login-tester"
TEST_PASSWORD = "interop-login-password-8d41"

LOGIN_TTL = 600


@dataclass
class PendingLogin:
    client: OAuthClientInformationFull
    params: AuthorizationParams
    expires_at: float


class LoginAuthServer(InMemoryAuthServer):
    """The in-memory provider, with a login page between /authorize and the code."""

    def __init__(self, issuer: str, resource: str, default_scopes: list[str]):
        super().__init__(issuer, resource, default_scopes)
        self.pending: dict[str, PendingLogin] = {}

    async def authorize(self, client: OAuthClientInformationFull, params: AuthorizationParams) -> str:
        # Refused before anyone is asked for a password: the resource is not this server's.
        self.check_resource(params)
        client_id = client.client_id or ""
        state = params.state or secrets.token_hex(16)
        self.pending[(client_id, state)] = PendingLogin(client, params, time.time() + LOGIN_TTL)
        return f"{self.issuer}/login?{urlencode({'client_id': client_id, 'state': state})}"

    def pending_login(self, key: tuple[str, str]) -> PendingLogin | None:
        now = time.time()
        for stale in [k for k, v in self.pending.items() if v.expires_at < now]:
            del self.pending[stale]
        return self.pending.get(key)

    def log_in(self, key: tuple[str, str], username: str, password: str) -> str | None:
        """The client's redirect with a code when the account is right, else None."""
        login = self.pending_login(key)
        # Both compared in constant time, so the answer's timing tells nothing about either.
        user_ok = hmac.compare_digest(username.encode(), TEST_USER.encode())
        password_ok = hmac.compare_digest(password.encode(), TEST_PASSWORD.encode())
        if login is None or not (user_ok and password_ok):
            return None
        del self.pending[key]  # a login completes once
        return self.approve(login.client, login.params, username)


def login_page(key: tuple[str, str], client_name: str, error: str = "", status: int = 200) -> HTMLResponse:
    message = f'<p role="alert">{html.escape(error)}</p>' if error else ""
    body = f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Sign in</title></head>
<body>
<h1>Sign in</h1>
<p>{html.escape(client_name)} asks to use this MCP server on your behalf.</p>
{message}
<form method="post" action="/login">
  <input type="hidden" name="client_id" value="{html.escape(key[0])}">
  <input type="hidden" name="state" value="{html.escape(key[1])}">
  <label>Username <input type="text" name="username" autocomplete="username" required></label>
  <label>Password <input type="password" name="password" autocomplete="current-password" required></label>
  <button type="submit">Sign in</button>
</form>
</body>
</html>
"""
    # The page takes a password: no other site may frame it, and no cache may keep it.
    return HTMLResponse(body, status_code=status, headers={
        "Cache-Control": "no-store",
        "X-Frame-Options": "DENY",
        "Content-Security-Policy": "frame-ancestors 'none'",
    })


c.configure_logging()

target = urlsplit(c.target_url())
origin = f"{target.scheme}://{target.netloc}"
scopes = c.required_scopes()
provider = LoginAuthServer(origin, c.target_url(), scopes)

mcp = MCPServer(
    "interop-sdk-login-server",
    auth_server_provider=provider,
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


def client_name(login: PendingLogin) -> str:
    return login.client.client_name or login.client.client_id or "An application"


@mcp.custom_route("/login", methods=["GET"])
async def show_login(request: Request) -> Response:
    key = (request.query_params.get("client_id", ""), request.query_params.get("state", ""))
    login = provider.pending_login(key)
    if login is None:
        return HTMLResponse("<p>This sign-in link has expired. Start again from your application.</p>",
                            status_code=400)
    return login_page(key, client_name(login))


@mcp.custom_route("/login", methods=["POST"])
async def submit_login(request: Request) -> Response:
    form = await request.form()
    fields = {name: form.get(name) for name in ("client_id", "state", "username", "password")}
    if not all(isinstance(value, str) for value in fields.values()):
        return HTMLResponse("<p>The form was incomplete.</p>", status_code=400)
    key = (fields["client_id"], fields["state"])
    login = provider.pending_login(key)
    if login is None:
        return HTMLResponse("<p>This sign-in link has expired. Start again from your application.</p>",
                            status_code=400)
    redirect = provider.log_in(key, fields["username"], fields["password"])
    if redirect is None:
        return login_page(key, client_name(login), "Wrong username or password.", 401)
    # 303: the browser follows a form post with a GET, so the password is not sent on.
    return RedirectResponse(redirect, status_code=303)


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
