#!/usr/bin/env bash
# The interop suite: runs the harness against MCP servers built on real libraries (FastMCP, the
# official Python and TypeScript SDKs, rmcp), each started by `--command` against the harness's
# mock IdP, and compares every report with the one committed under reports/interop/.
#
#   interop/run.sh                  install (pinned), run every target, compare
#   interop/run.sh fastmcp-jwt ...  only these targets
#   INTEROP_UPDATE=1 interop/run.sh rewrite the committed reports instead of comparing
#   INTEROP_JOBS=N                  targets run at once (default 4; the runs mostly wait)
#
# A finding in a report is not a failure of this script: a changed report is.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/interop/out
EXPECTED=$ROOT/reports/interop
VENV=$ROOT/interop/.venv
JOBS=${INTEROP_JOBS:-4}
mkdir -p "$OUT"

# -- install (pinned; nothing installed is committed) ------------------------------------------
"$ROOT/interop/python/ensure-venv.sh"
if [[ ! -d $ROOT/interop/node/node_modules ]] || [[ $ROOT/interop/node/package-lock.json -nt $ROOT/interop/node/node_modules/.package-lock.json ]]; then
  echo "== installing the Node target's pinned packages"
  npm ci --prefix "$ROOT/interop/node" --no-audit --no-fund --loglevel=error
fi
echo "== building the harness and the rmcp target"
cargo build --quiet -p mcp-auth-conformance -p interop-rmcp-server
HARNESS=$ROOT/target/debug/mcp-auth-conformance
PY=$VENV/bin/python
NODE=node

# -- the targets: name | command | extra harness flags ------------------------------------------
# Every target requires the scope mcp:tools (MCP_AUTH_REQUIRED_SCOPES), named with --scope since
# the pure verifiers advertise none. --jwks-wait 35 outlasts the 30 s JWKS refetch cool-down of
# PyJWT, FastMCP and jose, so the key-rotation checks are judged rather than left untestable.
TARGETS=(
  "fastmcp-jwt|exec $PY interop/python/fastmcp_jwt.py|"
  "fastmcp-jwt-no-audience|MCP_AUTH_AUDIENCE= exec $PY interop/python/fastmcp_jwt.py|"
  "fastmcp-introspection|exec $PY interop/python/fastmcp_introspection.py|"
  "fastmcp-static|exec $PY interop/python/fastmcp_static.py|--static-token"
  "fastmcp-remote|exec $PY interop/python/fastmcp_remote.py|"
  "python-sdk|exec $PY interop/python/sdk_server.py|"
  "typescript-sdk|exec $NODE interop/node/ts_sdk_server.mjs|"
  "rmcp|exec target/debug/interop-rmcp-server|"
  # Servers of the stateless 2026-07-28 wire: the TypeScript SDK v2 in its default posture (both
  # eras, the legacy one per request) and modern-only; rmcp modern-only; the Python SDK with
  # stateless_http (both eras, the legacy one without sessions).
  "typescript-sdk-v2|exec $NODE interop/node/ts_sdk_v2_server.mjs|"
  "typescript-sdk-v2-modern|MCP_TS_LEGACY=reject exec $NODE interop/node/ts_sdk_v2_server.mjs|"
  "rmcp-stateless|MCP_RMCP_MODE=stateless exec target/debug/interop-rmcp-server|"
  "python-sdk-stateless|exec $PY interop/python/sdk_stateless_server.py|"
  # Authorization servers and OAuth proxies (modes C and D): the harness logs in headlessly.
  # The proxies' upstream is the harness's mock IdP (pre-registered clients only).
  "fastmcp-oauth-proxy|MCP_PROXY_CONSENT=on exec $PY interop/python/fastmcp_oauth_proxy.py|"
  "fastmcp-oauth-proxy-no-consent|MCP_PROXY_CONSENT=off exec $PY interop/python/fastmcp_oauth_proxy.py|"
  "fastmcp-oauth-provider|exec $PY interop/python/fastmcp_oauth_provider.py|"
  "python-sdk-as|exec $PY interop/python/sdk_auth_server.py|"
  "typescript-sdk-proxy|exec $NODE interop/node/ts_sdk_proxy.mjs|--client-id mcp-proxy-upstream --client-secret mcp-proxy-upstream-secret --client-auth-method client_secret_post"
)

selected=("$@")
run_one() {
  local name=$1 cmd=$2 flags=$3 dir=$OUT/$1
  rm -rf "$dir"
  mkdir -p "$dir"
  local rc=0
  # shellcheck disable=SC2086
  "$HARNESS" --command "$cmd" --target http://127.0.0.1:0/mcp \
    --idp-port 0 --idp-state-dir "$dir/idp-state" \
    --scope mcp:tools --jwks-wait 35 --command-timeout 90 \
    --command-log "$dir/target.log" --progress off \
    --no-json --out-dir "$dir/report" --normalize $flags \
    > "$dir/terminal.txt" 2> "$dir/stderr.txt" || rc=$?
  echo "$rc" > "$dir/exit-code"
}

pids=()
names=()
for entry in "${TARGETS[@]}"; do
  IFS='|' read -r name cmd flags <<< "$entry"
  if (( ${#selected[@]} )) && [[ ! " ${selected[*]} " == *" $name "* ]]; then
    continue
  fi
  while (( $(jobs -rp | wc -l) >= JOBS )); do sleep 1; done
  echo "== $name: $cmd $flags"
  run_one "$name" "$cmd" "$flags" &
  pids+=($!)
  names+=("$name")
done
wait "${pids[@]}" 2>/dev/null || true

# -- compare -----------------------------------------------------------------------------------
failed=0
for name in "${names[@]}"; do
  dir=$OUT/$name
  rc=$(cat "$dir/exit-code")
  # 0 conformant, 1 findings: both are verdicts. Anything else is the harness failing.
  if [[ $rc != 0 && $rc != 1 ]]; then
    echo "!! $name: the harness exited $rc"
    sed 's/^/   | /' "$dir/stderr.txt" | tail -30
    tail -20 "$dir/target.log" | sed 's/^/   target| /'
    failed=1
    continue
  fi
  # JUnit must be readable by a real consumer (junitparser, as used by CI test-report actions).
  if ! "$PY" - "$dir/report/junit.xml" "$dir/report/report.json" <<'PYEOF'
import json, sys
from junitparser import JUnitXml
xml = JUnitXml.fromfile(sys.argv[1])
report = json.load(open(sys.argv[2]))
cases = [case for suite in xml for case in suite]
assert len(cases) == len(report["checks"]), (len(cases), len(report["checks"]))
failures = sum(1 for c in cases if c.result and c.result[0]._tag == "failure")
expected = sum(1 for c in report["checks"]
               if c["status"] == "fail" or (c["status"] == "not-testable" and c["level"] == "MUST"))
assert failures == expected, (failures, expected)
PYEOF
  then
    echo "!! $name: junit.xml was not accepted by junitparser"
    failed=1
  fi
  if [[ ${INTEROP_UPDATE:-0} == 1 ]]; then
    rm -rf "$EXPECTED/$name"
    mkdir -p "$EXPECTED/$name"
    cp "$dir/report/"* "$EXPECTED/$name/"
    echo "== $name: exit $rc, report written to reports/interop/$name/"
    continue
  fi
  if diff -ru "$EXPECTED/$name" "$dir/report" > "$dir/diff.txt"; then
    echo "== $name: exit $rc, report matches reports/interop/$name/"
  else
    echo "!! $name: the report differs from reports/interop/$name/ (INTEROP_UPDATE=1 to accept):"
    head -60 "$dir/diff.txt" | sed 's/^/   /'
    failed=1
  fi
done
exit $failed
