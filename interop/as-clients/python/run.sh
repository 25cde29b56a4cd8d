#!/usr/bin/env bash
# The official Python SDK's OAuth client (`mcp` on PyPI) against mock-idp: dynamic registration,
# PKCE, the code exchange and a refresh, checked from both sides (see oauth_client_flow.py).
#
#   interop/as-clients/python/run.sh
#
# Starts mock-idp (free port, ephemeral keys, 3 s access tokens) and reference-target (the MCP
# server the client connects to, trusting that mock-idp), runs the client, stops both.
# Logs go to interop/as-clients/python/out/. Exits with the client's status.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
cd "$HERE/../../.."
ROOT=$PWD
OUT=$HERE/out
VENV=$ROOT/interop/.venv
TOKEN_TTL=3
rm -rf "$OUT"
mkdir -p "$OUT"

# -- the pinned Python environment (the same install as interop/run.sh) ------------------------
"$ROOT/interop/python/ensure-venv.sh"
PY=$VENV/bin/python

echo "== building mock-idp and reference-target"
cargo build --quiet -p mock-idp -p reference-target

# -- processes: every one started here is stopped by its PID on the way out ---------------------
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    # Bounded: a process that ignores SIGTERM for 5 s gets SIGKILL.
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}
trap cleanup EXIT
# A signal ends the script through its EXIT trap too.
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
  echo "!! $*" >&2
  for log in "$OUT"/*.log; do
    echo "-- $log" >&2
    tail -20 "$log" | sed 's/^/   | /' >&2
  done
  exit 2
}

cat > "$OUT/mock-idp.toml" <<TOML
# Written by interop/as-clients/python/run.sh: short access tokens, so the client must refresh.
[authz]
registration = "dynamic"
consent = "auto"
access_token_ttl_secs = $TOKEN_TTL
TOML

echo "== starting mock-idp"
target/debug/mock-idp --port 0 --ephemeral --config "$OUT/mock-idp.toml" \
  > "$OUT/mock-idp.stdout.log" 2> "$OUT/mock-idp.log" &
pids+=($!)
ready=
for _ in $(seq 150); do
  ready=$(grep -m1 '^mock-idp ready ' "$OUT/mock-idp.stdout.log" 2>/dev/null || true)
  [[ -n $ready ]] && break
  kill -0 "${pids[0]}" 2>/dev/null || fail "mock-idp exited before it was ready"
  sleep 0.1
done
[[ -n $ready ]] || fail "mock-idp printed no ready line within 15 s"
ISSUER=$("$PY" -c 'import json, sys; print(json.loads(sys.argv[1].split(" ", 2)[2])["issuer"])' "$ready")
echo "   issuer $ISSUER"

# A free loopback port for reference-target (bound, released, then handed over).
PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
MCP_URL=http://127.0.0.1:$PORT/mcp
echo "== starting reference-target at $MCP_URL"
target/debug/reference-target --port "$PORT" --issuer "$ISSUER" \
  > "$OUT/reference-target.log" 2>&1 &
pids+=($!)

# Both must answer over HTTP: mock-idp its health endpoint (200), reference-target a bare POST (401).
wait_http() {
  local url=$1 method=$2 want=$3 pid=$4
  for _ in $(seq 150); do
    kill -0 "$pid" 2>/dev/null || return 1
    if "$PY" - "$url" "$method" "$want" <<'PYEOF'
import sys, urllib.error, urllib.request
url, method, want = sys.argv[1], sys.argv[2], int(sys.argv[3])
request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
try:
    status = urllib.request.urlopen(request, timeout=2).status
except urllib.error.HTTPError as error:
    status = error.code
except OSError:
    sys.exit(1)
sys.exit(0 if status == want else 1)
PYEOF
    then return 0; fi
    sleep 0.1
  done
  return 1
}
wait_http "$ISSUER/healthz" GET 200 "${pids[0]}" || fail "mock-idp does not answer at $ISSUER/healthz"
wait_http "$MCP_URL" POST 401 "${pids[1]}" || fail "reference-target does not answer 401 at $MCP_URL"

echo "== running the Python SDK's OAuth client"
set +e
timeout --kill-after=5 120 "$PY" "$HERE/oauth_client_flow.py" \
  --mcp-url "$MCP_URL" --issuer "$ISSUER" --token-ttl "$TOKEN_TTL" 2>&1 | tee "$OUT/client.log"
rc=${PIPESTATUS[0]}
set -e
if (( rc == 124 )); then
  echo "!! the client did not finish within 120 s" | tee -a "$OUT/client.log"
fi
exit "$rc"
