"""`lifeguard nightly`: fuzz every target for a shared time budget in libFuzzer's fork mode,
keep a working corpus and every crash input in an out directory, deduplicate, minimize and
symbolize the crashes, write the new ones as candidate regressions, and write summary.json,
junit.xml, results.sarif and report.html; on request (--merge-back, --merge-only) merge the
working corpus into corpora/ atomically. Safe to kill at any moment and run again with the
same --out."""

import concurrent.futures
import datetime
import os
import re
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

from . import argtypes, nightly_corpus, nightly_crashes, nightly_report
from .build import ensure_built, require_built
from .errors import UsageError
from .fuzz import (DEFAULT_TIMEOUT, FUZZ_DIR, OWN_FLAGS, PRESET, fuzz_env,
                   read_options, resolve_target, run_libfuzzer)
from .nightly_state import State, check_out_dir, take_lock
from .paths import DEFAULT_BUILD_ROOT, REPO_ROOT, display, preset_dir

NAME = "nightly"
SUMMARY = "fuzz every target for a shared budget (fork mode); dedup, minimize, report"
DEFAULT_TARGETS = ("double_close", "pipe_disconnect", "module_unload", "gc_async", "sched_string")
PROGRESS_INTERVAL = 10.0
_NIGHTLY_FLAGS = OWN_FLAGS + ("fork", "ignore_crashes", "jobs", "workers", "runs")
# fork mode's status line: `#N: cov: C ft: F corp: K exec/s E oom/timeout/crash: a/b/c time: Ts ...`
_FORK_STATUS_RE = re.compile(r"^#(\d+): cov: (\d+) ft: (\d+) corp: (\d+) exec/s \d+ "
                             r"oom/timeout/crash: (\d+)/(\d+)/(\d+) time: (\d+)s")
_ERROR_RE = re.compile(r"^==\d+==\s?ERROR: |: runtime error: ")
# the harness refusing its input (LIFEGUARD_FAULTS, LIFEGUARD_OPTIONS): exit 2, one line
_HARNESS_ERROR_RE = re.compile(r"^lifeguard: error: (.*\S)")

DESCRIPTION = f"""\
Fuzz each target in turn with the libFuzzer binary build/asan/fuzz/TARGET_fuzz in fork mode
(-fork=JOBS -ignore_crashes=1, so one crash does not end the run), sharing --budget seconds
between them: each target gets the budget left divided by the targets left, of which about a
quarter is kept for its crashes and its merge. Default targets (--targets):
  {', '.join(DEFAULT_TARGETS)}
and sched_uaf, whose planted race crashes by design, only when named.

Everything lives in the out directory DIR:
  corpus/TARGET/      the working corpus (libFuzzer writes new entries here); the fuzzer also
                      reads CORPORA/TARGET/ and DIR/seeds/TARGET/ (the regression inputs)
  artifacts/TARGET/   every crash-/timeout-/oom- input libFuzzer wrote
  minimized/TARGET/   one minimized input per unique crash
  candidates/TARGET/  NAME + NAME.json for each new unique crash: a candidate regression in
                      the format of corpora/regressions/ (copy it there to keep it)
  state.json          what was done (replaced atomically); logs/ libFuzzer's output
  summary.json junit.xml results.sarif report.html (plots/ holds its PNGs)

A crash is replayed once (symbolized, ASAN_OPTIONS=dedup_token_length=3) and keyed by its
SUMMARY line plus the dedup token of its first stack; a key is new unless a regression of
CORPORA/regressions/TARGET/ has the same key (from its sidecar's summary and dedup_token, or
by replaying it as the gate does). One input per key is minimized (-minimize_crash=1,
bounded) and replayed again.

CORPORA (which must exist) is only read unless asked: --merge-only merges the working
corpora of a finished or killed run and fuzzes nothing (`make nightly-merge`); --merge-back
merges after each target, and first of all for work a killed run left. A merge runs
-set_cover_merge=1 into a fresh directory beside CORPORA/TARGET/ that is then swapped in
with one rename(2): a crash mid-merge leaves the old corpus intact.

Kill it at any moment and run it again with the same --out: the corpus and the crash inputs
are libFuzzer's own files, the rest is in state.json, and the rerun first kills a libFuzzer
the killed run left behind and classifies the leftover crashes (with --merge-back, it also
merges the leftover corpus)."""

EPILOG = """\
summary.json: {budget, seconds, targets: {TARGET: {execs, exec_per_sec, seconds, runs,
  crashes (unique), new_crashes, crash_inputs, unclassified, timeouts, ooms,
  seconds_to_first_crash, coverage [[s, cov]], corpus_size [[s, n]], corpus_entries,
  merged_back}}, findings: [{target, kind, tool, summary, dedup_token, key, new,
  regression, inputs, first_input, minimized, candidate, frame {file, line, function},
  schedule, report}]}
junit.xml: one testsuite, one testcase per target, a <failure> per new unique crash.
results.sarif: SARIF 2.1.0, one result per unique crash (ruleId = fault kind; level error
  when new, note when a regression has it), located at its top frame in the repository.

exit status: 0 no new crash; 1 new crashes (candidates written), a fuzzer killed from
outside or a build failed; 2 bad input (unknown target or fault switch, budget <= 0, --out
not a directory, --corpora missing, a fuzzer that cannot run).

examples:
  scripts/lifeguard nightly --budget 3600 --out build/nightly
  scripts/lifeguard nightly --budget 300 --jobs 2 --targets double_close,gc_async --out /tmp/n
  scripts/lifeguard nightly --budget 60 --targets double_close --fault socket-close-in-drop \\
      --out /tmp/n
  scripts/lifeguard nightly --merge-only --out build/nightly
  make nightly NIGHTLY_BUDGET=600"""


def add_arguments(parser):
    parser.add_argument("--budget", type=argtypes.positive_whole_seconds,
                        metavar="SECONDS", help="the whole run's time, shared by the targets "
                                                "(required unless --merge-only)")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR",
                        help="the out directory (created; reuse it to continue a run)")
    parser.add_argument("--jobs", type=argtypes.positive_int,
                        default=os.cpu_count() or 1, metavar="N",
                        help="libFuzzer's -fork=N: fuzzing processes at once (default: the cores, "
                             f"{os.cpu_count() or 1})")
    parser.add_argument("--targets", metavar="T,...",
                        help=f"comma-separated fuzz targets (default {','.join(DEFAULT_TARGETS)})")
    parser.add_argument("--fault", dest="faults", action="append", default=[], metavar="NAME",
                        help="turn on this fault switch (LIFEGUARD_FAULTS; repeatable)")
    parser.add_argument("--inject", type=argtypes.non_negative_int, default=0, metavar="N",
                        help="failure injection: at most N injected failures per execution "
                             "(LIFEGUARD_OPTIONS inject_max=N; default 0: off)")
    parser.add_argument("--corpora", type=Path, default=REPO_ROOT / "corpora", metavar="DIR",
                        help="the corpora: seeds in DIR/TARGET/, regressions in "
                             "DIR/regressions/TARGET/ (default corpora/)")
    merge = parser.add_mutually_exclusive_group()
    merge.add_argument("--merge-back", action="store_true",
                       help="after each target, merge the working corpus into the corpora "
                            "(default: the corpora are only read)")
    merge.add_argument("--no-merge-back", dest="merge_back", action="store_false",
                       help="do not merge the working corpus into the corpora (the default)")
    merge.add_argument("--merge-only", action="store_true",
                       help="fuzz nothing: merge the working corpora of --out (a finished or "
                            "killed run) into the corpora, and exit")
    parser.add_argument("--progress", type=argtypes.positive_seconds,
                        default=PROGRESS_INTERVAL, metavar="S",
                        help=f"seconds between progress lines (default {PROGRESS_INTERVAL:g})")
    parser.add_argument("--no-build", action="store_true",
                        help="do not configure or build; use the binaries as they are")
    parser.add_argument("--build-dir", type=Path, default=DEFAULT_BUILD_ROOT, metavar="DIR",
                        help="root of the build trees (default build/)")


def parse_targets(text):
    """The --targets list resolved to target names (UsageError for an unknown one)."""
    if text is None:
        return list(DEFAULT_TARGETS)
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise UsageError("--targets: no target named")
    return list(dict.fromkeys(resolve_target(t) for t in names))


class Nightly:
    """One nightly run over an out directory."""

    def __init__(self, args, targets, out, state):
        self.args, self.targets, self.out, self.state = args, targets, out, state
        self.build_root = args.build_dir.resolve()
        self.corpora = args.corpora.resolve()
        self.fault = ",".join(dict.fromkeys(args.faults)) or None
        self.day = datetime.date.today().isoformat()
        self.regression_cache = {}
        self.failures = []  # "TARGET: what went wrong" for each fuzzer that did not finish

    # ---- per target set-up -------------------------------------------------------------

    def binary(self, target):
        """The target's libFuzzer binary in the asan tree."""
        return preset_dir(self.build_root, PRESET) / "fuzz" / f"{target}_fuzz"

    def options(self, target):
        """(libFuzzer flags from fuzz/TARGET.options, sanitizer env) for the target."""
        path = FUZZ_DIR / f"{target}.options"
        flags, sanitizers = read_options(path) if path.is_file() else ({}, {})
        flags = {k: v for k, v in flags.items() if k not in _NIGHTLY_FLAGS}
        if "dict" in flags:
            flags["dict"] = str((path.parent / flags["dict"]).resolve())
        elif (FUZZ_DIR / f"{target}.dict").is_file():
            flags["dict"] = str(FUZZ_DIR / f"{target}.dict")
        return flags, sanitizers

    def env(self, target):
        """The environment of every process run for `target`."""
        _, sanitizers = self.options(target)
        env, _ = fuzz_env(self.args.faults, None, sanitizers, inject=self.args.inject)
        env["TMPDIR"] = str(self.out.tmp)
        return env

    def timeout(self, target):
        """libFuzzer's -timeout for the target: its .options file's, else the default."""
        flags, _ = self.options(target)
        return int(flags.get("timeout") or DEFAULT_TIMEOUT)

    def child(self, proc):
        """on_start of every long child process: record it, so a rerun can kill it."""
        self.state.set_child(proc)

    # ---- fuzzing -------------------------------------------------------------------------

    def fuzz(self, target, seconds):
        """Fuzz `target` for `seconds` in fork mode, recording its progress in the state."""
        ts = self.state.target(target)
        work, seeds = self.out.corpus(target), self.out.seeds(target)
        work.mkdir(parents=True, exist_ok=True)
        nightly_corpus.seed_regressions(self.corpora / "regressions" / target, seeds)
        artifacts = self.out.artifacts(target)
        artifacts.mkdir(parents=True, exist_ok=True)
        flags, _ = self.options(target)
        flags.update(fork=self.args.jobs, ignore_crashes=1, max_total_time=seconds,
                     timeout=self.timeout(target), artifact_prefix=f"{artifacts}/")
        dirs = [work] + [d for d in (self.corpora / target, seeds) if nightly_corpus.input_files(d)]
        self.preflight(target, dirs)
        argv = [self.binary(target), *(f"-{k}={v}" for k, v in flags.items()), *dirs]
        run = {"started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "fault": self.fault, "budget": seconds, "seconds": 0.0, "execs": 0, "cov": 0,
               "ft": 0, "corpus": 0, "crashes": 0, "timeouts": 0, "ooms": 0,
               "first_crash_seconds": None, "series": [], "complete": False, "failure": None}
        with self.state.lock:
            ts.update(fault=self.fault, pending=True, merge_pending=True)
            ts["runs"].append(run)
        self.state.save()
        stop = threading.Event()
        start = time.monotonic()
        ticker = threading.Thread(target=self._tick, args=(target, run, seconds, start, stop),
                                  daemon=True)
        ticker.start()
        log = self.out.logs() / f"{target}-{len(ts['runs'])}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        refused = []  # the harness's own `lifeguard: error:` lines (a bad --fault)
        try:
            result = run_libfuzzer(argv, nightly_crashes.quiet_env(self.env(target)),
                                   cwd=self.out.tmp, timeout=seconds + 30 + self.timeout(target),
                                   log_path=log,
                                   on_line=lambda line, s: self._line(run, line, s, refused),
                                   on_start=self.child)
        finally:
            stop.set()
            ticker.join()
        if refused:
            raise UsageError(f"{target}: {refused[0]}")
        with self.state.lock:
            run["seconds"] = round(time.monotonic() - start, 3)
            run["complete"] = True
            if run["series"]:  # the end of the run: the last figures at its last second
                run["series"].append([run["seconds"], *run["series"][-1][1:]])
            self.state.data["child"] = None
        self.state.save()
        failure = stopped_how(result, seconds)
        if not failure and result.returncode != 0 and \
                not nightly_crashes.crash_inputs(artifacts) and not run["series"]:
            raise UsageError(f"{display(argv[0])} stopped with exit status "
                             f"{result.returncode} before fuzzing: see {display(log)}")
        if failure:
            run["failure"] = failure
            self.failures.append(f"{target}: libFuzzer {failure}; its figures are partial "
                                 f"(log {display(log)})")
            self.state.save()
        self.progress(target, run, seconds, run["seconds"], final=failure or "done")

    def preflight(self, target, dirs):
        """Run the target once over its inputs (-runs=0) with the run's environment: the
        harness refuses a bad LIFEGUARD_FAULTS or LIFEGUARD_OPTIONS there with one line and
        exit 2, before any time is spent; fork mode would only count its jobs' exits."""
        result = run_libfuzzer([self.binary(target), "-runs=0",
                                f"-timeout={self.timeout(target)}", *dirs],
                               nightly_crashes.quiet_env(self.env(target)), cwd=self.out.tmp,
                               timeout=120 + self.timeout(target), on_start=self.child)
        self.state.set_child(None)
        for line in result.tail:
            if match := _HARNESS_ERROR_RE.match(line):
                raise UsageError(f"{target}: {match.group(1)}")

    def _line(self, run, line, seconds, refused):
        """Read one line of fork mode's output into the run record."""
        if match := _HARNESS_ERROR_RE.match(line):
            refused.append(match.group(1))
        elif match := _FORK_STATUS_RE.match(line):
            execs, cov, ft, corp, ooms, timeouts, crashes, _ = map(int, match.groups())
            with self.state.lock:
                run.update(execs=execs, cov=cov, ft=ft, corpus=corp, ooms=ooms,
                           timeouts=timeouts, crashes=crashes, seconds=round(seconds, 3))
                if crashes and run["first_crash_seconds"] is None:
                    run["first_crash_seconds"] = round(seconds, 3)
                series = run["series"]
                if not series or seconds - series[-1][0] >= 1.0:
                    series.append([round(seconds, 2), execs, cov, corp, crashes])
                else:
                    series[-1] = [series[-1][0], execs, cov, corp, crashes]
        elif _ERROR_RE.search(line):
            with self.state.lock:
                if run["first_crash_seconds"] is None:
                    run["first_crash_seconds"] = round(seconds, 3)

    def _tick(self, target, run, budget, start, stop):
        """Every --progress seconds: a progress line and the state saved."""
        while not stop.wait(self.args.progress):
            self.progress(target, run, budget, time.monotonic() - start)
            self.state.save()

    def progress(self, target, run, budget, elapsed, final=None):
        """One line: target, seconds (of the budget; past it, how far), execs, exec/s,
        coverage, corpus, crash inputs (the files summary.json's crash_inputs counts), and
        `final` in parentheses at the end of the run (done, or how it was stopped)."""
        inputs = len(nightly_crashes.crash_inputs(self.out.artifacts(target)))
        with self.state.lock:
            rate = run["execs"] / run["seconds"] if run["seconds"] else 0.0
            whole = round(elapsed)
            when = (f"{whole:6}/{budget} s" if whole <= budget else
                    f"{budget:6}/{budget} s +{whole - budget} s finishing")
            line = (f"nightly: {target:<16} {when}  "
                    f"execs {run['execs']:>10,}  {rate:8,.0f}/s  cov {run['cov']:>5}  "
                    f"corpus {run['corpus']:>5}  crash inputs {inputs}")
        print(line + (f"  ({final})" if final else ""), flush=True)

    # ---- after fuzzing ---------------------------------------------------------------------

    def post_process(self, target, deadline):
        """Classify the crash inputs not classified yet (until `deadline`, monotonic), minimize
        and write the new unique crashes as candidates, and merge the corpus back."""
        ts = self.state.target(target)
        if not self.binary(target).is_file():
            return
        self.same_build(ts, self.binary(target))
        self.classify(target, ts, deadline)
        if ts["findings"]:
            self.candidates(target, ts, deadline)
        if ts.get("merge_pending") and self.args.merge_back:
            self.merge(target, ts)
        with self.state.lock:
            ts["pending"] = bool(self.unclassified(target, ts))
        self.state.save()

    @staticmethod
    def same_build(ts, binary):
        """Forget the raw keys (module offsets) and regression keys (line numbers) of an older
        build of `binary`: they hold for one build only."""
        info = binary.stat()
        stamp = [info.st_mtime_ns, info.st_size]
        if ts.get("build") != stamp:
            ts.update(build=stamp, raw_keys={}, regression_keys={})

    def unclassified(self, target, ts):
        """The crash inputs of `target` not replayed yet, oldest first."""
        return [p for p in nightly_crashes.crash_inputs(self.out.artifacts(target))
                if p.name not in ts["classified"]]

    def classify(self, target, ts, deadline):
        """Key each unclassified crash input; a raw key seen first is replayed symbolized."""
        binary, env, timeout = self.binary(target), self.env(target), self.timeout(target)
        raw_keys = ts.setdefault("raw_keys", {})
        for index, (path, raw) in enumerate(self._raw_keys(target, ts, deadline)):
            crash = None
            if raw is not None and raw not in raw_keys:
                crash = nightly_crashes.replay(binary, path, env, self.out.tmp, timeout,
                                               on_start=self.child)
                raw_keys[raw] = crash.key if crash else None
            key = raw_keys.get(raw) if raw is not None else None
            with self.state.lock:
                ts["classified"][path.name] = key
                if crash is not None:
                    ts["findings"].setdefault(key, {
                        **nightly_crashes.to_dict(crash), "key": key, "inputs": 0,
                        "first_input": path.name, "minimized": None, "candidate": None})
                if key is not None:
                    ts["findings"][key]["inputs"] += 1
                self.state.data["child"] = None
            if index % 10 == 9:
                self.state.save()
        self.state.save()

    def _raw_keys(self, target, ts, deadline):
        """(crash input, raw key) of the unclassified inputs, replayed --jobs at a time until
        `deadline` (the first batch always runs); the rest stays for the next run."""
        binary, env, timeout = self.binary(target), self.env(target), self.timeout(target)
        todo = self.unclassified(target, ts)
        jobs = max(1, self.args.jobs)
        with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
            for start in range(0, len(todo), jobs):
                if start and time.monotonic() > deadline:
                    return
                batch = todo[start:start + jobs]
                keys = pool.map(lambda p: nightly_crashes.raw_key(binary, p, env, self.out.tmp,
                                                                  timeout), batch)
                yield from zip(batch, list(keys))

    def known(self, target):
        """{dedup key: regression name} of the target's regressions (cached per run)."""
        if target not in self.regression_cache:
            self.regression_cache[target] = nightly_crashes.regression_keys(
                self.corpora / "regressions" / target, self.binary(target), self.env(target),
                self.out.tmp, self.timeout(target), ts_cache(self.state.target(target)),
                on_start=self.child)
            self.state.set_child(None)
        return self.regression_cache[target]

    def candidates(self, target, ts, deadline):
        """Minimize each unique crash once and write the new ones as candidates."""
        known = self.known(target)
        binary, env, timeout = self.binary(target), self.env(target), self.timeout(target)
        for key, finding in list(ts["findings"].items()):
            finding["regression"] = known.get(key)
            if finding["regression"] or finding.get("candidate"):
                continue
            source = self.out.artifacts(target) / finding["first_input"]
            if not source.is_file():
                continue
            left = [f for f in ts["findings"].values()
                    if not f.get("regression") and not f.get("candidate")]
            seconds = min(60.0, max(2.0, (deadline - time.monotonic()) / max(1, len(left))))
            dest = self.out.minimized(target) / nightly_crashes.candidate_name(
                finding["kind"], source.read_bytes())
            crash = None
            if nightly_crashes.minimize(binary, source, dest, env, self.out.tmp, seconds,
                                        timeout, on_start=self.child):
                again = nightly_crashes.replay(binary, dest, env, self.out.tmp, timeout,
                                               on_start=self.child)
                if again is not None and again.key == key:
                    crash, source = again, dest
                    finding["minimized"] = str(dest.relative_to(self.out.root))
            if crash is None:
                crash = nightly_crashes.Crash(**{k: finding[k] for k in (
                    "tool", "kind", "summary", "token", "frame", "report", "schedule")})
            options = f"inject_max={self.args.inject}" if self.args.inject else None
            path = nightly_crashes.write_candidate(self.out.candidates(target), source, crash,
                                                   self.fault, target, self.day, options)
            with self.state.lock:
                finding.update(frame=crash.frame or finding.get("frame"), report=crash.report,
                               candidate=str(path.relative_to(self.out.root)))
                self.state.data["child"] = None
            self.state.save()

    def merge(self, target, ts):
        """Merge the working corpus back into CORPORA/TARGET/ (atomically)."""
        binary, env = self.binary(target), self.env(target)

        def run_merge(new, working):
            result = run_libfuzzer([binary, "-set_cover_merge=1",
                                    f"-timeout={self.timeout(target)}", new, working], env,
                                   self.out.tmp, timeout=600, on_start=self.child)
            self.state.set_child(None)
            return result.returncode == 0 and not result.killed

        added = nightly_corpus.merge_back(self.corpora, target, self.out.corpus(target), run_merge)
        with self.state.lock:
            ts["merge_pending"] = False
            ts["merged_back"] = ts.get("merged_back", 0) + len(added)
        print(f"nightly: {target}: merged {len(added)} new inputs into "
              f"{display(self.corpora / target)}", flush=True)

    # ---- the whole run ---------------------------------------------------------------------

    def run(self):
        """Leftover work, then each target in turn, then the reports; the exit status."""
        start = time.monotonic()
        deadline = start + self.args.budget
        self.out.tmp.mkdir(parents=True, exist_ok=True)
        leftover = self.state.kill_leftover_child()
        if leftover:
            print(f"nightly: killed the libFuzzer process group {leftover} a killed run left",
                  flush=True)
        for path in self.out.tmp.glob("libFuzzerTemp.*"):  # a killed fork run's job files
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink()
        for target, ts in list(self.state.data["targets"].items()):
            if ts.get("pending") or (ts.get("merge_pending") and self.args.merge_back):
                print(f"nightly: {target}: finishing the work a previous run left", flush=True)
                self.post_process(target, time.monotonic() + 60)
        for index, target in enumerate(self.targets):
            left = max(0.0, deadline - time.monotonic())
            share = left / (len(self.targets) - index)
            reserve = min(300.0, max(5.0, share * 0.25))
            seconds = max(1, int(share - reserve))
            self.fuzz(target, seconds)
            self.post_process(target, time.monotonic() + reserve)
        for target, ts in self.state.data["targets"].items():
            if ts["findings"] and target not in self.regression_cache \
                    and self.binary(target).is_file():
                self.same_build(ts, self.binary(target))
                known = self.known(target)
                for key, finding in ts["findings"].items():
                    finding["regression"] = known.get(key)
        self.state.save()
        summary = nightly_report.write_all(self.out, self.state.data, self.args.budget,
                                           time.monotonic() - start)
        nightly_report.print_summary(summary, self.out, sys.stdout)
        for failure in self.failures:
            print(f"nightly: FAILED: {failure}", flush=True)
        return 1 if self.failures or any(f["new"] for f in summary["findings"]) else 0

    def merge_only(self):
        """--merge-only: merge each target's working corpus into the corpora; no fuzzing."""
        merged = 0
        for target in self.targets:
            if not nightly_corpus.input_files(self.out.corpus(target)):
                print(f"nightly: {target}: no working corpus in {display(self.out.corpus(target))}",
                      flush=True)
                continue
            if not self.binary(target).is_file():
                raise UsageError(f"--merge-only {target}: {display(self.binary(target))} is "
                                 "not built")
            self.merge(target, self.state.target(target))
            merged += 1
        self.state.save()
        if not merged:
            raise UsageError(f"--merge-only: {display(self.out.root)} has no working corpus "
                             "of the targets")
        return 0


def stopped_how(result, seconds):
    """How a fork-mode libFuzzer that did not finish its run was stopped, or None: killed
    by us past its time, or by a signal from outside (the OOM killer, a `kill -9`)."""
    if result.killed:
        return f"did not end {result.seconds - seconds:.0f} s after its {seconds} s: killed"
    if result.returncode is not None and result.returncode < 0:
        try:
            name = signal.Signals(-result.returncode).name
        except ValueError:
            name = f"signal {-result.returncode}"
        return f"killed by {name}"
    return None


def _terminated(signum, frame):
    """SIGTERM (a CI job cancelled) unwinds like Ctrl-C: the running libFuzzer's process
    group is killed on the way out (run_libfuzzer), and a rerun continues."""
    raise KeyboardInterrupt


def ts_cache(ts):
    """The target state's cache of regression keys."""
    return ts.setdefault("regression_keys", {})


def run(args):
    """Entry point of `lifeguard nightly`."""
    if args.budget is None and not args.merge_only:
        raise UsageError("the following arguments are required: --budget (see 'lifeguard "
                         "nightly --help')")
    if args.merge_only and args.budget is not None:
        raise UsageError("--merge-only fuzzes nothing: drop --budget")
    args.merge_back = args.merge_back or args.merge_only
    targets = parse_targets(args.targets)
    if not args.corpora.is_dir():
        raise UsageError(f"--corpora {display(args.corpora)}: "
                         f"{'not a directory' if args.corpora.exists() else 'no such directory'}")
    if args.merge_only and not args.out.is_dir():
        raise UsageError(f"--merge-only: --out {display(args.out)} is not a nightly out directory")
    out = check_out_dir(args.out)
    lock = take_lock(out)
    signal.signal(signal.SIGTERM, _terminated)
    try:
        state = State(out)
        build_root = args.build_dir.resolve()
        if not args.no_build:
            ensure_built([PRESET], build_root)
        for target in targets:
            require_built(preset_dir(build_root, PRESET) / "fuzz" / f"{target}_fuzz", PRESET,
                          build_root, args.no_build, needed_by=f"nightly {target}")
        nightly = Nightly(args, targets, out, state)
        return nightly.merge_only() if args.merge_only else nightly.run()
    finally:
        lock.close()
