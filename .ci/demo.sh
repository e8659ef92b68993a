#!/usr/bin/env bash
# The whole smctl flow on the sklearn preset, in a temporary folder; leaves no container, image or folder behind.
# Usage: bash .ci/demo.sh [SMCTL]   (default: .venv/bin/smctl, else smctl on PATH)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
SMCTL=${1:-}
if [ -z "$SMCTL" ]; then
  if [ -x "$here/.venv/bin/smctl" ]; then SMCTL="$here/.venv/bin/smctl"; else SMCTL=smctl; fi
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/smctl-demo.XXXXXX")
name="demo-$$"
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
cleanup() {
  status=$?
  step "cleanup"
  (cd "$work/$name" 2>/dev/null && "$SMCTL" local-stop "$name" >/dev/null 2>&1) || true
  docker rmi -f "$name:latest" >/dev/null 2>&1 || true
  rm -rf "$work"
  echo "removed $work, the endpoint and the image"
  exit $status
}
trap cleanup EXIT INT TERM

cd "$work"
step "smctl init $name --preset sklearn"
"$SMCTL" init "$name" --preset sklearn
cd "$name"
step "smctl build"
"$SMCTL" build
step "smctl local-train (channel 'training' = data/train, from smctl.toml)"
"$SMCTL" local-train --job-name "$name-train"
step "smctl package inspect .smctl/output/model.tar.gz"
"$SMCTL" package inspect .smctl/output/model.tar.gz
step "smctl local-serve --detach --port 0"
"$SMCTL" local-serve --detach --port 0 --name "$name" --model .smctl/output/model.tar.gz
step "smctl invoke $name --data @data/payload.csv"
"$SMCTL" invoke "$name" --data @data/payload.csv --accept text/csv > predictions.csv
step "smctl local-transform (data/batch, one line per record)"
"$SMCTL" local-transform --model .smctl/output/model.tar.gz --input data/batch --output transform-out
step "smctl doctor"
"$SMCTL" doctor || echo "(doctor found something to fix above; the demo goes on)"
step "predictions for data/payload.csv"
paste -d' ' <(cut -c1-40 data/payload.csv) <(sed 's/^/-> /' predictions.csv)
step "batch transform output"
find transform-out -name '*.out' -exec sh -c 'echo "$1:"; head -5 "$1"' _ {} \;
