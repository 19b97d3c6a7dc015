#!/usr/bin/env bash
# The regression gate: build every configuration and run every test in each.
# `make test` runs this; CI runs `make test`.
#
# The trees' tests run side by side (each CTest run is mostly one pytest process driving one
# scenario program at a time, so two trees fill the two cores); each tree's output goes to
# build/<preset>/gate.log and is printed whole when both are done, one tree after the other.
set -euo pipefail
cd "$(dirname "$0")/.."

presets=(asan plain)
for p in "${presets[@]}"; do
  echo "== build: $p"
  cmake --preset "$p" >/dev/null
  cmake --build --preset "$p" -j 2
done

declare -A pid
for p in "${presets[@]}"; do
  echo "== test: $p (started $(date -u +%H:%M:%S), output in build/$p/gate.log)"
  ctest --preset "$p" >"build/$p/gate.log" 2>&1 &
  pid[$p]=$!
done
status=0
for p in "${presets[@]}"; do
  rc=0
  wait "${pid[$p]}" || rc=$?
  echo "== test: $p: $([ "$rc" -eq 0 ] && echo passed || echo "FAILED (ctest exit $rc)") at $(date -u +%H:%M:%S)"
  cat "build/$p/gate.log"
  [ "$rc" -eq 0 ] || status=1
done
exit $status
