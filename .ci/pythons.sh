#!/usr/bin/env bash
# The unit and CLI suites on every other Python smctl supports: pyenv's 3.10, 3.12 and 3.13 and Debian 12's own
# python3 (3.11.2, older than the tarfile filters of 3.11.4). The full suite runs on .venv's Python (make test).
# Usage: bash .ci/pythons.sh [PYTHON...]   (default: the four above; under CI=true a missing one fails the run)
set -euo pipefail
cd "$(dirname "$0")/.."
STATE_DIR="${SMCTL_CI_STATE:-/tmp/smctl-ci}"
export PYTHONDONTWRITEBYTECODE=1  # no __pycache__ inside templates/ or tests/golden/ (the golden tests list files)
log() { printf '[pythons] %s\n' "$*" >&2; }

find_pyenv() {  # newest pyenv build of a minor version, e.g. 3.10 -> ~/.pyenv/versions/3.10.13/bin/python
  local root
  root=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")
  ls -d "$root"/versions/"$1".*/bin/python 2>/dev/null | sort -V | tail -1
}

if [ "$#" -gt 0 ]; then
  pythons=("$@")
else
  pythons=("$(find_pyenv 3.10)" "$(find_pyenv 3.12)" "$(find_pyenv 3.13)" /usr/bin/python3)
fi

failed=()
for py in "${pythons[@]}"; do
  if [ -z "$py" ] || ! [ -x "$py" ]; then
    if [ "${CI:-}" = true ]; then log "a Python this run needs is missing (${py:-pyenv build})"; exit 1; fi
    log "skipping a missing Python (${py:-pyenv build})"; continue
  fi
  version=$("$py" -c 'import sys; print(".".join(map(str, sys.version_info[:3])))')
  venv="$STATE_DIR/venv-$version-$(echo "$py" | md5sum | cut -c1-6)"
  log "Python $version ($py)"
  if ! [ -x "$venv/bin/python" ]; then
    "$py" -m venv "$venv" || { log "cannot make a venv with $py (Debian: apt-get install python3-venv)"; exit 1; }
  fi
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -e '.[test]' >"$venv.install.log" 2>&1 \
    || { tail -20 "$venv.install.log" >&2; failed+=("$version (install)"); continue; }
  if ! "$venv/bin/python" -m pytest -q -n 2 -p no:cacheprovider tests/unit tests/cli; then
    failed+=("$version")
  fi
done
if [ "${#failed[@]}" -gt 0 ]; then log "failed on: ${failed[*]}"; exit 1; fi
log "unit and CLI suites passed on: ${pythons[*]}"
