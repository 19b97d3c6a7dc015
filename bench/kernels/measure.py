#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The concurrency kernels under `lifeguard explore`, beside the stress baseline.

For each kernel of bench/kernels/ (built in build/plain/bench/kernels) and each mode:
  - random, pct (depth 3), dfs: `scripts/lifeguard explore --strategy S --seed SEED --runs R
    --budget B --json` (a strategy whose explore exits 2 is skipped with a note);
  - free: the binary run as it is, R times at most, B seconds at most;
  - chaos: the same with bench's libchaos_preload.so (random short delays at pthread calls,
    LG_CHAOS_SEED = the seed and the run's number);
the runs and the seconds to the first failure, as medians over the seeds (a seed that found
nothing counts as not found; the median is over the seeds that found, with "(k/n)"); a
hang is shown with its run numbers ("hang in run 1/7/1": the run, per seed, that hung and
stopped the search).
A free or chaos run fails when it exits nonzero, dies of a signal or outlives --timeout (a
hang). An explore run whose kind is `timeout` is recorded as a hang, not as a find.
Prints a Markdown table; --json FILE keeps every measurement.

  usage: bench/kernels/measure.py [--runs R] [--budget B] [--seeds 1,2,3]
                     [--only k1,k2] [--clean-runs N [--clean-only]] [--json FILE]
         measure.py --table FILE.json... (the table of saved measurements)
With --clean-runs N it also runs every clean twin N times under each strategy (and free)
and reports any failure.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "build" / "plain"
KDIR = BUILD / "bench" / "kernels"
CHAOS = BUILD / "bench" / "libchaos_preload.so"

# kernel -> (needs memory-access points, what it is)
KERNELS = {
    "atomicity": (False, "atomicity violation"),
    "order": (False, "order violation"),
    "racing_free": (False, "use after free by a racing free"),
    "lock_order": (False, "lock-order deadlock"),
    "missed_wakeup": (False, "missed wake-up on a condition variable"),
    "refcount": (False, "refcount race"),
    "lost_update": (True, "lost update (plain ++)"),
    "dcl_init": (False, "double-checked initialisation"),
    "aba_stack": (True, "ABA on a lock-free stack"),
    "fd_reuse": (False, "close/reuse race on descriptors"),
    "dlclose_race": (False, "dlclose racing a module's thread"),
    "pipe_pc": (False, "producer/consumer over a pipe (blocking read)"),
    "three_way": (False, "three threads, two preemptions"),
    "spin_flag": (True, "spin-wait on a volatile flag"),
    "sem_misuse": (False, "semaphore misuse (double post)"),
    "barrier_phase": (False, "barrier misuse (store after wait)"),
    "rwlock_upgrade": (False, "rwlock upgrade deadlock"),
    "once_bypass": (False, "pthread_once bypassed by a fast path"),
    "cond_no_loop": (False, "condition wait without a loop"),
    "detach_race": (False, "use after free by a detach race"),
    "signal_race": (False, "signal handler against a thread"),
}
STRATEGIES = ("random", "pct", "dfs")


def explore(kernel, strategy, seed, runs, budget, timeout, tmp):
    """One explore search: {found, runs, seconds, kind} or {skipped: reason}."""
    out = Path(tmp) / "explore.json"
    if out.exists():
        out.unlink()
    argv = [sys.executable, str(REPO / "scripts" / "lifeguard"), "explore", "--no-build",
            "--strategy", strategy, "--seed", str(seed), "--runs", str(runs),
            "--budget", str(budget), "--timeout", str(timeout), "--json", str(out)]
    if strategy == "pct":
        argv += ["--depth", "3"]
    argv += ["--", str(KDIR / kernel)]
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=budget + 10 * timeout + 120)
    if r.returncode == 2:
        return {"skipped": (r.stderr.strip().splitlines() or ["exit 2"])[-1]}
    d = json.loads(out.read_text())
    if d["found"] and d["kind"] == "timeout":
        return {"found": False, "hang": True, "runs": d["runs"], "kind": "timeout"}
    return {"found": bool(d["found"]), "runs": d["runs_to_first"] if d["found"] else d["runs"],
            "seconds": d["seconds_to_first"], "kind": d["kind"]}


def stress(kernel, chaos, seed, runs, budget, timeout):
    """The binary run free (with the chaos delays when `chaos`): runs to the first failure."""
    start = time.monotonic()
    for i in range(1, runs + 1):
        env = dict(os.environ)
        if chaos:
            env["LD_PRELOAD"] = str(CHAOS)
            env["LG_CHAOS_SEED"] = str(seed * 1_000_003 + i)
        try:
            r = subprocess.run([str(KDIR / kernel)], env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               timeout=timeout)
            kind = None if r.returncode == 0 else (f"signal {-r.returncode}" if r.returncode < 0
                                                   else f"exit {r.returncode}")
        except subprocess.TimeoutExpired:
            kind = "hang"
        if kind:
            return {"found": True, "runs": i, "seconds": time.monotonic() - start, "kind": kind}
        if time.monotonic() - start > budget:
            return {"found": False, "runs": i}
    return {"found": False, "runs": runs}


def summary(results):
    """'median runs / median s (k/n)' over the seeds, or why there is none."""
    skipped = [r for r in results if "skipped" in r]
    if skipped:
        return "skipped", "n/a"
    found = [r for r in results if r["found"]]
    if not found:
        hangs = [r["runs"] for r in results if r.get("hang")]
        most = max(r["runs"] for r in results if not r.get("hang")) if len(hangs) < len(
            results) else 0
        if len(hangs) == len(results):
            return "hang in run " + "/".join(map(str, hangs)), "–"
        return f"not found ({most} runs)" + (f"; hang in run {'/'.join(map(str, hangs))} "
                                             f"({len(hangs)}/{len(results)})" if hangs
                                             else ""), "–"
    runs = statistics.median(r["runs"] for r in found)
    secs = statistics.median(r["seconds"] for r in found)
    kinds = sorted({r["kind"] for r in found})
    part = "" if len(found) == len(results) else f" ({len(found)}/{len(results)})"
    return f"{runs:g}{part}", f"{secs:.3f}", kinds


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=10000)
    p.add_argument("--budget", type=float, default=20.0, help="seconds per kernel, mode, seed")
    p.add_argument("--timeout", type=float, default=2.0, help="seconds per run")
    p.add_argument("--seeds", default="1,2,3")
    p.add_argument("--only", default="")
    p.add_argument("--modes", default="random,pct,dfs,free,chaos")
    p.add_argument("--clean-runs", type=int, default=0)
    p.add_argument("--clean-only", action="store_true", help="only the clean twins")
    p.add_argument("--json", default=None)
    p.add_argument("--table", nargs="+", metavar="JSON",
                   help="print the table of saved --json files (merged) and run nothing")
    a = p.parse_args()
    if a.table:
        record = {"kernels": {}, "clean": {}, "notes": []}
        for f in a.table:
            r = json.loads(Path(f).read_text())
            for key in ("machine", "date", "command"):
                record.setdefault(key, r[key])
            for part in ("kernels", "clean"):
                for k, row in r[part].items():
                    record[part].setdefault(k, {}).update(row)
            record["notes"] = sorted(set(record["notes"]) | set(r.get("notes", [])))
        first = next(iter(record["kernels"].values()), None) or \
            next(iter(record["clean"].values()), {})
        print(table(record, list(first)))
        return 0
    if a.runs < 1 or a.runs > 10000 or a.budget <= 0:
        print("measure.py: --runs must be 1..10000 and --budget positive", file=sys.stderr)
        return 2
    seeds = [int(s) for s in a.seeds.split(",")]
    names = [k for k in KERNELS if not a.only or k in a.only.split(",")]
    modes = a.modes.split(",")
    missing = [k for k in names if not (KDIR / f"kernel_{k}").is_file()]
    if missing or ("chaos" in modes and not CHAOS.is_file()):
        print(f"measure.py: not built ({', '.join(missing) or CHAOS.name}): "
              "cmake --build --preset plain", file=sys.stderr)
        return 2
    record = {"machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus",
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "command": " ".join(["bench/kernels/measure.py"] + sys.argv[1:]),
              "kernels": {}, "clean": {}}
    notes = set()
    with tempfile.TemporaryDirectory(prefix="lg-measure-") as tmp:
        for k in names:
            row = {} if a.clean_only else record["kernels"].setdefault(k, {})
            for m in ([] if a.clean_only else modes):
                res = []
                for s in seeds:
                    if m in STRATEGIES:
                        r = explore(f"kernel_{k}", m, s, a.runs, a.budget, a.timeout, tmp)
                        if "skipped" in r:
                            notes.add(f"{m}: {r['skipped']}")
                            res.append(r)
                            break
                    else:
                        r = stress(f"kernel_{k}", m == "chaos", s, a.runs, a.budget, a.timeout)
                    res.append(r)
                row[m] = res
                print(f"{k} {m}: {summary(res)}", file=sys.stderr, flush=True)
            if a.clean_runs:
                crow = record["clean"][k] = {}
                for m in modes:
                    if m in STRATEGIES:
                        r = explore(f"kernel_{k}_clean", m, 1, a.clean_runs, 100 * a.budget,
                                    a.timeout, tmp)
                    else:
                        r = stress(f"kernel_{k}_clean", m == "chaos", 1, a.clean_runs,
                                   100 * a.budget, a.timeout)
                    crow[m] = r
                    print(f"{k}_clean {m}: {r}", file=sys.stderr, flush=True)
    record["notes"] = sorted(notes)
    if a.json:
        Path(a.json).write_text(json.dumps(record, indent=1) + "\n")
    print(table(record, modes))
    return 0


def table(record, modes):
    lines = [f"Machine: {record['machine']}; date: {record['date']}; command: "
             f"`{record['command']}`.", "",
             "| kernel | needs cc | " + " | ".join(f"{m} runs | {m} s" for m in modes)
             + " | kind |",
             "|---|---|" + "---|---|" * len(modes) + "---|"]
    for k, row in record["kernels"].items():
        cells, kinds = [], set()
        for m in modes:
            s = summary(row[m])
            cells += [s[0], s[1]]
            if len(s) > 2 and m in STRATEGIES:
                kinds.update(s[2])
        lines.append(f"| {k} | {'yes' if KERNELS[k][0] else ''} | " + " | ".join(cells)
                     + f" | {', '.join(sorted(kinds)) or '–'} |")
    for n in record.get("notes", []):
        lines.append(f"\nNote: {n}")
    if record["clean"]:
        cmodes = list(next(iter(record["clean"].values())))
        lines += ["", "Clean twins (seed 1): runs without a failure, per mode.", "",
                  "| clean twin | " + " | ".join(cmodes) + " |",
                  "|---|" + "---|" * len(cmodes)]
        for k, row in record["clean"].items():
            cells = []
            for m in cmodes:
                r = row[m]
                cells.append("skipped" if "skipped" in r else
                             f"hang (timeout) in run {r['runs']}" if r.get("hang") else
                             f"FAILED in run {r['runs']}: {r['kind']}" if r["found"] else
                             f"{r['runs']} clean")
            lines.append(f"| {k}_clean | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
