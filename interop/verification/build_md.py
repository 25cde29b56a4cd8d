#!/usr/bin/env python3
"""Assembles NAME.md from notes below and results/NAME.table.md (written by verify_tools.py)."""
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
PORTS = {"fastmcp-jwt": (18911, 18912), "fastmcp-jwt-no-audience": (18921, 18922),
         "fastmcp-static": (18931, 18932), "fastmcp-remote": (18941, 18942)}

NOTES = {
"fastmcp-jwt": """\
All 49 verdicts reproduce (27 pass, 5 fail, 17 skip). The five failures are real behaviour of FastMCP 4.1.7's
`JWTVerifier`, not harness artefacts: it checks `exp` only when present (a token without `exp` is accepted), never
checks `nbf` (a token valid only in an hour is accepted — the one MUST failure beside discovery), ignores the
`typ` header (`JWT` and no `typ` both accepted), and answers a valid token lacking the required scope with
401 `invalid_token` instead of 403 `insufficient_scope` (its verifier returns `None` for a scope miss, so the SDK
middleware cannot tell it from a bad token). `prm.discovery-mechanism` fails correctly: the challenge has no
`resource_metadata` and both well-known URLs are 404, which is exactly why the target is mode A and the other PRM
checks are skipped. In `jwt.header-abuse` the jku/x5u tokens were accepted (HTTP 200) — that is expected, they are
signed by the real key; the check only asks that the target not fetch the planted URL, and the IdP's request log
shows no `/_probe/*` request. The JWKS story behaves as reported: the pre-announced key is accepted at once; after a
rotation the new key is accepted only after the target's 30 s refetch cool-down (one JWKS fetch), and the retired
key's token is then refused, since FastMCP replaces its cache on refetch. The X448 and `use=enc` RSA extras do not
break the set. For the outage, the token signed by the unseen key got 401 under both faults, and (extra evidence)
the same token was accepted once the JWKS was healthy again, so the refusal did come from the outage. Note that
this outage check can only catch a verifier that skips verification when the fetch fails; it cannot see whether
known keys are dropped or kept during an outage.""",
"fastmcp-jwt-no-audience": """\
All 49 verdicts reproduce (24 pass, 8 fail, 17 skip). Same library and behaviour as fastmcp-jwt, except that with
`MCP_AUTH_AUDIENCE` empty the verifier performs no audience check at all: tokens with no `aud`, with `aud` = the
client id, the issuer, another path on the same origin, or `https://other.example/mcp` are all accepted (HTTP 200
with an `initialize` result). The three `aud.*` MUST failures are therefore genuine — this configuration accepts
tokens minted for any other resource of the same issuer (token passthrough/confused deputy) — and they are
correctly the only difference from fastmcp-jwt's report. `jwt.valid-accepted` passes (trivially, since any
audience is accepted). The JWKS rotation/outage results match fastmcp-jwt (new key after ~26 s with one fetch,
retired key refused, unusable extras ignored, 401 under 500/garbage, token accepted again after the fault was
cleared).""",
"fastmcp-static": """\
All 49 verdicts reproduce (11 pass, 1 fail, 1 not-testable, 36 skip). The target was started as the harness
does for `--static-token`: a JWT minted by the IdP (aud = target URL, scope `mcp:tools`, 24 h lifetime) passed as
`MCP_AUTH_STATIC_TOKEN`. `StaticTokenVerifier` compares the whole string: the pre-shared token is accepted
(initialize + ping), every other token — including a perfectly valid freshly minted JWT — gets 401
`invalid_token`, and the IdP's request log shows the target never contacted the IdP (no JWKS, no introspection).
That confirms the `pre-shared` classification, and so the skips of all jwt/aud/jwks/scope.claim-formats (JWT-only)
and introspect checks; prm.* (except discovery) and scope.challenge-params are skipped as mode A, which holds (no
`resource_metadata`, both well-known URLs 404), and `prm.discovery-mechanism` fails for the same reason.
`scope.insufficient-403` as not-testable is right: the only token this target accepts carries exactly the required
scopes, so no valid-but-under-scoped token exists, and the 401 for the minted `conformance:unrelated` token is
the unknown-token answer. (From the source, `StaticTokenVerifier` would also answer 401 for a scope miss, but that
cannot be shown with the harness's configuration.) Cosmetic only: the report's positive-control text says "a
valid jwt token was accepted" although what was accepted is the pre-shared token.""",
"fastmcp-remote": """\
All 49 verdicts reproduce (37 pass, 4 fail, 1 not-testable, 7 skip). `RemoteAuthProvider` adds RFC 9728 metadata:
every 401 carries `resource_metadata="<origin>/.well-known/oauth-protected-resource/mcp"`, that URL serves
(without a token) `resource` = `http://127.0.0.1:<T>/mcp` exactly (no trailing slash), `authorization_servers` =
`["<issuer>"]` exactly (no pydantic-added slash, so RFC 8414 discovery at `<issuer>/.well-known/oauth-authorization-server`
finds an identical `issuer`), `bearer_methods_supported` = `["header"]`, `scopes_supported` = `["mcp:tools"]`; the
root well-known URL is 404, so there is no second document to be inconsistent. Mode B is right (the AS is the
external mock IdP). Token validation is the same `JWTVerifier`, with the same genuine failures as fastmcp-jwt
(`missing-exp`, `nbf` MUST, `typ`, 401 instead of 403 for a scope miss); audience checks pass since the
audience is configured. `scope.challenge-params` (SHOULD) as not-testable is consistent with its definition: it
requires a 403 to inspect, and the target never sends one (that shortcoming is already counted once, by
`scope.insufficient-403`). JWKS checks reproduce as for fastmcp-jwt.""",
}


def main():
    for name, (ip, tp) in PORTS.items():
        d = json.loads((HERE / "results" / f"{name}.json").read_text())
        table = (HERE / "results" / f"{name}.table.md").read_text()
        agree = sum(1 for l in table.splitlines() if l.endswith("| yes |"))
        total = sum(1 for l in table.splitlines() if l.startswith("| ") and not l.startswith("| check") and not l.startswith("| ---"))
        md = f"""# Hand verification: {name}

Committed report: `reports/interop/{name}/report.json` (also `interop/out/{name}/terminal.txt`).
Result: **{agree}/{total} verdicts confirmed, no disagreement.**

Reproduce (about 3 minutes; most of it waits out FastMCP's 30 s JWKS refetch cool-down):

```sh
interop/.venv/bin/python interop/verification/verify_tools.py {name} {ip} {tp}
interop/.venv/bin/python interop/verification/build_md.py   # regenerates these .md files
```

`verify_tools.py` starts `target/debug/mock-idp --port {ip} --ephemeral --audience http://127.0.0.1:{tp}/mcp`,
announces one key before the target starts (as the harness does), starts the target with the harness's
environment (`run.sh` TARGETS entry, required scope `mcp:tools`), sends every check's decisive requests with
urllib (MCP `initialize`, protocol 2025-11-25, `Accept: application/json, text/event-stream`), reads the IdP's
request log for what the target fetched, and stops both processes by PID. Raw observations:
`results/{name}.json`, target log `results/{name}.target.log`.

Observed: mode **{d['mode']}** (report {d['report_mode']}), validation **{d['validation']}** (report {d['report_validation']});
positive control: {d['positive_desc']}; the target's requests to the IdP: {d['idp_calls_by_target'] or 'none'}.
Ports below are shown as `<origin>` / `<issuer>`; `error_description=…` is FastMCP's long fixed text
("Authentication failed. The provided bearer token is invalid, expired, or no longer recognized …").

{table}
## Notable

{NOTES[name]}
"""
        (HERE / f"{name}.md").write_text(md)
        print(name, agree, total)


if __name__ == "__main__":
    main()
