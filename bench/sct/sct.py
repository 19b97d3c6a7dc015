#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Systematic-concurrency-testing programs (bench/sct/) under `lifeguard explore`.

The programs are of the class the SCT literature measures tools on: small C and C++ pthread
(and C11 <threads.h>, std::thread) programs with assertion, crash and deadlock bugs, plain
shared ints, busy-waits, timed and clock waits, exit() from a thread, threads never joined,
thread-local storage, big loops. Each is built four ways: with gcc/g++ (an unmodified binary:
only its pthread calls are scheduling points) and with `lifeguard cc`/`c++` (its memory
accesses are points too), each with and without SCT_CLEAN (the clean twin, where there is
one). PROGRAMS says what each build must give: the kinds its bug may be reported as, or
CLEAN, or NEEDS_ACCESS (a race on plain memory with no pthread call in its window: a gcc
build cannot be stopped there, so explore must not find it there either), or TIMING (a bug in
code that runs free under control: found or not by the machine's timing). ARGS and
EXPLORE_FLAGS give a program's arguments and explore options (--exit-code).

  usage: bench/sct/sct.py build [--out DIR]
         bench/sct/sct.py measure [--out DIR] [--runs R] [--clean-runs C] [--access-runs A]
                          [--budget SECONDS] [--seeds 1,2,3] [--builds gcc,cc]
                          [--strategies random,pct,dfs] [--only a,b] [--json FILE]
         bench/sct/sct.py table FILE.json...

`measure` runs `scripts/lifeguard explore --strategy S --seed SEED --runs R` on every bug
build (per seed), `--runs C` on every clean build and `--runs A` on every gcc build whose
race needs access points (seed 1), each search at most --budget seconds, and prints a Markdown table:
runs to the first find per strategy (median over the seeds that found, "(k/n)" when not all
did), and for each clean build whether it stayed clean. A row whose outcome is not the
expected one is marked "UNEXPECTED" and the exit status is 1.
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
LIFEGUARD = REPO / "scripts" / "lifeguard"
DEFAULT_OUT = REPO / "build" / "sct"

CLEAN = "clean"
NEEDS_ACCESS = "needs-access"
# a bug whose window is in code that runs free under control (a thread's key destructors,
# after its actor finished): seen only when the machine's timing makes it; either outcome is
# as expected, but a find must be an assertion
TIMING = "timing"

# name -> (source, threads, what it is, gcc build's bug, cc build's bug, has a clean twin)
# A bug outcome is a set of the kinds explore may report it as.
PROGRAMS = {
    "reorder": ("reorder.c", 5, "two plain stores seen half done", NEEDS_ACCESS,
                {"assertion"}, True),
    "twostage": ("twostage.c", 5, "two-stage update over two locks", {"assertion"},
                 {"assertion"}, True),
    "token_ring": ("token_ring.c", 5, "ring of plain copies", NEEDS_ACCESS, {"assertion"},
                   True),
    "account": ("account.c", 4, "check and withdraw in two sections", {"assertion"},
                {"assertion"}, True),
    "lazy_init": ("lazy_init.c", 3, "use before lazy init (NULL)", {"SEGV"}, {"SEGV"}, True),
    "wronglock": ("wronglock.c", 5, "one counter, two mutexes", NEEDS_ACCESS, {"assertion"},
                  True),
    "stack_lock": ("stack_lock.c", 4, "locked stack, unlocked emptiness check",
                   {"assertion"}, {"assertion"}, True),
    "queue_if": ("queue_if.c", 3, "condition wait with if", {"assertion"}, {"assertion"},
                 True),
    "philosophers": ("philosophers.cc", 6, "std::mutex lock-order cycle", {"deadlock"},
                     {"deadlock"}, True),
    "flag_handoff": ("flag_handoff.c", 3, "busy-wait on a flag raised too early",
                     NEEDS_ACCESS, {"assertion"}, True),
    "timed_monotonic": ("timed_monotonic.c", 3, "timed wait, CLOCK_MONOTONIC condattr",
                        {"assertion"}, {"assertion"}, True),
    "cv_wait_for": ("cv_wait_for.cc", 2, "std::condition_variable::wait_for, lost notify",
                    {"assertion"}, {"assertion"}, True),
    "atomic_spinlock": ("atomic_spinlock.cc", 3, "std::atomic test-then-set lock",
                        NEEDS_ACCESS, {"assertion"}, True),
    "c11_threads": ("c11_threads.c", 4, "C11 thrd/mtx/cnd/call_once", {"assertion"},
                    {"assertion"}, True),
    "clock_waits": ("clock_waits.c", 3, "clocklock, clockwrlock, sem_clockwait",
                    {"assertion"}, {"assertion"}, True),
    "lost_signal": ("lost_signal.c", 3, "unlocked check before cond wait", {"deadlock"},
                    {"deadlock"}, True),
    "many_workers": ("many_workers.c", 21, "20 workers, barrier, division by zero",
                     {"SIGFPE"}, {"SIGFPE"}, True),
    "big_loop": ("big_loop.c", 4, "100000+ points, one unlocked increment", NEEDS_ACCESS,
                 {"assertion"}, True),
    "cancel_cleanup": ("cancel_cleanup.c", 4, "pthread_cancel, no cleanup handler",
                       {"deadlock"}, {"deadlock"}, True),
    "exit_in_thread": ("exit_in_thread.c", 3, "exit() from a thread", CLEAN, CLEAN, False),
    "no_join": ("no_join.c", 4, "main returns, threads still run", CLEAN, CLEAN, False),
    "tls_keys": ("tls_keys.c", 9, "__thread and key destructors", CLEAN, CLEAN, False),
    # the second wave
    "many_threads": ("many_threads.c", 65, "64 threads, last-one-out read twice",
                     {"assertion"}, {"assertion"}, True),
    "argv_threads": ("argv_threads.c", 7, "thread count from argv, claim in two sections",
                     {"assertion"}, {"assertion"}, True),
    "main_exit": ("main_exit.c", 4, "main pthread_exits, last worker checks",
                  {"assertion"}, {"assertion"}, True),
    "detached_done": ("detached_done.c", 5, "detached workers, polled done counter",
                      {"assertion"}, {"assertion"}, True),
    "sleep_order": ("sleep_order.c", 3, "usleep to order threads", {"assertion"},
                    {"assertion"}, True),
    "mutex_kinds": ("mutex_kinds.c", 3, "recursive and error-checking mutexes",
                    {"assertion"}, {"assertion"}, True),
    "timedlock": ("timedlock.c", 3, "pthread_mutex_timedlock, ETIMEDOUT ignored",
                  {"assertion"}, {"assertion"}, True),
    "cv_broadcast": ("cv_broadcast.c", 4, "broadcast, predicate checked with if",
                     {"assertion"}, {"assertion"}, True),
    "barrier_phases": ("barrier_phases.c", 5, "barrier phases, one barrier too few",
                       {"assertion"}, {"assertion"}, True),
    "rwlock_split": ("rwlock_split.c", 4, "writer-preferring rwlock, split update",
                     {"assertion"}, {"assertion"}, True),
    "sem_lock": ("sem_lock.c", 4, "semaphore as a lock, posted twice", {"assertion"},
                 {"assertion"}, True),
    "tls_dtor": ("tls_dtor.c", 4, "key destructor, split decrement", TIMING, TIMING, True),
    "work_queue": ("work_queue.c", 3, "work queue, stop flag before drained",
                   {"assertion"}, {"assertion"}, True),
    "use_after_free": ("use_after_free.c", 3, "reference dropped before last use",
                       {"heap-use-after-free", "SEGV"}, {"heap-use-after-free", "SEGV"}, True),
    "exit_status": ("exit_status.c", 3, "lost update seen as exit status 3",
                    {"exit-code"}, {"exit-code"}, True),
    "future_promise": ("future_promise.cc", 3, "std::promise set before its data",
                       {"assertion"}, {"assertion"}, True),
    "shared_mutex": ("shared_mutex.cc", 4, "std::shared_mutex, condition_variable_any",
                     {"assertion"}, {"assertion"}, True),
    "relaxed_atomics": ("relaxed_atomics.cc", 3, "relaxed load+store, not fetch_add",
                        NEEDS_ACCESS, {"assertion"}, True),
    "call_once": ("call_once.cc", 4, "std::call_once publishes before it fills",
                  {"assertion"}, {"assertion"}, True),
}
# the program's arguments, and explore's options for it
ARGS = {"argv_threads": ["6"]}
EXPLORE_FLAGS = {"exit_status": ["--exit-code"]}
STRATEGIES = ("random", "pct", "dfs")


def builds_of(name):
    """The builds of a program: (build name, compiler kind, clean twin?, expected)."""
    _src, _threads, _what, gcc, cc, twin = PROGRAMS[name]
    out = [(f"{name}.gcc", "gcc", False, gcc), (f"{name}.cc", "cc", False, cc)]
    if twin:
        out += [(f"{name}.clean.gcc", "gcc", True, CLEAN), (f"{name}.clean.cc", "cc", True, CLEAN)]
    return out


def compile_one(name, kind, clean, path):
    src = HERE / PROGRAMS[name][0]
    cxx = src.suffix == ".cc"
    flags = ["-O1", "-g", "-pthread"] + (["-std=c++17"] if cxx else []) + \
        (["-DSCT_CLEAN"] if clean else [])
    if kind == "gcc":
        argv = ["g++" if cxx else "gcc", *flags, str(src), "-o", str(path)]
    else:
        argv = [sys.executable, str(LIFEGUARD), "c++" if cxx else "cc", *flags, str(src),
                "-o", str(path)]
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=300)
    if r.returncode != 0:
        sys.exit(f"sct: building {path.name} failed:\n{r.stderr[-2000:]}")


def build(out, names):
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        for build_name, kind, clean, _exp in builds_of(name):
            path = out / build_name
            src = HERE / PROGRAMS[name][0]
            if path.exists() and path.stat().st_mtime >= src.stat().st_mtime:
                continue
            compile_one(name, kind, clean, path)


def program_of(path):
    """The program a build is of (its file name up to the first dot)."""
    return Path(path).name.split(".")[0]


def explore(path, strategy, seed, runs, budget=None, timeout=30):
    """One search: {found, runs, runs_to_first, kind, seconds, explored}."""
    name = program_of(path)
    with tempfile.TemporaryDirectory(prefix="sct-") as tmp:
        out = Path(tmp) / "r.json"
        argv = [sys.executable, str(LIFEGUARD), "explore", "--no-build", "--strategy", strategy,
                "--seed", str(seed), "--runs", str(runs), "--timeout", str(timeout),
                "--json", str(out)] + (["--budget", str(budget)] if budget else []) + \
            EXPLORE_FLAGS.get(name, []) + ["--", str(path)] + ARGS.get(name, [])
        started = time.monotonic()
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=runs * timeout + 600)
        if r.returncode == 2 or not out.exists():
            return {"error": r.stderr.strip().splitlines()[-1:] or ["?"]}
        j = json.loads(out.read_text())
        return {"found": j["found"], "runs": j["runs"], "runs_to_first": j["runs_to_first"],
                "kind": j["kind"], "seconds": round(time.monotonic() - started, 2),
                "explored": j["explored"], "exhausted": j.get("exhausted"),
                "schedule": j["schedule"]}


def judge(expected, results):
    """Whether a build's results are as expected: a bug found by some strategy with an
    expected kind (and never another kind); clean or needs-access: nothing found."""
    found = [r for r in results if r.get("found")]
    if any("error" in r for r in results):
        return False
    if expected in (CLEAN, NEEDS_ACCESS):
        return not found
    if expected == TIMING:
        return all(r["kind"] == "assertion" for r in found)
    return bool(found) and all(r["kind"] in expected for r in found)


def measure(args):
    names = args.only.split(",") if args.only else list(PROGRAMS)
    unknown = [n for n in names if n not in PROGRAMS]
    if unknown:
        sys.exit(f"sct: no such program: {', '.join(unknown)}")
    build(args.out, names)
    seeds = [int(s) for s in args.seeds.split(",")]
    strategies = args.strategies.split(",")
    rows = []
    for name in names:
        for build_name, kind, clean, expected in builds_of(name):
            if args.builds and kind not in args.builds.split(","):
                continue
            bug = expected not in (CLEAN, NEEDS_ACCESS)
            row = {"program": name, "build": build_name, "compiler": kind, "clean": clean,
                   "expected": sorted(expected) if isinstance(expected, set) else expected,
                   "results": {}}
            for strategy in strategies:
                path = args.out / build_name
                if bug:
                    # (dfs takes no seed: one search)
                    res = [explore(path, strategy, s, args.runs, args.budget)
                           for s in (seeds[:1] if strategy == "dfs" else seeds)]
                elif expected == NEEDS_ACCESS:
                    res = [explore(path, strategy, seeds[0], args.access_runs, args.budget)]
                else:
                    res = [explore(path, strategy, seeds[0], args.clean_runs, args.budget)]
                row["results"][strategy] = res
                print(f"sct: {build_name} {strategy}: "
                      + " ".join(summary(r) for r in res), file=sys.stderr, flush=True)
            row["ok"] = judge(expected, [r for rs in row["results"].values() for r in rs])
            rows.append(row)
    data = {"machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "runs": args.runs, "clean_runs": args.clean_runs, "access_runs": args.access_runs,
            "budget": args.budget, "seeds": seeds, "rows": rows}
    if args.json:
        Path(args.json).write_text(json.dumps(data, indent=1) + "\n")
    print(table(data))
    return 0 if all(r["ok"] for r in rows) else 1


def summary(r):
    if "error" in r:
        return f"error({r['error'][0]})"
    if r["found"]:
        return f"{r['kind']}@{r['runs_to_first']}"
    return f"clean/{r['runs']}" + ("" if r["explored"] else "(unexplored)")


def machine():
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.machine()} {cpu}, {os.cpu_count()} cpus, {platform.release()}"


def cell(results, bug):
    if any("error" in r for r in results):
        return "error"
    if not bug:
        r = results[0]
        if r["found"]:
            return f"**{r['kind']}** in run {r['runs_to_first']}"
        return f"clean ({r['runs']})" + ("" if r["explored"] else " unexplored")
    found = [r for r in results if r["found"]]
    if not found:
        n = results[0]["runs"]
        done = " exhausted" if results[0].get("exhausted") else ""
        return f"— ({n}{done})"
    med = statistics.median(r["runs_to_first"] for r in found)
    kinds = sorted({r["kind"] for r in found})
    part = "" if len(found) == len(results) else f" ({len(found)}/{len(results)})"
    return f"{med:g}{part} {'/'.join(kinds)}"


def table(data):
    strategies = list(data["rows"][0]["results"]) if data["rows"] else []
    head = ["program", "threads", "build", "expected"] + strategies + ["as expected"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in data["rows"]:
        exp = row["expected"]
        bug = exp not in (CLEAN, NEEDS_ACCESS)
        threads = PROGRAMS[row["program"]][1]
        build_label = row["compiler"] + (" clean" if row["clean"] else "")
        exp_text = ("assertion by timing only (destructors run free)" if exp == TIMING
                    else "/".join(exp) if bug else ("none (no point in the window)"
                                                    if exp == NEEDS_ACCESS else "clean"))
        cells = [cell(row["results"][s], bug) for s in strategies]
        lines.append("| " + " | ".join([row["program"], str(threads), build_label, exp_text]
                                       + cells + ["yes" if row["ok"] else "**UNEXPECTED**"])
                     + " |")
    return "\n".join(lines)


def rows_from_log(files):
    """Rows from lines `sct: BUILD STRATEGY: kind@N ... | clean/N[(unexplored)]`, for the
    builds whose three strategies all finished."""
    seen = {}
    for f in files:
        for line in Path(f).read_text().splitlines():
            if not line.startswith("sct: "):
                continue
            head, _, tail = line[5:].partition(": ")
            build_name, strategy = head.rsplit(" ", 1)
            res = []
            for item in tail.split():
                if "@" in item:
                    kind, n = item.split("@")
                    res.append({"found": True, "kind": kind, "runs_to_first": int(n)})
                elif item.startswith("clean/"):
                    n = item[6:].split("(")[0]
                    res.append({"found": False, "runs": int(n), "kind": None,
                                "explored": "unexplored" not in item})
                else:
                    res.append({"error": [item]})
            seen.setdefault(build_name, {})[strategy] = res
    rows = []
    for name in PROGRAMS:
        for build_name, kind, clean, expected in builds_of(name):
            results = seen.get(build_name, {})
            if set(results) != set(STRATEGIES):
                continue
            rows.append({"program": name, "build": build_name, "compiler": kind,
                         "clean": clean,
                         "expected": sorted(expected) if isinstance(expected, set) else expected,
                         "results": {s: results[s] for s in STRATEGIES},
                         "ok": judge(expected, [r for s in STRATEGIES for r in results[s]])})
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("--out", type=Path, default=DEFAULT_OUT)
    b.add_argument("--only")
    m = sub.add_parser("measure")
    m.add_argument("--out", type=Path, default=DEFAULT_OUT)
    m.add_argument("--runs", type=int, default=10000)
    m.add_argument("--clean-runs", type=int, default=1000)
    m.add_argument("--access-runs", type=int, default=1000,
                   help="runs of a gcc build whose race needs access points (seed 1)")
    m.add_argument("--budget", type=float, help="seconds per search (explore --budget)")
    m.add_argument("--seeds", default="1,2,3")
    m.add_argument("--strategies", default=",".join(STRATEGIES))
    m.add_argument("--builds", help="gcc, cc or gcc,cc (default both)")
    m.add_argument("--only")
    m.add_argument("--json")
    t = sub.add_parser("table")
    t.add_argument("files", nargs="+")
    lg = sub.add_parser("log", help="the table from measure's progress lines (stderr), for "
                                    "a measurement cut short")
    lg.add_argument("files", nargs="+")
    args = ap.parse_args()
    if args.cmd == "log":
        print(table({"rows": rows_from_log(args.files)}))
        return 0
    if args.cmd == "build":
        build(args.out, args.only.split(",") if args.only else list(PROGRAMS))
        return 0
    if args.cmd == "measure":
        if not shutil.which("clang"):
            sys.exit("sct: clang is not installed (lifeguard cc needs it)")
        return measure(args)
    rows, first = [], None
    for f in args.files:
        d = json.loads(Path(f).read_text())
        first = first or d
        rows += d["rows"]
    print(table(dict(first, rows=rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
