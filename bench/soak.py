#!/usr/bin/env python3
"""Soak driver for bench/soak.sh (standard library only; loopback only).

Drives one running mock IdP at ISSUER from THREADS threads, each on its own keep-alive
connection, in two phases. First REGISTRATIONS maximal registrations (a body just under the
64 KiB cap whose kept metadata nearly fills the 4 KiB a client may keep), which fill the IdP's
client store (10,000). Then FLOWS login flows (authorize with PKCE, code exchange; every 10th
flow also refreshes, every 50th revokes its refresh token; every 100th also registers one more
maximal client, which replaces the oldest). Every SAMPLE requests of either phase it reads the
IdP's VmRSS from /proc/PID/status and prints one JSON line; every CLOCK_EVERY flows it advances
the IdP's virtual clock by a day, so refresh families and revocations expire and are dropped, as
they would over days of use. It stops when done or at DEADLINE seconds, and prints a final JSON
line with the verdict: memory levelled off when the RSS at the end is within TOLERANCE of the
RSS at half the flows, and no request failed.

usage: soak.py ISSUER PID [--client-id ID] [--flows N] [--registrations N] [--threads N] [--sample N]
               [--clock-every N] [--deadline S] [--tolerance F]
"""

import argparse
import base64
import hashlib
import http.client
import json
import sys
import threading
import time
import urllib.parse

VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()
REDIRECT = "http://127.0.0.1:3000/cb"
FORM = {"content-type": "application/x-www-form-urlencoded"}
JSON = {"content-type": "application/json"}
BODY_CAP = 64 * 1024
KEPT = 4096


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    kb = lambda name: int(fields[name].split()[0])
    return round(kb("VmRSS") / 1024, 1), round(kb("VmHWM") / 1024, 1)


class Conn:
    """One keep-alive connection to the IdP; reconnects once if the IdP closed it."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.conn = http.client.HTTPConnection(host, port, timeout=30)

    def request(self, method, path, body=None, headers=None):
        for attempt in (0, 1):
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                response = self.conn.getresponse()
                return response.status, response.getheaders(), response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
                if attempt:
                    raise


def maximal_registration(i):
    """A registration just under the body cap; what the IdP keeps of it fills its 4 KiB."""
    kept = {
        "redirect_uris": [REDIRECT],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "application_type": "native",
        "client_name": f"soak-{i}-" + "n" * 900,
        "client_uri": "https://soak.example/" + "c" * 900,
        "logo_uri": "https://soak.example/" + "l" * 900,
        "contacts": ["ops-" + "o" * 300 + "@soak.example"] * 2,
        "software_id": "s" * 200,
    }
    body = dict(kept)
    body["x_padding"] = ""
    size = len(json.dumps(body).encode())
    body["x_padding"] = "p" * (BODY_CAP - size - 64)
    return json.dumps(body)


class Soak:
    def __init__(self, args):
        url = urllib.parse.urlsplit(args.issuer)
        if url.hostname not in ("127.0.0.1", "localhost", "::1"):
            sys.exit("soak.py talks only to loopback")
        self.host, self.port = url.hostname, url.port
        self.args = args
        self.lock = threading.RLock()
        self.idle = threading.Condition(self.lock)
        self.pausing = False
        self.in_flight = 0
        self.flows = 0
        self.registrations = 0
        self.failures = 0
        self.samples = []
        self.started = time.monotonic()
        self.stop = False
        self.client_id = args.client_id
        self.registered = None

    def login(self, conn, n):
        query = urllib.parse.urlencode({
            "response_type": "code", "client_id": self.client_id, "redirect_uri": REDIRECT,
            "code_challenge": CHALLENGE, "code_challenge_method": "S256", "state": str(n),
        })
        status, headers, _ = conn.request("GET", f"/authorize?{query}")
        location = dict((k.lower(), v) for k, v in headers).get("location", "")
        code = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query).get("code", [None])[0]
        if status != 302 or not code:
            return False
        body = urllib.parse.urlencode({
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
            "client_id": self.client_id, "code_verifier": VERIFIER,
        })
        status, _, answer = conn.request("POST", "/token", body, FORM)
        if status != 200:
            return False
        refresh = json.loads(answer)["refresh_token"]
        if n % 10 == 0:
            body = urllib.parse.urlencode({
                "grant_type": "refresh_token", "refresh_token": refresh, "client_id": self.client_id,
            })
            status, _, answer = conn.request("POST", "/token", body, FORM)
            if status != 200:
                return False
            refresh = json.loads(answer)["refresh_token"]
        if n % 50 == 0:
            body = urllib.parse.urlencode({"token": refresh, "client_id": self.client_id})
            status, _, _ = conn.request("POST", "/revoke", body, FORM)
            if status != 200:
                return False
        return True

    def sample(self, phase):
        rss, hwm = rss_mb(self.args.pid)
        line = {
            "phase": phase, "flows": self.flows, "registrations": self.registrations,
            "failures": self.failures, "elapsed_s": round(time.monotonic() - self.started, 1),
            "rss_mb": rss, "peak_mb": hwm,
        }
        self.samples.append(line)
        print(json.dumps(line), flush=True)

    def registrar(self):
        conn = Conn(self.host, self.port)
        while True:
            with self.lock:
                if self.stop or self.registrations >= self.args.registrations:
                    return
                if time.monotonic() - self.started > self.args.deadline:
                    self.stop = True
                    return
                self.registrations += 1
                n = self.registrations
            status, _, _ = conn.request("POST", "/register", maximal_registration(n), JSON)
            with self.lock:
                if status != 201:
                    self.failures += 1
                if n % max(1, self.args.sample // 10) == 0:
                    self.sample("registrations")

    def worker(self):
        conn = Conn(self.host, self.port)
        args = self.args
        while True:
            with self.idle:
                # No flow starts while the clock moves: a code issued before would expire.
                self.idle.wait_for(lambda: not self.pausing)
                if self.stop or self.flows >= args.flows:
                    return
                if time.monotonic() - self.started > args.deadline:
                    self.stop = True
                    return
                self.flows += 1
                self.in_flight += 1
                n = self.flows
            ok = self.login(conn, n)
            if n % 100 == 0:
                status, _, _ = conn.request("POST", "/register", maximal_registration(-n), JSON)
                ok = ok and status == 201
                with self.lock:
                    self.registrations += 1
            with self.idle:
                self.in_flight -= 1
                if not ok:
                    self.failures += 1
                if n % args.sample == 0:
                    self.sample("flows")
                move_clock = bool(args.clock_every) and n % args.clock_every == 0
                if move_clock:
                    self.pausing = True
                    self.idle.wait_for(lambda: self.in_flight == 0)
                self.idle.notify_all()
            if move_clock:
                status, _, _ = conn.request("POST", "/_control/clock", '{"advance": 86400}', JSON)
                with self.idle:
                    if status != 200:
                        self.failures += 1
                    self.pausing = False
                    self.idle.notify_all()

    def phase(self, target):
        threads = [threading.Thread(target=target) for _ in range(self.args.threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def run(self):
        self.sample("start")
        self.phase(self.registrar)
        self.sample("registrations")
        self.registered = self.samples[-1]
        self.phase(self.worker)
        self.sample("flows")
        return self.verdict()

    def verdict(self):
        flows = [s for s in self.samples if s["phase"] == "flows"]
        half = self.args.flows // 2
        middle = min(flows, key=lambda s: abs(s["flows"] - half))
        end = flows[-1]
        complete = end["flows"] >= self.args.flows and self.registered["registrations"] >= self.args.registrations
        levelled = end["rss_mb"] <= middle["rss_mb"] * (1 + self.args.tolerance)
        summary = {
            "verdict": "levelled" if complete and levelled and not self.failures else "not-levelled",
            "complete": complete, "failures": self.failures, "flows": end["flows"],
            "registrations": end["registrations"], "elapsed_s": end["elapsed_s"],
            "rss_start_mb": self.samples[0]["rss_mb"],
            "rss_after_registrations_mb": self.registered["rss_mb"],
            "rss_half_flows_mb": middle["rss_mb"], "rss_end_mb": end["rss_mb"],
            "peak_mb": end["peak_mb"],
            "flows_per_s": round(end["flows"] / max(end["elapsed_s"] - self.registered["elapsed_s"], 0.1)),
        }
        print(json.dumps(summary), flush=True)
        return 0 if summary["verdict"] == "levelled" else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("issuer")
    parser.add_argument("pid", type=int)
    parser.add_argument("--client-id", default="soak-app",
                        help="a configured public client with the redirect URI " + REDIRECT)
    parser.add_argument("--flows", type=int, default=500_000)
    parser.add_argument("--registrations", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--sample", type=int, default=10_000)
    parser.add_argument("--clock-every", type=int, default=100_000)
    parser.add_argument("--deadline", type=float, default=2400)
    parser.add_argument("--tolerance", type=float, default=0.10)
    sys.exit(Soak(parser.parse_args()).run())


if __name__ == "__main__":
    main()
