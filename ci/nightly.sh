#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The nightly fuzz job: what a user's CI runs once a night (ci/github/nightly.yml does).
#
#   ci/nightly.sh                                   every default target, NIGHTLY_BUDGET s in all
#   ci/nightly.sh --budget 1800 --out nightly-out   the same, budget and out dir given
#   NIGHTLY_BUDGET=600 NIGHTLY_OUT=/cache/nightly ci/nightly.sh --targets double_close
#
# It installs what is missing, builds the asan tree (the libFuzzer binaries), and runs
# `scripts/lifeguard nightly` with the arguments given (defaults: --budget $NIGHTLY_BUDGET,
# 3600, and --out $NIGHTLY_OUT, build/nightly). Keep the out directory between runs (a CI
# cache): the working corpus (OUT/corpus/) and every crash input live there, and a killed
# run continues. Publish out/junit.xml (test report), out/results.sarif (code scanning),
# out/report.html and out/candidates/ (artifacts). The repository's corpora/ are only read:
# merging the grown corpus into them is its own step (`make nightly-merge`, or
# `scripts/lifeguard nightly --merge-only --out OUT`), and so are the slow driver tests
# (`make slow-tests`, ci/slow-tests.sh).
#
# Exit status: nightly's own (0 no new crash; 1 new crashes, see candidates/, or a fuzzer
# that was killed; 2 bad input).
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

scripts/install-deps --check >/dev/null || scripts/install-deps
echo "== build: asan"
cmake --preset asan >/dev/null
cmake --build --preset asan -j "$(nproc)"

echo "== nightly: budget ${budget} s, out ${out} (started $(date -u +%H:%M:%S))"
status=0
scripts/lifeguard nightly --budget "$budget" --out "$out" --no-build "$@" || status=$?
echo "== nightly: exit ${status} at $(date -u +%H:%M:%S); reports in ${out}/"
ls -l "$out"/summary.json "$out"/junit.xml "$out"/results.sarif "$out"/report.html 2>/dev/null || true
exit $status
