"""The seeded-fault suite (tests/seeded, research/anchors-detectors.md §7b item 1).

In the plain tree: every fault reported with the right kind and stacks, linked in and with the
preload library over the unmodified program; every clean twin clean. In the asan tree: what
AddressSanitizer alone says about the same programs, written as build/asan/tests/seeded/
asan-table.json (the full three-column table: `python3 tests/seeded/seeded.py --json FILE`).
"""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "seeded"))

import seeded  # noqa: E402

ASSERTED = [c for c in seeded.CASES if c.asserted]
# Each program once per clean twin (cases of one program differ only in their arguments).
CLEAN = [c for c in seeded.CASES if c.asserted]


@pytest.fixture(scope="module")
def presets(selected_configs, lifeguard_manifest):
    return {lifeguard_manifest.configs[c].preset for c in selected_configs}


def _need(presets, build_root, mode, case):
    preset = "asan" if mode == "asan" else "plain"
    if preset not in presets:
        pytest.skip(f"the {preset} preset is not selected")
    path = seeded.binary(build_root, mode, case.program)
    if not path.is_file():
        pytest.fail(f"{path} is not built (cmake --build --preset {preset})", pytrace=False)
    if mode == "preloaded" and not seeded.preload_library(build_root).is_file():
        pytest.skip(f"{seeded.preload_library(build_root)} is not built yet")


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
    _need(presets, build_root, mode, case)
    outcome = seeded.run(case, mode, "clean", build_root)
    assert outcome.returncode == 0 and outcome.kind == "clean" and not outcome.records, \
        _excerpt(outcome)


def test_default_quarantine_limit(presets, build_root):
    """300 MiB of one-page churn exceed the default 256 MiB quarantine: the freed slot has been
    reused and freed again, so the read is still a use-after-free but blames the churn."""
    case = next(c for c in seeded.CASES if c.id == "uaf-300mb-churn-default-quarantine")
    _need(presets, build_root, "linked", case)
    outcome = seeded.run(case, "linked", "fault", build_root)
    assert outcome.kind == "use-after-free", _excerpt(outcome)
    assert outcome.tops.get("current") == "use_block"


# What ASan deterministically says: the heap classes (except past its quarantine, where the
# stacks are the churn's), a crash for a module's code run after its unload, nothing for fd.
ASAN_HEAP = {"use-after-free": "heap-use-after-free", "double-free": "double-free",
             "heap-buffer-overflow": "heap-buffer-overflow"}


def test_asan_table(presets, build_root):
    if "asan" not in presets:
        pytest.skip("the asan preset is not selected")
    rows = seeded.build_table(build_root, modes=("asan",))
    out = Path(build_root) / "asan" / "tests" / "seeded" / "asan-table.json"
    out.write_text(json.dumps({"asan_options": seeded.ASAN_OPTIONS, "rows": rows}, indent=1) + "\n")
    by_id = {r["fault"]: r for r in rows}
    for case in seeded.CASES:
        cell = by_id[case.id]["asan"]
        assert cell is not None, f"{case.id}: not built"
        assert cell["clean_twin"] == "nothing", (case.id, cell)
        if case.expected in ASAN_HEAP:
            assert cell["fault"] == ASAN_HEAP[case.expected], (case.id, cell)
        elif case.program.startswith("mod_"):
            assert cell["fault"] not in ("nothing",), (case.id, cell)
