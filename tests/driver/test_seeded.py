"""The seeded-fault suite (tests/seeded): every fault a small program.

In the plain tree: every fault reported with the right kind and stacks, linked in and with the
preload library over the unmodified program; every clean twin clean. In the asan tree: what
AddressSanitizer alone says about the same programs, written as build/asan/tests/seeded/
asan-table.json (the full three-column table: `python3 tests/seeded/seeded.py --json FILE`).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "seeded"))

import armed  # noqa: E402
import seeded  # noqa: E402

from lifeguard_cli.kinds import DETECTOR_OF  # noqa: E402

ASSERTED = [c for c in seeded.CASES if c.asserted] + seeded.STALE_USE_CASES
# Each program once per clean twin (cases of one program differ only in their arguments).
CLEAN = [c for c in seeded.CASES if c.asserted] + seeded.STALE_USE_CASES


@pytest.fixture(scope="module")
def presets(selected_configs, lifeguard_manifest):
    return {lifeguard_manifest.configs[c].preset for c in selected_configs}


def _need(presets, build_root, mode, case):
    preset = "asan" if mode == "asan" else "plain"
    if preset not in presets:
        pytest.skip(f"the {preset} preset is not selected in this session")
    path = seeded.binary(build_root, mode, case.program)
    if not path.is_file():
        pytest.fail(f"{path} is not built (cmake --build --preset {preset})", pytrace=False)
    if mode == "preloaded" and not seeded.preload_library(build_root).is_file():
        pytest.fail(f"{seeded.preload_library(build_root)} is not built (cmake --build --preset "
                    "plain)", pytrace=False)


def _excerpt(outcome):
    return "\n".join(seeded.classify.report_excerpt(outcome.output, 16))


@pytest.mark.parametrize("mode", ["linked", "preloaded"])
@pytest.mark.parametrize("case", ASSERTED, ids=[c.id for c in ASSERTED])
def test_fault_reported(case, mode, presets, build_root):
    _need(presets, build_root, mode, case)
    outcome = seeded.run(case, mode, "fault", build_root)
    assert outcome.kind == case.expected, _excerpt(outcome)
    problem = outcome.frames_problem(case.expected, case.frames)
    assert problem is None, f"{problem}\n{_excerpt(outcome)}"


@pytest.mark.parametrize("mode", ["linked", "preloaded", "asan"])
@pytest.mark.parametrize("case", CLEAN, ids=[c.id for c in CLEAN])
def test_clean_twin_clean(case, mode, presets, build_root):
    """Clean, and watched: under lifeguard (linked, preloaded) the armed probe shows that the
    detector of the case's fault was on for the whole run."""
    _need(presets, build_root, mode, case)
    probe = mode in ("linked", "preloaded")
    outcome = seeded.run(case, mode, "clean", build_root, probe=probe)
    assert outcome.returncode == 0 and outcome.kind == "clean" and not outcome.records, \
        _excerpt(outcome)
    if probe:
        problem = armed.problem(DETECTOR_OF[case.expected], outcome.armed)
        assert problem is None, f"the clean twin was not watched: {problem}"


@pytest.mark.parametrize("mode", ["linked", "preloaded"])
@pytest.mark.parametrize("case_id, off", [("uaf-little-churn", "pageheap=0"),
                                          ("double-close", "fdcheck=0"),
                                          ("thread-in-module-at-dlclose", "modcheck=0")])
def test_a_clean_twin_with_its_detector_off_is_not_evidence(case_id, off, mode, presets,
                                                           build_root):
    """The other side of test_clean_twin_clean: with the case's detector turned off the twin
    is as silent as ever, and only the armed check tells; with it on, the fault is found."""
    case = next(c for c in seeded.CASES if c.id == case_id)
    _need(presets, build_root, mode, case)
    silent = seeded.run(case, mode, "clean", build_root, options=off, probe=True)
    assert silent.kind == "clean" and not silent.records, _excerpt(silent)
    assert armed.problem(DETECTOR_OF[case.expected], silent.armed) is not None, silent.armed
    blind = seeded.run(case, mode, "fault", build_root, options=off)
    assert blind.kind != case.expected, _excerpt(blind)  # off means off


# ---- Rust std programs: reported before the program's own reaction --------------------------

def _need_rust(presets, build_root, case):
    if "plain" not in presets:
        pytest.skip("the plain preset is not selected in this session")
    path = seeded.binary(build_root, "preloaded", case.program)
    if not path.is_file():
        pytest.skip(f"{path} is not built: rustc was not found on PATH or in ~/.cargo/bin when "
                    f"the plain tree was configured")
    if not seeded.preload_library(build_root).is_file():
        pytest.fail(f"{seeded.preload_library(build_root)} is not built (cmake --build --preset "
                    "plain)", pytrace=False)


def _before_self_check(output):
    """lifeguard's SUMMARY comes before the debug build's own abort message (if any)."""
    summary = output.find("SUMMARY: lifeguard:")
    own = output.find(seeded.RUST_SELF_CHECK)
    return summary >= 0 and (own < 0 or summary < own)


@pytest.mark.parametrize("keep_going", [False, True], ids=["halt", "keep-going"])
@pytest.mark.parametrize("case", seeded.RUST_CASES, ids=[c.id for c in seeded.RUST_CASES])
def test_rust_fault_reported_first(case, keep_going, presets, build_root):
    """The report (kind, stacks through the program's functions) is in the JSON log and on
    stderr before anything the program does about the stale descriptor; with halt_on_error=0
    a debug build's own check still aborts, after the report."""
    _need_rust(presets, build_root, case)
    expected = seeded.rust_expected(case, build_root)
    outcome = seeded.rust_run(case, "fault", build_root,
                              options="halt_on_error=0" if keep_going else "")
    assert outcome.kind == expected, _excerpt(outcome)
    problem = seeded.blames_problem(case, outcome.records, expected)
    assert problem is None, f"{problem}\n{_excerpt(outcome)}"
    assert _before_self_check(outcome.output), outcome.output[-3000:]
    if keep_going and expected == "closed-fd-use" and case.std_check:
        # the program's own check did run, after the report
        assert seeded.RUST_SELF_CHECK in outcome.output, outcome.output[-3000:]
        assert outcome.returncode == -6, outcome.returncode
    if not keep_going:
        assert seeded.RUST_SELF_CHECK not in outcome.output, outcome.output[-3000:]


@pytest.mark.parametrize("case", seeded.RUST_CASES, ids=[c.id for c in seeded.RUST_CASES])
def test_rust_clean_twin_clean(case, presets, build_root):
    _need_rust(presets, build_root, case)
    outcome = seeded.rust_run(case, "clean", build_root)
    assert outcome.returncode == 0 and outcome.kind == "clean" and not outcome.records, \
        _excerpt(outcome)


# ---- descriptor calls inside locked sections ---------------------------------------------------

LOCKED_PATHS = ["dlopen", "dlopen-thread", "stdio", "getattr", "threads", "fork", "signal"]


@pytest.mark.parametrize("mode", ["linked", "preloaded"])
@pytest.mark.parametrize("path", LOCKED_PATHS)
def test_fd_calls_inside_locked_sections_finish(path, mode, presets, build_root):
    """tests/seeded/fd_locked_sections.c: descriptor calls made where libc, the loader or the
    program already holds a lock (a module constructor, stdio callbacks, atfork handlers, a
    signal handler, a thread's first calls) finish, clean. A hang fails at the bound."""
    case = seeded.Case(f"locked-{path}", "fd_locked_sections", (path,), "clean", {})
    _need(presets, build_root, mode, case)
    outcome = seeded.run(case, mode, "clean", build_root, timeout=60)
    assert outcome.kind != "timeout", f"{path}: hung under lifeguard ({mode})"
    assert (outcome.returncode, outcome.kind, outcome.records) == (0, "clean", []), \
        _excerpt(outcome) or outcome.output[-2000:]
    assert f"{path}: done" in outcome.output


# A bad pointer handed to an interposed call while a lock is held (tests/seeded/locked_calls.c):
# reported, not waited on; the clean twin makes the same calls.
LOCKED_CALLS = {"free": "double-free", "realloc": "double-free", "fclose": "heap-use-after-free",
                "dlclose": "heap-use-after-free"}


@pytest.mark.parametrize("mode", ["linked", "preloaded"])
@pytest.mark.parametrize("call", sorted(LOCKED_CALLS))
def test_bad_pointer_in_locked_call_is_reported(call, mode, presets, build_root):
    kind = LOCKED_CALLS[call]
    case = seeded.Case(f"locked-{call}", "locked_calls", (call,), kind, {})
    _need(presets, build_root, mode, case)
    bad = seeded.run(case, mode, "fault", build_root, timeout=60)
    assert bad.kind == kind, _excerpt(bad) or bad.output[-2000:]
    assert [r["kind"] for r in bad.records] == [kind], bad.output[-2000:]
    assert bad.returncode == -6, bad.returncode  # the report's abort
    if call in ("free", "realloc"):  # released from the stream's close callback, under fclose
        assert bad.tops.get("current") == "release_again", bad.tops
    if call == "dlclose":  # read by the module's destructor, under the loader's lock
        assert bad.tops.get("current") == "mod_fini", bad.tops
    clean = seeded.run(case, mode, "clean", build_root, timeout=60)
    assert (clean.returncode, clean.kind, clean.records) == (0, "clean", []), \
        _excerpt(clean) or clean.output[-2000:]
    assert "locked_calls" in clean.output and ": done" in clean.output


def test_default_quarantine_limit(presets, build_root):
    """300 MiB of one-page churn exceed the default 256 MiB quarantine: the freed slot has been
    reused and freed again, so the read is still a use-after-free but blames the churn."""
    case = next(c for c in seeded.CASES if c.id == "uaf-300mb-churn-default-quarantine")
    _need(presets, build_root, "linked", case)
    outcome = seeded.run(case, "linked", "fault", build_root)
    assert outcome.kind == "heap-use-after-free", _excerpt(outcome)
    assert outcome.tops.get("current") == "use_block"


# What ASan deterministically says: the heap classes (except past its quarantine, where the
# stacks are the churn's), a crash for a module's code run after its unload, nothing for fd.
# (The page heap names its heap faults as ASan does, so the expected kind is the same.)
ASAN_HEAP = ("heap-use-after-free", "double-free", "heap-buffer-overflow")


def test_asan_table(presets, build_root):
    if "asan" not in presets:
        pytest.skip("the asan preset is not selected in this session")
    rows = seeded.build_table(build_root, modes=("asan",))
    out = Path(build_root) / "asan" / "tests" / "seeded" / "asan-table.json"
    out.write_text(json.dumps({"asan_options": seeded.ASAN_OPTIONS, "rows": rows}, indent=1) + "\n")
    by_id = {r["fault"]: r for r in rows}
    for case in seeded.CASES:
        cell = by_id[case.id]["asan"]
        assert cell is not None, f"{case.id}: not built"
        assert cell["clean_twin"] == "nothing", (case.id, cell)
        if case.expected in ASAN_HEAP:
            assert cell["fault"] == case.expected, (case.id, cell)
        elif case.program.startswith("mod_"):
            assert cell["fault"] not in ("nothing",), (case.id, cell)


# ---- ASan's own reports in the JSON log -------------------------------------------------------

ASAN_JSON = [("heap_uaf", ("1",), "heap-use-after-free",
              {"current": "use_block", "free": "release_block", "alloc": "make_block"}),
             ("double_free", (), "double-free",
              {"current": "release_again", "free": "release_block", "alloc": "make_block"})]


@pytest.mark.parametrize("program, args, kind, tops", ASAN_JSON, ids=[c[0] for c in ASAN_JSON])
def test_asan_report_is_written_to_log_json(program, args, kind, tops, presets, build_root,
                                            tmp_path):
    """Under the asan build (lifeguard linked in), a fault ASan finds is in log_json as the
    same record a lifeguard report makes: ASan's kind, its headline, its stacks by name."""
    if "asan" not in presets:
        pytest.skip("the asan preset is not selected")
    path = Path(build_root) / "asan" / "tests" / "seeded" / f"seeded_{program}"
    if not path.is_file():
        pytest.fail(f"{path} is not built (cmake --build --preset asan)", pytrace=False)
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "LIFEGUARD_OPTIONS")}
    env["ASAN_OPTIONS"] = seeded.ASAN_OPTIONS
    log = tmp_path / "r.jsonl"
    env["LIFEGUARD_OPTIONS"] = f"log_json={log}"
    bad = subprocess.run([str(path), "fault", *args], env=env, capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode != 0 and "ERROR: AddressSanitizer: " in bad.stderr, bad.stderr[-3000:]
    records, problems = seeded.classify.read_log(log)
    assert problems == [] and len(records) == 1, (problems, bad.stderr[-3000:])
    r = records[0]
    assert (r["tool"], r["kind"]) == ("AddressSanitizer", kind), r
    assert r["summary"].startswith(kind), r
    assert {s: (seeded.classify.top_frame(r, s) or {}).get("function") for s in tops} == tops, r
    top = seeded.classify.top_frame(r, "current")
    assert top["file"].endswith(f"{program}.c") and top["line"] > 0, r
    clean = subprocess.run([str(path), "clean", *args], env=env, capture_output=True, text=True,
                           timeout=120)
    assert clean.returncode == 0, clean.stderr[-3000:]
    assert seeded.classify.read_log(log) == (records, [])  # nothing more was written
