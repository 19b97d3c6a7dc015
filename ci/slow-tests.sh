#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The driver tests the gate leaves out (`pytest -m slow`: every fixed row clean in 100
# separate processes, the runtime suite's faults 20 times), on the asan and plain trees.
# `make slow-tests` runs this; ci/github/nightly.yml runs it as its own step after fuzzing.
#
#   ci/slow-tests.sh                  JUnit in build/slow-tests.xml
#   ci/slow-tests.sh out/slow.xml     JUnit there
#
# Exit status: pytest's (0 every slow test passed).
set -euo pipefail
cd "$(dirname "$0")/.."

junit=${1:-build/slow-tests.xml}
scripts/install-deps --check >/dev/null || scripts/install-deps
for p in asan plain; do
  echo "== slow tests: build $p"
  cmake --preset "$p" >/dev/null
  cmake --build --preset "$p" -j "$(nproc)"
done
mkdir -p "$(dirname "$junit")"
echo "== slow tests: pytest -m slow on asan and plain (started $(date -u +%H:%M:%S))"
rc=0
/usr/bin/python3 -m pytest tests/driver -m slow --preset asan --preset plain \
  --junitxml="$junit" || rc=$?
echo "== slow tests: exit ${rc} at $(date -u +%H:%M:%S); JUnit in ${junit}"
exit $rc
