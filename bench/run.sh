#!/usr/bin/env bash
# bench/run.sh: mock-idp side by side with oauth2-mock-server, oidc-provider, a bare axum
# static-JWKS handler and a bare verifying introspection handler, on hyper and on its own HTTP/1.1
# reading (the ceilings), in one run, on 127.0.0.1 only.
#
# Usage: bench/run.sh [--install] [--no-build] [--help]
#   --install   apt-get install -y wrk if missing, and `npm ci` in bench/node if node_modules is
#               missing (the only steps that use the network; everything else is loopback)
#   --no-build  use the existing release binaries
#
# Environment (defaults in brackets):
#   BENCH_DURATION [10]  seconds per wrk run         BENCH_RUNS    [3]  wrk runs per case (median)
#                        (BENCH_DURATION at most 240: the introspection pool's /token JWTs live 300 s)
#   BENCH_THREADS  [2]   wrk threads                 BENCH_CONNS   [32] wrk connections
#   BENCH_STARTS   [5]   starts per server for the start-up and idle-RSS measurement
#   BENCH_IDLE     [2]   seconds after ready before idle RSS is read
#   BENCH_PAUSE    [1]   seconds between wrk runs
#   BENCH_PIN      [0]   1: servers on CPU 0 (taskset), wrk on CPU 1 with 1 thread
#   BENCH_POOL     [20000] distinct /token JWTs the always-new-token introspection case cycles
#                        through (minted afresh before each of its runs). Each wrk thread cycles
#                        through its own share, so the share must exceed the 8,192 verifications
#                        mock-idp remembers for every answer to verify a signature: the row is
#                        judged only when BENCH_POOL >= BENCH_THREADS x 8,193
#   BENCH_OUT      [bench/out]  where results.md, the JSON lines and the raw wrk outputs go
# Quick check: BENCH_DURATION=3 BENCH_RUNS=1 BENCH_STARTS=3 bench/run.sh
#
# Every process this script starts is recorded by PID and stopped on every way out (trap);
# every wait is bounded by a timeout.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
# mock-idp logs one line per request by default; the figures are of the server with its log off
# (what a library user without a subscriber gets), so set RUST_LOG=info to measure it logging.
export RUST_LOG=${RUST_LOG:-off}

DURATION=${BENCH_DURATION:-10}
RUNS=${BENCH_RUNS:-3}
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNS:-32}
STARTS=${BENCH_STARTS:-5}
IDLE=${BENCH_IDLE:-2}
PAUSE=${BENCH_PAUSE:-1}
PIN=${BENCH_PIN:-0}
POOL=${BENCH_POOL:-20000}
OUT=${BENCH_OUT:-$HERE/out}

INSTALL=0
BUILD=1
for arg in "$@"; do
  case "$arg" in
    --install) INSTALL=1 ;;
    --no-build) BUILD=0 ;;
    -h | --help) sed -n '2,26p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done
for n in DURATION RUNS THREADS CONNS STARTS POOL; do
  [[ ${!n} =~ ^[1-9][0-9]*$ ]] || { echo "BENCH_$n must be a positive integer" >&2; exit 2; }
done
# The always-new-token introspection cases introspect /token JWTs, which live 300 s: a run (and the
# check after it) must end well inside that.
((DURATION <= 240)) || { echo "BENCH_DURATION must be at most 240 s: the introspection pool's tokens live 300 s" >&2; exit 2; }
[[ $IDLE =~ ^[0-9]+(\.[0-9]+)?$ && $PAUSE =~ ^[0-9]+(\.[0-9]+)?$ ]] || {
  echo "BENCH_IDLE and BENCH_PAUSE must be numbers of seconds" >&2; exit 2; }

SRV=()
WRKPFX=()
if [[ $PIN == 1 ]]; then
  SRV=(taskset -c 0)
  WRKPFX=(taskset -c 1)
  THREADS=${BENCH_THREADS:-1}
fi

# Each wrk thread cycles through its own share of the pool; a share that fits in the 8,192
# verifications mock-idp remembers lets a thread that runs ahead find its tokens remembered.
((POOL / THREADS > 8192)) || echo "bench: BENCH_POOL=$POOL gives each of $THREADS wrk thread(s) no more than 8,192 tokens: some always-new introspections may be answered from memory, so that row will not be judged (use BENCH_POOL >= $((THREADS * 8193)))" >&2

MOCK=$ROOT/target/release/mock-idp
STATIC_TARGET=$ROOT/target/bench-static
STATIC=$STATIC_TARGET/release/static-jwks
PY=(python3 "$HERE/bench.py")
RESOURCE='https://mcp.example.test/mcp'
TOKEN_BODY='grant_type=client_credentials&scope=mcp%3Atools&resource=https%3A%2F%2Fmcp.example.test%2Fmcp'
OPAQUE_BODY='grant_type=client_credentials&scope=mcp%3Atools'
TOKEN_BASIC=$(printf '%s' 'conformance-client:conformance-client-secret' | base64 -w0)
RS_BASIC=$(printf '%s' 'conformance-rs:conformance-rs-secret' | base64 -w0)

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ----- process bookkeeping: every started process by PID, stopped on every exit path -----
PIDS=()
cleanup() {
  local pid alive=() i
  for pid in "${PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid" 2>/dev/null || true; alive+=("$pid"); fi
  done
  for i in $(seq 1 50); do
    local left=0
    for pid in "${alive[@]}"; do kill -0 "$pid" 2>/dev/null && left=1; done
    [[ $left == 0 ]] && break
    sleep 0.1
  done
  for pid in "${alive[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  done
  for pid in "${alive[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

LAST_PID=
# spawn LOGFILE CMD...: start CMD in the background, output to LOGFILE; PID in LAST_PID.
spawn() {
  local logfile=$1; shift
  "$@" >"$logfile" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}
# run_bounded SECONDS CMD...: run CMD in the background (tracked), wait for it; its status.
run_bounded() {
  local secs=$1; shift
  timeout -k 5 "$secs" "$@" &
  local pid=$!
  PIDS+=("$pid")
  local rc=0
  wait "$pid" || rc=$?
  return "$rc"
}
# wait_line LOGFILE REGEX PID SECONDS: wait until LOGFILE has a line matching REGEX.
wait_line() {
  local logfile=$1 regex=$2 pid=$3 secs=$4
  local deadline=$((SECONDS + secs))
  while ((SECONDS < deadline)); do
    grep -Eq "$regex" "$logfile" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || { log "process $pid exited; its log:"; cat "$logfile" >&2; return 1; }
    sleep 0.05
  done
  log "timed out after ${secs}s waiting for /$regex/ in $logfile"
  return 1
}

# ----- prerequisites -----
need_install=()
command -v wrk >/dev/null || need_install+=(wrk)
[[ -d $HERE/node/node_modules/oauth2-mock-server && -d $HERE/node/node_modules/oidc-provider ]] \
  || need_install+=(node_modules)
if ((${#need_install[@]})); then
  if [[ $INSTALL == 1 ]]; then
    for what in "${need_install[@]}"; do
      case $what in
        wrk)
          log "installing wrk (apt-get)"
          if [[ $(id -u) == 0 ]]; then
            timeout 600 apt-get install -y wrk || { timeout 300 apt-get update && timeout 600 apt-get install -y wrk; }
          else
            timeout 600 sudo apt-get install -y wrk
          fi ;;
        node_modules)
          log "installing the npm peers from bench/node/package-lock.json (npm ci)"
          (cd "$HERE/node" && timeout 600 npm ci --no-audit --no-fund) ;;
      esac
    done
  else
    echo "missing: ${need_install[*]}" >&2
    echo "  run: bench/run.sh --install" >&2
    echo "  or by hand: apt-get install -y wrk; (cd bench/node && npm ci)" >&2
    exit 2
  fi
fi
for tool in node cargo curl python3 timeout; do
  command -v "$tool" >/dev/null || die "$tool is required"
done

# ----- build -----
if [[ $BUILD == 1 ]]; then
  log "building mock-idp (release; reuses $ROOT/target)"
  (cd "$ROOT" && run_bounded 3600 cargo build --release -p mock-idp) || die "mock-idp build failed"
  log "building the static-JWKS ceiling (release; CARGO_TARGET_DIR=$STATIC_TARGET)"
  CARGO_TARGET_DIR=$STATIC_TARGET run_bounded 1800 \
    cargo build --release --locked --manifest-path "$HERE/static-jwks/Cargo.toml" \
    || die "static-jwks build failed"
fi
if [[ $BUILD == 1 ]]; then
  log "building the RS256 signing and introspection ceilings (cargo bench -p mock-idp --bench rsa_raw --bench introspect_floor --no-run)"
  (cd "$ROOT" && run_bounded 3600 cargo bench -p mock-idp --bench rsa_raw --bench introspect_floor --no-run) \
    || die "rsa_raw / introspect_floor build failed"
fi
# The bare verifying introspection handler (mock-idp/benches/introspect_floor.rs): the newest
# build, as for rsa_raw below. Without it the always-new-token case has no measured ceiling.
FLOOR=''
for f in "$ROOT"/target/release/deps/introspect_floor-*; do
  [[ $f == *.d || ! -x $f ]] && continue
  if [[ -z $FLOOR || $f -nt $FLOOR ]]; then FLOOR=$f; fi
done
[[ -x $MOCK ]] || die "$MOCK missing (build with: cargo build --release -p mock-idp)"
[[ -x $STATIC ]] || die "$STATIC missing"

# ----- output -----
mkdir -p "$OUT/raw" "$OUT/logs"
rm -f "$OUT"/runs.jsonl "$OUT"/startup.jsonl "$OUT"/checks.txt "$OUT"/meta.json "$OUT"/signing.json "$OUT"/signing-rounds.jsonl \
  "$OUT"/results.md "$OUT"/pool.txt "$OUT"/raw/*.txt "$OUT"/raw/*.cpu "$OUT"/logs/*.log "$OUT"/logs/*.jsonl \
  "$OUT"/logs/rsa_raw.round*.txt
rm -rf "$OUT/state"
: >"$OUT/runs.jsonl"
: >"$OUT/startup.jsonl"
: >"$OUT/checks.txt"
check() { log "check: $*"; printf '%s\n' "$*" >>"$OUT/checks.txt"; }
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "load average at start: $LOAD_START"

# ----- preparation: a persisted key for the --state-dir start-up variant, and the JWKS bytes
# the static ceiling serves (the same document shape and size mock-idp serves) -----
PORT=$("${PY[@]}" freeport)
spawn "$OUT/logs/prep-mock-idp.log" "$MOCK" --port "$PORT" --state-dir "$OUT/state"
PREP=$LAST_PID
wait_line "$OUT/logs/prep-mock-idp.log" '^mock-idp ready ' "$PREP" 60 || die "mock-idp did not start"
curl -sf -m 5 -o "$OUT/jwks-static.json" "http://127.0.0.1:$PORT/jwks" || die "cannot fetch mock-idp's JWKS"
kill -TERM "$PREP"
wait "$PREP" 2>/dev/null || true

# ----- phase 0: the signing ceiling. RS256-2048 signatures per second on this machine with
# mock-idp's signer (aws-lc-rs: the rsa_raw bench, one thread and every core) and with node's
# (crypto.sign over OpenSSL, what both npm peers sign with), so that the token ratio can be read
# against what the hardware allows -----
RSA_RAW=$(ls -t "$ROOT"/target/release/deps/rsa_raw-* 2>/dev/null | grep -v '\.d$' | head -1 || true)
if [[ -n $RSA_RAW && -x $RSA_RAW ]]; then
  log "signing ceiling: $RSA_RAW"
  run_bounded 300 "${SRV[@]}" "$RSA_RAW" >"$OUT/logs/rsa_raw.txt" 2>&1 || log "rsa_raw failed"
else
  log "signing ceiling: no rsa_raw bench binary (run without --no-build to build it); skipped"
  : >"$OUT/logs/rsa_raw.txt"
fi
run_bounded 60 "${SRV[@]}" node -e '
const c = require("crypto");
const { privateKey } = c.generateKeyPairSync("rsa", { modulusLength: 2048 });
const input = Buffer.from("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJiZW5jaCJ9");
let n = 0; const t0 = process.hrtime.bigint();
while (process.hrtime.bigint() - t0 < 3000000000n) { c.sign("sha256", input, privateKey); n++; }
console.log(`node crypto.sign, 1 thread: ${Math.round(n / 3)}/s`);' >"$OUT/logs/node-sign.txt" 2>&1 \
  || log "node signing measurement failed"
cat "$OUT/logs/rsa_raw.txt" "$OUT/logs/node-sign.txt" >&2
"${PY[@]}" signing "$OUT/logs/rsa_raw.txt" "$OUT/logs/node-sign.txt" >"$OUT/signing.json"

# ----- phase 1: start-to-ready and idle RSS (one server at a time) -----
startup() { # LABEL REGEX CMD...
  local label=$1 regex=$2; shift 2
  log "start-up: $label x$STARTS"
  local tmp="$OUT/logs/startup-$label.jsonl"
  run_bounded $((STARTS * (40 + ${IDLE%.*} + 10))) \
    "${PY[@]}" startup "$label" "$STARTS" "$IDLE" "$regex" 'http://127.0.0.1:{port}/jwks' -- \
    "${SRV[@]}" "$@" >"$tmp" || die "start-up measurement for $label failed"
  cat "$tmp" >>"$OUT/startup.jsonl"
  cat "$tmp" >&2
}
startup mock-idp '^mock-idp ready ' "$MOCK" --port '{port}' --ephemeral
startup mock-idp-state '^mock-idp ready ' "$MOCK" --port '{port}' --state-dir "$OUT/state"
startup oauth2-mock-server 'oauth2-mock-server ready' node "$HERE/node/oauth2-mock-server-host.mjs" '{port}'
startup oidc-provider 'oidc-provider ready' node "$HERE/node/oidc-provider-host.mjs" '{port}'
startup static-axum 'static-jwks ready' "$STATIC" '{port}' "$OUT/jwks-static.json"

# ----- phase 2: the servers (the three under test and the two ceilings), side by side -----
declare -A PID BASE
# launch_server NAME REGEX CMD... ({port} replaced): start a server and wait for its ready line;
# status 1, with the process stopped and no PID[NAME], when it does not start.
launch_server() {
  local name=$1 regex=$2; shift 2
  local port args=() a
  port=$("${PY[@]}" freeport)
  for a in "$@"; do args+=("${a//\{port\}/$port}"); done
  spawn "$OUT/logs/$name.log" "${SRV[@]}" "${args[@]}"
  if ! wait_line "$OUT/logs/$name.log" "$regex" "$LAST_PID" 60; then
    kill -TERM "$LAST_PID" 2>/dev/null || true
    return 1
  fi
  PID[$name]=$LAST_PID
  BASE[$name]=http://127.0.0.1:$port
  log "$name pid ${PID[$name]} at ${BASE[$name]}"
}
# start_server NAME REGEX CMD...: the same, for the servers the run cannot do without.
start_server() { launch_server "$@" || die "$1 did not start"; }
start_server mock-idp '^mock-idp ready ' "$MOCK" --port '{port}' --ephemeral
start_server oauth2-mock-server 'oauth2-mock-server ready' node "$HERE/node/oauth2-mock-server-host.mjs" '{port}'
start_server oidc-provider 'oidc-provider ready' node "$HERE/node/oidc-provider-host.mjs" '{port}'
start_server static-axum 'static-jwks ready' "$STATIC" '{port}' "$OUT/jwks-static.json"
# The introspection ceiling verifies with the key of the mock-idp under load (a fresh one per run).
# It reuses the pool minted for mock-idp's always-new-token run just before it, or mints a fresh
# one when that pool would expire during its run (mint_pool).
if [[ -n $FLOOR && -x $FLOOR ]]; then
  curl -sf -m 5 -o "$OUT/jwks-mock-idp.json" "${BASE[mock-idp]}/jwks" || die "cannot fetch mock-idp's JWKS"
  # A ceiling that does not start costs its own case, not the run: the judged rows do not need it.
  launch_server introspect-floor 'introspect-floor ready' "$FLOOR" '{port}' "$OUT/jwks-mock-idp.json" "$RS_BASIC" \
    || log "introspection ceiling: $FLOOR did not start (see $OUT/logs/introspect-floor.log); its case is skipped"
  # The same handler behind its own minimal HTTP/1.1 reading instead of hyper's: what the machine
  # allows a verifying handler without hyper's generality.
  launch_server introspect-rawfloor 'introspect-floor ready' "$FLOOR" '{port}' "$OUT/jwks-mock-idp.json" "$RS_BASIC" --raw-http \
    || log "introspection ceiling without hyper: $FLOOR --raw-http did not start (see $OUT/logs/introspect-rawfloor.log); its case is skipped"
else
  log "introspection ceiling: no introspect_floor bench binary (run without --no-build to build it); skipped"
fi

MOCK_READY=$(grep -m1 '^mock-idp ready ' "$OUT/logs/mock-idp.log" | sed 's/^mock-idp ready //')
MOCK_INTROSPECT=$(printf '%s' "$MOCK_READY" | python3 -c 'import json,sys; print(json.load(sys.stdin)["introspection_endpoint"])')
MOCK_CONTROL=$(printf '%s' "$MOCK_READY" | python3 -c 'import json,sys; print(json.load(sys.stdin)["control_url"])')
grep -q 'token client: *conformance-client / conformance-client-secret' "$OUT/logs/mock-idp.log" \
  || die "mock-idp's token client is not conformance-client / conformance-client-secret (see $OUT/logs/mock-idp.log)"

# HTTP helpers (loopback only, bounded)
post_form() { curl -sS -m 10 -X POST -H "Authorization: Basic $1" \
  -H 'Content-Type: application/x-www-form-urlencoded' --data-raw "$3" "$2"; }
json_field() { python3 -c 'import json,sys; v=json.load(sys.stdin).get(sys.argv[1]); print("" if v is None else (json.dumps(v) if not isinstance(v,str) else v))' "$1"; }
mock_jwt() { post_form "$TOKEN_BASIC" "${BASE[mock-idp]}/token" "$TOKEN_BODY" | json_field access_token; }
mock_opaque() {
  curl -sS -m 10 -X POST -H 'Content-Type: application/json' \
    --data-raw "{\"format\":\"opaque\",\"scope\":\"mcp:tools\",\"audience\":\"$RESOURCE\",\"lifetime_secs\":3600}" \
    "$MOCK_CONTROL/mint" | json_field token
}
op_opaque() { post_form "$TOKEN_BASIC" "${BASE[oidc-provider]}/token" "$OPAQUE_BODY" | json_field access_token; }
active() { # URL TOKEN -> "true"/"false"/""
  post_form "$RS_BASIC" "$1" "token=$2&token_type_hint=access_token" | json_field active
}

# ----- sanity checks: every endpoint answers what the load will ask for -----
for s in mock-idp oauth2-mock-server oidc-provider static-axum; do
  bytes=$(curl -sf -m 5 "${BASE[$s]}/jwks" | wc -c) || die "$s: GET /jwks failed"
  check "$s GET /jwks: 200, $bytes bytes"
done
for s in mock-idp oauth2-mock-server oidc-provider; do
  tok=$(post_form "$TOKEN_BASIC" "${BASE[$s]}/token" "$TOKEN_BODY" | json_field access_token)
  [[ -n $tok ]] || die "$s: POST /token gave no access_token"
  verdict=$("${PY[@]}" verify-jwt "$tok" "${BASE[$s]}/jwks") || die "$s: token does not verify: $verdict"
  check "$s POST /token client_credentials (Basic, scope, resource): ${#tok}-char JWT, $verdict"
done
tok=$(op_opaque)
[[ -n $tok && $tok != *.*.* ]] || die "oidc-provider: no opaque token without resource"
check "oidc-provider POST /token without resource: opaque token (${#tok} chars), introspection active=$(active "${BASE[oidc-provider]}/token/introspection" "$tok")"
tok=$(mock_jwt)
check "mock-idp POST /introspect of a /token JWT: active=$(active "$MOCK_INTROSPECT" "$tok")"
if [[ $tok == *A ]]; then forged=${tok%?}B; else forged=${tok%?}A; fi
[[ $(active "$MOCK_INTROSPECT" "$forged") == false ]] || die "mock-idp: a forged token introspects active"
check "mock-idp POST /introspect of the same JWT with a changed signature: active=false"
tok=$(mock_opaque)
check "mock-idp POST /introspect of a control-API opaque token: active=$(active "$MOCK_INTROSPECT" "$tok")"

# ----- the cases: label|server|group|title|path|kind -----
# kind: get | token | token-opaque | introspect-mock-jwt | introspect-mock-many |
#       introspect-floor-many | introspect-mock-opaque | introspect-op
# introspect-floor-many (both ceilings) reuses the pool the mock-idp/introspect-many case just
# minted: it must come right after it.
CASES=(
  "mock-idp/token|mock-idp|token|client_credentials tokens/s (RS256 JWT)|/token|token"
  "oauth2-mock-server/token|oauth2-mock-server|token|client_credentials tokens/s (RS256 JWT)|/token|token"
  "oidc-provider/token|oidc-provider|token|client_credentials tokens/s (RS256 JWT)|/token|token"
  "oidc-provider/token-opaque|oidc-provider|token-opaque|client_credentials tokens/s (opaque; informational)|/token|token-opaque"
  "mock-idp/jwks|mock-idp|jwks|JWKS req/s|/jwks|get"
  "oauth2-mock-server/jwks|oauth2-mock-server|jwks|JWKS req/s|/jwks|get"
  "oidc-provider/jwks|oidc-provider|jwks|JWKS req/s|/jwks|get"
  "static-axum/jwks|static-axum|jwks|JWKS req/s (ceiling)|/jwks|get"
  "mock-idp/introspect-many|mock-idp|introspect-many|introspection/s (mock-idp: $POOL distinct /token JWTs, each once per pass, every one RS256-verified)|/introspect|introspect-mock-many"
  "introspect-floor/introspect-many|introspect-floor|introspect-many|introspection/s (bare verifying handler: the same pool, each RS256-verified; ceiling)|/introspect|introspect-floor-many"
  "introspect-rawfloor/introspect-many|introspect-rawfloor|introspect-many|introspection/s (the same handler on a minimal HTTP/1.1 reading of its own instead of hyper; ceiling)|/introspect|introspect-floor-many"
  "mock-idp/introspect|mock-idp|introspect|introspection/s (mock-idp: one /token JWT repeatedly, verification cached; informational)|/introspect|introspect-mock-jwt"
  "mock-idp/introspect-opaque|mock-idp|introspect-opaque|introspection/s (opaque, control-API token; informational)|/introspect|introspect-mock-opaque"
  "oidc-provider/introspect|oidc-provider|introspect|introspection/s (oidc-provider: opaque token)|/token/introspection|introspect-op"
)
for floor in introspect-floor introspect-rawfloor; do
  if [[ -z ${PID[$floor]:-} ]]; then
    kept=()
    for c in "${CASES[@]}"; do [[ ${c%%|*} == "$floor"/* ]] || kept+=("$c"); done
    CASES=("${kept[@]}")
  fi
done

# mint_pool: POOL fresh /token JWTs into pool.txt; POOL_MINTED is when the first was asked for.
# They live TOKEN_LIFETIME seconds (mock-idp's default for /token); a run must finish, and its
# after-run check of the first token be answered, POOL_MARGIN seconds before that.
TOKEN_LIFETIME=300
POOL_MARGIN=30
POOL_MINTED=0
pool_outlives_a_run() { ((SECONDS + DURATION + POOL_MARGIN < POOL_MINTED + TOKEN_LIFETIME)); }
mint_pool() {
  POOL_MINTED=$SECONDS
  run_bounded 300 "${PY[@]}" mint-pool "${BASE[mock-idp]}/token" "$TOKEN_BASIC" "$TOKEN_BODY" \
    "$POOL" "$OUT/pool.txt" || die "minting the pool of $POOL tokens failed"
  pool_outlives_a_run \
    || die "minting $POOL tokens took $((SECONDS - POOL_MINTED)) s: with BENCH_DURATION=$DURATION the pool's first token expires (${TOKEN_LIFETIME} s) before the run ends; lower BENCH_POOL or BENCH_DURATION"
}

run_case() { # CASE RUN
  local label server group title path kind
  IFS='|' read -r label server group title path kind <<<"$1"
  local run=$2 url=${BASE[$server]}$path pid=${PID[$server]}
  local body='' basic='' tok='' check_result=ok lua=()
  case $kind in
    get) ;;
    token) body=$TOKEN_BODY; basic=$TOKEN_BASIC ;;
    token-opaque) body=$OPAQUE_BODY; basic=$TOKEN_BASIC ;;
    introspect-mock-jwt) tok=$(mock_jwt) || tok='' ;;
    introspect-mock-many)
      # A fresh pool per run: /token JWTs live 300 s, a round of the cases takes longer.
      mint_pool
      tok=$(tail -n 1 "$OUT/pool.txt") ;;
    introspect-floor-many)
      [[ -s $OUT/pool.txt ]] || die "introspect-floor-many runs after mock-idp/introspect-many, which mints the pool"
      # The same pool as mock-idp's run just before, unless its first token would expire before
      # this run's after-run check: then a fresh one from the same mock-idp (same key, same shape).
      pool_outlives_a_run || mint_pool
      tok=$(tail -n 1 "$OUT/pool.txt") ;;
    introspect-mock-opaque) tok=$(mock_opaque) || tok='' ;;
    introspect-op) tok=$(op_opaque) || tok='' ;;
  esac
  if [[ $kind == introspect-* ]]; then
    basic=$RS_BASIC
    body="token=$tok&token_type_hint=access_token"
    [[ -n $tok && $(active "$url" "$tok") == true ]] || check_result="token not active before the run"
  fi
  case $kind in
    get) ;;
    introspect-mock-many | introspect-floor-many) lua=(-s "$HERE/wrk/introspect-many.lua") ;;
    *) lua=(-s "$HERE/wrk/post-form.lua") ;;
  esac
  local raw="$OUT/raw/${label//\//_}.run$run.txt"
  local load c0 c1 t0 t1 st busy0 busy1
  load=$(cut -d' ' -f1 /proc/loadavg)
  read -r -a st <"/proc/$pid/stat"; c0=$((st[13] + st[14]))
  read -r busy0 _ < <("${PY[@]}" busy)
  t0=$(date +%s.%N)
  local rc=0
  BENCH_BODY=$body BENCH_BASIC=$basic BENCH_TOKENS=$OUT/pool.txt BENCH_WRK_THREADS=$THREADS run_bounded $((DURATION + 30)) \
    "${PY[@]}" rusage "$raw.cpu" -- \
    "${WRKPFX[@]}" wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency "${lua[@]}" "$url" \
    >"$raw" 2>&1 || rc=$?
  t1=$(date +%s.%N)
  read -r -a st <"/proc/$pid/stat"; c1=$((st[13] + st[14]))
  read -r busy1 _ < <("${PY[@]}" busy)
  ((rc == 0)) || check_result="wrk exited with status $rc"
  if [[ $kind == introspect-* && $check_result == ok ]]; then
    [[ $(active "$url" "$tok") == true ]] || check_result="token not active after the run"
    if [[ $kind == introspect-*-many && $check_result == ok ]]; then
      [[ $(active "$url" "$(head -n 1 "$OUT/pool.txt")") == true ]] \
        || check_result="the pool's first token not active after the run"
    fi
  fi
  local line
  line=$("${PY[@]}" wrkparse "$raw" "$label" "$server" "$group" "$run" "$load" "$c0" "$c1" \
    "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')" "$pid" "$check_result" \
    "$busy0" "$busy1" "$raw.cpu")
  printf '%s\n' "$line" >>"$OUT/runs.jsonl"
}

# The all-cores signing rate again just before and just after each round's mock-idp token run: the
# machine's speed drifts over a run (the start-of-run figure and a token run minutes later were
# seen 20% apart on a shared VM), so each round's tokens per CPU-second is judged against the
# ceiling measured beside it.
sign_round() { # RUN WHEN
  [[ -n $RSA_RAW && -x $RSA_RAW ]] || return 0
  local txt="$OUT/logs/rsa_raw.round$1.$2.txt"
  if ! run_bounded 60 env RSA_RAW_ONLY=all RSA_RAW_ROUNDS=1 RSA_RAW_SECS=3 "${SRV[@]}" "$RSA_RAW" \
    >"$txt" 2>&1; then
    log "rsa_raw ($2 round $1) failed"
    return 0
  fi
  "${PY[@]}" signing "$txt" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(json.dumps({"run": int(sys.argv[1]), "when": sys.argv[2], "aws_lc_all_cpu": d.get("aws_lc_all_cpu")}))
' "$1" "$2" >>"$OUT/signing-rounds.jsonl" || log "rsa_raw ($2 round $1): no figure read"
}

log "throughput: ${#CASES[@]} cases x $RUNS run(s), wrk -t$THREADS -c$CONNS -d${DURATION}s, round-robin"
for run in $(seq 1 "$RUNS"); do
  log "round $run/$RUNS (load: $(cut -d' ' -f1-3 /proc/loadavg))"
  for c in "${CASES[@]}"; do
    if [[ ${c%%|*} == mock-idp/token ]]; then sign_round "$run" before; sleep "$PAUSE"; fi
    run_case "$c" "$run"
    if [[ ${c%%|*} == mock-idp/token ]]; then sign_round "$run" after; fi
    sleep "$PAUSE"
  done
done
for s in mock-idp oauth2-mock-server oidc-provider static-axum; do
  check "$s RSS after all load runs: $(awk '/^VmRSS/{printf "%.1f MB", $2/1024}' "/proc/${PID[$s]}/status"), peak $(awk '/^VmHWM/{printf "%.1f MB", $2/1024}' "/proc/${PID[$s]}/status")"
done

# ----- report -----
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
mock_rev="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
[[ -z $(git -C "$ROOT" status --porcelain -- mock-idp 2>/dev/null) ]] || mock_rev="$mock_rev + uncommitted mock-idp changes"
mock_rev="binary built $(date -u -r "$MOCK" '+%Y-%m-%d %H:%M UTC'); tree at report time: $mock_rev"
pkgver() { node -p "require('$HERE/node/node_modules/$1/package.json').version"; }
CASES_JSON=$(printf '%s\n' "${CASES[@]}" | python3 -c '
import json, sys
out = []
for line in sys.stdin:
    if line.strip():
        label, server, group, title, path, kind = line.rstrip("\n").split("|")
        out.append({"label": label, "server": server, "group": group, "title": title})
print(json.dumps(out))')
export B_DATE="$(date -u '+%Y-%m-%d %H:%M UTC')" B_NPROC="$(nproc)" \
  B_CPU="$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)" B_KERNEL="$(uname -sr)" \
  B_WRK="$(wrk -v 2>&1 | head -1 | awk '{print $2}')" B_THREADS=$THREADS B_CONNS=$CONNS \
  B_DURATION=$DURATION B_RUNS=$RUNS B_PIN=$PIN B_REV="$mock_rev" B_O2M="$(pkgver oauth2-mock-server)" \
  B_OP="$(pkgver oidc-provider)" B_NODE="$(node --version)" B_LOAD_START="$LOAD_START" \
  B_LOAD_END="$LOAD_END" B_STARTS=$STARTS B_IDLE=$IDLE B_CASES="$CASES_JSON" B_POOL=$POOL \
  B_AXUM="$(awk '/^name = "axum"$/{getline; gsub(/[^0-9.]/,""); print; exit}' "$HERE/static-jwks/Cargo.lock")"
python3 -c '
import json, os, sys
e = os.environ
json.dump({"date": e["B_DATE"], "nproc": e["B_NPROC"], "cpu": e["B_CPU"], "kernel": e["B_KERNEL"],
  "wrk_version": e["B_WRK"], "threads": e["B_THREADS"], "conns": e["B_CONNS"],
  "duration": e["B_DURATION"], "runs": e["B_RUNS"], "pin": e["B_PIN"] == "1",
  "mock_idp_rev": e["B_REV"], "o2m_version": e["B_O2M"], "op_version": e["B_OP"],
  "node_version": e["B_NODE"], "axum_version": e["B_AXUM"], "load_start": e["B_LOAD_START"],
  "load_end": e["B_LOAD_END"], "starts": e["B_STARTS"], "idle_s": e["B_IDLE"],
  "pool": int(e["B_POOL"]),
  "cases": json.loads(e["B_CASES"])}, open(sys.argv[1], "w"), indent=1)' "$OUT/meta.json"
"${PY[@]}" report "$OUT" >"$OUT/results.md"
cat "$OUT/results.md"
log "results: $OUT/results.md (raw wrk outputs in $OUT/raw, server logs in $OUT/logs)"
