# SPDX-License-Identifier: MIT
"""`lifeguard explore`: controlled, replayable scheduling of an unmodified program.

Each run starts PROG once with liblifeguard-preload.so and LIFEGUARD_OPTIONS=explore=1 plus
the strategy, seed, execution index (the run's number) and a decision log file: every
thread of the process is then an actor, one runs at a time, and a decision source picks who
runs at each pthread call (harness/src/control.c). The runs go on until one fails, --runs
or --budget is used up, dfs has explored every schedule within its bound, or (with
--schedule) the one replay has run.

A run fails with the kind of:
  - the first lifeguard report (its JSON log): heap-use-after-free, double-close, deadlock
    (every thread blocked), livelock (explore_steps scheduling points), ...;
  - else a crash signal: `abort` (a failed check or abort()), `assertion` (assert(3)),
    `SEGV`, `SIGBUS`, ... (`crash:NAME` for any other signal);
  - else `timeout` (the run outlived --timeout, e.g. threads waiting for each other through
    descriptors only);
  - else, with --exit-code, `exit-code` for a nonzero exit status.
The schedule string of a failing run comes from its decision log (written as decisions are
made, so a crash keeps it); `replay` is the command line that runs that schedule again.

The search runs with symbolize=0: starting llvm-symbolizer for a report's stacks costs about
a second here, far more than a run. When the failing run ended in a lifeguard report, that
report is printed from a second run, the found schedule replayed exactly as the `replay`
command line does it, with the caller's symbolize setting (default on): the report the user
reads is symbolized and comes from a run of the command it is given. Should the replay end
otherwise (a program not deterministic under control), the search run's own report is shown,
with a note.
"""

import argparse
import json
import os
import shlex
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import argtypes, classify, verify
from .build import ensure_built, require_built
from .errors import UsageError
from .paths import DEFAULT_BUILD_ROOT, INSTALLED_PRELOAD, REPO_ROOT, display
from .progress import Progress

NAME = "explore"
SUMMARY = "run a program under controlled schedules until one fails; exit 1 if one did"
DESCRIPTION = """\
Runs PROG [ARGS] up to N times, each run under one schedule: liblifeguard-preload.so makes
every thread of the program an actor, lets one run at a time, and at each pthread call
(create, join, detach, exit; mutex, rwlock, spinlock, semaphore, condition variable;
sched_yield; sleeps, in virtual time) lets a strategy pick the thread that runs next. The
detectors of `lifeguard verify` stay on. The first failing run is reported with its kind, its
schedule string and a command line that replays it. The program's output is kept back; the
failing run's stderr (its last lines) is printed."""
EPILOG = """\
strategies:
  random  a uniform choice at every decision (run i of seed S is always the same schedule)
  pct     PCT of depth D: random thread priorities and D-1 priority change points; the
          first run counts the decisions (k) and runs without change points
  dfs     every schedule with no preemption, then with one, ... up to D (--depth), each
          run once; says whether the search was exhausted

failure kinds: a lifeguard report's kind (deadlock, livelock, heap-use-after-free, ...),
abort, assertion, SEGV and other crash signals, timeout, exit-code (with --exit-code).

descriptor calls (read, write, recv, send, accept, poll without a timeout...) that would
wait block under control until the descriptor is ready; connect and polls with a timeout
leave control while in the kernel; children of the program run free.

exit status:
  0  no run failed (when no run made a scheduling decision, stderr says that no ordering
     was explored, and the JSON's `explored` is false)
  1  a run failed (or --until: a run failed with that kind)
  2  bad input (one line on stderr, nothing run)

examples:
  lifeguard explore --runs 1000 -- ./bank_test
  lifeguard explore --strategy pct --depth 2 --json found.json -- ./server --selftest
  lifeguard explore --schedule 'lgs1:s200/2=1,s204/3=2' -- ./bank_test"""

PRESET = "plain"
STRATEGIES = ("random", "pct", "dfs")
LOG_MAGIC = b"LGXLOG2\0"
LOG_HEADER = struct.Struct("<8sQQQQQ16x")
LOG_RECORD = struct.Struct("<BxHIII")  # kind, site, n, idx, current
NO_CURRENT = 0xFFFFFFFF
SCHEDULE = 0  # the kind of a scheduling decision
TAIL_LINES = 30


def add_arguments(parser):
    parser.add_argument("--strategy", choices=STRATEGIES, default="random",
                        help="how each decision is made (default random)")
    parser.add_argument("--depth", type=argtypes.whole(1, "a whole number, 1 or more"),
                        default=3, metavar="D",
                        help="pct's depth; dfs's largest preemption bound (default 3)")
    parser.add_argument("--runs", type=argtypes.positive_int, default=1000, metavar="N",
                        help="at most N runs (default 1000)")
    parser.add_argument("--seed", type=argtypes.seed64, default=0, metavar="S",
                        help="the strategy's seed (default 0): the same seed, the same runs")
    parser.add_argument("--budget", type=argtypes.positive_seconds, metavar="SECONDS",
                        help="stop starting runs after SECONDS (default: no limit)")
    parser.add_argument("--until", metavar="KIND",
                        help="go on past failures of other kinds until one of KIND")
    parser.add_argument("--schedule", metavar="STRING",
                        help="replay this schedule string once (the strategy is then replay)")
    parser.add_argument("--json", metavar="FILE",
                        help="write the result as one JSON object: program, strategy, runs, "
                             "found, runs_to_first, seconds_to_first, kind, schedule, replay "
                             "(and seed, depth, decisions: made in all runs, diverged: the "
                             "decision where a replay left its schedule, or null; "
                             "seconds_to_report: with the symbolized replay that prints a "
                             "lifeguard report, report_from: replay or run)")
    parser.add_argument("--timeout", type=argtypes.positive_seconds, default=60.0,
                        metavar="SECONDS",
                        help="a run that lasts longer is killed and counts as a timeout "
                             "(default 60)")
    parser.add_argument("--exit-code", action="store_true",
                        help="a nonzero exit status is a failure too (kind exit-code)")
    parser.add_argument("--no-build", action="store_true",
                        help="do not build the preload library when it is missing")
    parser.add_argument("--build-dir", type=Path, default=None, metavar="DIR",
                        help="root of the build trees (default: build/ of the source tree, "
                             "or the installed library)")
    parser.add_argument("command", nargs=argparse.REMAINDER, metavar="-- PROG [ARGS]",
                        help="the program and its arguments")


# ---- the decision log ------------------------------------------------------------------

def read_decisions(path):
    """The decisions a run recorded, as (decisions, diverged_step or None, overflow). Each
    decision is (kind, site, n, idx, current): current is the running thread's option,
    NO_CURRENT when it was not one. A missing or short file is no decisions."""
    try:
        with open(path, "rb") as f:
            head = f.read(LOG_HEADER.size)
            if len(head) < LOG_HEADER.size:
                return [], None, 0
            magic, count, diverged, capacity, overflow, _pid = LOG_HEADER.unpack(head)
            if magic != LOG_MAGIC:
                return [], None, 0
            body = f.read(min(count, capacity) * LOG_RECORD.size)
    except FileNotFoundError:
        return [], None, 0
    decisions = [LOG_RECORD.unpack_from(body, i * LOG_RECORD.size)
                 for i in range(len(body) // LOG_RECORD.size)]
    return decisions, (diverged - 1 if diverged else None), overflow


def schedule_string(decisions):
    """The schedule string of `decisions`, as lg_schedule_format writes it (lifeguard/
    schedule.h): tokens kind site/n=idx, equal neighbours as one token *count."""
    tokens = []
    i = 0
    while i < len(decisions):
        run = 1
        while i + run < len(decisions) and decisions[i + run][:4] == decisions[i][:4]:
            run += 1
        kind, site, n, idx = decisions[i][:4]
        token = f"{'sdf'[kind] if kind < 3 else '?'}{site}/{n}={idx}"
        tokens.append(token + (f"*{run}" if run > 1 else ""))
        i += run
    return "lgs1:" + ",".join(tokens)


def check_schedule(text):
    """UsageError unless `text` looks like a schedule string (the harness parses it fully)."""
    if not text.startswith("lgs1:") or any(c.isspace() for c in text) or \
            not all(" " <= c <= "~" for c in text):
        raise UsageError(f"--schedule {text[:40]!r}: not a schedule string (lgs1:...)")


# ---- dfs: the search over runs ---------------------------------------------------------

def is_preemption(decision, option):
    """Whether taking `option` at `decision` switches away from a thread that could go on."""
    kind, _site, _n, _idx, current = decision
    return kind == SCHEDULE and current != NO_CURRENT and option != current


class Dfs:
    """Preemption-bounded exhaustive search over the runs, iterative: every schedule with no
    preemption first, then those with one, ... up to `depth`. Each run follows a prefix (the
    first decisions, forced) and goes on without preemptions (the library's dfs source); its
    decision log shows the tree below the prefix: every other option of each decision past the
    prefix is a new prefix, queued by the preemptions it has. Each schedule is run once: a
    prefix's run differs from its parent's at the prefix's last decision. As lg_sched's dfs,
    but the tree is kept here, between processes, and the bounds do not repeat schedules."""

    def __init__(self, depth):
        self.depth = depth
        self.queues = [[([], 0, None)]] + [[] for _ in range(depth)]
        self.bound = 0
        self.cut = False        # some schedule needed more than `depth` preemptions
        self.nondeterminism = 0  # runs that did not follow their prefix

    def next_prefix(self):
        """The next prefix (decisions, the last one with the option to take instead), or None
        once the search is done."""
        while self.bound <= self.depth:
            queue = self.queues[self.bound]
            if queue:
                parent, level, option = queue.pop()
                if option is None:
                    return []
                kind, site, n, _idx, current = parent[level]
                return parent[:level] + [(kind, site, n, option, current)]
            self.bound += 1
        return None

    def learn(self, prefix, decisions, diverged):
        """Queues the prefixes below the run of `prefix` that made `decisions`."""
        if diverged is not None:
            self.nondeterminism += 1
        pre = sum(is_preemption(d, d[3]) for d in decisions[:len(prefix)])
        # (pushed shallow first: the deepest level's options are tried first, then lower
        # options before higher ones)
        for level in range(len(prefix), len(decisions)):
            d = decisions[level]
            for option in range(d[2] - 1, -1, -1):
                if option == d[3]:
                    continue
                p = pre + is_preemption(d, option)
                if p > self.depth:
                    self.cut = True
                else:
                    self.queues[p].append((decisions, level, option))

    def done(self):
        return self.bound > self.depth


# ---- one run ---------------------------------------------------------------------------

def run_env(library, tmp, strategy, seed, run, depth, pct_k, schedule_file, symbolize=True,
            tag=""):
    """The environment of one run: verify's (the detectors, a JSON report log), plus the
    explore options; with symbolize False, symbolize=0 over the caller's setting. Returns
    (env, decision log path, report log path)."""
    reports = Path(tmp) / f"reports.{run}{tag}.jsonl"
    log = Path(tmp) / f"decisions.{run}{tag}"
    env = verify.verify_env(library, reports, verify.CHECKS)
    ours = ["explore=1", f"explore_strategy={strategy}", f"explore_seed={seed}",
            f"explore_run={run}", f"explore_depth={depth}", f"explore_pct_k={pct_k}",
            f"explore_log={log}"]
    if schedule_file:
        ours.append(f"explore_schedule={schedule_file}")
    if not symbolize:
        ours.append("symbolize=0")
    env[verify.ENV_OPTIONS] += ":" + ":".join(ours)
    return env, log, reports


def caller_symbolizes():
    """Whether the caller's LIFEGUARD_OPTIONS leave symbolization on (the last `symbolize=`
    item wins, as in the library; on by default)."""
    value = "1"
    for item in os.environ.get(verify.ENV_OPTIONS, "").split(":"):
        if item.startswith("symbolize="):
            value = item.split("=", 1)[1].strip()
    return value.lower() not in ("0", "false", "no")


def failure_kind(records, returncode, timed_out, stderr, exit_code):
    """The kind of a run's failure, or None when it did not fail."""
    if records:
        return records[0]["kind"]
    if returncode < 0:
        sig = -returncode
        if sig == signal.SIGABRT:
            return "assertion" if "Assertion `" in stderr else "abort"
        if sig == signal.SIGSEGV:
            return "SEGV"
        if sig in (signal.SIGBUS, signal.SIGFPE, signal.SIGILL):
            return signal.Signals(sig).name
        if not timed_out:
            return classify.outcome("", returncode)
    if timed_out:
        return "timeout"
    if exit_code and returncode != 0:
        return "exit-code"
    return None


def release_logs(log, reports):
    """Frees what a run's logs hold once they are read (10,000 runs would keep 10,000 logs in
    memory): the decision log is emptied, not removed, so that a process the run left behind
    still finds it there and runs free (control.c opens it with O_EXCL)."""
    try:
        os.truncate(log, 0)
    except OSError:
        pass
    for f in (reports, Path(f"{reports}.inflight")):
        f.unlink(missing_ok=True)


def run_once(program, command, env, timeout):
    """Runs the program once; (returncode, timed_out, stdout, stderr)."""
    try:
        proc = subprocess.Popen(command, executable=str(program), env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
    except OSError as e:
        raise UsageError(f"cannot run {display(program)}: {e.strerror}") from None
    try:
        out, err = proc.communicate(timeout=timeout)
        return proc.returncode, False, out, err
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return proc.returncode, True, out, err


# ---- the command -----------------------------------------------------------------------

def find_library(args):
    if INSTALLED_PRELOAD and args.build_dir is None:
        library = Path(INSTALLED_PRELOAD)
        if not library.is_file():
            raise UsageError(f"the installed preload library {library} is missing "
                             "(reinstall lifeguard)")
        return library
    build_root = Path(args.build_dir or DEFAULT_BUILD_ROOT).resolve()
    library = verify.library_path(build_root)
    if not library.is_file() and not args.no_build:
        ensure_built([PRESET], build_root)
    require_built(library, PRESET, build_root, args.no_build, needed_by="explore")
    return library


def report_run(program, command, library, tmp, schedule, args):
    """Runs `schedule` again as `replay_command` does (strategy replay, run 0, seed 0, the
    caller's symbolize setting), to print its report symbolized. Returns (kind, stderr,
    diverged) of that run."""
    schedule_file = Path(tmp) / "report.schedule"
    schedule_file.write_text(schedule + "\n", encoding="utf-8")
    env, log, reports = run_env(library, tmp, "replay", 0, 0, args.depth, 0, schedule_file,
                                tag=".report")
    rc, timed_out, _out, err = run_once(program, command, env, args.timeout)
    stderr = err.decode("utf-8", "replace")
    records, _ = classify.read_log(reports)
    records += classify.cut_short(reports)
    _decisions, diverged, _ = read_decisions(log)
    return failure_kind(records, rc, timed_out, stderr, args.exit_code), stderr, diverged


def scratch_dir():
    """Where a run's decision log and report log go: /dev/shm (memory) when it is there and
    writable, else the default temporary directory. The decision log is a 16 MiB sparse file
    written through a shared mapping; on a disk file system its creation, first writes and
    removal cost about 8 ms a run here (docs/BENCHMARKS.md), on tmpfs next to nothing."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK) else None


def replay_command(command, schedule):
    """The command line that runs `schedule` again (the driver as the user runs it)."""
    driver = "lifeguard" if INSTALLED_PRELOAD else display(REPO_ROOT / "scripts" / "lifeguard")
    return shlex.join([driver, "explore", "--schedule", schedule, "--"] + command)


def run(args):
    """Entry point of `lifeguard explore`."""
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise UsageError("no program to run (usage: lifeguard explore [OPTIONS] -- PROG [ARGS])")
    if args.schedule is not None:
        check_schedule(args.schedule)
    if args.json and not Path(args.json).resolve().parent.is_dir():
        raise UsageError(f"--json {args.json}: its directory does not exist")
    program = verify.resolve_program(command[0])
    verify.check_preloadable(program)
    library = find_library(args)

    strategy = "replay" if args.schedule is not None else args.strategy
    runs = 1 if args.schedule is not None else args.runs
    result = {"program": shlex.join(command), "strategy": strategy, "seed": args.seed,
              "depth": args.depth if strategy in ("pct", "dfs") else None, "runs": 0,
              "found": False, "runs_to_first": None, "seconds_to_first": None, "kind": None,
              "schedule": None,
              "replay": None, "decisions": 0, "diverged": None, "schedules": 0,
              "exhausted": None, "bound": None, "seconds_to_report": None,
              "report_from": None}
    dfs = Dfs(args.depth) if strategy == "dfs" else None
    seen = set()  # the distinct schedules the runs took
    failure = None
    others = {}  # --until: the failures of other kinds, by kind
    started = time.monotonic()
    pct_k = 0
    # the search runs unsymbolized; a report is symbolized once, in its replay (report_run).
    # A --schedule run is that replay itself.
    symbolize_report = caller_symbolizes()
    fast = strategy != "replay" and symbolize_report
    with tempfile.TemporaryDirectory(prefix="lifeguard-explore-",
                                     dir=scratch_dir()) as tmp, \
            Progress("explore") as progress:
        schedule_file = None
        if args.schedule is not None:
            schedule_file = Path(tmp) / "schedule"
            schedule_file.write_text(args.schedule + "\n", encoding="utf-8")
        for i in range(runs):
            if args.budget is not None and time.monotonic() - started >= args.budget:
                break
            if dfs is not None:
                prefix = dfs.next_prefix()
                if prefix is None:
                    break
                schedule_file = Path(tmp) / f"prefix.{i}"
                schedule_file.write_text(schedule_string(prefix) + "\n", encoding="utf-8")
            progress.start(f"run {i + 1}")
            env, log, reports = run_env(library, tmp, strategy, args.seed, i, args.depth,
                                        pct_k, schedule_file, symbolize=not fast)
            rc, timed_out, out, err = run_once(program, command, env, args.timeout)
            stderr = err.decode("utf-8", "replace")
            if rc == 2 and "lifeguard: error: explore:" in stderr:
                line = next(l for l in stderr.splitlines() if "lifeguard: error: explore:" in l)
                raise UsageError(line.split("lifeguard: error: ", 1)[1])
            records, _ = classify.read_log(reports)
            records += classify.cut_short(reports)
            decisions, diverged, _ = read_decisions(log)
            release_logs(log, reports)
            if strategy == "pct" and pct_k == 0:
                pct_k = max(1, len(decisions))
            result["runs"] = i + 1
            result["decisions"] += len(decisions)
            seen.add(tuple(d[:4] for d in decisions))
            result["schedules"] = len(seen)
            if strategy == "replay":
                result["diverged"] = diverged
            if dfs is not None:
                dfs.learn(prefix, decisions, diverged)
                if schedule_file.exists():
                    schedule_file.unlink()
            kind = failure_kind(records, rc, timed_out, stderr, args.exit_code)
            elapsed = time.monotonic() - started
            progress.step(f"{i + 1} runs, {(i + 1) / max(elapsed, 1e-9):.1f} runs/s"
                          + (f", found {kind}" if kind else ""))
            if kind is None:
                continue
            if args.until and kind != args.until:
                others[kind] = others.get(kind, 0) + 1
                continue
            schedule = schedule_string(decisions)
            note = None
            result["report_from"] = "run"
            if fast and records:
                # the report, symbolized: the found schedule run again as `replay` runs it
                progress.start("the report (the schedule replayed, symbolized)")
                again, again_err, again_diverged = report_run(program, command, library, tmp,
                                                              schedule, args)
                if again == kind and again_diverged is None:
                    stderr = again_err
                    result["report_from"] = "replay"
                else:
                    note = (f"the replay of this schedule, symbolized, ended in "
                            f"{again or 'no failure'}"
                            + (f" (it left the schedule at decision {again_diverged})"
                               if again_diverged is not None else "")
                            + "; the report above is the search run's, unsymbolized")
            failure = (kind, stderr, out, diverged, note)
            result.update(found=True, runs_to_first=i + 1, seconds_to_first=round(elapsed, 3),
                          kind=kind, schedule=schedule, replay=replay_command(command, schedule),
                          seconds_to_report=round(time.monotonic() - started, 3))
            break

    if dfs is not None:
        result["bound"] = min(dfs.bound, args.depth)
        result["exhausted"] = failure is None and dfs.next_prefix() is None
    result["explored"] = result["decisions"] > 0  # an ordering was decided in some run
    if args.json:
        try:
            with open(args.json, "w", encoding="utf-8") as f:
                json.dump(result, f, indent=1)
                f.write("\n")
        except OSError as e:
            raise UsageError(f"cannot write --json {args.json}: {e.strerror}") from None
    if failure is None:
        what = f"no failure of kind {args.until}" if args.until else "no failure"
        if others:
            what += " (other kinds: " + ", ".join(f"{k} x{n}" for k, n in others.items()) + ")"
        runs_done = f"{result['runs']} run{'s' if result['runs'] != 1 else ''} ({strategy})"
        if result["decisions"] == 0:
            # nothing was explored: a clean result would be a false one about ordering
            print(f"lifeguard: explore: {runs_done}, {what}, but no ordering was explored: the "
                  "program made no scheduling decision (never two threads ready to run at "
                  "once), so this says nothing about the order of its threads",
                  file=sys.stderr)
            return 0
        if dfs is not None:
            if result["exhausted"]:
                what += (f"; every schedule explored ({result['schedules']})" if not dfs.cut
                         else f"; every schedule with at most {args.depth} preemption"
                              f"{'s' if args.depth != 1 else ''} explored "
                              f"({result['schedules']})")
            else:
                what += (f"; not exhaustive: stopped in bound {result['bound']} "
                         f"({result['schedules']} schedules)")
            if dfs.nondeterminism:
                what += (f"; {dfs.nondeterminism} run(s) left their prefix (the program is "
                         "not deterministic under control)")
        print(f"lifeguard: explore: {runs_done}, {what}", file=sys.stderr)
        return 0
    kind, stderr, out, diverged, note = failure
    tail = stderr.splitlines()[-TAIL_LINES:]
    sys.stderr.write("\n".join(tail) + ("\n" if tail else ""))
    if note:
        print(f"lifeguard: explore: warning: {note}", file=sys.stderr)
    print(f"lifeguard: explore: {command[0]}: {kind} in run {result['runs_to_first']} "
          f"({strategy}, {result['seconds_to_first']:.2f} s)", file=sys.stderr)
    if result["schedule"] == "lgs1:":
        print("lifeguard: explore: note: the failing run made no scheduling decision (its "
              "failure does not depend on the order of threads)", file=sys.stderr)
    if diverged is not None:
        print(f"lifeguard: explore: warning: the run left the schedule at decision {diverged} "
              "(the program is not deterministic under control there)", file=sys.stderr)
    print(f"schedule: {result['schedule']}")
    print(f"replay: {result['replay']}")
    return 1
