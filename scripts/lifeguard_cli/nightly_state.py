# SPDX-License-Identifier: MIT
"""The out directory of `lifeguard nightly`: its layout, its lock, and its state file.

Everything a nightly run knows lives in the out directory, so that a run killed at any moment
can be run again with the same --out and lose nothing: libFuzzer writes corpus entries and
crash inputs itself, and state.json (what was fuzzed, the time series, which crash inputs
were classified, the findings) is replaced whole (temp file + os.replace), never edited.
"""

import fcntl
import json
import os
import signal
import tempfile
import threading
from pathlib import Path

from .errors import UsageError
from .paths import display

STATE_VERSION = 1


class OutDir:
    """The paths inside one out directory."""

    def __init__(self, root):
        self.root = Path(root).resolve()
        self.state = self.root / "state.json"
        self.lock = self.root / ".lock"
        self.tmp = self.root / "tmp"  # TMPDIR of libFuzzer (fork mode's job directories)

    def corpus(self, target):
        """The working corpus: libFuzzer writes the new entries here."""
        return self.root / "corpus" / target

    def seeds(self, target):
        """The regression inputs, copied without their sidecars (read-only seeds)."""
        return self.root / "seeds" / target

    def artifacts(self, target):
        """Where libFuzzer writes crash-/timeout-/oom- inputs."""
        return self.root / "artifacts" / target

    def minimized(self, target):
        return self.root / "minimized" / target

    def candidates(self, target):
        return self.root / "candidates" / target

    def logs(self):
        return self.root / "logs"

    def plots(self):
        return self.root / "plots"


def check_out_dir(path):
    """`path` usable as an out directory (created when missing); UsageError otherwise."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UsageError(f"--out {display(path)}: exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"--out {display(path)}: cannot create it: {e.strerror}") from None
    return OutDir(path)


def take_lock(out):
    """Hold the out directory's lock for the life of the process (the returned file); a second
    nightly on the same directory is bad input. The kernel drops the lock when we die."""
    handle = open(out.lock, "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise UsageError(f"--out {display(out.root)}: another lifeguard nightly is using it") from None
    return handle


def write_json_atomic(path, data):
    """Write `data` as JSON to `path` through a temp file in the same directory + os.replace,
    so a reader (or a rerun after a kill) sees the old file or the new one, never half."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)  # like any file the user writes (mkstemp makes it 0600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


class State:
    """state.json in memory: {version, targets: {name: target state}, child}. Thread-safe
    (the progress ticker and libFuzzer's reader thread update it while it runs)."""

    def __init__(self, out):
        self.out = out
        self.lock = threading.RLock()
        self.data = {"version": STATE_VERSION, "targets": {}, "child": None}
        if out.state.is_file():
            try:
                loaded = json.loads(out.state.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as e:
                raise UsageError(f"{display(out.state)}: not a nightly state file ({e})") from None
            if not isinstance(loaded, dict) or loaded.get("version") != STATE_VERSION:
                raise UsageError(f"{display(out.state)}: not a version {STATE_VERSION} nightly "
                                 "state file")
            self.data.update(loaded)

    def target(self, name):
        """The state of one target, created empty on first use."""
        with self.lock:
            return self.data["targets"].setdefault(name, {
                "fault": None, "runs": [], "pending": False, "classified": {},
                "findings": {}, "timeouts": 0, "ooms": 0})

    def save(self):
        """Write state.json atomically."""
        with self.lock:
            write_json_atomic(self.out.state, self.data)

    def set_child(self, proc):
        """Record the child process running now (its pid is its process group), or None."""
        with self.lock:
            self.data["child"] = None if proc is None else {
                "pid": proc.pid, "argv0": str(proc.args[0])}
            self.save()

    def kill_leftover_child(self):
        """After a kill, the previous run's libFuzzer (its own process group) may still run on
        this directory: SIGKILL its group, if that pid still runs the same binary. Returns
        the pid killed or None."""
        with self.lock:
            child = self.data.get("child")
            self.data["child"] = None
        if not child:
            return None
        pid = child["pid"]
        try:
            argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
        except (OSError, UnicodeDecodeError):
            return None
        if argv0 != child["argv0"]:
            return None
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            return None
        return pid
