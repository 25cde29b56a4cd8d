#!/usr/bin/env bash
# Headless Chromium completes mock-idp's login and consent page to a loopback callback, and reads
# mock-idp's own page.
#
#   interop/as-clients/browser/run.sh
#
# Installs what it needs (Debian's chromium when /usr/bin/chromium is missing; playwright-core,
# pinned in package-lock.json, with `npm ci` when node_modules is missing or older than the
# lock), builds mock-idp, starts it on a free loopback port with `--ephemeral --consent page`,
# runs login_flow.mjs against it (approve, deny and a CSRF negative; see that file), then
# idp_page.mjs (the `/` page shows a refused request's reason; its mint form and demo flow work),
# and stops mock-idp again. Exits non-zero when any step of either script failed.
#
# Environment (all optional):
#   CHROMIUM               the browser binary (default /usr/bin/chromium; installed only then)
#   BROWSER_FLOW_TIMEOUT   seconds for login_flow.mjs (default 90; `timeout` kills it 30 s later)
#   MOCK_IDP_ARGS          extra flags for mock-idp
#
# Writes interop/as-clients/browser/out/ (gitignored): mock-idp.log, login_flow.log,
# results.json, exchanges.json (the script's own HTTP exchanges, codes and tokens redacted),
# consent.png, consent-filled.png, after-approve.png, after-deny.png; idp_page.log,
# idp-page-results.json, idp-page.png (the page with the refused request), idp-page-minted.png,
# idp-page-demo-consent.png, idp-page-demo.png.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
OUT=$HERE/out
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
FLOW_TIMEOUT=${BROWSER_FLOW_TIMEOUT:-90}
rm -rf "$OUT"
mkdir -p "$OUT"

# -- install -------------------------------------------------------------------------------------
if [[ ! -x $CHROMIUM ]]; then
  if [[ $CHROMIUM != /usr/bin/chromium ]]; then
    echo "run.sh: CHROMIUM=$CHROMIUM is not an executable" >&2
    exit 1
  fi
  echo "== installing chromium (Debian)"
  SUDO=()
  if [[ $(id -u) -ne 0 ]]; then SUDO=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  start=$SECONDS
  timeout 600 "${SUDO[@]}" apt-get update -q > "$OUT/apt.log" 2>&1 \
    && timeout 900 "${SUDO[@]}" apt-get install -y -q chromium >> "$OUT/apt.log" 2>&1 \
    || { tail -20 "$OUT/apt.log" >&2; echo "run.sh: installing chromium failed (see $OUT/apt.log)" >&2; exit 1; }
  echo "   chromium installed in $((SECONDS - start)) s"
fi
echo "== $("$CHROMIUM" --version 2>/dev/null | head -1)"

if [[ ! -f $HERE/node_modules/.package-lock.json ]] || [[ $HERE/package-lock.json -nt $HERE/node_modules/.package-lock.json ]]; then
  echo "== installing playwright-core (package-lock.json)"
  # playwright-core brings no browser of its own and downloads none.
  timeout 600 npm ci --prefix "$HERE" --no-audit --no-fund --loglevel=error
  [[ -f $HERE/node_modules/.package-lock.json ]] || { echo "run.sh: npm ci failed" >&2; exit 1; }
fi

# -- mock-idp ------------------------------------------------------------------------------------
echo "== building mock-idp"
(cd "$ROOT" && timeout 900 cargo build --quiet -p mock-idp)

IDP_PID=""
cleanup() {
  if [[ -n $IDP_PID ]]; then
    kill "$IDP_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$IDP_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$IDP_PID" 2>/dev/null || true
    wait "$IDP_PID" 2>/dev/null || true
    IDP_PID=""
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== starting mock-idp --port 0 --ephemeral --consent page ${MOCK_IDP_ARGS:-}"
# shellcheck disable=SC2086
"$ROOT/target/debug/mock-idp" --port 0 --ephemeral --consent page ${MOCK_IDP_ARGS:-} \
  > "$OUT/mock-idp.log" 2>&1 < /dev/null &
IDP_PID=$!
READY=""
for _ in $(seq 100); do
  READY=$(sed -n 's/^mock-idp ready //p' "$OUT/mock-idp.log" | head -1)
  [[ -n $READY ]] && break
  kill -0 "$IDP_PID" 2>/dev/null || break
  sleep 0.1
done
if [[ -z $READY ]]; then
  echo "run.sh: mock-idp printed no ready line within 10 s:" >&2
  cat "$OUT/mock-idp.log" >&2
  exit 1
fi
echo "   $(node -e 'console.log("issuer " + JSON.parse(process.argv[1]).issuer)' "$READY")"

# -- the browser flow ----------------------------------------------------------------------------
echo "== login_flow.mjs"
status=0
MOCK_IDP_READY=$READY CHROMIUM=$CHROMIUM BROWSER_FLOW_OUT=$OUT BROWSER_FLOW_TIMEOUT=$FLOW_TIMEOUT \
  timeout --kill-after=10 $((FLOW_TIMEOUT + 30)) node "$HERE/login_flow.mjs" < /dev/null 2>&1 \
  | tee "$OUT/login_flow.log" || status=$?
if [[ $status -eq 124 || $status -eq 137 ]]; then
  echo "run.sh: login_flow.mjs did not finish within $((FLOW_TIMEOUT + 30)) s" >&2
fi

echo "== idp_page.mjs"
page_status=0
MOCK_IDP_READY=$READY CHROMIUM=$CHROMIUM BROWSER_FLOW_OUT=$OUT BROWSER_FLOW_TIMEOUT=$FLOW_TIMEOUT \
  timeout --kill-after=10 $((FLOW_TIMEOUT + 30)) node "$HERE/idp_page.mjs" < /dev/null 2>&1 \
  | tee "$OUT/idp_page.log" || page_status=$?
if [[ $page_status -eq 124 || $page_status -eq 137 ]]; then
  echo "run.sh: idp_page.mjs did not finish within $((FLOW_TIMEOUT + 30)) s" >&2
fi
if [[ $status -eq 0 ]]; then status=$page_status; fi
exit "$status"
