#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The nightly clean-twin check of `lifeguard explore`: every clean twin of bench/kernels/
# run 10,000 times under each strategy (random and pct from seed 1; dfs until it has run
# every schedule within its bound, or 10,000 runs), each run in its own process under
# control. A twin is correct under every schedule, so any failure or hang is a bug, in the
# twin or in explore's control (harness/src/control.c): the job exits 1 and names it. Too
# long for the gate (hours on 2 cores); ci/github/nightly.yml runs it after the fuzzing.
#
#   ci/nightly-kernels.sh                          10,000 runs, out build/nightly
#   ci/nightly-kernels.sh --out DIR                the same, results in DIR/kernels-clean.json
#   KERNELS_RUNS=1000 ci/nightly-kernels.sh --only lock_order,refcount
#
# The results go to OUT/kernels-clean.json, rewritten after every twin and strategy; run it
# again with the same --out and it goes on where it stopped (measure.py --resume: a twin and
# strategy already done is not run again, one cut short starts over). Other arguments go to
# bench/kernels/measure.py (--only, --clean-budget S, --clean-timeout S, --jobs J; the
# default is one pair per core). Runs at low priority (nice) so that it can share a machine.
#
# Exit status: measure.py's (0 every twin clean; 1 a twin failed or hung; 2 bad input).
set -euo pipefail
cd "$(dirname "$0")/.."

out=${NIGHTLY_OUT:-build/nightly}
runs=${KERNELS_RUNS:-10000}
args=()
while (($#)); do
  case "$1" in
    --out) out=${2:-}; shift 2 ;;
    --out=*) out=${1#--out=}; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
if [[ -z "$out" ]]; then
  echo "nightly-kernels: --out needs a directory" >&2
  exit 2
fi

scripts/install-deps --check >/dev/null || scripts/install-deps
echo "== build: plain"
cmake --preset plain >/dev/null
cmake --build --preset plain -j "$(nproc)"

mkdir -p "$out"
echo "== clean twins: ${runs} runs per twin and strategy, results in ${out}/kernels-clean.json" \
  "(started $(date -u +%H:%M:%S))"
status=0
nice -n 10 /usr/bin/python3 bench/kernels/measure.py --modes random,pct,dfs --clean-only \
  --clean-runs "$runs" --jobs "$(nproc)" --resume "$out/kernels-clean.json" "${args[@]}" \
  || status=$?
echo "== clean twins: exit ${status} at $(date -u +%H:%M:%S)"
exit $status
