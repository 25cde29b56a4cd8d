#!/usr/bin/env bash
# The logic of the GitHub Action (action.yml), kept in a script so that it runs, and is tested,
# outside GitHub too: scripts/test-action.sh runs it against the bundled reference server.
#
#   action.sh install   puts mcp-auth-conformance on PATH: the binary already there if its version
#                       fits, else the released archive (checksum verified), else `cargo install`
#   action.sh run       judges the server, writes the reports, the step summary, the step's outputs
#                       and one ::error annotation per unexpected MUST failure; always exits 0 and
#                       leaves the harness's exit code in the `exit-code` output, so that the reports
#                       are uploaded before the action fails
#
# Everything comes from the environment (action.yml maps each input to one variable, so no input is
# ever pasted into a shell command): INPUT_TARGET, INPUT_COMMAND, INPUT_SCOPE, INPUT_SPEC_VERSION,
# INPUT_CHECKS, INPUT_EXPECTED_FAILURES, INPUT_PROFILE, INPUT_OUT_DIR, INPUT_ARGS for `run`;
# MCP_AUTH_VERSION, MCP_AUTH_ACTION_REPOSITORY and MCP_AUTH_ACTION_REF for `install`; and GitHub's
# GITHUB_OUTPUT, GITHUB_STEP_SUMMARY and GITHUB_PATH files.
set -euo pipefail

readonly BIN_NAME=mcp-auth-conformance

# Appends name=value to the step's outputs (values here are single lines).
output() {
  echo "$1=$2" >> "${GITHUB_OUTPUT:-/dev/null}"
}

# The Rust target triple of the runner, for the release archive's name.
runner_target() {
  local os="${RUNNER_OS:-$(uname -s)}" arch="${RUNNER_ARCH:-$(uname -m)}"
  case "$os/$arch" in
    Linux/X64 | Linux/x86_64) echo x86_64-unknown-linux-gnu ;;
    Linux/ARM64 | Linux/aarch64) echo aarch64-unknown-linux-gnu ;;
    macOS/X64 | Darwin/x86_64) echo x86_64-apple-darwin ;;
    macOS/ARM64 | Darwin/arm64) echo aarch64-apple-darwin ;;
    Windows/X64) echo x86_64-pc-windows-msvc ;;
    *) return 1 ;;
  esac
}

sha256_of() {
  if command -v sha256sum > /dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  else
    shasum -a 256 "$1" | cut -d' ' -f1
  fi
}

# Downloads the release archive for this runner into $2/bin, checking the checksum published
# beside it. MCP_AUTH_RELEASES_URL replaces GitHub's release URLs (the local test serves a fake
# release on loopback).
download_release() {
  local version="$1" dir="$2" target base archive
  target="$(runner_target)" || {
    echo "no released binary for ${RUNNER_OS:-?}/${RUNNER_ARCH:-?}"
    return 1
  }
  local repo="${MCP_AUTH_ACTION_REPOSITORY:-}" proto='=https'
  if [[ -n "${MCP_AUTH_RELEASES_URL:-}" ]]; then
    base="$MCP_AUTH_RELEASES_URL"
    proto='=https,http'
  elif [[ -z "$repo" ]]; then
    echo "no repository to download a release from"
    return 1
  elif [[ "$version" == latest ]]; then
    base="https://github.com/$repo/releases/latest/download"
  else
    base="https://github.com/$repo/releases/download/v$version"
  fi
  archive="$BIN_NAME-$target.tar.xz"
  [[ "$target" == *windows* ]] && archive="$BIN_NAME-$target.zip"
  local work
  work="$(mktemp -d)"
  echo "downloading $base/$archive"
  curl --proto "$proto" --fail --silent --show-error --location --retry 3 \
    --max-time 300 --output "$work/$archive" "$base/$archive" || return 1
  curl --proto "$proto" --fail --silent --show-error --location --retry 3 \
    --max-time 60 --output "$work/$archive.sha256" "$base/$archive.sha256" || return 1
  local want got
  want="$(cut -d' ' -f1 < "$work/$archive.sha256")"
  got="$(sha256_of "$work/$archive")"
  if [[ "$want" != "$got" ]]; then
    echo "::error::checksum mismatch for $archive: published $want, downloaded $got"
    return 1
  fi
  mkdir -p "$work/unpacked" "$dir/bin"
  case "$archive" in
    # Windows runners' bash may lack unzip; their bsdtar reads zip archives.
    *.zip) unzip -q "$work/$archive" -d "$work/unpacked" 2> /dev/null || tar -xf "$work/$archive" -C "$work/unpacked" ;;
    *) tar -xJf "$work/$archive" -C "$work/unpacked" ;;
  esac
  # The archive holds the binary in a folder named after it (or at its root): take it from either.
  local exe
  exe="$(find "$work/unpacked" -type f \( -name "$BIN_NAME" -o -name "$BIN_NAME.exe" \) | head -n 1)"
  [[ -n "$exe" ]] || {
    echo "::error::$archive holds no $BIN_NAME binary"
    return 1
  }
  install -m 0755 "$exe" "$dir/bin/"
}

cmd_install() {
  local version="${MCP_AUTH_VERSION:-}"
  if [[ -z "$version" ]]; then
    # A released action (used at a tag vX.Y.Z) installs the harness of the same release.
    if [[ "${MCP_AUTH_ACTION_REF:-}" =~ ^v([0-9]+\.[0-9]+\.[0-9]+.*)$ ]]; then
      version="${BASH_REMATCH[1]}"
    else
      version=latest
    fi
  fi
  version="${version#v}"
  if command -v "$BIN_NAME" > /dev/null 2>&1; then
    local have
    have="$("$BIN_NAME" --version | cut -d' ' -f2)"
    if [[ "$version" == latest || "$have" == "$version" ]]; then
      echo "using $(command -v "$BIN_NAME") ($have)"
      return 0
    fi
  fi
  local dir="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/$BIN_NAME"
  if download_release "$version" "$dir"; then
    echo "installed the released binary $version into $dir/bin"
  elif [[ "${MCP_AUTH_CARGO_FALLBACK:-true}" == true ]] && command -v cargo > /dev/null 2>&1; then
    echo "no released binary; compiling with cargo install (a few minutes)"
    local pin=()
    [[ "$version" == latest ]] || pin=(--version "$version")
    cargo install --locked --root "$dir" ${pin[@]+"${pin[@]}"} "$BIN_NAME"
  else
    echo "::error::cannot install $BIN_NAME $version: no released binary for this runner and no cargo"
    return 1
  fi
  echo "$dir/bin" >> "${GITHUB_PATH:-/dev/null}"
  "$dir/bin/$BIN_NAME" --version
}

# jq filters that escape text for a workflow command: data ends at a newline and reads % as an
# escape; a property also ends at ':' and ','. Target text goes through them, so a server cannot
# write commands of its own into the log.
readonly JQ_ESCAPE='
  def data: gsub("%"; "%25") | gsub("\r"; "%0D") | gsub("\n"; "%0A");
  def prop: data | gsub(":"; "%3A") | gsub(","; "%2C");
'

# One ::error per MUST check that failed or could not be tested and is not expected by the
# baseline, and one per stale baseline entry.
annotations() {
  jq -r "$JQ_ESCAPE"'
    (.checks[]
      | select(.level == "MUST"
               and (.status == "fail" or .status == "not-testable")
               and (.expected_failure | not))
      | "::error title=\((if .status == "fail" then "MUST failed: " else "MUST not testable: " end) + .id | prop)::\(
          ([.title + ": " + .message]
           + (if .fix then ["fix: " + .fix] else [] end)
           + ["see: " + ([.references[].id] | join("; "))])
          | join("\n") | data)"),
    ((.baseline.stale // [])[]
      | "::error title=\("stale expected failure: " + . | prop)::\(
          "this entry of the expected-failures file now passes: remove it" | data)")
  ' "$1"
}

cmd_run() {
  local bin="${MCP_AUTH_BIN:-$BIN_NAME}"
  local out="${INPUT_OUT_DIR:-mcp-auth-report}"
  # The reports go to --out-dir only: no stray mcp-auth-report.json in the workspace.
  local args=(--out-dir "$out" --no-json)
  [[ -z "${INPUT_TARGET:-}" ]] || args+=(--target "$INPUT_TARGET")
  [[ -z "${INPUT_COMMAND:-}" ]] || args+=(--command "$INPUT_COMMAND")
  [[ -z "${INPUT_SPEC_VERSION:-}" ]] || args+=(--spec-version "$INPUT_SPEC_VERSION")
  [[ -z "${INPUT_EXPECTED_FAILURES:-}" ]] || args+=(--expected-failures "$INPUT_EXPECTED_FAILURES")
  [[ -z "${INPUT_PROFILE:-}" ]] || args+=(--profile "$INPUT_PROFILE")
  [[ -z "${GITHUB_STEP_SUMMARY:-}" ]] || args+=(--markdown "$GITHUB_STEP_SUMMARY")
  # Scopes and checks are lists separated by spaces, commas or newlines.
  local item scopes=() checks=() extra=()
  IFS=$' \t\n,' read -r -d '' -a scopes <<< "${INPUT_SCOPE:-}" || true
  IFS=$' \t\n,' read -r -d '' -a checks <<< "${INPUT_CHECKS:-}" || true
  for item in ${scopes[@]+"${scopes[@]}"}; do args+=(--scope "$item"); done
  for item in ${checks[@]+"${checks[@]}"}; do args+=(--check "$item"); done
  # Further flags, split at whitespace (no shell quoting: a value with spaces has its own input).
  IFS=$' \t\n' read -r -d '' -a extra <<< "${INPUT_ARGS:-}" || true
  args+=(${extra[@]+"${extra[@]}"})

  rm -f "$out/report.json"
  echo "$bin ${args[*]}"
  local code=0
  "$bin" "${args[@]}" || code=$?
  output exit-code "$code"

  if [[ ! -f "$out/report.json" ]]; then
    # Bad arguments, an unreachable server or a harness failure: there is no verdict to report.
    output conformant false
    output must ""
    output badge-message ""
    echo "::error title=mcp-auth-conformance::no report: the harness exited with $code before judging the server (see the log above)"
    return 0
  fi
  local conformant must badge
  conformant="$(jq -r '.summary.conformant' "$out/report.json")"
  must="$(jq -r '"\(.summary.must.passed)/\(.summary.must.applicable)"' "$out/report.json")"
  badge="$(jq -r '"\(.label): \(.message)"' "$out/shields.json")"
  output conformant "$conformant"
  output must "$must"
  output badge-message "$badge"
  output report-dir "$out"
  annotations "$out/report.json"
  echo "conformant: $conformant; MUST passed: $must; exit code $code"
}

case "${1:-}" in
  install) cmd_install ;;
  run) cmd_run ;;
  *)
    echo "usage: $0 install|run" >&2
    exit 2
    ;;
esac
