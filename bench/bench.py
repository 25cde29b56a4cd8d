#!/usr/bin/env python3
"""Helpers for bench/run.sh (standard library only; loopback only).

Subcommands:
  freeport                      print a free TCP port on 127.0.0.1
  startup LABEL N IDLE_S REGEX URL_TEMPLATE -- CMD...
                                spawn CMD N times ("{port}" in CMD and URL_TEMPLATE becomes a fresh
                                free port); per start print one JSON line: spawn -> stdout line
                                matching REGEX, spawn -> first HTTP 200 at URL, and VmRSS IDLE_S
                                seconds after ready. The child is stopped by its PID every time.
  wrkparse RAW LABEL SERVER GROUP RUN LOAD CPU0 CPU1 WALL_S PID [CHECK]
                                parse one wrk output into one JSON line (validity included)
  verify-jwt TOKEN JWKS_URL     check an RS256 JWS against a JWKS (pure-Python RSA, PKCS#1 v1.5)
  mint-pool URL BASIC BODY N OUT
                                POST BODY to the token endpoint URL (Basic BASIC) N times over 4
                                keep-alive connections; write the N access tokens to OUT, one a
                                line (the pool of the always-new-token introspection case)
  cpu PID                       utime+stime of PID in clock ticks
  report OUT_DIR                read OUT_DIR/{runs,startup,signing-rounds}.jsonl, meta.json and
                                signing.json, print Markdown
"""

import base64
import hashlib
import http.client
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

LOOPBACK = "127.0.0.1"

# The anchors quoted in the issue (2-core machine, wrk -t2 -c32 -d10s, median of 3).
ANCHORS = {
    ("token", "oauth2-mock-server"): 1581,
    ("token", "oidc-provider"): 2092,
    ("jwks", "oauth2-mock-server"): 15886,
    ("jwks", "oidc-provider"): 8266,
    ("jwks", "static-axum"): 79313,
    ("introspect", "oidc-provider"): 3879,
    ("ready_ms", "oauth2-mock-server"): 300,
    ("ready_ms", "oidc-provider"): 600,
    ("rss_mb", "oauth2-mock-server"): 56,
    ("rss_mb", "oidc-provider"): 74,
}


# ----- small utilities -----

def freeport():
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def vmrss_kb(pid, field="VmRSS"):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        # The command name may contain spaces; fields after the closing ')' are fixed.
        rest = f.read().rsplit(")", 1)[1].split()
    return int(rest[11]) + int(rest[12])  # utime, stime (fields 14 and 15)


def http_status(url, timeout=1.0):
    m = re.match(r"http://127\.0\.0\.1:(\d+)(/.*)$", url)
    if not m:
        raise SystemExit(f"refusing non-loopback URL {url}")
    conn = http.client.HTTPConnection(LOOPBACK, int(m.group(1)), timeout=timeout)
    try:
        conn.request("GET", m.group(2))
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


# ----- startup -----

def startup(argv):
    label, n, idle, regex, url_t = argv[0], int(argv[1]), float(argv[2]), argv[3], argv[4]
    cmd_t = argv[argv.index("--") + 1:]
    ready_re = re.compile(regex)
    current = {"proc": None}

    def on_term(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    try:
        for i in range(n):
            port = freeport()
            cmd = [c.replace("{port}", str(port)) for c in cmd_t]
            url = url_t.replace("{port}", str(port))
            ready_at = {}
            t0 = time.perf_counter()
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                    text=True)
            current["proc"] = proc

            def reader(p=proc, d=ready_at):
                for line in p.stdout:
                    if "t" not in d and ready_re.search(line):
                        d["t"] = time.perf_counter()
                # keep draining until the pipe closes

            th = threading.Thread(target=reader, daemon=True)
            th.start()
            first_200 = None
            deadline = t0 + 30
            while time.perf_counter() < deadline and proc.poll() is None:
                try:
                    if http_status(url, timeout=1.0) == 200:
                        first_200 = time.perf_counter()
                        break
                except OSError:
                    pass
                time.sleep(0.002)
            # the ready line may come just after the first answer; give it a moment
            for _ in range(200):
                if "t" in ready_at or proc.poll() is not None:
                    break
                time.sleep(0.005)
            rss_ready = vmrss_kb(proc.pid)
            time.sleep(idle)
            rss_idle = vmrss_kb(proc.pid)
            alive = proc.poll() is None
            stop(proc)
            current["proc"] = None
            rec = {
                "label": label, "i": i + 1,
                "ready_line_ms": round((ready_at["t"] - t0) * 1000, 1) if "t" in ready_at else None,
                "first_200_ms": round((first_200 - t0) * 1000, 1) if first_200 else None,
                "rss_ready_kb": rss_ready, "rss_idle_kb": rss_idle, "idle_s": idle,
                "alive": alive,
            }
            print(json.dumps(rec), flush=True)
            time.sleep(0.5)
    finally:
        if current["proc"] is not None:
            stop(current["proc"])


# ----- wrk output -----

def to_ms(v):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", v)
    if not m:
        return None
    x, u = float(m.group(1)), m.group(2)
    return {"us": x / 1000, "ms": x, "s": x * 1000, "m": x * 60000}[u]


def wrkparse(argv):
    raw, label, server, group, run, load, c0, c1, wall, pid, check, busy0, busy1, wrk_cpu = argv[:14]
    txt = open(raw, errors="replace").read()
    tick = os.sysconf("SC_CLK_TCK")
    rec = {"label": label, "server": server, "group": group, "run": int(run),
           "load1": float(load), "raw": os.path.basename(raw)}
    m = re.search(r"Requests/sec:\s+([\d.]+)", txt)
    tot = re.search(r"(\d+) requests in", txt)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", txt)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", txt)
    lat = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", txt, re.M))
    rec["rps"] = float(m.group(1)) if m else None
    rec["requests"] = int(tot.group(1)) if tot else None
    rec["non2xx"] = int(non2xx.group(1)) if non2xx else 0
    rec["socket_errors"] = sum(int(x) for x in sock.groups()) if sock else 0
    rec["p50_ms"] = to_ms(lat["50"]) if "50" in lat else None
    rec["p99_ms"] = to_ms(lat["99"]) if "99" in lat else None
    cpu_s = (int(c1) - int(c0)) / tick if c0.isdigit() and c1.isdigit() else None
    rec["server_cpu_s"] = round(cpu_s, 2) if cpu_s is not None else None
    rec["server_cpu_pct"] = round(100 * cpu_s / float(wall), 1) if cpu_s else None
    rec["req_per_cpu_s"] = (round(rec["requests"] / cpu_s) if cpu_s and rec["requests"]
                            else None)
    # CPU used by everything else on the machine during the run, in % of one core:
    # machine busy time - server - wrk. The best single number for "how noisy was this run".
    try:
        wrk_s = float(open(wrk_cpu).read())
    except (OSError, ValueError):
        wrk_s = None
    rec["wrk_cpu_pct"] = round(100 * wrk_s / float(wall), 1) if wrk_s is not None else None
    if wrk_s is not None and cpu_s is not None:
        machine_s = (int(busy1) - int(busy0)) / tick
        rec["other_cpu_pct"] = round(max(0.0, 100 * (machine_s - cpu_s - wrk_s) / float(wall)), 1)
    else:
        rec["other_cpu_pct"] = None
    rec["rss_after_kb"] = vmrss_kb(pid)
    rec["rss_peak_kb"] = vmrss_kb(pid, "VmHWM")
    reasons = []
    if rec["rps"] is None or not rec["requests"]:
        reasons.append("no wrk result")
    if rec["non2xx"]:
        reasons.append(f"{rec['non2xx']} non-2xx/3xx responses")
    if rec["socket_errors"]:
        reasons.append(f"socket errors ({sock.group(0)})")
    if check and check != "ok":
        reasons.append(check)
    rec["valid"] = not reasons
    rec["invalid_reason"] = "; ".join(reasons)
    print(json.dumps(rec))
    print(f"  {label:<32} run {run}: {rec['rps'] or 0:>10,.0f} req/s  server CPU "
          f"{rec['server_cpu_pct'] or 0:>5.0f}%  wrk {rec['wrk_cpu_pct'] or 0:>4.0f}%  other "
          f"{rec['other_cpu_pct'] or 0:>4.0f}%  load1 {float(load):.2f}  "
          + ("valid" if rec["valid"] else "INVALID: " + rec["invalid_reason"]), file=sys.stderr)


# ----- RS256 verification (what a resource server would do with the sampled token) -----

def b64u(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def verify_jwt(argv):
    token, jwks_url = argv[0], argv[1]
    m = re.match(r"http://127\.0\.0\.1:(\d+)(/.*)$", jwks_url)
    if not m:
        raise SystemExit("loopback JWKS URL required")
    conn = http.client.HTTPConnection(LOOPBACK, int(m.group(1)), timeout=5)
    conn.request("GET", m.group(2))
    jwks = json.loads(conn.getresponse().read())
    h64, p64, s64 = token.split(".")
    header = json.loads(b64u(h64))
    if header.get("alg") != "RS256":
        raise SystemExit(f"alg {header.get('alg')!r} is not RS256")
    keys = [k for k in jwks["keys"] if k.get("kty") == "RSA"
            and ("kid" not in header or k.get("kid") == header["kid"])]
    if not keys:
        raise SystemExit("no JWKS key matches the token's kid")
    digest_info = bytes.fromhex("3031300d060960864801650304020105000420")
    digest = hashlib.sha256(f"{h64}.{p64}".encode()).digest()
    for k in keys:
        n = int.from_bytes(b64u(k["n"]), "big")
        e = int.from_bytes(b64u(k["e"]), "big")
        size = (n.bit_length() + 7) // 8
        em = pow(int.from_bytes(b64u(s64), "big"), e, n).to_bytes(size, "big")
        want = b"\x00\x01" + b"\xff" * (size - 3 - len(digest_info) - 32) + b"\x00" \
            + digest_info + digest
        if em == want:
            claims = json.loads(b64u(p64))
            print(f"RS256 ok (kid {header.get('kid', '-')[:24]}, {size * 8}-bit key, "
                  f"aud {claims.get('aud')!r}, exp-iat {claims.get('exp', 0) - claims.get('iat', 0)} s)")
            return
    raise SystemExit("signature does not verify against the JWKS")


# ----- a pool of distinct tokens -----

def mint_pool(argv):
    url, basic, body, n, out = argv[0], argv[1], argv[2], int(argv[3]), argv[4]
    m = re.match(r"http://127\.0\.0\.1:(\d+)(/.*)$", url)
    if not m:
        raise SystemExit(f"refusing non-loopback URL {url}")
    port, path = int(m.group(1)), m.group(2)
    headers = {"Content-Type": "application/x-www-form-urlencoded",
               "Authorization": "Basic " + basic}
    connections = 4
    tokens = [None] * n
    failures = []

    def work(k):
        conn = http.client.HTTPConnection(LOOPBACK, port, timeout=10)
        try:
            for i in range(k, n, connections):
                conn.request("POST", path, body, headers)
                resp = conn.getresponse()
                data = resp.read()
                if resp.status != 200:
                    failures.append(f"{resp.status} {data[:200]!r}")
                    return
                tokens[i] = json.loads(data)["access_token"]
        except (OSError, ValueError, KeyError) as e:
            failures.append(repr(e))
        finally:
            conn.close()

    threads = [threading.Thread(target=work, args=(k,)) for k in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures or any(t is None for t in tokens):
        raise SystemExit(f"minting the pool failed: {failures[:3]}")
    if len(set(tokens)) != n:
        raise SystemExit("the pool has repeated tokens")
    with open(out, "w") as f:
        f.write("\n".join(tokens) + "\n")


# ----- report -----

def load_jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip().startswith("{")]


def fmt(x, nd=0):
    if x is None:
        return "n/a"
    if nd == 0:
        return f"{x:,.0f}"
    return f"{x:,.{nd}f}"


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def ratio_of(a, b):
    return a / b if a and b else None


def report(argv):
    ratio = ratio_of
    out = argv[0]
    meta = json.load(open(os.path.join(out, "meta.json")))
    runs = load_jsonl(os.path.join(out, "runs.jsonl"))
    starts = load_jsonl(os.path.join(out, "startup.jsonl"))
    try:
        sign = json.load(open(os.path.join(out, "signing.json")))
    except (OSError, ValueError):
        sign = {}
    servers = ["mock-idp", "oauth2-mock-server", "oidc-provider", "static-axum", "introspect-floor",
               "introspect-rawfloor"]
    L = []
    p = L.append
    p(f"# mock-idp side-by-side benchmark ({meta['date']})")
    p("")
    p(f"- Machine: {meta['nproc']} cores, `{meta['cpu']}`; {meta['kernel']}")
    p(f"- Load: wrk {meta['wrk_version']} `-t{meta['threads']} -c{meta['conns']} "
      f"-d{meta['duration']}s`, {meta['runs']} run(s) per case, round-robin over the cases, "
      f"median reported; {'servers pinned to CPU 0 and wrk to CPU 1' if meta['pin'] else 'not pinned (servers and wrk share both cores)'}.")
    p(f"- Software: mock-idp release build ({meta['mock_idp_rev']}); oauth2-mock-server "
      f"{meta['o2m_version']}; oidc-provider {meta['op_version']}; node {meta['node_version']}; "
      f"static axum {meta['axum_version']}.")
    p(f"- Load average (1/5/15 min) at start: {meta['load_start']}; at end: "
      f"{meta.get('load_end', 'n/a')}. The 1-minute load before each wrk run is in the table. "
      "The machine is shared: compare ratios from the same run, not absolute numbers.")
    p("- A run with any non-2xx response, socket error or failed token check is INVALID and "
      "excluded from the median; the 'valid' column shows how many runs counted.")
    p("")

    by = {}
    for r in runs:
        by.setdefault(r["label"], []).append(r)

    def case_stat(label):
        rs = by.get(label, [])
        ok = [r for r in rs if r["valid"]]
        return {
            "n": len(rs), "ok": len(ok),
            "rps": med([r["rps"] for r in ok]),
            "min": min((r["rps"] for r in ok), default=None),
            "max": max((r["rps"] for r in ok), default=None),
            "p99": med([r["p99_ms"] for r in ok]),
            "cpu": med([r["server_cpu_pct"] for r in ok]),
            "eff": med([r["req_per_cpu_s"] for r in ok]),
            "load": [r["load1"] for r in rs],
            "peak": max((r["rss_peak_kb"] or 0 for r in rs), default=0),
            "wrk": med([r.get("wrk_cpu_pct") for r in ok]),
            "other": [r.get("other_cpu_pct") for r in rs if r.get("other_cpu_pct") is not None],
            "by_run": {r["run"]: r["rps"] for r in ok},
            "reasons": sorted({r["invalid_reason"] for r in rs if not r["valid"]}),
        }

    cases = meta["cases"]
    p("## Throughput")
    p("")
    p("CPU columns are in % of one core (the machine has "
      f"{meta['nproc']}): the server process, wrk, and everything else on the machine during the "
      "run (machine busy time minus server and wrk; the best measure of noise from other work). "
      "'load1' is the 1-minute load average read before each run; it includes the benchmark's own "
      "previous run (wrk and the server keep 3–4 threads busy), so the 'other CPU' column is the "
      "one to read for outside interference.")
    p("")
    p("| metric | server | req/s median (min–max) | valid runs | p99 ms | server CPU % "
      "| req per server CPU-s | wrk CPU % | other CPU % (min–max) | load1 before runs "
      "| issue anchor |")
    p("|---|---|---|---|---|---|---|---|---|---|---|")
    stats = {}
    for c in cases:
        s = case_stat(c["label"])
        stats[c["label"]] = s
        anchor = ANCHORS.get((c["group"], c["server"]))
        if c["label"] == "oidc-provider/token-opaque":
            anchor = 4053
        if s["ok"] == 0:
            val = "**INVALID**" if s["n"] else "not run"
        else:
            val = f"{fmt(s['rps'])} ({fmt(s['min'])}–{fmt(s['max'])})"
        valid = f"{s['ok']}/{s['n']}"
        if s["reasons"]:
            valid += " — invalid: " + " / ".join(s["reasons"])
        loads = s["load"]
        load = f"{min(loads):.2f}–{max(loads):.2f}" if loads else "n/a"
        oth = s["other"]
        other = f"{fmt(med(oth))} ({fmt(min(oth))}–{fmt(max(oth))})" if oth else "n/a"
        p(f"| {c['title']} | {c['server']} | {val} | {valid} | {fmt(s['p99'], 2)} | "
          f"{fmt(s['cpu'])} | {fmt(s['eff'])} | {fmt(s['wrk'])} | {other} | {load} | "
          f"{fmt(anchor) if anchor else '—'} |")
    p("| introspection (real) | oauth2-mock-server | n/a: `/introspect` answers "
      "`{\"active\":true}` without reading the token | — | — | — | — | — | — | — | — |")
    p("")

    # signing ceiling
    ours_eff = (stats.get("mock-idp/token") or {}).get("eff")
    o2m_eff = (stats.get("oauth2-mock-server/token") or {}).get("eff")
    op_eff = (stats.get("oidc-provider/token") or {}).get("eff")
    # The rate to hold the token endpoint to: signatures per CPU-second with every core signing at
    # once (each signing thread's own CPU time, so time spent waiting for a CPU other work held
    # does not count). Under the load runs every core is busy, and a lone thread runs faster (no
    # neighbour on the core's caches and clock). Older rsa_raw output has no CPU time: then the
    # all-cores wall rate divided by the threads.
    loaded = sign.get("aws_lc_all_cpu") or (
        sign["aws_lc_all"] / sign["aws_lc_threads"]
        if sign.get("aws_lc_all") and sign.get("aws_lc_threads") else None)
    ceiling = ratio_of(loaded, o2m_eff)
    start_share = ratio_of(ours_eff, loaded)
    # The judged share: each round's tokens per CPU-second against the all-cores signing rate
    # measured just before and just after that round's token run (their mean), median over the
    # rounds. The start-of-run figure is reported beside it; it can be minutes and a different
    # machine speed away from the token runs.
    beside = {}
    for r in load_jsonl(os.path.join(out, "signing-rounds.jsonl")):
        if r.get("aws_lc_all_cpu"):
            beside.setdefault(r["run"], {})[r["when"]] = r["aws_lc_all_cpu"]
    token_runs = {r["run"]: r["req_per_cpu_s"] for r in runs
                  if r["label"] == "mock-idp/token" and r["valid"] and r.get("req_per_cpu_s")}
    # (round, share, ceiling beside it, which measurements it rests on)
    round_shares = [(k, token_runs[k] / (sum(beside[k].values()) / len(beside[k])),
                     sum(beside[k].values()) / len(beside[k]),
                     "" if len(beside[k]) == 2 else f" ({' and '.join(sorted(beside[k]))} only)")
                    for k in sorted(token_runs) if beside.get(k)]
    unjudged = sorted(k for k in token_runs if not beside.get(k))
    share = med([x for _, x, _, _ in round_shares]) if round_shares else start_share
    p("## Signing ceiling (RS256-2048 on this machine)")
    p("")
    p("Every RS256 token costs one RSA-2048 private-key operation, whatever the server. Measured "
      "in this run, before the servers started (`cargo bench -p mock-idp --bench rsa_raw`: median "
      "of 3 rounds of 2 s; per CPU-second from each thread's own CPU time):")
    p("")
    p("| signer | one thread: signatures/s (per CPU-s) | all cores at once: signatures/s "
      "(per CPU-s) |")
    p("|---|---|---|")
    p(f"| aws-lc-rs (mock-idp's signer) | {fmt(sign.get('aws_lc_1'))} "
      f"({fmt(sign.get('aws_lc_1_cpu'))}) | {fmt(sign.get('aws_lc_all'))} "
      f"({fmt(sign.get('aws_lc_all_cpu'))}; {sign.get('aws_lc_threads') or '?'} threads) |")
    p(f"| node `crypto.sign` (OpenSSL; what oauth2-mock-server and oidc-provider sign with) | "
      f"{fmt(sign.get('node_1'))} | — |")
    if sign.get("verify_1"):
        p(f"| aws-lc-rs RS256 verification (what each uncached introspection pays) | "
          f"{fmt(sign.get('verify_1'))} | — |")
    p("")
    if loaded:
        p(f"- With every core signing, aws-lc-rs makes **{fmt(loaded)} signatures per "
          "CPU-second**: the most tokens per CPU-second any server signing each token with it "
          "can issue here" + ("." if round_shares else
                              ", and the rate the token target is judged against."))
    if loaded and ours_eff:
        p(f"- mock-idp issued {fmt(ours_eff)} tokens per server CPU-second: "
          f"{fmt(100 * start_share)}% of that rate (the rest is the kernel's TCP and scheduling, "
          "HTTP, form, client authentication, claims and JSON).")
    if round_shares:
        p("- Measured again just before and just after each round's mock-idp token run "
          "(`RSA_RAW_ONLY=all`, one round of 3 s each), since the machine's speed drifts over a "
          "run: " + "; ".join(f"round {k}: {fmt(c)} signatures per CPU-second{note}, tokens "
                              f"{fmt(token_runs[k])} = {100 * x:.1f}%"
                              for k, x, c, note in round_shares)
          + (f" (round {', '.join(map(str, unjudged))}: no signing figure beside it, left out)"
             if unjudged else "")
          + f". The token target is judged on the median of these: **{100 * share:.1f}%**.")
    if sign.get("node_1") and o2m_eff:
        p(f"- oauth2-mock-server issued {fmt(o2m_eff)} tokens per server CPU-second: "
          f"{fmt(100 * o2m_eff / sign['node_1'])}% of node's one-thread signing rate"
          + (f"; oidc-provider {fmt(op_eff)} ({fmt(100 * op_eff / sign['node_1'])}%)."
             if op_eff else "."))
    if ceiling:
        p(f"- The highest tokens-per-CPU-second ratio over oauth2-mock-server reachable here is "
          f"{fmt(loaded)} / {fmt(o2m_eff)} = {ceiling:.2f}× (a server spending no CPU on anything "
          "but signing); the ratios over the peers are reported beside it, not judged.")
    # The same reasoning for introspection of always-new tokens: one verification on top of the
    # cheapest HTTP answer this machine gives (the bare axum JWKS handler's CPU per request).
    verify_1 = sign.get("verify_1")
    static_eff = (stats.get("static-axum/jwks") or {}).get("eff")
    many_eff = (stats.get("mock-idp/introspect-many") or {}).get("eff")
    op_i_eff = (stats.get("oidc-provider/introspect") or {}).get("eff")
    if verify_1 and static_eff:
        floor_us = 1e6 / verify_1 + 1e6 / static_eff
        most = 1e6 / floor_us
        p(f"- An introspection of a token seen for the first time pays one verification "
          f"({1e6 / verify_1:.1f} µs here) on top of an HTTP answer, which costs at least what "
          f"the bare axum JWKS handler spends on one ({1e6 / static_eff:.1f} µs of server CPU): "
          f"at most **{fmt(most)} such introspections per CPU-second** for any server here"
          + (f", {most / op_i_eff:.1f}× oidc-provider's opaque introspections per CPU-second"
             if op_i_eff else "")
          + (f". mock-idp answered {fmt(many_eff)} per server CPU-second: "
             f"**{fmt(100 * many_eff / most)}%** of that (reported, not judged)."
             if many_eff else "."))
    floor_eff = (stats.get("introspect-floor/introspect-many") or {}).get("eff")
    if floor_eff:
        p(f"- Measured rather than computed: the bare verifying handler "
          "(`mock-idp/benches/introspect_floor.rs`: Basic credentials, `token=` from the form, one "
          "RS256 verification with aws-lc-rs, the claims decoded and `exp` read, nothing kept, "
          f"nothing logged) answered {fmt(floor_eff)} introspections of the same pool per server "
          "CPU-second"
          + (f", {floor_eff / op_i_eff:.1f}× oidc-provider per CPU-second" if op_i_eff else "")
          + (f"; mock-idp {fmt(100 * many_eff / floor_eff)}% of it" if many_eff else "") + ".")
    raw_eff = (stats.get("introspect-rawfloor/introspect-many") or {}).get("eff")
    if raw_eff:
        p(f"- The same handler on its own HTTP/1.1 reading instead of hyper's (`--raw-http`: "
          "`httparse` for the head, `Content-Length` bodies, one write per answer; no deadlines, "
          f"no chunked bodies, not a server to run) answered {fmt(raw_eff)} per server CPU-second"
          + (f", {raw_eff / op_i_eff:.1f}× oidc-provider per CPU-second" if op_i_eff else "")
          + (f"; the hyper handler {fmt(100 * floor_eff / raw_eff)}% of it" if floor_eff else "")
          + (f", mock-idp {fmt(100 * many_eff / raw_eff)}%" if many_eff else "") + ".")
    p("")

    # startup / memory
    sg = {}
    for r in starts:
        sg.setdefault(r["label"], []).append(r)
    p("## Start-up and idle memory")
    p("")
    p(f"Median of {meta['starts']} starts each; every start on a fresh free port. "
      "'ready line' is spawn → the server's first stdout line saying it listens; 'first 200' is "
      "spawn → the first `200` from `GET <jwks>` (polled every 2 ms). Idle RSS is "
      f"`VmRSS` of the server process (the node process for the npm servers) {meta['idle_s']} s "
      "after it answered.")
    p("")
    p("| server | key at start | ready line ms median (min–max) | first 200 ms median (min–max) "
      "| idle RSS MB median | issue anchor ready / RSS |")
    p("|---|---|---|---|---|---|")
    start_stats = {}
    for lab, key in [("mock-idp", "fresh RSA-2048 (`--ephemeral`)"),
                     ("mock-idp-state", "loaded from `--state-dir`"),
                     ("oauth2-mock-server", "fresh RSA-2048"),
                     ("oidc-provider", "fresh RSA-2048 (host script)"),
                     ("static-axum", "none (static bytes)")]:
        rs = sg.get(lab, [])
        if not rs:
            continue
        rl = [r["ready_line_ms"] for r in rs if r["ready_line_ms"] is not None]
        f2 = [r["first_200_ms"] for r in rs if r["first_200_ms"] is not None]
        rss = med([r["rss_idle_kb"] for r in rs])
        rss_mb = rss / 1024 if rss else None
        start_stats[lab] = {"ready": med(rl), "first200": med(f2), "rss": rss_mb,
                            "failed": len(rs) - len(f2)}
        srv = lab.replace("-state", "")
        a_r, a_m = ANCHORS.get(("ready_ms", srv)), ANCHORS.get(("rss_mb", srv))
        anchor = f"~{a_r} ms / {a_m} MB" if a_r else "—"
        rng = lambda xs: f"{fmt(med(xs), 1)} ({fmt(min(xs), 1)}–{fmt(max(xs), 1)})" if xs else "n/a"
        fail = f" ({len(rs) - len(f2)} of {len(rs)} never answered)" if len(f2) < len(rs) else ""
        p(f"| {lab} | {key} | {rng(rl)} | {rng(f2)}{fail} | {fmt(rss_mb, 1)} | {anchor} |")
    p("")

    # targets
    def r_of(label):
        s = stats.get(label)
        return s["rps"] if s and s["ok"] else None

    p("## Targets (ratios against peers measured in this run)")
    p("")
    p("The result compares medians (the token row: the median over the rounds, as it says). "
      "'per round' pairs the two cases' runs from the same round "
      "(adjacent in time, so under similar noise); 'per CPU-s' compares requests per server "
      "CPU-second, which does not depend on how much CPU each server got.")
    p("")
    p("| target | measured (ratio of medians, unless the row says otherwise) | per round "
      "| per CPU-s | threshold | result |")
    p("|---|---|---|---|---|---|")
    verdicts = []

    def pair(a, b):
        sa, sb = stats.get(a), stats.get(b)
        if not sa or not sb:
            return "—", "—"
        rr = [sa["by_run"][k] / sb["by_run"][k] for k in sorted(sa["by_run"])
              if k in sb["by_run"] and sb["by_run"][k]]
        per_round = ", ".join(f"{x:.2f}" for x in rr) if rr else "—"
        eff = ratio(sa["eff"], sb["eff"])
        return per_round, (f"{eff:.2f}×" if eff else "—")

    def row(name, value, unit, ok, threshold, detail, cases=None, rounds=None):
        res = "n/a" if ok is None else ("**pass**" if ok else "**MISS**")
        verdicts.append((name, res))
        per_round, eff = pair(*cases) if cases else (rounds or "—", "—")
        p(f"| {name} | {detail} | {per_round} | {eff} | {threshold} | {res} |")

    t_ours, t_o2m = r_of("mock-idp/token"), r_of("oauth2-mock-server/token")
    t_op = r_of("oidc-provider/token")
    row("RS256 client_credentials tokens per server CPU-second vs the all-cores signing rate"
        + (" measured beside each round" if round_shares else ""),
        share, "", None if share is None else share >= 0.9, "≥ 90%",
        (f"median over the rounds of tokens ÷ the rate beside them: **{100 * share:.1f}%** "
         f"(start-of-run rate: {fmt(ours_eff)} / {fmt(loaded)} = "
         f"{fmt(100 * start_share if start_share else None, 1)}%) "
         if round_shares else
         f"{fmt(ours_eff)} / {fmt(loaded)} = **{fmt(100 * share if share else None, 1)}%** ")
        + f"(tokens/s {fmt(t_ours)}: {fmt(ratio(t_ours, t_o2m), 2)}× oauth2-mock-server, "
        f"{fmt(ratio(t_ours, t_op), 2)}× oidc-provider; per CPU-s "
        f"{fmt(ratio(ours_eff, o2m_eff), 2)}× and {fmt(ratio(ours_eff, op_eff), 2)}×"
        + (f", ceiling {ceiling:.2f}× over oauth2-mock-server" if ceiling else "") + ")",
        rounds=", ".join(f"round {k}: {100 * x:.1f}%" for k, x, _, _ in round_shares) or None)
    j_ours, j_static = r_of("mock-idp/jwks"), r_of("static-axum/jwks")
    q = ratio(j_ours, j_static)
    row("JWKS req/s vs bare axum static JWKS", q, "", None if q is None else q >= 0.85,
        "≥ 0.85×", f"{fmt(j_ours)} / {fmt(j_static)} = **{fmt(q, 2)}×**",
        ("mock-idp/jwks", "static-axum/jwks"))
    i_many, i_op = r_of("mock-idp/introspect-many"), r_of("oidc-provider/introspect")
    i_floor = r_of("introspect-floor/introspect-many")
    i_raw = r_of("introspect-rawfloor/introspect-many")
    pool = meta.get("pool")
    q = ratio(i_many, i_op)
    q_floor = ratio(i_floor, i_op)
    q_raw = ratio(i_raw, i_op)
    # The measured ceilings: the bare verifying handler on the same pool, on hyper (mock-idp's HTTP
    # stack) and on its own HTTP/1.1 reading. When one is below 10× itself, no server of its kind
    # verifying each token reaches the target on this machine; the row says so beside its verdict.
    ceiling_note = ""
    if q_floor:
        ceiling_note = (f" (ceiling measured in this run: the bare verifying handler on hyper "
                        f"{fmt(i_floor)}/s = {q_floor:.2f}× oidc-provider"
                        + (", **below the target itself**: an HTTP/1.1 server on hyper that "
                           "verifies each token does not reach 10× on this machine" if q_floor < 10.0
                           else "")
                        + (f"; mock-idp at {fmt(ratio(i_many, i_floor), 2)}× of it" if i_many
                           else "") + ")")
    if q_raw:
        ceiling_note += (f" (without hyper: the same handler on its own HTTP/1.1 reading "
                         f"{fmt(i_raw)}/s = {q_raw:.2f}× oidc-provider"
                         + (", below the target: a minimal HTTP/1.1 handler that verifies each "
                            "token does not reach 10× on this machine" if q_raw < 10.0 else "")
                         + (f"; mock-idp at {fmt(ratio(i_many, i_raw), 2)}× of it" if i_many
                            else "") + ")")
    if i_many and not q_floor and not q_raw:
        ceiling_note = (" (ceiling not measured in this run: the bare verifying handler did not "
                        "run, see the log)")
    # mock-idp keeps the last 8,192 verifications, first in first out; an answer from memory adds
    # nothing to it. Each wrk thread cycles through its own share of the pool (pool ÷ threads,
    # rounded down, for the smallest share), so a token comes round again only after its thread
    # alone has had share − 1 others verified, whatever pace the other threads keep: a share above
    # 8,192 guarantees every answer verifies a signature. With less, a thread running ahead of the
    # others can find its tokens still remembered, and the row no longer measures what its name
    # says.
    wrk_threads = int(meta.get("threads") or 1)
    small_pool = bool(pool and pool // wrk_threads <= 8192)
    if small_pool:
        ceiling_note += (f" (**the pool of {fmt(pool)} gives each of wrk's {wrk_threads} "
                         "thread(s) no more than the 8,192 verifications mock-idp keeps**: some "
                         "answers may come from memory, so this is not the always-new case and is "
                         f"not judged; use BENCH_POOL ≥ {fmt(wrk_threads * 8193)})")
    row(f"introspection/s of always-new JWTs ({fmt(pool) if pool else 'a pool of'} distinct "
        "/token tokens, each once per pass: every answer verifies a signature) vs oidc-provider "
        "(opaque)", q, "x", None if q is None or small_pool else q >= 10.0, "≥ 10×",
        f"{fmt(i_many)} / {fmt(i_op)} = **{fmt(q, 2)}×**" + ceiling_note,
        ("mock-idp/introspect-many", "oidc-provider/introspect"))
    st2 = start_stats.get("mock-idp-state", {})
    v2 = st2.get("ready")
    row("start-to-ready, default start with stored keys (`--state-dir`; ready line)", v2, "ms",
        None if v2 is None else v2 < 20, "< 20 ms",
        f"**{fmt(v2, 1)} ms** (first 200: {fmt(st2.get('first200'), 1)} ms)")
    v = st2.get("rss")
    row("idle RSS (default start)", v, "MB", None if v is None else v < 15, "< 15 MB",
        f"**{fmt(v, 1)} MB**")
    p("")
    st = start_stats.get("mock-idp", {})
    if st:
        p(f"Reported, not judged: start-to-ready with `--ephemeral` (a fresh RSA-2048 key generated "
          f"at every start) **{fmt(st.get('ready'), 1)} ms** (first 200: "
          f"{fmt(st.get('first200'), 1)} ms), idle RSS {fmt(st.get('rss'), 1)} MB.")
        p("")
    p("Other ratios from this run (informational):")
    p("")
    p("| ratio | value |")
    p("|---|---|")
    def eff_ratio(a, b):
        sa, sb = stats.get(a), stats.get(b)
        return ratio(sa["eff"], sb["eff"]) if sa and sb else None

    i_ours = r_of("mock-idp/introspect")
    info = [
        ("mock-idp tokens/s ÷ oauth2-mock-server tokens/s", ratio(t_ours, t_o2m)),
        ("mock-idp tokens per CPU-s ÷ oauth2-mock-server tokens per CPU-s",
         ratio(ours_eff, o2m_eff)),
        ("mock-idp introspection of one JWT introspected repeatedly (verification cached) ÷ "
         "oidc-provider opaque introspection", ratio(i_ours, i_op)),
        ("mock-idp introspection of always-new JWTs ÷ of one JWT repeatedly", ratio(i_many, i_ours)),
        ("mock-idp opaque introspection ÷ oidc-provider opaque introspection, per server CPU-s",
         eff_ratio("mock-idp/introspect-opaque", "oidc-provider/introspect")),
        ("mock-idp tokens/s ÷ oidc-provider JWT tokens/s", ratio(t_ours, t_op)),
        ("mock-idp JWKS ÷ oauth2-mock-server JWKS", ratio(j_ours, r_of("oauth2-mock-server/jwks"))),
        ("mock-idp JWKS ÷ oidc-provider JWKS", ratio(j_ours, r_of("oidc-provider/jwks"))),
        ("mock-idp opaque introspection ÷ oidc-provider opaque introspection",
         ratio(r_of("mock-idp/introspect-opaque"), i_op)),
        ("mock-idp JWT introspection ÷ static axum JWKS (HTTP ceiling)", ratio(i_ours, j_static)),
        ("mock-idp introspection of always-new JWTs ÷ the bare verifying handler's, same pool",
         ratio(i_many, i_floor)),
        ("mock-idp introspection of always-new JWTs ÷ the bare verifying handler's, per server "
         "CPU-s", eff_ratio("mock-idp/introspect-many", "introspect-floor/introspect-many")),
        ("mock-idp introspection of always-new JWTs ÷ the bare verifying handler's without hyper "
         "(its own HTTP/1.1 reading), same pool", ratio(i_many, i_raw)),
        ("the bare verifying handler on hyper ÷ the same without hyper, per server CPU-s",
         eff_ratio("introspect-floor/introspect-many", "introspect-rawfloor/introspect-many")),
        ("this run ÷ issue anchor: oauth2-mock-server tokens/s", ratio(t_o2m, 1581)),
        ("this run ÷ issue anchor: oidc-provider JWT tokens/s",
         ratio(r_of("oidc-provider/token"), 2092)),
        ("this run ÷ issue anchor: static axum JWKS", ratio(j_static, 79313)),
        ("this run ÷ issue anchor: oidc-provider introspection", ratio(i_op, 3879)),
    ]
    for name, v in info:
        p(f"| {name} | {fmt(v, 2)}{'×' if v is not None else ''} |")
    peaks = {c["server"]: 0 for c in cases}
    for c in cases:
        peaks[c["server"]] = max(peaks[c["server"]], stats[c["label"]]["peak"])
    p("")
    p("Peak RSS during the load runs (VmHWM): " + ", ".join(
        f"{s} {fmt(peaks.get(s, 0) / 1024, 1)} MB" for s in servers if s in peaks) + ".")
    p("")
    checks_path = os.path.join(out, "checks.txt")
    if os.path.exists(checks_path):
        p("Sanity checks made by the script (before and after the load runs):")
        p("")
        for line in open(checks_path):
            if line.strip():
                p(f"- {line.strip()}")
    print("\n".join(L))


# ----- rusage: run a command, report its CPU time (and its waited-for children's) -----

def rusage(argv):
    out = argv[0]
    cmd = argv[argv.index("--") + 1:]
    proc = subprocess.Popen(cmd)

    def forward(signum, frame):
        if proc.poll() is None:
            proc.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    while True:
        try:
            _, status, ru = os.wait4(proc.pid, 0)
            break
        except InterruptedError:
            continue
    with open(out, "w") as f:
        f.write(f"{ru.ru_utime + ru.ru_stime:.3f}\n")
    code = os.waitstatus_to_exitcode(status)
    sys.exit(code if code >= 0 else 128 - code)


def busy_ticks():
    """Busy and total jiffies of the whole machine (first line of /proc/stat)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (v + [0] * 8)[:8]
    busy = user + nice + system + irq + softirq + steal
    return busy, busy + idle + iowait


# ----- signing ceiling -----

def signing(argv):
    """The signatures/s lines of the rsa_raw bench and the node measurement, as JSON."""
    text = "".join(open(path, errors="replace").read() for path in argv)
    found = {}
    for key, pattern in [("aws_lc_1", r"parsed, 1 thread: (\d+)/s"),
                         ("aws_lc_1_cpu", r"parsed, 1 thread: \d+/s, (\d+) per CPU-second"),
                         ("aws_lc_all", r"parsed, \d+ threads: (\d+)/s"),
                         ("aws_lc_all_cpu",
                          r"parsed, \d+ threads: \d+/s in total, (\d+) per CPU-second"),
                         ("aws_lc_threads", r"parsed, (\d+) threads:"),
                         ("verify_1", r"verify, 1 thread: (\d+)/s"),
                         ("node_1", r"node crypto\.sign, 1 thread: (\d+)/s")]:
        m = re.search(pattern, text)
        found[key] = int(m.group(1)) if m else None
    print(json.dumps(found))


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        sys.exit(2)
    cmd, argv = sys.argv[1], sys.argv[2:]
    if cmd == "freeport":
        print(freeport())
    elif cmd == "startup":
        startup(argv)
    elif cmd == "wrkparse":
        wrkparse(argv)
    elif cmd == "verify-jwt":
        verify_jwt(argv)
    elif cmd == "mint-pool":
        mint_pool(argv)
    elif cmd == "cpu":
        print(cpu_ticks(int(argv[0])))
    elif cmd == "busy":
        print(*busy_ticks())
    elif cmd == "rusage":
        rusage(argv)
    elif cmd == "signing":
        signing(argv)
    elif cmd == "report":
        report(argv)
    else:
        print(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
