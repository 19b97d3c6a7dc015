# SPDX-License-Identifier: MIT
"""`lifeguard verify`: run an unmodified program with the detectors preloaded.

The program runs with LD_PRELOAD=<plain tree>/harness/liblifeguard-preload.so (before any
LD_PRELOAD the caller had) and LIFEGUARD_OPTIONS naming the checks and a JSON report log of
this run (appended to the caller's own LIFEGUARD_OPTIONS, so ours win). It keeps the terminal:
stdin, stdout and stderr are the caller's, and the children it starts (git's helpers, gcc's
cc1/as/ld) inherit both variables, so they are checked too and log to the same file.

Exit status: 1 when any process reported a fault (a summary line on stderr names the kinds),
or began to report one and ended before its JSON line was written (REPORTS.inflight);
otherwise the program's own status (128+N when a signal N ended it, as a shell says it);
2 for bad input (no program, unknown check, program not found, not dynamically linked).
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from . import argtypes, classify
from .build import ensure_built, require_built
from .errors import UsageError
from .paths import DEFAULT_BUILD_ROOT, INSTALLED_PRELOAD, display, preset_dir

NAME = "verify"
SUMMARY = "run an unmodified program with the preloaded detectors; exit 1 if one reported"
DESCRIPTION = """\
Runs PROG [ARGS] with liblifeguard-preload.so preloaded: the page heap (a guard-page malloc:
use after free, overflow, double and bad free), fdcheck (double close, use after close, close
of a descriptor someone else owns) and modcheck (unload while a module is still in use, use
after unload). Reports go to stderr as they happen (ASan-like text with a SUMMARY line) and,
with --json, to FILE as JSON lines. The program keeps stdin, stdout and stderr; processes it
starts are checked too. PROG must be dynamically linked (a static binary cannot preload; link
the harness in instead). LIFEGUARD_OPTIONS from the environment is honoured; the options
below override it."""
EPILOG = """\
exit status:
  0..   the program's own exit status when nothing was reported (128+N: killed by signal N)
  1     a fault was reported (in the program or a process it started)
  2     bad input: no program, unknown check, program not found or not dynamically linked

examples:
  lifeguard verify -- python3 -c 'print(1)'
  lifeguard verify --json faults.jsonl --checks fdcheck -- ./server --port 0
  lifeguard verify --sample 100 --keep-going -- make -j4"""

PRESET = "plain"  # the preload library exists only without a sanitizer
CHECKS = ("pageheap", "fdcheck", "modcheck")
ENV_OPTIONS = "LIFEGUARD_OPTIONS"


def library_path(build_root):
    """Where the plain tree puts liblifeguard-preload.so."""
    return preset_dir(build_root, PRESET) / "harness" / "liblifeguard-preload.so"


def parse_checks(text):
    """`pageheap,fdcheck` -> the set of checks; UsageError naming an unknown one."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise UsageError(f"--checks {text!r}: name at least one of {', '.join(CHECKS)}")
    for n in names:
        if n not in CHECKS:
            raise UsageError(f"--checks: unknown check {n!r} (checks: {', '.join(CHECKS)})")
    return set(names)


def add_arguments(parser):
    parser.add_argument("--json", metavar="FILE",
                        help="write every report as one JSON object per line (each has `kind`, "
                             "`pid`, `headline`, `stacks`); an empty file when none")
    parser.add_argument("--checks", default=",".join(CHECKS), metavar="LIST",
                        help="comma-separated detectors to turn on (default all: "
                             + ",".join(CHECKS) + ")")
    parser.add_argument("--sample", type=argtypes.positive_int, metavar="N",
                        help="guard an allocation with probability 1/N (pageheap_sample; default 1: "
                             "every one while the mapping budget is far); "
                             "for large programs")
    parser.add_argument("--seed", type=argtypes.seed64, metavar="N",
                        help="the page heap's sampling seed (pageheap_seed; default: drawn at "
                             "start and printed in every report); the same seed replays the "
                             "same guard decisions in a single-threaded program")
    parser.add_argument("--keep-going", action="store_true",
                        help="continue after a report (halt_on_error=0); faults the program "
                             "cannot survive (a read of freed memory) still end it")
    parser.add_argument("--no-build", action="store_true",
                        help="do not build the preload library when it is missing")
    parser.add_argument("--build-dir", type=Path, default=None, metavar="DIR",
                        help="root of the build trees; the library is "
                             "DIR/plain/harness/liblifeguard-preload.so (default: build/ "
                             "of the source tree, or the installed library)")
    parser.add_argument("command", nargs=argparse.REMAINDER, metavar="-- PROG [ARGS]",
                        help="the program and its arguments")


# ---- the program --------------------------------------------------------------------------

PT_INTERP = 3


def resolve_program(name):
    """The executable `name` names (a path, or a command looked up in PATH)."""
    if os.sep in name:
        path = Path(os.path.abspath(name))
        if not path.exists():
            raise UsageError(f"program {name}: no such file")
    else:
        found = shutil.which(name)
        if not found:
            raise UsageError(f"program {name}: not found in PATH")
        path = Path(os.path.abspath(found))
    if path.is_dir():
        raise UsageError(f"program {name}: is a directory")
    if not os.access(path, os.X_OK) or not path.stat().st_mode & 0o111:
        raise UsageError(f"program {name}: not executable")
    return path


def check_preloadable(path, depth=0):
    """UsageError unless the dynamic linker will preload into `path`: a 64-bit dynamically
    linked ELF executable (it has a PT_INTERP), not set-user-ID, or a #! script whose
    interpreter is one."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
            st = os.fstat(f.fileno())
    except OSError as e:
        raise UsageError(f"program {path}: cannot read it: {e.strerror}") from None
    if head.startswith(b"#!"):
        words = head[2:].split(b"\n", 1)[0].split()
        if not words or depth > 2:
            raise UsageError(f"program {path}: a script without an interpreter")
        interp = Path(os.fsdecode(words[0]))
        if not interp.is_file():
            raise UsageError(f"program {path}: its interpreter {interp} does not exist")
        check_preloadable(interp, depth + 1)
        return
    if head[:4] != b"\x7fELF":
        raise UsageError(f"program {path}: not an ELF executable or a #! script")
    if head[4] != 2 or head[5] != 1:
        raise UsageError(f"program {path}: not a 64-bit little-endian ELF program "
                         "(the preload library is x86-64)")
    if st.st_mode & 0o6000:
        raise UsageError(f"program {path}: set-user-ID or set-group-ID; the dynamic linker "
                         "ignores LD_PRELOAD for it")
    phoff = int.from_bytes(head[32:40], "little")
    phentsize = int.from_bytes(head[54:56], "little")
    phnum = int.from_bytes(head[56:58], "little")
    try:
        with open(path, "rb") as f:
            f.seek(phoff)
            table = f.read(phentsize * phnum)
    except OSError as e:
        raise UsageError(f"program {path}: cannot read it: {e.strerror}") from None
    for i in range(phnum):
        if int.from_bytes(table[i * phentsize:i * phentsize + 4], "little") == PT_INTERP:
            return
    raise UsageError(f"program {path}: statically linked (no dynamic linker), so nothing can "
                     "be preloaded into it; link the harness in (lifeguard_linked) instead")


# ---- running --------------------------------------------------------------------------------

def verify_env(library, log_path, checks, sample=None, keep_going=False, base=None, seed=None):
    """The program's environment: LD_PRELOAD with the library first, LIFEGUARD_OPTIONS with
    the caller's options followed by ours."""
    env = dict(os.environ if base is None else base)
    preload = env.get("LD_PRELOAD", "").strip()
    env["LD_PRELOAD"] = f"{library}:{preload}" if preload else str(library)
    ours = [f"{c}={1 if c in checks else 0}" for c in CHECKS]
    if sample:
        ours.append(f"pageheap_sample={sample}")
    if seed is not None:
        ours.append(f"pageheap_seed={seed}")
    if keep_going:
        ours.append("halt_on_error=0")
    ours.append(f"log_json={log_path}")
    theirs = env.get(ENV_OPTIONS, "").strip(":")
    env[ENV_OPTIONS] = ":".join(([theirs] if theirs else []) + ours)
    return env


def run_program(executable, argv, env):
    """Run `executable` (argv[0] as the caller wrote it) in the foreground with the caller's stdio; its exit status (128+N for a
    signal N). An interrupt reaches the program (same process group); we wait for it."""
    try:
        proc = subprocess.Popen(argv, executable=executable, env=env)
    except OSError as e:
        raise UsageError(f"cannot run {display(executable)}: {e.strerror}") from None
    while True:
        try:
            rc = proc.wait()
            break
        except KeyboardInterrupt:
            continue
    return 128 + -rc if rc < 0 else rc


def _signal_note(status):
    if status > 128:
        try:
            return f"was killed by {signal.Signals(status - 128).name}"
        except ValueError:
            pass
    return f"exited with status {status}"


def run(args):
    """Entry point of `lifeguard verify`."""
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise UsageError("no program to run (usage: lifeguard verify [OPTIONS] -- PROG [ARGS])")
    checks = parse_checks(args.checks)
    if args.json and not Path(args.json).resolve().parent.is_dir():
        raise UsageError(f"--json {args.json}: its directory does not exist")
    program = resolve_program(command[0])
    check_preloadable(program)

    if INSTALLED_PRELOAD and args.build_dir is None:
        library = Path(INSTALLED_PRELOAD)
        if not library.is_file():
            raise UsageError(f"the installed preload library {library} is missing "
                             "(reinstall lifeguard)")
    else:
        build_root = Path(args.build_dir or DEFAULT_BUILD_ROOT).resolve()
        library = library_path(build_root)
        if not library.is_file() and not args.no_build:
            ensure_built([PRESET], build_root)
        require_built(library, PRESET, build_root, args.no_build, needed_by="verify")

    with tempfile.TemporaryDirectory(prefix="lifeguard-verify-") as tmp:
        log_path = Path(tmp) / "reports.jsonl"
        env = verify_env(library, log_path, checks, args.sample, args.keep_going, seed=args.seed)
        status = run_program(str(program), command, env)
        records, problems = classify.read_log(log_path)
        short = classify.cut_short(log_path)
        records += short

    if args.json:
        try:
            with open(args.json, "w", encoding="utf-8") as f:
                for record in records:
                    f.write(json.dumps(record) + "\n")
        except OSError as e:
            raise UsageError(f"cannot write --json {args.json}: {e.strerror}") from None
    for problem in problems:
        print(f"lifeguard: verify: warning: report log: {problem}", file=sys.stderr)
    for record in short:
        print(f"lifeguard: verify: {command[0]}: the {record['kind']} report of process "
              f"{record['pid']} (thread {record['tid']}) was cut short: the process ended while "
              "it was being written (its first lines are above)", file=sys.stderr)
    if not records:
        return status
    counts = {}
    for record in records:
        counts[record["kind"]] = counts.get(record["kind"], 0) + 1
    kinds = ", ".join(f"{k} x{n}" if n > 1 else k for k, n in counts.items())
    noun = "report" if len(records) == 1 else "reports"
    print(f"lifeguard: verify: {command[0]}: {len(records)} {noun} ({kinds}); "
          f"the program {_signal_note(status)}", file=sys.stderr)
    return 1
