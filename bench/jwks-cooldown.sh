#!/usr/bin/env bash
# Times full harness runs against FastMCP's JWTVerifier (a 30 s JWKS refetch cool-down), the case
# issue 16 is about: the key-rotation checks used to wait out one cool-down each. Given two harness
# binaries, runs each in turn (A B A B ...), prints every run's wall time and the median of each,
# and checks that both reach the same verdict on every check.
#
#   bench/jwks-cooldown.sh BEFORE_BINARY AFTER_BINARY [ROUNDS]
#
# Needs the interop Python environment (interop/python/ensure-venv.sh makes it). Loopback only;
# every server is started and stopped by the harness (--command).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BEFORE=${1:?before binary}
AFTER=${2:?after binary}
ROUNDS=${3:-2}
"$ROOT/interop/python/ensure-venv.sh" >/dev/null
PY=$ROOT/interop/.venv/bin/python
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

run() { # label binary round
  local dir=$WORK/$1-$3
  mkdir -p "$dir"
  local start end rc=0
  start=$(date +%s.%N)
  "$2" --command "exec $PY $ROOT/interop/python/fastmcp_jwt.py" --target http://127.0.0.1:0/mcp \
    --idp-port 0 --idp-state-dir "$dir/idp-state" --scope mcp:tools --jwks-wait 35 \
    --command-timeout 90 --progress off --no-json --out-dir "$dir/report" --normalize \
    >"$dir/terminal.txt" 2>"$dir/stderr.txt" || rc=$?
  end=$(date +%s.%N)
  if [[ $rc != 0 && $rc != 1 ]]; then
    echo "$1 run $3: the harness exited $rc" >&2
    tail -20 "$dir/stderr.txt" >&2
    exit 1
  fi
  echo "$1 $3 $(echo "$end - $start" | bc)" >>"$WORK/times"
  "$PY" - "$dir/report/report.json" >"$dir/verdicts" <<'PYEOF'
import json, sys
for c in json.load(open(sys.argv[1]))["checks"]:
    print(c["id"], c["status"])
PYEOF
}

for round in $(seq 1 "$ROUNDS"); do
  run before "$BEFORE" "$round"
  run after "$AFTER" "$round"
done

echo "run     round  wall seconds"
awk '{printf "%-7s %5s  %6.1f\n", $1, $2, $3}' "$WORK/times"
for label in before after; do
  awk -v l="$label" '$1 == l {print $3}' "$WORK/times" | sort -n |
    awk -v l="$label" '{a[NR]=$1} END {m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2; printf "median %-6s %6.1f s\n", l, m}'
done
if diff "$WORK/before-1/verdicts" "$WORK/after-1/verdicts" >"$WORK/verdict.diff"; then
  echo "verdicts: identical on every check"
else
  echo "verdicts differ:"
  cat "$WORK/verdict.diff"
fi
