# SPDX-License-Identifier: MIT
"""The planted use-after-free race (fuzz/sched_uaf.c) is found by schedule bytes under
libFuzzer within 10^4 executions -- a test by execution count, never by time -- and its clean
twin (atomic refcount updates) is never reported."""

import os
import re
import subprocess

import pytest

RUNS = 10_000


@pytest.fixture
def asan_build(build_root, selected_configs):
    if "asan" not in selected_configs:
        pytest.skip("libFuzzer builds come with the asan (clang) config")
    fuzzer = build_root / "asan" / "fuzz" / "sched_uaf_fuzz"
    replay = build_root / "asan" / "fuzz" / "sched_uaf_replay"
    if not fuzzer.is_file():
        pytest.fail(f"{fuzzer} is not built", pytrace=False)
    return fuzzer, replay


def fuzz(fuzzer, tmp_path, seed, variant="buggy"):
    env = dict(os.environ, ASAN_OPTIONS="abort_on_error=0:detect_leaks=0",
               SCHED_UAF_VARIANT=variant)
    env.pop("LIFEGUARD_OPTIONS", None)
    proc = subprocess.run([str(fuzzer), f"-runs={RUNS}", f"-seed={seed}", "-detect_leaks=0",
                           "-print_final_stats=1", f"-artifact_prefix={tmp_path}/"],
                          env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    executed = re.search(r"stat::number_of_executed_units: (\d+)", proc.stderr)
    return proc, int(executed.group(1)) if executed else None


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_bytes_find_the_uaf_within_ten_thousand_executions(asan_build, tmp_path, seed):
    fuzzer, replay = asan_build
    proc, executed = fuzz(fuzzer, tmp_path, seed)
    err = proc.stderr
    assert "SUMMARY: AddressSanitizer: heap-use-after-free" in err, err[-3000:]
    assert executed is not None and executed <= RUNS, f"executed {executed}"
    # the use in the owner, the free in a worker's unref
    use = err[err.index("ERROR: AddressSanitizer"):]
    assert re.search(r"#0 0x[0-9a-f]+ in owner .*sched_uaf\.c", use), use[:1500]
    freed = use[use.index("freed by thread"):]
    assert re.search(r"in unref .*sched_uaf\.c", freed), freed[:1500]
    # the crash input is the schedule: replaying it (no libFuzzer) faults the same way
    crashes = list(tmp_path.glob("crash-*"))
    assert len(crashes) == 1, list(tmp_path.iterdir())
    again = subprocess.run([str(replay), str(crashes[0])], capture_output=True, text=True,
                           env=dict(os.environ, ASAN_OPTIONS="abort_on_error=0:detect_leaks=0"),
                           timeout=60)
    assert "heap-use-after-free" in again.stderr, again.stderr[-2000:]
    assert "lifeguard: schedule at the crash: lgs1:" in again.stderr, again.stderr[-2000:]


def test_fixed_twin_is_clean_for_ten_thousand_executions(asan_build, tmp_path):
    fuzzer, _ = asan_build
    proc, executed = fuzz(fuzzer, tmp_path, seed=1, variant="fixed")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert executed == RUNS
    assert "SUMMARY:" not in proc.stderr
