#!/usr/bin/env bash
# bench/soak.sh: the mock IdP's memory under a long load, on 127.0.0.1 only.
#
# Usage: bench/soak.sh [--no-build] [--help]
#   --no-build  use the existing target/release/mock-idp
#
# Starts a release-built standalone mock IdP (--ephemeral, on a free loopback port); then
# bench/soak.py drives it: first SOAK_REGISTRATIONS maximal registrations (just under the 64 KiB
# body cap; 10,000 fill the IdP's client store), then SOAK_FLOWS login flows (authorize + code
# exchange; every 10th also refreshes, every 50th revokes its refresh token, every 100th registers
# one more client), sampling the IdP's RSS every SOAK_SAMPLE flows and moving its virtual clock a
# day forward every SOAK_CLOCK_EVERY flows (so grants and revocations expire as over days of
# use). The verdict is "levelled" when the RSS at the end is within SOAK_TOLERANCE of the RSS at
# half the flows, with no failed request; the script exits non-zero otherwise.
#
# Environment (defaults in brackets):
#   SOAK_FLOWS [500000]  SOAK_REGISTRATIONS [10000]  SOAK_THREADS [4]  SOAK_SAMPLE [10000]
#   SOAK_CLOCK_EVERY [100000]  SOAK_DEADLINE [2400] seconds for the driver  SOAK_TOLERANCE [0.10]
#   SOAK_OUT [bench/out/soak]  where the samples (samples.jsonl) and the IdP's log go
# Quick check: SOAK_FLOWS=20000 SOAK_REGISTRATIONS=400 SOAK_SAMPLE=2000 SOAK_CLOCK_EVERY=5000 bench/soak.sh
#
# Not part of `cargo test` or `.ci/run` (a full run takes several minutes). The IdP is stopped by
# its PID on every way out; every wait is bounded.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)

FLOWS=${SOAK_FLOWS:-500000}
REGISTRATIONS=${SOAK_REGISTRATIONS:-10000}
THREADS=${SOAK_THREADS:-4}
SAMPLE=${SOAK_SAMPLE:-10000}
CLOCK_EVERY=${SOAK_CLOCK_EVERY:-100000}
DEADLINE=${SOAK_DEADLINE:-2400}
TOLERANCE=${SOAK_TOLERANCE:-0.10}
OUT=${SOAK_OUT:-$HERE/out/soak}

BUILD=1
for arg in "$@"; do
  case "$arg" in
    --no-build) BUILD=0 ;;
    -h | --help) sed -n '2,23p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done
for n in FLOWS REGISTRATIONS THREADS SAMPLE DEADLINE; do
  [[ ${!n} =~ ^[1-9][0-9]*$ ]] || { echo "SOAK_$n must be a positive integer" >&2; exit 2; }
done
[[ $CLOCK_EVERY =~ ^[0-9]+$ ]] || { echo "SOAK_CLOCK_EVERY must be a number of flows (0: never)" >&2; exit 2; }

log() { printf '[soak %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

IDP_PID=
cleanup() {
  [[ -n $IDP_PID ]] || return 0
  if kill -0 "$IDP_PID" 2>/dev/null; then
    kill -TERM "$IDP_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$IDP_PID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$IDP_PID" 2>/dev/null && kill -KILL "$IDP_PID" 2>/dev/null || true
  fi
  wait "$IDP_PID" 2>/dev/null || true
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

mkdir -p "$OUT"
if [[ $BUILD == 1 ]]; then
  log "building target/release/mock-idp"
  (cd "$ROOT" && timeout 1800 cargo build --release -p mock-idp --bin mock-idp)
fi
MOCK=$ROOT/target/release/mock-idp
[[ -x $MOCK ]] || { log "ERROR: $MOCK is missing (run without --no-build)"; exit 1; }

PORT=$(python3 "$HERE/bench.py" freeport)
# The flows' client is configured, so the registrations (which fill the store of dynamic
# clients and then replace its oldest) never evict it.
cat >"$OUT/mock-idp.toml" <<'TOML'
[[authz.clients]]
client_id = "soak-app"
redirect_uris = ["http://127.0.0.1:3000/cb"]
token_endpoint_auth_method = "none"
TOML
# Its log off: a line per request would write two million lines.
RUST_LOG=off "$MOCK" --config "$OUT/mock-idp.toml" --host 127.0.0.1 --port "$PORT" --ephemeral \
  >"$OUT/mock-idp.log" 2>&1 &
IDP_PID=$!
deadline=$((SECONDS + 30))
until grep -q '^mock-idp ready ' "$OUT/mock-idp.log" 2>/dev/null; do
  kill -0 "$IDP_PID" 2>/dev/null || { log "ERROR: mock-idp exited:"; cat "$OUT/mock-idp.log" >&2; exit 1; }
  ((SECONDS < deadline)) || { log "ERROR: mock-idp not ready after 30 s"; exit 1; }
  sleep 0.05
done
log "mock-idp (PID $IDP_PID) on 127.0.0.1:$PORT; $FLOWS flows, $REGISTRATIONS registrations, $THREADS threads"

rc=0
timeout -k 5 $((DEADLINE + 60)) python3 "$HERE/soak.py" "http://127.0.0.1:$PORT" "$IDP_PID" \
  --flows "$FLOWS" --registrations "$REGISTRATIONS" --threads "$THREADS" --sample "$SAMPLE" \
  --clock-every "$CLOCK_EVERY" --deadline "$DEADLINE" --tolerance "$TOLERANCE" \
  | tee "$OUT/samples.jsonl" || rc=$?
log "samples in $OUT/samples.jsonl; the last line is the verdict"
exit "$rc"
