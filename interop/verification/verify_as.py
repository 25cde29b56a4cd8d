#!/usr/bin/env python3
"""Independent verification of the harness's verdicts on the five MCP servers that are OAuth
authorization servers or OAuth proxies (reports/interop/<target>/report.json).

    interop/verification/verify_as.py [target ...]        all five when none is named
    interop/verification/verify_as.py --md                 also print the markdown tables
    interop/verification/verify_as.py --md-out=FILE        write them to FILE

For each target: starts the mock IdP standalone (pre-registered mode, the upstream client
mcp-proxy-upstream) and the target with the environment the harness's --command gives it, logs
in with plain HTTP (discovery from the 401, DCR or the pre-registered client, PKCE S256,
resource, consent form answered, code exchange, MCP call, refresh), then re-sends the decisive
request(s) of every AS check (areas login, as-meta, legacy, dcr, pkce, redirect, authz, token,
refresh, resource, consent, passthrough) and judges it by the rule in scenarios/<area>/<name>.toml.
Prints, per check, the report's verdict next to the verdict reached here and the decisive
observation; writes interop/verification/results/<target>.as.json.

Standard library only. Stops every process it started, by PID.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from as_lib import (  # noqa: E402
    _Forms, ROOT, SCOPE, TARGETS, UPSTREAM_ID, UPSTREAM_SECRET, Browser, Procs, describe_end, end_count,
    end_param, free_port, jwt_claims, origin, pkce, rand, request, token_request,
)

AREAS = {"login", "as-meta", "legacy", "dcr", "pkce", "redirect", "authz", "token", "refresh", "resource",
         "consent", "passthrough"}
WORK = "/tmp/verify-as"
OUT = os.path.join(ROOT, "interop/verification/results")
PROTO = "2025-11-25"


class Skip(Exception):
    pass


def V(verdict, obs):
    return verdict, obs


# ----------------------------------------------------------------------------------------------
# MCP


def mcp_result(resp):
    if resp.status is None or not (200 <= resp.status < 300):
        return None
    ctype = (resp.header("content-type") or "").lower()
    if "event-stream" in ctype:
        for line in resp.text.splitlines():
            if line.startswith("data:"):
                try:
                    return json.loads(line[5:].strip())
                except ValueError:
                    return None
        return None
    return resp.json()


def mcp_accepts(target_url, token):
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": PROTO, "capabilities": {}, "clientInfo": {"name": "verify-as", "version": "1"}}}
    r = request("POST", target_url, json_body=init,
                headers={"Accept": "application/json, text/event-stream", "Authorization": f"Bearer {token}"})
    res = mcp_result(r)
    return bool(isinstance(res, dict) and "result" in res), r


def mcp_echo(target_url, token):
    ok, r = mcp_accepts(target_url, token)
    if not ok:
        return False, f"initialize HTTP {r.status}"
    sess = r.header("mcp-session-id")
    h = {"Accept": "application/json, text/event-stream", "Authorization": f"Bearer {token}",
         "MCP-Protocol-Version": PROTO}
    if sess:
        h["Mcp-Session-Id"] = sess
    request("POST", target_url, json_body={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=h)
    r = request("POST", target_url, json_body={"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                                                 "params": {"name": "echo", "arguments": {"text": "hi"}}}, headers=h)
    res = mcp_result(r)
    content = ((res or {}).get("result") or {}).get("content")
    return bool(content), f"initialize ok, tools/call echo HTTP {r.status} content={content}"


# ----------------------------------------------------------------------------------------------
# The login


def client_metadata(redirect_uri, scope=SCOPE, **extra):
    m = {"client_name": "mcp-auth-conformance", "redirect_uris": [redirect_uri],
         "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
         "token_endpoint_auth_method": "none", "application_type": "native"}
    if scope:
        m["scope"] = scope
    m.update(extra)
    return m


def client_of(reg: dict) -> dict:
    method = reg.get("token_endpoint_auth_method") or "none"
    secret = reg.get("client_secret")
    if method == "none" or not secret:
        method = "none"
    return {"client_id": reg["client_id"], "client_secret": secret, "method": method}


class Session:
    def __init__(self, name, procs: Procs):
        self.name, self.p = name, procs
        self.t = procs.target_url
        self.idp = procs.issuer
        self.browser = Browser()
        self.log = []  # the login steps
        self.port = free_port()
        self.redirect_uri = f"http://127.0.0.1:{self.port}/callback"
        self.origins = {origin(self.t), origin(self.idp)}

    # -- helpers --
    def reg(self, metadata):
        return request("POST", self.meta["registration_endpoint"], json_body=metadata,
                       headers={"Accept": "application/json"})

    def params(self, challenge, state, **changes):
        p = {"response_type": "code", "client_id": self.client["client_id"], "redirect_uri": self.redirect_uri,
             "state": state, "code_challenge": challenge, "code_challenge_method": "S256",
             "resource": self.t, "scope": SCOPE}
        for k, v in changes.items():
            if v is None:
                p.pop(k, None)
            else:
                p[k] = v
        return p

    def authorize(self, params, decision="approve", forge=False, browser=None):
        url = self.meta["authorization_endpoint"] + "?" + urllib.parse.urlencode(params)
        return (browser or self.browser).walk(url, params.get("redirect_uri", self.redirect_uri), self.origins,
                                              decision=decision, forge=forge)

    def code_form(self, code, verifier, **changes):
        f = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri, "resource": self.t}
        if verifier is not None:
            f["code_verifier"] = verifier
        f.update(changes)
        return f

    def token(self, form, client=None):
        return token_request(self.meta["token_endpoint"], form, client or self.client)

    def fresh_code(self, **changes):
        v, c = pkce()
        run = self.authorize(self.params(c, rand(12), **changes))
        return end_param(run, "code"), v, run

    def fresh_tokens(self):
        code, v, run = self.fresh_code()
        if not code:
            raise RuntimeError(f"a second authorization gave no code: {describe_end(run)}")
        r = self.token(self.code_form(code, v))
        j = r.json() if r.status == 200 else None
        if not (isinstance(j, dict) and j.get("access_token")):
            raise RuntimeError(f"second code exchange failed: {r.brief()}")
        return j, code, v

    # -- the login --
    def login(self):
        r = request("POST", self.t, json_body={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}},
                    headers={"Accept": "application/json, text/event-stream"})
        www = r.header("www-authenticate") or ""
        self.log.append(f"unauthenticated POST: HTTP {r.status}, WWW-Authenticate {www}")
        m = re.search(r'resource_metadata="([^"]+)"', www)
        prm_url = m.group(1) if m else origin(self.t) + "/.well-known/oauth-protected-resource/mcp"
        self.prm = request("GET", prm_url).json()
        self.as_id = self.prm["authorization_servers"][0]
        u = urllib.parse.urlsplit(self.as_id)
        o, path = origin(self.as_id), u.path.rstrip("/")
        if path:
            urls = [(f"{o}/.well-known/oauth-authorization-server{path}", "oauth"),
                    (f"{o}/.well-known/openid-configuration{path}", "oidc"),
                    (f"{o}{path}/.well-known/openid-configuration", "oidc")]
        else:
            urls = [(f"{o}/.well-known/oauth-authorization-server", "oauth"),
                    (f"{o}/.well-known/openid-configuration", "oidc")]
        self.docs = []
        for url, kind in urls:
            rr = request("GET", url, headers={"Accept": "application/json"})
            doc = rr.json() if rr.status == 200 and isinstance(rr.json(), dict) else None
            self.docs.append({"url": url, "kind": kind, "status": rr.status, "doc": doc})
        self.meta = next(d["doc"] for d in self.docs if d["doc"])
        for k in ("authorization_endpoint", "token_endpoint", "registration_endpoint"):
            if self.meta.get(k):
                self.origins.add(origin(self.meta[k]))
        pre = TARGETS[self.name].get("client")
        if pre:
            self.client = dict(pre)
            self.registration = None
        else:
            self.registration = self.reg(client_metadata(self.redirect_uri))
            self.client = client_of(self.registration.json())
        self.state = rand(16)
        self.verifier, self.challenge = pkce()
        self.run = self.authorize(self.params(self.challenge, self.state))
        self.via_upstream = any(origin(h.url) == origin(self.idp) for h in self.run["hops"]) and \
            origin(self.idp) != origin(self.t)
        code = end_param(self.run, "code")
        self.log.append(f"authorization: {describe_end(self.run)}")
        if not code:
            raise RuntimeError(f"login: no code: {describe_end(self.run)}")
        self.token_resp = self.token(self.code_form(code, self.verifier))
        self.tokens = self.token_resp.json()
        self.access = self.tokens["access_token"]
        self.refresh = self.tokens.get("refresh_token")
        ok, note = mcp_echo(self.t, self.access)
        self.mcp_ok, self.mcp_note = ok, note
        self.refreshed = None
        if self.refresh:
            self.refresh_resp = self.token({"grant_type": "refresh_token", "refresh_token": self.refresh,
                                            "resource": self.t})
            j = self.refresh_resp.json()
            self.refreshed = j if self.refresh_resp.status == 200 and isinstance(j, dict) and j.get("access_token") else None


# ----------------------------------------------------------------------------------------------
# The checks. Each returns (verdict, decisive observation); verdicts: pass fail warn not-testable skip.


def no_redirect(s: Session, uris):
    bad, seen = [], []
    for uri in uris:
        v, c = pkce()
        run = s.authorize(s.params(c, rand(8), redirect_uri=uri))
        seen.append(f"{uri} -> {describe_end(run)[:90]}")
        if run["end"][0] in ("callback", "elsewhere"):
            bad.append(uri)
    return bad, seen


def refused(resp, codes):
    j = resp.json()
    if isinstance(j, dict) and j.get("access_token") and resp.status == 200:
        return False, "tokens issued"
    if resp.status is None or resp.status >= 500:
        return False, resp.brief()
    return resp.error in codes, resp.brief()


def c_login(s):
    steps = f"registration {'pre-registered' if s.registration is None else s.registration.status}, " \
            f"{describe_end(s.run)[:60]}, token HTTP {s.token_resp.status}, MCP: {s.mcp_note[:60]}, " \
            f"refresh {'HTTP ' + str(s.refresh_resp.status) if s.refresh else 'none issued'}"
    ok = s.mcp_ok and (not s.refresh or s.refreshed)
    return V("pass" if ok else "fail", steps)


def c_issuer_match(s):
    served = [d for d in s.docs if d["doc"]]
    bad = [f"{d['url']} issuer={d['doc'].get('issuer')!r}" for d in served if d["doc"].get("issuer") != s.as_id]
    obs = f"PRM authorization_servers[0]={s.as_id!r}; " + "; ".join(
        f"{d['url'].split('/.well-known/')[1]}: issuer={d['doc'].get('issuer')!r}" for d in served)
    return V("fail" if bad else "pass", obs)


def c_required_fields(s):
    m = s.meta
    missing = [k for k in ("issuer", "authorization_endpoint", "token_endpoint") if not isinstance(m.get(k), str)]
    if "code" not in (m.get("response_types_supported") or []):
        missing.append("response_types_supported code")
    return V("fail" if missing else "pass", f"missing: {missing or 'none'}; response_types_supported={m.get('response_types_supported')}")


def c_pkce_s256(s):
    served = [d for d in s.docs if d["doc"]]
    bad = [d["url"] for d in served if "S256" not in (d["doc"].get("code_challenge_methods_supported") or [])]
    return V("fail" if bad else "pass", f"code_challenge_methods_supported={s.meta.get('code_challenge_methods_supported')} "
             f"in {len(served)} document(s)")


def c_oidc_alias(s):
    kinds = {d["kind"] for d in s.docs if d["doc"]}
    st = ", ".join(f"{d['url'].split('/.well-known/')[1]} HTTP {d['status']}" for d in s.docs)
    return V("skip" if len(kinds) < 2 else "CHECK", st)


def c_endpoints_live(s):
    obs, dead = [], []
    m = s.meta
    for name, method, kw in (("authorization_endpoint", "GET", {"headers": {"Accept": "text/html"}}),
                             ("token_endpoint", "POST", {"body": b"", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}),
                             ("registration_endpoint", "POST", {"json_body": {}}),
                             ("revocation_endpoint", "POST", {"body": b"", "headers": {"Content-Type": "application/x-www-form-urlencoded"}})):
        if not m.get(name):
            obs.append(f"{name.split('_')[0]}: not advertised")
            continue
        r = request(method, m[name], **kw)
        obs.append(f"{name.split('_')[0]} {r.status}")
        if r.status is None or r.status in (404, 405) or r.status >= 500:
            dead.append(name)
    return V("fail" if dead else "pass", ", ".join(obs))


def c_registration_advertised(s):
    dcr = bool(s.meta.get("registration_endpoint"))
    cimd = s.meta.get("client_id_metadata_document_supported") is True
    return V("pass" if dcr or cimd else "fail", f"registration_endpoint={s.meta.get('registration_endpoint')!r}, "
             f"client_id_metadata_document_supported={s.meta.get('client_id_metadata_document_supported')!r}")


def c_iss_flag(s):
    flag = s.meta.get("authorization_response_iss_parameter_supported") is True
    iss = end_param(s.run, "iss")
    obs = f"flag={s.meta.get('authorization_response_iss_parameter_supported')!r}, callback iss={iss!r}"
    return V("pass" if flag == (iss is not None) else "fail", obs)


def c_legacy(s):
    url = origin(s.t) + "/.well-known/oauth-authorization-server"
    r = request("GET", url, headers={"Accept": "application/json"})
    if r.status == 200 and isinstance(r.json(), dict):
        return V("pass", f"GET {url.split('//')[1].split('/', 1)[1]} HTTP 200 JSON (issuer {r.json().get('issuer')!r})")
    return V("warn", f"HTTP {r.status}")


def need_dcr(s):
    if s.registration is None:
        if TARGETS[s.name].get("client"):
            raise Skip("pre-registered client used (no DCR in the metadata: "
                       f"registration_endpoint={s.meta.get('registration_endpoint')!r})")
        raise Skip("no registration endpoint")


def c_dcr_basic(s):
    need_dcr(s)
    r = s.registration
    return V("pass" if r.status == 201 and r.json().get("client_id") else "fail",
             f"HTTP {r.status}, client_id present={bool(r.json().get('client_id'))}")


def c_dcr_echo(s):
    need_dcr(s)
    j = s.registration.json()
    missing = [k for k in ("client_id", "redirect_uris", "grant_types", "token_endpoint_auth_method") if k not in j]
    r2 = s.reg(client_metadata(s.redirect_uri, token_endpoint_auth_method="client_secret_basic"))
    j2 = r2.json() or {}
    if j2.get("client_secret") and "client_secret_expires_at" not in j2:
        missing.append("client_secret_expires_at")
    return V("fail" if missing else "pass",
             f"public: keys {sorted(k for k in j if k != 'client_secret')}; basic client: HTTP {r2.status} "
             f"secret={'yes' if j2.get('client_secret') else 'no'} expires_at={j2.get('client_secret_expires_at')!r}; missing {missing or 'none'}")


def c_dcr_lenient(s):
    need_dcr(s)
    r1 = s.reg({"redirect_uris": [s.redirect_uri], "client_name": "mcp-auth-conformance minimal"})
    r2 = s.reg(client_metadata(s.redirect_uri, x_conformance_unknown_field="ignore me"))
    ok = all(200 <= r.status < 300 and (r.json() or {}).get("client_id") for r in (r1, r2))
    return V("pass" if ok else "fail", f"minimal HTTP {r1.status}; unknown field HTTP {r2.status}")


def c_dcr_errors(s):
    need_dcr(s)
    obs, bad = [], []
    for uri in ("javascript:alert(1)", "http://127.0.0.1:8080/cb#fragment", "http://attacker.example/cb"):
        r = s.reg(client_metadata(uri))
        obs.append(f"{uri}: {r.brief()[:70]}")
        if not (r.status == 400 and r.error in ("invalid_redirect_uri", "invalid_client_metadata")):
            bad.append(uri)
    return V("fail" if bad else "pass", "; ".join(obs))


def c_pkce_required(s):
    v, c = pkce()
    run = s.authorize(s.params(c, rand(8), code_challenge=None, code_challenge_method=None))
    return V("fail" if end_param(run, "code") else "pass", describe_end(run))


def c_pkce_plain(s):
    verifier = rand(32)
    run = s.authorize(s.params(verifier, rand(8), code_challenge_method="plain"))
    return V("fail" if end_param(run, "code") else "pass", f"S256 login worked; plain: {describe_end(run)}")


def c_pkce_wrong(s):
    code, v, run = s.fresh_code()
    r = s.token(s.code_form(code, rand(32)))
    ok = r.status == 400 and r.error == "invalid_grant"
    return V("pass" if ok else "fail", f"wrong verifier: {r.brief()} (rule: 400 invalid_grant)")


def c_pkce_missing(s):
    code, v, run = s.fresh_code()
    r = s.token(s.code_form(code, None))
    ok = r.status == 400 and r.error in ("invalid_grant", "invalid_request")
    return V("pass" if ok else "fail", f"no verifier: {r.brief()}")


def c_pkce_two_legs(s):
    if not s.via_upstream:
        raise Skip("login did not go through the upstream IdP (mode C)")
    ups = [h for h in s.run["hops"] if urllib.parse.urlsplit(h.url).path == "/authorize" and origin(h.url) == origin(s.idp)]
    if not ups:
        return V("not-testable", "no upstream authorize hop")
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(ups[0].url).query))
    up = q.get("code_challenge")
    same = up == s.challenge
    verdict = "fail" if (up is None or same) else "pass"
    return V(verdict, f"upstream /authorize code_challenge {'== the client challenge' if same else ('absent' if up is None else '!= the client challenge')}"
             f" (client_id={q.get('client_id')}, redirect_uri={q.get('redirect_uri')})")


def port_of(uri):
    return urllib.parse.urlsplit(uri).port


def c_redirect_exact(s):
    p = s.port
    bad, seen = no_redirect(s, [f"http://127.0.0.1:{p}/callback/extra", f"http://127.0.0.1:{p}/callbackx",
                                f"https://127.0.0.1:{p}/callback", f"http://127.0.0.1:{p}/other"])
    return V("fail" if bad else "pass", " | ".join(x.split(" -> ")[1] for x in seen))


def c_redirect_loopback_port(s):
    uri = "http://127.0.0.1:65000/callback"
    v, c = pkce()
    run = s.authorize(s.params(c, rand(8), redirect_uri=uri))
    return V("pass" if end_param(run, "code") else "fail",
             f"registered {s.registration and 'http://127.0.0.1:PORT/callback' or 'http://127.0.0.1/callback (pre-registered)'}; "
             f"{uri}: {describe_end(run)}")


def c_redirect_localhost_port(s):
    need_dcr(s)
    r = s.reg(client_metadata("http://localhost:41000/callback"))
    if not (r.json() or {}).get("client_id"):
        return V("not-testable", f"registration refused: {r.brief()}")
    v, c = pkce()
    run = s.authorize(s.params(c, rand(8), client_id=r.json()["client_id"], redirect_uri="http://localhost:41001/callback"))
    return V("pass" if end_param(run, "code") else "fail",
             f"registered localhost:41000, asked localhost:41001: {describe_end(run)}")


def c_redirect_strict_rest(s):
    o = s.port + 1
    bad, seen = no_redirect(s, [f"http://127.0.0.1:{o}/other", f"http://127.0.0.1:{o}/callback/x",
                                f"http://127.0.0.1:{o}/callback?extra=1"])
    return V("fail" if bad else "pass", " | ".join(x.split(" -> ")[1] for x in seen))


def c_redirect_lookalikes(s):
    bad, seen = no_redirect(s, ["http://localhost@attacker.example/callback", "http://127.0.0.1.attacker.example/callback",
                                "http://localhost.attacker.example/callback"])
    return V("fail" if bad else "pass", " | ".join(x.split(" -> ")[1] for x in seen))


def c_redirect_bad_client(s):
    v, c = pkce()
    r1 = s.authorize(s.params(c, rand(8), client_id=f"never-registered-{rand(6)}"))
    r2 = s.authorize(s.params(c, rand(8), redirect_uri="https://attacker.example/callback"))
    bad = [w for w, r in (("unknown client", r1), ("unregistered redirect", r2)) if r["end"][0] != "stopped"]
    return V("fail" if bad else "pass", f"unknown client_id: {describe_end(r1)[:80]} | unregistered redirect: {describe_end(r2)[:80]}")


def c_state_echo(s):
    n, val = end_count(s.run, "state"), end_param(s.run, "state")
    if n != 1 or val != s.state:
        return V("fail", f"login callback: state x{n}, equal={val == s.state}")
    st = rand(8)
    v, c = pkce()
    run = s.authorize(s.params(c, st, response_type="token"))
    if run["end"][0] == "callback" and (end_count(run, "state") != 1 or end_param(run, "state") != st):
        names = [n for n, _ in run["end"][1]]
        return V("fail", f"success: state once & equal; error redirect (response_type=token) carries {names}, "
                 f"state x{end_count(run, 'state')}")
    return V("pass", f"success: state once & equal; response_type=token: {describe_end(run)[:120]}")


def c_iss(s):
    n, iss = end_count(s.run, "iss"), end_param(s.run, "iss")
    obs = f"callback iss x{n} = {iss!r}; metadata issuer {s.meta.get('issuer')!r}; upstream IdP issuer {s.idp!r}"
    return V("pass" if n == 1 and iss == s.meta.get("issuer") else "fail", obs)


def c_error_redirects(s):
    v, c = pkce()
    st = rand(8)
    run = s.authorize(s.params(c, st, response_type="token"))
    obs = [f"response_type=token: {describe_end(run)[:150]}"]
    ok = end_param(run, "error") == "unsupported_response_type" and end_param(run, "state") == st
    if s.run["pages"]:
        st2 = rand(8)
        fresh = Browser()  # a deny needs the page; a fresh browser makes sure it is shown
        d = s.authorize(s.params(c, st2), decision="deny", browser=fresh)
        obs.append(f"deny: {describe_end(d)[:120]} (state {'echoed' if end_param(d, 'state') == st2 else 'NOT echoed'})")
        if d["pages"] and not (end_param(d, "error") == "access_denied" and end_param(d, "state") == st2):
            ok = False
    else:
        obs.append("no consent page to deny on")
    return V("pass" if ok else "fail", "; ".join(obs))


def c_code_single_use(s):
    first, code, v = s.fresh_tokens()
    again = s.token(s.code_form(code, v))
    good, note = refused(again, ["invalid_grant"])
    if not good:
        return V("fail", f"second redemption: {note}")
    still, r = mcp_accepts(s.t, first["access_token"])
    return V("warn" if still else "pass", f"second redemption: {note}; first access token "
             f"{'still accepted (HTTP %s)' % r.status if still else 'revoked'}")


def c_code_binding(s):
    obs, bad = [], False
    code, v, _ = s.fresh_code()
    r = s.token(s.code_form(code, v, redirect_uri=f"http://127.0.0.1:{s.port}/other"))
    good, note = refused(r, ["invalid_grant"])
    obs.append(f"other redirect_uri: {note}")
    bad |= not good
    if s.meta.get("registration_endpoint"):
        other = client_of(s.reg(client_metadata(s.redirect_uri)).json())
        code, v, _ = s.fresh_code()
        r = s.token(s.code_form(code, v), client=other)
        good, note = refused(r, ["invalid_grant", "invalid_client"])
        obs.append(f"other client: {note}")
        bad |= not good
    else:
        obs.append("no second client (no DCR)")
    return V("fail" if bad else "pass", "; ".join(obs))


def c_invalid_client_401(s):
    if s.client["method"] != "none":
        cid = s.client["client_id"]
        how = f"pre-registered {cid} ({s.client['method']})"
    else:
        r = s.reg(client_metadata(s.redirect_uri, token_endpoint_auth_method="client_secret_basic"))
        j = r.json() or {}
        if not j.get("client_secret"):
            raise Skip(f"client_secret_basic registration: HTTP {r.status}, token_endpoint_auth_method="
                       f"{j.get('token_endpoint_auth_method')!r}, no client_secret: only public clients")
        cid, how = j["client_id"], "registered client_secret_basic client"
    secret = s.client["client_secret"] if s.client["method"] != "none" else j["client_secret"]
    r = token_request(s.meta["token_endpoint"], {"grant_type": "authorization_code", "code": "not-a-code",
                                                 "redirect_uri": s.redirect_uri},
                      {"client_id": cid, "client_secret": "wrong-secret", "method": "client_secret_basic"})
    www = r.header("www-authenticate")
    ok = r.status == 401 and r.error == "invalid_client" and (www or "").lower().startswith("basic")
    # Context, not the verdict: the right secret via Basic, and the wrong one in the body.
    form = {"grant_type": "refresh_token", "refresh_token": "not-a-real-refresh-token"}
    right = token_request(s.meta["token_endpoint"], form, {"client_id": cid, "client_secret": secret,
                                                          "method": "client_secret_basic"})
    post = token_request(s.meta["token_endpoint"], form, {"client_id": cid, "client_secret": "wrong-secret",
                                                         "method": "client_secret_post"})
    return V("pass" if ok else "fail", f"{how}, wrong secret via Basic: {r.brief()}, WWW-Authenticate={www!r}. "
             f"Context: right secret via Basic (no client_id in body): {right.brief()}; wrong secret in the body: "
             f"{post.brief()}; advertised methods {s.meta.get('token_endpoint_auth_methods_supported')}")


def c_unknown_client(s):
    r = token_request(s.meta["token_endpoint"], {"grant_type": "authorization_code", "code": "not-a-code",
                                                 "redirect_uri": s.redirect_uri, "code_verifier": rand(32)},
                      {"client_id": f"never-registered-{rand(6)}", "method": "none"})
    if r.error == "invalid_client":
        v = "pass" if r.status == 401 else ("fail" if r.status < 300 else "warn")
    else:
        v = "fail"
    return V(v, r.brief())


def c_unauthorized_client(s):
    r = s.token({"grant_type": "client_credentials"})
    adv = "client_credentials" in (s.meta.get("grant_types_supported") or [])
    if r.status == 400 and (r.error == "unauthorized_client" or (r.error == "unsupported_grant_type" and not adv)):
        return V("pass", r.brief())
    return V("fail", f"{r.brief()} (client_credentials advertised={adv})")


def c_unsupported_grant(s):
    r = s.token({"grant_type": "urn:example:conformance:unknown"})
    return V("pass" if r.status == 400 and r.error == "unsupported_grant_type" else "fail", r.brief())


def c_invalid_grant(s):
    r1 = s.token(s.code_form("not-a-real-code", rand(32)))
    r2 = s.token({"grant_type": "refresh_token", "refresh_token": "not-a-real-refresh-token"})
    ok = all(r.status == 400 and r.error == "invalid_grant" for r in (r1, r2))
    return V("pass" if ok else "fail", f"unknown code: {r1.brief()}; unknown refresh token: {r2.brief()} (rule: 400, profile rfc)")


def c_invalid_request(s):
    r = s.token({"grant_type": "authorization_code", "redirect_uri": s.redirect_uri, "code_verifier": rand(32)})
    return V("pass" if r.status == 400 and r.error == "invalid_request" else "fail", f"no code: {r.brief()}")


def c_headers(s):
    err = s.token({"grant_type": "urn:example:conformance:unknown"})
    obs, bad = [], False
    for what, r in (("success", s.token_resp), ("error", err)):
        ct = (r.header("content-type") or "")
        cc = ",".join(r.header_all("cache-control"))
        obs.append(f"{what}: {ct!r}, Cache-Control {cc!r}")
        bad |= not ct.lower().startswith("application/json") or "no-store" not in cc.lower()
    return V("fail" if bad else "pass", "; ".join(obs))


def c_success_shape(s):
    t = s.tokens
    tt, ei = t.get("token_type"), t.get("expires_in")
    if not (isinstance(tt, str) and tt.lower() == "bearer") or not t.get("access_token"):
        return V("fail", f"token_type={tt!r}")
    return V("pass" if isinstance(ei, int) else "warn", f"token_type={tt!r}, expires_in={ei!r}, keys={sorted(t)}")


def c_no_200(s):
    forms = [{"grant_type": "urn:example:conformance:unknown"}, s.code_form("not-a-real-code", rand(32)),
             {"grant_type": "authorization_code"}]
    rs = [s.token(f) for f in forms]
    bad = [r for r in rs if r.status and 200 <= r.status < 300 and r.error]
    return V("fail" if bad else "pass", ", ".join(r.brief()[:40] for r in rs))


def c_auth_method(s):
    if not s.meta.get("registration_endpoint"):
        raise Skip(f"no registration_endpoint (pre-registered {s.client['client_id']})")
    r = s.reg(client_metadata(s.redirect_uri, token_endpoint_auth_method="client_secret_basic"))
    j = r.json() or {}
    if not j.get("client_secret"):
        raise Skip(f"client_secret_basic registration answered HTTP {r.status} with auth method "
                   f"{j.get('token_endpoint_auth_method')!r} and no secret: only public clients")
    if j.get("token_endpoint_auth_method") != "client_secret_basic":
        raise Skip(f"server substituted {j.get('token_endpoint_auth_method')!r}")
    form = {"grant_type": "refresh_token", "refresh_token": "not-a-real-refresh-token"}
    a = token_request(s.meta["token_endpoint"], form, {"client_id": j["client_id"], "client_secret": j["client_secret"],
                                                       "method": "client_secret_post"})
    b = token_request(s.meta["token_endpoint"], form, {"client_id": j["client_id"], "method": "none"})
    ok = a.error == "invalid_client" and b.error == "invalid_client"
    return V("pass" if ok else "fail", f"secret in body: {a.brief()}; no secret: {b.brief()}")


def need_refresh(s):
    if not s.refresh:
        raise Skip("no refresh token issued")


def c_refresh_works(s):
    need_refresh(s)
    if not s.refreshed:
        return V("fail", f"refresh: {s.refresh_resp.brief()}")
    ok, r = mcp_accepts(s.t, s.refreshed["access_token"])
    return V("pass" if ok else "fail", f"refresh HTTP {s.refresh_resp.status}; MCP initialize with the new token HTTP {r.status}")


def c_rotation(s):
    need_refresh(s)
    if s.client["method"] != "none":
        raise Skip(f"client is confidential ({s.client['method']}); rule is about public clients")
    t, _, _ = s.fresh_tokens()
    old = t.get("refresh_token")
    r1 = s.token({"grant_type": "refresh_token", "refresh_token": old, "resource": s.t})
    j = r1.json() or {}
    new = j.get("refresh_token")
    if r1.status != 200:
        return V("not-testable", f"refresh failed {r1.brief()}")
    if not new or new == old:
        return V("fail", "no new refresh token")
    replay = s.token({"grant_type": "refresh_token", "refresh_token": old, "resource": s.t})
    good, note = refused(replay, ["invalid_grant"])
    if not good:
        return V("fail", f"rotated; replay of the old one: {note}")
    after = s.token({"grant_type": "refresh_token", "refresh_token": new, "resource": s.t})
    newest_ok = after.status == 200 and (after.json() or {}).get("access_token")
    return V("warn" if newest_ok else "pass", f"rotated; replay: {note}; newest after replay: {after.brief()}")


def c_refresh_binding(s):
    need_refresh(s)
    if not s.meta.get("registration_endpoint"):
        raise Skip("no registration_endpoint, so no second client")
    other = client_of(s.reg(client_metadata(s.redirect_uri)).json())
    current = (s.refreshed or {}).get("refresh_token") or s.refresh
    r = s.token({"grant_type": "refresh_token", "refresh_token": current, "resource": s.t}, client=other)
    good, note = refused(r, ["invalid_grant", "invalid_client"])
    return V("pass" if good else "fail", f"other client with this client's refresh token: {note}")


def c_no_escalation(s):
    need_refresh(s)
    t, _, _ = s.fresh_tokens()
    rt = t.get("refresh_token")
    r = s.token({"grant_type": "refresh_token", "refresh_token": rt, "resource": s.t,
                 "scope": f"{SCOPE} conformance:escalated"})
    j = r.json() or {}
    if r.status == 200 and j.get("access_token"):
        granted = j.get("scope") or (jwt_claims(j["access_token"]) or {}).get("scope") or ""
        if "conformance:escalated" in granted.split():
            return V("fail", f"granted: scope={granted!r}")
        return V("warn", f"succeeded without the extra scope (scope={granted!r})")
    if r.error == "invalid_scope":
        return V("pass", r.brief())
    plain = s.token({"grant_type": "refresh_token", "refresh_token": rt, "resource": s.t})
    if plain.status != 200:
        return V("not-testable", f"escalation {r.brief()}; plain refresh also fails {plain.brief()}")
    extra = ""
    if s.name == "typescript-sdk-proxy":
        # What the upstream itself answers to the same escalation (the proxy forwards it).
        u = token_request(f"{s.idp}/token", {"grant_type": "refresh_token", "refresh_token": (plain.json() or {}).get("refresh_token") or rt,
                                             "resource": s.t, "scope": f"{SCOPE} conformance:escalated"},
                          {"client_id": UPSTREAM_ID, "client_secret": UPSTREAM_SECRET, "method": "client_secret_post"})
        extra = f"; the same request straight to the upstream IdP: {u.brief()}"
    return V("warn", f"refused with {r.brief()}, not invalid_scope; the plain refresh works{extra}")


def c_dead_refresh(s):
    need_refresh(s)
    r = s.token({"grant_type": "refresh_token", "refresh_token": "revoked-or-never-issued", "resource": s.t})
    # The rule (scenarios/refresh/dead-token-error.toml): invalid_grant, not invalid_request or a 5xx.
    ok = r.error == "invalid_grant" and r.status is not None and r.status < 500
    return V("pass" if ok else "fail", f"{r.brief()} (rule: invalid_grant, not invalid_request or a 5xx; no status named)")


def c_accepts_resource(s):
    return V("pass" if s.access else "fail", f"login with resource={s.t} on authorize, token and refresh obtained a token")


def c_binds_audience(s):
    sets = [("login", s.access)] + ([("refresh", s.refreshed["access_token"])] if s.refreshed else [])
    obs, bad, judged = [], False, 0
    for what, tok in sets:
        c = jwt_claims(tok)
        if c is None:
            obs.append(f"{what}: opaque")
            continue
        judged += 1
        aud = c.get("aud")
        aud = [aud] if isinstance(aud, str) else (aud or [])
        obs.append(f"{what}: iss={c.get('iss')!r} aud={aud}")
        bad |= aud != [s.t]
    if not judged:
        return V("not-testable", "; ".join(obs))
    return V("fail" if bad else "pass", "; ".join(obs))


def c_invalid_target(s):
    unknown = "https://unknown-resource.example/mcp"
    v, c = pkce()
    run = s.authorize(s.params(c, rand(8), resource=unknown))
    if end_param(run, "error") == "invalid_target":
        return V("pass", f"authorize: {describe_end(run)[:120]}")
    code = end_param(run, "code")
    if not code:
        return V("pass", f"authorize refused otherwise: {describe_end(run)[:120]}")
    r = s.token(s.code_form(code, v, resource=unknown))
    if r.error == "invalid_target":
        return V("pass", f"authorize gave a code; token: {r.brief()}")
    mcp = ""
    if r.status == 200 and (r.json() or {}).get("access_token"):
        ok, _ = mcp_accepts(s.t, r.json()["access_token"])
        mcp = f"; that token is {'accepted' if ok else 'refused'} by the MCP endpoint"
    return V("fail", f"authorize gave a code; token exchange with resource={unknown}: {r.brief()}{mcp}")


def own_page(s):
    pages = [p for p in s.run["pages"] if origin(p["url"]) == origin(s.t)]
    if not pages:
        ups = [p["url"] for p in s.run["pages"]]
        raise Skip(f"no consent page of the target's own in the login walk (hops: "
                   f"{' -> '.join(str(h.status) + ' ' + urllib.parse.urlsplit(h.url).netloc.split(':')[-1] + urllib.parse.urlsplit(h.url).path for h in s.run['hops'])}; other pages {ups})")
    return pages[0]


def c_page_content(s):
    p = own_page(s)
    text = p["text"].lower()
    has_client = "mcp-auth-conformance" in text or s.client["client_id"].lower() in text
    has_host = "127.0.0.1" in text
    has_scope = SCOPE in text
    ok = has_client and has_host and has_scope
    return V("pass" if ok else "fail", f"page at {urllib.parse.urlsplit(p['url']).path}: client name/id={has_client}, "
             f"redirect host={has_host}, scope={has_scope}")


def c_anti_framing(s):
    p = own_page(s)
    r = p["resp"]
    xfo = (r.header("x-frame-options") or "")
    csp = ";".join(r.header_all("content-security-policy"))
    ok = xfo.lower() in ("deny", "sameorigin") or "frame-ancestors" in csp.lower()
    return V("pass" if ok else "fail", f"X-Frame-Options={xfo!r}; CSP={csp[:80]!r}")


def c_csrf(s):
    own_page(s)
    v, c = pkce()
    run = s.authorize(s.params(c, rand(8)), forge=True)
    if not run["pages"]:
        run = s.authorize(s.params(c, rand(8)), forge=True, browser=Browser())
    if not run["pages"]:
        return V("not-testable", "no consent page shown")
    f = run["pages"][0]["form"]
    variants = "; ".join(f"{k}: {v}" for k, v in consent_variants(s).items())
    return V("fail" if end_param(run, "code") else "pass",
             f"form fields {[n for n, _ in f['fields']]}; forged POST (no cookies, CSRF field replaced): "
             f"{describe_end(run)[:100]}; separately: {variants}")


def consent_variants(s):
    """The consent POST with only one of the two protections removed."""
    out = {}
    for label in ("real csrf_token without cookies", "forged csrf_token with cookies"):
        b = Browser()
        v, c = pkce()
        url = s.meta["authorization_endpoint"] + "?" + urllib.parse.urlencode(s.params(c, rand(8)))
        for _ in range(5):
            r = request("GET", url, headers={"Cookie": b.get_cookie_header(url) or "", "Accept": "text/html"})
            b.store(url, r)
            if 300 <= r.status < 400:
                url = urllib.parse.urljoin(url, r.header("location"))
                continue
            break
        p = _Forms()
        p.feed(r.text)
        if not p.forms:
            out[label] = f"no form (HTTP {r.status})"
            continue
        form = p.forms[0]
        fields = [(n, "forged" if label.startswith("forged") and re.search("csrf", n, re.I) else val)
                  for n, val in form["fields"]]
        fields += [(bt["name"], bt["value"]) for bt in form["buttons"] if bt["value"] == "approve"][:1]
        h = {"Origin": origin(url), "Referer": url}
        if not label.endswith("without cookies"):
            h["Cookie"] = b.get_cookie_header(url) or ""
        r = request("POST", urllib.parse.urljoin(url, form["action"] or url), form=fields, headers=h)
        loc = r.header("location") or ""
        out[label] = f"HTTP {r.status}" + (" with a redirect onward" if loc else "") + \
            ("" if loc else f" {re.sub('<[^>]+>', ' ', r.text).strip()[:60]!r}")
    return out


def c_before_upstream(s):
    hops = s.run["hops"]
    up = next((i for i, h in enumerate(hops) if origin(h.url) == origin(s.idp)), None)
    own = next((i for i, h in enumerate(hops)
                if origin(h.url) == origin(s.t) and any(p["resp"] is h for p in s.run["pages"])), None)
    path = " -> ".join(f"{'T' if origin(h.url) == origin(s.t) else 'IdP'}{urllib.parse.urlsplit(h.url).path} {h.status}" for h in hops)
    if up is None:
        raise Skip("the login did not reach the upstream")
    ok = own is not None and own < up
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(hops[up].url).query))
    who = ("the client's own client_id (no client identity substituted)" if q.get("client_id") == s.client["client_id"]
           else f"the proxy's client {q.get('client_id')} for MCP client {s.client['client_id'][:12]}")
    return V("pass" if ok else "fail", f"walk: {path}; upstream /authorize carries {who}")


def c_own_tokens(s):
    if not s.via_upstream:
        raise Skip("not a proxy")
    c = jwt_claims(s.access) or {}
    intro = request("POST", f"{s.idp}/introspect", form={"token": s.access},
                    headers={"Authorization": "Basic Y29uZm9ybWFuY2UtcnM6Y29uZm9ybWFuY2UtcnMtc2VjcmV0"})
    active = (intro.json() or {}).get("active")
    upstream = c.get("iss") == s.idp or active is True
    return V("fail" if upstream else "pass", f"client's access token iss={c.get('iss')!r} (upstream {s.idp!r}); "
             f"upstream introspection active={active!r}")


def upstream_token(s):
    """A genuine token of the upstream IdP for the MCP server's resource: the upstream's own
    client does an authorization-code login at the IdP (loopback redirect, PKCE)."""
    v, c = pkce()
    redirect = f"http://127.0.0.1:{free_port()}/callback"
    q = {"response_type": "code", "client_id": UPSTREAM_ID, "redirect_uri": redirect, "state": rand(8),
         "code_challenge": c, "code_challenge_method": "S256", "resource": s.t, "scope": SCOPE}
    run = Browser().walk(f"{s.idp}/authorize?" + urllib.parse.urlencode(q), redirect, {origin(s.idp)})
    code = end_param(run, "code")
    r = token_request(f"{s.idp}/token", {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect,
                                         "code_verifier": v, "resource": s.t},
                      {"client_id": UPSTREAM_ID, "client_secret": UPSTREAM_SECRET, "method": "client_secret_post"})
    return r.json()["access_token"]


def c_upstream_rejected(s):
    if not s.via_upstream:
        raise Skip("not a proxy")
    if (jwt_claims(s.access) or {}).get("iss") == s.idp:
        tok = upstream_token(s)
        ok, r = mcp_accepts(s.t, tok)
        raise Skip(f"the proxy's own tokens are the upstream's (iss {s.idp}); an upstream token obtained directly "
                   f"at the IdP is {'accepted' if ok else 'refused'} (HTTP {r.status})")
    tok = upstream_token(s)
    ok, r = mcp_accepts(s.t, tok)
    cl = jwt_claims(tok) or {}
    return V("fail" if ok else "pass", f"upstream token (iss={cl.get('iss')!r}, aud={cl.get('aud')!r}, "
             f"scope={cl.get('scope')!r}) at the MCP endpoint: HTTP {r.status}")


CHECKS = [
    ("login.headless-flow", c_login),
    ("as-meta.endpoints-live", c_endpoints_live),
    ("as-meta.iss-flag", c_iss_flag),
    ("as-meta.issuer-match", c_issuer_match),
    ("as-meta.oidc-alias-consistent", c_oidc_alias),
    ("as-meta.pkce-s256", c_pkce_s256),
    ("as-meta.registration-advertised", c_registration_advertised),
    ("as-meta.required-fields", c_required_fields),
    ("legacy.mar26-as-location", c_legacy),
    ("dcr.echo-metadata", c_dcr_echo),
    ("dcr.error-codes", c_dcr_errors),
    ("dcr.lenient-input", c_dcr_lenient),
    ("dcr.register-basic", c_dcr_basic),
    ("pkce.missing-verifier", c_pkce_missing),
    ("pkce.proxy-two-legs", c_pkce_two_legs),
    ("pkce.required", c_pkce_required),
    ("pkce.s256-flow", c_pkce_plain),
    ("pkce.wrong-verifier", c_pkce_wrong),
    ("redirect.exact-match", c_redirect_exact),
    ("redirect.localhost-any-port", c_redirect_localhost_port),
    ("redirect.lookalikes", c_redirect_lookalikes),
    ("redirect.loopback-any-port", c_redirect_loopback_port),
    ("redirect.loopback-strict-rest", c_redirect_strict_rest),
    ("redirect.no-redirect-on-bad-client", c_redirect_bad_client),
    ("authz.code-binding", c_code_binding),
    ("authz.code-single-use", c_code_single_use),
    ("authz.error-redirects", c_error_redirects),
    ("authz.iss", c_iss),
    ("authz.state-echo", c_state_echo),
    ("token.auth-method-enforced", c_auth_method),
    ("token.headers", c_headers),
    ("token.invalid-client-401", c_invalid_client_401),
    ("token.invalid-grant", c_invalid_grant),
    ("token.invalid-request", c_invalid_request),
    ("token.no-200-errors", c_no_200),
    ("token.success-shape", c_success_shape),
    ("token.unauthorized-client", c_unauthorized_client),
    ("token.unknown-client", c_unknown_client),
    ("token.unsupported-grant", c_unsupported_grant),
    ("refresh.client-binding", c_refresh_binding),
    ("refresh.dead-token-error", c_dead_refresh),
    ("refresh.no-scope-escalation", c_no_escalation),
    ("refresh.rotation-public", c_rotation),
    ("refresh.works", c_refresh_works),
    ("resource.as-accepts-param", c_accepts_resource),
    ("resource.as-binds-audience", c_binds_audience),
    ("resource.as-invalid-target", c_invalid_target),
    ("consent.anti-framing", c_anti_framing),
    ("consent.before-upstream", c_before_upstream),
    ("consent.csrf", c_csrf),
    ("consent.page-content", c_page_content),
    ("passthrough.proxy-own-tokens", c_own_tokens),
    ("passthrough.upstream-token-rejected", c_upstream_rejected),
]

# Checks that apply to proxies only (scenario modes = ["D"]).
MODE_D_ONLY = {"pkce.proxy-two-legs", "consent.before-upstream", "passthrough.proxy-own-tokens",
               "passthrough.upstream-token-rejected"}


def report_of(name):
    r = json.load(open(os.path.join(ROOT, f"reports/interop/{name}/report.json")))
    return {c["id"]: c for c in r["checks"] if c["id"].split(".")[0] in AREAS}, r.get("mode")


def verify(name):
    harness, mode = report_of(name)
    procs = Procs(name, WORK)
    rows = []
    try:
        procs.start()
        s = Session(name, procs)
        s.login()
        for cid, fn in CHECKS:
            h = harness.get(cid)
            if h is None:
                continue
            try:
                if cid in MODE_D_ONLY and not s.via_upstream:
                    raise Skip("mode C: the login never reached the upstream IdP, the check is about proxies")
                verdict, obs = fn(s)
            except Skip as e:
                verdict, obs = "skip", str(e)
            except Exception as e:  # noqa: BLE001  a probe that broke is reported, not hidden
                verdict, obs = "error", f"{type(e).__name__}: {e}"
            rows.append({"id": cid, "harness": h["status"], "mine": verdict,
                         "agree": verdict == h["status"], "observation": obs,
                         "harness_message": h.get("message", "")})
            print(f"{name:32} {cid:38} harness={h['status']:12} mine={verdict:12} "
                  f"{'OK ' if verdict == h['status'] else 'DIFF'} {obs[:150]}", flush=True)
    finally:
        procs.stop()
    os.makedirs(OUT, exist_ok=True)
    result = {"target": name, "mode": mode, "via_upstream": getattr(locals().get("s"), "via_upstream", None),
              "login": getattr(locals().get("s"), "log", []), "checks": rows}
    with open(os.path.join(OUT, f"{name}.as.json"), "w") as f:
        json.dump(result, f, indent=1)
    return result


def md_table(result):
    lines = ["| check | harness | verified | decisive observation | agree |", "|---|---|---|---|---|"]
    for r in result["checks"]:
        if r["harness"] == "skip" and r["mine"] == "skip":
            continue
        obs = " ".join(r["observation"].split()).replace("|", "\\|")
        if len(obs) > 260:
            obs = obs[:257] + "..."
        lines.append(f"| {r['id']} | {r['harness']} | {r['mine']} | {obs} | {'yes' if r['agree'] else '**no**'} |")
    skips = [r for r in result["checks"] if r["harness"] == "skip" and r["mine"] == "skip"]
    if skips:
        lines.append("")
        lines.append("Skips (reason confirmed):")
        lines.append("")
        for r in skips:
            lines.append(f"- {r['id']}: harness \"{r['harness_message']}\"; observed: {r['observation']}")
    return "\n".join(lines)


def main(argv):
    md = "--md" in argv
    md_out = next((a.split("=", 1)[1] for a in argv if a.startswith("--md-out=")), None)
    names = [a for a in argv if not a.startswith("--")] or list(TARGETS)
    results = [verify(n) for n in names]
    print()
    for res in results:
        diffs = [r for r in res["checks"] if not r["agree"]]
        print(f"{res['target']}: {len(res['checks'])} checks, {len(diffs)} disagreement(s): "
              + ", ".join(f"{r['id']} harness={r['harness']} mine={r['mine']}" for r in diffs))
    tables = "\n".join(f"\n### {res['target']}\n\n{md_table(res)}" for res in results)
    if md:
        print(tables)
    if md_out:
        with open(md_out, "w") as f:
            f.write(tables.lstrip() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
