#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# make coverage: what the committed corpora reach. Builds every fuzz target's replay main in the
# coverage tree (build/coverage: clang -fprofile-instr-generate -fcoverage-mapping, no
# sanitizer), replays corpora/<target>/ and the inputs of corpora/regressions/<target>/ with no
# fault switch (the fixed code), corpora/inject/<target>/ with failure injection on
# (LIFEGUARD_OPTIONS=inject_max=2, no fault switch: the fixed code's error paths), then each regression again with the fault switch its sidecar
# names (both ways, as the gate replays them: the lines behind a switch are reached only so),
# merges the profiles and writes
#   build/coverage/html/index.html   line-by-line report of runtime/ and harness/
#   build/coverage/report.txt        llvm-cov report: per file, and the totals printed here
#   build/coverage/unreached.txt     the lines of runtime/ no input reached (docs/COVERAGE.md
#                                    says why for each)
# and prints the line coverage of runtime/ twice: on the fixed code alone, and with the
# regressions' fault replays. With every target replayed it fails (exit 1) when the latter is
# below COVERAGE_MIN percent (default 90). COVERAGE_TARGETS="a b" narrows the targets (and
# checks no threshold).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
tree=build/coverage

tool() {  # Debian's llvm names them llvm-profdata-14 / llvm-cov-14 (and unversioned, sometimes)
  local t
  for t in "$1-14" "$1" "/usr/lib/llvm-14/bin/$1"; do
    if command -v "$t" >/dev/null; then command -v "$t"; return; fi
  done
  echo "ci/coverage.sh: $1 not found (Debian package llvm-14)" >&2
  exit 2
}
profdata=$(tool llvm-profdata)
cov=$(tool llvm-cov)

all=$(cd fuzz && grep -l '^int LLVMFuzzerTestOneInput(.*{' ./*.c | sed 's|^\./||; s|\.c$||' | sort)
read -r -d '' -a targets <<<"${COVERAGE_TARGETS:-$all}" || true

cmake --preset coverage >/dev/null
cmake --build --preset coverage -j 2 --target lgrt_drv "${targets[@]/%/_replay}"

# The failure-injection bound corpora/inject/ is replayed with (corpora/README.md).
INJECT_MAX=2

rm -rf "$tree/profraw" "$tree/profraw-faults" "$tree/html" "$tree"/replay-*.log
mkdir -p "$tree/profraw" "$tree/profraw-faults"
objects=()
for t in "${targets[@]}"; do
  inputs=("corpora/$t")
  if [ -d "corpora/regressions/$t" ]; then
    while IFS= read -r f; do inputs+=("$f"); done \
      < <(find "corpora/regressions/$t" -type f ! -name '*.json' ! -name '.*' | sort)
  fi
  # %4m: one pool of merged profiles per binary, so libdrv.so's profile, written at every
  # dlclose, adds up instead of each unload overwriting the last.
  LLVM_PROFILE_FILE="$root/$tree/profraw/$t-%4m.profraw" \
    "$tree/fuzz/${t}_replay" "${inputs[@]}" >"$tree/replay-$t.log" 2>&1 \
    || { echo "ci/coverage.sh: $t: replay failed, see $tree/replay-$t.log" >&2; exit 1; }
  echo "$t: $(tail -n 1 "$tree/replay-$t.log")"
  # corpora/inject/<target>/: inputs that make the runtime's calls fail (failure injection, at
  # most INJECT_MAX failures each, as `lifeguard fuzz --inject` found them). Still the fixed
  # code, so they count on the fixed code alone; a fixed variant must survive every one.
  if [ -d "corpora/inject/$t" ]; then
    inject=()
    while IFS= read -r f; do inject+=("$f"); done \
      < <(find "corpora/inject/$t" -type f ! -name '.*' | sort)
    env -u LIFEGUARD_FAULTS -u LG_FUZZ_UNTIL LIFEGUARD_OPTIONS="inject_max=$INJECT_MAX" \
      LLVM_PROFILE_FILE="$root/$tree/profraw/$t-%4m.profraw" \
      "$tree/fuzz/${t}_replay" "${inject[@]}" >"$tree/replay-$t-inject.log" 2>&1 \
      || { echo "ci/coverage.sh: $t: injected replay failed, see $tree/replay-$t-inject.log" >&2
           exit 1; }
    echo "$t: $(tail -n 1 "$tree/replay-$t-inject.log") with failure injection" \
      "(inject_max=$INJECT_MAX)"
  fi
  objects+=(-object "$tree/fuzz/${t}_replay")
  # Each regression with its fault switch (and its sidecar's options): it reports its fault and
  # dies; the replay main's crash hook writes the profile first. Whether the fault is found is
  # tests/driver/test_regressions.py's business, not this one's.
  faulted=0
  for sidecar in corpora/regressions/"$t"/*.json; do
    [ -f "$sidecar" ] || continue
    IFS='|' read -r fault options until < <(/usr/bin/python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
print(m["fault"], m.get("options", ""), m.get("until", ""), sep="|")' "$sidecar")
    # (in a subshell whose stderr is the log: the shell's own "Aborted" line goes there too)
    (env -u LIFEGUARD_OPTIONS -u LG_FUZZ_UNTIL LIFEGUARD_FAULTS="$fault" \
      ${options:+LIFEGUARD_OPTIONS="$options"} ${until:+LG_FUZZ_UNTIL="$until"} \
      LLVM_PROFILE_FILE="$root/$tree/profraw-faults/$t-%p.profraw" \
      timeout 300 "$tree/fuzz/${t}_replay" "${sidecar%.json}"; exit $?) \
      >>"$tree/replay-$t-faults.log" 2>&1 \
      || true
    faulted=$((faulted + 1))
  done
  [ "$faulted" = 0 ] || echo "$t: replayed $faulted regressions with their fault switches"
done
objects+=(-object "$tree/runtime/libdrv.so")

"$profdata" merge -sparse -o "$tree/fixed.profdata" "$tree"/profraw/*.profraw
shopt -s nullglob
"$profdata" merge -sparse -o "$tree/lifeguard.profdata" "$tree"/profraw/*.profraw \
  "$tree"/profraw-faults/*.profraw
shopt -u nullglob
# llvm-cov takes the first binary bare, the rest with -object.
args=(-instr-profile "$tree/lifeguard.profdata" "${objects[@]:1}")
fixed_total=$("$cov" report -instr-profile "$tree/fixed.profdata" "${objects[@]:1}" "$root/runtime" \
  | grep '^TOTAL')
"$cov" show -format=html -output-dir "$tree/html" -show-line-counts-or-regions \
  "${args[@]}" "$root/runtime" "$root/harness"
"$cov" report "${args[@]}" "$root/runtime" "$root/harness" >"$tree/report.txt"
runtime_total=$("$cov" report "${args[@]}" "$root/runtime" | grep '^TOTAL')
harness_total=$("$cov" report "${args[@]}" "$root/harness" | grep '^TOTAL')

# TOTAL's columns: regions, missed, cover, functions, missed, executed, lines, missed, cover, ...
line_cover() { awk '{print $10 " of " $8 " lines"}' <<<"$1"; }
echo
head -n 2 "$tree/report.txt"
grep '^TOTAL' "$tree/report.txt"
echo
# The lines of runtime/ nothing reached, as FILE:FIRST[-LAST] ranges.
"$cov" export -format=lcov -skip-functions "${args[@]}" "$root/runtime" | /usr/bin/python3 -c '
import sys
out, cur, prev = [], None, None
def flush():
    if prev: out.append(f"{cur}:{prev[0]}" + (f"-{prev[1]}" if prev[1] != prev[0] else ""))
for l in sys.stdin:
    if l.startswith("SF:"):
        flush(); cur, prev = l[3:].strip().split(sys.argv[1] + "/", 1)[-1], None
    elif l.startswith("DA:"):
        n, c = (int(x) for x in l[3:].split(",")[:2])
        if c: continue
        if prev and n == prev[1] + 1: prev = (prev[0], n)
        else: flush(); prev = (n, n)
flush()
print("\n".join(sorted(out, key=lambda s: (s.split(":")[0], int(s.split(":")[1].split("-")[0])))))
' "$root" >"$tree/unreached.txt"

echo "coverage: runtime/ $(line_cover "$fixed_total") on the fixed code alone"
echo "coverage: runtime/ $(line_cover "$runtime_total") with the regressions' fault replays," \
  "harness/ $(line_cover "$harness_total")"
echo "coverage: html in $tree/html/index.html, per file in $tree/report.txt," \
  "lines not reached in $tree/unreached.txt"
min=${COVERAGE_MIN:-90}
if [ -z "${COVERAGE_TARGETS:-}" ]; then
  pct=$(awk '{sub(/%/, "", $10); print $10}' <<<"$runtime_total")
  if awk -v p="$pct" -v m="$min" 'BEGIN { exit !(p < m) }'; then
    echo "ci/coverage.sh: runtime/ line coverage $pct% is below COVERAGE_MIN=$min%" >&2
    exit 1
  fi
fi
