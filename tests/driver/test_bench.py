"""`scripts/lifeguard bench` and the benchmark programs, as a user runs them.

What is checked is the shape of what they print and the counts that must be exact (the 2 x 10
search is C(20,10) = 184756 executions), never how fast anything is: speed is measured by
`make bench`, not tested.
"""

import datetime
import json
import subprocess
from types import SimpleNamespace

import pytest

from conftest import selected_rows
from test_cli import assert_one_line_error, lifeguard

from lifeguard_cli import bench, paths
from lifeguard_cli.build import how_to_build
from lifeguard_cli.errors import UsageError


def pytest_generate_tests(metafunc):
    """`bench_config`: one config per build preset this session runs (the driver's --config
    and --preset; default every config of the manifest). A benchmark's config is the preset
    that built it: configs that differ only in their environment (asan-alone and asan) run
    the same binary, measured once."""
    if "bench_config" in metafunc.fixturenames:
        first = {}
        for row in selected_rows(metafunc.config):
            first.setdefault(row.config.preset, row.config.name)
        metafunc.parametrize("bench_config", list(first.values()))


@pytest.fixture
def bench_preset(bench_config, lifeguard_manifest, build_root):
    """The preset of `bench_config` whose sched_bench is built: fails when the build tree is
    missing (saying how to build it), skips when the tree predates bench/."""
    preset = lifeguard_manifest.configs[bench_config].preset
    tree = paths.preset_dir(build_root, preset)
    if not tree.is_dir():
        pytest.fail(f"build tree {tree} of config {bench_config!r} does not exist; build it with "
                    f"`{how_to_build(preset, build_root)}`, or pick built configs with --config",
                    pytrace=False)
    if not paths.bench_program_path(build_root, preset, "sched_bench").is_file():
        pytest.skip(f"{tree} has no bench/sched_bench (rebuild the tree)")
    return preset


def test_bench_json_rows(repo_root, tmp_path, build_root, bench_config, bench_preset):
    out = tmp_path / "bench.json"
    proc = lifeguard(repo_root, "bench", "fiber_switch", "dfs_2x10", "--no-build",
                     "--config", bench_preset, "--build-dir", build_root, "--json", out,
                     cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = json.loads(out.read_text())
    assert isinstance(rows, list) and rows
    for row in rows:
        assert set(bench.ROW_KEYS) <= row.keys(), row
        assert row["bench"] in ("fiber_switch", "dfs_2x10"), row
        assert isinstance(row["metric"], str) and row["metric"], row
        assert isinstance(row["unit"], str) and row["unit"], row
        assert isinstance(row["value"], (int, float)) and not isinstance(row["value"], bool)
        assert row["value"] >= 0, row
        assert row["config"] == bench_preset, row
    figures = {(r["bench"], r["metric"]): r["value"] for r in rows}
    assert len(figures) == len(rows), "a (bench, metric) printed twice"
    assert figures[("dfs_2x10", "executions")] == 184756
    assert figures[("fiber_switch", "switches")] >= 2_000_000
    for key in (("fiber_switch", "ns_per_switch"), ("dfs_2x10", "seconds")):
        assert figures[key] > 0, key
    # The table: a header with the config's column, a row per figure, the totals.
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["bench", "metric", "unit", bench_preset]
    assert f"{len(rows)} figures, 1 config" in lines
    assert any(line.split()[:2] == ["dfs_2x10", "executions"] and line.endswith("184,756")
               for line in lines)


def test_sched_bench_lists_what_the_driver_knows(build_root, bench_preset):
    binary = paths.bench_program_path(build_root, bench_preset, "sched_bench")
    listed = subprocess.run([binary, "--list"], capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    mine = [b.name for b in bench.BENCHMARKS if b.program == "sched_bench"]
    assert listed.stdout.split() == mine
    bad = subprocess.run([binary, "no_such_bench"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.startswith("sched_bench: error: unknown benchmark 'no_such_bench'")


@pytest.mark.parametrize("args, words", [
    (["no_such_bench"], "unknown benchmark 'no_such_bench'"),
    (["fiber_swich"], "did you mean 'fiber_switch'?"),
    (["--config", "no_such_config"], "unknown config 'no_such_config'"),
    (["dfs_2x10", "--update-docs"], "--update-docs records a full run only"),
    (["--config", "plain", "--update-docs"], "--update-docs records a full run only"),
    (["--json", "/no/such/dir/b.json"], "its directory does not exist"),
])
def test_bad_input_is_one_line_and_exit_2(repo_root, tmp_path, args, words):
    """Refused before anything is built or run (a real build would leave output behind)."""
    proc = lifeguard(repo_root, "bench", *args, "--build-dir", tmp_path / "b", cwd=tmp_path)
    assert_one_line_error(proc)
    assert words in proc.stderr
    assert not (tmp_path / "b").exists()


def test_no_build_without_a_tree(repo_root, tmp_path):
    proc = lifeguard(repo_root, "bench", "--no-build", "--config", "plain",
                     "--build-dir", tmp_path, cwd=tmp_path)
    assert_one_line_error(proc)
    assert "does not exist" in proc.stderr and "cmake --preset plain" in proc.stderr


def test_help_explains_everything(repo_root):
    proc = lifeguard(repo_root, "bench", "--help")
    assert proc.returncode == 0
    for word in (*bench.BENCH_NAMES, "--config", "--json", "--no-build", "--update-docs",
                 "--build-dir", "docs/BENCHMARKS.md", "184756", "ratio", "exec_per_sec",
                 "ns_per_switch", "median", "exit status", "<= 15 ns", "<= 50 ns",
                 ">= 100,000 exec/s", "< 5 s"):
        assert word in proc.stdout, word
    assert "bench" in lifeguard(repo_root, "--help").stdout


# ---- the docs section, without running anything ------------------------------------------

ROWS = [
    {"bench": "fiber_switch", "metric": "ns_per_switch", "value": 12.5, "unit": "ns",
     "config": "plain"},
    {"bench": "fiber_switch", "metric": "ns_per_switch", "value": 61.0, "unit": "ns",
     "config": "asan"},
    {"bench": "sched_4x25", "metric": "exec_per_sec", "value": 250000, "unit": "exec/s",
     "config": "plain"},
    {"bench": "sched_4x25_free", "metric": "exec_per_sec", "value": 5000, "unit": "exec/s",
     "config": "plain"},
    {"bench": "sched_4x25_free", "metric": "ratio", "value": 50.0, "unit": "controlled/free",
     "config": "plain"},
    {"bench": "dfs_2x10", "metric": "seconds", "value": 0.2, "unit": "s", "config": "plain"},
]
WHEN = datetime.datetime(2025, 1, 2, 3, 4, tzinfo=datetime.timezone.utc)


def _section():
    return bench.results_section(ROWS, {"CPU": "Test CPU", "cores": "2 online"},
                                 "`scripts/lifeguard bench --update-docs`", WHEN)


def test_results_section_has_machine_table_ratios_and_goals():
    text = _section()
    assert text.startswith(bench.DOC_BEGIN) and text.rstrip().endswith(bench.DOC_END)
    assert "2025-01-02 03:04 UTC" in text and "`scripts/lifeguard bench --update-docs`" in text
    assert "| CPU | Test CPU |" in text
    assert "| bench | metric | plain | asan | unit |" in text
    assert "| fiber_switch | ns_per_switch | 12.50 | 61.00 | ns |" in text
    assert "| plain | 250,000 | 5,000 | 50.00 × |" in text
    goals = [line for line in text.splitlines() if line.startswith("| fiber switch")]
    assert goals == ["| fiber switch | plain | ≤ 15 ns | 12.50 ns | met |",
                     "| fiber switch | asan | ≤ 50 ns | 61.00 ns | **not met** |"]
    assert "| 2 × 10 exhaustive search | asan | < 5 s | not measured | – |" in text


def test_splice_keeps_the_hand_written_text(tmp_path):
    doc = tmp_path / "B.md"
    doc.write_text(f"# B\n\npreamble\n\n{bench.DOC_BEGIN} old -->\nold figures\n"
                   f"{bench.DOC_END}\n\n## Later section\n")
    bench.write_docs(doc, _section())
    text = doc.read_text()
    assert text.startswith("# B\n\npreamble\n\n" + bench.DOC_BEGIN)
    assert "old figures" not in text and "Test CPU" in text
    assert text.endswith(bench.DOC_END + "\n\n## Later section\n")
    bench.write_docs(doc, _section())
    assert doc.read_text() == text  # rewriting is stable


def test_splice_appends_when_there_are_no_markers(tmp_path):
    doc = tmp_path / "B.md"
    doc.write_text("# B\n\nonly prose\n")
    bench.write_docs(doc, _section())
    assert doc.read_text() == "# B\n\nonly prose\n\n" + _section()


def test_broken_markers_are_refused(tmp_path):
    doc = tmp_path / "B.md"
    doc.write_text(f"# B\n\n{bench.DOC_BEGIN} -->\nno end marker\n")
    with pytest.raises(UsageError, match="markers are broken"):
        bench.read_docs(doc)


def test_repository_docs_have_their_markers(repo_root):
    text = bench.read_docs(repo_root / "docs" / "BENCHMARKS.md")
    assert bench.DOC_BEGIN in text and bench.DOC_END in text


def test_command_line_is_the_one_typed(monkeypatch):
    monkeypatch.delenv("MAKELEVEL", raising=False)
    args = SimpleNamespace(names=[], configs=[], json=None, docs=paths.BENCHMARKS_DOC,
                           no_build=False, build_dir=paths.DEFAULT_BUILD_ROOT.resolve())
    assert bench.command_line(args) == "`scripts/lifeguard bench --update-docs`"
    monkeypatch.setenv("MAKELEVEL", "1")
    assert bench.command_line(args) == ("`make bench`, which runs "
                                        "`scripts/lifeguard bench --update-docs`")
