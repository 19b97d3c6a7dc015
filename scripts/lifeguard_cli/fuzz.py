# SPDX-License-Identifier: MIT
"""`lifeguard fuzz`: run one libFuzzer target for a while and say whether, when and how it
crashed. Also the libFuzzer runner the other commands share (run_libfuzzer): it streams the
output, timestamps the reports, and reads the statistics, the crash and the artifact."""

import collections
import configparser
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from . import argtypes, classify
from .build import ensure_built, require_built
from .errors import UsageError
from .kinds import LIFEGUARD_KINDS
from .manifest import _did_you_mean
from .paths import DEFAULT_BUILD_ROOT, REPO_ROOT, display, preset_dir
from .progress import Progress
from .run import kill_group

FUZZ_DIR = REPO_ROOT / "fuzz"
CORPORA_DIR = REPO_ROOT / "corpora"
PRESET = "asan"  # the clang tree: the only one that builds the libFuzzer binaries
ENGINES = ("libfuzzer", "afl")  # --engine: afl runs fuzz_afl.py
DEFAULT_TIMEOUT = 10  # seconds one input may take before libFuzzer calls it a timeout
DEFAULT_ASAN_OPTIONS = "detect_leaks=0"
# The flags run() passes itself; an .options file cannot override them.
OWN_FLAGS = ("max_total_time", "print_final_stats", "artifact_prefix", "seed", "timeout", "runs")
DEFAULT_SECONDS = 60  # --seconds without --runs
RUNS_HANG_SECONDS = 900  # --runs without --seconds: the hang detector
REPORT_LINES = 12  # lines of the crash report in the JSON and after a crash
_KEPT_REPORT_LINES = 200  # lines kept per report while reading
_TAIL_LINES = 40

_DEFINES_TARGET_RE = re.compile(r"^\s*int\s+LLVMFuzzerTestOneInput\s*\([^;{]*\)\s*\{", re.MULTILINE)
_PROGRESS_RE = re.compile(r"^#(\d+)\s")
_STAT_RE = re.compile(r"^stat::(\w+):\s*(\d+)")
_SEED_RE = re.compile(r"^INFO: Seed: (\d+)")
_LIBFUZZER_ERROR_RE = re.compile(r"^==\d+== ERROR: libFuzzer: (.*?)\s*$")
_LIBFUZZER_SUMMARY_RE = re.compile(r"^SUMMARY: libFuzzer: (.*?)\s*$")
_ARTIFACT_RE = re.compile(r"Test unit written to (.+?)\s*$")
_ARTIFACT_KINDS = ("crash-", "timeout-", "oom-", "leak-")
_SCHEDULE_RE = re.compile(r"^(?:schedule: |lifeguard: schedule at the crash: )(lgs1:\S*)")

NAME = "fuzz"
SUMMARY = "run a libFuzzer target for N seconds; report whether, when and how it crashed"

DESCRIPTION = """\
Run the libFuzzer binary of one fuzz target (build/asan/fuzz/TARGET_fuzz, built by the asan
preset) for --seconds or --runs executions (whichever ends first when both are given), in one
process, and report whether it crashed: after how many executions and seconds, with which
fault kind, and where the crashing input was written. Tests use --runs: a bound in work, the
same on a loaded machine.

The run works on a temporary corpus seeded with a copy of corpora/TARGET/ (the repository's
corpora are never written); with --inject, also with corpora/inject/TARGET/ and a failure
sweep of the seeds (each seed with its schedule continued by i zero bytes and a 1, i < 48:
one input per call within reach that fails it, however deep). It passes
  -max_total_time=SECONDS (with --seconds) -runs=N (with --runs) -print_final_stats=1
  -timeout=T -seed=S -artifact_prefix=DIR/
plus -dict=fuzz/TARGET.dict when that file exists and the [libfuzzer] options of
fuzz/TARGET.options (OSS-Fuzz's format: `key = value` lines under `[libfuzzer]`; `[asan]` and
`[ubsan]` sections give ASAN_OPTIONS / UBSAN_OPTIONS when the environment has none). The flags
above are lifeguard's and win over the file's. libFuzzer writes the crashing input to the
artifacts directory itself (crash-<sha1>, timeout-..., oom-...).

Environment of the run: LIFEGUARD_FAULTS=NAME[,NAME] from --fault (else LIFEGUARD_FAULTS is
removed: the fixed code is fuzzed); inject_max=N appended to LIFEGUARD_OPTIONS with
--inject N (failure injection: the schedule bytes also decide which calls of the runtime
fail); LG_FUZZ_UNTIL=KIND and halt_on_error=0 appended to LIFEGUARD_OPTIONS with --until (else
LG_FUZZ_UNTIL is removed); ASAN_OPTIONS=detect_leaks=0
unless set.

A crash is libFuzzer stopping on a sanitizer or lifeguard report, a deadly signal, a timeout
or an out-of-memory input. Its kind (fault_kind) is the first `SUMMARY: <tool>: <kind>` line
(with --until: the KIND waited for), else libFuzzer's own: `timeout`, `out-of-memory`,
`deadly signal`. A run still going after SECONDS*2+120 s (with --runs alone: 900 s) is killed
(process group) and counted as a crash of kind `timeout`, with killed=true."""

EPILOG = """\
json output (--json FILE): one object:
  target, fault (the switches, comma-joined, or null), until, seconds and runs (asked for;
  null when not given),
  seconds_run (wall), seed (libFuzzer's, as it printed it), execs, exec_per_sec, crashed,
  execs_to_first_crash, seconds_to_first_crash, fault_kind, summary (the SUMMARY line),
  schedule (the lg_sched schedule string of the crash, if printed), artifact (the crashing
  input), report (its first lines), corpus_size, seed_corpus_size, new_units, killed,
  exit_status (libFuzzer's), environment (the variables lifeguard set), command
execs is libFuzzer's stat::number_of_executed_units (else its last #N line); exec_per_sec is
its stat::average_exec_per_sec, or execs / seconds_run when that is 0 (runs under a second).
The *_to_first_crash fields are null without a crash; seconds_to_first_crash counts from the
start of the process to the first line of the crash report.

exit status: 0 it ran and nothing crashed; 1 it crashed (the JSON is written either way) or a
build failed; 2 bad input (unknown target, bad option, a fuzzer that could not start).

examples:
  scripts/lifeguard fuzz double_close --seconds 60
  scripts/lifeguard fuzz double_close --seconds 10 --fault socket-close-in-drop --json f.json
  scripts/lifeguard fuzz double_close --runs 100000 --fault socket-close-in-drop --seed 1
  scripts/lifeguard fuzz sched_uaf --seconds 20 --seed 1 --no-build
  scripts/lifeguard fuzz pipe_disconnect --seconds 60 --inject 2
  make fuzz FUZZ_TARGETS=double_close FUZZ_SECONDS=10
  scripts/lifeguard fuzz gc_async --engine afl --seconds 60 --fault bind-vec-borrow-unpinned

--engine afl runs AFL++ on build/afl/fuzz/TARGET_afl instead (see the afl preset); the JSON
has the same fields, plus engine, crashes, hangs, seeds_crashed, stability, output."""


# ---- the libFuzzer runner ---------------------------------------------------------------

@dataclass
class Report:
    """One detector report in libFuzzer's output: from its first line to its SUMMARY line."""

    tool: str
    kind: str
    summary: str  # the SUMMARY line
    seconds: float  # from the start of the process to the report's first line
    execs: int  # libFuzzer's last #N before it
    lines: list
    schedule: str = None  # the lg_sched schedule string printed with it


class Crash(NamedTuple):
    """What stopped libFuzzer: the kind, when (seconds from the start), and its report."""

    kind: str
    seconds: float
    report: Report = None


@dataclass
class LibFuzzerRun:
    """What one libFuzzer process did, read from its output as it ran."""

    argv: list
    returncode: int = None
    seconds: float = 0.0  # wall time of the process
    killed: bool = False  # ran past the timeout; its process group was killed
    seed: int = None
    stats: dict = field(default_factory=dict)  # stat::NAME -> value
    last_progress: int = 0  # the N of the last `#N` line
    reports: dict = field(default_factory=dict)  # kind -> its first Report, in order seen
    last_report: Report = None
    report_counts: dict = field(default_factory=dict)  # kind -> how many were printed
    libfuzzer_error: str = None  # `timeout`, `out-of-memory`, `deadly signal`, ...
    libfuzzer_error_seconds: float = None
    artifact: str = None  # the crash-/timeout-/oom-/leak- input libFuzzer wrote
    tail: list = field(default_factory=list)  # the last lines of the output

    @property
    def execs(self):
        return self.stats.get("number_of_executed_units", self.last_progress)

    @property
    def exec_per_sec(self):
        """libFuzzer's average, or execs / wall seconds when it says 0 (it counts whole
        seconds, so a run under a second prints 0)."""
        average = self.stats.get("average_exec_per_sec", 0)
        if average > 0 or not self.seconds:
            return float(average)
        return round(self.execs / self.seconds, 1)

    def first_report(self, kind=None):
        """The first report of `kind`, or the first report of all; None without one."""
        if kind is not None:
            return self.reports.get(kind)
        return next(iter(self.reports.values()), None)

    def crash(self, until=None):
        """The Crash that stopped libFuzzer, or None when it did not crash. Its report is the
        first one (a report stops the run), or with `until` (LG_FUZZ_UNTIL runs, where reports
        of other kinds go on) the first of that kind, else the last one (a sanitizer's)."""
        report = (self.first_report(until) or self.last_report) if until else self.first_report()
        evidence = report is not None or self.libfuzzer_error or self.artifact
        if not (self.killed or self.returncode < 0 or (self.returncode != 0 and evidence)):
            return None
        if report is not None:
            return Crash(report.kind, report.seconds, report)
        if self.libfuzzer_error:
            return Crash(self.libfuzzer_error, self.libfuzzer_error_seconds)
        if self.killed:
            return Crash(classify.TIMEOUT, self.seconds)
        return Crash(classify.outcome("", self.returncode), self.seconds)


class _OutputReader:
    """Reads libFuzzer's output line by line as it comes, into a LibFuzzerRun: nothing but the
    first report of each kind and a tail is kept, so a long run's output costs no memory."""

    def __init__(self, result, start, log=None, on_line=None):
        self.result, self.start, self.log, self.on_line = result, start, log, on_line
        self.tail = collections.deque(maxlen=_TAIL_LINES)
        self.current = None  # the Report being read, until its SUMMARY line

    def read(self, stream):
        for raw in stream:
            seconds = time.monotonic() - self.start
            if self.log is not None:
                self.log.write(raw)
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            self.feed(line, seconds)
            if self.on_line is not None:
                self.on_line(line, seconds)
        self.result.tail = list(self.tail)

    def feed(self, line, seconds):
        r = self.result
        self.tail.append(line)
        if classify.starts_report(line):
            self.current = Report(None, None, None, seconds, r.last_progress, [])
        if self.current is not None and len(self.current.lines) < _KEPT_REPORT_LINES:
            self.current.lines.append(line)
        if line.startswith("SUMMARY: "):
            self._summary(line, seconds)
        elif match := _PROGRESS_RE.match(line):
            r.last_progress = int(match.group(1))
        elif match := _STAT_RE.match(line):
            r.stats[match.group(1)] = int(match.group(2))
        elif match := _SCHEDULE_RE.match(line):
            # inside a lifeguard report, or right after an AddressSanitizer one
            report = self.current or self.result.last_report
            if report is not None and report.schedule is None:
                report.schedule = match.group(1)
        elif match := _SEED_RE.match(line):
            r.seed = int(match.group(1))
        elif match := _LIBFUZZER_ERROR_RE.match(line):
            self._libfuzzer_error(match.group(1), seconds)
        elif match := _ARTIFACT_RE.search(line):
            if r.artifact is None and Path(match.group(1)).name.startswith(_ARTIFACT_KINDS):
                r.artifact = match.group(1)

    def _summary(self, line, seconds):
        if match := _LIBFUZZER_SUMMARY_RE.match(line):
            self._libfuzzer_error(match.group(1), seconds)
            return
        found = classify.summary(line)
        if found is None:
            return
        report = self.current or Report(None, None, None, seconds, self.result.last_progress,
                                        [line])
        report.tool, report.kind, report.summary = found
        self.current, self.result.last_report = None, report
        counts = self.result.report_counts
        counts[report.kind] = counts.get(report.kind, 0) + 1
        self.result.reports.setdefault(report.kind, report)

    def _libfuzzer_error(self, text, seconds):
        """`==N== ERROR: libFuzzer: X` and `SUMMARY: libFuzzer: X`: the first one's time."""
        r = self.result
        r.libfuzzer_error = _libfuzzer_kind(text)
        if r.libfuzzer_error_seconds is None:
            r.libfuzzer_error_seconds = seconds


def _libfuzzer_kind(text):
    """libFuzzer's words for what stopped it: `timeout after 3 seconds` -> `timeout`."""
    for kind in ("timeout", "out-of-memory", "deadly signal"):
        if text.startswith(kind):
            return kind
    return text


def run_libfuzzer(argv, env, cwd, timeout, log_path=None, on_line=None, on_start=None):
    """Run the libFuzzer command `argv` (stdout and stderr together) until it exits or
    `timeout` seconds pass, then kill its process group. Returns a LibFuzzerRun. Raises
    UsageError when it cannot start. `log_path`: a file that gets the whole output;
    `on_line(line, seconds)`: called for every line as it comes (on the reader thread);
    `on_start(proc)`: called once the process runs (its pid is its process group)."""
    result = LibFuzzerRun([str(a) for a in argv])
    start = time.monotonic()
    try:
        proc = subprocess.Popen(result.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                start_new_session=True)
    except OSError as e:
        raise UsageError(f"cannot run {display(argv[0])}: {e.strerror}") from None
    if on_start is not None:
        on_start(proc)
    log = open(log_path, "wb") if log_path else None
    try:
        reader = _OutputReader(result, start, log, on_line)
        thread = threading.Thread(target=reader.read, args=(proc.stdout,), daemon=True)
        thread.start()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            result.killed = True
            kill_group(proc)
            proc.wait()
        thread.join()
    except BaseException:
        kill_group(proc)
        proc.wait()
        raise
    finally:
        proc.stdout.close()
        if log is not None:
            log.close()
    result.returncode = proc.returncode
    result.seconds = time.monotonic() - start
    return result


# ---- targets and options ----------------------------------------------------------------

def known_targets(fuzz_dir=FUZZ_DIR):
    """The fuzz targets: fuzz/*.c files that define LLVMFuzzerTestOneInput, by stem."""
    names = []
    for source in sorted(Path(fuzz_dir).glob("*.c")):
        try:
            text = source.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if _DEFINES_TARGET_RE.search(text):
            names.append(source.stem)
    return names


def resolve_target(name, fuzz_dir=FUZZ_DIR):
    """`name` as a known target (a class name with dashes is taken too); UsageError else."""
    known = known_targets(fuzz_dir)
    for candidate in (name, name.replace("-", "_")):
        if candidate in known:
            return candidate
    raise UsageError(f"unknown fuzz target {name!r} (targets: {', '.join(known) or 'none'})"
                     + _did_you_mean(name, known))


def read_options(path):
    """An OSS-Fuzz .options file as ({libFuzzer flag: value}, {ENV_VAR: sanitizer options}).
    [libfuzzer] `key = value` lines become -key=value; [asan], [ubsan], [lsan] and [msan]
    become ASAN_OPTIONS etc. (`key=value` joined with ':'). UsageError when malformed."""
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None,
                                       comment_prefixes=("#", ";"), strict=True)
    parser.optionxform = str  # flag names are case-sensitive
    where = display(path)
    try:
        parser.read_string(Path(path).read_text(encoding="utf-8"), source=where)
    except OSError as e:
        raise UsageError(f"cannot read {where}: {e.strerror}") from None
    except (configparser.Error, UnicodeDecodeError) as e:
        raise UsageError(f"{where}: not an options file: {' '.join(str(e).split())}") from None
    for section in parser.sections():
        for key, value in parser.items(section):
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                raise UsageError(f"{where}: [{section}] {key!r} is not an option name")
            if not value or any(c.isspace() for c in value):
                raise UsageError(f"{where}: [{section}] {key} needs one value without spaces, "
                                 f"not {value!r}")
    flags = dict(parser.items("libfuzzer")) if parser.has_section("libfuzzer") else {}
    sanitizers = {}
    for section in ("asan", "ubsan", "lsan", "msan"):
        if parser.has_section(section):
            sanitizers[f"{section.upper()}_OPTIONS"] = ":".join(
                f"{k}={v}" for k, v in parser.items(section))
    return flags, sanitizers


def supports_until(target, fuzz_dir=FUZZ_DIR):
    """Whether the target's source reads LG_FUZZ_UNTIL."""
    try:
        return "LG_FUZZ_UNTIL" in (Path(fuzz_dir) / f"{target}.c").read_text(errors="replace")
    except OSError:
        return False


# ---- the command ------------------------------------------------------------------------

def add_arguments(parser):
    parser.add_argument("target", metavar="TARGET",
                        help="the fuzz target: a fuzz/TARGET.c defining LLVMFuzzerTestOneInput "
                             f"({', '.join(known_targets())})")
    parser.add_argument("--engine", choices=ENGINES, default=ENGINES[0],
                        help="libfuzzer (default: build/asan/fuzz/TARGET_fuzz) or afl (AFL++: "
                             "build/afl/fuzz/TARGET_afl, the afl preset)")
    parser.add_argument("--seconds", type=argtypes.positive_whole_seconds,
                        metavar="N", help="how long to fuzz (default 60, or no time limit with "
                                          "--runs)")
    parser.add_argument("--runs", type=argtypes.positive_int, metavar="N",
                        help="stop after N executions (libFuzzer's -runs, AFL++'s -E): a run "
                             "bounded by work, not by time (a run still going after "
                             f"{RUNS_HANG_SECONDS} s is killed as a hang)")
    parser.add_argument("--fault", dest="faults", action="append", default=[], metavar="NAME",
                        help="turn on this fault switch (LIFEGUARD_FAULTS; repeatable; default "
                             "none: the fixed code)")
    parser.add_argument("--inject", type=argtypes.non_negative_int, default=0, metavar="N",
                        help="failure injection: at most N injected failures per execution "
                             "(LIFEGUARD_OPTIONS inject_max=N; default 0: off)")
    parser.add_argument("--until", metavar="KIND",
                        help="stop only at a lifeguard report of KIND, counting and ignoring the "
                             "others (LG_FUZZ_UNTIL; targets that support it)")
    parser.add_argument("--seed", type=argtypes.non_negative_int, default=0,
                        metavar="S", help="libFuzzer's -seed (default 0: libFuzzer picks one)")
    parser.add_argument("--timeout", type=argtypes.positive_whole_seconds,
                        metavar="T", help="libFuzzer's -timeout: seconds one input may take "
                                          f"(default: the .options file's, else {DEFAULT_TIMEOUT})")
    files = parser.add_argument_group("files")
    files.add_argument("--json", metavar="FILE", help="write the result as one JSON object")
    files.add_argument("--artifacts", type=Path, metavar="DIR",
                       help="where libFuzzer writes crashing inputs (created; default "
                            "build/fuzz-artifacts/TARGET/ under the build root)")
    files.add_argument("--options", type=Path, metavar="FILE",
                       help="the options file (default fuzz/TARGET.options when it exists)")
    files.add_argument("--log", type=Path, metavar="FILE",
                       help="also write libFuzzer's whole output to FILE")
    files.add_argument("--no-build", action="store_true",
                       help="do not configure or build; use the binary as it is")
    files.add_argument("--build-dir", type=Path, default=DEFAULT_BUILD_ROOT, metavar="DIR",
                       help="root of the build trees; the binary is "
                            "DIR/asan/fuzz/TARGET_fuzz (default build/)")


def check_until(until, target):
    """UsageError unless `until` is None or a lifeguard kind that `target` can wait for."""
    if until is None:
        return
    if until not in LIFEGUARD_KINDS:
        raise UsageError(f"--until {until!r} is not a lifeguard report kind "
                         f"({', '.join(LIFEGUARD_KINDS)})" + _did_you_mean(until, LIFEGUARD_KINDS))
    if not supports_until(target):
        raise UsageError(f"fuzz target {target} does not support --until (it does not read "
                         "LG_FUZZ_UNTIL)")


def run(args):
    """Entry point of `lifeguard fuzz`."""
    if args.seconds is None and args.runs is None:
        args.seconds = DEFAULT_SECONDS
    if getattr(args, "engine", ENGINES[0]) == "afl":
        from . import fuzz_afl  # it builds on this module
        return fuzz_afl.run(args)
    target = resolve_target(args.target)
    build_root = args.build_dir.resolve()
    check_until(args.until, target)
    options_path = args.options or FUZZ_DIR / f"{target}.options"
    if args.options is not None and not args.options.is_file():
        raise UsageError(f"--options {args.options}: no such file")
    flags, sanitizer_env = read_options(options_path) if options_path.is_file() else ({}, {})
    for path, what in ((args.json, "--json"), (args.log, "--log")):
        if path and not Path(path).resolve().parent.is_dir():
            raise UsageError(f"{what} {path}: its directory does not exist")
    binary = preset_dir(build_root, PRESET) / "fuzz" / f"{target}_fuzz"
    if not args.no_build:
        ensure_built([PRESET], build_root)
    require_built(binary, PRESET, build_root, args.no_build, needed_by=f"fuzz {target}")
    artifacts = (args.artifacts or build_root / "fuzz-artifacts" / target).resolve()
    try:
        artifacts.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"--artifacts {display(artifacts)}: cannot create it: {e.strerror}") from None

    env, settings = fuzz_env(args.faults, args.until, sanitizer_env, inject=args.inject)
    flags = libfuzzer_flags(target, flags, options_path, args, artifacts)
    seeds = CORPORA_DIR / target
    with tempfile.TemporaryDirectory(prefix="lifeguard-fuzz-") as tmp:
        corpus = Path(tmp) / "corpus"
        if seeds.is_dir():
            shutil.copytree(seeds, corpus)
        else:
            corpus.mkdir()
        # With failure injection, also the inputs that make the runtime's calls fail.
        injected = CORPORA_DIR / "inject" / target
        if args.inject and injected.is_dir():
            shutil.copytree(injected, corpus / "inject")
        if args.inject and seeds.is_dir():
            write_failure_sweep(seeds, corpus / "inject-sweep")
        seed_count = _count_files(corpus)
        argv = [str(binary), *(f"-{k}={v}" for k, v in flags.items()), str(corpus)]
        status = []  # libFuzzer's latest `#N ...` status line, for the progress lines

        def on_line(line, seconds):
            if _PROGRESS_RE.match(line):
                status[:] = [" ".join(line.split()[:8])]

        with Progress("fuzz") as progress:
            progress.start(lambda: f"{target}, {asked(args)}, {seed_count} seed "
                                   f"inputs; libFuzzer: {status[0] if status else 'starting'}")
            hang = hang_timeout(args)
            result = run_libfuzzer(argv, env, cwd=tmp, timeout=hang, log_path=args.log,
                                   on_line=on_line)
        corpus_size = _count_files(corpus)

    crash = result.crash(args.until)
    if crash is None and result.returncode != 0:
        raise UsageError(f"{display(binary)} stopped with exit status {result.returncode} "
                         f"without a crash: {_last_words(result)}")
    record = to_json(target, args, result, crash, settings, seed_count, corpus_size)
    print_summary(record, result, sys.stdout)
    if args.json:
        try:
            Path(args.json).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        except OSError as e:
            raise UsageError(f"cannot write --json {args.json}: {e.strerror}") from None
    return 1 if crash else 0


# How many decisions past its own a seed's failure sweep reaches (write_failure_sweep).
SWEEP_DECISIONS = 48


def write_failure_sweep(seeds, out):
    """Systematic failure injection as seeds: for each seed of the target, the variants whose
    schedule goes on with i zero bytes and then a 1 (i < SWEEP_DECISIONS), so that the i-th
    decision after the seed's own is answered 1: when it is a failure decision (lgrt/sys.h),
    that call fails its first way. A deep call fails only when every injectable call before
    it was answered 0, which random bytes almost never are (most bytes fail a call, and the
    bound of failures per execution is spent on the first ones); with the sweep each call
    within reach fails in one input, which libFuzzer then mutates (a create, a spawn, a watch
    deep in an execution, whose error paths no committed input reached)."""
    out.mkdir(parents=True, exist_ok=True)
    for seed in sorted(p for p in seeds.iterdir() if p.is_file() and p.suffix != ".json"):
        data = seed.read_bytes()
        if not data:
            continue
        for i in range(SWEEP_DECISIONS):
            (out / f"{seed.name}-{i}").write_bytes(data + bytes(i) + b"\x01")


def fuzz_env(faults, until, sanitizer_env, base=None, inject=0):
    """The run's environment, and the settings it made (to show in the command). `inject` > 0
    turns failure injection on: inject_max=N appended to LIFEGUARD_OPTIONS."""
    env = dict(os.environ if base is None else base)
    for name in ("LIFEGUARD_FAULTS", "LG_FUZZ_UNTIL"):
        env.pop(name, None)
    settings = {}
    if faults:
        settings["LIFEGUARD_FAULTS"] = ",".join(dict.fromkeys(faults))
    extra = []
    if inject:
        extra.append(f"inject_max={inject}")
    if until:
        settings["LG_FUZZ_UNTIL"] = until
        extra.append("halt_on_error=0")
    if extra:
        options = env.get("LIFEGUARD_OPTIONS")
        settings["LIFEGUARD_OPTIONS"] = ":".join(([options] if options else []) + extra)
    for name, value in {"ASAN_OPTIONS": DEFAULT_ASAN_OPTIONS, **sanitizer_env}.items():
        if name == "ASAN_OPTIONS" and name in sanitizer_env:
            value = f"{DEFAULT_ASAN_OPTIONS}:{value}"
        if name not in env:
            settings[name] = value
    env.update(settings)
    return env, settings


def libfuzzer_flags(target, file_flags, options_path, args, artifacts):
    """The -flag=value pairs: the options file's, then the dictionary, then lifeguard's own."""
    flags = {k: v for k, v in file_flags.items() if k not in OWN_FLAGS}
    if "dict" in flags:
        flags["dict"] = str((Path(options_path).parent / flags["dict"]).resolve())
    elif (FUZZ_DIR / f"{target}.dict").is_file():
        flags["dict"] = str(FUZZ_DIR / f"{target}.dict")
    if args.seconds:
        flags["max_total_time"] = args.seconds
    if args.runs:
        flags["runs"] = args.runs
    flags.update(print_final_stats=1,
                 timeout=args.timeout or file_flags.get("timeout") or DEFAULT_TIMEOUT,
                 seed=args.seed, artifact_prefix=f"{artifacts}/")
    return flags


def hang_timeout(args):
    """Seconds after which a run is killed as a hang: twice --seconds and 2 minutes, or
    RUNS_HANG_SECONDS for a run bounded by --runs alone."""
    return args.seconds * 2 + 120 if args.seconds else RUNS_HANG_SECONDS


def asked(args):
    """What the run was asked for, in words: `60 s`, `100,000 runs`, or both."""
    parts = ([f"{args.seconds} s"] if args.seconds else []) + \
        ([f"{args.runs:,} runs"] if args.runs else [])
    return " or ".join(parts) + " asked"


def _count_files(directory):
    return sum(1 for p in Path(directory).rglob("*") if p.is_file())


def _last_words(result):
    """The last non-blank line of the output, without a `lifeguard: error:` prefix."""
    lines = [l.strip() for l in result.tail if l.strip()]
    if not lines:
        return "no output"
    return lines[-1].removeprefix("lifeguard: error: ")


def to_json(target, args, result, crash, settings, seed_count, corpus_size):
    """The result object of `lifeguard fuzz --json`."""
    kind, seconds, report = crash if crash else (None, None, None)
    command = " ".join([*(f"{k}={shlex.quote(v)}" for k, v in settings.items()),
                        *map(shlex.quote, result.argv)])
    return {
        "target": target,
        "fault": settings.get("LIFEGUARD_FAULTS"),
        "until": args.until,
        "seconds": args.seconds,
        "runs": args.runs,
        "seconds_run": round(result.seconds, 3),
        "seed": result.seed,
        "execs": result.execs,
        "exec_per_sec": result.exec_per_sec,
        "crashed": crash is not None,
        "execs_to_first_crash": result.execs if crash else None,
        "seconds_to_first_crash": round(seconds, 3) if crash else None,
        "fault_kind": kind,
        "summary": report.summary if report else None,
        "schedule": report.schedule if report else None,
        "artifact": result.artifact,
        "report": [l for l in report.lines if l.strip()][:REPORT_LINES] if report else [],
        "corpus_size": corpus_size,
        "seed_corpus_size": seed_count,
        "new_units": result.stats.get("new_units_added"),
        "killed": result.killed,
        "exit_status": result.returncode,
        "environment": settings,
        "command": command,
    }


def print_summary(record, result, out):
    """A few lines for people: the verdict, and after a crash its SUMMARY and input."""
    target = record["target"]
    rate = f"{record['exec_per_sec']:,.0f}/s"
    if not record["crashed"]:
        print(f"{target}: no crash in {record['seconds_run']:.1f} s: {record['execs']:,} "
              f"executions ({rate}), corpus {record['seed_corpus_size']} -> "
              f"{record['corpus_size']} inputs", file=out)
        ignored = ", ".join(f"{k} x{n}" for k, n in result.report_counts.items())
        if ignored:
            print(f"  reports that did not stop it: {ignored}", file=out)
        return
    how = " (killed: the run did not end)" if record["killed"] else ""
    execs = record["execs_to_first_crash"]
    print(f"{target}: crashed after {execs:,} execution{'' if execs == 1 else 's'} in "
          f"{record['seconds_to_first_crash']:.2f} s: {record['fault_kind']}{how}", file=out)
    if record["summary"]:
        print(f"  {record['summary']}", file=out)
    if record["artifact"]:
        artifact = display(record["artifact"])
        replay = display(Path(result.argv[0]).with_name(f"{target}_replay"))
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in record["environment"].items()
                       if k.startswith(("LIFEGUARD_", "LG_")))
        print(f"  input:  {artifact}", file=out)
        print(f"  replay: {env + ' ' if env else ''}{replay} {artifact}", file=out)
