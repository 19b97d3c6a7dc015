# SPDX-License-Identifier: MIT
"""The check API (lifeguard/check.h) on plain pthread test bodies (tests/check/check_bodies.c).

Each body has a buggy and a fixed variant. Both ways: the buggy one is found, with the kind of
its report (the page heap's or ASan's heap-use-after-free, LG_ASSERT's assertion, the control
layer's deadlock) and a schedule string that replays to the same failure; the fixed twin is
clean under the same search. The searches are deterministic: the same seed finds the failure
in the same execution with the same schedule, which a free-running body would not do, and a
schedule string that is empty would mean the pthread calls were not controlled. Counts of
executions, never time. Each tree that builds the bodies (plain, asan) runs them."""

import os
import re
import subprocess

import pytest

from lifeguard_cli import paths

RESULT = re.compile(r"^result: failed=(\d) kind=(.+?) executions=(\d+) exhausted=(\d) "
                    r"diverged=(\d) schedule=(\S+)$", re.M)
PRESETS = ("plain", "asan")


@pytest.fixture(scope="module", params=PRESETS)
def bodies(request, selected_configs, lifeguard_manifest, build_root):
    preset = request.param
    if preset not in {lifeguard_manifest.configs[c].preset for c in selected_configs}:
        pytest.skip(f"the {preset} preset is not selected in this session")
    path = paths.preset_dir(build_root, preset) / "tests" / "check" / "check_bodies"
    if not path.is_file():
        pytest.fail(f"{path} is not built (cmake --build --preset {preset})", pytrace=False)
    return path


class Run:
    def __init__(self, proc):
        self.rc, self.stderr = proc.returncode, proc.stderr
        m = RESULT.search(proc.stdout)
        assert m, f"no result line (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr[-3000:]}"
        self.failed = m.group(1) == "1"
        self.kind = m.group(2)
        self.executions = int(m.group(3))
        self.exhausted = m.group(4) == "1"
        self.diverged = m.group(5) == "1"
        self.schedule = m.group(6)


def check(binary, body, variant, strategy, arg=None):
    argv = [str(binary), body, variant, strategy] + ([str(arg)] if arg is not None else [])
    return Run(subprocess.run(argv, capture_output=True, text=True, timeout=300))


# body, the kind its buggy variant fails with
FOUND = [("uaf", "heap-use-after-free"), ("lost-update", "assertion"),
         ("lock-order", "deadlock"), ("flag", "assertion")]


@pytest.mark.parametrize("body,kind", FOUND, ids=[b for b, _ in FOUND])
def test_pct_finds_the_buggy_body_and_its_schedule_replays(bodies, body, kind):
    r = check(bodies, body, "buggy", "pct", 200)
    assert r.rc == 1 and r.failed and r.kind == kind, r.stderr[-3000:]
    assert r.schedule.startswith("lgs1:") and r.schedule != "lgs1:", r.schedule
    # the report itself (the child's) and the check's own lines
    assert f"lifeguard: check: {kind} in execution {r.executions} (pct, depth 3, seed 1)" \
        in r.stderr
    assert f'lg_check_replay(test, arg, "{r.schedule}")' in r.stderr
    summary = "SUMMARY: AddressSanitizer: " if kind == "heap-use-after-free" and \
        "AddressSanitizer" in r.stderr else "SUMMARY: lifeguard: "
    assert f"{summary}{kind} " in r.stderr, r.stderr[-3000:]
    if summary == "SUMMARY: lifeguard: ":
        assert f"schedule: {r.schedule}" in r.stderr  # in the report, as printed by the child
    again = check(bodies, body, "buggy", "replay", r.schedule)
    assert again.rc == 1 and again.kind == kind and again.executions == 1, again.stderr[-3000:]
    assert again.schedule == r.schedule and not again.diverged


@pytest.mark.parametrize("body", [b for b, _ in FOUND] + ["handoff"])
def test_pct_leaves_the_fixed_twin_clean(bodies, body):
    r = check(bodies, body, "fixed", "pct", 100)
    assert r.rc == 0 and not r.failed and r.executions == 100, r.stderr[-3000:]
    assert "ERROR:" not in r.stderr
    assert "lifeguard: check: 100 executions (pct, depth 3, seed 1), no failure" in r.stderr


def test_the_search_is_deterministic(bodies):
    """Same seed, same execution, same schedule: the pthread calls are decisions."""
    a = check(bodies, "uaf", "buggy", "random", 200)
    b = check(bodies, "uaf", "buggy", "random", 200)
    assert a.failed and b.failed, a.stderr[-2000:]
    assert (a.executions, a.schedule) == (b.executions, b.schedule)


def test_dfs_finds_the_buggy_body_and_exhausts_the_fixed_one(bodies):
    buggy = check(bodies, "flag", "buggy", "dfs")
    assert buggy.rc == 1 and buggy.kind == "assertion", buggy.stderr[-3000:]
    fixed = check(bodies, "flag", "fixed", "dfs")
    assert fixed.rc == 0 and fixed.exhausted and fixed.executions > 1, fixed.stderr[-3000:]
    assert "every schedule was explored" in fixed.stderr
    capped = check(bodies, "flag", "fixed", "dfs", 3)
    assert capped.rc == 0 and capped.executions == 3 and not capped.exhausted


def test_the_fixed_twin_replays_the_buggy_schedule_cleanly(bodies):
    """The schedule that fails the buggy body is one the fixed body survives."""
    r = check(bodies, "uaf", "buggy", "pct", 200)
    assert r.failed, r.stderr[-2000:]
    fixed = check(bodies, "uaf", "fixed", "replay", r.schedule)
    assert fixed.rc == 0 and not fixed.failed and fixed.executions == 1, fixed.stderr[-2000:]


def test_a_replay_that_leaves_the_schedule_says_so(bodies):
    # a schedule of another body: the flag body asks other decisions than the uaf one made
    r = check(bodies, "uaf", "buggy", "pct", 200)
    other = check(bodies, "flag", "fixed", "replay", r.schedule)
    assert other.diverged, other.stderr[-2000:]
    assert "the replay left the schedule at decision" in other.stderr


def test_a_bad_schedule_string_is_one_line_and_minus_one(bodies):
    r = subprocess.run([str(bodies), "uaf", "buggy", "replay", "lgs1:x"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    assert r.stderr == "lifeguard: error: check: bad schedule string at byte 5: expected 's', " \
        "'d' or 'f'\n"


# ---- failure injection (lg_check_opts.inject_max) ----------------------------------------

def check_with(binary, flags, body, variant, strategy, arg=None, env=None):
    argv = [str(binary)] + flags + [body, variant, strategy] + \
        ([str(arg)] if arg is not None else [])
    return Run(subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env))


def in_process_env():
    """In process, a report would end the check's process (as in the program): the tests read
    the check's own result line, so reports return (halt_on_error=0)."""
    return dict(os.environ, LIFEGUARD_OPTIONS="halt_on_error=0")


# (the flags that pick the mode, whether it runs in process): the fork mode, where pipe() is
# the injection point; lg_sched in process (LG_CHECK_SCHED), where lg_inject is
MODES = [([], None), (["--sched"], "in-process")]


@pytest.mark.parametrize("mode,env", MODES, ids=["fork", "sched"])
def test_injection_finds_the_mishandled_failure_and_its_schedule_replays(bodies, mode, env):
    env = in_process_env() if env else None
    r = check_with(bodies, mode + ["--inject", "1"], "pipe-error", "buggy", "random", 100, env)
    assert r.rc == 1 and r.failed and r.kind == "double-close", r.stderr[-3000:]
    # the bound is in the schedule ("i1"), and an injected failure ("=1" or "=2" of an f)
    assert r.schedule.startswith("lgs1:i1,"), r.schedule
    assert re.search(r",f\d+/3=[12]", r.schedule), r.schedule
    assert "(random, seed 1, inject_max 1)" in r.stderr
    # replayed without --inject: the string's bound turns injection on
    again = check_with(bodies, mode, "pipe-error", "buggy", "replay", r.schedule, env)
    assert again.rc == 1 and again.kind == "double-close" and again.executions == 1, \
        again.stderr[-3000:]
    assert again.schedule == r.schedule and not again.diverged
    # the fixed twin survives the same schedule
    fixed = check_with(bodies, mode, "pipe-error", "fixed", "replay", r.schedule, env)
    assert fixed.rc == 0 and not fixed.failed and not fixed.diverged, fixed.stderr[-3000:]


@pytest.mark.parametrize("mode,env", MODES, ids=["fork", "sched"])
def test_without_injection_the_mishandled_failure_is_not_found(bodies, mode, env):
    env = in_process_env() if env else None
    r = check_with(bodies, mode, "pipe-error", "buggy", "random", 100, env)
    assert r.rc == 0 and not r.failed and r.executions == 100, r.stderr[-3000:]
    assert "no failure" in r.stderr and "inject_max" not in r.stderr


@pytest.mark.parametrize("mode,env", MODES, ids=["fork", "sched"])
def test_injection_leaves_the_fixed_twin_clean(bodies, mode, env):
    env = in_process_env() if env else None
    r = check_with(bodies, mode + ["--inject", "1"], "pipe-error", "fixed", "random", 100, env)
    assert r.rc == 0 and not r.failed and r.executions == 100, r.stderr[-3000:]
    assert "100 executions (random, seed 1, inject_max 1), no failure" in r.stderr


def test_dfs_with_injection_tries_every_failure(bodies):
    """Each injected failure is a decision: dfs explores them like the thread orders."""
    fixed = check_with(bodies, ["--inject", "2"], "pipe-error", "fixed", "dfs")
    assert fixed.rc == 0 and fixed.exhausted, fixed.stderr[-3000:]
    buggy = check_with(bodies, ["--inject", "2"], "pipe-error", "buggy", "dfs")
    assert buggy.rc == 1 and buggy.kind == "double-close", buggy.stderr[-3000:]


def test_in_process_a_report_ends_the_process_with_its_schedule(bodies):
    """LG_CHECK_SCHED without halt_on_error=0: the report aborts the process, as in the
    program, and carries the schedule string, which replays."""
    p = subprocess.run([str(bodies), "--sched", "--inject", "1", "pipe-error", "buggy",
                        "random", "100"], capture_output=True, text=True, timeout=300)
    assert p.returncode != 0 and "result:" not in p.stdout, p.stderr[-3000:]
    m = re.search(r"schedule: (lgs1:i1,\S+)", p.stderr)
    assert m and "double-close" in p.stderr, p.stderr[-3000:]
    again = check_with(bodies, ["--sched"], "pipe-error", "buggy", "replay", m.group(1),
                       in_process_env())
    assert again.rc == 1 and again.kind == "double-close", again.stderr[-3000:]
