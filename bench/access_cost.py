#!/usr/bin/env -S /usr/bin/python3 -B
# SPDX-License-Identifier: MIT
"""The cost of `lifeguard cc`'s access callbacks, as ratios to the same program without them.

Builds bench/access_bench.c twice in a temporary directory, with `scripts/lifeguard cc -O2`
and with `clang -O2` (the same compiler and flags, only the instrumentation differs), then
runs, in turn for --rounds rounds on the same machine:
  clang        the uninstrumented build
  cc           the `lifeguard cc` build, run directly (explore off: every callback is one load
               and one branch)
  cc+explore   the `lifeguard cc` build under the preload library with explore=1: one thread,
               so no access is a point, but each one goes through the shadow (access.c)
Each run prints the median ns per element of each workload; a figure here is the median over
the rounds. Prints a Markdown table with the machine and the date (docs/BENCHMARKS.md).

usage: bench/access_cost.py [--rounds N] [--reps R] [--build-dir DIR]
"""

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COLUMNS = ("clang", "cc", "cc+explore")


def build(tmp, build_dir):
    src = REPO / "bench" / "access_bench.c"
    env = dict(os.environ, LIFEGUARD_BUILD_DIR=str(build_dir))
    cc, plain = tmp / "access_bench_cc", tmp / "access_bench_clang"
    subprocess.run([sys.executable, str(REPO / "scripts" / "lifeguard"), "cc", "-O2",
                    str(src), "-o", str(cc)], check=True, env=env, timeout=600)
    subprocess.run(["clang", "-O2", str(src), "-o", str(plain)], check=True, timeout=600)
    return {"clang": plain, "cc": cc, "cc+explore": cc}


def run(column, program, reps, preload, tmp, n):
    env = dict(os.environ)
    if column == "cc+explore":
        log = tmp / f"decisions.{n}"
        env.update(LD_PRELOAD=str(preload), LIFEGUARD_OPTIONS=f"explore=1:explore_log={log}")
    r = subprocess.run([str(program), "--reps", str(reps)], capture_output=True, text=True,
                       env=env, timeout=600, check=True)
    return {row["metric"]: row["value"] for row in map(json.loads, r.stdout.splitlines())}


def machine():
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    clang = subprocess.run(["clang", "--version"], capture_output=True, text=True,
                           timeout=60).stdout.splitlines()[0]
    return cpu, os.cpu_count(), f"{platform.system()} {platform.release()}", clang


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--reps", type=int, default=9)
    parser.add_argument("--build-dir", type=Path, default=REPO / "build")
    args = parser.parse_args()
    preload = args.build_dir / "plain" / "harness" / "liblifeguard-preload.so"
    if not preload.is_file():
        print(f"access_cost: {preload} is not built (cmake --build --preset plain)",
              file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="lifeguard-access-cost-") as tmp:
        tmp = Path(tmp)
        programs = build(tmp, args.build_dir.resolve())
        figures = {c: {} for c in COLUMNS}
        n = 0
        for _ in range(args.rounds):
            for column in COLUMNS:
                n += 1
                for metric, value in run(column, programs[column], args.reps, preload, tmp,
                                         n).items():
                    figures[column].setdefault(metric, []).append(value)
    med = {c: {m: statistics.median(v) for m, v in figures[c].items()} for c in COLUMNS}
    cpu, cores, kernel, clang = machine()
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"machine: {cpu}, {cores} cores online, {kernel}; {clang}; {when}")
    print(f"command: bench/access_cost.py --rounds {args.rounds} --reps {args.reps}")
    print()
    print("| workload | clang -O2 (ns/element) | lifeguard cc -O2 | × clang "
          "| lifeguard cc under explore, 1 thread | × clang |")
    print("|---|---:|---:|---:|---:|---:|")
    ratios = {"cc": [], "cc+explore": []}
    for metric in med["clang"]:
        base = med["clang"][metric]
        cells = [f"{base:.3f}"]
        for column in ("cc", "cc+explore"):
            ratio = med[column][metric] / base
            ratios[column].append(ratio)
            cells += [f"{med[column][metric]:.3f}", f"{ratio:.2f}"]
        print(f"| {metric} | " + " | ".join(cells) + " |")
    geo = {c: math.exp(statistics.mean(map(math.log, r))) for c, r in ratios.items()}
    print(f"| geometric mean | | | {geo['cc']:.2f} | | {geo['cc+explore']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
