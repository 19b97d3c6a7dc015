"""The classifier on canned outputs: pure Python, no binaries needed.

The texts follow what clang 14's sanitizers and lifeguard's report print (trimmed).
"""

import json

import pytest

from lifeguard_cli import classify

ASAN_UAF = """\
=================================================================
==2983==ERROR: AddressSanitizer: heap-use-after-free on address 0x602000000010 at pc 0x55b532ac0182 bp 0x7ffe3269f350 sp 0x7ffe3269f348
READ of size 4 at 0x602000000010 thread T0
    #0 0x55b532ac0181 in gc_object_get /work/main/runtime/gc/heap.c:88:12
    #1 0x55b532ac02a0 in main /work/main/scenarios/gc_async.c:40:3

0x602000000010 is located 0 bytes inside of 4-byte region [0x602000000010,0x602000000014)
freed by thread T0 here:
    #0 0x55b532a82c72 in free (/work/main/build/asan/scenarios/gc_async+0xa2c72)
    #1 0x55b532ac0150 in gc_sweep /work/main/runtime/gc/heap.c:120:5

previously allocated by thread T0 here:
    #0 0x55b532a82f1e in malloc (/work/main/build/asan/scenarios/gc_async+0xa2f1e)

SUMMARY: AddressSanitizer: heap-use-after-free /work/main/runtime/gc/heap.c:88:12 in gc_object_get
Shadow bytes around the buggy address:
  0x0c047fff7fb0: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
==2983==ABORTING
"""

LIFEGUARD_DOUBLE_CLOSE = """\
wrapper-drop: opening probe socket
=================================================================
==4242==ERROR: lifeguard: double-close on file descriptor 5 (owned by nobody) in thread T0
    #0 0x55d1c0a01234 in lg_owned_fd_drop /work/main/runtime/net/owned_fd.c:40:5
    #1 0x55d1c0a01300 in main /work/main/scenarios/double_close.c:77:3
previously closed here:
    #0 0x55d1c0a01111 in lg_socket_close /work/main/runtime/net/socket.c:61:9
opened here:
    #0 0x55d1c0a01000 in lg_socket_open /work/main/runtime/net/socket.c:22:10
SUMMARY: lifeguard: double-close /work/main/runtime/net/owned_fd.c:40 in lg_owned_fd_drop
==4242==ABORTING
"""

UBSAN = """\
counting 3 events
gc.c:12:39: runtime error: signed integer overflow: 2147483647 + 2 cannot be represented in type 'int'
    #0 0x55e0c0 in main /work/main/scenarios/gc.c:12:39

SUMMARY: UndefinedBehaviorSanitizer: undefined-behavior gc.c:12:39 in 
"""

LEAK = """\

=================================================================
==2989==ERROR: LeakSanitizer: detected memory leaks

Direct leak of 123 byte(s) in 1 object(s) allocated from:
    #0 0x55f7 in malloc (/work/main/build/asan/scenarios/double_close+0xa2f1e)

SUMMARY: AddressSanitizer: 123 byte(s) leaked in 1 allocation(s).
"""

TSAN = """\
==================
WARNING: ThreadSanitizer: data race (pid=2999)
  Write of size 4 at 0x5637f53ba258 by main thread:
    #0 main /tmp/race.c:14:62 (race+0xd0b6d)

SUMMARY: ThreadSanitizer: data race /tmp/race.c:14:62 in main
==================
ThreadSanitizer: reported 1 warnings
"""

FRAMES = {"current": "lg_owned_fd_drop", "close": "lg_socket_close", "open": "lg_socket_open"}


def frame(function, file="/work/main/runtime/net/socket.c", line=10):
    return {"pc": "0x1", "module": "/bin/x", "offset": "0x1", "function": function,
            "file": file, "line": line, "column": 5}


def report(kind="double-close", current="lg_owned_fd_drop", close="lg_socket_close",
           open_="lg_socket_open"):
    return {"tool": "lifeguard", "version": "0.1.0", "kind": kind, "pid": 4242, "tid": 4242,
            "fd": 5, "summary": f"{kind} runtime/net/owned_fd.c:40 in {current}",
            "stacks": {"current": [frame(current), frame("main")], "close": [frame(close)],
                       "open": [frame(open_)]}}


@pytest.mark.parametrize("output, returncode, kind", [
    (ASAN_UAF, -6, "heap-use-after-free"),
    (ASAN_UAF, 1, "heap-use-after-free"),  # abort_on_error=0: ASan exits 1
    (LIFEGUARD_DOUBLE_CLOSE, -6, "double-close"),
    (UBSAN, 1, "undefined-behavior"),
    (LEAK, 1, "leak"),
    (TSAN, 66, "data-race"),
    ("==1==ERROR: AddressSanitizer: attempting double-free on 0x6020 in thread T0:\n"
     "SUMMARY: AddressSanitizer: double-free (/bin/x+0xa3ea2) (BuildId: 5c3c) in free\n",
     -6, "double-free"),
    ("AddressSanitizer:DEADLYSIGNAL\nSUMMARY: AddressSanitizer: SEGV /x.c:13:46 in main\n",
     -6, "SEGV"),
    ("SUMMARY: LeakSanitizer: 48 byte(s) leaked in 2 allocation(s).\n", 23, "leak"),
], ids=["asan-uaf-abort", "asan-uaf-exit1", "lifeguard", "ubsan", "leak", "tsan",
        "asan-double-free", "asan-segv", "lsan"])
def test_summary_names_the_kind(output, returncode, kind):
    assert classify.outcome(output, returncode) == kind


def test_first_summary_wins():
    text = LIFEGUARD_DOUBLE_CLOSE + LEAK
    assert classify.outcome(text, -6) == "double-close"
    assert classify.summary(text)[0] == "lifeguard"


def test_summary_reported_even_when_the_run_exits_0():
    # a detector that reports and lets the process go on still reported a fault
    assert classify.outcome("SUMMARY: lifeguard: foreign-close x.c:3 in f\n", 0) == "foreign-close"


@pytest.mark.parametrize("output, returncode, timed_out, kind", [
    ("all 1 iterations clean\n", 0, False, "clean"),
    ("", 0, False, "clean"),
    ("starting\n", -11, False, "crash:SIGSEGV"),
    ("", -6, False, "crash:SIGABRT"),
    ("", -9, True, "timeout"),
    ("usage: double_close --scenario NAME\n", 2, False, "exit:2"),
    ("", 3, False, "exit:3"),
    # only a line that starts with SUMMARY counts; an unknown tool does not count either
    ("log: SUMMARY: lifeguard: double-close\n", 0, False, "clean"),
    ("SUMMARY: MemorySanitizer: use-of-uninitialized-value x.c:1\n", 0, False, "clean"),
], ids=["clean", "clean-silent", "sigsegv", "sigabrt", "timeout", "usage-exit", "exit3",
        "summary-mid-line", "unknown-tool"])
def test_without_summary_the_exit_decides(output, returncode, timed_out, kind):
    assert classify.outcome(output, returncode, timed_out) == kind


def test_frames_that_match_leave_the_kind_alone():
    got = classify.observed(LIFEGUARD_DOUBLE_CLOSE, -6, expected="double-close", frames=FRAMES,
                            records=[report()])
    assert got == "double-close"


def test_wrong_frames_are_named():
    got = classify.observed(LIFEGUARD_DOUBLE_CLOSE, -6, expected="double-close", frames=FRAMES,
                            records=[report(close="lg_owned_fd_drop")])
    assert got == ("double-close (wrong frames: close top is lg_owned_fd_drop, "
                   "expected lg_socket_close)")


def test_a_missing_stack_is_wrong_frames():
    record = report()
    del record["stacks"]["open"]
    got = classify.observed(LIFEGUARD_DOUBLE_CLOSE, -6, expected="double-close", frames=FRAMES,
                            records=[record])
    assert got == "double-close (wrong frames: no open stack)"


def test_only_the_first_report_counts():
    got = classify.observed(LIFEGUARD_DOUBLE_CLOSE, -6, expected="double-close", frames=FRAMES,
                            records=[report(current="main"), report()])
    assert got.startswith("double-close (wrong frames: current top is main")


def test_no_json_log_means_frames_cannot_be_confirmed():
    got = classify.observed(LIFEGUARD_DOUBLE_CLOSE, -6, expected="double-close", frames=FRAMES)
    assert got == "double-close (wrong frames: no JSON report in the log)"


def test_frames_are_not_checked_when_the_kind_is_already_wrong():
    got = classify.observed(LIFEGUARD_DOUBLE_CLOSE, -6, expected="foreign-close", frames=FRAMES)
    assert got == "double-close"


def test_read_log(tmp_path):
    log = tmp_path / "report.jsonl"
    log.write_text(json.dumps(report()) + "\n\n" + '{"kind": "double-close"}\n' + "{broken\n")
    records, problems = classify.read_log(log)
    assert [r["kind"] for r in records] == ["double-close"]
    assert len(problems) == 2 and "line 3" in problems[0] and "line 4" in problems[1]
    assert classify.read_log(tmp_path / "absent.jsonl") == ([], [])


def test_report_excerpt_starts_at_the_error_line():
    lines = classify.report_excerpt(LIFEGUARD_DOUBLE_CLOSE)
    assert lines[0].startswith("==4242==ERROR: lifeguard: double-close")
    assert lines[-1] == "==4242==ABORTING"
    assert len(classify.report_excerpt(ASAN_UAF, limit=12)) == 12
    assert classify.report_excerpt(UBSAN)[0].startswith("gc.c:12:39: runtime error:")


def test_report_excerpt_without_a_report_is_the_tail():
    output = "".join(f"line {i}\n" for i in range(30))
    assert classify.report_excerpt(output, limit=3) == ["line 27", "line 28", "line 29"]
    assert classify.report_excerpt("") == []
