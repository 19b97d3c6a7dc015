# SPDX-License-Identifier: MIT
"""`lifeguard fuzz --engine afl` as a user runs it (AFL++ runs bounded by executions, --runs
as afl-fuzz -E, on build/afl, built here when missing), and its readers of AFL++'s files on
canned content."""

import shutil
import subprocess

import pytest

from test_fuzz_cmd import assert_one_line_error, clean_env, fuzz_run, lifeguard

from lifeguard_cli import fuzz_afl

BUILD_TIMEOUT = 900  # the first run configures and builds build/afl


@pytest.fixture
def afl_root(build_root, selected_configs):
    """The build root, when AFL++ runs belong to this session: the asan one (as libFuzzer's
    do) on a machine with AFL++ (scripts/install-deps --afl; make test installs it)."""
    if "asan" not in selected_configs:
        pytest.skip("the AFL++ runs come with the asan (clang) config")
    missing = [t for t in ("afl-fuzz", "afl-clang-fast") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"AFL++ is not installed ({', '.join(missing)}): scripts/install-deps --afl")
    return build_root


def afl_run(build_root, tmp_path, *args):
    """`lifeguard fuzz --engine afl ARGS --json` into tmp_path (building build/afl if need
    be); returns (process, the JSON object)."""
    return fuzz_run(build_root, tmp_path, *args, "--engine", "afl", build=True,
                    timeout=BUILD_TIMEOUT)


def replay(build_root, target, path, fault=None):
    env = clean_env(ASAN_OPTIONS="detect_leaks=0")
    if fault:
        env["LIFEGUARD_FAULTS"] = fault
    return subprocess.run([str(build_root / "afl" / "fuzz" / f"{target}_afl"), str(path)],
                          capture_output=True, text=True, env=env, timeout=60)


# ---- real runs ---------------------------------------------------------------------------

def test_afl_finds_the_vec_borrow_use_after_free(afl_root, tmp_path):
    """napi-rs#2571 by AFL++: it skips the seeds that crash, finds a crashing mutation of
    another, stops there; the replayed report is ASan's, in read_native, and the input
    crashes only with the switch."""
    proc, r = afl_run(afl_root, tmp_path, "gc_async", "--runs", "200000",
                      "--fault", "bind-vec-borrow-unpinned")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert r["engine"] == "afl" and r["crashed"] is True and r["reproduced"] is True, r
    assert r["fault_kind"] == "heap-use-after-free", r
    assert r["summary"].endswith(" in read_native"), r["summary"]
    assert 0 < r["execs_to_first_crash"] <= r["execs"], r
    assert 0 < r["seconds_to_first_crash"] <= r["seconds_run"], r
    assert "/crashes/id:" in r["artifact"] and "-G 256" in r["command"], r
    assert "-E 200000" in r["command"] and "-V" not in r["command"].split(), r
    assert replay(afl_root, "gc_async", r["artifact"], "bind-vec-borrow-unpinned").returncode != 0
    assert replay(afl_root, "gc_async", r["artifact"]).returncode == 0


@pytest.mark.parametrize("target", ["double_close", "gc_async"])
def test_afl_fuzzes_the_fixed_code_clean(afl_root, tmp_path, target):
    """No false report from AFL++'s fork server: fdcheck checks the forked children, and
    nothing of AFL++'s own (its descriptors, a dummy input) is taken for the target's."""
    proc, r = afl_run(afl_root, tmp_path, target, "--runs", "2000")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert r["crashed"] is False and r["fault"] is None and r["seeds_crashed"] == [], r
    assert r["execs"] >= 1000 and r["exec_per_sec"] > 0 and r["runs"] == 2000, r


def test_an_unknown_engine_is_one_line():
    assert_one_line_error(lifeguard("fuzz", "gc_async", "--engine", "nonsense"), "--engine")


# ---- AFL++'s files -----------------------------------------------------------------------

def test_finding_names_and_stats_are_read(tmp_path):
    name = "id:000000,sig:06,src:000005,time:380,execs:512,op:havoc,rep:2"
    assert fuzz_afl.finding_fields(name) == {"id": "000000", "sig": "06", "src": "000005",
                                             "time": "380", "execs": "512", "op": "havoc",
                                             "rep": "2"}
    stats = tmp_path / "fuzzer_stats"
    stats.write_text("execs_done        : 35111\nexecs_per_sec     : 2339.33\n"
                     "stability         : 80.67%\nafl_version       : ++4.04c\n")
    assert fuzz_afl.read_stats(stats) == {"execs_done": 35111, "execs_per_sec": 2339.33,
                                          "stability": 80.67, "afl_version": "++4.04c"}
    assert fuzz_afl.read_stats(tmp_path / "absent") == {}


def test_plot_data_gives_the_execs_of_the_first_crash(tmp_path):
    plot = tmp_path / "plot_data"
    header = ("# relative_time, cycles_done, cur_item, corpus_count, pending_total, "
              "pending_favs, map_size, saved_crashes, saved_hangs, max_depth, execs_per_sec, "
              "total_execs, edges_found\n")
    plot.write_text(header + "5, 0, 1, 40, 39, 5, 7.00%, 0, 0, 2, 900.0, 4500, 400\n"
                             "10, 0, 2, 50, 45, 5, 7.25%, 3, 0, 2, 950.0, 9400, 452\n")
    assert fuzz_afl.plot_execs_at_first_crash(plot) == 9400
    assert fuzz_afl.plot_execs_at_first_crash(tmp_path / "absent") is None


def test_the_seeds_that_crash_are_named():
    log = ("\x1b[1;93m[!] \x1b[1;97mWARNING: \x1b[0mTest case 'id:000001,time:0,execs:0,"
           "orig:vec-borrow' results in a crash, skipping\x1b[0m\n"
           "[*] Attempting dry run with 'id:000002,time:0,execs:0,orig:owned'...\n")
    assert fuzz_afl.seeds_crashed(log) == ["id:000001,time:0,execs:0,orig:vec-borrow"]
