#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The concurrency kernels under `lifeguard explore`, beside the stress baseline.

For each kernel of bench/kernels/ (built in build/plain/bench/kernels) and each mode:
  - random, pct (depth 3), dfs: `scripts/lifeguard explore --strategy S --seed SEED --runs R
    --budget B --json` (a strategy whose explore exits 2 is skipped with a note); dfs takes
    no seed and runs once, with the first seed;
  - free: the binary run as it is, R times at most, B seconds at most;
  - chaos: the same with bench's libchaos_preload.so (random short delays at pthread calls,
    LG_CHAOS_SEED = the seed and the run's number);
the runs and the seconds to the first failure, as medians over the seeds (a seed that found
nothing counts as not found; the median is over the seeds that found, with "(k/n)"); a
hang is shown with its run numbers ("hang in run 1/7/1": the run, per seed, that hung and
stopped the search).
A kernel marked `needs cc` (its race lies between plain memory operations) is explored in
its `lifeguard cc` build (KDIR/cc/, compiled here with `scripts/lifeguard cc -O2 -g
-pthread`, twin included; --no-cc: the plain build); free and chaos run the plain build.
A free or chaos run fails when it exits nonzero, dies of a signal or outlives --timeout (a
hang). An explore run whose kind is `timeout` is recorded as a hang, not as a find.
Prints a Markdown table; --json FILE keeps every measurement.

  usage: bench/kernels/measure.py [--runs R] [--budget B] [--seeds 1,2,3]
                     [--only k1,k2] [--clean-runs N [--clean-only]] [--json FILE]
         measure.py --table FILE.json... (the table of saved measurements)
With --clean-runs N it also runs every clean twin N times under each mode (seed 1; dfs
until it has run every schedule within its bound, or N runs) and reports any failure: the
exit status is then 1 when a twin failed or hung. --clean-budget S bounds each twin and
mode (default: none; the old default was 100 x --budget), --clean-timeout the seconds of
one run (default 30: a loaded machine must not turn a slow run into a hang), --jobs J how
many twin-and-mode pairs run at once (default 1). With --json
the file is rewritten after every twin and mode; --resume FILE.json carries on from such a
file, skipping what it already holds (the nightly job, ci/nightly-kernels.sh, runs
`--clean-only --clean-runs 10000 --modes random,pct,dfs --resume`).
"""

import argparse
import concurrent.futures
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "build" / "plain"
KDIR = BUILD / "bench" / "kernels"
CHAOS = BUILD / "bench" / "libchaos_preload.so"
CCDIR = KDIR / "cc"  # the `lifeguard cc` builds of the kernels that need memory-access points
SRC = REPO / "bench" / "kernels"

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
    "check_then_act": (True, "check-then-act on a plain pointer"),
}
STRATEGIES = ("random", "pct", "dfs")


def explore(program, strategy, seed, runs, budget, timeout, tmp):
    """One explore search of `program`: {found, runs, seconds, kind, ...} or {skipped:
    reason}."""
    out = Path(tmp) / "explore.json"
    if out.exists():
        out.unlink()
    argv = [sys.executable, str(REPO / "scripts" / "lifeguard"), "explore", "--no-build",
            "--strategy", strategy, "--seed", str(seed), "--runs", str(runs),
            "--timeout", str(timeout), "--json", str(out)]
    if budget is not None:
        argv += ["--budget", str(budget)]
    if strategy == "pct":
        argv += ["--depth", "3"]
    argv += ["--", str(program)]
    start = time.monotonic()
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True,
                       timeout=(budget or runs * timeout) + 10 * timeout + 120)
    wall = time.monotonic() - start
    if r.returncode == 2:
        return {"skipped": (r.stderr.strip().splitlines() or ["exit 2"])[-1]}
    d = json.loads(out.read_text())
    extra = {"decisions": d["decisions"], "schedules": d.get("schedules"),
             "exhausted": d.get("exhausted"), "wall": round(wall, 3)}
    if d["found"] and d["kind"] == "timeout":
        return {"found": False, "hang": True, "runs": d["runs"], "kind": "timeout", **extra}
    res = {"found": bool(d["found"]), "runs": d["runs_to_first"] if d["found"] else d["runs"],
           "seconds": d["seconds_to_first"], "kind": d["kind"], **extra}
    if d["found"]:
        res["schedule"] = d["schedule"]
        res["seconds_to_report"] = d.get("seconds_to_report")
    return res


def cc_builds(names):
    """Compiles the `needs cc` kernels among `names` and their twins with `lifeguard cc` into
    CCDIR (again when the source or kernel.h is newer). Returns the reason when it could
    not, else None."""
    CCDIR.mkdir(parents=True, exist_ok=True)
    for k in names:
        if not KERNELS[k][0]:
            continue
        src = SRC / f"{k}.c"
        newest = max(src.stat().st_mtime, (SRC / "kernel.h").stat().st_mtime)
        for suffix, flags in (("", []), ("_clean", ["-DLG_KERNEL_CLEAN"])):
            out = CCDIR / f"kernel_{k}{suffix}"
            if out.is_file() and out.stat().st_mtime >= newest:
                continue
            r = subprocess.run([sys.executable, str(REPO / "scripts" / "lifeguard"), "cc",
                                "-O2", "-g", "-pthread", *flags, str(src), "-o", str(out)],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=300)
            if r.returncode != 0:
                return (r.stdout.strip().splitlines() or [f"exit {r.returncode}"])[-1]
    return None


def explored_program(kernel, use_cc):
    """The binary explore runs for `kernel` (kernel_NAME or kernel_NAME_clean)."""
    base = kernel[len("kernel_"):].removesuffix("_clean")
    if use_cc and KERNELS[base][0]:
        return CCDIR / kernel
    return KDIR / kernel


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
    if not results:
        return "not run", "–"
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


def clean_cell(r):
    """A clean twin's result in words."""
    if "skipped" in r:
        return "skipped"
    if r.get("running"):
        return "not finished"
    if r.get("hang"):
        return f"HANG (timeout) in run {r['runs']}"
    if r["found"]:
        return f"FAILED in run {r['runs']}: {r['kind']}"
    if r.get("exhausted"):
        return f"{r['runs']} clean (exhausted)"
    return f"{r['runs']} clean"


def clean_done(r, runs):
    """Whether a saved clean result needs no more runs (a --resume skips it)."""
    return "skipped" not in r and (r.get("found") or r.get("hang") or r.get("exhausted")
                                   or r["runs"] >= runs)


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
    p.add_argument("--clean-budget", type=float, default=None,
                   help="seconds per clean twin and mode (default: no limit)")
    p.add_argument("--clean-timeout", type=float, default=30.0,
                   help="seconds per run of a clean twin (default 30)")
    p.add_argument("--jobs", type=int, default=1,
                   help="clean twins and modes checked at once (default 1)")
    p.add_argument("--no-cc", action="store_true",
                   help="explore the plain builds of the `needs cc` kernels")
    p.add_argument("--json", default=None)
    p.add_argument("--resume", metavar="JSON", default=None,
                   help="carry on from this --json file (and write it): skip what it holds")
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
    if a.runs < 1 or a.runs > 10000 or a.budget <= 0 or a.clean_runs < 0 or \
            (a.clean_budget is not None and a.clean_budget <= 0):
        print("measure.py: --runs must be 1..10000, --clean-runs 0 or more and the budgets "
              "positive", file=sys.stderr)
        return 2
    if a.jobs < 1:
        print("measure.py: --jobs must be 1 or more", file=sys.stderr)
        return 2
    if a.clean_only and not a.clean_runs:
        print("measure.py: --clean-only needs --clean-runs N", file=sys.stderr)
        return 2
    if a.resume:
        a.json = a.resume
    seeds = [int(s) for s in a.seeds.split(",")]
    unknown = [k for k in a.only.split(",") if a.only and k not in KERNELS]
    modes = a.modes.split(",")
    bad = [m for m in modes if m not in STRATEGIES + ("free", "chaos")]
    if unknown or bad:
        print(f"measure.py: unknown {'kernel' if unknown else 'mode'} "
              f"{', '.join(unknown or bad)}", file=sys.stderr)
        return 2
    names = [k for k in KERNELS if not a.only or k in a.only.split(",")]
    missing = [f"kernel_{k}{v}" for k in names for v in ("", "_clean")
               if not (KDIR / f"kernel_{k}{v}").is_file()]
    if missing or ("chaos" in modes and not CHAOS.is_file()):
        print(f"measure.py: not built ({', '.join(missing) or CHAOS.name}): "
              "cmake --build --preset plain", file=sys.stderr)
        return 2
    record = {"machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus",
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "command": " ".join(["bench/kernels/measure.py"] + sys.argv[1:]),
              "kernels": {}, "clean": {}}
    if a.resume and Path(a.resume).is_file():
        old = json.loads(Path(a.resume).read_text())
        record["kernels"], record["clean"] = old.get("kernels", {}), old.get("clean", {})
        record["date"] = old.get("date", record["date"])
        record["resumed"] = old.get("resumed", []) + [
            time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())]
    notes = set(record.get("notes", []))
    use_cc = not a.no_cc and any(m in STRATEGIES for m in modes)
    if use_cc:
        why = cc_builds(names)
        if why:
            notes.add(f"lifeguard cc: {why}; the needs-cc kernels explored in their plain "
                      "builds")
            use_cc = False
    record["cc"] = use_cc

    def save():
        record["notes"] = sorted(notes)
        if a.json:
            tmpfile = Path(f"{a.json}.tmp")
            tmpfile.write_text(json.dumps(record, indent=1) + "\n")
            tmpfile.replace(a.json)

    failed = []
    with tempfile.TemporaryDirectory(prefix="lg-measure-") as tmp:
        for k in names:
            row = {} if a.clean_only else record["kernels"].setdefault(k, {})
            for m in ([] if a.clean_only else modes):
                if a.resume and m in row:
                    continue
                res = []
                for s in seeds:
                    if m in STRATEGIES:
                        r = explore(explored_program(f"kernel_{k}", use_cc), m, s, a.runs,
                                    a.budget, a.timeout, tmp)
                        if "skipped" in r:
                            notes.add(f"{m}: {r['skipped']}")
                            res.append(r)
                            break
                    else:
                        r = stress(f"kernel_{k}", m == "chaos", s, a.runs, a.budget, a.timeout)
                    res.append(r)
                    if m == "dfs":
                        break  # (dfs takes no seed: every seed would search the same tree)
                row[m] = res
                print(f"{k} {m}: {summary(res)}", file=sys.stderr, flush=True)
                save()
        # the clean twins: every (twin, mode) pair, --jobs of them at a time
        pairs = []
        for k in names if a.clean_runs else []:
            crow = record["clean"].setdefault(k, {})
            for m in modes:
                if a.resume and m in crow and clean_done(crow[m], a.clean_runs):
                    print(f"{k}_clean {m}: {clean_cell(crow[m])} (saved)", file=sys.stderr)
                    if crow[m]["found"] or crow[m].get("hang"):
                        failed.append(f"{k}_clean {m}")
                    continue
                crow.setdefault(m, {"found": False, "runs": 0, "running": True})
                pairs.append((k, m))
        lock = threading.Lock()

        def clean(pair):
            k, m = pair
            with tempfile.TemporaryDirectory(prefix="pair-", dir=tmp) as ptmp:
                if m in STRATEGIES:
                    r = explore(explored_program(f"kernel_{k}_clean", use_cc), m, 1,
                                a.clean_runs, a.clean_budget, a.clean_timeout, ptmp)
                else:
                    r = stress(f"kernel_{k}_clean", m == "chaos", 1, a.clean_runs,
                               a.clean_budget or 1e9, a.clean_timeout)
            with lock:
                record["clean"][k][m] = r
                if "skipped" not in r and (r["found"] or r.get("hang")):
                    failed.append(f"{k}_clean {m}")
                print(f"{k}_clean {m}: {clean_cell(r)}", file=sys.stderr, flush=True)
                save()

        with concurrent.futures.ThreadPoolExecutor(max_workers=a.jobs) as pool:
            for f in [pool.submit(clean, pair) for pair in pairs]:
                f.result()
    save()
    print(table(record, modes))
    if failed:
        print(f"measure.py: clean twins that failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def table(record, modes):
    lines = [f"Machine: {record['machine']}; date: {record['date']}; command: "
             f"`{record['command']}`."]
    if record["kernels"]:
        lines += ["", "| kernel | needs cc | " + " | ".join(f"{m} runs | {m} s" for m in modes)
                  + " | best explore s | kind |",
                  "|---|---|" + "---|---|" * len(modes) + "---|---|"]
    for k, row in record["kernels"].items():
        cells, kinds, best = [], set(), []
        for m in modes:
            s = summary(row.get(m, []))
            cells += [s[0], s[1]]
            if len(s) > 2 and m in STRATEGIES:
                kinds.update(s[2])
                if "(" not in s[0]:  # found by every seed
                    best.append((float(s[1]), m))
        cells.append(f"{min(best)[0]:.3f} ({min(best)[1]})" if best else "–")
        cc = ("yes (cc build)" if record.get("cc") else "yes") if KERNELS[k][0] else ""
        lines.append(f"| {k} | {cc} | " + " | ".join(cells)
                     + f" | {', '.join(sorted(kinds)) or '–'} |")
    for n in record.get("notes", []):
        lines.append(f"\nNote: {n}")
    if record["clean"]:
        cmodes = list(dict.fromkeys(m for row in record["clean"].values() for m in row))
        lines += ["", "Clean twins (seed 1): runs without a failure, per mode (dfs: "
                  "\"exhausted\" when it ran every schedule within its bound).", "",
                  "| clean twin | " + " | ".join(cmodes) + " |",
                  "|---|" + "---|" * len(cmodes)]
        for k, row in record["clean"].items():
            cells = [clean_cell(row[m]) if m in row else "not run" for m in cmodes]
            lines.append(f"| {k}_clean | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
