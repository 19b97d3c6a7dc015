# SPDX-License-Identifier: MIT
"""`lifeguard bench`: run the benchmark programs, print their figures, record them in the docs."""

import datetime
import json
import os
import platform
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import NamedTuple

from . import bench_compare, docs
from .build import ensure_built, require_built
from .errors import UsageError
from .manifest import _did_you_mean
from .paths import (BENCHMARKS_DOC, CMAKE_PRESETS, DEFAULT_BUILD_ROOT, bench_program_path,
                    display, preset_dir)
from .progress import Progress


class Benchmark(NamedTuple):
    name: str
    program: str  # the program under bench/ that runs it: build/<preset>/bench/<program> NAME
    summary: str


# Every benchmark, in the order they run. A program prints one JSON object per line:
# {"bench", "metric", "value", "unit", "config"}.
BENCHMARKS = (
    Benchmark("fiber_switch", "sched_bench",
              "ns per one-way switch between two fibers ping-ponging through lg__fiber_switch "
              "(4M switches a repetition)"),
    Benchmark("sched_4x25", "sched_bench",
              "controlled executions (lg_sched_execute) of 4 actors x 25 steps, 24 lg_yield() "
              "each, under lg_source_random: exec/s and ns per scheduling point (>= 20k "
              "executions a repetition)"),
    Benchmark("sched_4x25_free", "sched_bench",
              "the same workload free-running (LG_SCHED_FREE: pthreads, lg_yield = sched_yield), "
              "the stress baseline: exec/s, and `ratio` = controlled exec/s / free exec/s "
              "measured in the same process"),
    Benchmark("sched_4x25_mutex", "sched_bench",
              "4 actors x 25 steps contending for one lg_mutex, yielding while they hold it, so "
              "lock calls block: exec/s and ns per scheduling point (the blocking path)"),
    Benchmark("dfs_2x10", "sched_bench",
              "the complete exhaustive search lg_source_dfs(UINT32_MAX) over 2 actors x 10 "
              "steps: seconds, and its execution count (must be C(20,10) = 184756)"),
)
# The detector comparison (bench_compare.py): run once, not per configuration; their rows'
# `config` names the tool (glibc, pageheap, asan, memcheck, efence, fdcheck=1, ...).
COMPARISONS = (
    Benchmark("heap_pair", "heap_bench",
              "the shared heap workload (a ring of 256 live blocks, 24 B-9000 B; malloc, touch, "
              "free) under glibc, lifeguard's page heap (full and pageheap_sample=100), ASan, "
              "valgrind memcheck and Electric Fence (default and EF_PROTECT_FREE=1): ns per "
              "pair, max RSS, both as ratios to glibc"),
    Benchmark("heap_syscalls", "heap_bench",
              "the page heap's mmap/mprotect/munmap/madvise calls per pair (strace -f -c; runs "
              "of 0, 40k and 120k pairs subtracted), and munmap in the steady state"),
    Benchmark("fd_churn", "fd_bench",
              "a descriptor-churn cycle (pipe2, eventfd, open, dup; I/O; close) with fdcheck=0, "
              "fdcheck=1 (quarantine on and off) and without lifeguard: ns per cycle, ratio to "
              "fdcheck=0"),
    Benchmark("control_points", "control_bench",
              "thread control's cost: uncontended mutex lock/unlock pairs and two-thread "
              "hand-offs, natively and with the preload library, explore off and on: ns per "
              "operation, ratio to native"),
    Benchmark("detection", "seeded",
              "the seeded-fault suite (tests/seeded): lifeguard linked and preloaded, ASan "
              "alone, and for the heap faults valgrind memcheck and Electric Fence: what each "
              "reports"),
    Benchmark("verify_runtimes", "runtimes",
              "the runtime suite (tests/runtimes: Rust, Node.js + N-API, CPython + ctypes, "
              "libuv, C stdio): each program's wall time native, under `lifeguard verify` "
              "(default options) and under valgrind memcheck, as ratios, and what verify and "
              "memcheck reported on each fault"),
)
COMPARISON_NAMES = tuple(b.name for b in COMPARISONS)
BENCH_NAMES = tuple(b.name for b in BENCHMARKS) + COMPARISON_NAMES
DEFAULT_CONFIGS = ("asan", "plain")
ROW_KEYS = ("bench", "metric", "value", "unit", "config")
RUN_TIMEOUT = 1200  # seconds for one program's whole run: a hang, not a slow machine
TAIL_LINES = 40


def format_value(value):
    """A figure for people: counts (ints) as they are, others with decimals by magnitude;
    thousands separated."""
    if isinstance(value, int):
        return f"{value:,}"
    magnitude = abs(value)
    decimals = 0 if magnitude >= 1000 else 1 if magnitude >= 100 else 2 if magnitude >= 1 else 3
    return f"{value:,.{decimals}f}"


class Goal(NamedTuple):
    """A target a figure is compared with: lg_sched's performance targets."""
    text: str
    bench: str
    metric: str
    config: str
    op: str  # "<=", "<" or ">="
    target: float
    unit: str

    def met(self, value):
        return {"<=": value <= self.target, "<": value < self.target,
                ">=": value >= self.target}[self.op]

    def target_text(self, ascii_only=False):
        sign = self.op if ascii_only else {"<=": "≤", "<": "<", ">=": "≥"}[self.op]
        return f"{sign} {format_value(self.target)} {self.unit}"


GOALS = (
    Goal("fiber switch", "fiber_switch", "ns_per_switch", "plain", "<=", 15, "ns"),
    Goal("fiber switch", "fiber_switch", "ns_per_switch", "asan", "<=", 50, "ns"),
    Goal("4 x 25 controlled executions", "sched_4x25", "exec_per_sec", "plain", ">=", 100000,
         "exec/s"),
    Goal("2 x 10 exhaustive search", "dfs_2x10", "seconds", "plain", "<", 5, "s"),
    Goal("2 x 10 exhaustive search", "dfs_2x10", "seconds", "asan", "<", 5, "s"),
)

DOC_BEGIN = "<!-- BEGIN lifeguard bench results"
DOC_BEGIN_LINE = (DOC_BEGIN + ": written by `scripts/lifeguard bench --update-docs`; "
                  "edits between these markers are overwritten -->")
DOC_END = "<!-- END lifeguard bench results -->"

NAME = "bench"
SUMMARY = "run the benchmarks; print, save or record their figures"

DESCRIPTION = """\
Run lifeguard's benchmarks under each configuration and print their figures as a table: one
row per (bench, metric), one column per configuration.

benchmarks (default: all of them):
""" + "".join(textwrap.fill(b.summary, 92, initial_indent=f"  {b.name:<16} ",
                            subsequent_indent=" " * 19) + "\n" for b in BENCHMARKS) + """
detector comparison (run once, after the per-configuration benchmarks; the plain tree, and the
asan tree for ASan's figures when asan is among the configurations):
""" + "".join(textwrap.fill(b.summary, 92, initial_indent=f"  {b.name:<16} ",
                            subsequent_indent=" " * 19) + "\n" for b in COMPARISONS) + f"""
valgrind, Electric Fence and strace come from Debian (`scripts/install-deps --bench`, which
`make bench` runs); one that is missing is left out with a note. The comparison takes about
2-3 minutes, mostly Electric Fence and the page heap under strace, plus verify_runtimes: about
6 minutes with one run of each case under each tool (LIFEGUARD_BENCH_QUICK=1), more with the
default three, most of it node and python under verify and memcheck.

Each configuration (default: {' and '.join(DEFAULT_CONFIGS)}) is a CMake preset. The presets are
built first (unless --no-build); then, one configuration after the other, never two at once,
  build/<preset>/bench/<program> NAME ...
runs the selected benchmarks and prints one JSON row per figure. Every figure is the median of
5 timed repetitions after a warm-up, timed on CLOCK_MONOTONIC; a repetition of sched_4x25 lasts
about 0.5 s, of sched_4x25_free about 1 s, and of dfs_2x10 one whole search. The whole default
run takes about 20 seconds plus the build.

Speed is measured, never tested: a figure that misses its goal does not change the exit
status. A benchmark whose workload goes wrong (dfs_2x10 not finding exactly 184756
executions, an execution that deadlocks) fails the run.

goals (from the scheduler's design targets; shown after the table and in the docs):
""" + "".join(f"  {g.text} ({g.config}) {g.target_text(True)}\n" for g in GOALS) + """
--update-docs rewrites the results section of docs/BENCHMARKS.md, the part between its
`<!-- BEGIN lifeguard bench results ... -->` and `<!-- END lifeguard bench results -->`
markers (added at the end when the file has none): the machine (CPU model, cores, kernel,
each configuration's compiler and flags), the date in UTC, the command, the table, the
controlled/free ratios and the goals, each met or not met; and the detector comparison's
section, between `<!-- BEGIN lifeguard bench detectors ... -->` and its END marker. The
hand-written text around the markers is kept. It records only a full run: every benchmark,
under asan and plain at least."""

EPILOG = """\
json output (--json FILE): an array with one object per figure:
  bench, metric, value (a number), unit, config

metrics:
  fiber_switch     ns_per_switch, switches
  sched_4x25       exec_per_sec, us_per_exec, ns_per_point (an execution's time / its 96
                   scheduling points), points_per_exec, executions (per repetition)
  sched_4x25_free  exec_per_sec, us_per_exec, executions (per repetition),
                   ratio (controlled exec/s / free exec/s, unit controlled/free)
  dfs_2x10         seconds, executions, exec_per_sec
  heap_pair        ns_per_pair, max_rss (KiB), time_vs_glibc, rss_vs_glibc; config = detector
                   (glibc, pageheap, pageheap-sample100, asan, memcheck, efence,
                   efence-protect-free)
  heap_syscalls    mmap_per_pair, mprotect_per_pair, munmap_per_pair, madvise_per_pair,
                   syscalls_per_pair, steady_syscalls_per_pair, steady_munmap, pairs
  fd_churn         ns_per_cycle, vs_fdcheck0; config = bare, fdcheck=0, fdcheck=1,
                   fdcheck=1:fd_quarantine=0
  control_points   metric = MODE/ns_per_pair (lock) or MODE/ns_per_handoff (handoff),
                   MODE/vs_native, MODE/cpu_ns_per_... (CPU time, unit cpu_ns) and
                   MODE/cpu_vs_native; config = native, explore=0, explore=1,
                   explore=1:explore_spin=50, explore=1:explore_pin=0
  detection        metric = the fault, value 1 (reported something) or 0 (nothing), with
                   `report`, `clean_twin` and `expected`; config = linked, preloaded, asan,
                   memcheck, efence
  verify_runtimes  metric = CASE/seconds (config native, verify, memcheck; median of the
                   runs), CASE/vs_native (verify, memcheck), CASE/vs_memcheck (verify),
                   CASE/detected (verify, memcheck: 1 or 0, with `report` and `expected`);
                   the same for CASE = total (seconds summed over the cases every tool ran)

exit status: 0 every benchmark ran; 1 a benchmark or a build failed; 2 bad input (an unknown
benchmark or config, a missing build tree with --no-build): one line, nothing run.

examples:
  make bench                                  build, run everything, refresh docs/BENCHMARKS.md
  scripts/lifeguard bench
  scripts/lifeguard bench fiber_switch --config plain --no-build
  scripts/lifeguard bench dfs_2x10 --json bench.json"""


def add_arguments(parser):
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"benchmarks to run ({', '.join(BENCH_NAMES)}; default: all)")
    parser.add_argument("--config", dest="configs", action="append", default=[],
                        metavar="NAME",
                        help="run under the configuration (CMake preset) NAME; repeatable "
                             f"(default: {', '.join(DEFAULT_CONFIGS)})")
    files = parser.add_argument_group("files")
    files.add_argument("--json", metavar="FILE", help="also write the rows as JSON to FILE")
    files.add_argument("--update-docs", action="store_true",
                       help="rewrite the results section of docs/BENCHMARKS.md (a full run "
                            "only: no NAME, configs asan and plain at least)")
    files.add_argument("--docs", type=Path, default=BENCHMARKS_DOC, metavar="FILE",
                       help=f"the file --update-docs rewrites (default {display(BENCHMARKS_DOC)})")
    files.add_argument("--no-build", action="store_true",
                       help="do not configure or build; use the binaries as they are")
    files.add_argument("--build-dir", type=Path, default=DEFAULT_BUILD_ROOT, metavar="DIR",
                       help="root of the build trees; programs are at "
                            "DIR/<preset>/bench/<program> (default build/)")


def run(args):
    """Entry point of `lifeguard bench`."""
    args.build_dir = args.build_dir.resolve()
    names = select_benchmarks(args.names)
    configs = select_configs(args.configs)
    if args.update_docs:
        if args.names or not set(DEFAULT_CONFIGS) <= set(configs):
            raise UsageError("--update-docs records a full run only: every benchmark under "
                             f"{' and '.join(DEFAULT_CONFIGS)} (drop the benchmark names and "
                             "--config)")
        read_docs(args.docs)  # a file that cannot be updated is refused before the long run
        docs.read(args.docs, bench_compare.DOC_BEGIN, bench_compare.DOC_END)
    if args.json and not Path(args.json).resolve().parent.is_dir():
        raise UsageError(f"--json {args.json}: its directory does not exist")
    if not args.no_build:
        ensure_built(configs, args.build_dir)
    programs = _programs(names)
    _check_binaries(programs, configs, args.build_dir, args.no_build)
    comparisons = [n for n in names if n in COMPARISON_NAMES]
    if comparisons and "plain" not in configs and not args.names:
        print("lifeguard: the detector comparison is left out: it needs the plain "
              "configuration", file=sys.stderr)
        comparisons = []
    if comparisons:
        if "plain" not in configs:
            raise UsageError(f"{', '.join(comparisons)}: the detector comparison needs the plain "
                             "configuration (add --config plain)")
        for config in ("plain", "asan"):
            if config in configs:
                for program in ("heap_bench", "heap_bench_bare", "fd_bench", "fd_bench_bare"):
                    if config == "plain" or program.startswith("heap_bench"):
                        require_built(bench_program_path(args.build_dir, config, program),
                                      config, args.build_dir, args.no_build)

    rows = []
    compared = []
    with Progress("bench") as progress:  # `still running: ...` through a long benchmark
        for config in configs:
            for program, selected in programs.items():
                binary = bench_program_path(args.build_dir, config, program)
                print(f"lifeguard: running {display(binary)} {' '.join(selected)}",
                      file=sys.stderr, flush=True)
                progress.start(f"{display(binary)} {' '.join(selected)}")
                result = run_program(binary, selected)
                if isinstance(result, str):  # what went wrong, already explained on stderr
                    print(f"lifeguard: error: {result}", file=sys.stderr)
                    return 1
                rows.extend(result)
        if comparisons:
            progress.start(f"the detector comparison ({', '.join(comparisons)})")
            try:
                compared = bench_compare.run(comparisons, args.build_dir, configs)
            except bench_compare.CompareError as e:
                print(f"lifeguard: error: {e}", file=sys.stderr)
                return 1

    if rows:
        print_table(rows, sys.stdout)
        print_goals(rows, sys.stdout)
    bench_compare.print_tables(compared, sys.stdout)
    if args.json:
        _write_json(args.json, rows + compared)
    if args.update_docs:
        when = datetime.datetime.now(datetime.timezone.utc)
        section = results_section(rows, machine(configs, args.build_dir), command_line(args),
                                  when)
        write_docs(args.docs, section)
        docs.write_section(args.docs, bench_compare.docs_section(
            compared, command_line(args), when, bench_compare.missing_tools()),
            bench_compare.DOC_BEGIN, bench_compare.DOC_END)
        print(f"lifeguard: wrote the results and detector sections of {display(args.docs)}",
              file=sys.stderr)
    return 0


# ---- selection ------------------------------------------------------------------------

def select_benchmarks(names):
    """The benchmark names to run, in BENCHMARKS order; UsageError for an unknown one."""
    for name in names:
        if name not in BENCH_NAMES:
            raise UsageError(f"unknown benchmark {name!r} (benchmarks: {', '.join(BENCH_NAMES)})"
                             + _did_you_mean(name, BENCH_NAMES))
    return [n for n in BENCH_NAMES if not names or n in names]


def select_configs(configs):
    """The configurations to run, each once, in the order given (default DEFAULT_CONFIGS);
    UsageError for a name that is not a configure preset of CMakePresets.json."""
    known = preset_names()
    for name in configs:
        if name not in known:
            raise UsageError(f"unknown config {name!r} (configs: {', '.join(known)})"
                             + _did_you_mean(name, known))
    return list(dict.fromkeys(configs or DEFAULT_CONFIGS))


def preset_names(path=CMAKE_PRESETS):
    """The visible configure presets of CMakePresets.json."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return [p["name"] for p in data.get("configurePresets", []) if not p.get("hidden")]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise UsageError(f"cannot read the presets in {display(path)}: {e}") from None


def _programs(names):
    """{program: [the selected benchmarks it runs]}, in BENCHMARKS order (the comparisons
    are not among them: bench_compare runs those)."""
    programs = {}
    for bench in BENCHMARKS:
        if bench.name in names:
            programs.setdefault(bench.program, []).append(bench.name)
    return programs


def _check_binaries(programs, configs, build_root, no_build):
    """UsageError naming the first benchmark program that is not there."""
    for config in configs:
        for program in programs:
            require_built(bench_program_path(build_root, config, program), config, build_root,
                          no_build)


# ---- running --------------------------------------------------------------------------

def run_program(binary, names):
    """Runs one benchmark program; returns its rows, or a message saying what went wrong
    (after printing the tail of its output on stderr)."""
    try:
        proc = subprocess.run([str(binary), *names], stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, errors="replace",
                              timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        return f"{display(binary)} did not finish in {RUN_TIMEOUT} s"
    except OSError as e:
        return f"cannot run {display(binary)}: {e.strerror}"
    if proc.returncode != 0:
        _print_tail(proc.stdout + proc.stderr)
        how = (f"was killed by signal {-proc.returncode}" if proc.returncode < 0
               else f"exited with status {proc.returncode}")
        return f"{display(binary)} {' '.join(names)} {how}"
    rows = []
    for line in proc.stdout.splitlines():
        if not line.strip():
            continue
        row = parse_row(line)
        if row is None:
            _print_tail(proc.stdout + proc.stderr)
            return f"{display(binary)} printed a line that is not a benchmark row: {line[:120]}"
        rows.append(row)
    missing = [n for n in names if not any(r["bench"] == n for r in rows)]
    if missing:
        _print_tail(proc.stdout + proc.stderr)
        return f"{display(binary)} printed no figures for {', '.join(missing)}"
    return rows


def parse_row(line):
    """One JSON row with every key of ROW_KEYS and a numeric value, or None."""
    try:
        row = json.loads(line)
    except ValueError:
        return None
    if not isinstance(row, dict) or not all(k in row for k in ROW_KEYS):
        return None
    if isinstance(row["value"], bool) or not isinstance(row["value"], (int, float)):
        return None
    return row


def _print_tail(output):
    lines = output.splitlines()
    if lines:
        print("\n".join(lines[-TAIL_LINES:]), file=sys.stderr)


def _write_json(path, rows):
    try:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=2)
            f.write("\n")
    except OSError as e:
        raise UsageError(f"cannot write --json {path}: {e.strerror}") from None


# ---- tables ---------------------------------------------------------------------------

def pivot(rows):
    """(configs in order of appearance, [(bench, metric, unit, {config: value})])."""
    configs = list(dict.fromkeys(r["config"] for r in rows))
    order = {name: i for i, name in enumerate(BENCH_NAMES)}
    table = {}
    for r in rows:
        key = (r["bench"], r["metric"])
        entry = table.setdefault(key, (r["bench"], r["metric"], r["unit"], {}))
        entry[3][r["config"]] = r["value"]
    entries = sorted(table.values(), key=lambda e: order.get(e[0], len(order)))
    return configs, entries


def find_value(rows, bench, metric, config):
    for r in rows:
        if (r["bench"], r["metric"], r["config"]) == (bench, metric, config):
            return r["value"]
    return None


def print_table(rows, out):
    configs, entries = pivot(rows)
    header = ("bench", "metric", "unit", *configs)
    cells = [header] + [(b, m, u, *(format_value(v[c]) if c in v else "-" for c in configs))
                        for b, m, u, v in entries]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(values):
        parts = [v.ljust(w) if i < 3 else v.rjust(w)
                 for i, (v, w) in enumerate(zip(values, widths))]
        return "  ".join(parts).rstrip()

    print(line(header), file=out)
    print(line(["-" * w for w in widths]), file=out)
    for row in cells[1:]:
        print(line(row), file=out)
    print(f"{len(rows)} figures, {len(configs)} config{'s' if len(configs) != 1 else ''}",
          file=out)


def goal_results(rows):
    """[(goal, value, met)] for the goals whose figure was measured."""
    results = []
    for goal in GOALS:
        value = find_value(rows, goal.bench, goal.metric, goal.config)
        if value is not None:
            results.append((goal, value, goal.met(value)))
    return results


def print_goals(rows, out):
    results = goal_results(rows)
    if not results:
        return
    print("goals (measured, not enforced):", file=out)
    for goal, value, met in results:
        print(f"  {'met    ' if met else 'NOT MET'}  {goal.text} ({goal.config}) "
              f"{goal.target_text(True)}: {format_value(value)} {goal.unit}", file=out)


# ---- the docs -------------------------------------------------------------------------

def machine(configs, build_root):
    """What the figures were measured on: CPU, cores, kernel, each config's compiler."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name") and ":" in line:
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = os.cpu_count() or 0
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = cores
    uname = platform.uname()
    info = {
        "CPU": cpu,
        "cores": f"{cores} online" + (f", {usable} usable by this run" if usable != cores else ""),
        "kernel": f"{uname.system} {uname.release} ({uname.machine})",
    }
    for config in configs:
        info[f"compiler ({config})"] = _compiler(preset_dir(build_root, config))
    return info


def _compiler(tree):
    """`<compiler --version, first line>; <build type> <flags>` from a build tree's cache."""
    cache = {}
    try:
        for line in (tree / "CMakeCache.txt").read_text(encoding="utf-8").splitlines():
            if "=" in line and ":" in line.split("=", 1)[0] and not line.startswith(("#", "//")):
                key, value = line.split("=", 1)
                cache[key.split(":", 1)[0]] = value
    except OSError:
        return "unknown (no CMakeCache.txt)"
    compiler = cache.get("CMAKE_C_COMPILER", "cc")
    try:
        proc = subprocess.run([compiler, "--version"], capture_output=True, text=True,
                              timeout=30, stdin=subprocess.DEVNULL)
        version = (proc.stdout.splitlines() or [compiler])[0].strip()
    except (OSError, subprocess.TimeoutExpired):
        version = compiler
    build_type = cache.get("CMAKE_BUILD_TYPE", "")
    flags = " ".join(f for f in (cache.get("CMAKE_C_FLAGS", ""),
                                 cache.get(f"CMAKE_C_FLAGS_{build_type.upper()}", "")) if f)
    return f"{version}; {build_type} `{flags}`" if flags else f"{version}; {build_type}"


def command_line(args):
    """The command that produced the figures, as typed (run from `make bench` when MAKELEVEL
    is set, which make exports to its recipes)."""
    words = ["scripts/lifeguard", "bench", *args.names]
    for config in args.configs:
        words += ["--config", config]
    if args.json:
        words += ["--json", str(args.json)]
    if args.docs.resolve() != BENCHMARKS_DOC.resolve():
        words += ["--docs", display(args.docs)]
    if args.no_build:
        words.append("--no-build")
    if args.build_dir != DEFAULT_BUILD_ROOT.resolve():
        words += ["--build-dir", display(args.build_dir)]
    words.append("--update-docs")
    command = f"`{' '.join(words)}`"
    if os.environ.get("MAKELEVEL") and words[2:] == ["--update-docs"]:
        command = f"`make bench`, which runs {command}"
    return command


def results_section(rows, machine_info, command, when):
    """The generated part of docs/BENCHMARKS.md, markers included."""
    configs, entries = pivot(rows)
    out = [DOC_BEGIN_LINE, "", "## Results", ""]
    out.append(f"Measured {when.strftime('%Y-%m-%d %H:%M')} UTC with {command}.")
    out += ["", "| machine | |", "|---|---|"]
    out += [f"| {key} | {value} |" for key, value in machine_info.items()]

    out += ["", "### Figures", "",
            "Each figure is the median of the timed repetitions (see above).", "",
            "| bench | metric | " + " | ".join(configs) + " | unit |",
            "|---|---|" + "---:|" * len(configs) + "---|"]
    for bench, metric, unit, values in entries:
        cells = [format_value(values[c]) if c in values else "–" for c in configs]
        out.append(f"| {bench} | {metric} | " + " | ".join(cells) + f" | {unit} |")

    ratios = [(c, find_value(rows, "sched_4x25", "exec_per_sec", c),
               find_value(rows, "sched_4x25_free", "exec_per_sec", c),
               find_value(rows, "sched_4x25_free", "ratio", c)) for c in configs]
    ratios = [r for r in ratios if r[3] is not None]
    if ratios:
        out += ["", "### Controlled against free-running", "",
                "The same 4 × 25 workload, in the same process: controlled on fibers, and "
                "free on pthreads with the OS scheduling (the stress baseline).", "",
                "| config | controlled exec/s | free exec/s | controlled / free |",
                "|---|---:|---:|---:|"]
        for config, controlled, free, ratio in ratios:
            out.append(f"| {config} | {format_value(controlled) if controlled else '–'} | "
                       f"{format_value(free) if free else '–'} | {format_value(ratio)} × |")

    out += ["", "### Goals", "",
            "lg_sched's performance targets. Measured, never enforced by a test.", "",
            "| goal | config | target | measured | |", "|---|---|---|---:|---|"]
    for goal in GOALS:
        value = find_value(rows, goal.bench, goal.metric, goal.config)
        measured = f"{format_value(value)} {goal.unit}" if value is not None else "not measured"
        verdict = "–" if value is None else "met" if goal.met(value) else "**not met**"
        out.append(f"| {goal.text.replace(' x ', ' × ')} | {goal.config} | {goal.target_text()} | {measured} | "
                   f"{verdict} |")
    out += ["", DOC_END]
    return "\n".join(out) + "\n"


def read_docs(path):
    """The docs file's text, or UsageError when its bench markers are broken."""
    return docs.read(path, DOC_BEGIN, DOC_END)


def write_docs(path, section):
    """Records `section` (the bench results) in the docs file at `path`."""
    docs.write_section(path, section, DOC_BEGIN, DOC_END, "# Benchmarks\n\n")
