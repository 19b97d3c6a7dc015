# SPDX-License-Identifier: MIT
"""`lifeguard bench`'s detector comparison: lifeguard's page heap and fd checks against glibc,
AddressSanitizer, valgrind memcheck and Electric Fence, on shared workloads, in one run.

Five benchmarks (bench.COMPARISONS), each a function returning rows of the usual shape
{bench, metric, value, unit, config}; `config` names the tool (glibc, pageheap, ...):
  heap_pair      bench/heap_bench under each heap detector: ns per malloc/free pair, max RSS
  heap_syscalls  bench/heap_bench (page heap) under strace -c: system calls per pair
  fd_churn       bench/fd_bench with fdcheck off and on: ns per descriptor cycle
  control_points bench/control_bench natively and preloaded with explore off and on: ns per
                 lock/unlock pair and per thread hand-off
  detection      tests/seeded (heap faults) under memcheck and Electric Fence, beside
                 lifeguard linked, preloaded and ASan alone: what each reports
  verify_runtimes  tests/runtimes (Rust, Node.js, CPython, libuv, C stdio programs) native,
                 under `lifeguard verify` and under memcheck: seconds, ratios, detection
A tool that is not installed (valgrind, electric-fence, strace: `scripts/install-deps --bench`)
is left out with a note; nothing here fails because one is missing.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .paths import REPO_ROOT, bench_program_path, display, preset_dir

EFENCE = Path("/usr/lib/libefence.so")
RUN_TIMEOUT = 600  # one program's run: a hang, not a slow machine

# The shared heap workload: a ring of 256 live blocks of 24 B to 9000 B; 40,000 warm-up pairs
# (past the page heap's quarantine filling up), then 7 timed repetitions of 25,000 pairs.
HEAP_ARGS = ("--ring", "256", "--warmup", "40000", "--pairs", "25000", "--reps", "7")
# (config, how it runs heap_bench): tree, program, environment, command prefix.
HEAP_TOOLS = (
    ("glibc", "plain", "heap_bench_bare", {}, ()),
    ("pageheap", "plain", "heap_bench", {"LIFEGUARD_OPTIONS": ""}, ()),
    ("pageheap-sample100", "plain", "heap_bench",
     {"LIFEGUARD_OPTIONS": "pageheap_sample=100"}, ()),
    ("asan", "asan", "heap_bench_bare", {"ASAN_OPTIONS": "detect_leaks=0"}, ()),
    ("memcheck", "plain", "heap_bench_bare", {}, ("valgrind", "-q", "--tool=memcheck")),
    ("efence", "plain", "heap_bench_bare", {"LD_PRELOAD": str(EFENCE)}, ()),
    ("efence-protect-free", "plain", "heap_bench_bare",
     {"LD_PRELOAD": str(EFENCE), "EF_PROTECT_FREE": "1"}, ()),
)
HEAP_CONFIGS = tuple(t[0] for t in HEAP_TOOLS)

# System calls: strace -f -c over three runs without warm-up: 0 pairs (the ring filled and
# freed), SYSCALL_PAIRS[0] and SYSCALL_PAIRS[1] pairs. Per pair = the difference / the pairs;
# "steady" is between the two non-zero runs, after the quarantine has filled.
SYSCALL_PAIRS = (40000, 120000)
TRACED = ("mmap", "mprotect", "munmap", "madvise")

# fd churn: each setting runs FD_ROUNDS times, the settings interleaved round by round (a
# round: one run of each, about 0.2 s apiece), each run the median of 5 repetitions. The
# figure is the median over the rounds; the ratio is the median of the rounds' ratios (each
# taken within one round, so a slow stretch of the shared machine hits both sides).
FD_ARGS = ("--warmup", "1000", "--cycles", "2000", "--reps", "5")
FD_ROUNDS = 21
# System calls per cycle, which do not depend on the machine's noise: strace -f -c of runs of
# 1 and 1 + FD_SYSCALL_CYCLES cycles (no warm-up, one repetition), subtracted.
FD_SYSCALL_CYCLES = 2000
FD_SETTINGS = (
    ("bare", "fd_bench_bare", None),
    ("fdcheck=0", "fd_bench", "fdcheck=0"),
    ("fdcheck=1", "fd_bench", "fdcheck=1"),
    ("fdcheck=1:fd_quarantine=0", "fd_bench", "fdcheck=1:fd_quarantine=0"),
)

# Thread control: control_bench (a plain pthread program) natively, with the preload library
# and explore off (each interceptor checks one flag), and with explore on (each call is a
# scheduling point; one actor for `lock`, two handing the baton for `handoff`), its threads on
# one CPU (explore_pin=1, the default), on two with the thread that passed the baton spinning
# for it (explore_spin=50) and not pinned (explore_pin=0). Interleaved rounds as fd_churn's;
# each run gives its wall-clock time and its CPU time per operation (cpu_ns_per_...: what the
# work costs whatever else the shared machine runs). explore_steps is raised past the points a run
# makes (its default would end `lock` as a livelock).
CONTROL_MODES = (("lock", "ns_per_pair", ("--ops", "2000000", "--reps", "5")),
                 ("handoff", "ns_per_handoff", ("--ops", "4000", "--reps", "5")),
                 ("futex", "ns_per_handoff", ("--ops", "4000", "--reps", "5")))
CONTROL_SETTINGS = (("native", None),
                    ("explore=0", "explore=0"),
                    ("explore=1", "explore=1:explore_strategy=random:explore_seed=1:"
                                  "explore_steps=100000000"),
                    ("explore=1:explore_spin=50", "explore=1:explore_strategy=random:"
                                                  "explore_seed=1:explore_steps=100000000:"
                                                  "explore_spin=50"),
                    ("explore=1:explore_pin=0", "explore=1:explore_strategy=random:"
                                                "explore_seed=1:explore_steps=100000000:"
                                                "explore_pin=0"))
CONTROL_ROUNDS = 11


class CompareError(Exception):
    """A workload that went wrong (not a missing tool): the bench run fails."""


def missing_tools():
    """{tool: why it cannot run} for the outside tools that are not installed."""
    missing = {}
    if not shutil.which("valgrind"):
        missing["memcheck"] = "valgrind is not installed"
    if not EFENCE.is_file():
        missing["efence"] = missing["efence-protect-free"] = f"{EFENCE} is not installed"
    if not shutil.which("strace"):
        missing["strace"] = "strace is not installed"
    return missing


def _env(extra):
    env = dict(os.environ)
    for name in ("LD_PRELOAD", "LIFEGUARD_OPTIONS", "LIFEGUARD_FAULTS", "ASAN_OPTIONS",
                 "EF_PROTECT_FREE", "EF_ALIGNMENT"):
        env.pop(name, None)
    env.update({k: v for k, v in extra.items() if v != ""})
    return env


def run_measured(argv, env):
    """Runs argv; returns (stdout, ru_maxrss in KiB from wait4: it includes the peak of the
    forked driver before exec, so heap_bench reports its own VmHWM instead). CompareError when
    it fails."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    env=env)
        except OSError as e:
            raise CompareError(f"cannot run {argv[0]}: {e.strerror}") from None
        try:
            _, status, usage = _wait4(proc, RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise CompareError(f"{' '.join(argv)} did not finish in {RUN_TIMEOUT} s") from None
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        tail = "\n".join((stdout + stderr).splitlines()[-20:])
        raise CompareError(f"{' '.join(map(str, argv))} exited with {code}:\n{tail}")
    return stdout, usage.ru_maxrss


def _wait4(proc, timeout):
    """os.wait4 on the child, with a timeout (polling)."""
    import time
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return pid, status, usage
        if time.monotonic() > deadline:
            raise subprocess.TimeoutExpired(proc.args, timeout)
        time.sleep(0.01)


def _last_json(stdout, key, argv):
    for line in reversed(stdout.splitlines()):
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict) and isinstance(obj.get(key), (int, float)):
            return obj
    raise CompareError(f"{' '.join(map(str, argv))} printed no {key}: {stdout[-300:]!r}")


def _row(bench, metric, value, unit, config, **extra):
    return {"bench": bench, "metric": metric, "value": value, "unit": unit, "config": config,
            **extra}


def _note(text):
    print(f"lifeguard: {text}", file=sys.stderr, flush=True)


# LIFEGUARD_BENCH_QUICK=1 (the driver's tests): the same programs and rows, tiny workloads.
if os.environ.get("LIFEGUARD_BENCH_QUICK") == "1":
    HEAP_ARGS = ("--ring", "64", "--warmup", "200", "--pairs", "300", "--reps", "3")
    SYSCALL_PAIRS = (200, 600)
    FD_ARGS = ("--warmup", "20", "--cycles", "100", "--reps", "3")
    FD_ROUNDS = 2
    FD_SYSCALL_CYCLES = 50
    CONTROL_MODES = (("lock", "ns_per_pair", ("--ops", "2000", "--reps", "3")),
                     ("handoff", "ns_per_handoff", ("--ops", "200", "--reps", "3")),
                     ("futex", "ns_per_handoff", ("--ops", "200", "--reps", "3")))
    CONTROL_ROUNDS = 2


# ---- heap_pair -----------------------------------------------------------------------------

def heap_pair(build_root, trees):
    """ns per pair and max RSS of the shared workload under every heap detector, and the
    ratios against glibc measured in the same run."""
    missing = missing_tools()
    rows, measured = [], {}
    for config, tree, program, env, prefix in HEAP_TOOLS:
        if tree not in trees:
            _note(f"heap_pair: {config} left out (the {tree} tree is not in this run)")
            continue
        if config in missing:
            _note(f"heap_pair: {config} left out ({missing[config]}; "
                  "scripts/install-deps --bench installs it)")
            continue
        argv = [*prefix, str(bench_program_path(build_root, tree, program)), *HEAP_ARGS]
        shown = [f"{k}={v}" for k, v in env.items() if v] + [display(a) for a in argv]
        _note(f"running {config}: {' '.join(shown)}")
        stdout, _ = run_measured(argv, _env(env))
        result = _last_json(stdout, "ns_per_pair", argv)
        ns, rss = result["ns_per_pair"], result.get("max_rss_kib", -1)
        if not isinstance(rss, int) or rss <= 0:
            raise CompareError(f"{' '.join(argv)}: no max_rss_kib (is /proc mounted?)")
        measured[config] = (ns, rss)
        rows += [_row("heap_pair", "ns_per_pair", ns, "ns", config),
                 _row("heap_pair", "max_rss", rss, "KiB", config)]
    base = measured.get("glibc")
    if base:
        for config, (ns, rss) in measured.items():
            rows += [_row("heap_pair", "time_vs_glibc", ns / base[0], "x", config),
                     _row("heap_pair", "rss_vs_glibc", rss / base[1], "x", config)]
    return rows


# ---- heap_syscalls -------------------------------------------------------------------------

_STRACE_LINE = re.compile(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:(\d+)\s+)?(\w+)\s*$")


def parse_strace_summary(text):
    """{syscall: calls} from `strace -c` output."""
    counts = {}
    for line in text.splitlines():
        m = _STRACE_LINE.match(line)
        if m and m.group(3) != "total":
            counts[m.group(3)] = int(m.group(1))
    return counts


def _strace_counts(build_root, pairs):
    binary = bench_program_path(build_root, "plain", "heap_bench")
    with tempfile.TemporaryDirectory(prefix="lifeguard-strace-") as tmp:
        log = Path(tmp) / "strace.txt"
        argv = ["strace", "-f", "-c", "-e", f"trace={','.join(TRACED)}", "-o", str(log),
                str(binary), "--pairs", str(pairs), "--reps", "1", "--warmup", "0"]
        run_measured(argv, _env({}))
        return parse_strace_summary(log.read_text(encoding="utf-8", errors="replace"))


def heap_syscalls(build_root, trees):
    """The page heap's mmap/mprotect/munmap/madvise calls per pair (full mode, defaults)."""
    if "strace" in missing_tools():
        _note("heap_syscalls left out (strace is not installed; scripts/install-deps --bench)")
        return []
    _note(f"running strace -f -c on heap_bench --pairs 0, {SYSCALL_PAIRS[0]} and "
          f"{SYSCALL_PAIRS[1]} (page heap)")
    zero, first, second = (_strace_counts(build_root, n) for n in (0, *SYSCALL_PAIRS))
    rows = []
    for name in TRACED:
        per_pair = (second.get(name, 0) - zero.get(name, 0)) / SYSCALL_PAIRS[1]
        rows.append(_row("heap_syscalls", f"{name}_per_pair", per_pair, "calls", "pageheap"))
    total = sum(second.get(n, 0) - zero.get(n, 0) for n in TRACED) / SYSCALL_PAIRS[1]
    steady = sum(second.get(n, 0) - first.get(n, 0) for n in TRACED) / (SYSCALL_PAIRS[1]
                                                                      - SYSCALL_PAIRS[0])
    rows += [
        _row("heap_syscalls", "syscalls_per_pair", total, "calls", "pageheap"),
        _row("heap_syscalls", "steady_syscalls_per_pair", steady, "calls", "pageheap"),
        _row("heap_syscalls", "steady_munmap", second.get("munmap", 0) - first.get("munmap", 0),
             "calls", "pageheap"),
        _row("heap_syscalls", "pairs", SYSCALL_PAIRS[1], "pairs", "pageheap"),
    ]
    return rows


# ---- fd_churn ------------------------------------------------------------------------------

def fd_churn(build_root, trees):
    """ns per descriptor cycle with fdcheck off and on (quarantine on and off), interleaved."""
    samples = {name: [] for name, _, _ in FD_SETTINGS}
    _note(f"running fd_bench {' '.join(FD_ARGS)}: {', '.join(samples)} x {FD_ROUNDS} rounds, "
          "interleaved")
    for _ in range(FD_ROUNDS):
        for name, program, options in FD_SETTINGS:
            argv = [str(bench_program_path(build_root, "plain", program)), *FD_ARGS]
            env = _env({"LIFEGUARD_OPTIONS": options} if options else {})
            stdout, _ = run_measured(argv, env)
            samples[name].append(_last_json(stdout, "ns_per_cycle", argv)["ns_per_cycle"])
    medians = {name: _median(v) for name, v in samples.items()}
    rows = [_row("fd_churn", "ns_per_cycle", medians[name], "ns", name) for name in medians]
    base = samples["fdcheck=0"]
    rows += [_row("fd_churn", "vs_fdcheck0", _median([x / b for x, b in zip(v, base)]), "x", name)
             for name, v in samples.items()]
    rows.append(_row("fd_churn", "rounds", FD_ROUNDS, "rounds", "fdcheck=1"))
    if "strace" in missing_tools():
        _note("fd_churn: system calls per cycle left out (strace is not installed)")
        return rows
    calls = {}
    for name, program, options in FD_SETTINGS:
        zero, many = (sum(_fd_strace_counts(build_root, program, options, n).values())
                      for n in (1, 1 + FD_SYSCALL_CYCLES))
        calls[name] = (many - zero) / FD_SYSCALL_CYCLES
        rows.append(_row("fd_churn", "syscalls_per_cycle", calls[name], "calls", name))
    rows += [_row("fd_churn", "syscalls_vs_fdcheck0", calls[name] / calls["fdcheck=0"], "x", name)
             for name in calls]
    return rows


def _fd_strace_counts(build_root, program, options, cycles):
    """{syscall: calls} of one fd_bench run of `cycles` cycles under strace -f -c."""
    binary = bench_program_path(build_root, "plain", program)
    with tempfile.TemporaryDirectory(prefix="lifeguard-strace-") as tmp:
        log = Path(tmp) / "strace.txt"
        argv = ["strace", "-f", "-c", "-o", str(log), str(binary), "--warmup", "0",
                "--cycles", str(cycles), "--reps", "1"]
        run_measured(argv, _env({"LIFEGUARD_OPTIONS": options} if options else {}))
        return parse_strace_summary(log.read_text(encoding="utf-8", errors="replace"))


# ---- control_points ------------------------------------------------------------------------

def _preload_path(build_root):
    lib = preset_dir(build_root, "plain") / "harness" / "liblifeguard-preload.so"
    if not lib.is_file():
        raise CompareError(f"{lib} is not built")
    return lib


def control_points(build_root, trees):
    """ns per mutex lock/unlock pair and per thread hand-off, natively and preloaded with
    explore off and on; ratios to native taken within each round."""
    binary = bench_program_path(build_root, "plain", "control_bench")
    preload = str(_preload_path(build_root))
    rows = []
    for mode, metric, args in CONTROL_MODES:
        samples = {name: [] for name, _ in CONTROL_SETTINGS}
        cpu = {name: [] for name, _ in CONTROL_SETTINGS}
        _note(f"running control_bench {mode} {' '.join(args)}: {', '.join(samples)} x "
              f"{CONTROL_ROUNDS} rounds, interleaved")
        argv = [str(binary), mode, *args]
        for _ in range(CONTROL_ROUNDS):
            for name, options in CONTROL_SETTINGS:
                env = _env({} if options is None else
                           {"LD_PRELOAD": preload, "LIFEGUARD_OPTIONS": options})
                stdout, _ = run_measured(argv, env)
                got = _last_json(stdout, metric, argv)
                samples[name].append(got[metric])
                cpu[name].append(got.get(f"cpu_{metric}", 0.0))
        base = samples["native"]
        cpu_base = cpu["native"]
        for name, values in samples.items():
            rows.append(_row("control_points", f"{mode}/{metric}", _median(values), "ns", name))
            rows.append(_row("control_points", f"{mode}/vs_native",
                             _median([x / b for x, b in zip(values, base)]), "x", name))
            rows.append(_row("control_points", f"{mode}/cpu_{metric}", _median(cpu[name]),
                             "cpu_ns", name))
            rows.append(_row("control_points", f"{mode}/cpu_vs_native",
                             _median([x / b if b else 0.0 for x, b in zip(cpu[name], cpu_base)]),
                             "x", name))
    rows.append(_row("control_points", "rounds", CONTROL_ROUNDS, "rounds", "native"))
    return rows


def _median(values):
    values = sorted(values)
    return values[len(values) // 2]


# ---- detection -----------------------------------------------------------------------------

DETECTION_MODES = ("linked", "preloaded", "asan", "memcheck", "efence")


def _seeded():
    path = str(REPO_ROOT / "tests" / "seeded")
    if path not in sys.path:
        sys.path.insert(0, path)
    import seeded  # noqa: E402  (tests/seeded/seeded.py: the suite and how a case runs)
    return seeded


def detection(build_root, trees):
    """What each detector reports on each seeded fault, and whether its clean twin is clean:
    one row per (fault, detector), value 1 when the fault run reported anything, 0 when it
    showed nothing; `report` and `clean_twin` say what, in words. memcheck and Electric Fence
    run the heap faults only."""
    seeded = _seeded()
    modes = [m for m in seeded.MODES if m != "asan" or "asan" in trees]
    _note(f"running the seeded suite: {', '.join(modes)}, and the heap faults under "
          f"{' and '.join(seeded.OTHER_MODES)}")
    table = seeded.build_table(build_root, modes=tuple(modes))
    others = seeded.build_other_table(build_root)
    rows = []
    for entry in table:
        cells = {m: entry.get(m) for m in modes}
        cells.update(others.get(entry["fault"], {}))
        for mode, cell in cells.items():
            if cell is None:
                rows.append(_row("detection", entry["fault"], 0, "reported", mode,
                                 report="not built", clean_twin="-"))
            elif isinstance(cell, str):  # the tool is missing
                rows.append(_row("detection", entry["fault"], 0, "reported", mode,
                                 report=f"not run: {cell}", clean_twin="-"))
            else:
                report = cell["fault"]
                if cell.get("frames_ok") is False:
                    report += " (wrong stacks)"
                rows.append(_row("detection", entry["fault"], int(cell["fault"] != "nothing"),
                                 "reported", mode, report=report, clean_twin=cell["clean_twin"],
                                 expected=entry["expected"]))
    return rows


# ---- verify_runtimes ------------------------------------------------------------------------

# Native and verify runs of each case: the median of RUNTIME_REPS (memcheck: one run, minutes
# for node). LIFEGUARD_BENCH_RUNTIMES=id,id runs only those cases (the driver's test).
RUNTIME_REPS = 1 if os.environ.get("LIFEGUARD_BENCH_QUICK") == "1" else 3
MEMCHECK_TIMEOUT = 900.0


def _runtimes():
    path = str(REPO_ROOT / "tests" / "runtimes")
    if path not in sys.path:
        sys.path.insert(0, path)
    import runtimes  # noqa: E402  (tests/runtimes/runtimes.py: the suite and how a case runs)
    return runtimes


def _memcheck_report(outcome):
    """What memcheck said about a run: its first error in words, a signal, or nothing."""
    cell = _seeded().memcheck_cell(outcome.stderr)
    if cell:
        return cell, 1
    if outcome.timed_out:
        return "hang", 0
    if outcome.returncode < 0:
        return f"killed by signal {-outcome.returncode}, no error", 0
    return "nothing", 0


def verify_runtimes(build_root, trees):
    """Wall time of every runtime-suite case (a fault run for the faults, the program for the
    real ones) native, under verify and under memcheck, the ratios measured in this run, and
    what verify and memcheck reported on each fault."""
    rt = _runtimes()
    info = rt.suite_info(build_root)
    if info is None:
        raise CompareError(f"{display(rt.suite_dir(build_root))}/runtimes.json is missing: the "
                           "plain tree predates tests/runtimes (cmake --build --preset plain)")
    only = [i for i in os.environ.get("LIFEGUARD_BENCH_RUNTIMES", "").split(",") if i]
    unknown = [i for i in only if i not in rt.CASES]
    if unknown:
        raise CompareError(f"LIFEGUARD_BENCH_RUNTIMES: unknown case {unknown[0]}")
    memcheck = "memcheck" not in missing_tools()
    if not memcheck:
        _note("verify_runtimes: valgrind is not installed; memcheck's columns are left out")
    rows, totals = [], {}
    for case in rt.CASES.values():
        if only and case.id not in only:
            continue
        why = rt.skip_reason(case, info) or (
            "not built: " + ", ".join(rt.programs_missing(case, build_root, info))
            if rt.programs_missing(case, build_root, info) else None)
        if why:
            _note(f"verify_runtimes: {case.id} left out: {why}")
            continue
        mode = "fault" if isinstance(case, rt.Fault) else None
        _note(f"verify_runtimes: {case.id}")
        native = [rt.run(case, "native", build_root, mode, info=info) for _ in range(RUNTIME_REPS)]
        verify = [rt.run(case, "verify", build_root, mode, info=info)]
        while len(verify) < RUNTIME_REPS and not verify[0].timed_out:  # a hang: once is enough
            verify.append(rt.run(case, "verify", build_root, mode, info=info))
        seconds = {"native": _median([o.seconds for o in native]),
                   "verify": _median([o.seconds for o in verify])}
        if memcheck:
            vg = rt.run(case, "memcheck", build_root, mode, timeout=MEMCHECK_TIMEOUT, info=info)
            seconds["memcheck"] = vg.seconds
        for tool, value in seconds.items():
            rows.append(_row("verify_runtimes", f"{case.id}/seconds", round(value, 3), "s", tool))
            totals.setdefault(tool, []).append(value)
        for tool in ("verify", "memcheck"):
            if tool in seconds and seconds["native"] > 0:
                rows.append(_row("verify_runtimes", f"{case.id}/vs_native",
                                 round(seconds[tool] / seconds["native"], 2), "x", tool))
        if "memcheck" in seconds and seconds["memcheck"] > 0:
            rows.append(_row("verify_runtimes", f"{case.id}/vs_memcheck",
                             round(seconds["verify"] / seconds["memcheck"], 3), "x", "verify"))
        if mode == "fault":
            first = verify[0]
            problem = rt.fault_problem(case, first)
            report = first.kinds[0] if first.records else "nothing"
            if first.timed_out:
                report = "hang"
            elif problem and problem.startswith("missing frame"):
                report += " (stacks miss the application's frame)"
            rows.append(_row("verify_runtimes", f"{case.id}/detected",
                             int(bool(first.records)), "reported", "verify", report=report,
                             expected=case.kind))
            if memcheck:
                text, detected = _memcheck_report(vg)
                rows.append(_row("verify_runtimes", f"{case.id}/detected", detected, "reported",
                                 "memcheck", report=text, expected=case.kind))
        else:
            problem = rt.clean_problem(case.id, verify[0], native[0])
            rows.append(_row("verify_runtimes", f"{case.id}/clean", int(problem is None),
                             "clean", "verify", report=problem or "clean"))
            if memcheck:
                text, errors = _memcheck_report(vg)
                rows.append(_row("verify_runtimes", f"{case.id}/clean", 1 - errors, "clean",
                                 "memcheck", report=text if errors else "clean"))
    counted = min((len(v) for v in totals.values()), default=0)
    if counted and all(len(v) == counted for v in totals.values()):
        total = {tool: sum(v) for tool, v in totals.items()}
        for tool, value in total.items():
            rows.append(_row("verify_runtimes", "total/seconds", round(value, 3), "s", tool))
        for tool in ("verify", "memcheck"):
            if tool in total and total["native"] > 0:
                rows.append(_row("verify_runtimes", "total/vs_native",
                                 round(total[tool] / total["native"], 2), "x", tool))
        if "memcheck" in total and total["memcheck"] > 0:
            rows.append(_row("verify_runtimes", "total/vs_memcheck",
                             round(total["verify"] / total["memcheck"], 3), "x", "verify"))
        for tool in ("verify", "memcheck"):
            found = [r["value"] for r in rows if r["config"] == tool
                     and r["metric"].endswith("/detected")]
            if found:
                rows.append(_row("verify_runtimes", "total/detected", sum(found), "faults", tool))
    return rows


RUNNERS = {"heap_pair": heap_pair, "heap_syscalls": heap_syscalls, "fd_churn": fd_churn,
           "control_points": control_points,
           "detection": detection, "verify_runtimes": verify_runtimes}


def run(names, build_root, trees):
    """Rows of the selected comparisons, in order. `trees`: the presets of this run (plain
    is needed; asan adds ASan's columns)."""
    rows = []
    for name in names:
        _note(f"comparison {name}")
        rows += RUNNERS[name](build_root, trees)
    return rows


# ---- tables --------------------------------------------------------------------------------

def _fmt(value, decimals=None):
    if isinstance(value, int):
        return f"{value:,}"
    if decimals is None:
        m = abs(value)
        decimals = 0 if m >= 1000 else 1 if m >= 100 else 2 if m >= 1 else 3
    return f"{value:,.{decimals}f}"


def _value(rows, bench, metric, config):
    for r in rows:
        if (r["bench"], r["metric"], r["config"]) == (bench, metric, config):
            return r["value"]
    return None


HEAP_LABELS = {
    "glibc": "glibc malloc (heap_bench_bare)",
    "pageheap": "lifeguard pageheap, full (heap_bench, defaults)",
    "pageheap-sample100": "lifeguard pageheap, `pageheap_sample=100`",
    "asan": "AddressSanitizer (+UBSan; asan tree, heap_bench_bare)",
    "memcheck": "valgrind memcheck",
    "efence": "Electric Fence (LD_PRELOAD, defaults)",
    "efence-protect-free": "Electric Fence, `EF_PROTECT_FREE=1`",
}


class CompareGoal:
    """A comparison target: (text, bench, metric, config, op, target, unit)."""

    def __init__(self, text, bench, metric, config, op, target, unit):
        self.text, self.bench, self.metric, self.config = text, bench, metric, config
        self.op, self.target, self.unit = op, target, unit

    def met(self, value):
        return value <= self.target if self.op == "<=" else value >= self.target


GOALS = (
    CompareGoal("page heap system calls per pair, full mode (steady state)", "heap_syscalls",
                "steady_syscalls_per_pair", "pageheap", "<=", 2, "calls"),
    CompareGoal("page heap munmap in the steady state", "heap_syscalls", "steady_munmap",
                "pageheap", "<=", 0, "calls"),
    CompareGoal("fdcheck on (defaults) vs off, descriptor churn", "fd_churn", "vs_fdcheck0",
                "fdcheck=1", "<=", 1.05, "x"),
    CompareGoal("fdcheck on, quarantine off, vs off", "fd_churn", "vs_fdcheck0",
                "fdcheck=1:fd_quarantine=0", "<=", 1.05, "x"),
    CompareGoal("fdcheck on (defaults) vs off, system calls per cycle", "fd_churn",
                "syscalls_vs_fdcheck0", "fdcheck=1", "<=", 1.05, "x"),
    CompareGoal("verify on the runtime suite vs valgrind memcheck, total wall time",
                "verify_runtimes", "total/vs_memcheck", "verify", "<=", 0.25, "x"),
)


def goal_lines(rows, ascii_only=False):
    """[(goal, value or None, met or None)]."""
    out = []
    for g in GOALS:
        v = _value(rows, g.bench, g.metric, g.config)
        out.append((g, v, None if v is None else g.met(v)))
    return out


def print_tables(rows, out):
    """The comparison's figures for a terminal."""
    heap = [c for c in HEAP_CONFIGS if _value(rows, "heap_pair", "ns_per_pair", c) is not None]
    if heap:
        print("\nheap_pair (one malloc/free pair of the shared workload):", file=out)
        print(f"  {'detector':22} {'ns/pair':>10} {'x glibc':>9} {'max RSS KiB':>12} "
              f"{'x glibc':>8}", file=out)
        for c in heap:
            t = _value(rows, "heap_pair", "time_vs_glibc", c)
            r = _value(rows, "heap_pair", "rss_vs_glibc", c)
            print(f"  {c:22} {_fmt(_value(rows, 'heap_pair', 'ns_per_pair', c)):>10} "
                  f"{_fmt(t) if t is not None else '-':>9} "
                  f"{_fmt(_value(rows, 'heap_pair', 'max_rss', c)):>12} "
                  f"{_fmt(r) if r is not None else '-':>8}", file=out)
    sys_rows = [r for r in rows if r["bench"] == "heap_syscalls"]
    if sys_rows:
        print("\nheap_syscalls (page heap, per pair): " + ", ".join(
            f"{r['metric']} {_fmt(r['value'])}" for r in sys_rows), file=out)
    fd = [r for r in rows if r["bench"] == "fd_churn" and r["metric"] == "ns_per_cycle"]
    if fd:
        print("\nfd_churn (ns per descriptor cycle, median of rounds):", file=out)
        for r in fd:
            ratio = _value(rows, "fd_churn", "vs_fdcheck0", r["config"])
            calls = _value(rows, "fd_churn", "syscalls_per_cycle", r["config"])
            print(f"  {r['config']:28} {_fmt(r['value']):>10}  {_fmt(ratio)} x fdcheck=0"
                  + (f"  {_fmt(calls, 3)} system calls" if calls is not None else ""),
                  file=out)
    ctl = [r for r in rows if r["bench"] == "control_points" and r["unit"] == "ns"]
    if ctl:
        print("\ncontrol_points (control_bench; median of rounds; ratio to native):", file=out)
        for r in ctl:
            mode, metric = r["metric"].split("/")
            ratio = _value(rows, "control_points", f"{mode}/vs_native", r["config"])
            cpu = _value(rows, "control_points", f"{mode}/cpu_{metric}", r["config"])
            cpu_ratio = _value(rows, "control_points", f"{mode}/cpu_vs_native", r["config"])
            print(f"  {r['metric']:24} {r['config']:24} {_fmt(r['value']):>10}  "
                  f"{_fmt(ratio, 3)} x native  CPU {_fmt(cpu) if cpu else '-':>10}  "
                  f"{_fmt(cpu_ratio, 3) if cpu_ratio else '-'} x native", file=out)
    det = [r for r in rows if r["bench"] == "detection"]
    if det:
        modes = list(dict.fromkeys(r["config"] for r in det))
        print("\ndetection (seeded suite; what each reports):", file=out)
        print(f"  {'fault':36} " + " ".join(f"{m:30}" for m in modes), file=out)
        for fault in dict.fromkeys(r["metric"] for r in det):
            cells = {r["config"]: r for r in det if r["metric"] == fault}
            print(f"  {fault:36} " + " ".join(
                f"{_short(cells[m]['report']) if m in cells else '-':30}" for m in modes),
                file=out)
    rt_rows = [r for r in rows if r["bench"] == "verify_runtimes"]
    if rt_rows:
        print("\nverify_runtimes (wall seconds; ratios to native; what each reported):",
              file=out)
        print(f"  {'case':36} {'native':>8} {'verify':>8} {'memcheck':>9} {'verify x':>9} "
              f"{'memchk x':>9} {'v/memchk':>9}  verify / memcheck said", file=out)
        for case in dict.fromkeys(r["metric"].split("/")[0] for r in rt_rows):
            def get(metric, tool):
                v = _value(rows, "verify_runtimes", f"{case}/{metric}", tool)
                return "-" if v is None else _fmt(v)
            said = [r.get("report", "") for r in rt_rows if r["metric"] in
                    (f"{case}/detected", f"{case}/clean") and r.get("report")]
            print((f"  {case:36} {get('seconds', 'native'):>8} {get('seconds', 'verify'):>8} "
                  f"{get('seconds', 'memcheck'):>9} {get('vs_native', 'verify'):>9} "
                  f"{get('vs_native', 'memcheck'):>9} {get('vs_memcheck', 'verify'):>9}  "
                  + " / ".join(said)).rstrip(), file=out)
    results = goal_lines(rows)
    if any(v is not None for _, v, _ in results):
        print("comparison goals (measured, not enforced):", file=out)
        for g, v, met in results:
            if v is not None:
                print(f"  {'met    ' if met else 'NOT MET'}  {g.text} {g.op} {_fmt(g.target)} "
                      f"{g.unit}: {_fmt(v)}", file=out)


def _short(text, width=30):
    return text if len(text) <= width else text[:width - 1] + "…"


# ---- the docs section ------------------------------------------------------------------------

DOC_BEGIN = "<!-- BEGIN lifeguard bench detectors"
DOC_BEGIN_LINE = (DOC_BEGIN + ": written by `scripts/lifeguard bench --update-docs`; "
                  "edits between these markers are overwritten -->")
DOC_END = "<!-- END lifeguard bench detectors -->"


def docs_section(rows, command, when, missing):
    """The generated detector-comparison section of docs/BENCHMARKS.md, markers included."""
    out = [DOC_BEGIN_LINE, "", "## Detectors compared: lifeguard, glibc, ASan, memcheck, "
           "Electric Fence", "",
           f"Measured {when.strftime('%Y-%m-%d %H:%M')} UTC with {command}, on the machine "
           "described in the results section above, in the same run. Compare ratios within "
           "this run only."]
    if missing:
        out += ["", "Left out, not installed: " + "; ".join(sorted(set(missing.values()))) + "."]

    heap = [c for c in HEAP_CONFIGS if _value(rows, "heap_pair", "ns_per_pair", c) is not None]
    if heap:
        out += ["", "### Heap: one allocation/free pair", "",
                "`bench/heap_bench " + " ".join(HEAP_ARGS) + "`: a ring of 256 live blocks of "
                "seven sizes (24 B to 9000 B); a pair frees the oldest block, allocates the "
                "next size and writes its first and last byte. The figure is the median of the "
                "7 timed repetitions, after 40,000 warm-up pairs; max RSS is the process's peak "
                "resident set (`VmHWM`, read by the program at its end), the tool's own "
                "memory included.", "",
                "| detector | ns per pair | × glibc | max RSS (KiB) | × glibc |",
                "|---|---:|---:|---:|---:|"]
        for c in heap:
            t = _value(rows, "heap_pair", "time_vs_glibc", c)
            r = _value(rows, "heap_pair", "rss_vs_glibc", c)
            out.append(f"| {HEAP_LABELS[c]} | {_fmt(_value(rows, 'heap_pair', 'ns_per_pair', c))}"
                       f" | {_fmt(t) if t is not None else '–'} | "
                       f"{_fmt(_value(rows, 'heap_pair', 'max_rss', c))} | "
                       f"{_fmt(r) if r is not None else '–'} |")

    if any(r["bench"] == "heap_syscalls" for r in rows):
        v = {r["metric"]: r["value"] for r in rows if r["bench"] == "heap_syscalls"}
        out += ["", "### Heap: the page heap's system calls per pair", "",
                f"`strace -f -c -e trace={','.join(TRACED)}` on `heap_bench --warmup 0 --reps 1 "
                f"--pairs N` for N = 0, {SYSCALL_PAIRS[0]:,} and {SYSCALL_PAIRS[1]:,} (full "
                f"mode, default options). Per pair: (calls at {SYSCALL_PAIRS[1]:,} − calls at 0)"
                f" / {SYSCALL_PAIRS[1]:,}; steady state: between {SYSCALL_PAIRS[0]:,} and "
                f"{SYSCALL_PAIRS[1]:,} pairs, after the quarantine has filled.", "",
                "| " + " | ".join(f"{n} per pair" for n in TRACED)
                + " | all per pair | steady state per pair | steady-state munmap |",
                "|" + "---:|" * (len(TRACED) + 3)]
        def cell(metric):
            return "–" if metric not in v else _fmt(v[metric], None if isinstance(
                v[metric], int) else 3)
        out.append("| " + " | ".join(cell(f"{n}_per_pair") for n in TRACED)
                   + f" | {cell('syscalls_per_pair')} | {cell('steady_syscalls_per_pair')} | "
                   f"{cell('steady_munmap')} |")

    fd = [r for r in rows if r["bench"] == "fd_churn" and r["metric"] == "ns_per_cycle"]
    if fd:
        out += ["", "### fd checks: descriptor churn", "",
                "`bench/fd_bench " + " ".join(FD_ARGS) + "` (plain tree, lifeguard linked in; "
                "`fd_bench_bare` without it). A cycle: pipe2, a byte written and read, two "
                "closes; eventfd, write, read, close; open /dev/null, write, fstat, dup, two "
                f"closes. The settings ran interleaved, {FD_ROUNDS} rounds of one run each; ns is "
                "the median over the rounds, the ratio the median of the ratios within each "
                "round. System calls per cycle come from `strace -f -c` over runs of 1 and "
                f"{1 + FD_SYSCALL_CYCLES} cycles, subtracted: unlike the times, they do not move "
                "with the machine's noise.", "",
                "| LIFEGUARD_OPTIONS | ns per cycle | × fdcheck=0 | system calls per cycle |",
                "|---|---:|---:|---:|"]
        for r in fd:
            ratio = _value(rows, "fd_churn", "vs_fdcheck0", r["config"])
            calls = _value(rows, "fd_churn", "syscalls_per_cycle", r["config"])
            label = "(fd_bench_bare: no lifeguard)" if r["config"] == "bare" else \
                f"`{r['config']}`"
            out.append(f"| {label} | {_fmt(r['value'])} | {_fmt(ratio, 3)} | "
                       f"{_fmt(calls, 3) if calls is not None else '–'} |")

    ctl = [r for r in rows if r["bench"] == "control_points" and r["unit"] == "ns"]
    if ctl:
        out += ["", "### Thread control: scheduling points", "",
                "`bench/control_bench` (plain tree; a pthread program with nothing of lifeguard "
                "linked) run natively, with `liblifeguard-preload.so` and `explore=0` (every "
                "interceptor checks one flag, then calls the real function), and with "
                "`explore=1` (random strategy: every pthread call is a scheduling point), its "
                "threads on one CPU (`explore_pin=1`, the default), on two with the thread "
                "that passed the baton spinning for it up to 50 µs before it sleeps "
                "(`explore_spin=50`), or not pinned (`explore_pin=0`). "
                "`lock`: one thread, uncontended `pthread_mutex_lock`/`unlock` pairs "
                f"(`{' '.join(CONTROL_MODES[0][2])}`). `handoff`: two threads give each other "
                "the turn through a mutex and a condition variable "
                f"(`{' '.join(CONTROL_MODES[1][2])}`); natively each hand-off is a futex wake "
                "and wait, under explore a baton pass. `futex`: the same turn through one "
                "futex word and the raw system calls; natively the kernel's own cost of a "
                "switch between two threads, the floor under a baton pass (under explore the "
                "futex calls are scheduling points too). The settings ran interleaved, "
                f"{CONTROL_ROUNDS} rounds; ns is the median over the rounds, the ratio the median "
                "of the ratios within each round. Each run measures wall-clock time and the "
                "process's CPU time: on a shared machine the CPU time is what the work costs, "
                "and the wall-clock time adds the waits for a CPU (and on an idle one, its wake "
                "from idle).", "",
                "| workload | setting | ns | × native | CPU ns | × native |",
                "|---|---|---:|---:|---:|---:|"]
        for r in ctl:
            mode, metric = r["metric"].split("/")
            ratio = _value(rows, "control_points", f"{mode}/vs_native", r["config"])
            cpu = _value(rows, "control_points", f"{mode}/cpu_{metric}", r["config"])
            cpu_ratio = _value(rows, "control_points", f"{mode}/cpu_vs_native", r["config"])
            out.append(f"| `{mode}` ({metric.replace('_', ' ')}) | `{r['config']}` | "
                       f"{_fmt(r['value'])} | {_fmt(ratio, 3)} | "
                       f"{_fmt(cpu) if cpu else '–'} | {_fmt(cpu_ratio, 3) if cpu_ratio else '–'} |")

    det = [r for r in rows if r["bench"] == "detection"]
    if det:
        modes = list(dict.fromkeys(r["config"] for r in det))
        heads = {"linked": "lifeguard linked", "preloaded": "lifeguard preloaded",
                 "asan": "ASan alone", "memcheck": "valgrind memcheck",
                 "efence": "Electric Fence (`EF_PROTECT_FREE=1`)"}
        out += ["", "### Detection on the seeded suite", "",
                "`tests/seeded`: each fault as a small program (docs/detectors.md, the seeded-fault suite). "
                "lifeguard and ASan run every case; memcheck and Electric Fence the heap faults "
                "(`_bare` programs of the plain tree; `valgrind --tool=memcheck`; "
                "`LD_PRELOAD=libefence.so EF_PROTECT_FREE=1`, plus `EF_ALIGNMENT=1` where "
                "lifeguard runs with `pageheap_align=1`). A cell is what the run reported: a "
                "report's kind, `SEGV` (a signal and no report), or `nothing`. A clean twin that "
                "is not clean is marked.", "",
                "| fault | expected | " + " | ".join(heads.get(m, m) for m in modes) + " |",
                "|---|---|" + "---|" * len(modes)]
        for fault in dict.fromkeys(r["metric"] for r in det):
            cells = {r["config"]: r for r in det if r["metric"] == fault}
            expected = next((r.get("expected") for r in cells.values() if r.get("expected")), "")
            texts = []
            for m in modes:
                r = cells.get(m)
                if r is None:
                    texts.append("–")
                    continue
                text = r["report"].replace("|", "\\|")
                if r.get("clean_twin") not in ("nothing", "-", None):
                    text += f" (clean twin: {r['clean_twin']})"
                texts.append(text)
            out.append(f"| {fault} | {expected} | " + " | ".join(texts) + " |")

    rt_rows = [r for r in rows if r["bench"] == "verify_runtimes"]
    if rt_rows:
        out += ["", "### `lifeguard verify` on the runtime suite", "",
                "`tests/runtimes` (docs/detectors.md, the runtime suite): each fault program in its fault "
                "mode and each real program, run bare, under `scripts/lifeguard verify` with the "
                "default options and under `valgrind --tool=memcheck`. Seconds are wall time "
                f"(native and verify: the median of {RUNTIME_REPS} runs; memcheck: one run); "
                "the ratios are taken within this run. The last columns say what verify and "
                "memcheck reported (for a real program: whether it stayed clean).", "",
                "| case | native s | verify s | memcheck s | verify × native | memcheck × "
                "native | verify × memcheck | verify | memcheck |",
                "|---|---:|---:|---:|---:|---:|---:|---|---|"]
        for case in dict.fromkeys(r["metric"].split("/")[0] for r in rt_rows):
            def get(metric, tool):
                v = _value(rows, "verify_runtimes", f"{case}/{metric}", tool)
                return "–" if v is None else _fmt(v)
            said = {r["config"]: r.get("report", "").replace("|", "\\|") for r in rt_rows
                    if r["metric"] in (f"{case}/detected", f"{case}/clean")}
            out.append(f"| {case} | {get('seconds', 'native')} | {get('seconds', 'verify')} | "
                       f"{get('seconds', 'memcheck')} | {get('vs_native', 'verify')} | "
                       f"{get('vs_native', 'memcheck')} | {get('vs_memcheck', 'verify')} | "
                       f"{said.get('verify', '–')} | {said.get('memcheck', '–')} |")

    results = goal_lines(rows)
    out += ["", "### Goals", "", "The detectors' goals, set beside the best tools they "
            "compete with. Measured, never enforced by a test.", "", "| goal | target | measured | |", "|---|---|---:|---|"]
    for g, v, met in results:
        sign = "≤" if g.op == "<=" else "≥"
        measured = "not measured" if v is None else f"{_fmt(v, 3) if isinstance(v, float) else v} {g.unit}"
        verdict = "–" if v is None else "met" if met else "**not met**"
        out.append(f"| {g.text} | {sign} {_fmt(g.target)} {g.unit} | {measured} | {verdict} |")
    out += ["", DOC_END]
    return "\n".join(out) + "\n"
