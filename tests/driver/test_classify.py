# SPDX-License-Identifier: MIT
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


# ---- stacks from AddressSanitizer's text report -------------------------------------------

# A heap-use-after-free with all three stacks, as clang 14's ASan prints it (trimmed): the
# free and alloc stacks start in the runtime's interceptors.
ASAN_UAF_IO = """\
pipe-disconnect: posting the raw token
=================================================================
==5120==ERROR: AddressSanitizer: heap-use-after-free on address 0x606000000338 at pc 0x55d1c3 bp 0x7ffd sp 0x7ffd
WRITE of size 4 at 0x606000000338 thread T0
    #0 0x55d1c3 in lgrt_sched_io_set_readiness /work/main/runtime/io/driver.c:123:7
    #1 0x55d200 in lgrt_driver_turn /work/main/runtime/io/driver.c:201:5
    #2 0x55d2f0 in main /work/main/scenarios/pipe_disconnect.c:88:3

0x606000000338 is located 24 bytes inside of 56-byte region [0x606000000320,0x606000000358)
freed by thread T0 here:
    #0 0x4c5f72 in __interceptor_free (/work/main/build/asan/scenarios/pipe_disconnect+0x4c5f72) (BuildId: 5c3ce1b0)
    #1 0x55c100 in lgrt_registration_release /work/main/runtime/io/registration.c:40:3
    #2 0x55c180 in lgrt_pipe_close /work/main/runtime/io/pipe.c:77:5

previously allocated by thread T0 here:
    #0 0x4c6210 in __interceptor_calloc (/work/main/build/asan/scenarios/pipe_disconnect+0x4c6210) (BuildId: 5c3ce1b0)
    #1 0x55c010 in lgrt_registration_new /work/main/runtime/io/registration.c:21:22
    #2 0x55c190 in lgrt_pipe_open /work/main/runtime/io/pipe.c:30:9

SUMMARY: AddressSanitizer: heap-use-after-free /work/main/runtime/io/driver.c:123:7 in lgrt_sched_io_set_readiness
Shadow bytes around the buggy address:
  0x0c0c7fff8010: fa fa fa fa fd fd fd fd fd fd fd fa fa fa fa fa
lifeguard: schedule at the crash: lgs1:s1/2=1
==5120==ABORTING
"""

ASAN_SEGV = """\
AddressSanitizer:DEADLYSIGNAL
=================================================================
==31==ERROR: AddressSanitizer: SEGV on unknown address 0x000000000010 (pc 0x55cbaab6cc80 bp 0x7ffe sp 0x7ffe T0)
==31==The signal is caused by a READ memory access.
==31==Hint: address points to the zero page.
    #0 0x55cbaab6cc80 in lgrt_pipe_read /work/main/runtime/io/pipe.c:61:12
    #1 0x55cbaab6cd10 in main /work/main/scenarios/pipe_disconnect.c:90:3
    #2 0x7f2783244d8f  (/lib/x86_64-linux-gnu/libc.so.6+0x29d8f) (BuildId: 93ac61ec)

AddressSanitizer can not provide additional info.
SUMMARY: AddressSanitizer: SEGV /work/main/runtime/io/pipe.c:61:12 in lgrt_pipe_read
==31==ABORTING
"""

# The free stack topped by more than one runtime frame, and a double free whose access stack
# is the second free (runtime frames by name, by module and by compiler-rt source file).
ASAN_DOUBLE_FREE = """\
=================================================================
==77==ERROR: AddressSanitizer: attempting double-free on 0x602000000010 in thread T0:
    #0 0x4c5f72 in free (/work/main/build/asan/scenarios/gc_async+0x4c5f72) (BuildId: 5c3c)
    #1 0x55a100 in gc_object_unref /work/main/runtime/gc/heap.c:140:5
    #2 0x55a200 in main /work/main/scenarios/gc_async.c:60:3

0x602000000010 is located 0 bytes inside of 16-byte region [0x602000000010,0x602000000020)
freed by thread T1 here:
    #0 0x4c5f00 in free (/work/main/build/asan/scenarios/gc_async+0x4c5f00) (BuildId: 5c3c)
    #1 0x4c5f10 in __interceptor_free /build/llvm-toolchain-14/compiler-rt/lib/asan/asan_malloc_linux.cpp:52:3
    #2 0x7f0000 in __asan::Allocator::Deallocate(void*) (/usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.asan-x86_64.so+0x1000)
    #3 0x55a300 in gc_sweep /work/main/runtime/gc/heap.c:120:5
    #4 0x55a400 in gc_worker /work/main/runtime/gc/worker.c:33:7

previously allocated by thread T0 here:
    #0 0x4c6100 in malloc (/work/main/build/asan/scenarios/gc_async+0x4c6100) (BuildId: 5c3c)
    #1 0x55a500 in gc_object_new /work/main/runtime/gc/heap.c:30:15

Thread T1 created by T0 here:
    #0 0x4c7000 in pthread_create (/work/main/build/asan/scenarios/gc_async+0x4c7000)
    #1 0x55a600 in gc_start /work/main/runtime/gc/worker.c:12:3

SUMMARY: AddressSanitizer: double-free (/work/main/build/asan/scenarios/gc_async+0x4c5f72) (BuildId: 5c3c) in free
==77==ABORTING
"""


def functions(record, stack):
    return [f["function"] for f in record["stacks"][stack]]


def test_asan_records_name_the_three_stacks():
    [record] = classify.asan_records(ASAN_UAF_IO)
    assert record["kind"] == "heap-use-after-free" and record["tool"] == "AddressSanitizer"
    assert record["summary"].startswith("SUMMARY: AddressSanitizer: heap-use-after-free")
    assert set(record["stacks"]) == {"current", "free", "alloc"}
    assert functions(record, "current") == ["lgrt_sched_io_set_readiness", "lgrt_driver_turn", "main"]
    assert functions(record, "free") == ["__interceptor_free", "lgrt_registration_release",
                                         "lgrt_pipe_close"]
    assert functions(record, "alloc") == ["__interceptor_calloc", "lgrt_registration_new",
                                          "lgrt_pipe_open"]
    top = record["stacks"]["current"][0]
    assert (top["file"], top["line"], top["column"]) == ("/work/main/runtime/io/driver.c", 123, 7)
    interceptor = record["stacks"]["free"][0]
    assert interceptor["file"] is None and interceptor["offset"] == "0x4c5f72"
    assert interceptor["module"] == "/work/main/build/asan/scenarios/pipe_disconnect"
    # the check looks past the runtime's frames
    assert classify.top_frame(record, "current")["function"] == "lgrt_sched_io_set_readiness"
    assert classify.top_frame(record, "free")["function"] == "lgrt_registration_release"
    assert classify.top_frame(record, "alloc")["function"] == "lgrt_registration_new"


UAF_FRAMES = {"current": "lgrt_sched_io_set_readiness", "free": "lgrt_registration_release",
              "alloc": "lgrt_registration_new"}


def test_asan_frames_that_match():
    got = classify.observed(ASAN_UAF_IO, 1, expected="heap-use-after-free", frames=UAF_FRAMES)
    assert got == "heap-use-after-free"


def test_asan_wrong_frames_are_named():
    frames = dict(UAF_FRAMES, free="lgrt_pipe_close")
    got = classify.observed(ASAN_UAF_IO, -6, expected="heap-use-after-free", frames=frames)
    assert got == ("heap-use-after-free (wrong frames: free top is lgrt_registration_release, "
                   "expected lgrt_pipe_close)")
    # a stack an ASan report does not have
    got = classify.observed(ASAN_UAF_IO, 1, expected="heap-use-after-free",
                            frames={"current": "lgrt_sched_io_set_readiness", "close": "x"})
    assert got == "heap-use-after-free (wrong frames: no close stack)"


def test_asan_report_wins_over_the_json_log_when_its_summary_is_first():
    # the JSON log holds an earlier lifeguard report that did not stop the run
    # (halt_on_error=0); the first SUMMARY is ASan's, so its stacks are the ones checked
    got = classify.observed(ASAN_UAF_IO, 1, expected="heap-use-after-free", frames=UAF_FRAMES,
                            records=[report()])
    assert got == "heap-use-after-free"
    assert classify.report_records(ASAN_UAF_IO, [report()])[0]["tool"] == "AddressSanitizer"
    # a lifeguard report keeps the log's stacks, even when an ASan report follows it
    text = LIFEGUARD_DOUBLE_CLOSE + ASAN_UAF_IO
    assert classify.report_records(text, [report()]) == [report()]
    assert classify.report_records(LIFEGUARD_DOUBLE_CLOSE, []) == []


def test_asan_segv_has_the_access_stack_only():
    [record] = classify.asan_records(ASAN_SEGV)
    assert record["kind"] == "SEGV" and list(record["stacks"]) == ["current"]
    assert functions(record, "current") == ["lgrt_pipe_read", "main", None]
    libc = record["stacks"]["current"][2]
    assert libc["module"] == "/lib/x86_64-linux-gnu/libc.so.6" and libc["offset"] == "0x29d8f"
    assert classify.observed(ASAN_SEGV, 1, expected="SEGV", frames={"current": "lgrt_pipe_read"}) == "SEGV"
    assert classify.observed(ASAN_SEGV, 1, expected="SEGV", frames={"current": "main"}) == \
        "SEGV (wrong frames: current top is lgrt_pipe_read, expected main)"


def test_runtime_frames_are_skipped_by_name_module_and_source():
    [record] = classify.asan_records(ASAN_DOUBLE_FREE)
    assert record["kind"] == "double-free"
    assert set(record["stacks"]) == {"current", "free", "alloc"}  # not `Thread T1 created`
    assert functions(record, "free")[:3] == ["free", "__interceptor_free",
                                             "__asan::Allocator::Deallocate(void*)"]
    assert classify.top_frame(record, "current")["function"] == "gc_object_unref"
    assert classify.top_frame(record, "free")["function"] == "gc_sweep"
    assert classify.top_frame(record, "alloc")["function"] == "gc_object_new"
    frames = {"current": "gc_object_unref", "free": "gc_sweep", "alloc": "gc_object_new"}
    assert classify.observed(ASAN_DOUBLE_FREE, 1, expected="double-free", frames=frames) == "double-free"
    wrong = dict(frames, free="gc_worker")
    assert classify.observed(ASAN_DOUBLE_FREE, 1, expected="double-free", frames=wrong) == \
        "double-free (wrong frames: free top is gc_sweep, expected gc_worker)"


def test_a_stack_of_runtime_frames_only_shows_its_first_frame():
    [record] = classify.asan_records(ASAN_UAF)  # its alloc stack is only `malloc`
    assert classify.top_frame(record, "alloc")["function"] == "malloc"
    assert classify.top_frame(record, "free")["function"] == "gc_sweep"


def test_runtime_frames_are_skipped_in_json_records_too():
    record = report()
    record["stacks"]["close"].insert(0, frame("__interceptor_close", file=None))
    record["stacks"]["open"].insert(0, frame("operator new(unsigned long)",
                                             file="/src/llvm/compiler-rt/lib/asan/asan_new_delete.cpp"))
    got = classify.observed(LIFEGUARD_DOUBLE_CLOSE, -6, expected="double-close", frames=FRAMES,
                            records=[record])
    assert got == "double-close"


@pytest.mark.parametrize("line, function, file, number, module", [
    ("    #0 0x55d1c3 in lgrt_sched_io_set_readiness /work/main/runtime/io/driver.c:123:7",
     "lgrt_sched_io_set_readiness", "/work/main/runtime/io/driver.c", 123, None),
    ("    #1 0x4c5f72 in free (/path/bin+0x4c5f72) (BuildId: 0123abcd)", "free", None, None, "/path/bin"),
    ("    #2 0x7f01 in func+0x12 (/lib/x.so+0x1a2b)", "func", None, None, "/lib/x.so"),
    ("    #3 0x7f27  (/lib/x86_64-linux-gnu/libc.so.6+0x3c04f) (BuildId: 93ac)", None, None, None,
     "/lib/x86_64-linux-gnu/libc.so.6"),
    ("    #4 0x5559 in lg__fiber_start /work/main/harness/src/fiber_x86_64.S:39",
     "lg__fiber_start", "/work/main/harness/src/fiber_x86_64.S", 39, None),
    ("    #5 0x7f in operator delete(void*, unsigned long) /b/compiler-rt/lib/asan/asan_new_delete.cpp:172:3",
     "operator delete(void*, unsigned long)", "/b/compiler-rt/lib/asan/asan_new_delete.cpp", 172, None),
    ("    #0 main /tmp/race.c:14:62 (race+0xd0b6d)", "main", "/tmp/race.c", 14, "race"),
], ids=["source", "module", "offset", "no-function", "no-column", "cxx", "tsan"])
def test_parse_frame(line, function, file, number, module):
    got = classify.parse_frame(line)
    assert (got["function"], got["file"], got["line"], got["module"]) == (function, file, number, module)


def test_not_a_frame_line():
    assert classify.parse_frame("#2\tINITED cov: 99 ft: 102 corp: 1/4b") is None  # libFuzzer
    assert classify.parse_frame("freed by thread T0 here:") is None
    assert classify.asan_records(LIFEGUARD_DOUBLE_CLOSE + UBSAN) == []
