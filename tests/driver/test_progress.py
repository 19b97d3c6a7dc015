# SPDX-License-Identifier: MIT
"""Progress lines of the long commands (scripts/lifeguard_cli/progress.py): piped, a log gets
a line at least every interval, a completed piece of work or `still running: WHAT`, and
nothing before the work starts. The clock is a stand-in: no test waits on real time."""

import io
import subprocess

from conftest import REPO_ROOT

from lifeguard_cli.progress import Progress

LIFEGUARD = REPO_ROOT / "scripts" / "lifeguard"


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def piped(clock):
    stream = io.StringIO()
    return Progress("cmd", interval=10, stream=stream, clock=clock), stream


def tick_after(progress, stream, clock, seconds):
    """Let `seconds` pass, let the ticker look; everything printed so far."""
    clock.now += seconds
    progress.tick()
    return stream.getvalue()


def test_a_long_piece_of_work_says_it_is_still_running():
    clock = Clock()
    progress, stream = piped(clock)
    assert tick_after(progress, stream, clock, 0) == ""  # nothing started: nothing to say
    progress.start("row 1/3")
    assert tick_after(progress, stream, clock, 9.5) == ""
    assert tick_after(progress, stream, clock, 0.5) == "cmd: still running: row 1/3 (10 s)\n"
    assert tick_after(progress, stream, clock, 10).splitlines()[-1] == \
        "cmd: still running: row 1/3 (20 s)"


def test_completed_work_is_printed_once_an_interval_when_piped():
    clock = Clock()
    progress, stream = piped(clock)
    figures = ["#1"]
    progress.start(lambda: f"fuzzing, libFuzzer {figures[0]}")
    clock.now += 1
    progress.step("row 1/3: ok")
    assert stream.getvalue() == ""  # a second in: not yet
    clock.now += 9
    progress.step("row 2/3: FAIL")
    progress.step("row 3/3: ok")
    assert stream.getvalue() == "cmd: row 2/3: FAIL\n"
    figures[0] = "#500"
    assert tick_after(progress, stream, clock, 10).splitlines()[-1] == \
        "cmd: still running: fuzzing, libFuzzer #500 (20 s)"
    progress.step("the end", always=True)
    assert stream.getvalue().splitlines()[-1] == "cmd: the end"
    assert "\r" not in stream.getvalue() and "\033" not in stream.getvalue()


def test_the_ticker_thread_stops_with_the_command():
    progress, stream = piped(Clock())
    with progress:
        progress.start("work")
    assert not progress.thread.is_alive() and stream.getvalue() == ""


def test_matrix_piped_prints_no_terminal_codes(build_root, selected_configs):
    """Piped, the matrix counter is lines, not a carriage-return counter."""
    config = "plain" if "plain" in selected_configs else selected_configs[0]
    proc = subprocess.run([str(LIFEGUARD), "matrix", "--class", "double-close", "--config",
                           config, "--no-build", "--build-dir", str(build_root)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "\r" not in proc.stderr and "\033" not in proc.stderr, proc.stderr
    for line in proc.stderr.splitlines():
        assert line.startswith("matrix: "), proc.stderr


def test_a_step_held_back_is_printed_when_the_next_work_has_just_started():
    """Piped: trial 1 ends unprinted (too soon after the last line), trial 2 starts; at the
    interval the log gets trial 1's end, not "still running: trial 2 (0 s)"."""
    clock = Clock()
    progress, stream = piped(clock)
    progress.start("trial 1/2")
    clock.now += 6
    progress.step("trial 1/2: found in 6.00 s")
    clock.now += 3.5
    progress.start("trial 2/2")
    assert tick_after(progress, stream, clock, 0.5) == "cmd: trial 1/2: found in 6.00 s\n"
    assert tick_after(progress, stream, clock, 10).splitlines()[-1] == \
        "cmd: still running: trial 2/2 (10 s)"
