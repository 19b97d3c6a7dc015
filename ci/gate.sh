#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The regression gate: build every configuration and run every test in each.
# `make test` runs this; CI runs `make test`.
#
# The trees' tests run side by side (each CTest run is mostly one pytest process driving one
# scenario program at a time, so two trees fill the two cores); each tree's output goes to
# build/<preset>/gate.log and is printed whole when both are done, one tree after the other.
# While they run, a line at least every 10 s says what each tree is doing: the CTest test
# that last started or ended, and for the driver tests the pytest count
# (build/<preset>/driver-progress, which tests/driver/conftest.py keeps with
# LIFEGUARD_PROGRESS).
set -euo pipefail
cd "$(dirname "$0")/.."

presets=(asan plain)
stages=$(( ${#presets[@]} * 2 ))
stage=0
for p in "${presets[@]}"; do
  stage=$((stage + 1))
  echo "== gate ${stage}/${stages}: build ${p} ($(date -u +%H:%M:%S))"
  cmake --preset "$p" >/dev/null
  cmake --build --preset "$p" -j 2
done

# What tree $1 is doing now, in one line.
doing() {
  local log="build/$1/gate.log" progress="build/$1/driver-progress" last
  last=$(grep -E '^ *(Start +[0-9]+:|[0-9]+/[0-9]+ Test +#)' "$log" 2>/dev/null | tail -n 1 |
         tr -s ' ' || true)
  if [[ -s $progress ]] && ! grep -qE 'Test +#[0-9]+: driver ' "$log" 2>/dev/null; then
    echo "driver: $(head -n 1 "$progress")"
  else
    echo "${last:-starting}"
  fi
}

declare -A pid
for p in "${presets[@]}"; do
  stage=$((stage + 1))
  rm -f "build/$p/driver-progress"
  echo "== gate ${stage}/${stages}: test ${p} ($(date -u +%H:%M:%S), output in build/$p/gate.log)"
  LIFEGUARD_PROGRESS="$PWD/build/$p/driver-progress" ctest --preset "$p" >"build/$p/gate.log" 2>&1 &
  pid[$p]=$!
done

started=$SECONDS
running() { local p; for p in "${presets[@]}"; do kill -0 "${pid[$p]}" 2>/dev/null && return 0; done; return 1; }
while running; do
  for _ in $(seq 10); do running && sleep 1; done
  for p in "${presets[@]}"; do
    if kill -0 "${pid[$p]}" 2>/dev/null; then
      echo "== test ${p}: still running after $((SECONDS - started)) s: $(doing "$p")"
    fi
  done
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
