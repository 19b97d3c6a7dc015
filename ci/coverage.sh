#!/usr/bin/env bash
# make coverage: what the committed corpora reach. Builds every fuzz target's replay main in the
# coverage tree (build/coverage: clang -fprofile-instr-generate -fcoverage-mapping, no
# sanitizer), replays corpora/<target>/ and the inputs of corpora/regressions/<target>/ (with no
# fault switch: the fixed code, as the gate replays them), merges the profiles and writes
#   build/coverage/html/index.html   line-by-line report of runtime/ and harness/
#   build/coverage/report.txt        llvm-cov report: per file, and the totals printed here
# COVERAGE_TARGETS="a b" narrows the targets.
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

rm -rf "$tree/profraw" "$tree/html"
mkdir -p "$tree/profraw"
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
  objects+=(-object "$tree/fuzz/${t}_replay")
done
objects+=(-object "$tree/runtime/libdrv.so")

"$profdata" merge -sparse -o "$tree/lifeguard.profdata" "$tree"/profraw/*.profraw
# llvm-cov takes the first binary bare, the rest with -object.
args=(-instr-profile "$tree/lifeguard.profdata" "${objects[@]:1}")
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
echo "coverage: runtime/ $(line_cover "$runtime_total"), harness/ $(line_cover "$harness_total")"
echo "coverage: html in $tree/html/index.html, per file in $tree/report.txt"
