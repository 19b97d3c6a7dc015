# SPDX-License-Identifier: MIT
"""The seeded-fault suite: its cases, how one is run, and the detection table.

Each case is one fault of tests/seeded/*.c; its clean twin is the same program with `clean`
instead of `fault`. Three ways to run it:
  linked     build/plain/tests/seeded/seeded_<prog>          (lifeguard linked in)
  preloaded  build/plain/tests/seeded/seeded_<prog>_bare     LD_PRELOAD=liblifeguard-preload.so
  asan       build/asan/tests/seeded/seeded_<prog>_bare      (AddressSanitizer alone)
and, for the heap faults only, two other detectors on the same unmodified program (`make bench`
puts them in docs/BENCHMARKS.md; they need Debian's valgrind and electric-fence):
  memcheck   valgrind --tool=memcheck build/plain/tests/seeded/seeded_<prog>_bare
  efence     LD_PRELOAD=libefence.so EF_PROTECT_FREE=1 build/plain/.../seeded_<prog>_bare

  python3 tests/seeded/seeded.py [--build-dir build] [--others] [--json FILE]
prints the table (fault x linked/preloaded/asan[/memcheck/efence]) and writes it as JSON.
"""

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "scripts"))

from lifeguard_cli import classify  # noqa: E402
from lifeguard_cli import run as runner  # noqa: E402

import armed  # noqa: E402  (beside this file)

MODES = ("linked", "preloaded", "asan")
OTHER_MODES = ("memcheck", "efence")  # other detectors; heap faults only
HEAP_PROGRAMS = ("heap_uaf", "double_free", "heap_overflow", "realloc_stale", "thread_uaf")
EFENCE_LIBRARY = Path("/usr/lib/libefence.so")
# EF_PROTECT_FREE=1: freed memory stays inaccessible and is never reused (Electric Fence's
# default, 0, lets a freed block be handed out again, which hides a use after free). Where
# lifeguard's row runs with pageheap_align=1 (the reads past the end), Electric Fence gets the
# same: EF_ALIGNMENT=1, a block ending exactly at its guard page.
EFENCE_ENV = {"EF_PROTECT_FREE": "1"}
OTHER_TIMEOUT = 120.0
PRELOAD = Path("harness") / "liblifeguard-preload.so"
ASAN_OPTIONS = "detect_leaks=0:abort_on_error=1"
TIMEOUT = 30.0

HEAP_FRAMES = {"alloc": "make_block"}
FD = {"current": "close_again", "close": "close_first", "open": "open_file"}
MOD = {"unload": "unload_module", "load": "load_module"}
STALE = {"current": "use_stale", "close": "close_first", "open": "open_file"}


@dataclass
class Case:
    id: str
    program: str
    args: tuple
    expected: str  # lifeguard's kind
    frames: dict  # stack -> function its top frame must be in (lifeguard's report)
    options: str = ""  # extra LIFEGUARD_OPTIONS
    asserted: bool = True  # False: a measurement shown in the table, not a pass/fail row
    note: str = ""


def _overflow_cases():
    cases = []
    for size in (1, 7, 13, 4095):
        cases.append(Case(f"overflow-read-{size}", "heap_overflow", ("read", str(size)),
                          "heap-buffer-overflow", {"current": "read_past_end", **HEAP_FRAMES},
                          options="pageheap_align=1"))
    for size in (1, 7, 13, 4095):
        cases.append(Case(f"overflow-write-{size}", "heap_overflow", ("write", str(size)),
                          "heap-buffer-overflow", {"current": "release_block", **HEAP_FRAMES},
                          note="found at free (slack pattern)"))
    return cases


CASES = [
    Case("uaf-little-churn", "heap_uaf", ("1",), "heap-use-after-free",
         {"current": "use_block", "free": "release_block", **HEAP_FRAMES}),
    Case("uaf-300mb-churn", "heap_uaf", ("300",), "heap-use-after-free",
         {"current": "use_block", "free": "release_block", **HEAP_FRAMES},
         options="pageheap_quarantine_mb=1024", note="pageheap_quarantine_mb=1024"),
    # The limit, measured: 300 MiB of one-page blocks exceed the default 256 MiB quarantine;
    # the freed slot is reused and freed again by the churn, so the read is still a
    # use-after-free but the stacks are those of the slot's last occupant.
    Case("uaf-300mb-churn-default-quarantine", "heap_uaf", ("300",), "heap-use-after-free",
         {"current": "use_block", "free": "release_block", **HEAP_FRAMES}, asserted=False,
         note="default 256 MiB quarantine"),
    # The program's own SIGSEGV handler (installed after lifeguard's) does not pass faults on.
    Case("uaf-program-segv-handler", "sig_user_handler", (), "heap-use-after-free",
         {"current": "use_block", "free": "release_block", **HEAP_FRAMES},
         note="the program's SIGSEGV handler does not chain"),
    Case("double-free", "double_free", (), "double-free",
         {"current": "release_again", "free": "release_block", **HEAP_FRAMES}),
    *_overflow_cases(),
    Case("realloc-stale", "realloc_stale", (), "heap-use-after-free",
         {"current": "use_block", "free": "grow_block", **HEAP_FRAMES}),
    Case("thread-uaf", "thread_uaf", (), "heap-use-after-free",
         {"current": "use_block", "free": "releaser_thread", **HEAP_FRAMES}),
    Case("double-close", "fd_double_close", (), "double-close", FD),
    Case("double-close-reuse", "fd_double_close", ("reuse",), "double-close", FD),
    Case("io-after-close", "fd_use_after_close", (), "closed-fd-use",
         {"current": "write_after_close", "close": "close_first", "open": "open_pipe"}),
    Case("foreign-close", "fd_foreign_close", (), "foreign-close",
         {"current": "stranger_close", "open": "owner_open"}),
    Case("fclose-close", "fd_fclose_close", (), "double-close",
         {"current": "close_number", "close": "close_stream", "open": "open_stream"}),
    Case("close-eintr-retry", "fd_close_eintr", (), "double-close",
         {"current": "interrupted_close", "close": "interrupted_close", "open": "open_file"}),
    Case("call-after-dlclose", "mod_call_after_unload", (), "use-after-unload",
         {"current": "mod_answer", **MOD}),
    Case("thread-in-module-at-dlclose", "mod_thread_at_unload", (), "unload-while-running",
         {"current": "mod_thread_main", **MOD}),
    Case("key-destructor-in-module", "mod_key_destructor", (), "unload-with-pending-callback",
         {"current": "mod_key_dtor", "registered": "mod_key_init", **MOD}),
    Case("signal-handler-in-module", "mod_signal_handler", (), "unload-with-pending-callback",
         {"current": "mod_on_signal", **MOD}),
    Case("segv-handler-in-module", "mod_signal_handler", ("segv",),
         "unload-with-pending-callback", {"current": "mod_on_signal", **MOD}),
    # A closed descriptor used: reported at the use, checks included (a runtime aborts on the
    # EBADF of its own check); the rest of the calls and shapes are in STALE_USE_CASES.
    *(Case(f"stale-{op}{'-' + how if how else ''}", "fd_stale_use",
           (op, "reuse") if how == "reuse" else (op,), "closed-fd-use", STALE,
           options="fd_quarantine=0" if how == "released" else "",
           note="fd_quarantine=0" if how == "released" else "")
      for op, how in (("getfl", ""), ("fstat", "released"), ("read", "reuse"))),
]

# Every call of fd_stale_use on a closed descriptor: parked in the quarantine, with another
# open in between (which takes the number without lifeguard), and released (quarantine off:
# the call's own EBADF is reported before it returns).
STALE_USE_CASES = [
    Case(f"stale-{op}{'-' + how if how else ''}", "fd_stale_use",
         (op, "reuse") if how == "reuse" else (op,), "closed-fd-use", STALE,
         options="fd_quarantine=0" if how == "released" else "",
         note="fd_quarantine=0" if how == "released" else "")
    for how, ops in (("", ("fstat", "isatty", "read", "write", "dup", "ioctl")),
                     ("reuse", ("getfl", "fstat", "write", "dup")),
                     ("released", ("getfd", "read", "dup")))
    for op in ops
]

# Rust std programs (tests/seeded/rust/rs_fd_owners.rs), run unmodified with the preload
# library only. `rs_fd_owners` is the debug build: std checks a descriptor it owns with
# fcntl(F_GETFD) when it drops it and aborts on EBADF; fdcheck answers that check on a parked
# number as the placeholder does, so the close that follows is reported as the double close it
# is, as in `rs_fd_owners_release`, which has no such check. A stream written after its
# number was closed behind it is a closed-descriptor use. `blames`: a function each stack must
# pass through (std's frames come first).
RUST_OPTIONS = ""
RUST_FRAMES = {
    "double-drop": {"current": "second_drop", "close": "first_drop", "open": "open_file"},
    "close-behind": {"current": "drop_owner", "close": "close_behind", "open": "open_file"},
    "stream-behind": {"current": "use_stream", "close": "close_behind"},
    "tcp-behind": {"current": "use_stream", "close": "close_behind"},
}


@dataclass
class RustCase:
    id: str
    program: str
    shape: str
    expected: str
    blames: dict
    options: str = RUST_OPTIONS
    std_check: bool = True  # the debug build's own check would abort (IO Safety violation)


RUST_CASES = [
    *(RustCase(f"rs-{shape}", "rs_fd_owners", shape,
               "double-close" if shape.startswith(("double-drop", "close-behind"))
               else "closed-fd-use",
               RUST_FRAMES[shape.removesuffix("-reuse")],
               std_check=shape.startswith(("double-drop", "close-behind")))
      for shape in ("double-drop", "double-drop-reuse", "close-behind", "close-behind-reuse",
                    "stream-behind", "stream-behind-reuse", "tcp-behind")),
    *(RustCase(f"rs-release-{shape}", "rs_fd_owners_release", shape, "double-close",
               RUST_FRAMES[shape.removesuffix("-reuse")], std_check=False)
      for shape in ("double-drop", "double-drop-reuse", "close-behind")),
]
RUST_SELF_CHECK = "IO Safety violation"  # what the debug build prints when its check fails


def binary(build_root, mode, program):
    preset = "asan" if mode == "asan" else "plain"
    if mode in OTHER_MODES:
        mode = "bare"
    suffix = "" if mode == "linked" else "_bare"
    return Path(build_root) / preset / "tests" / "seeded" / f"seeded_{program}{suffix}"


def rust_run(case, variant, build_root, options="", timeout=TIMEOUT):
    """Runs a Rust case (`fault` or `clean`) with the preload library; returns an Outcome
    whose `records` are the JSON log's reports."""
    argv = [str(binary(build_root, "preloaded", case.program)), variant, case.shape]
    env = dict(os.environ)
    for name in ("LD_PRELOAD", "LIFEGUARD_OPTIONS", "LIFEGUARD_FAULTS", "ASAN_OPTIONS"):
        env.pop(name, None)
    env["LD_PRELOAD"] = str(preload_library(build_root))
    with tempfile.TemporaryDirectory(prefix="lifeguard-seeded-") as tmp:
        log = Path(tmp) / "report.jsonl"
        env["LIFEGUARD_OPTIONS"] = ":".join(
            o for o in (case.options, options, f"log_json={log}") if o)
        returncode, output, timed_out, _ = runner.run_process(argv, env, timeout)
        records, _ = classify.read_log(log)
    return Outcome(classify.outcome(output, returncode, timed_out), returncode, output, records)


def rust_std_checks(case, build_root, timeout=TIMEOUT):
    """Whether this rustc's std checks an owned descriptor at its drop (debug builds of recent
    std do): the fault run without lifeguard prints the check's abort message."""
    argv = [str(binary(build_root, "preloaded", case.program)), "fault", case.shape]
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "LIFEGUARD_OPTIONS")}
    _, output, _, _ = runner.run_process(argv, env, timeout)
    return RUST_SELF_CHECK in output


def rust_expected(case, build_root):
    """The kind a Rust case must be reported as (the same with and without std's drop check)."""
    return case.expected


def blames_problem(case, records, expected=None):
    """Why the first report does not pass through each function of `case.blames` (None when
    it does)."""
    if not records:
        return "no JSON report in the log"
    first = records[0]
    expected = expected or case.expected
    if first["kind"] != expected:
        return f"first report is {first['kind']}, not {expected}"
    problems = []
    for stack, function in case.blames.items():
        frames = first["stacks"].get(stack) or []
        names = [f.get("function") or "" for f in frames if isinstance(f, dict)]
        if not any(f"::{function}::" in n or n == function for n in names):
            problems.append(f"the {stack} stack does not pass through {function}: {names}")
    return "; ".join(problems) or None


def preload_library(build_root):
    return Path(build_root) / "plain" / PRELOAD


@dataclass
class Outcome:
    kind: str  # classify.outcome: a SUMMARY kind, clean, crash:SIG, exit:N, timeout
    returncode: int
    output: str
    records: list = field(default_factory=list)
    tops: dict = field(default_factory=dict)  # stack -> top frame's function
    armed: list = None  # the armed probe's records (run(probe=True)), else None

    def frames_problem(self, expected_kind, frames):
        return classify.frames_problem(expected_kind, frames, self.records)


def run(case, mode, variant, build_root, timeout=TIMEOUT, options="", probe=False):
    """Run `case` (variant `fault` or `clean`) one way; returns an Outcome. `options`: more
    LIFEGUARD_OPTIONS; `probe`: preload the armed probe (linked and preloaded modes), whose
    record is the Outcome's `armed`."""
    argv = [str(binary(build_root, mode, case.program)), variant, *case.args]
    env = dict(os.environ)
    for name in ("LD_PRELOAD", "LIFEGUARD_OPTIONS", "LIFEGUARD_FAULTS", "ASAN_OPTIONS"):
        env.pop(name, None)
    if mode == "asan":
        env["ASAN_OPTIONS"] = ASAN_OPTIONS
    elif mode == "preloaded":
        env["LD_PRELOAD"] = str(preload_library(build_root))
    with tempfile.TemporaryDirectory(prefix="lifeguard-seeded-") as tmp:
        log = Path(tmp) / "report.jsonl"
        if mode != "asan":
            env["LIFEGUARD_OPTIONS"] = ":".join(o for o in (case.options, options,
                                                            f"log_json={log}") if o)
        if probe and mode in ("linked", "preloaded"):
            env = armed.preload(env, build_root, Path(tmp) / "armed.json")
        returncode, output, timed_out, _ = runner.run_process(argv, env, timeout)
        records, _ = classify.read_log(log)
        armed_record = armed.read(Path(tmp) / "armed.json") if probe else None
    records = classify.report_records(output, records)
    kind = classify.outcome(output, returncode, timed_out)
    tops = {}
    if records:
        for stack in records[0]["stacks"]:
            top = classify.top_frame(records[0], stack)
            if top is not None:
                tops[stack] = top.get("function")
    if mode == "asan" and records and "alloc" not in tops:
        # classify knows ASan's "previously allocated by thread" (use after free), not the
        # plain "allocated by thread" title of an overflow report
        top = _asan_allocated_top(output)
        if top:
            tops["alloc"] = top
    return Outcome(kind, returncode, output, records, tops, armed_record)


def _asan_allocated_top(output):
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("allocated by thread") and line.rstrip().endswith("here:"):
            for frame_line in lines[i + 1:]:
                frame = classify.parse_frame(frame_line)
                if frame is None:
                    return None
                if not classify.is_runtime_frame(frame):
                    return frame.get("function")
    return None


def table_cell(outcome, case=None):
    """What one run shows, in a word or two: the kind, `nothing` (exit 0, no report),
    `SEGV` (and other signals) or `exit:N`, plus the top free/close frame when it differs."""
    kind = outcome.kind
    if kind == "clean":
        kind = "nothing"
    elif kind.startswith("crash:"):
        kind = kind[len("crash:"):].removeprefix("SIG")
        kind = "SEGV" if kind == "SEGV" else kind
    return kind


def frames_ok(case, mode, fault):
    """Whether the fault's report blames the program's functions: lifeguard's every stack of
    the case; ASan's free and alloc stacks of a heap case (None: nothing to compare)."""
    if mode != "asan":
        return fault.kind == case.expected and fault.frames_problem(case.expected, case.frames) is None
    wanted = {k: v for k, v in case.frames.items() if k in ("free", "alloc")}
    if not wanted or not fault.records:
        return None
    return all(fault.tops.get(k) == v for k, v in wanted.items())


def build_table(build_root, modes=MODES):
    rows = []
    for case in CASES:
        row = {"fault": case.id, "program": case.program, "args": list(case.args),
               "expected": case.expected, "note": case.note}
        for mode in modes:
            if not binary(build_root, mode, case.program).is_file() or (
                    mode == "preloaded" and not preload_library(build_root).is_file()):
                row[mode] = None
                continue
            fault = run(case, mode, "fault", build_root)
            clean = run(case, mode, "clean", build_root)
            row[mode] = {
                "fault": table_cell(fault),
                "stacks": fault.tops,
                "frames_ok": frames_ok(case, mode, fault),
                "clean_twin": table_cell(clean),
            }
        rows.append(row)
    return rows


# ---- other detectors (memcheck, Electric Fence) on the heap faults --------------------------

def other_available(mode):
    """None when `mode`'s tool is installed, else what is missing."""
    if mode == "memcheck":
        return None if shutil.which("valgrind") else "valgrind is not installed"
    if mode == "efence":
        return None if EFENCE_LIBRARY.is_file() else f"{EFENCE_LIBRARY} is not installed"
    raise ValueError(mode)


def run_other(case, mode, variant, build_root, timeout=OTHER_TIMEOUT):
    """Run a heap `case` under memcheck or Electric Fence; returns (cell, output): cell is what
    the tool reported in a few words, `nothing` when the program ran to exit 0 silently."""
    argv = [str(binary(build_root, mode, case.program)), variant, *case.args]
    env = dict(os.environ)
    for name in ("LD_PRELOAD", "LIFEGUARD_OPTIONS", "LIFEGUARD_FAULTS", "ASAN_OPTIONS"):
        env.pop(name, None)
    if mode == "memcheck":
        argv = ["valgrind", "--tool=memcheck", "--leak-check=no", *argv]
    else:
        env["LD_PRELOAD"] = str(EFENCE_LIBRARY)
        env.update(EFENCE_ENV)
        if "pageheap_align=1" in case.options:  # the same setting lifeguard's row runs with
            env["EF_ALIGNMENT"] = "1"
    returncode, output, timed_out, _ = runner.run_process(argv, env, timeout)
    if timed_out:
        return "timeout", output
    cell = memcheck_cell(output) if mode == "memcheck" else efence_cell(output, returncode)
    if cell is None:
        cell = "nothing" if returncode == 0 else table_cell(
            Outcome(classify.outcome("", returncode), returncode, output))
    return cell, output


_VG_ERROR = re.compile(r"^==\d+== (Invalid (?:read|write) of size \d+|Invalid free\(\)"
                       r"|Mismatched free\(\)|Use of uninitialised value[^\n]*"
                       r"|Conditional jump[^\n]*)", re.M)
_VG_WHERE = re.compile(r"^==\d+==  Address 0x[0-9a-f]+ is [\d,]+ bytes (inside|after|before) "
                       r"a block of size [\d,]+ (free'd|alloc'd)", re.M)
_VG_FRAME = re.compile(r"^==\d+==    (?:at|by) 0x[0-9A-F]+: (\S+) \((?!in /usr/libexec/valgrind)",
                       re.M)
_VG_PLACES = {("inside", "free'd"): "in a freed block", ("after", "alloc'd"): "past a live block",
              ("before", "alloc'd"): "before a live block", ("after", "free'd"): "past a freed block",
              ("inside", "alloc'd"): "in a live block", ("before", "free'd"): "before a freed block"}


def memcheck_cell(output):
    """memcheck's first error in words, e.g. `Invalid read of size 1 (in a freed block, freed in
    release_block)`;
    None when it reported no error."""
    error = _VG_ERROR.search(output)
    if not error:
        return None
    where = _VG_WHERE.search(output, error.end())
    text = error.group(1).replace(" / delete / delete[] / realloc()", "")
    if where:
        text += f" ({_VG_PLACES[where.group(1), where.group(2)]}"
        frame = _VG_FRAME.search(output, where.end())
        if where.group(2) == "free'd" and frame:  # the first frame of the free stack
            text += f", freed in {frame.group(1)}"
        text += ")"
    return text


def efence_cell(output, returncode):
    """Electric Fence's own abort message (an address made generic), or None (then the
    signal or exit status says what happened)."""
    found = re.search(r"ElectricFence Aborting: (.*)", output)
    if not found:
        return None
    message = re.sub(r"\b(0x)?[0-9a-fA-F]{6,}\b", "ADDR", found.group(1).strip())
    return f"abort: {message}"


def build_other_table(build_root, modes=OTHER_MODES, cases=None):
    """{fault id: {mode: {"fault": cell, "clean_twin": cell} or a string saying why not run}}
    for the heap cases."""
    table = {}
    for case in cases or CASES:
        if case.program not in HEAP_PROGRAMS:
            continue
        row = table.setdefault(case.id, {})
        for mode in modes:
            missing = other_available(mode)
            if missing is None and not binary(build_root, mode, case.program).is_file():
                missing = f"{binary(build_root, mode, case.program)} is not built"
            if missing:
                row[mode] = missing
                continue
            row[mode] = {"fault": run_other(case, mode, "fault", build_root)[0],
                         "clean_twin": run_other(case, mode, "clean", build_root)[0]}
    return table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", default=str(REPO_ROOT / "build"))
    parser.add_argument("--others", action="store_true",
                        help="also run the heap faults under valgrind memcheck and Electric Fence")
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args(argv)
    rows = build_table(args.build_dir)
    others = build_other_table(args.build_dir) if args.others else {}
    for row in rows:
        for mode in OTHER_MODES if args.others else ():
            row[mode] = others.get(row["fault"], {}).get(mode)
    modes = MODES + (OTHER_MODES if args.others else ())
    print(f"{'fault':38} " + " ".join(f"{m:24}" for m in modes))
    for row in rows:
        cells = []
        for mode in modes:
            c = row[mode]
            cells.append("(not built)" if c is None and mode in MODES else "-" if c is None
                         else c if isinstance(c, str) else
                         c["fault"] + (" (frames!)" if c.get("frames_ok") is False else ""))
        print(f"{row['fault']:38} " + " ".join(f"{c:24}" for c in cells))
    if args.json:
        Path(args.json).write_text(json.dumps({"asan_options": ASAN_OPTIONS, "rows": rows},
                                              indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
