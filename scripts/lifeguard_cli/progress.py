# SPDX-License-Identifier: MIT
"""Progress lines for the long commands (matrix, fuzz, ttd), on a terminal or not.

Two kinds of line, both on stderr (stdout keeps the result: the table, the summary):
  - a line when a piece of work completes (`step`): what it was and how it ended. On a
    terminal it overwrites the previous one; piped, one is printed when `interval` seconds
    have passed since the last line, so a log gets a line every interval, not one per row;
  - `still running: WHAT (N s)` when nothing was printed for `interval` seconds: a ticker
    thread says which piece of work is going on, never a figure it did not observe (or,
    when that work has only just started, the last completed step it held back).
`what` (a callable) may give the latest figures the caller read (libFuzzer's #N line).
Nothing is printed before the first piece of work starts, so bad input stays one line."""

import sys
import threading
import time

INTERVAL = 10.0  # seconds: no long command is silent for longer


class Progress:
    """Progress lines for one command run: `with Progress("matrix") as p: p.start(...)`."""

    def __init__(self, prefix, interval=INTERVAL, stream=None, clock=time.monotonic):
        self.prefix, self.interval, self.clock = prefix, interval, clock
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self.lock = threading.Lock()
        self.what = None  # str or callable: the work going on now
        self.started = self.last = clock()
        self.open_line = False  # a terminal line waiting to be overwritten
        self.held = None  # piped: the last completed step not printed yet
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._tick, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        with self.lock:
            if self.open_line:
                self._write("\r\033[K", newline=False)

    def start(self, what):
        """The piece of work now going on (a string, or a callable giving one)."""
        with self.lock:
            self.what, self.started = what, self.clock()

    def step(self, text, always=False):
        """A piece of work completed: `text` says which and how. Piped, it is printed only
        when `interval` seconds passed since the last line (or `always`)."""
        with self.lock:
            now = self.clock()
            if self.tty:
                self._write(f"\r\033[K{self.prefix}: {text}", newline=False)
                self.open_line = True
                self.last = now
            elif always or now - self.last >= self.interval:
                self._write(f"{self.prefix}: {text}")
                self.last, self.held = now, None
            else:
                self.held = text

    def _tick(self):
        while not self.stop.wait(max(0.1, self.interval / 10)):
            self.tick()

    def tick(self):
        """The ticker's check: `still running` when nothing was printed for `interval`."""
        with self.lock:
            now = self.clock()
            if now - self.last < self.interval or (self.what is None and self.held is None):
                return
            if self.open_line:
                self._write("")
            if self.held is not None and (self.what is None or now - self.started < self.interval):
                # the work now going on has just started: the last one that ended says more
                self._write(f"{self.prefix}: {self.held}")
            else:
                what = self.what() if callable(self.what) else self.what
                self._write(f"{self.prefix}: still running: {what} ({now - self.started:.0f} s)")
            self.last, self.held = now, None

    def _write(self, text, newline=True):
        try:
            self.stream.write(text + ("\n" if newline else ""))
            self.stream.flush()
        except (BrokenPipeError, ValueError):
            return
        if newline:
            self.open_line = False
