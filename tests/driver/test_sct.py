# SPDX-License-Identifier: MIT
"""The systematic-concurrency-testing programs of bench/sct/ under `lifeguard explore`.

The gate's subset is the programs that exercise what the class needs beyond the kernels: C11
<threads.h> (glibc's thrd_*/mtx_*/cnd_* call its internal pthread functions), a timed wait on
a CLOCK_MONOTONIC condition variable, pthread_cancel of blocked threads, std::condition_variable::wait_for (libstdc++ compares
the clock with its deadline after pthread_cond_clockwait returns), the clock variants of the
timed locks, exit() from a thread, threads never joined, thread-local storage and key
destructors, and one race that only memory-access points find. Each bug is found within a
bounded number of runs from a fixed seed with its expected kind, and each clean twin stays
clean with decisions made (control was on). Both ways: with the C11 interceptors gone the
C11 bug is never explored; with the condition variable's clock misread the monotonic clean
twin times out; without the program's clocks shifted by virtual time the wait_for bug is not
seen; with pthread_rwlock_clockwrlock not intercepted the clock_waits clean twin retries a
real timed wait for ever while the reader holding the lock waits for the baton (a timeout); with
pthread_cancel passed through, cancel_cleanup's clean twin hangs (a cancelled waiter parked on
its baton never acts on the cancellation). main_exit's main calls pthread_exit while its
workers run: with the harness's watchdog thread living on after the last of them, every run of
its clean twin timed out. philosophers' `lifeguard c++` build (five std::threads, a lock-order
cycle) was not found in 300 random runs while the first accesses to memory a thread was
initializing (the std::thread objects, the growing vector) were points: main, making ten
points per thread it created, let the first philosophers finish before the last one began.

Under -m slow: every program of bench/sct/sct.py's PROGRAMS, every build (gcc and `lifeguard
cc`, bug and clean twin), random and pct, judged as sct.py judges it (docs/BENCHMARKS.md has
the full measurement). Every subprocess has a timeout. Needs the plain tree, gcc, g++, and
clang for the `lifeguard cc` builds.
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys

import pytest

from lifeguard_cli import paths

FIND_RUNS = 300   # measured with seed 1: found in 1..30 runs (random)
CLEAN_RUNS = 20
RUN_TIMEOUT = "30"

# program, build ("gcc" or "cc"), clean twin?, expected kinds (None: clean)
GATE = [
    ("c11_threads", "gcc", False, {"assertion"}),
    ("c11_threads", "gcc", True, None),
    ("timed_monotonic", "gcc", False, {"assertion"}),
    ("timed_monotonic", "gcc", True, None),
    ("cv_wait_for", "gcc", False, {"assertion"}),
    ("cv_wait_for", "gcc", True, None),
    ("clock_waits", "gcc", False, {"assertion"}),
    ("clock_waits", "gcc", True, None),
    ("cancel_cleanup", "gcc", False, {"deadlock"}),
    ("cancel_cleanup", "gcc", True, None),
    ("exit_in_thread", "gcc", False, None),
    ("no_join", "gcc", False, None),
    ("tls_keys", "gcc", False, None),
    ("lazy_init", "gcc", False, {"SEGV"}),
    ("lost_signal", "gcc", False, {"deadlock"}),
    ("reorder", "cc", False, {"assertion"}),
    ("reorder", "cc", True, None),
    ("main_exit", "gcc", False, {"assertion"}),
    ("main_exit", "gcc", True, None),
    ("philosophers", "cc", False, {"deadlock"}),
]


def load_sct(repo_root):
    spec = importlib.util.spec_from_file_location("sct", repo_root / "bench" / "sct" / "sct.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def sct(repo_root):
    return load_sct(repo_root)


@pytest.fixture(scope="module")
def compile_sct(repo_root, build_root, library, sct, tmp_path_factory):
    """compile_sct(program, build, clean): the binary, built once per module."""
    out = tmp_path_factory.mktemp("sct")
    built = {}

    def compile_one(program, build, clean):
        key = (program, build, clean)
        if key in built:
            return built[key]
        src = repo_root / "bench" / "sct" / sct.PROGRAMS[program][0]
        cxx = src.suffix == ".cc"
        flags = ["-O1", "-g", "-pthread"] + (["-std=c++17"] if cxx else []) + \
            (["-DSCT_CLEAN"] if clean else [])
        path = out / f"{program}{'.clean' if clean else ''}.{build}"
        if build == "gcc":
            compiler = "g++" if cxx else "gcc"
            if not shutil.which(compiler):
                pytest.skip(f"{compiler} is not installed")
            argv = [compiler, *flags, str(src), "-o", str(path)]
        else:
            if not shutil.which("clang"):
                pytest.skip("clang is not installed (lifeguard cc needs it)")
            argv = [sys.executable, str(repo_root / "scripts" / "lifeguard"),
                    "c++" if cxx else "cc", *flags, str(src), "-o", str(path)]
        env = dict(os.environ, LIFEGUARD_BUILD_DIR=str(build_root))
        r = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
        built[key] = path
        return path

    return compile_one


def explore(repo_root, build_root, tmp, path, runs, *strategy):
    out = tmp / "explore.json"
    if out.exists():
        out.unlink()
    sct = load_sct(repo_root)
    program = path.name.split(".")[0]
    argv = [sys.executable, str(repo_root / "scripts" / "lifeguard"), "explore", "--no-build",
            "--build-dir", str(build_root), *strategy, "--seed", "1", "--runs", str(runs),
            "--timeout", RUN_TIMEOUT, "--json", str(out), *sct.EXPLORE_FLAGS.get(program, []),
            "--", str(path), *sct.ARGS.get(program, [])]
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=runs * 10 + 300)
    assert r.returncode in (0, 1), r.stderr[-2000:]
    return json.loads(out.read_text()), r


@pytest.mark.parametrize("program,build,clean,kinds", GATE,
                         ids=[f"{p}.{'clean.' if c else ''}{b}" for p, b, c, _k in GATE])
def test_sct_program(repo_root, build_root, compile_sct, tmp_path, program, build, clean,
                     kinds):
    path = compile_sct(program, build, clean)
    runs = FIND_RUNS if kinds else CLEAN_RUNS
    result, r = explore(repo_root, build_root, tmp_path, path, runs, "--strategy", "random")
    if kinds:
        assert result["found"], f"not found in {runs} runs: {r.stderr[-1500:]}"
        assert result["kind"] in kinds, r.stderr[-1500:]
        assert result["schedule"].startswith("lgs1:")
    else:
        assert not result["found"], f"{result['kind']} in run {result['runs_to_first']}: " \
                                    f"{r.stderr[-1500:]}"
        assert result["runs"] == runs
        assert result["explored"], "no scheduling decision: control was not on"


def test_sct_c11_replays(repo_root, build_root, compile_sct, tmp_path):
    """A found C11 schedule replays to the same failure (its threads are actors)."""
    path = compile_sct("c11_threads", "gcc", False)
    result, _ = explore(repo_root, build_root, tmp_path, path, FIND_RUNS, "--strategy", "pct")
    assert result["found"] and result["kind"] == "assertion"
    for _ in range(3):
        again, r = explore(repo_root, build_root, tmp_path, path, 1, "--schedule",
                           result["schedule"])
        assert again["found"] and again["kind"] == "assertion", r.stderr[-1500:]
        assert again["diverged"] is None


EXIT_LAST = r"""
#include <pthread.h>
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static void *waits(void *a) {
  pthread_mutex_lock(&m);
  pthread_cond_wait(&c, &m); /* never signalled */
  pthread_mutex_unlock(&m);
  return a;
}
static void *ends(void *a) { return a; }
int main(void) {
  pthread_t w, e;
  pthread_create(&w, 0, waits, 0);
  pthread_create(&e, 0, ends, 0);
  pthread_join(w, 0);
  return 0;
}
"""


def test_sct_deadlock_found_by_an_ending_thread(repo_root, build_root, tmp_path):
    """The deadlock seen at the last point of a thread that ends (every other actor blocked)
    is reported: the ending thread once counted itself as a thread that might still call in,
    and waited for its own end for ever (a timeout; lost_signal's c++ build, seed 3, run 7)."""
    if not shutil.which("gcc"):
        pytest.skip("gcc is not installed")
    src = tmp_path / "exit_last.c"
    src.write_text(EXIT_LAST)
    path = tmp_path / "exit_last"
    subprocess.run(["gcc", "-O1", "-pthread", str(src), "-o", str(path)], check=True,
                   timeout=120)
    out = tmp_path / "r.json"
    argv = [sys.executable, str(repo_root / "scripts" / "lifeguard"), "explore", "--no-build",
            "--build-dir", str(build_root), "--strategy", "dfs", "--runs", "1", "--timeout",
            "10", "--json", str(out), "--", str(path)]
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=300)
    result = json.loads(out.read_text())
    assert result["found"] and result["kind"] == "deadlock", r.stderr[-1500:]


@pytest.mark.slow
def test_sct_every_program(repo_root, build_root, compile_sct, sct, tmp_path):
    """Every program, every build, random and pct: as sct.py's PROGRAMS expects."""
    wrong = []
    for program in sct.PROGRAMS:
        for _name, build, clean, expected in sct.builds_of(program):
            path = compile_sct(program, build, clean)
            bug = expected not in (sct.CLEAN, sct.NEEDS_ACCESS)
            results = []
            for strategy in (("--strategy", "random"), ("--strategy", "pct", "--depth", "3")):
                res, _ = explore(repo_root, build_root, tmp_path, path,
                                 2000 if bug else 200, *strategy)
                results.append(res)
            if not sct.judge(expected, results):
                wrong.append(f"{path.name}: expected {expected}, got "
                             + ", ".join(f"{r['kind']}@{r['runs_to_first']}" if r["found"]
                                         else f"clean/{r['runs']}" for r in results))
    assert not wrong, "\n".join(wrong)
