#!/usr/bin/env bash
# The nightly fuzz job: what a user's CI runs once a night (ci/github/nightly.yml does).
#
#   ci/nightly.sh                                   every default target, NIGHTLY_BUDGET s in all
#   ci/nightly.sh --budget 1800 --out nightly-out   the same, budget and out dir given
#   NIGHTLY_BUDGET=600 NIGHTLY_OUT=/cache/nightly ci/nightly.sh --targets double_close
#
# It installs what is missing, builds the asan tree (the libFuzzer binaries), and runs
# `scripts/lifeguard nightly` with the arguments given (defaults: --budget $NIGHTLY_BUDGET,
# 3600, and --out $NIGHTLY_OUT, build/nightly). Keep the out directory between runs (a CI
# cache): the working corpus and every crash input live there, and a killed run continues.
# Publish out/junit.xml (test report), out/results.sarif (code scanning), out/report.html
# and out/candidates/ (artifacts). Unless --no-merge-back is given, the grown corpus is
# merged into corpora/; commit it from the job to keep it.
#
# Then, unless NIGHTLY_SLOW_TESTS=0, the driver tests the gate leaves out (`pytest -m slow`:
# every fixed row clean in 100 separate processes) on the asan and plain trees, with their
# JUnit in out/slow-tests.xml.
#
# Exit status: nightly's own (0 no new crash, 1 new crashes: see candidates/, 2 bad input);
# 1 also when a slow test failed.
set -euo pipefail
cd "$(dirname "$0")/.."

budget=${NIGHTLY_BUDGET:-3600}
out=${NIGHTLY_OUT:-build/nightly}
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --budget) budget=${args[i + 1]:-}; i=$((i + 1)) ;;
    --budget=*) budget=${args[i]#--budget=} ;;
    --out) out=${args[i + 1]:-}; i=$((i + 1)) ;;
    --out=*) out=${args[i]#--out=} ;;
  esac
done

slow=${NIGHTLY_SLOW_TESTS:-1}
presets=(asan)
[[ $slow == 0 ]] || presets+=(plain)

scripts/install-deps --check >/dev/null || scripts/install-deps
for p in "${presets[@]}"; do
  echo "== build: $p"
  cmake --preset "$p" >/dev/null
  cmake --build --preset "$p" -j "$(nproc)"
done

echo "== nightly: budget ${budget} s, out ${out} (started $(date -u +%H:%M:%S))"
status=0
scripts/lifeguard nightly --budget "$budget" --out "$out" --no-build "$@" || status=$?
echo "== nightly: exit ${status} at $(date -u +%H:%M:%S); reports in ${out}/"
ls -l "$out"/summary.json "$out"/junit.xml "$out"/results.sarif "$out"/report.html 2>/dev/null || true

if [[ $slow != 0 ]]; then
  echo "== slow driver tests (started $(date -u +%H:%M:%S))"
  mkdir -p "$out"
  rc=0
  /usr/bin/python3 -m pytest tests/driver -q -m slow --preset asan --preset plain \
    --junitxml="$out/slow-tests.xml" || rc=$?
  echo "== slow driver tests: exit ${rc} at $(date -u +%H:%M:%S)"
  if [[ $rc -ne 0 && $status -eq 0 ]]; then status=1; fi
fi
exit $status
