#!/bin/bash
# The OSS-Fuzz / ClusterFuzzLite build script of lifeguard: one script for OSS-Fuzz
# (projects/lifeguard), ClusterFuzzLite (.clusterfuzzlite/Dockerfile copies it to $SRC/build.sh)
# and local runs:
#
#   CC=clang CFLAGS=-fsanitize=address,fuzzer-no-link LIB_FUZZING_ENGINE=-fsanitize=fuzzer \
#     OUT=$(mktemp -d) ci/oss-fuzz/build.sh
#
# It honours OSS-Fuzz's contract: $CC and $CFLAGS (the sanitizer and the engine's
# instrumentation, used untouched), $CXX (+ $CXXFLAGS) to link when set, $LIB_FUZZING_ENGINE,
# $OUT; $SRC and $WORK when set. Into $OUT go, per target: <target>, <target>_seed_corpus.zip
# (flat: corpora/<target>/ and corpora/regressions/<target>/, sidecars left out), <target>.dict
# and <target>.options when the target has them; and libdrv.so, the plugin module_unload
# loads from its own directory (with its copy libdrv-pinned.so, the one it pins). LIFEGUARD_OSSFUZZ_TARGETS="a b" builds only those targets.
set -euo pipefail

die() { echo "ci/oss-fuzz/build.sh: $*" >&2; exit 2; }

[ -n "${OUT:-}" ] || die "OUT is not set: it names the directory that receives the fuzz targets \
(OSS-Fuzz sets it; locally: OUT=\$(mktemp -d) ci/oss-fuzz/build.sh)"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

# The checkout: the one this script is in, else $SRC/lifeguard (OSS-Fuzz runs a copy at
# $SRC/build.sh), else the current directory.
here=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")  # (.clusterfuzzlite/build.sh links here)
if [ -n "${LIFEGUARD_SRC:-}" ]; then src=$LIFEGUARD_SRC
elif [ -f "$here/../../fuzz/ossfuzz.cmake" ]; then src=$(cd "$here/../.." && pwd)
elif [ -n "${SRC:-}" ] && [ -f "$SRC/lifeguard/fuzz/ossfuzz.cmake" ]; then src=$SRC/lifeguard
else src=$PWD
fi
[ -f "$src/fuzz/ossfuzz.cmake" ] || die "no lifeguard checkout at $src (set LIFEGUARD_SRC)"

# Local defaults; OSS-Fuzz always sets these.
export CC=${CC:-clang}
export CFLAGS=${CFLAGS-"-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined,fuzzer-no-link"}
LIB_FUZZING_ENGINE=${LIB_FUZZING_ENGINE:-"-fsanitize=fuzzer"}
if [ -n "${CXX:-}" ]; then
  export CXXFLAGS=${CXXFLAGS-$CFLAGS}  # the link needs the sanitizer flags too
fi

# Every fuzz/*.c that defines a target, or the ones asked for.
all=$(cd "$src/fuzz" && grep -l '^int LLVMFuzzerTestOneInput(.*{' ./*.c \
      | sed 's|^\./||; s|\.c$||' | sort)
IFS=$' \t\n,' read -r -d '' -a targets <<<"${LIFEGUARD_OSSFUZZ_TARGETS:-$all}" || true
for t in "${targets[@]}"; do
  grep -qx "$t" <<<"$all" || die "unknown fuzz target '$t' (targets: ${all//$'\n'/ })"
done
[ ${#targets[@]} -gt 0 ] || die "LIFEGUARD_OSSFUZZ_TARGETS names no target"

# Build in $WORK (OSS-Fuzz's scratch), else in a temporary directory removed at exit.
if [ -n "${WORK:-}" ]; then
  build=$WORK/lifeguard-ossfuzz
  rm -rf "$build/CMakeCache.txt" "$build/CMakeFiles"  # flags are read at the first configure
else
  build=$(mktemp -d)
  trap 'rm -rf "$build"' EXIT
fi

cmake -S "$src" -B "$build" -DLIFEGUARD_OSSFUZZ=ON \
  -DCMAKE_C_COMPILER="$CC" -DLIFEGUARD_FUZZING_ENGINE="$LIB_FUZZING_ENGINE"
cmake --build "$build" -j "$(nproc)" --target lgrt_drv "${targets[@]}"

for t in "${targets[@]}"; do
  install -m 755 "$build/fuzz/$t" "$OUT/$t"
  for side in "$t.dict" "$t.options"; do
    if [ -f "$src/fuzz/$side" ]; then cp "$src/fuzz/$side" "$OUT/$side"; fi
  done
  python3 "$src/ci/oss-fuzz/seed_zip.py" "$OUT/${t}_seed_corpus.zip" \
    "$src/corpora/$t" "$src/corpora/regressions/$t"
  if [ "$t" = module_unload ]; then
    install -m 644 "$build/runtime/libdrv.so" "$OUT/libdrv.so"
    install -m 644 "$build/runtime/libdrv-pinned.so" "$OUT/libdrv-pinned.so"
  fi
done
echo "ci/oss-fuzz/build.sh: built ${targets[*]} into $OUT"
