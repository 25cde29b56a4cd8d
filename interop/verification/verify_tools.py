#!/usr/bin/env python3
"""Hand verification of the interop reports (reports/interop/<name>/report.json).

Independent of the harness: starts the mock IdP and one target itself, sends the decisive
requests of every check with urllib, judges the answers against the check definitions in
scenarios/**/*.toml, and compares with the committed report's verdict.

    interop/.venv/bin/python interop/verification/verify_tools.py NAME IDP_PORT TARGET_PORT

NAME is one of fastmcp-jwt, fastmcp-jwt-no-audience, fastmcp-static, fastmcp-remote.
Writes interop/verification/results/NAME.json (every observation) and NAME.table.md, and prints
the table. Loopback only; every process started here is stopped by its PID.
Standard library only (runs with any Python >= 3.11; the targets need the interop venv).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VERIF = ROOT / "interop" / "verification"
PY = ROOT / "interop" / ".venv" / "bin" / "python"
MOCK_IDP = ROOT / "target" / "debug" / "mock-idp"
UA = "verify-tools/1"  # marks this script's own requests in the IdP's request log
SCOPE = "mcp:tools"
JWKS_WAIT = 40.0  # FastMCP refetches the JWKS at most every 30 s

TARGETS = {
    "fastmcp-jwt": ("fastmcp_jwt.py", {}),
    "fastmcp-jwt-no-audience": ("fastmcp_jwt.py", {"MCP_AUTH_AUDIENCE": ""}),
    "fastmcp-static": ("fastmcp_static.py", {}),
    "fastmcp-remote": ("fastmcp_remote.py", {}),
}


# ---- HTTP ---------------------------------------------------------------------------------------

class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None


OPENER = urllib.request.build_opener(NoRedirect)


class Resp:
    def __init__(self, status, headers, body, error=None):
        self.status, self.headers, self.body, self.error = status, headers, body, error

    def all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def get(self, name):
        vals = self.all(name)
        return vals[0] if vals else None

    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None


def http(method, url, headers=None, body=None, timeout=15):
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("User-Agent", UA)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with OPENER.open(req, timeout=timeout) as r:
            return Resp(r.status, list(r.headers.items()), r.read())
    except urllib.error.HTTPError as e:
        return Resp(e.code, list(e.headers.items()), e.read())
    except Exception as e:  # noqa: BLE001 - no answer at all
        return Resp(None, [], b"", error=repr(e))


# ---- mock IdP -----------------------------------------------------------------------------------

class Idp:
    def __init__(self, port, audience):
        self.proc = subprocess.Popen(
            [str(MOCK_IDP), "--port", str(port), "--ephemeral", "--audience", audience],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("mock-idp ready "):
            raise SystemExit(f"mock-idp did not start: {line!r}")
        self.info = json.loads(line[len("mock-idp ready "):])
        self.issuer = self.info["issuer"]
        self.ctl = self.info["control_url"]

    def call(self, method, path, obj=None):
        r = http(method, self.ctl + path, {"Content-Type": "application/json"},
                 json.dumps(obj) if obj is not None else None)
        if r.status != 200:
            raise RuntimeError(f"control {method} {path}: {r.status} {r.text()}")
        return r.json()

    def mint(self, **kw):
        kw.setdefault("scope", SCOPE)
        if kw["scope"] is None:
            del kw["scope"]
        return self.call("POST", "/mint", kw)["token"]

    def requests(self, since=0):
        return self.call("GET", f"/requests?since={since}")

    def last_seq(self):
        return self.call("GET", "/requests/last")["seq"] or 0

    def target_calls(self, since=0, endpoint=None):
        """Requests the target (not this script) made to the IdP since seq `since`."""
        return [r for r in self.requests(since)
                if r["seq"] > since and UA not in r["headers"].get("user-agent", "")
                and (endpoint is None or r["endpoint"] == endpoint)]

    def stop(self):
        stop(self.proc)


def stop(proc):
    if proc and proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


# ---- target -------------------------------------------------------------------------------------

def start_target(name, port, idp, static_token=None, log=None):
    script, extra = TARGETS[name]
    url = f"http://127.0.0.1:{port}/mcp"
    env = dict(os.environ)
    env.update({
        "MCP_TARGET_URL": url, "MCP_TARGET_HOST": "127.0.0.1", "MCP_TARGET_PORT": str(port),
        "MCP_TARGET_PATH": "/mcp", "MCP_AUTH_ISSUER": idp.issuer,
        "MCP_AUTH_JWKS_URI": idp.info["jwks_uri"],
        "MCP_AUTH_INTROSPECTION_URL": idp.info["introspection_endpoint"],
        "MCP_AUTH_CLIENT_ID": idp.info["introspection_client_id"],
        "MCP_AUTH_CLIENT_SECRET": idp.info["introspection_client_secret"],
        "MCP_AUTH_AUDIENCE": url, "MCP_AUTH_REQUIRED_SCOPES": SCOPE,
    })
    if static_token:
        env["MCP_AUTH_STATIC_TOKEN"] = static_token
    env.update(extra)
    out = open(log, "w") if log else subprocess.DEVNULL
    proc = subprocess.Popen([str(PY), str(ROOT / "interop" / "python" / script)],
                            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"target exited with {proc.returncode}")
        if http("POST", url, {"Content-Type": "application/json"}, "{}", timeout=2).status:
            return proc, url
        time.sleep(0.3)
    stop(proc)
    raise SystemExit("target did not start")


def init_body(method="initialize", id_=1):
    if method == "initialize":
        return {"jsonrpc": "2.0", "id": id_, "method": "initialize",
                "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                           "clientInfo": {"name": "v", "version": "1"}}}
    return {"jsonrpc": "2.0", "id": id_, "method": method}


def mcp(url, auth=None, method="initialize", session=None, query=None, http_method="POST"):
    """auth: None (no header), a token (sent as Bearer), or ('raw', header value)."""
    h = {"Accept": "application/json, text/event-stream"}
    if isinstance(auth, tuple):
        h["Authorization"] = auth[1]
    elif auth:
        h["Authorization"] = f"Bearer {auth}"
    if session:
        h["Mcp-Session-Id"] = session
    if method != "initialize":
        h["MCP-Protocol-Version"] = "2025-11-25"
    if query:
        url = f"{url}?{query}"
    if http_method == "POST":
        h["Content-Type"] = "application/json"
        return http("POST", url, h, json.dumps(init_body(method)))
    h["Accept"] = "text/event-stream"
    return http(http_method, url, h, timeout=5)


def rpc_result(r):
    """The JSON-RPC message in an answer (plain JSON or SSE `data:` lines), or None."""
    text = r.text()
    if (r.get("content-type") or "").startswith("text/event-stream"):
        for line in text.splitlines():
            if line.startswith("data:"):
                try:
                    return json.loads(line[5:])
                except ValueError:
                    pass
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def accepted(r):
    if r.status is None or not 200 <= r.status < 300:
        return False
    msg = rpc_result(r)
    return isinstance(msg, dict) and "result" in msg


# ---- WWW-Authenticate ---------------------------------------------------------------------------

TCHAR = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]"
TOKEN_RE = re.compile(TCHAR + "+")


def parse_challenges(values):
    """RFC 9110 §11.6.1 parse of WWW-Authenticate values.

    Returns (challenges, problems); a challenge is (scheme, [(name, value, quoted)], token68)."""
    out, problems = [], []
    for value in values:
        s, i, n = value, 0, len(value)

        def ws(i):
            while i < n and s[i] in " \t":
                i += 1
            return i

        i = ws(i)
        while i < n:
            if s[i] == ",":
                i = ws(i + 1)
                continue
            m = TOKEN_RE.match(s, i)
            if not m:
                problems.append(f"bad auth-scheme at {i} in {value!r}")
                break
            scheme, i = m.group(), m.end()
            params, tok68 = [], None
            j = ws(i)
            # token68 (RFC 9110): the rest of the challenge is one token68 value
            m68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*").match(s, j)
            if j > i and m68 and (ws(m68.end()) >= n or s[ws(m68.end())] == ","):
                tok68, i = m68.group(), m68.end()
            if tok68 is None:
                i = j
                while i < n:
                    m = TOKEN_RE.match(s, i)
                    if not m:
                        break
                    k = ws(m.end())
                    if k >= n or s[k] != "=":
                        break  # the next challenge's scheme
                    name, i = m.group(), ws(k + 1)
                    if i < n and s[i] == '"':
                        i += 1
                        buf = []
                        while i < n and s[i] != '"':
                            if s[i] == "\\" and i + 1 < n:
                                i += 1
                            buf.append(s[i])
                            i += 1
                        if i >= n:
                            problems.append(f"unterminated quoted-string for {name}")
                            break
                        params.append((name, "".join(buf), True))
                        i += 1
                    else:
                        m = TOKEN_RE.match(s, i)
                        if not m:
                            problems.append(f"parameter {name} has a value that is neither token nor quoted-string")
                            break
                        params.append((name, m.group(), False))
                        i = m.end()
                    i = ws(i)
                    if i < n and s[i] == ",":
                        i = ws(i + 1)
                    elif i < n:
                        problems.append(f"junk after parameter {name} at {i}")
                        i = n
            out.append((scheme, params, tok68))
            i = ws(i)
    return out, problems


def bearer(r):
    chs, _ = parse_challenges(r.all("www-authenticate"))
    for scheme, params, _ in chs:
        if scheme.lower() == "bearer":
            return {k.lower(): v for k, v, _ in params}
    return None


NQCHAR = re.compile(r"^[\x21\x23-\x5B\x5D-\x7E]+$")
DESC_OK = re.compile(r"^[\x20\x21\x23-\x5B\x5D-\x7E]*$")


def challenge_problems(r):
    values = r.all("www-authenticate")
    chs, problems = parse_challenges(values)
    for scheme, params, _ in chs:
        names = [k.lower() for k, _, _ in params]
        dup = {x for x in names if names.count(x) > 1}
        if dup:
            problems.append(f"{scheme}: repeated parameters {sorted(dup)}")
        if scheme.lower() != "bearer":
            continue
        for k, v, quoted in params:
            k = k.lower()
            if k == "scope" and not all(NQCHAR.match(t) for t in v.split(" ")):
                problems.append(f"scope {v!r} is not a space-delimited list of scope tokens")
            if k == "error" and v not in ("invalid_request", "invalid_token", "insufficient_scope"):
                problems.append(f"unknown error code {v!r}")
            if k == "error_description" and not DESC_OK.match(v):
                problems.append("error_description holds characters RFC 6750 §3 forbids")
            if k in ("resource_metadata", "realm", "scope", "error_description") and not quoted and not TOKEN_RE.fullmatch(v):
                problems.append(f"{k} is unquoted and not a token")
    return problems


def show(r):
    """One-line summary of an answer."""
    if r.status is None:
        return f"no answer ({r.error})"
    out = f"HTTP {r.status}"
    b = bearer(r)
    if b is not None:
        parts = []
        for k in ("error", "scope", "resource_metadata"):
            if k in b:
                v = b[k]
                if k == "resource_metadata":
                    v = re.sub(r"http://127\.0\.0\.1:\d+", "<origin>", v)
                parts.append(f'{k}="{v}"')
        if "error_description" in b:
            parts.append("error_description=…")
        out += ", Bearer " + ", ".join(parts) if parts else ", Bearer (no params)"
    elif r.all("www-authenticate"):
        out += f", WWW-Authenticate: {r.all('www-authenticate')}"
    if r.status and 200 <= r.status < 300:
        out += " (JSON-RPC result)" if accepted(r) else " (no JSON-RPC result)"
    return out


# ---- the checks ---------------------------------------------------------------------------------

def load_scenarios():
    out = {}
    for f in sorted((ROOT / "scenarios").rglob("*.toml")):
        if "examples" in f.parts:
            continue
        with open(f, "rb") as fh:
            d = tomllib.load(fh)
        out[d["id"]] = d
    return out


class Verifier:
    def __init__(self, name, idp_port, target_port):
        self.name = name
        self.url = f"http://127.0.0.1:{target_port}/mcp"
        self.origin = f"http://127.0.0.1:{target_port}"
        self.static = name == "fastmcp-static"
        self.rows = {}  # check id -> dict(sent, did, verdict, why)
        self.scen = load_scenarios()
        self.idp = Idp(idp_port, self.url)
        # Like the harness: a key announced before the target first fetches the JWKS.
        self.announced = self.idp.call("POST", "/keys/announce", {})["kid"]
        self.static_token = None
        if self.static:
            self.static_token = self.idp.mint(lifetime_secs=86400)
        self.log_start = self.idp.last_seq()
        self.proc, _ = start_target(name, target_port, self.idp, self.static_token,
                                    log=VERIF / "results" / f"{name}.target.log")

    def close(self):
        stop(self.proc)
        self.idp.stop()

    def valid(self):
        return self.static_token or self.idp.mint()

    def row(self, cid, sent, did, verdict, why=""):
        self.rows[cid] = {"sent": sent, "did": did, "verdict": verdict, "why": why}
        print(f"{cid}: {verdict} | {sent} | {did} | {why}", flush=True)

    def applicability(self, cid):
        """Skip reason from the check's modes/validation against what was observed, or None."""
        s = self.scen[cid]
        if self.mode not in s["modes"]:
            return f"modes {s['modes']} exclude the observed mode {self.mode}"
        v = s.get("validation")
        if v and v != self.validation:
            return f"check is for {v} validation; target observed to use {self.validation}"
        return None

    # -- discovery: mode, validation, positive control ----------------------------------------
    def discover(self):
        self.unauth = mcp(self.url)
        b = bearer(self.unauth) or {}
        self.rm_param = b.get("resource_metadata")
        self.prm_fetches = {}
        urls = []
        if self.rm_param:
            urls.append(("pointer", self.rm_param))
        urls += [("path-inserted", f"{self.origin}/.well-known/oauth-protected-resource/mcp"),
                 ("root", f"{self.origin}/.well-known/oauth-protected-resource")]
        for role, u in urls:
            r = http("GET", u, {"Accept": "application/json"})
            doc = r.json() if r.status == 200 else None
            self.prm_fetches[role] = (u, r, doc if isinstance(doc, dict) else None)
        docs = [d for _, _, d in self.prm_fetches.values() if d]
        self.prm = docs[0] if docs else None
        if self.prm:
            ases = self.prm.get("authorization_servers") or []
            self.mode = "B" if ases and not any(a.startswith(self.origin) for a in ases) else "C"
        else:
            self.mode = "A"
        # positive control: initialize + ping in the session
        tok = self.valid()
        r = mcp(self.url, tok)
        self.session = r.get("mcp-session-id")
        p = mcp(self.url, tok, "ping", session=self.session) if self.session else None
        self.positive = accepted(r) and (p is None or accepted(p))
        self.positive_desc = f"initialize: {show(r)}; ping: {show(p) if p else '-'}; session id {'issued' if self.session else 'none'}"
        jwks = self.idp.target_calls(self.log_start, "jwks")
        intro = self.idp.target_calls(self.log_start, "introspect")
        if jwks:
            self.validation = "jwt"
        elif intro:
            self.validation = "introspection"
        else:
            self.validation = "pre-shared"
        print(f"mode {self.mode}; validation {self.validation}; positive control {self.positive}: {self.positive_desc}")

    # -- rs ----------------------------------------------------------------------------------
    def rs(self):
        g, d = mcp(self.url, http_method="GET"), mcp(self.url, http_method="DELETE")
        ok = g.status in (401, 403, 405) and d.status in (401, 403, 405)
        self.row("rs.all-methods-protected", "GET and DELETE /mcp, no Authorization",
                 f"GET: {show(g)}; DELETE: {show(d)}", "pass" if ok else "fail")

        res, ok = [], True
        for label, h in [("`Bearer`", "Bearer"), ("`Bearer  `", "Bearer  "),
                         ("`Bearer abc def`", "Bearer abc def"),
                         ("`Basic dXNlcjpwYXNzd29yZA==`", "Basic dXNlcjpwYXNzd29yZA=="),
                         ("`not-a-scheme`", "not-a-scheme")]:
            r = mcp(self.url, ("raw", h))
            ok &= r.status in (400, 401, 403)
            res.append(f"{label}: {r.status}")
        self.row("rs.malformed-authorization", "initialize with 5 malformed Authorization values",
                 "; ".join(res), "pass" if ok else "fail")

        tok = self.valid()
        r = mcp(self.url, None, query=f"access_token={tok}")
        self.row("rs.query-token-ignored", "valid token only as `?access_token=`", show(r),
                 "fail" if r.status and 200 <= r.status < 300 else "pass")

        a, b_ = mcp(self.url, ("raw", f"bearer {tok}")), mcp(self.url, ("raw", f"BEARER {tok}"))
        self.row("rs.scheme-case-insensitive", "valid token with scheme `bearer` and `BEARER`",
                 f"bearer: {show(a)}; BEARER: {show(b_)}",
                 "pass" if accepted(a) and accepted(b_) else "fail")

        u = self.unauth
        self.row("rs.unauthenticated-401", "initialize, no Authorization", show(u),
                 "pass" if u.status == 401 else "fail")
        self.row("rs.www-authenticate-bearer", "initialize, no Authorization", show(u),
                 "pass" if u.status in (401, 403) and bearer(u) is not None else "fail")

    # -- www ---------------------------------------------------------------------------------
    def www(self):
        garbage = mcp(self.url, "not-a-valid-token")
        probs = [f"no creds: {p}" for p in challenge_problems(self.unauth)] + \
                [f"invalid token: {p}" for p in challenge_problems(garbage)]
        raw = self.unauth.all("www-authenticate") + garbage.all("www-authenticate")
        quoting = {f"{k}: {'quoted' if q else 'token'}" for _, ps, _ in parse_challenges(raw)[0] for k, _, q in ps}
        self.row("www.challenge-syntax",
                 "initialize without credentials and with `Bearer not-a-valid-token`; parsed WWW-Authenticate (RFC 9110 §11.6.1, RFC 6750 §3)",
                 f"{len(raw)} header value(s); parameters {sorted(quoting)}; problems: {probs or 'none'}",
                 "fail" if probs else ("pass" if raw else "not-testable"))

        bad = self.idp.mint(defect="bad-signature")
        r2 = mcp(self.url, bad)
        res, ok = [], True
        for lab, r in [("not a JWT", garbage), ("bad-signature JWT", r2)]:
            b = bearer(r) or {}
            html = (r.get("content-type") or "").startswith("text/html") or r.text().lstrip().lower().startswith(("<!doctype", "<html"))
            ok &= r.status == 401 and b.get("error") == "invalid_token" and not html
            res.append(f"{lab}: {show(r)}, body {r.get('content-type')}")
        self.row("www.invalid-token-error", "`Bearer not-a-valid-token`; a JWT with defect bad-signature",
                 "; ".join(res), "pass" if ok else "fail")

        b = bearer(self.unauth)
        if b is None:
            self.row("www.no-error-without-credentials", "initialize, no Authorization", show(self.unauth), "not-testable")
        else:
            self.row("www.no-error-without-credentials", "initialize, no Authorization", show(self.unauth),
                     "fail" if ("error" in b or "error_description" in b) else "pass")

        if self.rm_param is None:
            v = "skip" if self.mode == "A" else "fail"
            self.row("www.resource-metadata-param", "initialize, no Authorization; GET both well-known URLs",
                     f"no resource_metadata in the challenge; well-known: " +
                     ", ".join(f"{role} {r.status}" for role, (_, r, _) in self.prm_fetches.items()),
                     v, "no metadata anywhere: mode A, judged by prm.discovery-mechanism" if v == "skip" else "")
        else:
            u, r, doc = self.prm_fetches["pointer"]
            self.row("www.resource-metadata-param", "initialize, no Authorization; GET the resource_metadata URL",
                     f"resource_metadata=<origin>/.well-known/oauth-protected-resource/mcp → HTTP {r.status}, JSON with resource={str(doc.get('resource') if doc else None).replace(self.origin, '<origin>')!r}",
                     "pass" if doc else "fail")

        sc = (b or {}).get("scope")
        self.row("www.scope-param", "initialize, no Authorization", show(self.unauth),
                 "pass" if sc is not None and SCOPE in sc.split() else "fail")

    # -- prm ---------------------------------------------------------------------------------
    def prm_checks(self):
        wk = ", ".join(f"{role} {u.replace(self.origin, '<origin>')} → {r.status}"
                       for role, (u, r, _) in self.prm_fetches.items())
        self.row("prm.discovery-mechanism", "initialize without credentials; GET path-inserted and root well-known URLs",
                 f"resource_metadata param: {'yes' if self.rm_param else 'none'}; {wk}",
                 "pass" if self.prm else "fail")
        ids = ["prm.as-resolvable", "prm.authorization-servers", "prm.no-auth-required", "prm.optional-fields",
               "prm.path-inserted", "prm.resource-equals-request-url", "prm.resource-valid",
               "prm.wellknown-resource-consistency"]
        if self.mode == "A":
            for cid in ids:
                self.row(cid, "(see prm.discovery-mechanism)", "no metadata at the pointer or either well-known URL",
                         "skip", self.applicability(cid) or "")
            return
        doc = self.prm
        u, r, _ = self.prm_fetches.get("pointer") or self.prm_fetches["path-inserted"]
        ases = doc.get("authorization_servers")
        ok = isinstance(ases, list) and ases and all(isinstance(a, str) and a.startswith(("http://", "https://")) for a in ases)
        norm = lambda s: json.dumps(s).replace(self.idp.issuer, "<issuer>")  # noqa: E731
        self.row("prm.authorization-servers", f"GET {u.replace(self.origin, '<origin>')}",
                 f"authorization_servers = {norm(ases)}", "pass" if ok else "fail")
        res, ok2 = [], True
        for a in ases or []:
            asm = http("GET", a.rstrip("/") + "/.well-known/oauth-authorization-server", {"Accept": "application/json"})
            iss = (asm.json() or {}).get("issuer") if asm.status == 200 else None
            res.append(f"{a.replace(self.idp.issuer, '<issuer>')}/.well-known/oauth-authorization-server → {asm.status}, issuer {'equal (exact)' if iss == a else repr(iss)}")
            ok2 &= iss == a
        self.row("prm.as-resolvable", "GET RFC 8414 metadata of each authorization server", "; ".join(res),
                 "pass" if ok2 and res else "fail")
        self.row("prm.no-auth-required", "GET the metadata URL without Authorization",
                 f"HTTP {r.status}, {r.get('content-type')}", "pass" if r.status == 200 else "fail")
        bm, ss = doc.get("bearer_methods_supported"), doc.get("scopes_supported")
        probs = []
        if bm is not None and (not isinstance(bm, list) or "header" not in bm or "query" in bm or "body" in bm):
            probs.append(f"bearer_methods_supported {bm}")
        if ss is not None and (not isinstance(ss, list) or "offline_access" in ss or any(str(x).endswith("*") for x in ss)):
            probs.append(f"scopes_supported {ss}")
        self.row("prm.optional-fields", "inspect bearer_methods_supported, scopes_supported",
                 f"bearer_methods_supported={bm}, scopes_supported={ss}", "fail" if probs else "pass")
        _, pr, pdoc = self.prm_fetches["path-inserted"]
        self.row("prm.path-inserted", "GET <origin>/.well-known/oauth-protected-resource/mcp",
                 f"HTTP {pr.status}, {'metadata JSON' if pdoc else 'no metadata'}", "pass" if pdoc else "fail")
        res_ = doc.get("resource")
        self.row("prm.resource-equals-request-url", "compare metadata `resource` with the URL used",
                 f"resource={str(res_).replace(self.origin, '<origin>')!r}, URL=<origin>/mcp", "pass" if res_ == self.url else "fail")
        valid = isinstance(res_, str) and res_.startswith(("http://", "https://")) and "#" not in res_
        self.row("prm.resource-valid", "check `resource` is an absolute http(s) URI without fragment",
                 f"resource={str(res_).replace(self.origin, '<origin>')!r}", "pass" if valid else "fail")
        _, rr, rdoc = self.prm_fetches["root"]
        probs = []
        if pdoc and pdoc.get("resource") != self.url:
            probs.append("path-inserted doc resource != URL")
        if rdoc and rdoc.get("resource") not in (self.origin, self.origin + "/", self.url):
            probs.append(f"root doc resource {rdoc.get('resource')!r}")
        self.row("prm.wellknown-resource-consistency", "compare each well-known document's resource with its location",
                 f"path-inserted resource={str(pdoc.get('resource') if pdoc else None).replace(self.origin, '<origin>')!r} (= the pointer URL); root well-known → HTTP {rr.status}{' ' + repr(rdoc) if rdoc else ' (no document)'}",
                 "fail" if probs else "pass")

    # -- token checks ------------------------------------------------------------------------
    def tok_check(self, cid, steps):
        """steps: [(label, mint kwargs | ('raw', token), expect)]; expect: 401 | 'accepted'."""
        skip = self.applicability(cid)
        if skip:
            self._skip_with_probe(cid, skip)
            return
        res, verdict = [], "pass"
        for label, kw, expect in steps:
            tok = kw[1] if isinstance(kw, tuple) else self.idp.mint(**kw)
            r = mcp(self.url, tok)
            res.append(f"{label}: {show(r)}")
            ok = accepted(r) if expect == "accepted" else r.status == expect
            if not ok:
                verdict = "fail"
        self.row(cid, "; ".join(label for label, _, _ in steps), "; ".join(res), verdict)

    def _skip_with_probe(self, cid, why):
        # Confirm the skip reason holds, with evidence.
        if self.validation == "pre-shared":
            r = mcp(self.url, self.idp.mint())
            self.row(cid, "valid minted JWT (not the pre-shared token)",
                     f"{show(r)}; IdP saw no JWKS/introspection request from the target", "skip", why)
        else:
            self.row(cid, "-", f"target validation observed: {self.validation}", "skip", why)

    def jwt_checks(self):
        good = None if self.validation != "jwt" else self.idp.mint()
        self.tok_check("jwt.alg-confusion", [("defect hs256-public-key-pem", {"defect": "hs256-public-key-pem"}, 401),
                                             ("defect hs256-public-key-jwk", {"defect": "hs256-public-key-jwk"}, 401)])
        self.tok_check("jwt.alg-none", [("defect alg-none", {"defect": "alg-none"}, 401),
                                        ("defect alg-none-unsigned", {"defect": "alg-none-unsigned"}, 401)])
        if good:
            parts = good.split(".")
            s = list(parts[2]); i = len(s) // 2; s[i] = "B" if s[i] == "A" else "A"
            flipped = ".".join(parts[:2] + ["".join(s)])
            self.tok_check("jwt.bad-signature", [("valid token (control)", ("raw", good), "accepted"),
                                                 ("same token, 1 signature char changed", ("raw", flipped), 401),
                                                 ("defect bad-signature", {"defect": "bad-signature"}, 401),
                                                 ("defect tampered-payload", {"defect": "tampered-payload"}, 401)])
        else:
            self.tok_check("jwt.bad-signature", [])
        self.tok_check("jwt.expired-rejected", [("defect expired (exp now-600)", {"defect": "expired"}, 401)])
        # header-abuse: crit and kid path by status; jku/x5u by the IdP's request log
        cid = "jwt.header-abuse"
        skip = self.applicability(cid)
        if skip:
            self._skip_with_probe(cid, skip)
        else:
            res, verdict = [], "pass"
            for d in ("crit-unknown", "jku-header", "x5u-header", "kid-path-traversal"):
                mark = self.idp.last_seq()
                r = mcp(self.url, self.idp.mint(defect=d))
                time.sleep(1.0)
                probes = [c["path"] for c in self.idp.target_calls(mark) if c["path"].startswith("/_probe")]
                if d in ("jku-header", "x5u-header"):
                    res.append(f"{d}: {show(r)}, IdP /_probe/* requests: {probes or 'none'}")
                    if probes:
                        verdict = "fail"
                else:
                    res.append(f"{d}: {show(r)}")
                    if r.status != 401:
                        verdict = "fail"
            self.row(cid, "defects crit-unknown, jku-header, x5u-header, kid-path-traversal", "; ".join(res), verdict)
        self.tok_check("jwt.missing-exp-rejected", [("defect missing-exp", {"defect": "missing-exp"}, 401)])
        self.tok_check("jwt.nbf-future-rejected", [("defect not-yet-valid (nbf now+3600)", {"defect": "not-yet-valid"}, 401)])
        self.tok_check("jwt.typ-enforced", [("defect wrong-typ (typ JWT)", {"defect": "wrong-typ"}, 401),
                                            ("header typ removed", {"header": {"typ": None}}, 401)])
        self.tok_check("jwt.untrusted-key", [("defect untrusted-key", {"defect": "untrusted-key"}, 401),
                                             ("defect untrusted-key-known-kid", {"defect": "untrusted-key-known-kid"}, 401)])
        self.tok_check("jwt.valid-accepted", [("valid token, aud string", {}, "accepted"),
                                              ("aud [URL, https://other.example/mcp]", {"audience": [self.url, "https://other.example/mcp"]}, "accepted")])
        self.tok_check("jwt.wrong-issuer", [("defect wrong-issuer", {"defect": "wrong-issuer"}, 401)])
        self.tok_check("aud.missing-audience", [("defect missing-audience", {"defect": "missing-audience"}, 401)])
        self.tok_check("aud.other-audiences", [("aud = client_id conformance-client", {"audience": "conformance-client"}, 401),
                                               ("aud = issuer", {"audience": self.idp.issuer}, 401),
                                               ("aud = <origin>/other-mcp", {"audience": self.origin + "/other-mcp"}, 401)])
        self.tok_check("aud.wrong-audience", [("aud https://other.example/mcp", {"audience": "https://other.example/mcp"}, 401)])
        self.tok_check("scope.claim-formats", [("defect scope-as-scp-array", {"defect": "scope-as-scp-array"}, "accepted"),
                                               ("defect scope-as-scp-string", {"defect": "scope-as-scp-string"}, "accepted")])

    def scope_checks(self):
        tok = self.idp.mint(scope="conformance:unrelated")
        r = mcp(self.url, tok)
        b = bearer(r) or {}
        cid = "scope.insufficient-403"
        if accepted(r):
            self.row(cid, "valid token with scope conformance:unrelated", show(r), "not-testable", "token accepted")
        elif self.static:
            self.row(cid, "valid minted JWT with scope conformance:unrelated", show(r), "not-testable",
                     "the static target knows only its one pre-shared token (scopes = mcp:tools), so no valid under-scoped token exists; a 401 here is the unknown-token answer")
        else:
            ok = r.status == 403 and b.get("error") == "insufficient_scope"
            self.row(cid, "valid token with scope conformance:unrelated", show(r), "pass" if ok else "fail")
        cid = "scope.challenge-params"
        skip = self.applicability(cid)
        if skip:
            self.row(cid, "-", "-", "skip", skip)
        elif r.status != 403:
            self.row(cid, "valid token with scope conformance:unrelated", show(r), "not-testable",
                     "the check judges the 403 challenge; the target never answers 403")
        else:
            ok = SCOPE in (b.get("scope") or "").split() and b.get("resource_metadata")
            self.row(cid, "valid token with scope conformance:unrelated", show(r), "pass" if ok else "fail")

    def transport(self):
        cid = "transport.session-not-auth"
        if not self.session:
            self.row(cid, "-", "no session id issued", "skip")
            return
        a = mcp(self.url, None, "ping", session=self.session)
        b = mcp(self.url, "not-a-valid-token", "ping", session=self.session)
        c = mcp(self.url, self.valid(), "ping", session=self.session)
        ok = not (a.status and 200 <= a.status < 300) and not (b.status and 200 <= b.status < 300)
        self.row(cid, "ping with the positive control's Mcp-Session-Id: no Authorization; `Bearer not-a-valid-token`",
                 f"no creds: {show(a)}; invalid token: {show(b)} (control: same session with the valid token: {show(c)})",
                 "pass" if ok else "fail")

    def introspect(self):
        calls = self.idp.target_calls(self.log_start, "introspect")
        for cid in sorted(k for k in self.scen if k.startswith("introspect.")):
            self.row(cid, "IdP request log over the whole session",
                     f"target made {len(calls)} introspection call(s); validation observed: {self.validation}",
                     "skip" if not calls else "?", self.applicability(cid) or "")

    # -- JWKS story (last, like the harness) -------------------------------------------------
    def await_accept(self, tok, mark):
        t0 = time.time()
        while True:
            r = mcp(self.url, tok)
            if accepted(r):
                return True, r, time.time() - t0, self.idp.target_calls(mark, "jwks")
            if time.time() - t0 > JWKS_WAIT:
                return False, r, time.time() - t0, self.idp.target_calls(mark, "jwks")
            time.sleep(0.25)

    def jwks(self):
        ids = ["jwks.new-key-picked-up", "jwks.removed-key-rejected", "jwks.unknown-key-ignored", "jwks.outage-fails-closed"]
        skip = self.applicability(ids[0])
        if skip:
            for cid in ids:
                self._skip_with_probe(cid, skip)
            return
        # 1: announced key (in the JWKS since before the target's first fetch), then a rotation
        ok1, r1, t1, f1 = self.await_accept(self.idp.mint(kid=self.announced), self.log_start)
        old = self.idp.mint()  # signed by mock-key-1, never presented before the rotation
        ctrl = mcp(self.url, self.idp.mint())
        mark = self.idp.last_seq()
        rot = self.idp.call("POST", "/keys/rotate", {})
        ok2, r2, t2, f2 = self.await_accept(self.idp.mint(kid=rot["kid"]), mark)
        self.row(ids[0], f"token signed by {self.announced} (announced before start); control {show(ctrl)}; POST /keys/rotate → {rot['kid']} active, {rot['retired']} retired; token signed by {rot['kid']} resent every 0.25 s",
                 f"{self.announced}: {show(r1)}; {rot['kid']}: {show(r2)} after {t2:.1f} s, target JWKS fetches since rotation: {[c['status'] for c in f2]}",
                 "pass" if ok1 and ok2 else "fail")
        # 2: the retired key
        refetched = any(c["status"] == 200 for c in self.idp.target_calls(mark, "jwks"))
        r = mcp(self.url, old)
        self.row(ids[1], f"after the target refetched the JWKS (without {rot['retired']}): a fresh token signed by {rot['retired']}",
                 f"refetched: {refetched}; {show(r)}",
                 ("pass" if not (r.status and 200 <= r.status < 300) else "fail") if refetched else "not-testable")
        # 3: unusable keys in the JWKS
        jwks = http("GET", self.idp.info["jwks_uri"]).json()
        enc = dict(jwks["keys"][0]); enc["kid"] = "unusable-rsa-enc"; enc["use"] = "enc"; enc.pop("alg", None)
        mark = self.idp.last_seq()
        self.idp.call("POST", "/keys/extra", {"jwk": {"kty": "OKP", "crv": "X448", "kid": "unusable-x448", "use": "sig",
                                                      "x": "mLGXwN6mz9AsWaIxn5xOm2ijo4xbYWGyTDLUVNTq-8jfFMTIsdT8VdSH6OXbDzaW1UJ8pyTWAOg"}})
        self.idp.call("POST", "/keys/extra", {"jwk": enc})
        kid = self.idp.call("POST", "/keys/announce", {})["kid"]
        ok3, r3, t3, f3 = self.await_accept(self.idp.mint(kid=kid), mark)
        self.idp.call("DELETE", "/keys/extra")
        self.row(ids[2], f"JWKS + an X448 key + an RSA key with use=enc; announce {kid}; token signed by {kid}",
                 f"{show(r3)} after {t3:.1f} s; target JWKS fetches: {[c['status'] for c in f3]}", "pass" if ok3 else "fail")
        # 4: outage
        res, verdict = [], "pass"
        for label, fault in [("HTTP 500", {"kind": "status", "status": 500}), ("garbage body", {"kind": "garbage"})]:
            kid = self.idp.call("POST", "/keys/announce", {})["kid"]
            mark = self.idp.last_seq()
            self.idp.call("POST", "/faults", {"endpoint": "jwks", "fault": fault})
            tok = self.idp.mint(kid=kid)
            t0 = time.time()
            seen = []
            while True:
                r = mcp(self.url, tok)
                seen.append(r.status)
                fetches = self.idp.target_calls(mark, "jwks")
                if (r.status and 200 <= r.status < 300) or fetches or time.time() - t0 > JWKS_WAIT:
                    break
                time.sleep(0.25)
            self.idp.call("DELETE", "/faults")
            after = ""
            if label == "garbage body":
                # Evidence that the refusal came from the outage: once the JWKS is healthy again,
                # the same token is accepted (after FastMCP's 30 s refetch cool-down).
                ok_a, ra, ta, _ = self.await_accept(tok, mark)
                after = f"; after clearing the fault the same token got {show(ra)} after {ta:.1f} s"
            res.append(f"JWKS {label}: target fetched it ({[c['status'] for c in fetches]}), the triggering request got {show(r)}; all answers while waiting: {sorted(set(seen))}{after}")
            if r.status and 200 <= r.status < 300:
                verdict = "fail"
            elif not fetches:
                verdict = "not-testable"
            elif r.status not in (401, 503):
                verdict = "warn"
        self.row(ids[3], "announce a new key, fault the JWKS (500, then garbage), send a token signed by the new key until the target tries to fetch",
                 "; ".join(res), verdict)

    def run(self):
        self.discover()
        self.rs()
        self.www()
        self.prm_checks()
        self.jwt_checks()
        self.scope_checks()
        self.transport()
        self.introspect()
        self.jwks()
        # the validation verdict again, at the end (static: the target must never have called the IdP)
        self.idp_calls = [(c["endpoint"], c["path"], c["status"]) for c in self.idp.target_calls(self.log_start)]


def main():
    name, idp_port, target_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    (VERIF / "results").mkdir(parents=True, exist_ok=True)
    v = Verifier(name, idp_port, target_port)
    try:
        v.run()
    finally:
        v.close()
    report = json.load(open(ROOT / "reports" / "interop" / name / "report.json"))
    rep = {c["id"]: c["status"] for c in report["checks"]}
    missing = sorted(set(rep) - set(v.rows))
    out = {"name": name, "mode": v.mode, "validation": v.validation, "positive": v.positive,
           "positive_desc": v.positive_desc, "report_mode": report["mode"], "report_validation": report["validation"],
           "idp_calls_by_target": sorted(set((e, p) for e, p, _ in v.idp_calls)),
           "missing": missing, "rows": v.rows}
    json.dump(out, open(VERIF / "results" / f"{name}.json", "w"), indent=1)
    lines = ["| check | report verdict | what I sent | what the target did | my verdict | agree? |",
             "| --- | --- | --- | --- | --- | --- |"]
    agree = 0
    for c in report["checks"]:
        cid = c["id"]
        row = v.rows.get(cid)
        if not row:
            lines.append(f"| {cid} | {rep[cid]} | (not reproduced) | | | ? |")
            continue
        same = row["verdict"] == rep[cid]
        agree += same
        did = row["did"] + (f" — {row['why']}" if row["why"] else "")
        cell = lambda s: s.replace("|", "\\|")  # noqa: E731
        lines.append(f"| {cid} | {rep[cid]} | {cell(row['sent'])} | {cell(did)} | {row['verdict']} | {'yes' if same else '**NO**'} |")
    table = "\n".join(lines)
    (VERIF / "results" / f"{name}.table.md").write_text(table + "\n")
    print(table)
    print(f"\n{name}: {agree}/{len(report['checks'])} verdicts agree; mode {v.mode} (report {report['mode']}), "
          f"validation {v.validation} (report {report['validation']}); target's IdP calls: {out['idp_calls_by_target']}")


if __name__ == "__main__":
    main()
