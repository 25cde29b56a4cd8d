#!/usr/bin/env bash
# Times full harness runs against the bundled reference target (what `cargo run` does without
# --target), per era of the wire: issue 15 asks for under 3 s per era. Prints each run's wall time
# and the median per era.
#
#   bench/harness-run.sh [BINARY] [RUNS]
#
# BINARY defaults to target/release/mcp-auth-conformance (build it with
# `cargo build --release -p mcp-auth-conformance`); RUNS defaults to 5. Loopback only; the
# reference target and the mock IdP run inside the harness process and stop with it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-$ROOT/target/release/mcp-auth-conformance}
RUNS=${2:-5}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

for era in legacy modern auto; do
  : >"$WORK/$era"
  for i in $(seq 1 "$RUNS"); do
    start=$(date +%s.%N)
    rc=0
    "$BIN" --era "$era" --idp-port 0 --idp-state-dir "$WORK/state-$era-$i" --progress off \
      --no-json >"$WORK/out" 2>&1 || rc=$?
    end=$(date +%s.%N)
    if [[ $rc != 0 ]]; then
      echo "era $era run $i: the harness exited $rc" >&2
      tail -20 "$WORK/out" >&2
      exit 1
    fi
    echo "$end - $start" | bc >>"$WORK/$era"
  done
  sort -n "$WORK/$era" | awk -v era="$era" '
    {a[NR]=$1}
    END {m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2;
         printf "%-6s runs %s  min %.2f s  median %.2f s  max %.2f s\n", era, NR, a[1], m, a[NR]}'
done
