#!/usr/bin/env bash
# Creates (or refreshes) interop/.venv from the pinned lock, only when the lock changed.
# Used by interop/run.sh and interop/as-clients/python/run.sh; never commits anything.
#
#   interop/python/ensure-venv.sh      prints nothing but install progress; exits non-zero on failure
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VENV=$ROOT/interop/.venv
lock=$ROOT/interop/python/requirements.lock
stamp=$VENV/.lock.sha256
want=$(sha256sum "$lock" | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  echo "== installing the Python targets' pinned environment"
  rm -rf "$VENV"
  # Some Debian Pythons ship without ensurepip; virtualenv from pip does the same job there.
  python3 -m venv "$VENV" 2>/dev/null || {
    rm -rf "$VENV"
    python3 -m pip install --quiet --disable-pip-version-check --user virtualenv
    python3 -m virtualenv --quiet "$VENV"
  }
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$lock"
  "$VENV/bin/pip" check
  echo "$want" > "$stamp"
fi
