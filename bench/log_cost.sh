#!/usr/bin/env bash
# bench/log_cost.sh: what mock-idp's per-request log line costs, as instruction counts (callgrind),
# so that builds running beside it cannot blur the figures (reports/benchmarks.md, "The request
# log line when nothing listens").
#
#   bench/log_cost.sh BINARY [BINARY...]   # release builds of mock-idp, e.g. before and after a change
#
# For each binary and RUST_LOG setting (off, warn, info; a binary from before the log line ignores
# it), runs the server under `valgrind --tool=callgrind` with stored keys, sends N and then 2N
# requests of one kind over one keep-alive connection (GET /jwks and POST /introspect N = 1000,
# client_credentials POST /token N = 200; introspect-many: N distinct /token JWTs, each introspected
# once, so every answer verifies a signature: 2N are minted first in both runs, so the difference
# holds only the introspections), and prints per request, (Ir(2N) - Ir(N)) / N:
#   call  the recorder's synchronous call (the direct path of GET /jwks),
#   own   the recorder's own work on the general path (its future minus the handler's),
#   all   the whole process (varies by a few thousand between identical runs: idle polling).
# LOG_COST_KINDS picks the paths (default "jwks:1000 introspect:1000 token:200", kind:N pairs;
# also introspect-many:N, whose two runs each mint 2N tokens first: N = 200 takes a few minutes);
# LOG_COST_LOGS the RUST_LOG settings (default "off warn info").
# Needs valgrind (Debian) and python3. Every server is stopped by PID; every wait is bounded.
set -euo pipefail
(($# > 0)) || { sed -n '2,17p' "$0" >&2; exit 2; }
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORK=$(mktemp -d)
PID=""
cleanup() {
  if [[ -n $PID ]]; then kill -KILL "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

cat > "$WORK/client.py" <<'PY'
import base64, http.client, json, sys
port, kind, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
basic = "Basic " + base64.b64encode(b"conformance-client:conformance-client-secret").decode()
rs = "Basic " + base64.b64encode(b"conformance-rs:conformance-rs-secret").decode()
def post(path, body, auth):
    c.request("POST", path, body, {"Content-Type": "application/x-www-form-urlencoded", "Authorization": auth})
    r = c.getresponse(); data = r.read(); assert r.status == 200, (r.status, data); return data
token = json.loads(post("/token", "grant_type=client_credentials&scope=mcp%3Atools", basic))["access_token"]
post("/introspect", "token=" + token, rs)
# The same number of tokens is minted whatever n is (n is N or 2N), so only introspections differ.
many = [json.loads(post("/token", "grant_type=client_credentials&scope=mcp%3Atools", basic))["access_token"]
        for _ in range(2 * int(sys.argv[4]))] if kind == "introspect-many" else []
for i in range(n):
    if kind == "jwks":
        c.request("GET", "/jwks"); r = c.getresponse(); r.read(); assert r.status == 200
    elif kind == "token":
        post("/token", "grant_type=client_credentials&scope=mcp%3Atools", basic)
    elif kind == "introspect-many":
        assert json.loads(post("/introspect", "token=" + many[i], rs))["active"] is True
    else:
        post("/introspect", "token=" + token, rs)
PY

# One run: the callgrind file of BINARY answering N requests of KIND with RUST_LOG=LOG.
run() {
  local bin=$1 log=$2 kind=$3 n=$4 out=$5 base=$6 port
  port=$(python3 "$HERE/bench.py" freeport)
  # Emptied here, not by the redirection below: the wait must not read the last run's line.
  : > "$WORK/server.out"
  RUST_LOG=$log timeout 900 valgrind --tool=callgrind --callgrind-out-file="$out" \
    "$bin" --port "$port" --state-dir "$WORK/state" > "$WORK/server.out" 2> "$WORK/server.err" &
  PID=$!
  for _ in $(seq 600); do
    grep -q '^mock-idp ready' "$WORK/server.out" 2>/dev/null && break
    kill -0 "$PID" 2>/dev/null || { cat "$WORK/server.err" >&2; exit 1; }
    sleep 0.1
  done
  timeout 900 python3 "$WORK/client.py" "$port" "$kind" "$n" "$base"
  kill -TERM "$PID"; wait "$PID" || true; PID=""
}

# The inclusive Ir of the first function whose name contains $2 (0 when absent).
cost() {
  callgrind_annotate --inclusive=yes --threshold=100 "$1" 2>/dev/null | grep -F -- "$2" | head -1 \
    | awk '{gsub(",", "", $1); printf "%d\n", $1}' | grep . || echo 0
}
total() { grep -E '^(summary|totals):' "$1" | head -1 | awk '{print $2}'; }

# Stored keys, so that no run generates one.
"$1" --port 0 --state-dir "$WORK/state" > "$WORK/init.out" 2>&1 & PID=$!
for _ in $(seq 100); do [[ -s $WORK/state/keys.json ]] && break; sleep 0.1; done
kill -TERM "$PID"; wait "$PID" || true; PID=""

CALL='recorder::Recorder<S> as tower_service::Service<http::request::Request<axum_core::body::Body>>>::call ['
FUTURE='recorder::Recorder<S> as tower_service::Service<http::request::Request<axum_core::body::Body>>>::call::{{closure}}'
HANDLER='mock_idp::routes::recorder::run::{{closure}}'
printf '%-8s %-28s %-5s %10s %10s %10s\n' path binary log call own all
for kind_n in ${LOG_COST_KINDS:-jwks:1000 introspect:1000 token:200}; do
  kind=${kind_n%%:*}; n=${kind_n##*:}
  for bin in "$@"; do
    for log in ${LOG_COST_LOGS:-off warn info}; do
      run "$bin" "$log" "$kind" "$n" "$WORK/a" "$n"
      run "$bin" "$log" "$kind" $((2 * n)) "$WORK/b" "$n"
      call=$((($(cost "$WORK/b" "$CALL") - $(cost "$WORK/a" "$CALL")) / n))
      own=$(((($(cost "$WORK/b" "$FUTURE") - $(cost "$WORK/a" "$FUTURE")) \
        - ($(cost "$WORK/b" "$HANDLER") - $(cost "$WORK/a" "$HANDLER"))) / n))
      all=$((($(total "$WORK/b") - $(total "$WORK/a")) / n))
      printf '%-8s %-28s %-5s %10s %10s %10s\n' "$kind" "$(basename "$bin")" "$log" "$call" "$own" "$all"
    done
  done
done
