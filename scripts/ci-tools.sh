#!/usr/bin/env bash
# Installs the pinned tools the packaging checks of .ci/run need, once per machine or checkout, and
# prints nothing else but what it installs:
#   - zizmor, hadolint and actionlint from PyPI wheels (scripts/ci-tools.txt, hashes checked) into
#     target/ci-tools/venv;
#   - shellcheck from Debian (actionlint checks `run:` scripts with it), when missing;
#   - dist (cargo-dist) from crates.io into ~/.cargo/bin, when that version is missing: the one slow
#     step (a release build of about 400 crates), kept by the machine for later runs.
# Callers then put target/ci-tools/venv/bin and ~/.cargo/bin on PATH (.ci/run does).
set -euo pipefail
cd "$(dirname "$0")/.."

readonly DIST_VERSION=0.34.0
readonly SHELLCHECK_VERSION=0.9.0-1

venv=target/ci-tools/venv
stamp="$venv/.requirements.sha256"
want="$(sha256sum scripts/ci-tools.txt | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  echo "== installing zizmor, hadolint and actionlint (scripts/ci-tools.txt)"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --require-hashes -r scripts/ci-tools.txt
  echo "$want" > "$stamp"
fi

if ! command -v shellcheck > /dev/null 2>&1; then
  echo "== installing shellcheck $SHELLCHECK_VERSION (Debian)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "shellcheck=$SHELLCHECK_VERSION" > /dev/null
fi

dist_bin="${CARGO_HOME:-$HOME/.cargo}/bin/dist"
if [[ ! -x "$dist_bin" || "$("$dist_bin" --version 2> /dev/null)" != "cargo-dist $DIST_VERSION" ]]; then
  echo "== installing dist (cargo-dist) $DIST_VERSION from crates.io (a release build, several minutes)"
  cargo install --quiet --locked cargo-dist --version "$DIST_VERSION"
fi
