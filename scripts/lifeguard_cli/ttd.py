# SPDX-License-Identifier: MIT
"""`lifeguard ttd`: time to detect a class's seeded fault, per strategy, in one run, against
the free-running stress baseline; by default the class's target scenario, with --scenario any
scenario of the class (its needle: a residual race that free-running stress misses)."""

import datetime
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

from . import argtypes, docs, fuzz, manifest
from .build import ensure_built, require_built
from .errors import UsageError
from .kinds import CLASSES
from .paths import (BENCHMARKS_DOC, DEFAULT_BUILD_ROOT, DEFAULT_MANIFEST, display, preset_dir,
                    program_path)
from .progress import Progress


class Alone(NamedTuple):
    """What a user gets without lifeguard's detector: the same stress loop, another detector."""
    kind: str          # that detector's report
    config: str        # the build it needs
    options: str       # LIFEGUARD_OPTIONS that turn lifeguard's detector off
    about: str


class Target(NamedTuple):
    cls: str
    program: str       # scenario program
    scenario: str
    fault: str         # the switches the buggy variant turns on, comma-separated
    kind: object       # the report that means "found": a word, or {config: word} where the
                       # builds' detectors name it differently (found_kind)
    options: str       # LIFEGUARD_OPTIONS for every strategy alike
    fuzz_target: str   # libFuzzer target for the `bytes` strategy
    about: str
    config: str = "plain"  # the default build (the one docs/BENCHMARKS.md records)
    alone: Alone = None  # a second baseline (`stress-alone`), where another detector applies


# A use of freed heap memory: AddressSanitizer (asan) and the page heap (plain) name it the
# same, as the manifest's buggy outcomes of these scenarios do.
HEAP_USE_AFTER_FREE = "heap-use-after-free"

# What "detected" means per class. Later classes add their entry here.
TARGETS = {
    "double-close": Target(
        "double-close", "double_close", "reuse-race", "socket-close-in-drop", "foreign-close",
        "fd_quarantine=0:symbolize=0", "double_close",
        "the harmful ordering of trippy#1443: another actor's socket takes the number between "
        "the wrapper's two closes, and the stale close hits it. The quarantine is off (else no "
        "number is reused and every ordering is a plain double-close); the victim's owner is "
        "tagged, so the hit is a foreign-close. Other reports (the plain double-close of the "
        "harmless orderings) are counted and ignored."),
    "pipe-disconnect": Target(
        "pipe-disconnect", "pipe_disconnect", "disconnect-race", "pipe-post-raw-token",
        HEAP_USE_AFTER_FREE, "symbolize=0", "pipe_disconnect",
        "AddressSanitizer (asan) or the page heap (plain) reports the use after free of "
        "tokio#6369: a packet posted with a raw token is dequeued after the driver released "
        "the scheduled-io object it names. The stress baseline runs the same three actors "
        "(driver, server task, client) on threads.",
        config="asan"),
    "module-unload": Target(
        "module-unload", "module_unload", "rapid-cycle", "driver-static-runtime",
        "unload-while-running", "symbolize=0", "module_unload",
        "modcheck reports the unload-while-running of mio#1769: the driver's process-global "
        "runtime is never shut down, and its workers are still in libdrv.so when the host "
        "unloads it. The stress baseline is the same host loop on threads. modcheck's census "
        "reports the leftover workers at the first unload under every strategy, so this "
        "class's time to detect is bounded by how fast one execution runs, not by the "
        "schedule.",
        config="plain",
        alone=Alone("SEGV", "asan", "modcheck=0",
                    "the same free-running loop under AddressSanitizer with modcheck off: a "
                    "worker left in libdrv.so wakes after the unload and faults in the unmapped "
                    "range, which ASan reports as a SEGV on an unknown address")),
    "gc-async": Target(
        "gc-async", "gc_async", "vec-borrow", "bind-vec-borrow-unpinned", HEAP_USE_AFTER_FREE,
        "symbolize=0", "gc_async",
        "AddressSanitizer (asan) or the page heap (plain) reports the use after free of "
        "napi-rs#2571: `example([getS()])` "
        "pins nothing, a collection finalizes the element while the body awaits, and the "
        "worker reads the freed native object. The stress baseline is the seed's own "
        "reproduction on threads: global.gc() every 100 ms, a body that sleeps 1 s.",
        config="asan"),
}


# Residual races with settings of their own: each class's needle (a race free-running stress
# does not find in 30 s while a controlled strategy does in well under a second; for
# pipe-disconnect, drop-cancel-race), and pipe-disconnect's handoff-race (mio 0.8.11's
# residual, which stress finds now and then).
# `ttd CLASS --scenario NAME` measures one with these settings; any other scenario of the
# class gets settings from the manifest (scenario_target).
NEEDLES = {
    ("gc-async", "release-off-main"): Target(
        "gc-async", "gc_async", "release-off-main", "bind-release-off-main",
        HEAP_USE_AFTER_FREE, "symbolize=0", "gc_async",
        "AddressSanitizer (asan) or the page heap (plain) reports the use after free of napi-rs "
        "PR #2499: the first call's pin is released on the worker while the second call pins "
        "the same object on the main actor; the two read-modify-writes of its count "
        "interleave, one update is lost, and the collector frees the object under the "
        "second body. Free-running, each execution is the seed's own timing (a 1 s body and "
        "a 1 s timer), and the two updates meet within nanoseconds only by chance.",
        config="asan"),
    ("double-close", "cancel-race"): Target(
        "double-close", "double_close", "cancel-race", "socket-close-check-then-set",
        "double-close", "symbolize=0", "double_close",
        "fdcheck reports the double-close of a close-once guard that checks its flag, then "
        "sets it: a cancel and the receive loop it stops both pass the check. It needs the "
        "cancel stalled between its check and its set while the loop wakes up and closes.",
        config="plain"),
    ("double-close", "cancel-reuse-race"): Target(
        "double-close", "double_close", "cancel-reuse-race", "socket-close-check-then-set",
        "foreign-close", "fd_quarantine=0:symbolize=0", "double_close",
        "fdcheck reports the foreign-close of the next query's socket: a cancel and the receive "
        "loop it stops both pass a close-once guard that checks, then sets, and the loop's "
        "close comes after the cancel's close and after the next query opened its socket (held "
        "by a tagged owner) in the freed number. It needs two stalls of a few instructions "
        "each: the cancel between its check and its set, the loop between its check and its "
        "close. fdcheck's quarantine is off (else the number is not handed out again at once "
        "and the second close is a plain double-close); the double-closes of the orderings "
        "with one stall only are counted and ignored.",
        config="plain"),
    ("module-unload", "exit-count-race"): Target(
        "module-unload", "module_unload", "exit-count-race", "driver-exit-count-check",
        "unload-while-running", "symbolize=0", "module_unload",
        "modcheck reports the unload-while-running of a worker still in libdrv.so: the owned "
        "runtime's shutdown skips the workers' joins when its count of live workers reads "
        "zero, and a worker counts itself out two steps before it leaves the module. It needs "
        "the host stalled right after telling the runtime to stop until every worker has "
        "counted itself out, and the last one stalled between its count and its return (a "
        "few instructions, nothing in them wakes the host) until the host has unloaded the "
        "module.",
        config="plain"),
    ("pipe-disconnect", "drop-cancel-race"): Target(
        "pipe-disconnect", "pipe_disconnect", "drop-cancel-race", "pipe-drop-ops-check",
        HEAP_USE_AFTER_FREE, "symbolize=0", "pipe_disconnect",
        "AddressSanitizer (asan) or the page heap (plain) reports the use after free of a "
        "pipe's inner state: the server task drops its pipe with the next read armed, the "
        "drop frees the inner state when its count of operations in flight reads zero, and "
        "the driver, which consumed the drop's cancellation and counted it out, decrements "
        "the freed state's reference count. It needs two stalls of a few instructions each: "
        "the server right after posting the cancellation until the driver has consumed it and "
        "counted it out, and the driver between its count and its decrement until the server "
        "has freed the pipe.",
        config="plain"),
    ("pipe-disconnect", "handoff-race"): Target(
        "pipe-disconnect", "pipe_disconnect", "handoff-race", "pipe-event-presence-check",
        HEAP_USE_AFTER_FREE, "symbolize=0", "pipe_disconnect",
        "AddressSanitizer (asan) or the page heap (plain) reports the use after free of mio "
        "0.8.11's residual gap: the READABLE posted for the pipe's first registration is "
        "dequeued after the pipe was registered again, and the presence check delivers the "
        "first token after the driver released its object. It needs the driver stalled from "
        "the wake-up it gave the server until the next owner has registered the pipe.",
        config="asan"),
}


def scenario_target(cls, name, base, manifest_path=DEFAULT_MANIFEST):
    """The Target of scenario `name` of class `cls`: the class's own target, a needle, or one
    made from the manifest (the buggy variant's switches and expected report). UsageError when
    the class has no scenario of that name."""
    if name is None or name == base.scenario:
        return base
    if (cls, name) in NEEDLES:
        return NEEDLES[(cls, name)]
    known = [s for s in manifest.load(manifest_path).scenarios if s.cls == cls]
    sc = next((s for s in known if s.name == name), None)
    if sc is None:
        raise UsageError(f"'{name}' is not a scenario of {cls} (scenarios: "
                         f"{', '.join(s.name for s in known)})")
    kinds = {c: sc.buggy[c] for c in ("plain", "asan") if c in sc.configs}
    if not kinds:
        raise UsageError(f"scenario {name} runs in neither the plain nor the asan build")
    kind = next(iter(kinds.values())) if len(set(kinds.values())) == 1 and len(kinds) == 2 else kinds
    config = base.config if base.config in kinds else next(iter(kinds))
    return Target(cls, sc.program, sc.name, ",".join(sc.faults), kind, "symbolize=0",
                  base.fuzz_target, f"the report the manifest expects of its buggy variant. "
                  f"{sc.about}", config=config)


def found_kind(target, config):
    """The report that means "found" under `config`; UsageError when that build's detectors
    cannot report it."""
    if not isinstance(target.kind, dict):
        return target.kind
    if config not in target.kind:
        raise UsageError(f"the {config} build cannot detect {target.cls}'s fault (use "
                         f"--config {' or '.join(target.kind)})")
    return target.kind[config]

STRATEGIES = ("bytes", "random", "pct", "dfs", "stress", "stress-alone")
STRATEGY_HELP = {
    "bytes": "libFuzzer on fuzz/<target>.c from an empty corpus: it must find the operations "
             "and the schedule (one byte per decision)",
    "random": "lg_sched, seeded random walk over the scenario's schedules",
    "pct": "lg_sched, PCT with depth 2",
    "dfs": "lg_sched, exhaustive depth-first search (deterministic: one trial)",
    "stress": "the same scenario free-running: pthreads, the OS schedules (the baseline)",
    "stress-alone": "the stress baseline without lifeguard's detector, where another one sees "
                    "the fault (module-unload: ASan alone, SEGV in an unknown module)",
}

DOC_BEGIN = "<!-- BEGIN lifeguard ttd results"
DOC_END = "<!-- END lifeguard ttd results"
GOAL_SECONDS, GOAL_SPEEDUP = 1.0, 100.0  # the goals: median under 1 s, >= 100x stress

NAME = "ttd"
SUMMARY = "time to detect a class's seeded fault, per strategy, against free-running threads"
DESCRIPTION = """\
Measure how long each strategy takes to detect a bug class's seeded fault, in one run, beside
the free-running stress baseline (the same scenario on threads the OS schedules). Each trial
(seeds 1..N) runs until the class's target report appears or the budget ends; the table gives,
per strategy, how many trials found it and the median executions and seconds over those."""
EPILOG = "strategies:\n" + "\n".join(f"  {s:12} {h}" for s, h in STRATEGY_HELP.items()) + """

targets:
""" + "\n".join(f"  {t.cls}: scenario {t.scenario}, fault {t.fault}, found = "
                + (t.kind if isinstance(t.kind, str) else
                   ", ".join(f"{w} ({c})" for c, w in t.kind.items()))
                for t in TARGETS.values()) + """

residual races with settings of their own (--scenario NAME; docs/BENCHMARKS.md says which
are needles, races free-running stress misses):
""" + "\n".join(f"  {t.cls}: scenario {t.scenario}, fault {t.fault}" for t in NEEDLES.values())


def add_arguments(parser):
    parser.add_argument("cls", metavar="CLASS", help="the bug class (" + ", ".join(TARGETS) + ")")
    parser.add_argument("--scenario", metavar="NAME",
                        help="the scenario of the class to measure (default: the class's target "
                             "below; a needle, or any scenario of scenarios/manifest.toml)")
    parser.add_argument("--fault", metavar="NAME", action="append",
                        help="a fault switch to turn on in the fixed variant, repeatable "
                             "(default: the scenario's buggy variant)")
    parser.add_argument("--trials", type=argtypes.positive_int, default=10, metavar="N",
                        help="trials per strategy, seeds 1..N (default 10)")
    parser.add_argument("--budget", type=argtypes.positive_seconds, default=30.0, metavar="S",
                        help="seconds one trial may take before it counts as not found (default 30)")
    parser.add_argument("--strategy", action="append", choices=STRATEGIES, metavar="NAME",
                        help="only these strategies (repeatable; default all)")
    parser.add_argument("--config", metavar="NAME",
                        help="build of the scenario program: plain or asan (default: the "
                             "class's; plain where lifeguard's own detectors see the fault); "
                             "`bytes` always uses the asan build (libFuzzer needs clang)")
    parser.add_argument("--json", metavar="FILE", help="write the rows as a JSON array")
    parser.add_argument("--no-build", action="store_true", help="use the build trees as they are")
    parser.add_argument("--build-dir", metavar="DIR", help="root of the build trees (default build/)")
    parser.add_argument("--update-docs", action="store_true",
                        help=f"record the table in {display(BENCHMARKS_DOC)}")


def run(args):
    target = TARGETS.get(args.cls)
    if target is None:
        known = ", ".join(TARGETS)
        why = "has no time-to-detect target yet" if args.cls in CLASSES else "is not a class"
        raise UsageError(f"'{args.cls}' {why} (targets: {known})")
    target = scenario_target(args.cls, args.scenario, target)
    args.config = args.config or target.config
    if args.config not in ("plain", "asan"):
        raise UsageError(f"--config must be plain or asan, not '{args.config}'")
    kind = found_kind(target, args.config)
    fault = ",".join(dict.fromkeys(args.fault)) if args.fault else target.fault
    strategies = args.strategy or [s for s in STRATEGIES if s != "stress-alone" or target.alone]
    if "stress-alone" in strategies and not target.alone:
        raise UsageError(f"{target.cls} has no stress-alone baseline: no detector but "
                         f"lifeguard's reports {kind}")
    build_root = Path(args.build_dir).resolve() if args.build_dir else DEFAULT_BUILD_ROOT
    presets = {args.config} | ({"asan"} if "bytes" in strategies else set())
    if "stress-alone" in strategies:
        presets.add(target.alone.config)
    if not args.no_build:
        ensure_built(sorted(presets), build_root)
    check_faults(target, fault, args, build_root)
    rows = []
    with Progress("ttd") as progress:
        for strategy in strategies:
            if strategy == "bytes":
                missing = fuzzer_missing(target, args, build_root)
                if missing:
                    print(f"lifeguard: warning: strategy bytes not run: {missing}",
                          file=sys.stderr, flush=True)
                    rows.append(summarize(target, fault, strategy, [], args.config, note=missing))
                    continue
            trials = 1 if strategy == "dfs" else args.trials
            results = []
            for seed in range(1, trials + 1):
                where = f"{target.cls} {strategy} trial {seed}/{trials}"
                progress.start(where)
                trial = run_trial(target, fault, strategy, seed, args, build_root)
                results.append(trial)
                progress.step(f"{where}: " + (f"found in {trial.seconds:.2f} s" if trial.found
                                               else f"not found in {trial.seconds:.1f} s"))
            config = target.alone.config if strategy == "stress-alone" else args.config
            rows.append(summarize(target, fault, strategy, results, config))
    baseline = next((r for r in rows if r["strategy"] == "stress"), None)
    alone = next((r for r in rows if r["strategy"] == "stress-alone"), None)
    for r in rows:
        r["speedup_vs_stress"] = speedup(r, baseline)
        # stress found nothing: it is at least budget / median times slower
        r["speedup_vs_stress_at_least"] = at_least(r, baseline, args.budget)
        if alone:
            r["speedup_vs_stress_alone"] = speedup(r, alone)
    print_table(rows, target, fault, kind)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    if args.update_docs:
        docs.write_section(BENCHMARKS_DOC, section(rows, target, fault, args),
                           doc_begin(target, fault), doc_end(target, fault), "# Benchmarks\n\n")
    return 0


class Trial(NamedTuple):
    found: bool
    executions: int    # None: found, but the process died before it could count
    seconds: float


def variant_args(target, fault):
    """The scenario program's variant: buggy when `fault` is the scenario's own switches, else
    fixed with each switch of `fault` turned on."""
    if fault == target.fault:
        return ["--variant", "buggy"]
    return ["--variant", "fixed", *(a for f in fault.split(",") for a in ("--fault", f))]


def check_faults(target, fault, args, build_root):
    """UsageError (the program's own line) when a switch of `fault` is unknown: the scenario
    program checks its --fault arguments before --list."""
    if fault == target.fault:
        return
    binary = program_path(build_root, args.config, target.program)
    require_built(binary, args.config, build_root, args.no_build)
    proc = subprocess.run([str(binary), *variant_args(target, fault)[2:], "--list"],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"]
        raise UsageError(f"--fault: {lines[-1].split('error: ', 1)[-1]}")


def run_trial(target, fault, strategy, seed, args, build_root):
    """One trial: run until the target kind is reported or the budget ends."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIFEGUARD_", "LG_FUZZ_"))}
    # the clock stops at the fault's report, not after symbolizing it: no llvm-symbolizer
    # start-up (tens of ms) in any strategy, as lifeguard's own reports run with symbolize=0
    env["ASAN_OPTIONS"] = "detect_leaks=0:abort_on_error=0:symbolize=0"
    if strategy == "bytes":
        return run_fuzzer(target, fault, seed, args, build_root, env)
    config, kind, options = args.config, found_kind(target, args.config), target.options
    if strategy == "stress-alone":
        config, kind, options = target.alone.config, target.alone.kind, target.alone.options
    binary = program_path(build_root, config, target.program)
    require_built(binary, config, build_root, args.no_build)
    variant = variant_args(target, fault)
    argv = [str(binary), "--scenario", target.scenario, *variant,
            "--strategy", "free" if strategy.startswith("stress") else strategy, "--seed", str(seed),
            "--iterations", str(10**12), "--until", kind, "--budget", str(args.budget)]
    env["LIFEGUARD_OPTIONS"] = options
    start = time.monotonic()
    proc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=args.budget * 2 + 60)
    seconds = time.monotonic() - start
    for line in proc.stdout.splitlines():
        if line.startswith("ttd: "):
            fields = dict(f.split("=", 1) for f in line[5:].split() if "=" in f)
            return Trial(fields.get("found") == "1", int(fields.get("executions", 0)), seconds)
    if re.search(rf"ERROR: AddressSanitizer: {re.escape(kind)}\b", proc.stderr):
        # ASan's report of the kind began, and a fault while it unwound ended the process
        # ("nested bug in the same thread") before the report callback printed the ttd line
        return Trial(True, None, seconds)
    raise UsageError(f"{display(binary)} printed no ttd line (exit {proc.returncode}): "
                     f"{(proc.stderr or proc.stdout).strip().splitlines()[-1:]}")


def fuzzer_binary(target, build_root):
    return preset_dir(build_root, "asan") / "fuzz" / f"{target.fuzz_target}_fuzz"


def fuzzer_missing(target, args, build_root):
    """Why the class's libFuzzer binary cannot run (a sentence saying how to get it), or None
    when it is built. A class's fuzz target may come later than its scenarios: its `bytes`
    row then says so, and the other strategies still run."""
    try:
        require_built(fuzzer_binary(target, build_root), "asan", build_root, args.no_build)
    except UsageError as e:
        return f"not built: {e}"
    return None


def run_fuzzer(target, fault, seed, args, build_root, env):
    budget = args.budget
    binary = fuzzer_binary(target, build_root)
    require_built(binary, "asan", build_root, args.no_build)
    env.update(LIFEGUARD_FAULTS=fault, LIFEGUARD_OPTIONS=target.options)
    if fuzz.supports_until(target.fuzz_target):
        # the target aborts at the first report of the kind and ignores the others
        env.update(LIFEGUARD_OPTIONS=target.options + ":halt_on_error=0",
                   LG_FUZZ_UNTIL=found_kind(target, "asan"))
    # else the first report stops the run: found only when it is of the kind
    with tempfile.TemporaryDirectory(prefix="lifeguard-ttd-") as tmp:
        argv = [str(binary), f"-seed={seed}", "-runs=1000000000", f"-max_total_time={int(budget) or 1}",
                "-print_final_stats=1", f"-artifact_prefix={tmp}/", str(Path(tmp) / "corpus")]
        (Path(tmp) / "corpus").mkdir()
        result = fuzz.run_libfuzzer(argv, env, cwd=tmp, timeout=budget * 2 + 60)
    found = result.first_report(found_kind(target, "asan")) is not None
    return Trial(found, result.execs, result.seconds)


def summarize(target, fault, strategy, results, config, note=None):
    """One table row. `note` says why the strategy did not run (then `results` is empty)."""
    found = [r for r in results if r.found]
    return {
        "class": target.cls, "scenario": target.scenario, "fault": fault, "strategy": strategy,
        "config": "asan" if strategy == "bytes" else config,
        "trials": len(results), "found": len(found),
        "median_execs": _median([r.executions for r in found if r.executions is not None]),
        "median_seconds": statistics.median(r.seconds for r in found) if found else None,
        # every trial's executions, found or not (what a strategy that found nothing tried)
        "total_execs": sum(r.executions for r in results if r.executions is not None),
        "note": note,
    }


def _median(values):
    return statistics.median(values) if values else None


def speedup(row, baseline):
    """Baseline median seconds / this row's: how many times faster than free-running."""
    if not baseline or not baseline["median_seconds"] or not row["median_seconds"]:
        return None
    return baseline["median_seconds"] / row["median_seconds"]


def at_least(row, baseline, budget):
    """When the baseline ran and found nothing: the budget / this row's median seconds, a
    lower bound of the speed-up. None otherwise."""
    if not baseline or baseline["found"] or not baseline["trials"] or not row["median_seconds"]:
        return None
    return budget / row["median_seconds"]


def _speedup_cell(r):
    if r.get("speedup_vs_stress_at_least") is not None:
        return ">" + _times(r["speedup_vs_stress_at_least"])
    return _times(r["speedup_vs_stress"])


def _fmt(v, digits=3):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _times(ratio):
    """A speed-up: one decimal from 1x up, two significant digits below (0.02x, not 0.0x)."""
    if ratio is None:
        return "-"
    return f"{ratio:.1f}x" if ratio >= 1 else f"{ratio:.2g}x"


def table_lines(rows):
    alone = any("speedup_vs_stress_alone" in r for r in rows)
    head = ("strategy", "config", "found", "median execs", "median seconds", "vs stress")
    head += ("vs stress-alone",) if alone else ()
    body = [(r["strategy"], r["config"], "not built" if r.get("note") else f"{r['found']}/{r['trials']}",
             _fmt(r["median_execs"], 1),
             _fmt(r["median_seconds"], 4),
             _speedup_cell(r))
            + ((_times(r["speedup_vs_stress_alone"]),) if alone else ())
            for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    return [head, body, widths]


def print_table(rows, target, fault, kind):
    head, body, widths = table_lines(rows)
    print(f"{target.cls}: time to detect {kind} (fault {fault}, scenario {target.scenario})")
    for line in [head, tuple("-" * w for w in widths), *body]:
        print("  ".join(str(x).ljust(w) for x, w in zip(line, widths)).rstrip())
    for r in rows:
        if r.get("note"):
            print(f"{r['strategy']}: {r['note']}")


def _doc_name(target, fault):
    """The class; the scenario and the switches too when they are not the class's target's."""
    base = TARGETS[target.cls]
    if (target.scenario, fault) == (base.scenario, base.fault):
        return target.cls
    return f"{target.cls} scenario {target.scenario} fault {fault}"


def doc_begin(target, fault):
    return f"{DOC_BEGIN} {_doc_name(target, fault)}:"


def doc_end(target, fault):
    return f"{DOC_END} {_doc_name(target, fault)} -->"


def _goal(ratio):
    return f"{_times(ratio)}: {'met' if ratio is not None and ratio >= GOAL_SPEEDUP else 'not met'}"


def _goal_at_least(ratio):
    return f">{_times(ratio)}: " + ("met" if ratio >= GOAL_SPEEDUP else "not known")


def goal_lines(rows):
    """Each strategy against the goals: median under GOAL_SECONDS, GOAL_SPEEDUP x stress (and
    x the stress-alone baseline, where the class has one)."""
    out = []
    for r in rows:
        if r["strategy"].startswith("stress") or r["median_seconds"] is None:
            continue
        fast = r["median_seconds"] < GOAL_SECONDS
        cells = [r["strategy"], f"{r['median_seconds']:.4f} s: {'met' if fast else 'not met'}",
                 _goal(r["speedup_vs_stress"]) if r.get("speedup_vs_stress_at_least") is None
                 else _goal_at_least(r["speedup_vs_stress_at_least"])]
        if "speedup_vs_stress_alone" in r:
            cells.append(_goal(r["speedup_vs_stress_alone"]))
        out.append("| " + " | ".join(cells) + " |")
    return out


def alone_lines(rows, target):
    if not any(r["strategy"] == "stress-alone" for r in rows):
        return []
    return ["", f"`stress-alone` is {target.alone.about}; it is found when that report "
            f"({target.alone.kind}) appears. Its row's `vs stress` is below 1x when lifeguard's "
            "detector makes even the free-running loop faster."]


def goal_head(rows):
    cols = ["strategy", f"median under {GOAL_SECONDS:g} s", f"at least {GOAL_SPEEDUP:g}x faster than stress"]
    if any("speedup_vs_stress_alone" in r for r in rows):
        cols.append(f"at least {GOAL_SPEEDUP:g}x faster than stress-alone")
    return ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]


def section(rows, target, fault, args):
    head, body, _ = table_lines(rows)
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    chosen = [f"--scenario {target.scenario}"] if target.scenario != TARGETS[target.cls].scenario else []
    chosen += [f"--fault {f}" for f in fault.split(",")] if fault != target.fault else []
    chosen += [f"--strategy {x}" for x in (args.strategy or [])]
    chosen += [f"--config {args.config}"] if args.config != target.config else []
    cmd = " ".join([f"scripts/lifeguard ttd {target.cls}", *chosen,
                    f"--trials {args.trials} --budget {args.budget:g} --update-docs"])
    title = (target.cls if _doc_name(target, fault) == target.cls
             else f"{target.cls}, scenario {target.scenario}, fault {fault}")
    out = [f"{doc_begin(target, fault)} written by `scripts/lifeguard ttd --update-docs` -->", "",
           f"## Time to detect: {title}", "",
           f"Measured {when} on this machine (see the bench section for its description) with "
           f"`{cmd}`.", "",
           f"Found means: {target.about}", "",
           "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(str(x) for x in line) + " |" for line in body]
    out += [f"\n`{r['strategy']}`: {r['note']}" for r in rows if r.get("note")]
    out += [f"\n`{r['strategy']}` found it in none of its {r['trials']} trials "
            f"({r['total_execs']:,} executions in all)."
            for r in rows if r["trials"] and not r["found"] and not r.get("note")]
    out += ["", "Medians are over the trials that found it; `vs stress` divides the stress "
            "median seconds by the strategy's (wall time per trial, process start included); "
            "where stress found nothing, it divides the budget instead, a lower bound (>).",
            *alone_lines(rows, target),
            "", *goal_head(rows), *goal_lines(rows), "", doc_end(target, fault)]
    return "\n".join(out) + "\n"
