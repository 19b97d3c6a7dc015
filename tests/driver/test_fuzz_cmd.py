# SPDX-License-Identifier: MIT
"""`lifeguard fuzz` as a user runs it (real libFuzzer runs of a few seconds on the asan tree),
and its libFuzzer runner on canned output (no binaries needed)."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from conftest import REPO_ROOT

from lifeguard_cli import fuzz

LIFEGUARD = REPO_ROOT / "scripts" / "lifeguard"
CONTRACT_KEYS = ("target", "execs", "exec_per_sec", "crashed", "execs_to_first_crash",
                 "seconds_to_first_crash", "fault_kind")


def lifeguard(*args, env=None, timeout=300):
    return subprocess.run([str(LIFEGUARD), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env)


def assert_one_line_error(proc, needle):
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("lifeguard: error: "), proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert needle in lines[0], lines[0]


def clean_env(**extra):
    """The environment without lifeguard's switches and the caller's ASAN_OPTIONS (CTest sets
    detect_leaks=1, and sched_uaf's lost update may then be found as a leak first), plus
    `extra`."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LIFEGUARD_", "LG_FUZZ_")) and k != "ASAN_OPTIONS"}
    env.update(extra)
    return env


@pytest.fixture
def asan_tree(build_root, selected_configs):
    if "asan" not in selected_configs:
        pytest.skip("libFuzzer builds come with the asan (clang) config")
    tree = build_root / "asan" / "fuzz"
    for target in ("double_close", "sched_uaf"):
        if not (tree / f"{target}_fuzz").is_file():
            pytest.fail(f"{tree / f'{target}_fuzz'} is not built", pytrace=False)
    return tree


def fuzz_run(build_root, tmp_path, *args, build=False, timeout=300):
    """`lifeguard fuzz ARGS --json` into tmp_path (with --no-build unless `build`); returns
    (process, the JSON object), after checking that the JSON has the contract's keys."""
    out = tmp_path / "fuzz.json"
    proc = lifeguard("fuzz", *args, "--json", out, "--artifacts", tmp_path / "artifacts",
                     *(() if build else ("--no-build",)), "--build-dir", build_root,
                     env=clean_env(), timeout=timeout)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert out.is_file(), proc.stdout + proc.stderr
    record = json.loads(out.read_text())
    for key in CONTRACT_KEYS:
        assert key in record, record
    return proc, record


def replay(tree, path, fault=None, target="double_close"):
    env = clean_env(ASAN_OPTIONS="detect_leaks=0")
    if fault:
        env["LIFEGUARD_FAULTS"] = fault
    return subprocess.run([str(tree / f"{target}_replay"), str(path)], capture_output=True,
                          text=True, env=env, timeout=60)


# ---- real runs ---------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["double_close", "gc_async", "module_unload",
                                    "pipe_disconnect"])
def test_asan_slow_unwinder_on_malloc_starts(asan_tree, tmp_path, target):
    """With ASan's slow unwinder on malloc (fast_unwind_on_malloc=0, which AFL++ sets), a
    failed dlsym's allocation unwinds through libgcc, which calls pthread_once: lifeguard's
    interceptor of it must not look itself up again (it recursed until the stack ran out,
    and afl-fuzz saw its fork server die before the handshake)."""
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    proc = subprocess.run([str(asan_tree / f"{target}_replay"), str(empty)],
                          capture_output=True, text=True, timeout=60,
                          env=clean_env(ASAN_OPTIONS="detect_leaks=0:fast_unwind_on_malloc=0"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "replayed 1 inputs" in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def test_the_seeded_fault_is_found_and_its_input_replays(asan_tree, build_root, tmp_path):
    proc, r = fuzz_run(build_root, tmp_path, "double_close", "--runs", "100000",
                       "--fault", "socket-close-in-drop")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert r["target"] == "double_close" and r["fault"] == "socket-close-in-drop"
    assert r["crashed"] is True and r["fault_kind"] == "double-close", r
    assert 1 <= r["execs_to_first_crash"] <= 100_000 and r["execs"] == r["execs_to_first_crash"]
    assert 0 < r["seconds_to_first_crash"] <= r["seconds_run"]
    assert "-runs=100000" in r["command"] and "-max_total_time" not in r["command"]
    assert r["summary"].startswith("SUMMARY: lifeguard: double-close")
    assert r["schedule"].startswith("lgs1:") and r["report"][0].startswith("==")
    assert "double_close: crashed after" in proc.stdout and "double-close" in proc.stdout
    artifact = tmp_path / "artifacts" / os.path.basename(r["artifact"])
    assert r["artifact"] == str(artifact) and artifact.is_file(), r["artifact"]
    # the input is the bug: it fails with the fault switch on and is clean without it
    bad = replay(asan_tree, artifact, "socket-close-in-drop")
    assert bad.returncode != 0 and "SUMMARY: lifeguard: double-close" in bad.stderr, bad.stderr[-2000:]
    good = replay(asan_tree, artifact)
    assert good.returncode == 0 and "SUMMARY:" not in good.stderr, good.stderr[-2000:]


def _tree_snapshot(path):
    return {p.relative_to(path): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_the_fixed_code_runs_clean_and_the_seeds_stay_untouched(asan_tree, build_root, tmp_path):
    seeds = REPO_ROOT / "corpora" / "double_close"
    before = _tree_snapshot(seeds)
    proc, r = fuzz_run(build_root, tmp_path, "double_close", "--runs", "3000")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert r["crashed"] is False and r["fault_kind"] is None and r["fault"] is None, r
    assert r["execs_to_first_crash"] is None and r["seconds_to_first_crash"] is None
    assert r["execs"] >= 3000 and r["exec_per_sec"] > 0 and r["runs"] == 3000, r
    assert r["seed_corpus_size"] == len(before) and r["corpus_size"] >= len(before)
    assert r["artifact"] is None and not list((tmp_path / "artifacts").iterdir())
    assert "-dict=" in r["command"] and "-runs=3000" in r["command"]
    assert "double_close: no crash in" in proc.stdout
    assert _tree_snapshot(seeds) == before, "lifeguard fuzz wrote into corpora/double_close"


def test_inject_seeds_from_the_inject_corpus_too(asan_tree, build_root, tmp_path):
    # With --inject the inputs of corpora/inject/<target>/ are seeds as well (they mean what
    # they say only under injection); without it they are not (the twin below).
    plain = len(_tree_snapshot(REPO_ROOT / "corpora" / "double_close"))
    injected = len(_tree_snapshot(REPO_ROOT / "corpora" / "inject" / "double_close"))
    assert injected > 0, "corpora/inject/double_close is empty"
    proc, r = fuzz_run(build_root, tmp_path, "double_close", "--runs", "200", "--inject", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # ... and each plain seed's failure sweep (fuzz.py's write_failure_sweep)
    sweep = plain * fuzz.SWEEP_DECISIONS
    assert r["crashed"] is False and r["seed_corpus_size"] == plain + injected + sweep, r
    assert "inject_max=2" in r["command"], r["command"]
    proc, r = fuzz_run(build_root, tmp_path, "double_close", "--runs", "200")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert r["seed_corpus_size"] == plain and "inject_max" not in r["command"], r


def test_schedule_bytes_find_the_planted_use_after_free(asan_tree, build_root, tmp_path):
    proc, r = fuzz_run(build_root, tmp_path, "sched_uaf", "--runs", "100000", "--seed", "1")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert r["crashed"] is True and r["fault_kind"] == "heap-use-after-free", r
    assert r["summary"].endswith(" in owner"), r["summary"]  # the owner's use after the free
    assert 1 <= r["execs_to_first_crash"] <= 100_000
    assert os.path.isfile(r["artifact"]) and os.path.basename(r["artifact"]).startswith("crash-")


def test_an_unknown_fault_switch_is_one_line(asan_tree, build_root, tmp_path):
    proc = lifeguard("fuzz", "double_close", "--runs", "100", "--fault", "no-such-fault",
                     "--artifacts", tmp_path, "--no-build", "--build-dir", build_root,
                     env=clean_env())
    assert_one_line_error(proc, "no-such-fault")


# ---- bad input (nothing runs) ------------------------------------------------------------

MALFORMED_OPTIONS = {
    "no-section": ("max_len = 10\n", "not an options file"),
    "no-value": ("[libfuzzer]\nmax_len\n", "not an options file"),
    "spaces": ("[libfuzzer]\nmax_len = 1 2\n", "max_len"),
    "duplicate": ("[libfuzzer]\nmax_len = 1\nmax_len = 2\n", "not an options file"),
}


@pytest.mark.parametrize("args,needle", [
    (("no_such_target",), "unknown fuzz target 'no_such_target'"),
    (("double_clos",), "did you mean 'double_close'"),
    (("double_close", "--seconds", "0"), "--seconds"),
    (("double_close", "--seconds", "1.5"), "--seconds"),
    (("double_close", "--seconds", "many"), "--seconds"),
    (("double_close", "--runs", "0"), "--runs"),
    (("double_close", "--seed", "-1"), "--seed"),
    (("double_close", "--timeout", "0"), "--timeout"),
    (("double_close", "--until", "double-closed"), "'double-closed'"),
    (("sched_uaf", "--until", "double-close"), "does not support --until"),
    (("double_close", "--options", "/nonexistent/x.options"), "no such file"),
    (("double_close", "--json", "/nonexistent/dir/f.json"), "--json"),
    ((), "TARGET"),
])
def test_bad_input_is_one_line(args, needle):
    assert_one_line_error(lifeguard("fuzz", *args, "--no-build"), needle)


@pytest.mark.parametrize("name", MALFORMED_OPTIONS)
def test_a_malformed_options_file_is_one_line(tmp_path, name):
    text, needle = MALFORMED_OPTIONS[name]
    path = tmp_path / "bad.options"
    path.write_text(text)
    proc = lifeguard("fuzz", "double_close", "--options", path, "--no-build")
    assert_one_line_error(proc, needle)
    assert "bad.options" in proc.stderr


def test_help_names_the_contract():
    proc = lifeguard("fuzz", "--help")
    assert proc.returncode == 0
    for word in ("--seconds", "--fault", "--json", "--until", "--seed", "--timeout",
                 "--artifacts", "execs_to_first_crash", "fault_kind", "deadly signal"):
        assert word in proc.stdout, word


# ---- the runner, on a stand-in fuzzer ----------------------------------------------------

FAKE_FUZZER = """\
#!PYTHON
# Stands in for a libFuzzer binary: records its argv and environment, prints what
# $FAKE_OUTPUT holds, exits with $FAKE_STATUS (or sleeps when it is `hang`).
import json, os, sys, time
names = ("LIFEGUARD_FAULTS", "LG_FUZZ_UNTIL", "LIFEGUARD_OPTIONS", "ASAN_OPTIONS")
with open(os.environ["FAKE_ARGV"], "w") as f:
    json.dump({"argv": sys.argv[1:], "env": {n: os.environ.get(n) for n in names}}, f)
sys.stderr.write(open(os.environ["FAKE_OUTPUT"]).read())
sys.stderr.flush()
if os.environ["FAKE_STATUS"] == "hang":
    time.sleep(60)
sys.exit(int(os.environ["FAKE_STATUS"]))
"""

ASAN_CRASH = """\
INFO: Seed: 1234
#2\tINITED cov: 99 ft: 102 corp: 1/4b exec/s: 0 rss: 31Mb
#14\tNEW    cov: 101 ft: 115 corp: 2/8b lim: 4 exec/s: 0 rss: 31Mb L: 4/4 MS: 2 ChangeByte-
=================================================================
==7==ERROR: AddressSanitizer: heap-use-after-free on address 0x602000019bb8 at pc 0x55 bp 0x7f sp 0x7f
READ of size 8 at 0x602000019bb8 thread T0
    #0 0x55a2f9c15ef1 in owner /work/main/fuzz/sched_uaf.c:61:10

freed by thread T0 here:
    #0 0x55a2f9bdaa92 in __interceptor_free (/work/main/build/asan/fuzz/sched_uaf_fuzz+0x108a92)
    #1 0x55a2f9c1622d in unref /work/main/fuzz/sched_uaf.c:44:19

SUMMARY: AddressSanitizer: heap-use-after-free /work/main/fuzz/sched_uaf.c:61:10 in owner
lifeguard: schedule at the crash: lgs1:s1/2=1,s2/2=0
==7==ABORTING
MS: 1 ChangeBit-; base unit: 2b884a165719e81592a27b4b5f8eabd7243573eb
artifact_prefix='/tmp/a/'; Test unit written to /tmp/a/crash-0111eabde17ef57c4f4f2ac28f0fc2be6ff199ee
stat::number_of_executed_units: 1412
stat::average_exec_per_sec:     0
stat::new_units_added:          46
"""

LIFEGUARD_UNTIL = """\
#2\tINITED cov: 9 ft: 9 corp: 1/4b exec/s: 0 rss: 31Mb
==9==ERROR: lifeguard: double-close on file descriptor 7 (socket) (thread 9)
    #0 0x55 in lg_owned_fd_drop /work/main/runtime/net/owned_fd.c:59:67
schedule: lgs1:s9/2=0

SUMMARY: lifeguard: double-close /work/main/runtime/net/owned_fd.c:59 in lg_owned_fd_drop
#40\tNEW    cov: 10 ft: 10 corp: 2/8b exec/s: 0 rss: 31Mb
==9==ERROR: lifeguard: foreign-close on file descriptor 8 (socket) (thread 9)
    #0 0x55 in lg_socket_close /work/main/runtime/net/socket.c:58:10
schedule: lgs1:s9/2=1

SUMMARY: lifeguard: foreign-close /work/main/runtime/net/socket.c:58 in lg_socket_close
==9== ERROR: libFuzzer: deadly signal
SUMMARY: libFuzzer: deadly signal
artifact_prefix='/tmp/a/'; Test unit written to /tmp/a/crash-72fffc681c7767d021231778b4a52c8729b89f49
stat::number_of_executed_units: 41
stat::average_exec_per_sec:     0
"""

TIMEOUT = """\
#2\tINITED cov: 9 ft: 9 corp: 1/4b exec/s: 0 rss: 31Mb
ALARM: working on the last Unit for 3 seconds
       and the timeout value is 2 (use -timeout=N to change)
artifact_prefix='/tmp/a/'; Test unit written to /tmp/a/timeout-da39a3ee5e6b4b0d3255bfef95601890afd80709
==5== ERROR: libFuzzer: timeout after 3 seconds
SUMMARY: libFuzzer: timeout
stat::number_of_executed_units: 2
"""

CLEAN = """\
INFO: Seed: 42
#2\tINITED cov: 9 ft: 9 corp: 1/4b exec/s: 0 rss: 31Mb
#3000\tDONE   cov: 9 ft: 9 corp: 1/4b lim: 4 exec/s: 1000 rss: 31Mb
Done 3000 runs in 3 second(s)
stat::number_of_executed_units: 3000
stat::average_exec_per_sec:     1000
stat::new_units_added:          0
"""


@pytest.fixture
def fake(tmp_path):
    """run(output, status) -> (LibFuzzerRun, argv the stand-in got), through run_libfuzzer."""
    script = tmp_path / "fake_fuzz"
    script.write_text(FAKE_FUZZER.replace("PYTHON", sys.executable, 1))
    script.chmod(0o755)

    def run(output, status, timeout=30):
        (tmp_path / "output.txt").write_text(output)
        env = clean_env(FAKE_ARGV=str(tmp_path / "argv.json"), FAKE_OUTPUT=str(tmp_path / "output.txt"),
                        FAKE_STATUS=str(status))
        result = fuzz.run_libfuzzer([script, "-runs=1"], env, cwd=tmp_path, timeout=timeout)
        return result, json.loads((tmp_path / "argv.json").read_text())["argv"]

    return run


def test_runner_reads_an_asan_crash(fake):
    result, argv = fake(ASAN_CRASH, 1)
    assert argv == ["-runs=1"]
    crash = result.crash()
    report = result.first_report()
    assert crash == ("heap-use-after-free", report.seconds, report)
    assert report.tool == "AddressSanitizer" and report.execs == 14
    assert report.summary.endswith("in owner") and report.schedule == "lgs1:s1/2=1,s2/2=0"
    assert report.lines[0].startswith("==7==ERROR: AddressSanitizer")
    assert result.execs == 1412 and result.seed == 1234 and result.stats["new_units_added"] == 46
    assert result.artifact == "/tmp/a/crash-0111eabde17ef57c4f4f2ac28f0fc2be6ff199ee"
    assert result.exec_per_sec > 0  # libFuzzer said 0 (under a second): execs / wall time


def test_runner_with_until_takes_the_awaited_kind(fake):
    result, _ = fake(LIFEGUARD_UNTIL, 77)
    assert result.crash()[0] == "double-close"  # the first report
    assert result.crash("foreign-close")[0] == "foreign-close"
    assert result.reports["foreign-close"].execs == 40
    assert result.reports["foreign-close"].schedule == "lgs1:s9/2=1"
    assert result.report_counts == {"double-close": 1, "foreign-close": 1}
    assert result.libfuzzer_error == "deadly signal"


def test_runner_with_until_names_a_sanitizer_crash(fake):
    # waiting for foreign-close, the double-closes go on, and ASan stops the run
    before = LIFEGUARD_UNTIL[:LIFEGUARD_UNTIL.index("#40")]
    result, _ = fake(before + ASAN_CRASH, 1)
    crash = result.crash("foreign-close")
    assert crash.kind == "heap-use-after-free" and crash.report.tool == "AddressSanitizer"


def test_runner_reads_a_libfuzzer_timeout(fake):
    result, _ = fake(TIMEOUT, 70)
    kind, seconds, report = result.crash()
    assert kind == "timeout" and seconds is not None and report is None and not result.reports
    assert os.path.basename(result.artifact).startswith("timeout-")


def test_runner_clean_run(fake):
    result, _ = fake(CLEAN, 0)
    assert result.crash() is None and result.execs == 3000 and result.exec_per_sec == 1000


def test_runner_kills_a_run_that_does_not_end(fake):
    result, _ = fake(CLEAN.replace("stat::", "x::"), "hang", timeout=1)
    assert result.killed and result.crash()[0] == "timeout"
    assert result.execs == 3000  # the last #N line when the stats never came
    assert result.returncode == -9  # its process group was killed, not left to end


def test_command_passes_options_dict_and_its_own_flags(tmp_path):
    """The whole command on a stand-in binary: options-file flags, ours winning, the env."""
    build = tmp_path / "build"
    binary = build / "asan" / "fuzz" / "sched_string_fuzz"
    binary.parent.mkdir(parents=True)
    binary.write_text(FAKE_FUZZER.replace("PYTHON", sys.executable, 1))
    binary.chmod(0o755)
    (tmp_path / "output.txt").write_text(CLEAN)
    (tmp_path / "my.dict").write_text('"x"\n')
    options = tmp_path / "t.options"
    options.write_text(textwrap.dedent("""\
        # OSS-Fuzz's format
        [libfuzzer]
        max_len = 64
        dict = my.dict
        max_total_time = 999
        timeout = 7
        [asan]
        detect_stack_use_after_return = 1
        """))
    out = tmp_path / "r.json"
    env = clean_env(FAKE_ARGV=str(tmp_path / "argv.json"), FAKE_OUTPUT=str(tmp_path / "output.txt"),
                    FAKE_STATUS="0", LIFEGUARD_FAULTS="socket-close-in-drop", LG_FUZZ_UNTIL="x")
    env.pop("LIFEGUARD_OPTIONS", None)
    env.pop("ASAN_OPTIONS", None)
    proc = subprocess.run([str(LIFEGUARD), "fuzz", "sched_string", "--seconds", "2", "--seed", "5",
                           "--options", str(options), "--json", str(out), "--no-build",
                           "--build-dir", str(build)], capture_output=True, text=True, env=env,
                          timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    seen = json.loads((tmp_path / "argv.json").read_text())
    argv = seen["argv"]
    assert seen["env"] == {"LIFEGUARD_FAULTS": None, "LG_FUZZ_UNTIL": None, "LIFEGUARD_OPTIONS": None,
                           "ASAN_OPTIONS": "detect_leaks=0:detect_stack_use_after_return=1"}
    assert "-max_len=64" in argv and f"-dict={tmp_path / 'my.dict'}" in argv
    assert "-max_total_time=2" in argv and "-max_total_time=999" not in argv
    assert "-timeout=7" in argv and "-seed=5" in argv and "-print_final_stats=1" in argv
    assert f"-artifact_prefix={build / 'fuzz-artifacts' / 'sched_string'}/" in argv
    assert argv[-1].endswith("/corpus")
    r = json.loads(out.read_text())
    assert r["environment"] == {"ASAN_OPTIONS": seen["env"]["ASAN_OPTIONS"]}
    assert r["seed"] == 42 and r["execs"] == 3000 and r["crashed"] is False
    assert r["seed_corpus_size"] == len(list((REPO_ROOT / "corpora" / "sched_string").iterdir()))


def test_pipe_disconnect_finds_the_raw_token_use_after_free(asan_tree, build_root, tmp_path):
    proc, r = fuzz_run(build_root, tmp_path, "pipe_disconnect", "--runs", "100000", "--seed", "1",
                       "--fault", "pipe-post-raw-token")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert r["crashed"] is True and r["fault_kind"] == "heap-use-after-free", r
    assert r["summary"].endswith(" in lgrt_sched_io_set_readiness"), r["summary"]
    assert "-max_len=256" in r["command"], "fuzz/pipe_disconnect.options was not applied"
    assert replay(asan_tree, r["artifact"], "pipe-post-raw-token", "pipe_disconnect").returncode != 0
    assert replay(asan_tree, r["artifact"], None, "pipe_disconnect").returncode == 0


def test_gc_async_finds_the_vec_borrow_use_after_free(asan_tree, build_root, tmp_path):
    """napi-rs#2571: with the seeds, the Vec<&S> call whose element is collected is found at
    once; the crashing input replays with the switch and is clean without it."""
    proc, r = fuzz_run(build_root, tmp_path, "gc_async", "--runs", "100000", "--seed", "1",
                       "--fault", "bind-vec-borrow-unpinned")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert r["crashed"] is True and r["fault_kind"] == "heap-use-after-free", r
    assert r["summary"].endswith(" in read_native"), r["summary"]
    assert any(" in native_finalize " in line for line in r["report"]), r["report"]  # the free
    assert "-max_len=256" in r["command"], "fuzz/gc_async.options was not applied"
    assert replay(asan_tree, r["artifact"], "bind-vec-borrow-unpinned", "gc_async").returncode != 0
    assert replay(asan_tree, r["artifact"], None, "gc_async").returncode == 0


def test_gc_async_fixed_vm_runs_clean(asan_tree, build_root, tmp_path):
    """The fixed VM is clean for every input: a short run from the seeds finds nothing."""
    proc, r = fuzz_run(build_root, tmp_path, "gc_async", "--runs", "3000", "--seed", "1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert r["crashed"] is False and r["fault"] is None and r["execs"] >= 3000, r
