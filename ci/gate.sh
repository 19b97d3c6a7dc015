#!/usr/bin/env bash
# The regression gate: build every configuration and run every test in each.
# `make test` runs this; CI runs `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."

presets=(asan plain)
for p in "${presets[@]}"; do
  echo "== build: $p"
  cmake --preset "$p" >/dev/null
  cmake --build --preset "$p" -j 2
done
status=0
for p in "${presets[@]}"; do
  echo "== test: $p"
  ctest --preset "$p" || status=1
done
exit $status
