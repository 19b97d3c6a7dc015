# SPDX-License-Identifier: MIT
"""The check API (lifeguard/check.h) on plain pthread test bodies (tests/check/check_bodies.c).

Each body has a buggy and a fixed variant. Both ways: the buggy one is found, with the kind of
its report (the page heap's or ASan's heap-use-after-free, LG_ASSERT's assertion, the control
layer's deadlock) and a schedule string that replays to the same failure; the fixed twin is
clean under the same search. The searches are deterministic: the same seed finds the failure
in the same execution with the same schedule, which a free-running body would not do, and a
schedule string that is empty would mean the pthread calls were not controlled. Counts of
executions, never time. Each tree that builds the bodies (plain, asan) runs them."""

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
