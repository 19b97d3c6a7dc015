# SPDX-License-Identifier: MIT
"""Memory-access scheduling points: `lifeguard cc` / `lifeguard c++` builds under explore.

Both ways, on the kernels whose bug is a race on plain memory (bench/kernels/lost_update.c,
check_then_act.c), each compiled here three times from the same source: with `lifeguard cc`
(buggy and clean twin) and with plain clang. explore finds the bug of the `lifeguard cc`
build within a bounded number of runs under random and pct, and a found schedule replays to
it; the clean twin stays clean while access points were being decided; the plain clang build
is not found in as many runs (no pthread call lies inside the race: the access points are
what finds it). Without explore the instrumented programs run as compiled: the same output,
atomics still atomic (tests/driver/access_atomics.cc, threads running truly in parallel).
Every subprocess has a timeout. Needs the plain tree (the preload library and
liblifeguard-access.a) and clang.
"""

import json
import os
import shutil
import struct
import subprocess
import sys

import pytest

from lifeguard_cli import paths

KERNELS = ("lost_update", "check_then_act")
STRATEGIES = (("--strategy", "random"), ("--strategy", "pct", "--depth", "2"))
FIND_RUNS = 200   # measured: found in 1..10 runs (seed 1)
CLEAN_RUNS = 30
ACCESS_SITES = range(240, 250)  # access.c's sites
LOG_HEADER = struct.Struct("<8sQQQQQ16x")
LOG_RECORD = struct.Struct("<BxHII")


@pytest.fixture(scope="module")
def access_archive(build_root, library):
    archive = paths.preset_dir(build_root, "plain") / "harness" / "liblifeguard-access.a"
    if not archive.is_file():
        pytest.fail(f"{archive} is not built: cmake --build --preset plain", pytrace=False)
    if not shutil.which("clang") or not shutil.which("clang++"):
        pytest.skip("clang is not installed")
    return archive


@pytest.fixture(scope="module")
def lifeguard_cc(repo_root, build_root, access_archive):
    """lifeguard_cc(name, *args): runs `lifeguard cc|c++ ARGS` (the plain tree's archive)."""

    def run(name, *args):
        env = dict(os.environ, LIFEGUARD_BUILD_DIR=str(build_root))
        r = subprocess.run([sys.executable, str(repo_root / "scripts" / "lifeguard"), name,
                            *map(str, args)], env=env, timeout=300, text=True,
                           stdin=subprocess.DEVNULL, capture_output=True)
        assert r.returncode == 0, r.stderr[-2000:]
        return r

    return run


@pytest.fixture(scope="module")
def built(repo_root, lifeguard_cc, tmp_path_factory):
    """The kernels, compiled here: {(kernel, "cc" | "cc_clean" | "plain"): path}."""
    out = tmp_path_factory.mktemp("access_kernels")
    src = repo_root / "bench" / "kernels"
    programs = {}
    for kernel in KERNELS:
        for variant, flags in (("cc", []), ("cc_clean", ["-DLG_KERNEL_CLEAN"])):
            path = out / f"{kernel}_{variant}"
            lifeguard_cc("cc", "-O2", "-g", "-pthread", *flags, src / f"{kernel}.c", "-o", path)
            programs[kernel, variant] = path
        path = out / f"{kernel}_plain"
        subprocess.run(["clang", "-O2", "-g", "-pthread", str(src / f"{kernel}.c"), "-o",
                        str(path)], check=True, timeout=300)
        programs[kernel, "plain"] = path
    path = out / "spin_wait_cc"
    lifeguard_cc("cc", "-O2", "-g", "-pthread", src / "spin_wait.c", "-o", path)
    programs["spin_wait", "cc"] = path
    for variant, flags in (("cc", []), ("cc_clean", ["-DLG_KERNEL_CLEAN"])):
        path = out / f"spin_flag_{variant}"
        lifeguard_cc("cc", "-O2", "-g", "-pthread", *flags, src / "spin_flag.c", "-o", path)
        programs["spin_flag", variant] = path
    return programs


@pytest.fixture(scope="module")
def explore(repo_root, build_root, library):
    """explore(*args, tmp=) -> (CompletedProcess, the --json object or None)."""
    counter = [0]

    def run(*args, tmp):
        counter[0] += 1
        out = tmp / f"explore{counter[0]}.json"
        argv = [sys.executable, str(repo_root / "scripts" / "lifeguard"), "explore",
                "--no-build", "--build-dir", str(build_root), "--json", str(out), *args]
        r = subprocess.run(argv, timeout=600, text=True, stdin=subprocess.DEVNULL,
                           capture_output=True)
        return r, (json.loads(out.read_text()) if out.is_file() else None)

    return run


def decision_sites(log):
    """The sites of the decisions in an explore_log file."""
    data = log.read_bytes()
    _magic, count, _div, capacity, _over, _pid = LOG_HEADER.unpack_from(data)
    return [LOG_RECORD.unpack_from(data, LOG_HEADER.size + i * LOG_RECORD.size)[1]
            for i in range(min(count, capacity))]


def controlled_run(program, library, log, run=0, args=()):
    env = dict(os.environ, LD_PRELOAD=str(library),
               LIFEGUARD_OPTIONS=f"explore=1:explore_seed=5:explore_run={run}:explore_log={log}")
    return subprocess.run([str(program), *args], capture_output=True, text=True, timeout=120,
                          env=env)


@pytest.mark.parametrize("strategy", STRATEGIES, ids=lambda s: s[1])
@pytest.mark.parametrize("kernel", KERNELS)
def test_race_on_plain_memory_is_found(kernel, strategy, built, explore, tmp_path):
    r, result = explore(*strategy, "--runs", str(FIND_RUNS), "--seed", "1", "--",
                        str(built[kernel, "cc"]), tmp=tmp_path)
    assert r.returncode == 1, r.stderr[-2000:]
    assert result["found"] is True and result["kind"] == "abort", r.stderr[-2000:]
    assert 1 <= result["runs_to_first"] <= FIND_RUNS
    assert "check failed" in r.stderr
    # the schedule has decisions at memory accesses
    assert any(f"s{site}/" in result["schedule"] for site in ACCESS_SITES), result["schedule"]


@pytest.mark.parametrize("strategy", STRATEGIES, ids=lambda s: s[1])
@pytest.mark.parametrize("kernel", KERNELS)
def test_plain_clang_build_is_not_found(kernel, strategy, built, explore, tmp_path):
    """The same source without the instrumentation: explore controls its threads (decisions
    are made) but can never stop one inside the race, so the bug stays hidden."""
    r, result = explore(*strategy, "--runs", str(FIND_RUNS), "--seed", "1", "--",
                        str(built[kernel, "plain"]), tmp=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert result["found"] is False and result["runs"] == FIND_RUNS
    assert result["decisions"] >= FIND_RUNS, result


@pytest.mark.parametrize("strategy", STRATEGIES, ids=lambda s: s[1])
@pytest.mark.parametrize("kernel", KERNELS)
def test_clean_twin_stays_clean(kernel, strategy, built, explore, tmp_path):
    r, result = explore(*strategy, "--runs", str(CLEAN_RUNS), "--seed", "1", "--",
                        str(built[kernel, "cc_clean"]), tmp=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert result["found"] is False and result["runs"] == CLEAN_RUNS
    assert result["decisions"] >= CLEAN_RUNS, result


@pytest.mark.parametrize("strategy", STRATEGIES, ids=lambda s: s[1])
def test_busy_waits_neither_livelock_nor_hang(strategy, built, explore, tmp_path):
    """spin_wait.c: consumers spin on an atomic flag and on a volatile one whose producer
    sleeps first. A spinner waits for a write to its flag (or virtual time): without that,
    pct keeps running the spinner when it has the highest priority (a livelock report), and
    the volatile spinner never lets the sleeper's virtual clock move (a hang)."""
    r, result = explore(*strategy, "--runs", str(CLEAN_RUNS), "--seed", "1", "--",
                        str(built["spin_wait", "cc"]), tmp=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert result["found"] is False and result["runs"] == CLEAN_RUNS
    assert result["decisions"] >= CLEAN_RUNS, result


SPIN_STRATEGIES = STRATEGIES + (("--strategy", "dfs", "--depth", "2"),)


@pytest.mark.parametrize("strategy", SPIN_STRATEGIES, ids=lambda s: s[1])
def test_spin_on_a_flag_read_after_other_memory(strategy, built, explore, tmp_path):
    """spin_flag.c: main reads other memory once, then spins on `ready` alone. The spin is
    seen (a wait for the worker's write): under dfs and pct, which keep choosing the spinner,
    the clean twin ran into a livelock report in its first run while the spin detector
    watched the granule read before the loop; and the bug (the flag set before the result) is
    found."""
    r, result = explore(*strategy, "--runs", str(CLEAN_RUNS), "--seed", "1", "--timeout",
                        "60", "--", str(built["spin_flag", "cc_clean"]), tmp=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert result["found"] is False and result["runs"] == CLEAN_RUNS
    r, result = explore(*strategy, "--runs", str(FIND_RUNS), "--seed", "1", "--timeout", "60",
                        "--", str(built["spin_flag", "cc"]), tmp=tmp_path)
    assert r.returncode == 1, r.stderr[-2000:]
    assert result["kind"] == "abort", r.stderr[-2000:]


@pytest.mark.parametrize("kernel", KERNELS)
def test_found_schedule_replays(kernel, built, explore, tmp_path):
    program = str(built[kernel, "cc"])
    r, found = explore("--runs", str(FIND_RUNS), "--seed", "7", "--", program, tmp=tmp_path)
    assert r.returncode == 1 and found["found"], r.stderr[-2000:]
    for _ in range(3):
        r, again = explore("--schedule", found["schedule"], "--", program, tmp=tmp_path)
        assert r.returncode == 1, r.stderr[-2000:]
        assert again["kind"] == found["kind"] and again["schedule"] == found["schedule"]
        assert again["diverged"] is None


@pytest.mark.parametrize("kernel", KERNELS)
def test_access_points_only_in_the_instrumented_build(kernel, built, library, tmp_path):
    """Under control, the `lifeguard cc` build's decisions include access sites (240..249);
    the plain build's never do. Both clean twins run to the right output."""
    for variant, want in (("cc_clean", True), ("plain", False)):
        sites = []
        for run in range(5):
            log = tmp_path / f"{variant}.{run}"
            r = controlled_run(built[kernel, variant], library, log, run)
            if variant == "cc_clean":
                assert r.returncode == 0, r.stderr[-2000:]
            sites += decision_sites(log)
        assert sites, variant
        assert any(s in ACCESS_SITES for s in sites) == want, (variant, sites)


@pytest.mark.parametrize("kernel, output", [("lost_update", "counter 6\n"),
                                            ("check_then_act", "value 42\n")])
def test_runs_normally_without_explore(kernel, output, built, library):
    """No preload library, or the preload library without explore: the instrumented clean
    twin gives its output (the hooks stay off)."""
    program = str(built[kernel, "cc_clean"])
    for env in (None, dict(os.environ, LD_PRELOAD=str(library))):
        r = subprocess.run([program], capture_output=True, text=True, timeout=60, env=env)
        assert (r.returncode, r.stdout) == (0, output), r.stderr[-2000:]


@pytest.fixture(scope="module")
def atomics(repo_root, lifeguard_cc, tmp_path_factory):
    path = tmp_path_factory.mktemp("access_atomics") / "access_atomics"
    lifeguard_cc("c++", "-O2", "-g", "-pthread",
                 repo_root / "tests" / "driver" / "access_atomics.cc", "-o", path)
    return path


def test_atomics_stay_atomic_free(atomics):
    """Two threads truly in parallel, 20,000 rounds of every atomic width, compare-exchange
    loops and a spin lock: not one update lost (each callback does its operation
    atomically)."""
    r = subprocess.run([str(atomics)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "a64 40000\n" in r.stdout and "spun 40000\n" in r.stdout


def test_atomics_same_output_under_explore(atomics, library, tmp_path):
    free = subprocess.run([str(atomics), "100"], capture_output=True, text=True, timeout=120)
    assert free.returncode == 0, free.stderr
    for run in range(3):
        log = tmp_path / f"decisions.{run}"
        r = controlled_run(atomics, library, log, run, ["100"])
        assert r.returncode == 0, r.stderr[-2000:]
        assert r.stdout == free.stdout
        assert any(s in ACCESS_SITES for s in decision_sites(log))


def test_cc_without_clang_exits_2(repo_root, tmp_path):
    env = dict(os.environ, LIFEGUARD_CC=str(tmp_path / "no-such-clang"))
    r = subprocess.run([sys.executable, str(repo_root / "scripts" / "lifeguard"), "cc", "-c",
                        "x.c"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "no-such-clang not found" in r.stderr


LIBRARY = "long counter;\nvoid add(void) { for (int i = 0; i < 3; i++) counter++; }\n"
LIBRARY_USER = r"""
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
extern long counter;
void add(void);
static void *worker(void *arg) { add(); return NULL; }
int main(void) {
  pthread_t a, b;
  pthread_create(&a, NULL, worker, NULL);
  pthread_create(&b, NULL, worker, NULL);
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  printf("counter %ld\n", counter);
  if (counter != 6) abort();
  return 0;
}
"""


def test_instrumented_library_of_a_plain_program(lifeguard_cc, explore, tmp_path):
    """The race is in a shared library built with `lifeguard cc -shared`; the program that
    needs it is plain clang. The library starts before the preload library does (ld.so
    initializes a program's libraries before a preloaded one that nothing depends on), so
    its hook is handed over late (access.c's arm): the race is found all the same, and the
    program runs normally without explore."""
    (tmp_path / "race.c").write_text(LIBRARY)
    (tmp_path / "main.c").write_text(LIBRARY_USER)
    lifeguard_cc("cc", "-O2", "-fPIC", "-shared", tmp_path / "race.c", "-o",
                 tmp_path / "librace.so")
    program = tmp_path / "main"
    subprocess.run(["clang", "-O2", "-pthread", str(tmp_path / "main.c"), f"-L{tmp_path}",
                    "-lrace", f"-Wl,-rpath,{tmp_path}", "-o", str(program)], check=True,
                   timeout=300)
    free = subprocess.run([str(program)], capture_output=True, text=True, timeout=60)
    assert (free.returncode, free.stdout) == (0, "counter 6\n"), free.stderr
    r, result = explore("--runs", str(FIND_RUNS), "--seed", "1", "--", str(program),
                        tmp=tmp_path)
    assert r.returncode == 1 and result["kind"] == "abort", r.stderr[-2000:]
    assert any(f"s{site}/" in result["schedule"] for site in ACCESS_SITES)
