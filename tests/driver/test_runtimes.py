# SPDX-License-Identifier: MIT
"""The runtime suite (tests/runtimes): `lifeguard verify` with the default options on programs
built with the runtimes users ship (Rust std, Node.js 20 + an N-API addon, CPython 3.11 +
ctypes, libuv 1.44, C stdio).

Both ways, for every fault of tests/runtimes/runtimes.py: the fault is reported with its kind
and exit 1, and each of its stacks names the application function with file:line (even when
the fault is inside an uninstrumented library); the clean twin exits 0 with no report and the
output of its native run. Every real program exits 0 under verify with its native output and
nothing added to stderr. Every run is bounded (runtimes.TIMEOUT): a hang fails under the case's
name. The gate runs each fault GATE_RUNS times; the `slow` tests (nightly) run each fault and
each twin SLOW_RUNS times and require every one.

Needs the plain tree (the preload library and the suite's programs exist only there); a runtime
that was not found when the tree was configured is a skip that names it.
"""

import json
import re
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtimes"))

import runtimes  # noqa: E402

import armed  # noqa: E402

from lifeguard_cli.kinds import DETECTOR_OF  # noqa: E402

GATE_RUNS = 3
SLOW_RUNS = 20


@pytest.fixture(scope="module")
def suite(build_root, selected_configs, lifeguard_manifest):
    """runtimes.json of the plain tree (after checking that the tree and library exist)."""
    presets = {lifeguard_manifest.configs[c].preset for c in selected_configs}
    if "plain" not in presets:
        pytest.skip("the runtime suite needs the plain tree; this session does not run the "
                    "plain preset")
    library = runtimes.preload_library(build_root)
    if not library.is_file():
        pytest.fail(f"{library} is not built: cmake --preset plain && cmake --build --preset "
                    "plain", pytrace=False)
    info = runtimes.suite_info(build_root)
    if info is None:
        pytest.fail(f"{runtimes.suite_dir(build_root)}/runtimes.json is missing: the plain tree "
                    "predates tests/runtimes (cmake --preset plain && cmake --build --preset "
                    "plain)", pytrace=False)
    return info


def _need(case, suite, build_root):
    reason = runtimes.skip_reason(case, suite)
    if reason:
        pytest.skip(reason)
    missing = runtimes.programs_missing(case, build_root, suite)
    if missing:
        pytest.fail(f"{case.id}: not built: {', '.join(missing)} (cmake --build --preset plain)",
                    pytrace=False)


def _excerpt(outcome, lines=14):
    text = outcome.stderr.strip().splitlines()
    return "\n".join(text[:lines])


def _fault_runs(case, suite, build_root, runs):
    failures = []
    for i in range(runs):
        outcome = runtimes.run(case, "verify", build_root, "fault", info=suite)
        problem = runtimes.fault_problem(case, outcome)
        if problem:
            failures.append((i + 1, problem, outcome))
            if outcome.timed_out:
                break  # one hang is enough to fail; the others would only wait as long
    if failures:
        first = failures[0]
        pytest.fail(f"{case.id}: {len(failures)} of {runs} runs failed; run {first[0]}: "
                    f"{first[1]}\n{_excerpt(first[2])}", pytrace=False)


def _twin_runs(case, suite, build_root, runs):
    native = runtimes.run(case, "native", build_root, "clean", info=suite)
    assert native.returncode == 0 and not native.timed_out, \
        f"the clean twin of {case.id} fails without lifeguard: {native.stderr[-500:]}"
    for i in range(runs):
        outcome = runtimes.run(case, "verify", build_root, "clean", info=suite, probe=True)
        problem = runtimes.clean_problem(f"{case.id} (clean twin)", outcome, native) or \
            armed.problem(DETECTOR_OF[case.kind], outcome.armed)
        assert problem is None, f"run {i + 1} of {runs}: {problem}\n{_excerpt(outcome)}"


FAULT_IDS = [c.id for c in runtimes.FAULTS]
REAL_IDS = [c.id for c in runtimes.REALS]


@pytest.mark.parametrize("case", runtimes.FAULTS, ids=FAULT_IDS)
def test_fault_reported(case, suite, build_root):
    _need(case, suite, build_root)
    _fault_runs(case, suite, build_root, GATE_RUNS)


@pytest.mark.parametrize("case", runtimes.FAULTS, ids=FAULT_IDS)
def test_clean_twin_clean(case, suite, build_root):
    _need(case, suite, build_root)
    _twin_runs(case, suite, build_root, 1)


@pytest.mark.parametrize("case", runtimes.REALS, ids=REAL_IDS)
def test_real_program_runs_clean_and_unchanged(case, suite, build_root):
    _need(case, suite, build_root)
    native = runtimes.run(case, "native", build_root, info=suite)
    assert native.returncode == 0 and not native.timed_out and native.stdout, \
        f"{case.id} fails without lifeguard: {native.stderr[-500:]}"
    outcome = runtimes.run(case, "verify", build_root, info=suite)
    problem = runtimes.clean_problem(case.id, outcome, native)
    assert problem is None, f"{problem}\n{_excerpt(outcome)}"


@pytest.mark.slow
@pytest.mark.parametrize("case", runtimes.FAULTS, ids=FAULT_IDS)
def test_fault_reported_every_run(case, suite, build_root):
    _need(case, suite, build_root)
    _fault_runs(case, suite, build_root, SLOW_RUNS)


@pytest.mark.slow
@pytest.mark.parametrize("case", runtimes.FAULTS, ids=FAULT_IDS)
def test_clean_twin_clean_every_run(case, suite, build_root):
    _need(case, suite, build_root)
    _twin_runs(case, suite, build_root, SLOW_RUNS)


# ---- the judges themselves: each check can fail ------------------------------------------------

RECORD = {"kind": "heap-use-after-free", "stacks": {
    "current": [{"function": "uv_run", "module": "/lib/libuv.so.1"},
                {"function": "run_loop", "file": "/x/uv_close_free.c", "line": 57}],
    "free": [{"function": "rs_thread_uaf::release_frame::h0123456789abcdef",
              "file": "/x/rs_thread_uaf.rs", "line": 27}],
    "alloc": [{"function": "make_ticker.constprop.0", "file": None, "line": None}]}}


def test_frame_problem_names_what_is_missing():
    ok = {"current": ("run_loop", "uv_close_free.c"), "free": ("release_frame", "rs_thread_uaf.rs")}
    assert runtimes.frame_problem(RECORD, ok) is None
    problem = runtimes.frame_problem(RECORD, {"alloc": ("make_ticker", "uv_close_free.c")})
    assert problem == "alloc stack's make_ticker frame has no uv_close_free.c:line"
    problem = runtimes.frame_problem(RECORD, {"current": ("drop_ticker", "uv_close_free.c"),
                                              "close": ("x", "y.c")})
    assert "current stack has no frame in drop_ticker (it has: uv_run, run_loop)" in problem
    assert "no close stack" in problem
    # a function named like the application's, in another file, is not the application's
    assert runtimes.frame_problem(RECORD, {"current": ("run_loop", "other.c")}) is not None
    # a gcc clone of the function is the function; a function whose name only starts alike
    # is not
    assert runtimes.names_function({"function": "make_ticker.constprop.0"}, "make_ticker")
    assert runtimes.names_function({"function": "forget_watch.isra.0.cold"}, "forget_watch")
    assert not runtimes.names_function({"function": "make_ticker_slowly"}, "make_ticker")


def test_fault_and_clean_judges():
    case = runtimes.CASES["libuv-close-then-free"]
    good = runtimes.Outcome(1, "", "report", False, 1.0, [dict(RECORD, stacks={
        "current": RECORD["stacks"]["current"],
        "free": [{"function": "drop_ticker", "file": "/x/uv_close_free.c", "line": 42}],
        "alloc": [{"function": "make_ticker", "file": "/x/uv_close_free.c", "line": 31}]})])
    assert runtimes.fault_problem(case, good) is None
    hang = runtimes.Outcome(-9, "", "", True, 120.0)
    assert runtimes.fault_problem(case, hang).startswith("hang: libuv-close-then-free")
    assert runtimes.fault_problem(case, runtimes.Outcome(-11, "", "", False, 1.0)).startswith(
        "no report")
    wrong = runtimes.Outcome(1, "", "", False, 1.0, [{"kind": "double-free", "stacks": {}}])
    assert runtimes.fault_problem(case, wrong).startswith("wrong kind: double-free")
    native = runtimes.Outcome(0, "out\n", "", False, 0.1)
    assert runtimes.clean_problem("x", runtimes.Outcome(0, "out\n", "", False, 0.2), native) is None
    assert "stdout differs" in runtimes.clean_problem(
        "x", runtimes.Outcome(0, "other\n", "", False, 0.2), native)
    assert "stderr differs" in runtimes.clean_problem(
        "x", runtimes.Outcome(0, "out\n", "lifeguard: note\n", False, 0.2), native)
    assert runtimes.clean_problem("x", good, native).startswith("reported heap-use-after-free")


def test_every_fault_names_its_application_source():
    """Each function a case expects is defined in the source file it names."""
    sources = {p.name: p.read_text() for p in runtimes.SOURCE_DIR.rglob("*")
               if p.suffix in (".c", ".rs")}
    for case in runtimes.FAULTS:
        for stack, (function, source) in case.frames.items():
            assert source in sources, (case.id, source)
            text = sources[source]
            assert re.search(rf"[\s*]{function}\(", text), (case.id, function)


# ---- the benchmark: rows produced, never timed ------------------------------------------------

def test_bench_verify_runtimes_rows(repo_root, build_root, suite, tmp_path, monkeypatch):
    """`lifeguard bench verify_runtimes` on two cases (a fault inside libc, the libuv echo
    pair), tiny repetitions: seconds and ratios for each tool, and what each reported."""
    from lifeguard_cli import bench, paths
    from test_cli import lifeguard

    cases = ("c-fileno-freed-file", "libuv-echo")
    for case in cases:
        _need(runtimes.CASES[case], suite, build_root)
    if not all(paths.bench_program_path(build_root, "plain", p).is_file()
               for p in ("heap_bench", "heap_bench_bare", "fd_bench", "fd_bench_bare")):
        pytest.fail("build/plain has no bench programs (every plain tree builds them): "
                    "rebuild it", pytrace=False)
    monkeypatch.setenv("LIFEGUARD_BENCH_QUICK", "1")
    monkeypatch.setenv("LIFEGUARD_BENCH_RUNTIMES", ",".join(cases))
    out = tmp_path / "bench.json"
    proc = lifeguard(repo_root, "bench", "verify_runtimes", "--no-build", "--config", "plain",
                     "--build-dir", build_root, "--json", out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = json.loads(out.read_text())
    value = {(r["metric"], r["config"]): r for r in rows}
    assert len(value) == len(rows), "a (metric, config) printed twice"
    assert all(set(bench.ROW_KEYS) <= r.keys() and r["bench"] == "verify_runtimes" for r in rows)
    memcheck = shutil.which("valgrind") is not None
    tools = ("native", "verify", "memcheck") if memcheck else ("native", "verify")
    for case in (*cases, "total"):
        for tool in tools:
            assert value[(f"{case}/seconds", tool)]["value"] > 0
        assert value[(f"{case}/vs_native", "verify")]["value"] > 0
        assert ((f"{case}/vs_memcheck", "verify") in value) == memcheck
    fault = value[("c-fileno-freed-file/detected", "verify")]
    assert fault["expected"] == "heap-use-after-free" and fault["value"] in (0, 1)
    assert value[("libuv-echo/clean", "verify")]["value"] in (0, 1)
    if memcheck:  # valgrind sees the read of the freed FILE inside fileno
        said = value[("c-fileno-freed-file/detected", "memcheck")]
        assert said["value"] == 1 and said["report"].startswith("Invalid read"), said
        assert value[("libuv-echo/clean", "memcheck")]["value"] == 1
    assert "verify_runtimes (wall seconds" in proc.stdout
