#!/usr/bin/env bash
# Tests the GitHub Action's logic (scripts/action.sh) on this machine, without GitHub: fake
# GITHUB_OUTPUT, GITHUB_STEP_SUMMARY and GITHUB_PATH files, the harness's bundled reference server
# (a correct variant and a broken one), a release archive served on loopback, and a report whose
# text tries to write workflow commands of its own. Everything listens on 127.0.0.1, every harness
# run is bounded by `timeout`, and the file server is stopped by its PID.
#
#   scripts/test-action.sh      ends with "test-action: N passed, 0 failed"; exits non-zero on a failure
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

cargo build --quiet -p mcp-auth-conformance
HARNESS="$ROOT/target/debug/mcp-auth-conformance"
VERSION="$("$HARNESS" --version | cut -d' ' -f2)"

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [[ -n "$SERVER_PID" ]]; then kill "$SERVER_PID" 2> /dev/null || true; fi
  [[ -n "${KEEP_WORK:-}" ]] || rm -rf "$WORK"
}
trap cleanup EXIT

passed=0
pass() {
  passed=$((passed + 1))
  echo "ok: $*"
}
fail() {
  echo "FAIL: $*" >&2
  echo "test-action: $passed passed, 1 failed"
  exit 1
}

# The value of one output in a GITHUB_OUTPUT file (the last one written).
output_of() {
  grep "^$2=" "$1" | tail -n 1 | cut -d= -f2-
}

# Runs `action.sh run` in its own folder with fresh GitHub files; the harness is bounded in time.
# Usage: run_action NAME VAR=VALUE...; leaves $WORK/NAME/{out,summary.md,log} and the reports.
run_action() {
  local name="$1"
  shift
  local dir="$WORK/$name"
  mkdir -p "$dir"
  printf '#!/bin/sh\nexec timeout -k 10 300 %q "$@"\n' "$HARNESS" > "$dir/harness"
  chmod +x "$dir/harness"
  (cd "$dir" && env CI=true NO_COLOR=1 MCP_AUTH_BIN="$dir/harness" \
    GITHUB_OUTPUT="$dir/out" GITHUB_STEP_SUMMARY="$dir/summary.md" "$@" \
    bash "$ROOT/scripts/action.sh" run > "$dir/log" 2>&1) || fail "$name: action.sh run exited non-zero: $(tail -n 20 "$dir/log")"
}

# 1. install: a binary already on PATH whose version fits is used as it is.
out="$(env PATH="$ROOT/target/debug:$PATH" MCP_AUTH_VERSION="v$VERSION" GITHUB_PATH="$WORK/path-1" \
  bash scripts/action.sh install)"
[[ "$out" == "using $ROOT/target/debug/mcp-auth-conformance ($VERSION)" ]] || fail "install kept the binary on PATH: $out"
pass "install uses a fitting binary already on PATH"

# 2. install: the release archive for this runner, as cargo-dist names and packs it, downloaded from
# a release served on loopback, its checksum checked, the folder added to GITHUB_PATH.
TRIPLE=x86_64-unknown-linux-gnu
release="$WORK/release"
mkdir -p "$release/mcp-auth-conformance-$TRIPLE"
# Stripped and lightly compressed: the debug build is large, and only the packing matters here.
strip -o "$release/mcp-auth-conformance-$TRIPLE/mcp-auth-conformance" "$HARNESS"
tar -C "$release" -cf - "mcp-auth-conformance-$TRIPLE" | xz -0 > "$release/mcp-auth-conformance-$TRIPLE.tar.xz"
(cd "$release" && sha256sum "mcp-auth-conformance-$TRIPLE.tar.xz" > "mcp-auth-conformance-$TRIPLE.tar.xz.sha256")
python3 -c '
import functools, http.server, sys
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
print(server.server_address[1], flush=True)
server.serve_forever()
' "$release" > "$WORK/port" 2> "$WORK/http.log" &
SERVER_PID=$!
for _ in $(seq 50); do
  [[ -s "$WORK/port" ]] && break
  sleep 0.1
done
[[ -s "$WORK/port" ]] || fail "the loopback release server did not start: $(cat "$WORK/http.log")"
RELEASES="http://127.0.0.1:$(cat "$WORK/port")"
# A PATH without the built binary, so the install cannot find it there.
clean_path=/usr/local/bin:/usr/bin:/bin
env PATH="$clean_path" RUNNER_OS=Linux RUNNER_ARCH=X64 RUNNER_TEMP="$WORK/runner" \
  MCP_AUTH_VERSION="$VERSION" MCP_AUTH_RELEASES_URL="$RELEASES" MCP_AUTH_CARGO_FALLBACK=false \
  GITHUB_PATH="$WORK/path-2" bash scripts/action.sh install > "$WORK/install.log" 2>&1 ||
  fail "install from the loopback release: $(cat "$WORK/install.log")"
[[ "$(cat "$WORK/path-2")" == "$WORK/runner/mcp-auth-conformance/bin" ]] || fail "GITHUB_PATH: $(cat "$WORK/path-2")"
"$WORK/runner/mcp-auth-conformance/bin/mcp-auth-conformance" --version | grep -q "$VERSION" ||
  fail "the installed binary does not run"
pass "install downloads the release archive, checks its checksum and adds it to GITHUB_PATH"

# 3. install: a checksum that does not match is refused (and nothing is installed).
echo "0000000000000000000000000000000000000000000000000000000000000000  x" > "$release/mcp-auth-conformance-$TRIPLE.tar.xz.sha256"
if env PATH="$clean_path" RUNNER_OS=Linux RUNNER_ARCH=X64 RUNNER_TEMP="$WORK/runner-bad" \
  MCP_AUTH_VERSION="$VERSION" MCP_AUTH_RELEASES_URL="$RELEASES" MCP_AUTH_CARGO_FALLBACK=false \
  GITHUB_PATH="$WORK/path-3" bash scripts/action.sh install > "$WORK/install-bad.log" 2>&1; then
  fail "a tampered archive was installed"
fi
grep -q "::error::checksum mismatch" "$WORK/install-bad.log" || fail "no checksum error: $(cat "$WORK/install-bad.log")"
[[ ! -e "$WORK/runner-bad/mcp-auth-conformance/bin/mcp-auth-conformance" ]] || fail "a binary was left behind"
pass "install refuses an archive whose checksum does not match"
kill "$SERVER_PID" 2> /dev/null || true
wait "$SERVER_PID" 2> /dev/null || true
SERVER_PID=""

# 4. run: the bundled reference server, conformant; scopes and checks as lists.
run_action conformant INPUT_SCOPE="mcp:tools"
d="$WORK/conformant"
[[ "$(output_of "$d/out" exit-code)" == 0 ]] || fail "conformant: exit-code $(output_of "$d/out" exit-code): $(tail -n 30 "$d/log")"
[[ "$(output_of "$d/out" conformant)" == true ]] || fail "conformant: conformant output"
must="$(output_of "$d/out" must)"
[[ "$must" =~ ^([0-9]+)/([0-9]+)$ && "${BASH_REMATCH[1]}" == "${BASH_REMATCH[2]}" && "${BASH_REMATCH[1]}" -gt 0 ]] || fail "conformant: must=$must"
[[ "$(output_of "$d/out" badge-message)" == "MCP auth: $must MUST" ]] || fail "conformant: badge-message $(output_of "$d/out" badge-message)"
[[ "$(output_of "$d/out" report-dir)" == mcp-auth-report ]] || fail "conformant: report-dir"
grep -q "^## MCP authorization conformance: ✅ conformant" "$d/summary.md" || fail "conformant: step summary: $(head -n 3 "$d/summary.md")"
for f in report.json checks.json junit.xml summary.md badge.svg shields.json; do
  [[ -s "$d/mcp-auth-report/$f" ]] || fail "conformant: no $f in --out-dir"
done
[[ ! -e "$d/mcp-auth-report.json" ]] || fail "conformant: a stray mcp-auth-report.json"
! grep -q "^::error" "$d/log" || fail "conformant: annotations on a conformant server: $(grep "^::error" "$d/log")"
pass "run on a conformant server: outputs, step summary, every report, no annotation"

# 5. run: a variant that accepts tokens for other audiences; one annotation per failing MUST.
run_action faulty INPUT_ARGS="--reference-variant ignores-audience" INPUT_CHECKS="jwt, aud,scope"
d="$WORK/faulty"
[[ "$(output_of "$d/out" exit-code)" == 1 ]] || fail "faulty: exit-code $(output_of "$d/out" exit-code)"
[[ "$(output_of "$d/out" conformant)" == false ]] || fail "faulty: conformant output"
mapfile -t failing < <(jq -r '.checks[] | select(.level == "MUST" and (.status == "fail" or .status == "not-testable")) | .id' "$d/mcp-auth-report/report.json")
[[ "${#failing[@]}" -gt 0 ]] || fail "faulty: the variant failed no MUST"
[[ "$(grep -c "^::error " "$d/log")" == "${#failing[@]}" ]] || fail "faulty: ${#failing[@]} failing MUSTs, annotations: $(grep "^::error" "$d/log")"
for id in "${failing[@]}"; do
  grep -q "^::error title=MUST failed%3A $id::" "$d/log" || fail "faulty: no annotation for $id"
done
grep -q "^## MCP authorization conformance: ❌ not conformant" "$d/summary.md" || fail "faulty: step summary"
pass "run on a broken variant: one ::error per failing MUST (${failing[*]})"

# 6. run: an expected-failures file forgives all but the first failure and has one stale entry.
{
  echo "server:"
  for id in "${failing[@]:1}"; do echo "  - $id"; done
  echo "  - jwt.valid-accepted"
} > "$WORK/expected.yml"
run_action baseline INPUT_ARGS="--reference-variant ignores-audience" INPUT_CHECKS="jwt aud scope" \
  INPUT_EXPECTED_FAILURES="$WORK/expected.yml"
d="$WORK/baseline"
[[ "$(output_of "$d/out" exit-code)" == 1 ]] || fail "baseline: exit-code $(output_of "$d/out" exit-code)"
[[ "$(grep -c "^::error " "$d/log")" == 2 ]] || fail "baseline: annotations: $(grep "^::error" "$d/log")"
grep -q "^::error title=MUST failed%3A ${failing[0]}::" "$d/log" || fail "baseline: the unlisted failure"
grep -q "^::error title=stale expected failure%3A jwt.valid-accepted::" "$d/log" || fail "baseline: the stale entry"
pass "run with expected failures: only the unlisted failure and the stale entry are annotated"

# 7. run: text from the server cannot start workflow commands of its own or break an annotation.
fake="$WORK/hostile/fake-harness"
mkdir -p "$WORK/hostile"
cat > "$fake" << 'EOF'
#!/bin/sh
# Stands in for the harness: writes a report whose text carries newlines, % and workflow commands.
while [ "$#" -gt 0 ]; do
  if [ "$1" = --out-dir ]; then dir="$2"; fi
  shift
done
mkdir -p "$dir"
cat > "$dir/report.json" << 'JSON'
{"summary": {"conformant": false, "must": {"passed": 0, "applicable": 1}},
 "checks": [{"id": "rs.x, y: z", "level": "MUST", "status": "fail", "title": "t",
   "message": "100% bad\n::add-mask::secret\r\n::warning::fake", "references": [{"id": "RFC 1"}]}]}
JSON
echo '{"label": "MCP auth", "message": "0/1 MUST"}' > "$dir/shields.json"
exit 1
EOF
chmod +x "$fake"
(cd "$WORK/hostile" && env MCP_AUTH_BIN="$fake" GITHUB_OUTPUT="$WORK/hostile/out" bash "$ROOT/scripts/action.sh" run > "$WORK/hostile/log" 2>&1) ||
  fail "hostile: action.sh run exited non-zero"
[[ "$(grep -c "^::" "$WORK/hostile/log")" == 1 ]] || fail "hostile: workflow commands: $(grep "^::" "$WORK/hostile/log")"
grep -qF "::error title=MUST failed%3A rs.x%2C y%3A z::t: 100%25 bad%0A::add-mask::secret%0D%0A::warning::fake%0Asee: RFC 1" "$WORK/hostile/log" ||
  fail "hostile: escaping: $(cat "$WORK/hostile/log")"
pass "run escapes report text in annotations (no command of the server's own)"

echo "test-action: $passed passed, 0 failed"
