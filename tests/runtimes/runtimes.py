# SPDX-License-Identifier: MIT
"""The runtime suite: its cases, and how one runs natively, under `lifeguard verify` and under
valgrind memcheck.

Three sorts of case, each a program of tests/runtimes/ built in build/plain/tests/runtimes/:
  Fault  a program with a real lifetime bug (argument `fault`) and its clean twin (`clean`):
         under verify with the default options the fault must be reported with its kind, and
         each stack named in `frames` must contain a frame of the application function, with
         its source file and a line; the twin must exit 0 with no report
  Real   a real program of the runtime (hello world, a threaded Rust program, `node -e`,
         `python3 -c`, a libuv echo server and client): under verify it must exit 0, print
         what it prints natively, and add nothing to stderr

tests/driver/test_runtimes.py asserts that; `lifeguard bench verify_runtimes` times every case
natively, under verify and under valgrind. A runtime that was not found when the tree was
configured (runtimes.json, written by tests/runtimes/CMakeLists.txt) is skipped with the reason.

  /usr/bin/python3 tests/runtimes/runtimes.py [--build-dir build] [--runs N] [--json FILE] [ID...]
runs the cases under verify and prints one line per case: what it reported, and why it does
not pass (a hang, the wrong kind, a stack without the application's frame).
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "scripts"))

from lifeguard_cli import run as lg_run  # noqa: E402

sys.path.insert(0, str(REPO_ROOT / "tests" / "seeded"))
import armed  # noqa: E402  (tests/seeded/armed.py: the armed probe's record)

SOURCE_DIR = REPO_ROOT / "tests" / "runtimes"
# One run of a program: generous (node under a detector takes seconds); past it the run is a
# hang and fails under the case's name.
TIMEOUT = 120.0
# What a run must not inherit: it is verify with the default options, or the bare program.
CLEARED_ENV = ("LD_PRELOAD", "LIFEGUARD_OPTIONS", "LIFEGUARD_FAULTS", "ASAN_OPTIONS",
               "NODE_OPTIONS", "PYTHONSTARTUP", "PYTHONPATH", "RUST_BACKTRACE")


@dataclass(frozen=True)
class Fault:
    id: str
    runtime: str  # rust, node, python, libuv, c (c needs nothing beyond the C compiler)
    kind: str  # the kind the report must have
    frames: dict  # stack -> (application function, its source file's name)
    argv: tuple  # words; see expand()
    note: str = ""


@dataclass(frozen=True)
class Real:
    id: str
    runtime: str
    argv: tuple
    note: str = ""


def _heap(source, use, free, alloc):
    return {"current": (use, source), "free": (free, source), "alloc": (alloc, source)}


def _fd(source, use, close, opened):
    return {"current": (use, source), "close": (close, source), "open": (opened, source)}


# argv words: {bin} the build directory of the suite, {src} tests/runtimes, {tmp} a fresh
# directory for the run, {mode} fault or clean, {node} and {python} the interpreters found at
# configure time; @FILE is the text of tests/runtimes/FILE (for `node -e` and `python3 -c`).
NODE_FAULTS = ("{node}", "--expose-gc", "{src}/node/node_faults.js", "{bin}/lg_addon.node")
PY_UNLOAD = ("{python}", "{src}/python/py_unload.py", "{bin}/libpy_sleeper.so")
PY_HANDLES = ("{python}", "{src}/python/py_handles.py", "{bin}/libpy_handles.so")

FAULTS = (
    # Rust std, debug build
    Fault("rust-double-close-reuse", "rust", "double-close",
          _fd("rs_double_close.rs", "drop_second_owner", "drop_first_owner", "open_config"),
          ("{bin}/rs_double_close", "{mode}", "{tmp}"),
          "File::from_raw_fd twice; the number is reused by another open between the closes"),
    Fault("rust-ownedfd-thread-double-close", "rust", "double-close",
          _fd("rs_ownedfd_thread.rs", "worker_release", "close_writer", "make_stream_pair"),
          ("{bin}/rs_ownedfd_thread", "{mode}", "{tmp}"),
          "OwnedFd::from_raw_fd on a worker thread of a number main owns and closes first"),
    Fault("rust-closed-fd-use", "rust", "closed-fd-use",
          _fd("rs_closed_fd_use.rs", "send_after_drop", "drop_sender", "connect_pair"),
          ("{bin}/rs_closed_fd_use", "{mode}"),
          "a UnixStream's raw number written to after the stream was dropped"),
    Fault("rust-thread-uaf", "rust", "heap-use-after-free",
          _heap("rs_thread_uaf.rs", "sum_frame", "release_frame", "make_frame"),
          ("{bin}/rs_thread_uaf", "{mode}"),
          "a Box<[u64]> read through a raw pointer on another thread after main freed it"),
    Fault("rust-vec-stale", "rust", "heap-use-after-free",
          _heap("rs_vec_stale.rs", "peek_first", "grow_samples", "collect_samples"),
          ("{bin}/rs_vec_stale", "{mode}"),
          "a pointer into a Vec kept across the push that reallocated it"),
    # Node.js 20 + an N-API addon
    Fault("node-session-pending-work", "node", "heap-use-after-free",
          _heap("lg_addon.c", "session_checksum", "session_close", "session_open"),
          (*NODE_FAULTS, "session-pending-work", "{mode}"),
          "napi_async_work reads a native session the script closed while it was queued"),
    Fault("node-watch-completion", "node", "heap-use-after-free",
          _heap("lg_addon.c", "watch_complete", "watch_cancel", "watch_start"),
          (*NODE_FAULTS, "watch-completion", "{mode}"),
          "an async work's completion delivered to a freed registration"),
    Fault("node-codec-finalized", "node", "heap-use-after-free",
          _heap("lg_addon.c", "codec_last_name", "codec_finalize", "codec_create"),
          (*NODE_FAULTS, "codec-finalized", "{mode}"),
          "a napi_wrap finalizer frees a native object a raw pointer still names"),
    # CPython 3.11 + ctypes plugins
    Fault("python-unload-thread-in-read", "python", "unload-while-running",
          {"current": ("wait_for_command", "py_sleeper.c")}, (*PY_UNLOAD, "read", "{mode}"),
          "_ctypes.dlclose while the plugin's thread is blocked in read() called from it"),
    Fault("python-unload-thread-in-poll", "python", "unload-while-running",
          {"current": ("poll_for_events", "py_sleeper.c")}, (*PY_UNLOAD, "poll", "{mode}"),
          "the same, the thread in poll() on a 32 KiB stack"),
    Fault("python-unload-thread-in-nanosleep", "python", "unload-while-running",
          {"current": ("tick_until_stopped", "py_sleeper.c")},
          (*PY_UNLOAD, "nanosleep", "{mode}"),
          "the same, the thread looping on nanosleep()"),
    Fault("python-unload-thread-in-condwait", "python", "unload-while-running",
          {"current": ("wait_for_signal", "py_sleeper.c")}, (*PY_UNLOAD, "condwait", "{mode}"),
          "the same, the thread in pthread_cond_wait() on the plugin's condition variable"),
    Fault("python-double-close", "python", "double-close",
          _fd("py_handles.c", "handle_close", "handle_close", "handle_open"),
          (*PY_HANDLES, "double-close", "{mode}", "{tmp}"),
          "a plugin's descriptor closed twice; Python's own file took the number in between"),
    Fault("python-record-uaf", "python", "heap-use-after-free",
          _heap("py_handles.c", "record_checksum", "record_free", "record_new"),
          (*PY_HANDLES, "record-uaf", "{mode}"),
          "a plugin's heap record read after Python had it freed"),
    # libuv 1.44 (the fault inside libuv, built without frame pointers)
    Fault("libuv-close-then-free", "libuv", "heap-use-after-free",
          _heap("uv_close_free.c", "run_loop", "drop_ticker", "make_ticker"),
          ("{bin}/uv_close_free", "{mode}"),
          "a timer handle freed before its close completed; libuv's uv_run reads it"),
    Fault("libuv-write-req-freed", "libuv", "heap-use-after-free",
          _heap("uv_write_free.c", "pump_records", "send_record", "send_record"),
          ("{bin}/uv_write_free", "{mode}"),
          "a uv_write_t freed while queued; libuv's completion pass reads it"),
    Fault("libuv-poll-registration-freed", "libuv", "heap-use-after-free",
          _heap("uv_poll_free.c", "serve_events", "forget_watch", "make_watch"),
          ("{bin}/uv_poll_free", "{mode}"),
          "a uv_poll_t freed while registered; libuv's poll delivers an event to it"),
    # C: libc called on a freed FILE
    Fault("c-fileno-freed-file", "c", "heap-use-after-free",
          _heap("stdio_fileno.c", "log_descriptor", "close_log", "open_log"),
          ("{bin}/stdio_fileno", "{mode}", "{tmp}/log.txt"),
          "fileno() on an fclose'd FILE: the fault is inside libc"),
    Fault("c-fputs-freed-file-thread", "c", "heap-use-after-free",
          _heap("stdio_fputs_thread.c", "write_line", "shutdown_log", "start_log"),
          ("{bin}/stdio_fputs_thread", "{mode}", "{tmp}/log.txt"),
          "fputs() on another thread to a FILE main has fclose'd (-O2, no frame pointers)"),
)

REALS = (
    Real("rust-hello", "rust", ("{bin}/rs_hello",), "hello world, rustc debug build"),
    Real("rust-threaded", "rust", ("{bin}/rs_threaded", "{tmp}"),
         "threads, channels, Mutex, Condvar, file I/O"),
    Real("node-e", "node", ("{node}", "-e", "@node/node_real.js", "{tmp}"),
         "node -e: timers, fs promises, streams, crypto, a worker thread"),
    Real("python-c", "python", ("{python}", "-c", "@python/py_real.py", "{tmp}"),
         "python3 -c: a thread pool, json, sqlite3, hashlib, files, a subprocess"),
    Real("libuv-echo", "libuv", ("{bin}/uv_echo",),
         "a TCP echo server and client over loopback, 200 messages"),
)

CASES = {c.id: c for c in (*FAULTS, *REALS)}


# ---- where things are ----------------------------------------------------------------------

def suite_dir(build_root):
    return Path(build_root) / "plain" / "tests" / "runtimes"


def preload_library(build_root):
    return Path(build_root) / "plain" / "harness" / "liblifeguard-preload.so"


def suite_info(build_root):
    """runtimes.json of the build tree (what was found at configure time), or None."""
    path = suite_dir(build_root) / "runtimes.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def skip_reason(case, info):
    """Why `case` cannot run in this tree (its runtime was not found), or None."""
    if case.runtime == "c":
        return None
    missing = info.get("missing", {}).get(case.runtime)
    if missing:
        return (f"the {case.runtime} runtime is not installed: {missing}; "
                "scripts/install-deps installs it")
    return None


def expand(words, build_root, tmp, mode=None, info=None):
    info = info or suite_info(build_root) or {}
    subst = {"bin": str(suite_dir(build_root)), "src": str(SOURCE_DIR), "tmp": str(tmp),
             "mode": mode or "", "node": info.get("node") or "node",
             "python": info.get("python") or "/usr/bin/python3"}
    out = []
    for word in words:
        if word.startswith("@"):
            out.append((SOURCE_DIR / word[1:]).read_text())
        else:
            out.append(word.format(**subst))
    return out


def programs_missing(case, build_root, info=None):
    """The built files `case` needs that are not there (a tree built before the suite)."""
    words = expand(case.argv, build_root, "/nonexistent", "fault", info)
    bin_dir = str(suite_dir(build_root))
    return [w for w in words if w.startswith(bin_dir) and not Path(w).exists()]


# ---- running ---------------------------------------------------------------------------------

@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool
    seconds: float
    records: list = field(default_factory=list)  # lifeguard's JSON reports (verify only)
    armed: list = None  # the armed probe's records (run(probe=True)), else None

    @property
    def kinds(self):
        return [r.get("kind") for r in self.records]


def clean_env():
    env = dict(os.environ)
    for name in CLEARED_ENV:
        env.pop(name, None)
    return env


def run_argv(argv, timeout=None, env=None):
    """Runs argv in its own session (a hang is killed with its whole group); returns
    (returncode, stdout, stderr, timed_out, seconds)."""
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env or clean_env(),
                            start_new_session=True)
    out, err, timed_out = lg_run.communicate_bounded(proc, timeout or TIMEOUT)
    seconds = time.monotonic() - start
    return (proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"),
            timed_out, seconds)


def verify_argv(build_root, json_path, program_argv):
    return [sys.executable, str(REPO_ROOT / "scripts" / "lifeguard"), "verify", "--no-build",
            "--build-dir", str(build_root), "--json", str(json_path), "--", *program_argv]


def run(case, how, build_root, mode=None, timeout=None, info=None, probe=False):
    """One run of `case` (mode fault or clean for a Fault, None for a Real), `how` = native,
    verify (default options) or memcheck (valgrind --tool=memcheck). Each run has a fresh
    directory for its files. `probe` (verify only): preload the armed probe after lifeguard's
    library; its record is the Outcome's `armed`."""
    with tempfile.TemporaryDirectory(prefix="lifeguard-rt-") as tmp:
        work = Path(tmp) / "work"
        work.mkdir()
        argv = expand(case.argv, build_root, work, mode, info)
        log = Path(tmp) / "verify.jsonl"
        if how == "verify":
            argv = verify_argv(build_root, log, argv)
        elif how == "memcheck":
            argv = ["valgrind", "--tool=memcheck", "--leak-check=no", "--error-exitcode=99",
                    *argv]
        elif how != "native":
            raise ValueError(how)
        env = None
        if probe and how == "verify":
            env = armed.preload(clean_env(), build_root, Path(tmp) / "armed.json")
        returncode, out, err, timed_out, seconds = run_argv(argv, timeout, env)
        armed_record = armed.read(Path(tmp) / "armed.json") if probe else None
        records = []
        if how == "verify" and log.is_file():
            for line in log.read_text(errors="replace").splitlines():
                if line.strip():
                    try:
                        records.append(json.loads(line))
                    except ValueError:
                        records.append({"kind": None, "unparsed": line})
    return Outcome(returncode, out, err, timed_out, seconds, records, armed_record)


# ---- judging ---------------------------------------------------------------------------------

_RUST_HASH = re.compile(r"::h[0-9a-f]{16}$")
_GCC_CLONE = re.compile(r"(\.(constprop|isra|part|cold|lto_priv)(\.\d+)?)+$")


def names_function(frame, function):
    """Whether a report frame is in `function`: its name, a copy gcc made of it at -O2
    (make_ticker.constprop.0), or a Rust path ending with ::function (a legacy-mangled
    name's ::h<hash> suffix aside)."""
    name = _GCC_CLONE.sub("", _RUST_HASH.sub("", frame.get("function") or ""))
    return name == function or name.endswith("::" + function)


def frame_problem(record, frames):
    """None when each stack of `frames` has a frame of its function with its source file and
    a line; else what is missing, in words."""
    stacks = record.get("stacks") or {}
    problems = []
    for stack, (function, source) in frames.items():
        got = stacks.get(stack)
        if not got:
            problems.append(f"no {stack} stack")
            continue
        hits = [f for f in got if names_function(f, function)]
        if not hits:
            shown = ", ".join(f.get("function") or f"<unknown> ({Path(f.get('module') or '?').name})"
                              for f in got[:6])
            problems.append(f"{stack} stack has no frame in {function} (it has: {shown})")
            continue
        if not any(Path(f.get("file") or "").name == source and isinstance(f.get("line"), int)
                   and f["line"] > 0 for f in hits):
            problems.append(f"{stack} stack's {function} frame has no {source}:line")
    return "; ".join(problems) or None


def fault_problem(case, outcome):
    """None when a fault run under verify is what it must be; else why not, in words."""
    if outcome.timed_out:
        return f"hang: {case.id} did not finish in {TIMEOUT:.0f} s under verify"
    if not outcome.records:
        tail = " | ".join(outcome.stderr.strip().splitlines()[-3:])
        return f"no report (exit {outcome.returncode}; stderr: {tail[:300]})"
    first = outcome.records[0]
    if first.get("kind") != case.kind:
        return f"wrong kind: {first.get('kind')} instead of {case.kind}"
    if outcome.returncode != 1:
        return f"exit {outcome.returncode} instead of 1"
    problem = frame_problem(first, case.frames)
    return f"missing frame: {problem}" if problem else None


def clean_problem(name, outcome, native=None):
    """None when a run that must be clean was; else why not. `native`: the bare run whose
    output it must repeat."""
    if outcome.timed_out:
        return f"hang: {name} did not finish in {TIMEOUT:.0f} s under verify"
    if outcome.records:
        return f"reported {', '.join(map(str, outcome.kinds))}: {outcome.records[0].get('headline')}"
    if outcome.returncode != 0:
        tail = " | ".join(outcome.stderr.strip().splitlines()[-3:])
        return f"exit {outcome.returncode} (stderr: {tail[:300]})"
    if native is not None:
        if outcome.stdout != native.stdout:
            return f"stdout differs from the native run: {outcome.stdout[:200]!r} against " \
                   f"{native.stdout[:200]!r}"
        if outcome.stderr != native.stderr:
            return f"stderr differs from the native run: {outcome.stderr[:300]!r}"
    elif outcome.stderr:
        return f"stderr not empty: {outcome.stderr[:300]!r}"
    return None


# ---- the table -----------------------------------------------------------------------------

def table(build_root, ids=(), runs=1, out=sys.stdout):
    info = suite_info(build_root)
    if info is None:
        raise SystemExit(f"{suite_dir(build_root)}/runtimes.json is missing: build the plain tree")
    rows = []
    for case in (c for c in CASES.values() if not ids or c.id in ids):
        skip = skip_reason(case, info) or (
            f"not built: {', '.join(programs_missing(case, build_root, info))}"
            if programs_missing(case, build_root, info) else None)
        row = {"id": case.id, "runtime": case.runtime}
        if skip:
            row.update(result="skip", why=skip)
        elif isinstance(case, Fault):
            problems, seconds = [], []
            for _ in range(runs):
                o = run(case, "verify", build_root, "fault", info=info)
                seconds.append(o.seconds)
                problems.append(fault_problem(case, o))
                if o.timed_out:
                    break
            twin = run(case, "verify", build_root, "clean", info=info)
            native_twin = run(case, "native", build_root, "clean", info=info)
            twin_problem = clean_problem(case.id + " (twin)", twin, native_twin)
            ok = sum(p is None for p in problems)
            row.update(result="pass" if ok == runs and not twin_problem else "FAIL",
                       fault=f"{ok}/{len(problems)}", why=next((p for p in problems if p), None),
                       twin=twin_problem or "clean", seconds=max(seconds))
        else:
            native = run(case, "native", build_root, info=info)
            o = run(case, "verify", build_root, info=info)
            problem = clean_problem(case.id, o, native)
            row.update(result="pass" if not problem else "FAIL", why=problem,
                       seconds=o.seconds)
        rows.append(row)
        print(f"{row['id']:36} {row['result']:5} {row.get('fault', ''):6} "
              f"{row.get('why') or ''}" + (f"  [twin: {row['twin']}]"
                                           if row.get("twin", "clean") != "clean" else ""),
              file=out, flush=True)
    return rows


def main(argv=None):
    global TIMEOUT
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("ids", nargs="*", metavar="ID")
    parser.add_argument("--build-dir", type=Path, default=REPO_ROOT / "build")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("--timeout", type=float, default=TIMEOUT,
                        help=f"seconds one run may take before it counts as a hang "
                             f"(default {TIMEOUT:.0f})")
    args = parser.parse_args(argv)
    unknown = [i for i in args.ids if i not in CASES]
    if unknown:
        parser.error(f"unknown case {unknown[0]} (cases: {', '.join(CASES)})")
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.timeout <= 0:
        parser.error("--timeout must be positive")
    TIMEOUT = args.timeout
    if not preload_library(args.build_dir).is_file():
        parser.error(f"{preload_library(args.build_dir)} is not built")
    rows = table(args.build_dir.resolve(), args.ids, args.runs)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 1 if any(row["result"] == "FAIL" for row in rows) else 0  # no false green


if __name__ == "__main__":
    sys.exit(main())
