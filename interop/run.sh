#!/usr/bin/env bash
# The interop suite: runs the harness against MCP servers built on real libraries (FastMCP, the
# official Python and TypeScript SDKs, rmcp), each started by `--command` against the harness's
# mock IdP, and compares every report with the one committed under reports/interop/.
#
#   interop/run.sh                  install (pinned), run every target, compare
#   interop/run.sh fastmcp-jwt ...  only these targets
#   INTEROP_UPDATE=1 interop/run.sh rewrite the committed reports instead of comparing
#   INTEROP_REPEAT=N INTEROP_CHECK=ID interop/run.sh TARGET ...
#                                   run only check ID, N times in a row per target, and tally how
#                                   each run reported it (nothing is compared or written)
#   INTEROP_JOBS=N                  targets run at once (default 4; the runs mostly wait)
#   HARNESS=PATH                    a harness binary built elsewhere (another checkout or worktree
#                                   of this repository): nothing is built, and the rmcp target is
#                                   taken from beside it unless INTEROP_RMCP_SERVER names it
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
# A worktree has no build of its own, and building one costs gigabytes: it can run another
# checkout's binaries instead.
if [[ -z ${HARNESS:-} ]]; then
  echo "== building the harness and the rmcp target"
  cargo build --quiet -p mcp-auth-conformance -p interop-rmcp-server
  HARNESS=$ROOT/target/debug/mcp-auth-conformance
fi
RMCP=${INTEROP_RMCP_SERVER:-$(dirname "$HARNESS")/interop-rmcp-server}
for bin in "$HARNESS" "$RMCP"; do
  [[ -x $bin ]] || { echo "!! $bin is not an executable" >&2; exit 2; }
done
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
  "rmcp|exec $RMCP|"
  # Servers of the stateless 2026-07-28 wire: the TypeScript SDK v2 in its default posture (both
  # eras, the legacy one per request) and modern-only; rmcp modern-only; the Python SDK with
  # stateless_http (both eras, the legacy one without sessions).
  "typescript-sdk-v2|exec $NODE interop/node/ts_sdk_v2_server.mjs|"
  "typescript-sdk-v2-modern|MCP_TS_LEGACY=reject exec $NODE interop/node/ts_sdk_v2_server.mjs|"
  "rmcp-stateless|MCP_RMCP_MODE=stateless exec $RMCP|"
  "python-sdk-stateless|MCP_SDK_STATELESS=1 exec $PY interop/python/sdk_server.py|"
  # Authorization servers and OAuth proxies (modes C and D): the harness logs in headlessly.
  # The proxies' upstream is the harness's mock IdP (pre-registered clients only). FastMCP's
  # OAuthProxy keeps its clients in its default encrypted file store under FASTMCP_HOME: each
  # run gets a fresh one of its own (INTEROP_RUN_DIR, the run's output folder, expanded when the
  # harness starts the command), which the harness's restart (dcr.client-usable) keeps.
  "fastmcp-oauth-proxy|FASTMCP_HOME=\$INTEROP_RUN_DIR/fastmcp-home MCP_PROXY_CONSENT=on exec $PY interop/python/fastmcp_oauth_proxy.py|"
  "fastmcp-oauth-proxy-no-consent|FASTMCP_HOME=\$INTEROP_RUN_DIR/fastmcp-home MCP_PROXY_CONSENT=off exec $PY interop/python/fastmcp_oauth_proxy.py|"
  "fastmcp-oauth-provider|exec $PY interop/python/fastmcp_oauth_provider.py|"
  "python-sdk-as|exec $PY interop/python/sdk_auth_server.py|"
  # The same authorization server behind a username-and-password login page, as the SDK's
  # "simple auth" example has one. The account is a test account that exists only for this suite
  # (in sdk_login_server.py and here), given to the harness as a user of the server would give it.
  "python-sdk-as-login|exec $PY interop/python/sdk_login_server.py|--login-user interop-login-tester --login-password interop-login-password-8d41"
  "typescript-sdk-proxy|exec $NODE interop/node/ts_sdk_proxy.mjs|--client-id mcp-proxy-upstream --client-secret mcp-proxy-upstream-secret --client-auth-method client_secret_post"
)

selected=("$@")
# One harness run of a target into `dir` (emptied first); `extra` is added to the target's flags.
run_one() {
  local cmd=$1 flags=$2 dir=$3 extra=${4:-}
  rm -rf "$dir"
  mkdir -p "$dir"
  export INTEROP_RUN_DIR=$dir
  local rc=0 start=$SECONDS
  # shellcheck disable=SC2086
  "$HARNESS" --command "$cmd" --target http://127.0.0.1:0/mcp \
    --idp-port 0 --idp-state-dir "$dir/idp-state" \
    --scope mcp:tools --jwks-wait 35 --command-timeout 90 \
    --command-log "$dir/target.log" --progress off \
    --no-json --out-dir "$dir/report" --normalize $flags $extra \
    > "$dir/terminal.txt" 2> "$dir/stderr.txt" || rc=$?
  echo "$rc" > "$dir/exit-code"
  echo $((SECONDS - start)) > "$dir/seconds"
}

# INTEROP_REPEAT: is a check reported the same way run after run? Each target's runs go one after
# another (a target's own restarts are what such a check is about), the targets side by side.
repeat_one() {
  local name=$1 cmd=$2 flags=$3 i
  for (( i = 1; i <= INTEROP_REPEAT; i++ )); do
    run_one "$cmd" "$flags" "$OUT/$name/repeat-$i" "--check $INTEROP_CHECK"
  done
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
  if [[ -n ${INTEROP_REPEAT:-} ]]; then
    rm -rf "${OUT:?}/$name"
    repeat_one "$name" "$cmd" "$flags" &
  else
    run_one "$cmd" "$flags" "$OUT/$name" &
  fi
  pids+=($!)
  names+=("$name")
done
wait "${pids[@]}" 2>/dev/null || true

if [[ -n ${INTEROP_REPEAT:-} ]]; then
  # Per target: how many runs gave each verdict (status and message) of the check, and how many
  # runs met "connection refused" anywhere (the harness's output, its report, the target's log).
  "$PY" - "$OUT" "$INTEROP_CHECK" "${names[@]}" <<'PYEOF'
import collections, json, pathlib, sys
out, check, names = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
failed = False
for name in names:
    runs = sorted((out / name).glob("repeat-*"), key=lambda p: int(p.name.split("-")[1]))
    verdicts, refused = collections.Counter(), 0
    for run in runs:
        report = json.loads((run / "report" / "report.json").read_text())
        found = [c for c in report["checks"] if c["id"] == check]
        verdicts[f"{found[0]['status']}: {found[0]['message']}" if found else "not run"] += 1
        texts = [p.read_text(errors="replace") for p in run.rglob("*") if p.is_file() and p.suffix in ("", ".txt", ".json", ".log", ".md")]
        refused += any("connection refused" in t.lower() for t in texts)
    print(f"== {name}: {len(runs)} runs of {check}, {len(verdicts)} distinct verdict(s), 'connection refused' in {refused}")
    for verdict, n in verdicts.most_common():
        print(f"   {n} x {verdict}")
    failed |= len(verdicts) != 1 or refused > 0
sys.exit(1 if failed else 0)
PYEOF
  exit $?
fi

# -- compare -----------------------------------------------------------------------------------
failed=0
for name in "${names[@]}"; do
  dir=$OUT/$name
  rc=$(cat "$dir/exit-code")
  took="$(cat "$dir/seconds") s"
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
    echo "== $name: exit $rc in $took, report written to reports/interop/$name/"
    continue
  fi
  if diff -ru "$EXPECTED/$name" "$dir/report" > "$dir/diff.txt"; then
    echo "== $name: exit $rc in $took, report matches reports/interop/$name/"
  else
    echo "!! $name: exit $rc in $took, the report differs from reports/interop/$name/ (INTEROP_UPDATE=1 to accept):"
    head -60 "$dir/diff.txt" | sed 's/^/   /'
    failed=1
  fi
done
exit $failed
