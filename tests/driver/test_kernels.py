# SPDX-License-Identifier: MIT
"""The concurrency bug kernels of bench/kernels/ added after test_explore.py's six, both ways.

Each kernel is found by `lifeguard explore` under random and under pct (depth 3) within a
fixed number of runs from a fixed seed, with a kind its bug can be reported as; each clean
twin stays clean over a fixed number of runs of both strategies, with decisions made (control
was on). Kernels explore cannot find or run today are marked xfail(strict) with the reason,
so the mark fails when that changes:
  - lost_update, aba_stack, spin_flag: the bug is between plain memory operations, with no
    pthread call in the window: they need memory-access scheduling points (`lifeguard cc`).
spin_flag's clean twin (main spins on a plain flag) and pipe_pc (a thread blocked in read()
on a pipe) reach no scheduling point while they wait; the watchdog preempts them (before it,
both ended as a timeout in their first run), so their clean twins are among the clean ones.
Every run is bounded by a subprocess timeout. Needs the plain tree.
"""

import json
import subprocess
import sys

import pytest

from lifeguard_cli import paths

# kernel -> the kinds its bug may be reported as
FOUND = {
    "dcl_init": {"abort"},
    "fd_reuse": {"closed-fd-use", "abort"},
    "dlclose_race": {"unload-while-running", "SEGV"},
    "three_way": {"abort"},
    "sem_misuse": {"abort"},
    "barrier_phase": {"abort"},
    "rwlock_upgrade": {"deadlock"},
    "once_bypass": {"abort"},
    "cond_no_loop": {"abort"},
    "detach_race": {"heap-use-after-free"},
    "signal_race": {"abort"},
    "pipe_pc": {"abort"},
}
NEEDS_CC = ("lost_update", "aba_stack", "spin_flag")
STRATEGIES = (("--strategy", "random"), ("--strategy", "pct", "--depth", "3"))
FIND_RUNS = 300   # measured with seed 1: 1..45 runs
CLEAN_RUNS = 20   # per clean twin and strategy in the gate; 1000 under -m slow
RUN_TIMEOUT = "30"  # explore --timeout: a hang ends the run as `timeout` (3 s was hit on a busy gate)


@pytest.fixture(scope="module")
def kdir(build_root, library):
    d = paths.preset_dir(build_root, "plain") / "bench" / "kernels"
    names = [f"kernel_{k}{v}" for k in (*FOUND, *NEEDS_CC) for v in ("", "_clean")]
    missing = [n for n in names if not (d / n).is_file()]
    if missing:
        pytest.fail(f"{d}: {', '.join(missing)} not built: cmake --build --preset plain",
                    pytrace=False)
    return d


def explore(repo_root, build_root, tmp, *args):
    out = tmp / "explore.json"
    argv = [sys.executable, str(repo_root / "scripts" / "lifeguard"), "explore", "--no-build",
            "--build-dir", str(build_root), "--timeout", RUN_TIMEOUT, "--json", str(out), *args]
    r = subprocess.run(argv, timeout=900, text=True, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return r, (json.loads(out.read_text()) if out.is_file() else None)


@pytest.mark.parametrize("strategy", STRATEGIES, ids=lambda s: s[1])
@pytest.mark.parametrize("kernel", sorted(FOUND))
def test_bug_is_found(kernel, strategy, kdir, repo_root, build_root, tmp_path):
    r, result = explore(repo_root, build_root, tmp_path, *strategy, "--runs", str(FIND_RUNS),
                        "--seed", "1", "--", str(kdir / f"kernel_{kernel}"))
    assert r.returncode == 1, r.stderr[-2000:]
    assert result["found"] is True
    assert result["kind"] in FOUND[kernel], r.stderr[-2000:]
    assert 1 <= result["runs_to_first"] <= FIND_RUNS
    assert result["schedule"].startswith("lgs1:")


def clean(kernel, strategy, runs, kdir, repo_root, build_root, tmp_path):
    r, result = explore(repo_root, build_root, tmp_path, *strategy, "--runs", str(runs),
                        "--seed", "1", "--", str(kdir / f"kernel_{kernel}_clean"))
    assert r.returncode == 0, r.stderr[-2000:]
    assert result["found"] is False and result["runs"] == runs
    assert result["decisions"] >= runs, result  # control was on: the silence is the program's


CLEAN = sorted([*FOUND, *NEEDS_CC])


@pytest.mark.parametrize("strategy", STRATEGIES, ids=lambda s: s[1])
@pytest.mark.parametrize("kernel", CLEAN)
def test_clean_twin_stays_clean(kernel, strategy, kdir, repo_root, build_root, tmp_path):
    clean(kernel, strategy, CLEAN_RUNS, kdir, repo_root, build_root, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("strategy", STRATEGIES, ids=lambda s: s[1])
@pytest.mark.parametrize("kernel", CLEAN)
def test_clean_twin_stays_clean_1000(kernel, strategy, kdir, repo_root, build_root, tmp_path):
    clean(kernel, strategy, 1000, kdir, repo_root, build_root, tmp_path)


@pytest.mark.xfail(strict=True, reason="needs memory-access scheduling points (lifeguard cc)")
@pytest.mark.parametrize("kernel", NEEDS_CC)
def test_plain_memory_bug_is_found(kernel, kdir, repo_root, build_root, tmp_path):
    r, result = explore(repo_root, build_root, tmp_path, "--runs", "30", "--seed", "1", "--",
                        str(kdir / f"kernel_{kernel}"))
    assert r.returncode == 1 and result["kind"] not in (None, "timeout"), r.stderr[-2000:]
