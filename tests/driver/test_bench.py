# SPDX-License-Identifier: MIT
"""`scripts/lifeguard bench` and the benchmark programs, as a user runs them.

What is checked is the shape of what they print and the counts that must be exact (the 2 x 10
search is C(20,10) = 184756 executions), never how fast anything is: speed is measured by
`make bench`, not tested.
"""

import datetime
import json
import os
import subprocess
from types import SimpleNamespace

import pytest

from conftest import selected_rows
from test_cli import assert_one_line_error, lifeguard

from lifeguard_cli import bench, paths
from lifeguard_cli import explore as explore_cli
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
    missing or lacks it (every tree builds bench/), saying how to build it."""
    preset = lifeguard_manifest.configs[bench_config].preset
    tree = paths.preset_dir(build_root, preset)
    if not tree.is_dir():
        pytest.fail(f"build tree {tree} of config {bench_config!r} does not exist; build it with "
                    f"`{how_to_build(preset, build_root)}`, or pick built configs with --config",
                    pytrace=False)
    if not paths.bench_program_path(build_root, preset, "sched_bench").is_file():
        pytest.fail(f"{tree} has no bench/sched_bench: rebuild it with "
                    f"`{how_to_build(preset, build_root)}`", pytrace=False)
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


# ---- the detector comparison (bench_compare): rows produced and parsed, never timed --------

from lifeguard_cli import bench_compare  # noqa: E402


def _compare_tree(build_root):
    needed = [paths.bench_program_path(build_root, "plain", p)
              for p in ("heap_bench", "heap_bench_bare", "fd_bench", "fd_bench_bare",
                        "control_bench")]
    if not all(p.is_file() for p in needed):
        pytest.fail("build/plain has no bench/heap_bench or fd_bench (every plain tree builds "
                    "them): rebuild it", pytrace=False)


def test_heap_bench_prints_its_figures(build_root):
    _compare_tree(build_root)
    for program in ("heap_bench", "heap_bench_bare"):
        binary = paths.bench_program_path(build_root, "plain", program)
        proc = subprocess.run([binary, "--pairs", "500", "--warmup", "100", "--reps", "3"],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        figures = json.loads(proc.stdout)
        assert figures["pairs"] == 500 and figures["reps"] == 3 and figures["ring"] == 256
        assert figures["ns_per_pair"] > 0 and figures["max_rss_kib"] > 0
    bad = subprocess.run([binary, "--bogus"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stdout == ""


def test_heap_and_fd_comparison_rows(repo_root, tmp_path, build_root, monkeypatch):
    """heap_pair (glibc and the page heap at least; the other detectors when installed),
    heap_syscalls (when strace is) and fd_churn: every row has the usual keys, a number, and
    the ratios are against the baseline of the same run."""
    _compare_tree(build_root)
    monkeypatch.setenv("LIFEGUARD_BENCH_QUICK", "1")  # tiny workloads: shape, not speed
    out = tmp_path / "compare.json"
    proc = lifeguard(repo_root, "bench", "heap_pair", "heap_syscalls", "fd_churn", "--no-build",
                     "--config", "plain", "--build-dir", build_root, "--json", out,
                     cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = json.loads(out.read_text())
    for row in rows:
        assert set(bench.ROW_KEYS) <= row.keys(), row
        assert isinstance(row["value"], (int, float)) and not isinstance(row["value"], bool)
        assert row["value"] >= 0, row
    value = {(r["bench"], r["metric"], r["config"]): r["value"] for r in rows}
    assert len(value) == len(rows), "a (bench, metric, config) printed twice"
    for config in ("glibc", "pageheap", "pageheap-sample100"):
        assert value[("heap_pair", "ns_per_pair", config)] > 0
        assert value[("heap_pair", "max_rss", config)] > 0
    assert value[("heap_pair", "time_vs_glibc", "glibc")] == 1.0
    assert not any(r["config"] == "asan" for r in rows), "asan is not among the configs"
    missing = bench_compare.missing_tools()
    for config in ("memcheck", "efence", "efence-protect-free"):
        assert (("heap_pair", "ns_per_pair", config) in value) == (config not in missing)
    if "strace" not in missing:
        # counts, not speed: every pair of the page heap makes some system calls
        assert value[("heap_syscalls", "pairs", "pageheap")] > 0
        assert value[("heap_syscalls", "syscalls_per_pair", "pageheap")] > 0
        assert isinstance(value[("heap_syscalls", "steady_munmap", "pageheap")], int)
    for name, _, _ in bench_compare.FD_SETTINGS:
        assert value[("fd_churn", "ns_per_cycle", name)] > 0
    assert value[("fd_churn", "vs_fdcheck0", "fdcheck=0")] == 1.0
    assert "heap_pair (one malloc/free pair" in proc.stdout
    assert "fd_churn (ns per descriptor cycle" in proc.stdout



def test_control_points_rows(repo_root, tmp_path, build_root, monkeypatch):
    """control_points: control_bench natively and preloaded with explore off and on. Every
    setting gives a figure, the ratios are to the native runs of the same rounds, and the
    explore=1 runs really ran under control (the table says so only from their rows)."""
    _compare_tree(build_root)
    monkeypatch.setenv("LIFEGUARD_BENCH_QUICK", "1")  # tiny workloads: shape, not speed
    out = tmp_path / "compare.json"
    proc = lifeguard(repo_root, "bench", "control_points", "--no-build", "--config", "plain",
                     "--build-dir", build_root, "--json", out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    value = {(r["bench"], r["metric"], r["config"]): r["value"]
             for r in json.loads(out.read_text())}
    for mode, metric, _ in bench_compare.CONTROL_MODES:
        for name, _ in bench_compare.CONTROL_SETTINGS:
            assert value[("control_points", f"{mode}/{metric}", name)] > 0
            assert value[("control_points", f"{mode}/vs_native", name)] > 0
            assert value[("control_points", f"{mode}/cpu_{metric}", name)] > 0
            assert value[("control_points", f"{mode}/cpu_vs_native", name)] > 0
        assert value[("control_points", f"{mode}/vs_native", "native")] == 1.0
        assert value[("control_points", f"{mode}/cpu_vs_native", "native")] == 1.0
    assert "control_points (control_bench" in proc.stdout


def test_control_bench_runs_under_control(build_root):
    """The explore=1 setting is thread control, not a native run with a variable set: with
    a decision log asked for, the hand-off run records decisions (and none natively)."""
    _compare_tree(build_root)
    binary = str(build_root / "plain" / "bench" / "control_bench")
    preload = build_root / "plain" / "harness" / "liblifeguard-preload.so"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIFEGUARD_")}
    for explore in (0, 1):
        log = build_root / "plain" / "bench" / f"control_bench-{explore}.log"
        log.unlink(missing_ok=True)
        proc = subprocess.run([binary, "handoff", "--ops", "20", "--reps", "1"],
                              capture_output=True, text=True, timeout=120,
                              env={**env, "LD_PRELOAD": str(preload), "LIFEGUARD_OPTIONS":
                                   f"explore={explore}:explore_log={log}"})
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert json.loads(proc.stdout)["ns_per_handoff"] > 0
        decisions = explore_cli.read_decisions(log)[0] if log.exists() else []
        assert bool(decisions) == bool(explore), (explore, len(decisions))
    bad = subprocess.run([binary, "spin"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stdout == ""

def test_strace_summary_parses():
    text = """\
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 60.30    0.159075           7     20276           mmap
 39.70    0.104730           5     20268         3 mprotect
  0.00    0.000000           0         1           munmap
------ ----------- ----------- --------- --------- ----------------
100.00    0.263805           6     40545         3 total
"""
    assert bench_compare.parse_strace_summary(text) == {"mmap": 20276, "mprotect": 20268,
                                                         "munmap": 1}


def test_memcheck_and_efence_cells():
    seeded = bench_compare._seeded()
    vg = ("==1== Invalid read of size 1\n==1==    at 0x10918A: use_block (heap_uaf.c:40)\n"
          "==1==  Address 0x4a42048 is 8 bytes inside a block of size 4,000 free'd\n"
          "==1==    at 0x484417B: free (in /usr/libexec/valgrind/vgpreload_memcheck.so)\n"
          "==1==    by 0x10938F: release_block (heap_uaf.c:25)\n")
    assert seeded.memcheck_cell(vg) == ("Invalid read of size 1 (in a freed block, freed in "
                                        "release_block)")
    assert seeded.memcheck_cell("==1== ERROR SUMMARY: 0 errors from 0 contexts\n") is None
    ef = "ElectricFence Aborting: free(7fc67cf4cfd8): address not from malloc().\n"
    assert seeded.efence_cell(ef, -4) == "abort: free(ADDR): address not from malloc()."
    assert seeded.efence_cell("", -11) is None


COMPARE_ROWS = [
    {"bench": "heap_pair", "metric": "ns_per_pair", "value": 25.0, "unit": "ns",
     "config": "glibc"},
    {"bench": "heap_pair", "metric": "max_rss", "value": 1800, "unit": "KiB", "config": "glibc"},
    {"bench": "heap_pair", "metric": "time_vs_glibc", "value": 1.0, "unit": "x",
     "config": "glibc"},
    {"bench": "heap_pair", "metric": "rss_vs_glibc", "value": 1.0, "unit": "x",
     "config": "glibc"},
    {"bench": "heap_syscalls", "metric": "steady_syscalls_per_pair", "value": 2.0,
     "unit": "calls", "config": "pageheap"},
    {"bench": "fd_churn", "metric": "ns_per_cycle", "value": 1050.0, "unit": "ns",
     "config": "fdcheck=1"},
    {"bench": "fd_churn", "metric": "vs_fdcheck0", "value": 1.05, "unit": "x",
     "config": "fdcheck=1"},
    {"bench": "detection", "metric": "double-free", "value": 1, "unit": "reported",
     "config": "memcheck", "report": "Invalid free()", "clean_twin": "nothing",
     "expected": "double-free"},
]


def test_detector_section():
    text = bench_compare.docs_section(COMPARE_ROWS, "`make bench`", WHEN,
                                      {"efence": "/usr/lib/libefence.so is not installed"})
    assert text.startswith(bench_compare.DOC_BEGIN)
    assert text.rstrip().endswith(bench_compare.DOC_END)
    assert "2025-01-02 03:04 UTC" in text and "not installed" in text
    assert "| glibc malloc (heap_bench_bare) | 25.00 | 1.00 | 1,800 | 1.00 |" in text
    assert "| `fdcheck=1` | 1,050 | 1.050 |" in text
    assert "| double-free | double-free | Invalid free() |" in text
    assert ("| page heap system calls per pair, full mode (steady state) | ≤ 2 calls | "
            "2.000 calls | met |") in text
    assert "| page heap munmap in the steady state | ≤ 0 calls | not measured | – |" in text


def test_repository_docs_have_the_detector_markers(repo_root):
    text = (repo_root / "docs" / "BENCHMARKS.md").read_text()
    assert bench_compare.DOC_BEGIN in text and bench_compare.DOC_END in text
