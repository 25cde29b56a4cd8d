"""The official Python SDK's OAuth client (`mcp` on PyPI) against mock-idp.

An MCP client written the way SDK users write one: `OAuthClientProvider` as the httpx2 auth of
the Streamable HTTP transport, an in-memory `TokenStorage`, and a redirect/callback handler pair
standing in for the browser. mock-idp approves at once and answers the authorization request
with a 302 to the redirect URI, so the redirect handler sends that request itself (not
following the redirect) and hands the code, state and iss from `Location` to the callback
handler.

The SDK discovers everything itself from the MCP server's 401 (RFC 9728 metadata, then RFC 8414
metadata), registers dynamically (RFC 7591), authorizes with PKCE and exchanges the code. After
the first MCP calls the script waits past the access token's lifetime (mock-idp is configured
with a short one) and makes another call through the same provider, so the SDK refreshes the
way a real client does: by itself, before the request, from its own expiry check.

Then mock-idp's request log (`/_control/requests`) must show exactly one registration, one
authorization request (S256, with `resource`), one authorization-code exchange and one refresh,
all answered successfully. Prints PASS/FAIL per step; exits 1 on any failure.

    python oauth_client_flow.py --mcp-url http://127.0.0.1:PORT/mcp --issuer http://127.0.0.1:IDP
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
from mcp.client import Client
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

# Never contacted: mock-idp's 302 goes to it, and the redirect handler reads Location instead.
REDIRECT_URI = "http://127.0.0.1:8765/callback"


class InMemoryTokenStorage:
    """The SDK's `TokenStorage` protocol, kept in memory; remembers every token set it was given."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None
        self.token_history: list[OAuthToken] = []

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens
        self.token_history.append(tokens)

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


@dataclass
class Browser:
    """Stands in for the user agent: sends the authorization request, reads the redirect."""

    timeout: float
    authorization_urls: list[str] = field(default_factory=list)
    pending: AuthorizationCodeResult | None = None

    async def redirect_handler(self, authorization_url: str) -> None:
        self.authorization_urls.append(authorization_url)
        async with httpx2.AsyncClient(follow_redirects=False, timeout=self.timeout) as http:
            response = await http.get(authorization_url)
        if response.status_code != 302:
            raise RuntimeError(
                f"authorization request answered {response.status_code}, not 302: {response.text[:500]}"
            )
        location = response.headers.get("location", "")
        if not location.startswith(REDIRECT_URI):
            raise RuntimeError(f"authorization redirect goes to {location!r}, not to {REDIRECT_URI}")
        query = parse_qs(urlsplit(location).query)
        if "error" in query:
            raise RuntimeError(f"authorization error in redirect: {location}")
        self.pending = AuthorizationCodeResult(
            code=query["code"][0],
            state=query.get("state", [None])[0],
            iss=query.get("iss", [None])[0],
        )

    async def callback_handler(self) -> AuthorizationCodeResult:
        if self.pending is None:
            raise RuntimeError("callback handler called without an authorization response")
        result, self.pending = self.pending, None
        return result


class Steps:
    """Collects PASS/FAIL lines; the run fails if any step failed."""

    def __init__(self) -> None:
        self.results: list[tuple[bool, str, str]] = []

    def check(self, ok: bool, name: str, detail: str = "") -> bool:
        self.results.append((bool(ok), name, detail))
        print(f"  [{'PASS' if ok else 'FAIL'}] {name}" + (f": {detail}" if detail else ""), flush=True)
        return bool(ok)

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(ok for ok, _, _ in self.results)


def form(body: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


def query_of(entry: dict[str, Any]) -> dict[str, str]:
    return form(entry.get("query") or "")


def short(value: str | None, keep: int = 12) -> str:
    if value is None:
        return "None"
    return value if len(value) <= keep else value[:keep] + "..."


def tool_text(result: Any) -> str:
    return " ".join(getattr(block, "text", "") for block in result.content)


async def run(args: argparse.Namespace, steps: Steps) -> None:
    storage = InMemoryTokenStorage()
    browser = Browser(timeout=args.http_timeout)
    provider = OAuthClientProvider(
        server_url=args.mcp_url,
        client_metadata=OAuthClientMetadata(
            client_name="mcp-auth-conformance interop (python sdk)",
            redirect_uris=[REDIRECT_URI],
            token_endpoint_auth_method="none",
        ),
        storage=storage,
        redirect_handler=browser.redirect_handler,
        callback_handler=browser.callback_handler,
    )

    # Every request the SDK's HTTP client sends, the auth flow's own included, for the report.
    sdk_requests: list[str] = []

    async def on_response(response: httpx2.Response) -> None:
        request = response.request
        url = str(request.url.copy_with(query=None))
        sdk_requests.append(f"{request.method} {url} -> {response.status_code}")

    http_client = httpx2.AsyncClient(
        auth=provider,
        timeout=httpx2.Timeout(args.http_timeout),
        event_hooks={"response": [on_response]},
    )

    async with http_client:
        transport = streamable_http_client(args.mcp_url, http_client=http_client)
        # mode="legacy": the initialize handshake; cache=None: every call reaches the server.
        async with Client(transport, mode="legacy", cache=None, read_timeout_seconds=args.http_timeout) as client:
            session = client.session
            steps.check(True, "MCP initialize through OAuth", f"protocol {session.protocol_version}")

            tools = await client.list_tools()
            names = sorted(tool.name for tool in tools.tools)
            steps.check("echo" in names, "tools/list", f"tools {names}")

            first = await client.call_tool("echo", {"text": "before refresh"})
            steps.check(
                not first.is_error and tool_text(first) == "before refresh",
                "tools/call echo (first access token)",
                repr(tool_text(first)),
            )
            first_token = storage.tokens
            steps.check(
                first_token is not None and first_token.refresh_token is not None,
                "token response carries a refresh token",
                f"expires_in={first_token.expires_in if first_token else None}, "
                f"scope={first_token.scope if first_token else None!r}",
            )

            mark = len(sdk_requests)
            wait = args.token_ttl + args.wait_margin
            print(f"  ... waiting {wait:.1f}s, past the access token's {args.token_ttl}s lifetime", flush=True)
            await asyncio.sleep(wait)

            second = await client.call_tool("echo", {"text": "after refresh"})
            steps.check(
                not second.is_error and tool_text(second) == "after refresh",
                "tools/call echo after expiry (second MCP request)",
                repr(tool_text(second)),
            )
            whoami = await client.call_tool("whoami", {})
            print(f"  whoami: {tool_text(whoami)}", flush=True)
            after = sdk_requests[mark:]
            steps.check(
                any(line.startswith("POST ") and "/token " in line for line in after)
                and not any(line.endswith(" 401") for line in after),
                "the SDK refreshed on its own expiry check, before sending (no 401 after expiry)",
                "; ".join(after[:2]),
            )

    refreshed = storage.tokens
    steps.check(
        first_token is not None
        and refreshed is not None
        and refreshed.access_token != first_token.access_token,
        "the SDK stored a new access token",
        f"{len(storage.token_history)} token sets stored",
    )
    steps.check(
        first_token is not None
        and refreshed is not None
        and refreshed.refresh_token is not None
        and refreshed.refresh_token != first_token.refresh_token,
        "the refresh token rotated (public client)",
        f"{short(first_token.refresh_token if first_token else None)} -> "
        f"{short(refreshed.refresh_token if refreshed else None)}",
    )

    print("\nThe SDK's HTTP requests, in order:")
    for line in sdk_requests:
        print(f"    {line}")
    if storage.client_info is not None:
        info = storage.client_info.model_dump(mode="json", exclude_none=True)
        print(f"\nRegistered client: {json.dumps(info, sort_keys=True)}")
    if browser.authorization_urls:
        print(f"Authorization request: {browser.authorization_urls[0]}")

    await check_idp_log(args, steps, storage)


async def check_idp_log(args: argparse.Namespace, steps: Steps, storage: InMemoryTokenStorage) -> None:
    print("\nmock-idp's request log:")
    async with httpx2.AsyncClient(timeout=args.http_timeout) as http:
        response = await http.get(f"{args.issuer}/_control/requests")
    if not steps.check(response.status_code == 200, "GET /_control/requests", f"HTTP {response.status_code}"):
        return
    entries: list[dict[str, Any]] = response.json()
    for entry in entries:
        extra = ""
        if entry["path"] == "/token":
            extra = f" grant_type={form(entry.get('body') or '').get('grant_type')}"
        print(f"    #{entry.get('seq')} {entry['method']} {entry['path']} -> {entry['status']}{extra}")

    def at(path: str) -> list[dict[str, Any]]:
        return [e for e in entries if e["path"] == path]

    registrations = at("/register")
    authorizations = at("/authorize")
    tokens = at("/token")
    code_grants = [e for e in tokens if form(e.get("body") or "").get("grant_type") == "authorization_code"]
    refreshes = [e for e in tokens if form(e.get("body") or "").get("grant_type") == "refresh_token"]
    others = [e for e in tokens if e not in code_grants and e not in refreshes]

    steps.check(
        [(e["method"], e["status"]) for e in registrations] == [("POST", 201)],
        "exactly one POST /register answered 201",
        f"saw {[(e['method'], e['status']) for e in registrations]}",
    )
    if registrations:
        sent = json.loads(registrations[0].get("body") or "{}")
        print(f"      registration request: {json.dumps(sent, sort_keys=True)}")

    ok = [(e["method"], e["status"]) for e in authorizations] == [("GET", 302)]
    query = query_of(authorizations[0]) if authorizations else {}
    resource = query.get("resource")
    steps.check(ok, "exactly one GET /authorize answered 302", f"saw {[(e['method'], e['status']) for e in authorizations]}")
    steps.check(
        query.get("code_challenge_method") == "S256" and bool(query.get("code_challenge")),
        "authorization request uses PKCE S256",
        f"code_challenge_method={query.get('code_challenge_method')}",
    )
    steps.check(
        resource == args.mcp_url,
        "authorization request carries resource = the MCP server URL",
        f"resource={resource!r}, scope={query.get('scope')!r}",
    )

    steps.check(
        [(e["method"], e["status"]) for e in code_grants] == [("POST", 200)],
        "exactly one POST /token grant_type=authorization_code answered 200",
        f"saw {[(e['method'], e['status']) for e in code_grants]}",
    )
    if code_grants:
        body = form(code_grants[0].get("body") or "")
        steps.check(
            bool(body.get("code_verifier")) and body.get("resource") == args.mcp_url,
            "code exchange sends code_verifier and resource",
            f"resource={body.get('resource')!r}",
        )
    steps.check(
        [(e["method"], e["status"]) for e in refreshes] == [("POST", 200)],
        "exactly one POST /token grant_type=refresh_token answered 200",
        f"saw {[(e['method'], e['status']) for e in refreshes]}",
    )
    if refreshes:
        body = form(refreshes[0].get("body") or "")
        print(f"      refresh request fields: {sorted(body)} resource={body.get('resource')!r}")
    steps.check(not others, "no other /token requests", f"saw {[(e['method'], e['path'], e['status']) for e in others]}")
    client_id = storage.client_info.client_id if storage.client_info else None
    order = [e["seq"] for e in registrations + authorizations + code_grants + refreshes]
    steps.check(order == sorted(order), "order: register, authorize, code exchange, refresh", f"seq {order}")
    steps.check(
        all(form(e.get("body") or "").get("client_id") == client_id for e in code_grants + refreshes),
        "token requests name the registered client_id",
        f"client_id={short(client_id, 20)}",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mcp-url", required=True, help="the reference target's MCP endpoint")
    parser.add_argument("--issuer", required=True, help="mock-idp's issuer (its control API is under it)")
    parser.add_argument("--token-ttl", type=float, default=3.0, help="mock-idp's access_token_ttl_secs")
    parser.add_argument("--wait-margin", type=float, default=1.5, help="seconds to wait beyond the TTL")
    parser.add_argument("--http-timeout", type=float, default=15.0, help="per-request timeout")
    args = parser.parse_args()
    args.issuer = args.issuer.rstrip("/")

    print(f"Python SDK OAuth client (mcp) against mock-idp {args.issuer}, MCP server {args.mcp_url}", flush=True)
    steps = Steps()
    started = time.monotonic()
    try:
        asyncio.run(run(args, steps))
    except BaseException as error:  # noqa: BLE001 - any escape is a failed step, reported as such
        traceback.print_exc()
        reason = f"{type(error).__name__}: {error}"
        for inner in getattr(error, "exceptions", ()) or ():
            reason += f" | {type(inner).__name__}: {inner}"
        steps.check(False, "the flow ran to completion", reason)

    elapsed = time.monotonic() - started
    failed = [(name, detail) for ok, name, detail in steps.results if not ok]
    if steps.passed:
        print(f"\nPASS: DCR + PKCE + token + refresh with the official Python SDK ({len(steps.results)} steps, {elapsed:.1f}s)")
        return 0
    print(f"\nFAIL: {len(failed)} of {len(steps.results)} steps failed ({elapsed:.1f}s):")
    for name, detail in failed:
        print(f"  - {name}: {detail}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
