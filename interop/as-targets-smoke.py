#!/usr/bin/env python3
"""Headless end-to-end OAuth smoke test against an MCP server that is (or fronts) its own
authorization server. Standard library only.

    python3 interop/as-targets-smoke.py http://127.0.0.1:8000/mcp [--scope "mcp:tools"] [-v]

Steps (the scope is chosen the way MCP clients do unless --scope says otherwise): unauthenticated POST (expects 401 + WWW-Authenticate resource_metadata) -> protected
resource metadata -> authorization server metadata (RFC 8414, then OIDC discovery) -> RFC 7591
registration of a public client with a loopback redirect URI (or --client-id/--client-secret for
a pre-registered one) -> /authorize with PKCE S256,
state and resource -> redirects followed by hand with a cookie jar; an HTML page with a form
is read and its approve button submitted with the form's fields -> the redirect to the
client's loopback callback (nothing listens there: the URL is read, not fetched) -> /token
(authorization_code) -> MCP initialize + tools/call echo with the bearer token -> /token
(refresh_token) -> initialize again with the new token; a few negative probes are recorded, not judged
(tampered bearer token, reused old refresh token, old access token, and last a replayed code). Prints a JSON summary on stdout; exit status 0
when the whole flow worked, 1 otherwise.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.cookiejar
import json
import re
import secrets
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request
from html.parser import HTMLParser

VERBOSE = False


def log(*args) -> None:
    print("smoke:", *args, file=sys.stderr)


def vlog(*args) -> None:
    if VERBOSE:
        log(*args)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class Response:
    def __init__(self, status: int, headers, body: bytes, url: str):
        self.status, self.headers, self.body, self.url = status, headers, body, url

    def json(self):
        return json.loads(self.body.decode() or "null")

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class Browser:
    """urllib with a cookie jar and no automatic redirects."""

    def __init__(self):
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect())

    def request(self, method: str, url: str, *, form=None, json_body=None, headers=None) -> Response:
        data = None
        hdrs = dict(headers or {})
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            hdrs.setdefault("Content-Type", "application/x-www-form-urlencoded")
        elif json_body is not None:
            data = json.dumps(json_body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
        try:
            with self.opener.open(req, timeout=15) as r:
                resp = Response(r.status, r.headers, r.read(), url)
        except urllib.error.HTTPError as e:
            resp = Response(e.code, e.headers, e.read(), url)
        vlog(f"{method} {url} -> {resp.status}")
        return resp

    def cookie_names(self) -> list[str]:
        return sorted({f"{c.name}@{c.domain}:{c.path}" for c in self.jar})


class FormParser(HTMLParser):
    """Collects <form>s: action, method, inputs and submit buttons."""

    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []
        self._button: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "method": a.get("method", "get").upper(),
                               "fields": [], "buttons": []})
        elif not self.forms:
            return
        elif tag == "input":
            kind = a.get("type", "text").lower()
            if kind in ("submit", "image"):
                self.forms[-1]["buttons"].append({"name": a.get("name", ""), "value": a.get("value", ""), "text": ""})
            elif kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.forms[-1]["fields"].append((a.get("name", ""), a.get("value", "on")))
            elif a.get("name"):
                self.forms[-1]["fields"].append((a["name"], a.get("value", "")))
        elif tag == "button" and a.get("type", "submit").lower() == "submit":
            self._button = {"name": a.get("name", ""), "value": a.get("value", ""), "text": ""}
            self.forms[-1]["buttons"].append(self._button)

    def handle_data(self, data):
        if self._button is not None:
            self._button["text"] += data.strip()

    def handle_endtag(self, tag):
        if tag == "button":
            self._button = None


APPROVE_WORDS = ("approve", "allow", "accept", "authorize", "authorise", "consent", "continue", "yes", "login", "sign in")
DENY_WORDS = ("deny", "cancel", "reject", "decline", "no")


def pick_approval(page: str) -> tuple[dict, dict | None] | None:
    parser = FormParser()
    parser.feed(page)
    for form in parser.forms:
        buttons = form["buttons"]
        def score(b):
            words = f"{b['name']} {b['value']} {b['text']}".lower()
            if any(w in words.split() or w == b["value"].lower() for w in DENY_WORDS):
                return -1
            return 1 if any(w in words for w in APPROVE_WORDS) else 0
        ranked = sorted(buttons, key=score, reverse=True)
        if ranked and score(ranked[0]) > 0:
            return form, ranked[0]
        if not buttons and form["fields"]:
            return form, None
    return None


def pkce_pair() -> tuple[str, str]:
    verifier = base64.urlsafe_b64encode(secrets.token_bytes(48)).rstrip(b"=").decode()
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_www_authenticate(value: str) -> dict:
    params = {}
    for key, quoted, bare in re.findall(r'(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))', value or ""):
        params[key] = quoted if quoted else bare
    return params


def well_known(base: str, name: str) -> str:
    """RFC 8414 / RFC 9728 style: the well-known segment goes before the URL's path."""
    u = urllib.parse.urlsplit(base)
    path = u.path.rstrip("/")
    return f"{u.scheme}://{u.netloc}/.well-known/{name}{path}"


def mcp_headers(token: str | None, session: str | None = None) -> dict:
    h = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-06-18"}
    if token:
        h["Authorization"] = f"Bearer {token}"
    if session:
        h["Mcp-Session-Id"] = session
    return h


INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                         "clientInfo": {"name": "as-targets-smoke", "version": "0"}}}


def sse_or_json(resp: Response):
    ctype = resp.headers.get("Content-Type", "")
    if "text/event-stream" in ctype:
        for line in resp.text.splitlines():
            if line.startswith("data:"):
                return json.loads(line[5:].strip())
        return None
    return resp.json() if resp.body else None


def main() -> int:
    global VERBOSE
    ap = argparse.ArgumentParser(description="Headless end-to-end OAuth smoke test of an MCP server that is its own authorization server or an OAuth proxy.")
    ap.add_argument("target", help="the MCP endpoint URL, e.g. http://127.0.0.1:8000/mcp")
    ap.add_argument("--scope", default=None,
                    help="scope to register and ask for (default: as an MCP client picks it: the 401's scope, "
                         "else the PRM's scopes_supported; \"\" sends none)")
    ap.add_argument("--no-resource", action="store_true", help="send no RFC 8707 resource parameter")
    ap.add_argument("--client-id", help="use this pre-registered client instead of registering one (RFC 7591)")
    ap.add_argument("--client-secret", help="its secret (sent as client_secret_post unless --basic)")
    ap.add_argument("--basic", action="store_true", help="send --client-secret with client_secret_basic")
    ap.add_argument("--max-hops", type=int, default=20)
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    VERBOSE = args.verbose

    target = args.target
    b = Browser()
    out: dict = {"target": target, "ok": False, "steps": {}, "quirks": []}
    steps = out["steps"]

    def fail(msg: str) -> int:
        out["error"] = msg
        log("FAILED:", msg)
        print(json.dumps(out, indent=2))
        return 1

    # 1. unauthenticated request
    r = b.request("POST", target, json_body=INITIALIZE, headers=mcp_headers(None))
    www = r.headers.get("WWW-Authenticate", "")
    challenge = parse_www_authenticate(www)
    steps["unauthenticated"] = {"status": r.status, "www_authenticate": www}
    if r.status != 401:
        return fail(f"unauthenticated POST gave {r.status}, not 401")
    prm_url = challenge.get("resource_metadata")
    if not prm_url:
        out["quirks"].append("401 without resource_metadata in WWW-Authenticate")
        prm_url = well_known(target, "oauth-protected-resource")

    # 2. protected resource metadata
    r = b.request("GET", prm_url)
    if r.status != 200:
        return fail(f"PRM {prm_url} gave {r.status}")
    prm = r.json()
    steps["prm"] = {"url": prm_url, "resource": prm.get("resource"),
                    "authorization_servers": prm.get("authorization_servers"),
                    "scopes_supported": prm.get("scopes_supported")}
    if prm.get("resource") != target:
        out["quirks"].append(f"PRM resource {prm.get('resource')!r} != target {target!r}")
    issuer = (prm.get("authorization_servers") or [None])[0]
    if args.scope is None:
        args.scope = challenge.get("scope") or " ".join(prm.get("scopes_supported") or [])
    steps["scope_requested"] = args.scope or None
    if not issuer:
        return fail("PRM names no authorization server")

    # 3. authorization server metadata
    asm = None
    tried = []
    for url in (well_known(issuer, "oauth-authorization-server"), well_known(issuer, "openid-configuration"),
                issuer.rstrip("/") + "/.well-known/openid-configuration"):
        tried.append(url)
        r = b.request("GET", url)
        if r.status == 200:
            asm = r.json()
            break
    if asm is None:
        return fail(f"no AS metadata at {tried}")
    steps["as_metadata"] = {"url": url, "issuer": asm.get("issuer"),
                            "authorization_endpoint": asm.get("authorization_endpoint"),
                            "token_endpoint": asm.get("token_endpoint"),
                            "registration_endpoint": asm.get("registration_endpoint"),
                            "revocation_endpoint": asm.get("revocation_endpoint"),
                            "code_challenge_methods_supported": asm.get("code_challenge_methods_supported"),
                            "token_endpoint_auth_methods_supported": asm.get("token_endpoint_auth_methods_supported"),
                            "scopes_supported": asm.get("scopes_supported"),
                            "authorization_response_iss_parameter_supported":
                                asm.get("authorization_response_iss_parameter_supported")}
    if asm.get("issuer", "").rstrip("/") != issuer.rstrip("/"):
        out["quirks"].append(f"AS metadata issuer {asm.get('issuer')!r} != PRM authorization server {issuer!r}")

    # 4. dynamic client registration, or the pre-registered client
    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
    if args.client_id:
        client = {"client_id": args.client_id, "client_secret": args.client_secret,
                  "token_endpoint_auth_method": ("client_secret_basic" if args.basic else "client_secret_post")
                  if args.client_secret else "none"}
        steps["register"] = {"skipped": "pre-registered client", "client_id": args.client_id}
    elif not asm.get("registration_endpoint"):
        return fail("AS metadata has no registration_endpoint (no DCR); pass --client-id/--client-secret")
    else:
        reg = {"client_name": "as-targets-smoke", "redirect_uris": [redirect_uri],
               "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
               "token_endpoint_auth_method": "none"}
        if args.scope:
            reg["scope"] = args.scope
        r = b.request("POST", asm["registration_endpoint"], json_body=reg)
        if r.status not in (200, 201):
            return fail(f"registration gave {r.status}: {r.text[:300]}")
        client = r.json()
        steps["register"] = {"status": r.status, "client_id": client["client_id"],
                             "token_endpoint_auth_method": client.get("token_endpoint_auth_method"),
                             "has_secret": bool(client.get("client_secret")), "scope": client.get("scope")}
    client_id = client["client_id"]
    client_secret = client.get("client_secret")

    def token_request(form: dict) -> Response:
        form = dict(form)
        headers = {"Accept": "application/json"}
        method = client.get("token_endpoint_auth_method") or ("client_secret_basic" if client_secret else "none")
        if client_secret and method == "client_secret_basic":
            cred = f"{urllib.parse.quote(client_id, safe='')}:{urllib.parse.quote(client_secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(cred.encode()).decode()
        else:
            form["client_id"] = client_id
            if client_secret:
                form["client_secret"] = client_secret
        return b.request("POST", asm["token_endpoint"], form=form, headers=headers)

    # 5. authorize, following redirects and forms by hand
    verifier, challenge_s256 = pkce_pair()
    state = secrets.token_urlsafe(16)
    q = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "state": state,
         "code_challenge": challenge_s256, "code_challenge_method": "S256"}
    if args.scope:
        q["scope"] = args.scope
    if not args.no_resource:
        q["resource"] = target
    url = asm["authorization_endpoint"] + ("&" if "?" in asm["authorization_endpoint"] else "?") + urllib.parse.urlencode(q)
    method, form = "GET", None
    hops: list[str] = []
    callback = None
    for _ in range(args.max_hops):
        r = b.request(method, url, form=form)
        hops.append(f"{method} {url.split('?')[0]} -> {r.status}")
        if r.status in (301, 302, 303, 307, 308):
            nxt = urllib.parse.urljoin(url, r.headers["Location"])
            if nxt.split("?")[0] == redirect_uri:
                callback = nxt
                break
            method, form, url = ("POST" if r.status in (307, 308) and method == "POST" else "GET"), \
                (form if r.status in (307, 308) else None), nxt
            continue
        if r.status == 200 and "html" in r.headers.get("Content-Type", ""):
            picked = pick_approval(r.text)
            if not picked:
                return fail(f"HTML page without a usable form at {url}: {r.text[:300]}")
            f, button = picked
            fields = list(f["fields"])
            if button and button["name"]:
                fields.append((button["name"], button["value"]))
            page = {"url": url.split("?")[0], "action": f["action"], "method": f["method"],
                    "fields": [n for n, _ in f["fields"]], "buttons": f["buttons"],
                    "submitted_button": button, "cookies": b.cookie_names()}
            steps.setdefault("html_pages", []).append(page)
            log(f"form at {page['url']}: {f['method']} {f['action']} fields={page['fields']} button={button}")
            url = urllib.parse.urljoin(url, f["action"] or url)
            if f["method"] == "POST":
                method, form = "POST", fields
            else:
                method, form = "GET", None
                url = url.split("?")[0] + "?" + urllib.parse.urlencode(fields)
            continue
        return fail(f"authorization flow stopped at {method} {url} with {r.status}: {r.text[:400]}")
    steps["authorize"] = {"hops": hops, "cookies": b.cookie_names()}
    if not callback:
        return fail(f"no redirect to {redirect_uri} within {args.max_hops} hops: {hops}")
    cb = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(callback).query))
    steps["authorize"]["callback_params"] = sorted(cb)
    if "error" in cb:
        return fail(f"authorization error at callback: {cb}")
    if cb.get("state") != state:
        return fail(f"state mismatch: {cb.get('state')!r}")
    if "iss" in cb and cb["iss"].rstrip("/") != asm.get("issuer", "").rstrip("/"):
        out["quirks"].append(f"callback iss {cb['iss']!r} != metadata issuer {asm.get('issuer')!r}")
    code = cb["code"]

    # 6. code exchange
    grant = {"grant_type": "authorization_code", "code": code, "code_verifier": verifier, "redirect_uri": redirect_uri}
    if not args.no_resource:
        grant["resource"] = target
    r = token_request(grant)
    if r.status != 200:
        return fail(f"code exchange gave {r.status}: {r.text[:300]}")
    tokens = r.json()
    access, refresh = tokens.get("access_token"), tokens.get("refresh_token")
    steps["token"] = describe_tokens(tokens)

    # 7. MCP with the bearer token
    ok, detail = mcp_roundtrip(b, target, access)
    steps["mcp"] = detail
    if not ok:
        return fail(f"MCP call with the access token failed: {detail}")

    # negative probes (recorded, not judged)
    probes = steps["probes"] = {}
    r = b.request("POST", target, json_body=INITIALIZE, headers=mcp_headers(access + "x"))
    probes["tampered_bearer"] = {"status": r.status, "www_authenticate": r.headers.get("WWW-Authenticate")}

    # 8. refresh
    if not refresh:
        return fail("no refresh_token was issued")
    rgrant = {"grant_type": "refresh_token", "refresh_token": refresh}
    if not args.no_resource:
        rgrant["resource"] = target
    r = token_request(rgrant)
    if r.status != 200:
        return fail(f"refresh gave {r.status}: {r.text[:300]}")
    tokens2 = r.json()
    steps["refresh"] = describe_tokens(tokens2)
    steps["refresh"]["refresh_token_rotated"] = bool(tokens2.get("refresh_token")) and tokens2["refresh_token"] != refresh
    steps["refresh"]["access_token_changed"] = tokens2.get("access_token") != access
    ok, detail = mcp_roundtrip(b, target, tokens2["access_token"])
    steps["mcp_after_refresh"] = detail
    if not ok:
        return fail(f"MCP call with the refreshed access token failed: {detail}")
    r = token_request(rgrant)
    probes["old_refresh_token_reuse"] = {"status": r.status, "body": safe_json(r)}
    r = b.request("POST", target, json_body=INITIALIZE, headers=mcp_headers(access))
    probes["old_access_token_after_refresh"] = {"status": r.status}
    # last: an authorization server may revoke everything issued from a replayed code
    r = token_request(grant)
    probes["code_replay"] = {"status": r.status, "body": safe_json(r)}

    out["ok"] = True
    print(json.dumps(out, indent=2))
    log("OK: full flow, MCP call and refresh worked")
    return 0


def safe_json(r: Response):
    try:
        body = r.json()
    except ValueError:
        return r.text[:200]
    if isinstance(body, dict):  # keep the shape, not the secrets
        body = {k: (f"<{len(v)} chars>" if k.endswith("_token") and isinstance(v, str) else v) for k, v in body.items()}
    return body


def describe_tokens(tokens: dict) -> dict:
    d = {k: tokens.get(k) for k in ("token_type", "expires_in", "scope")}
    d["has_refresh_token"] = bool(tokens.get("refresh_token"))
    d["access_token_claims"] = jwt_claims(tokens.get("access_token", ""))
    return d


def jwt_claims(token: str):
    """The unverified header and claims of a JWT, or 'opaque'."""
    parts = token.split(".")
    if len(parts) != 3:
        return "opaque"
    try:
        dec = lambda p: json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))  # noqa: E731
        header, claims = dec(parts[0]), dec(parts[1])
    except ValueError:
        return "opaque"
    keep = ("iss", "aud", "sub", "client_id", "scope", "azp", "token_use", "exp", "iat")
    return {"alg": header.get("alg"), **{k: claims[k] for k in keep if k in claims}}


def mcp_roundtrip(b: Browser, target: str, token: str) -> tuple[bool, dict]:
    r = b.request("POST", target, json_body=INITIALIZE, headers=mcp_headers(token))
    detail: dict = {"initialize_status": r.status}
    if r.status != 200:
        detail["body"] = r.text[:300]
        detail["www_authenticate"] = r.headers.get("WWW-Authenticate")
        return False, detail
    result = sse_or_json(r)
    detail["server"] = (result or {}).get("result", {}).get("serverInfo")
    session = r.headers.get("Mcp-Session-Id")
    b.request("POST", target, json_body={"jsonrpc": "2.0", "method": "notifications/initialized"},
              headers=mcp_headers(token, session))
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": "hi"}}}
    r = b.request("POST", target, json_body=call, headers=mcp_headers(token, session))
    detail["echo_status"] = r.status
    res = sse_or_json(r) if r.status == 200 else None
    detail["echo"] = ((res or {}).get("result") or {}).get("content")
    return r.status == 200 and bool(detail["echo"]), detail


if __name__ == "__main__":
    sys.exit(main())
