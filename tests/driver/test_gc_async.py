# SPDX-License-Identifier: MIT
"""The gc-async class beyond its manifest rows, run as a user runs the program: each buggy
scenario's AddressSanitizer report blames the worker's read (use) and the sweep's finalizer
(free), and its schedule replays; the fixed variants are clean under every schedule with up to
3 preemptions, under GC stress, and free-running; release-off-main's race is found by PCT
within 1000 executions and never under the fixed variant; in the plain build lifeguard's page
heap reports the same use after free, and with it turned off a buggy run is a silent symptom,
exit 3.

(The manifest rows themselves, frames included: test_matrix.py and test_run.py. `--list`
against the manifest's faults: test_cli.py.)
"""

import re

import pytest

from lifeguard_cli import run as runner

PROGRAM = "gc_async"
SCENARIOS = ["vec-borrow", "this-collected", "weak-ref", "element-removed", "release-off-main"]
# Found by the first schedule: the collector runs on the 100 ms timer during the 1 s await.
FIRST_SCHEDULE = ["vec-borrow", "this-collected", "weak-ref", "element-removed"]
TEXT_LEN = 35  # the native object's String: "a String owned by the native object"

FRAME_RE = re.compile(r"^\s+#\d+ 0x[0-9a-f]+ in (\S+)")
CLEAN_RE = r"{scenario} \(fixed\): clean, (\d+) execution\(s\), strategy {strategy}"


def _config(name, selected_configs, lifeguard_manifest):
    if name not in selected_configs:
        pytest.skip(f"config {name} not selected")
    return lifeguard_manifest.configs[name]


@pytest.fixture(params=["asan", "plain"])
def config(request, selected_configs, lifeguard_manifest):
    """The build with AddressSanitizer, and the one without a heap detector."""
    return _config(request.param, selected_configs, lifeguard_manifest)


@pytest.fixture
def binary(config, scenario_binary):
    return scenario_binary(PROGRAM, config.name)


@pytest.fixture
def asan(selected_configs, lifeguard_manifest):
    return _config("asan", selected_configs, lifeguard_manifest)


@pytest.fixture
def asan_binary(asan, scenario_binary):
    return scenario_binary(PROGRAM, asan.name)


@pytest.fixture
def plain(selected_configs, lifeguard_manifest):
    return _config("plain", selected_configs, lifeguard_manifest)


@pytest.fixture
def plain_binary(plain, scenario_binary):
    return scenario_binary(PROGRAM, plain.name)


def run(binary, env, scenario, variant, *extra, timeout=runner.DEFAULT_TIMEOUT):
    return runner.run_scenario(binary, scenario, variant, env, extra_args=extra, timeout=timeout)


# An exhaustive search's process: release-off-main's takes about 20 s alone in the plain tree,
# and more than 60 s while the asan tree's tests share the two cores.
SEARCH_TIMEOUT = 600


def search_args(lifeguard_manifest, scenario):
    """The arguments the matrix runs the scenario with (release-off-main: a PCT search)."""
    found = [s for s in lifeguard_manifest.scenarios if s.name == scenario and s.program == PROGRAM]
    assert len(found) == 1, scenario
    return found[0].run_args


def asan_report(output, tool="AddressSanitizer"):
    """The first report of `tool` (AddressSanitizer, or lifeguard's page heap, which writes the
    same shape), read from its text: the kind on its ERROR line, the functions of the access's
    stack ('use'), of 'freed by thread' ('free') and of 'previously allocated by thread'
    ('alloc'), and its SUMMARY line."""
    lines = output.splitlines()
    start = next((i for i, l in enumerate(lines)
                  if re.match(rf"^==\d+==ERROR: {tool}: ", l)), None)
    assert start is not None, output
    kind = re.match(rf"^==\d+==ERROR: {tool}: (\S+)", lines[start]).group(1)
    stacks, name, summary = {}, "use", None
    for line in lines[start + 1:]:
        if line.startswith("SUMMARY: "):
            summary = line
            break
        frame = FRAME_RE.match(line)
        if frame:
            if name is not None:
                stacks.setdefault(name, []).append(frame.group(1))
            continue
        if name in stacks:  # a stack ended
            name = None
        if "freed by thread" in line:
            name = "free"
        elif "previously allocated by thread" in line:
            name = "alloc"
    return kind, stacks, summary


def schedule_at_the_crash(output):
    found = re.search(r"^lifeguard: schedule at the crash: (lgs1:\S*)$", output, re.MULTILINE)
    assert found, output
    return found.group(1)


def assert_blames_the_read_and_the_sweep(output):
    kind, stacks, summary = asan_report(output)
    assert kind == "heap-use-after-free", output
    # the worker's body reads the native object the binder handed it...
    assert stacks["use"][:3] == ["read_native", "execute", "worker_main"], stacks
    # ...which the sweep's finalizer freed, in a collection the main actor's loop ran...
    free = stacks["free"]
    assert free[0] == "free", free
    assert free[1:4] == ["native_finalize", "sweep", "lgrt_gc"], free
    assert "lgrt_vm_run" in free, free
    # ...after the wrapper's constructor allocated it
    alloc = stacks["alloc"]
    assert "lgrt_new_wrapped" in alloc[:3], alloc
    assert summary and re.match(r"SUMMARY: AddressSanitizer: heap-use-after-free "
                                r"\S+/runtime/gc/async\.c:\d+:\d+ in read_native$", summary), summary
    return stacks


# ---- the buggy variants under AddressSanitizer ------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_buggy_report_blames_the_workers_read_and_the_sweeps_finalizer(
        asan_binary, asan, lifeguard_manifest, scenario):
    r = run(asan_binary, asan.env, scenario, "buggy", *search_args(lifeguard_manifest, scenario))
    assert r.returncode != 0 and r.kind == "heap-use-after-free", r.output
    stacks = assert_blames_the_read_and_the_sweep(r.output)
    # the schedule printed at the crash replays the same fault, the same way
    again = run(asan_binary, asan.env, scenario, "buggy", "--schedule", schedule_at_the_crash(r.output))
    assert again.kind == "heap-use-after-free", again.output
    again_stacks = assert_blames_the_read_and_the_sweep(again.output)
    assert again_stacks["use"] == stacks["use"] and again_stacks["free"] == stacks["free"]


def test_free_running_buggy_vec_borrow_is_the_same_report(asan_binary, asan):
    """The seed as it was: threads the OS schedules, global.gc() every 100 ms of real time
    while the body sleeps 1 s."""
    r = run(asan_binary, asan.env, "vec-borrow", "buggy", "--strategy", "free")
    assert r.kind == "heap-use-after-free", r.output
    assert_blames_the_read_and_the_sweep(r.output)


def ttd_fields(output):
    found = re.search(r"^ttd: (.*)$", output, re.MULTILINE)
    assert found, f"no ttd line:\n{output}"
    return dict(f.split("=", 1) for f in found.group(1).split() if "=" in f)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_release_off_main_is_found_by_pct_within_1000(asan_binary, asan, seed):
    r = run(asan_binary, asan.env, "release-off-main", "buggy", "--strategy", "pct",
            "--seed", str(seed), "--iterations", "1000", "--until", "heap-use-after-free")
    fields = ttd_fields(r.output)
    assert fields["kind"] == "heap-use-after-free" and fields["found"] == "1", r.output
    assert 1 <= int(fields["executions"]) <= 1000, r.output
    assert_blames_the_read_and_the_sweep(r.output)


# ---- the fixed variants --------------------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_fixed_is_clean_under_every_schedule_with_3_preemptions(binary, config, scenario):
    r = run(binary, config.env, scenario, "fixed", "--strategy", "dfs", "--bound", "3",
            "--iterations", "1000000", timeout=SEARCH_TIMEOUT)
    assert r.returncode == 0 and r.kind == "clean" and not r.records, r.output
    found = re.search(CLEAN_RE.format(scenario=scenario, strategy="dfs") +
                      r", every schedule explored", r.output)
    assert found, r.output
    assert int(found.group(1)) >= 5000, r.output  # each collection point is a decision


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_fixed_is_clean_under_gc_stress(binary, config, scenario):
    """LGRT_GC_STRESS=1: a collection at every allocation and every loop turn, on top of the
    timer and the schedule's decisions, under every schedule with up to 2 preemptions."""
    env = dict(config.env, LGRT_GC_STRESS="1")
    r = run(binary, env, scenario, "fixed", "--strategy", "dfs", "--bound", "2",
            "--iterations", "1000000")
    assert r.returncode == 0 and r.kind == "clean" and not r.records, r.output
    assert re.search(CLEAN_RE.format(scenario=scenario, strategy="dfs") +
                     r", every schedule explored", r.output), r.output


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_release_off_main_fixed_is_never_found_by_pct(binary, config, seed):
    r = run(binary, config.env, "release-off-main", "fixed", "--strategy", "pct",
            "--seed", str(seed), "--iterations", "1000")
    assert r.returncode == 0 and r.kind == "clean" and not r.records, r.output
    assert re.search(CLEAN_RE.format(scenario="release-off-main", strategy="pct"), r.output)
    assert "1000 execution(s)" in r.output, r.output


@pytest.mark.parametrize("scenario", ["vec-borrow", "element-removed"])
def test_fixed_is_clean_free_running(binary, config, scenario):
    """Real threads, real time: each run sleeps the body's 1 s (so only two of them)."""
    r = run(binary, config.env, scenario, "fixed", "--strategy", "free")
    assert r.returncode == 0 and r.kind == "clean" and not r.records, r.output
    assert re.search(CLEAN_RE.format(scenario=scenario, strategy="free"), r.output), r.output
    assert r.seconds >= 1.0, f"the body's await is 1 s of real time: {r.seconds:.2f} s"


# ---- the plain build: lifeguard's page heap ----------------------------------------------------


def assert_page_heap_blames_the_read_and_the_sweep(output):
    kind, stacks, summary = asan_report(output, "lifeguard")
    assert kind == "heap-use-after-free", output
    assert stacks["use"][:3] == ["read_native", "execute", "worker_main"], stacks
    # the page heap's own frames (free) are left out: the finalizer is the top frame
    assert stacks["free"][:3] == ["native_finalize", "sweep", "lgrt_gc"], stacks
    assert "lgrt_vm_run" in stacks["free"], stacks
    assert "lgrt_new_wrapped" in stacks["alloc"][:2], stacks
    assert summary and re.match(r"SUMMARY: lifeguard: heap-use-after-free "
                                r"\S+/runtime/gc/async\.c:\d+ in read_native$", summary), summary


@pytest.mark.parametrize("scenario", FIRST_SCHEDULE)
def test_plain_buggy_is_caught_by_the_page_heap(plain_binary, plain, scenario):
    """Without ASan, the page heap made the freed native object inaccessible: the worker's
    read faults, and the report names the read, the finalizer and the constructor."""
    r = run(plain_binary, plain.env, scenario, "buggy")
    assert r.kind == "heap-use-after-free", r.output
    assert_page_heap_blames_the_read_and_the_sweep(r.output)


def test_plain_free_running_buggy_vec_borrow_is_caught_by_the_page_heap(plain_binary, plain):
    r = run(plain_binary, plain.env, "vec-borrow", "buggy", "--strategy", "free")
    assert r.kind == "heap-use-after-free", r.output
    assert_page_heap_blames_the_read_and_the_sweep(r.output)


SYMPTOM_RE = (rf"^gc_async: the body read (\d+) bytes, not {TEXT_LEN}: it read a freed object$")


@pytest.mark.parametrize("scenario", FIRST_SCHEDULE)
def test_plain_without_the_page_heap_is_a_silent_symptom(plain_binary, plain, scenario):
    """pageheap=0: the body reads a freed object and nothing reports it; the program checks
    the promise's value, prints the schedule and exits 3."""
    env = dict(plain.env, LIFEGUARD_OPTIONS="pageheap=0")
    r = run(plain_binary, env, scenario, "buggy")
    assert r.returncode == 3 and r.kind == "exit:3", r.output
    found = re.search(SYMPTOM_RE, r.output, re.MULTILINE)
    assert found and int(found.group(1)) != TEXT_LEN, r.output
    assert re.search(r"^gc_async: schedule: lgs1:\S+$", r.output, re.MULTILINE), r.output
    assert "ERROR:" not in r.output and "SUMMARY:" not in r.output, r.output
    assert not r.records, r.output
