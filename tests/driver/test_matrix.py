"""Every manifest row, run through the driver's own run and classify code.

The same check as `scripts/lifeguard matrix`, one test per row, plus what a single run cannot
show: fixed rows stay clean run after run, and buggy reports blame the right source lines.
"""

import re
import sys

import pytest

from lifeguard_cli import classify
from lifeguard_cli import run as runner
from lifeguard_cli.kinds import DETECTOR_OF

from conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "tests" / "seeded"))
import armed  # noqa: E402


def _explain(result):
    return "\n".join([f"{result.row.id}: expected {result.row.expected}, "
                      f"observed {result.observed} ({result.matched}/{len(result.runs)} matched)",
                      *("    " + line for line in result.report(limit=30))])


def test_row_outcome(row, row_result):
    """The row's one run is what the manifest says, frames included."""
    result = row_result(row)
    assert result.observed == row.expected, _explain(result)


def test_fixed_row_clean_for_100_iterations(fixed_row, scenario_binary):
    """100 iterations inside one process: fixed code is clean on every one."""
    binary = scenario_binary(fixed_row.scenario.program, fixed_row.config.name)
    run = runner.run_scenario(binary, fixed_row.scenario.name, "fixed", fixed_row.config.env,
                              iterations=100)
    lines = "\n".join(classify.report_excerpt(run.output, 30))
    assert run.kind == "clean", f"{fixed_row.id} with --iterations 100: {run.kind}\n{lines}"


def test_fixed_row_clean_in_20_processes(fixed_row, build_root, scenario_binary):
    """20 fresh processes, each one execution of another random schedule: fixed code does not
    depend on what a process starts with. (The row's own search, when it has one, is
    test_row_outcome's; repeated, a seeded search would only say the same again.)"""
    scenario_binary(fixed_row.scenario.program, fixed_row.config.name)
    result = runner.run_row(fixed_row, build_root, runs=20, seeds=True)
    assert result.matched == 20, _explain(result)


def test_row_without_search_has_one_schedule(fixed_row, scenario_binary):
    """A scenario with no manifest `search` runs one execution in the matrix; that is a full
    check only if it has one schedule: dfs must explore every schedule in one execution. A
    scenario with more needs a `search` (scenarios/manifest.toml)."""
    if fixed_row.scenario.search:
        pytest.skip(f"{fixed_row.scenario.name} has a search: "
                    f"{' '.join(fixed_row.scenario.run_args)}")
    binary = scenario_binary(fixed_row.scenario.program, fixed_row.config.name)
    run = runner.run_scenario(binary, fixed_row.scenario.name, "fixed", fixed_row.config.env,
                              extra_args=["--strategy", "dfs", "--iterations", "2"])
    assert run.kind == "clean", "\n".join(classify.report_excerpt(run.output, 30))
    assert re.search(r"clean, 1 execution\(s\), strategy dfs, every schedule explored",
                     run.output), (f"{fixed_row.id} has more than one schedule but no manifest "
                                   f"search:\n{run.output[-2000:]}")


def test_fixed_row_is_watched(fixed_row, build_root, scenario_binary, tmp_path):
    """A fixed row's silence counts only if the detector of its buggy twin's fault was armed:
    the armed probe (tests/seeded/armed_probe.c) preloaded into one run says so. Rows whose
    fault a sanitizer reports are ASan's (the asan tree has no probe)."""
    kind = fixed_row.scenario.expected("buggy", fixed_row.config.name)
    if fixed_row.config.preset != "plain":
        pytest.skip(f"the {fixed_row.config.preset} tree has no armed probe (a preloaded module; "
                    "ASan must come first): the plain tree's rows check it")
    if DETECTOR_OF.get(kind) not in armed.CHECKED:
        pytest.skip(f"{kind} is reported by {DETECTOR_OF.get(kind, 'a sanitizer')}; the armed "
                    f"probe checks {', '.join(armed.CHECKED)}")
    binary = scenario_binary(fixed_row.scenario.program, fixed_row.config.name)
    log = tmp_path / "armed.json"
    env = armed.preload(fixed_row.config.env, build_root, log)
    run = runner.run_scenario(binary, fixed_row.scenario.name, "fixed", env)
    assert run.kind == "clean", "\n".join(classify.report_excerpt(run.output, 30))
    problem = armed.problem(DETECTOR_OF[kind], armed.read(log))
    assert problem is None, f"{fixed_row.id} was not watched: {problem}"


@pytest.mark.slow
def test_fixed_row_clean_in_100_processes(fixed_row, build_root, scenario_binary):
    """The full check: clean in 100 of 100 separate `--iterations 1` processes."""
    scenario_binary(fixed_row.scenario.program, fixed_row.config.name)
    result = runner.run_row(fixed_row, build_root, runs=100, seeds=True)
    assert result.matched == 100, _explain(result)


def test_buggy_row_report_names_the_stacks(buggy_row, row_result):
    """The first JSON report has every stack the manifest names, each topped by the expected
    function at a real source line, and the text report shows those functions too."""
    result = row_result(buggy_row)
    run = result.runs[0]
    assert run.records, f"{buggy_row.id}: no JSON report in the log\n{_explain(result)}"
    first = run.records[0]
    assert first["kind"] == buggy_row.expected, _explain(result)
    for stack, function in buggy_row.frames.items():
        top = classify.top_frame(first, stack)
        assert top is not None, f"{buggy_row.id}: JSON report has no {stack!r} stack: {first['stacks'].keys()}"
        assert top.get("function") == function, f"{buggy_row.id}: {stack} top frame {top}"
        assert str(top.get("file", "")).endswith(".c"), f"{buggy_row.id}: {stack} top frame {top}"
        line = top.get("line")
        assert isinstance(line, int) and not isinstance(line, bool) and line > 0, \
            f"{buggy_row.id}: {stack} top frame {top}"
        assert re.search(rf"^\s*#\d+ 0x[0-9a-fA-F]+ in {re.escape(function)}\b", run.output,
                         re.MULTILINE), f"{buggy_row.id}: text report has no frame in {function}"
