"""Plain-HTTP helpers for verify_as.py: starting the mock IdP and an AS target exactly as the
harness's `--command` does, an HTTP client that records status/headers/body, a headless
browser walk (redirects by hand, cookies per host:port, HTML forms) and PKCE.

Standard library only; written independently of the harness (it reads none of its code).
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import time
import urllib.parse
from html.parser import HTMLParser

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PY = os.path.join(ROOT, "interop/.venv/bin/python")
MOCK_IDP = os.path.join(ROOT, "target/debug/mock-idp")
UPSTREAM_ID = "mcp-proxy-upstream"
UPSTREAM_SECRET = "mcp-proxy-upstream-secret"
SCOPE = "mcp:tools"

TARGETS = {
    "fastmcp-oauth-proxy": {"cmd": [PY, "interop/python/fastmcp_oauth_proxy.py"], "env": {"MCP_PROXY_CONSENT": "on"}},
    "fastmcp-oauth-proxy-no-consent": {"cmd": [PY, "interop/python/fastmcp_oauth_proxy.py"], "env": {"MCP_PROXY_CONSENT": "off"}},
    "fastmcp-oauth-provider": {"cmd": [PY, "interop/python/fastmcp_oauth_provider.py"], "env": {}},
    "python-sdk-as": {"cmd": [PY, "interop/python/sdk_auth_server.py"], "env": {}},
    "typescript-sdk-proxy": {"cmd": ["node", "interop/node/ts_sdk_proxy.mjs"], "env": {},
                             "client": {"client_id": UPSTREAM_ID, "client_secret": UPSTREAM_SECRET,
                                        "method": "client_secret_post"}},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def rand(n: int = 16) -> str:
    return b64url(secrets.token_bytes(n))


def pkce() -> tuple[str, str]:
    verifier = rand(32)
    return verifier, b64url(hashlib.sha256(verifier.encode()).digest())


def jwt_claims(token: str):
    parts = (token or "").split(".")
    if len(parts) != 3:
        return None
    try:
        p = parts[1]
        return json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    except ValueError:
        return None


def origin(url: str) -> str:
    u = urllib.parse.urlsplit(url)
    return f"{u.scheme}://{u.netloc}"


# ----------------------------------------------------------------------------------------------
# HTTP


class Resp:
    def __init__(self, method, url, status, headers, body, req_headers=None, req_body=None):
        self.method, self.url, self.status, self.headers, self.body = method, url, status, headers, body
        self.req_headers, self.req_body = req_headers or {}, req_body

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        try:
            return json.loads(self.body.decode() or "null")
        except ValueError:
            return None

    @property
    def error(self):
        j = self.json()
        return j.get("error") if isinstance(j, dict) else None

    def brief(self) -> str:
        """HTTP status and OAuth error (or a hint of the body)."""
        if self.status is None:
            return "no answer"
        e = self.error
        if e:
            d = (self.json() or {}).get("error_description")
            return f"HTTP {self.status} error={e}" + (f" ({str(d)[:80]})" if d else "")
        j = self.json()
        if isinstance(j, dict) and "access_token" in j:
            return f"HTTP {self.status} with tokens"
        if 300 <= self.status < 400:
            return f"HTTP {self.status} Location={self.header('location')}"
        return f"HTTP {self.status} {self.text[:80]!r}"


def request(method: str, url: str, *, form=None, json_body=None, headers=None, body=None, timeout=20) -> Resp:
    u = urllib.parse.urlsplit(url)
    hdrs = dict(headers or {})
    if form is not None:
        body = urllib.parse.urlencode(form).encode()
        hdrs.setdefault("Content-Type", "application/x-www-form-urlencoded")
    elif json_body is not None:
        body = json.dumps(json_body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    path = u.path or "/"
    if u.query:
        path += "?" + u.query
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        data = r.read()
        return Resp(method, url, r.status, r.getheaders(), data, hdrs, body)
    except OSError as e:
        return Resp(method, url, None, [], str(e).encode(), hdrs, body)
    finally:
        conn.close()


def token_request(endpoint: str, form: dict | list, client: dict) -> Resp:
    """A token request with the client's authentication: none (client_id in body),
    client_secret_post or client_secret_basic."""
    pairs = list(form.items()) if isinstance(form, dict) else list(form)
    headers = {"Accept": "application/json"}
    method = client.get("method", "none")
    if method == "client_secret_basic":
        q = lambda s: urllib.parse.quote_plus(s)  # noqa: E731  RFC 6749 §2.3.1
        cred = base64.b64encode(f"{q(client['client_id'])}:{q(client['client_secret'])}".encode()).decode()
        headers["Authorization"] = f"Basic {cred}"
    else:
        pairs.append(("client_id", client["client_id"]))
        if method == "client_secret_post":
            pairs.append(("client_secret", client["client_secret"]))
    return request("POST", endpoint, form=pairs, headers=headers)


# ----------------------------------------------------------------------------------------------
# A headless browser


class _Forms(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms = []
        self._button = None
        self.text = []

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "method": a.get("method", "get").lower(),
                               "fields": [], "buttons": []})
            return
        if not self.forms:
            return
        f = self.forms[-1]
        if tag == "input":
            kind = a.get("type", "text").lower()
            if kind in ("submit", "image"):
                f["buttons"].append({"name": a.get("name", ""), "value": a.get("value", ""), "label": a.get("value", "")})
            elif kind in ("checkbox", "radio"):
                if "checked" in a and a.get("name"):
                    f["fields"].append((a["name"], a.get("value", "on")))
            elif kind not in ("button", "reset", "file") and a.get("name"):
                f["fields"].append((a["name"], a.get("value", "")))
        elif tag == "button" and a.get("type", "submit").lower() == "submit":
            self._button = {"name": a.get("name", ""), "value": a.get("value", ""), "label": ""}
            f["buttons"].append(self._button)

    def handle_endtag(self, tag):
        if tag == "button":
            self._button = None

    def handle_data(self, data):
        if self._button is not None:
            self._button["label"] += data.strip()
        self.text.append(data)


YES = ("approve", "allow", "accept", "authorize", "authorise", "consent", "continue", "grant", "yes", "confirm")
NO = ("deny", "cancel", "reject", "decline", "refuse")


def _pick(forms, decision):
    for f in forms:
        for b in f["buttons"]:
            words = f"{b['name']} {b['value']} {b['label']}".lower()
            no = any(w in words for w in NO)
            yes = any(w in words for w in YES)
            if decision == "approve" and yes and not no:
                return f, b
            if decision == "deny" and no:
                return f, b
    if decision == "approve":
        for f in forms:
            if not f["buttons"]:
                return f, None
            if len(f["buttons"]) == 1:
                return f, f["buttons"][0]
    return None


class Browser:
    """Cookies per host:port, redirects followed by hand within allowed origins."""

    def __init__(self):
        self.jar: dict[str, dict[str, str]] = {}

    def _authority(self, url):
        u = urllib.parse.urlsplit(url)
        return f"{u.hostname}:{u.port or 80}"

    def get_cookie_header(self, url):
        c = self.jar.get(self._authority(url), {})
        return "; ".join(f"{k}={v}" for k, v in c.items()) or None

    def store(self, url, resp):
        jar = self.jar.setdefault(self._authority(url), {})
        for raw in resp.header_all("set-cookie"):
            first = raw.split(";")[0]
            if "=" not in first:
                continue
            k, v = first.split("=", 1)
            if "max-age=0" in raw.lower():
                jar.pop(k.strip(), None)
            else:
                jar[k.strip()] = v.strip()

    def walk(self, start_url, redirect_uri, origins, decision="approve", forge=False, max_hops=25):
        """Returns dict(hops=[Resp], pages=[{url, text, form, resp}], end=(kind, ...))."""
        target = redirect_uri.split("?")[0].split("#")[0]
        hops, pages = [], []
        method, url, body_form, extra = "GET", start_url, None, {}
        forms_sent = 0
        first = True
        while True:
            if len(hops) >= max_hops:
                return {"hops": hops, "pages": pages, "end": ("stopped", None, "too many hops")}
            headers = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8",
                       "Sec-Fetch-Site": "none" if first else "same-origin"}
            headers.update(extra)
            forging = forge and forms_sent == 1 and method == "POST"
            ck = self.get_cookie_header(url)
            if ck and not forging:
                headers["Cookie"] = ck
            first = False
            r = request(method, url, form=body_form, headers=headers)
            self.store(url, r)
            hops.append(r)
            if r.status is None:
                return {"hops": hops, "pages": pages, "end": ("stopped", None, r.text)}
            loc = r.header("location") if 300 <= r.status < 400 else None
            if loc is None and r.status == 200:
                m = re.search(r'http-equiv=["\']refresh["\'][^>]*content=["\'][^"\']*url=([^"\'>]+)', r.text, re.I)
                if m:
                    loc = m.group(1).replace("&amp;", "&").strip()
            if loc is not None:
                to = urllib.parse.urljoin(url, loc)
                if to.split("?")[0].split("#")[0] == target:
                    params = urllib.parse.parse_qsl(urllib.parse.urlsplit(to).query, keep_blank_values=True)
                    return {"hops": hops, "pages": pages, "end": ("callback", params, to)}
                if origin(to) not in origins:
                    return {"hops": hops, "pages": pages, "end": ("elsewhere", to)}
                method, url, body_form, extra = "GET", to, None, {}
                continue
            ctype = (r.header("content-type") or "").lower()
            if not (200 <= r.status < 300):
                return {"hops": hops, "pages": pages, "end": ("stopped", r.status, r.text[:4000])}
            if "html" not in ctype:
                return {"hops": hops, "pages": pages, "end": ("stopped", r.status, f"{ctype} answer")}
            p = _Forms()
            p.feed(r.text)
            picked = _pick(p.forms, decision)
            if not picked:
                return {"hops": hops, "pages": pages, "end": ("stopped", r.status, "page without a usable form")}
            form, button = picked
            forms_sent += 1
            pages.append({"url": url, "text": " ".join(p.text), "form": form, "resp": r})
            fields = list(form["fields"])
            if forge and forms_sent == 1:
                fields = [(n, "forged-by-verifier" if re.search(r"csrf|xsrf|nonce|^_token$", n, re.I) else v)
                          for n, v in fields]
            if button and button["name"]:
                fields.append((button["name"], button["value"]))
            action = urllib.parse.urljoin(url, form["action"] or url)
            if origin(action) not in origins:
                return {"hops": hops, "pages": pages, "end": ("elsewhere", action)}
            if form["method"] == "post":
                method, body_form = "POST", fields
                extra = {"Origin": origin(url), "Referer": url}
                url = action
            else:
                method, body_form, extra = "GET", None, {}
                url = action.split("?")[0] + "?" + urllib.parse.urlencode(fields)


def end_param(run, name):
    end = run["end"]
    if end[0] != "callback":
        return None
    vals = [v for n, v in end[1] if n == name]
    return vals[0] if vals else None


def end_count(run, name):
    end = run["end"]
    return sum(1 for n, _ in end[1] if n == name) if end[0] == "callback" else 0


def describe_end(run) -> str:
    end = run["end"]
    if end[0] == "callback":
        ps = []
        for n, v in end[1]:
            flat = " ".join(v.split())
            ps.append(f"{n}={flat[:60]}" if n in ("error", "error_description", "iss") else n)
        return "redirect to the client with " + ", ".join(ps)
    if end[0] == "stopped":
        why = str(end[2])
        try:
            j = json.loads(why)
            why = f"error={j.get('error')} ({str(j.get('error_description'))[:70]})"
        except ValueError:
            why = re.sub(r"\s+", " ", re.sub(r"<(style|script|head)\b.*?</\1>|<[^>]+>", " ", why, flags=re.S | re.I)).strip()[:90]
        return f"stopped at HTTP {end[1]}: {why}"
    return f"redirect elsewhere: {end[1]}"


# ----------------------------------------------------------------------------------------------
# Processes


class Procs:
    """The mock IdP and one target, started like the harness's --command (by PID, stopped by PID)."""

    def __init__(self, name: str, workdir: str):
        self.name, self.workdir = name, workdir
        self.idp = self.target = None
        self.port = free_port()
        self.target_url = f"http://127.0.0.1:{self.port}/mcp"

    def start(self):
        os.makedirs(self.workdir, exist_ok=True)
        cfg = os.path.join(self.workdir, f"{self.name}.idp.toml")
        with open(cfg, "w") as f:
            f.write(f"""[authz]
registration = "pre-registered"
[[authz.clients]]
client_id = "{UPSTREAM_ID}"
client_secret = "{UPSTREAM_SECRET}"
token_endpoint_auth_method = "client_secret_post"
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["http://127.0.0.1:{self.port}/auth/callback", "http://127.0.0.1/callback", "http://localhost/callback"]
redirect_policy = "loopback-any-port"
""")
        self.idp_log = open(os.path.join(self.workdir, f"{self.name}.idp.log"), "w")
        self.idp = subprocess.Popen([MOCK_IDP, "--config", cfg, "--port", "0", "--ephemeral"],
                                    stdout=subprocess.PIPE, stderr=self.idp_log, text=True, cwd=ROOT)
        line = self.idp.stdout.readline()
        m = re.match(r"mock-idp ready (\{.*\})", line)
        if not m:
            raise RuntimeError(f"mock-idp did not start: {line!r}")
        self.idp_info = json.loads(m.group(1))
        self.issuer = self.idp_info["issuer"]
        spec = TARGETS[self.name]
        env = dict(os.environ)
        iss = self.issuer
        env.update({
            "MCP_TARGET_URL": self.target_url, "MCP_TARGET_HOST": "127.0.0.1", "MCP_TARGET_PORT": str(self.port),
            "MCP_TARGET_PATH": "/mcp", "HOST": "127.0.0.1", "PORT": str(self.port),
            "MCP_AUTH_ISSUER": iss, "MCP_AUTH_JWKS_URI": f"{iss}/jwks",
            "MCP_AUTH_INTROSPECTION_URL": f"{iss}/introspect",
            "MCP_AUTH_CLIENT_ID": "conformance-rs", "MCP_AUTH_CLIENT_SECRET": "conformance-rs-secret",
            "MCP_AUTH_AUDIENCE": self.target_url, "MCP_AUTH_RESOURCE": self.target_url,
            "MCP_AUTH_REQUIRED_SCOPES": SCOPE,
            "MCP_UPSTREAM_ISSUER": iss, "MCP_UPSTREAM_AUTHORIZATION_ENDPOINT": f"{iss}/authorize",
            "MCP_UPSTREAM_TOKEN_ENDPOINT": f"{iss}/token", "MCP_UPSTREAM_REVOCATION_ENDPOINT": f"{iss}/revoke",
            "MCP_UPSTREAM_JWKS_URI": f"{iss}/jwks", "MCP_UPSTREAM_CLIENT_ID": UPSTREAM_ID,
            "MCP_UPSTREAM_CLIENT_SECRET": UPSTREAM_SECRET, "MCP_UPSTREAM_CALLBACK_PATH": "/auth/callback",
            "MCP_UPSTREAM_SCOPES": SCOPE,
            "FASTMCP_HOST": "127.0.0.1", "FASTMCP_PORT": str(self.port), "FASTMCP_STREAMABLE_HTTP_PATH": "/mcp",
        })
        env.update(spec["env"])
        self.target_log = open(os.path.join(self.workdir, f"{self.name}.target.log"), "w")
        self.target = subprocess.Popen(spec["cmd"], env=env, cwd=ROOT, stdout=self.target_log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 90
        while time.time() < deadline:
            if self.target.poll() is not None:
                raise RuntimeError(f"{self.name} exited {self.target.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"{self.name} did not listen on {self.port}")

    def stop(self):
        for p in (self.target, self.idp):
            if p is None or p.poll() is not None:
                continue
            try:
                if p is self.target:
                    os.killpg(p.pid, signal.SIGTERM)  # its own session: the target and its children
                else:
                    p.terminate()
                p.wait(timeout=10)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                try:
                    if p is self.target:
                        os.killpg(p.pid, signal.SIGKILL)
                    else:
                        p.kill()
                except ProcessLookupError:
                    pass
                p.wait(timeout=5)
