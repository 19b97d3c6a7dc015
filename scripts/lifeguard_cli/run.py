"""Running scenario programs: one process (run_scenario) and one matrix row N times (run_row).

Each run is a fresh process with the config's environment, a JSON report log of its own
(LIFEGUARD_OPTIONS=log_json=PATH), stdout and stderr captured together in the order they were
written, and a timeout after which the whole process group is killed. The report stacks come
from the JSON log, or from AddressSanitizer's text report (classify.report_records).
"""

import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import classify
from .errors import UsageError
from .paths import display, program_path

# How long one scenario process may run before it is killed as a hang. The slowest runs (an
# exhaustive search, a 1,000-schedule PCT search) take 10-20 s alone and three times that on
# two cores shared with the other build tree's tests.
DEFAULT_TIMEOUT = 180.0

# The variant decides which fault switches are on; a switch inherited from the caller's shell
# would make a `fixed` run buggy and the matrix meaningless.
_DROPPED_ENV = ("LIFEGUARD_FAULTS",)


@dataclass
class RunResult:
    """One process: how it ended, what it printed, what it logged."""

    argv: list
    returncode: int
    output: str
    timed_out: bool
    seconds: float
    records: list = field(default_factory=list)  # reports with stacks (classify.report_records)
    log_problems: list = field(default_factory=list)  # log lines that were not reports

    @property
    def kind(self):
        return classify.outcome(self.output, self.returncode, self.timed_out)


def run_env(config_env, log_path, base=None):
    """The environment of a run: `base` (default os.environ) with `config_env` merged in and
    log_json=`log_path` appended to LIFEGUARD_OPTIONS (':'-separated)."""
    env = dict(os.environ if base is None else base)
    for name in _DROPPED_ENV:
        env.pop(name, None)
    env.update(config_env)
    options = env.get("LIFEGUARD_OPTIONS")
    env["LIFEGUARD_OPTIONS"] = f"{options}:log_json={log_path}" if options else f"log_json={log_path}"
    return env


def run_process(argv, env, timeout=DEFAULT_TIMEOUT):
    """Run `argv` to completion or until `timeout` seconds, then kill its process group.
    Returns (returncode, output, timed_out, seconds). Raises UsageError when it cannot start."""
    start = time.monotonic()
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)
    except OSError as e:
        raise UsageError(f"cannot run {display(argv[0])}: {e.strerror}") from None
    out, _, timed_out = communicate_bounded(proc, timeout)
    seconds = time.monotonic() - start
    return proc.returncode, out.decode("utf-8", errors="replace"), timed_out, seconds


def communicate_bounded(proc, timeout):
    """proc.communicate() within `timeout` seconds; past it the process group (started with
    start_new_session=True) is killed and what it wrote is still collected. Returns
    (stdout, stderr, timed_out)."""
    try:
        out, err = proc.communicate(timeout=timeout)
        return out, err, False
    except subprocess.TimeoutExpired:
        kill_group(proc)
        out, err = proc.communicate()
        return out, err, True
    except BaseException:
        kill_group(proc)
        proc.wait()
        raise


def kill_group(proc):
    """SIGKILL the process group of `proc` (started with start_new_session=True)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run_scenario(binary, scenario, variant, config_env, iterations=1, timeout=DEFAULT_TIMEOUT,
                 extra_args=()):
    """Run one scenario of the program at `binary` once, in a fresh process. `extra_args`
    may give its own --iterations (a manifest search), which then replaces `iterations`."""
    count = [] if "--iterations" in extra_args else ["--iterations", str(iterations)]
    argv = [str(binary), "--scenario", scenario, "--variant", variant, *count, *extra_args]
    with tempfile.TemporaryDirectory(prefix="lifeguard-run-") as tmp:
        log_path = Path(tmp) / "report.jsonl"
        returncode, output, timed_out, seconds = run_process(
            argv, run_env(config_env, log_path), timeout)
        records, problems = classify.read_log(log_path)
    # the stacks of an AddressSanitizer report are in its text, not in the JSON log
    records = classify.report_records(output, records)
    return RunResult(argv, returncode, output, timed_out, seconds, records, problems)


@dataclass
class RowResult:
    """A matrix row run `len(runs)` times; ok only when every run matched the expectation."""

    row: object  # manifest.Row
    runs: list  # RunResult per process
    observations: list  # classify.observed() per run

    @property
    def matched(self):
        return sum(1 for o in self.observations if o == self.row.expected)

    @property
    def ok(self):
        return self.matched == len(self.runs)

    @property
    def observed(self):
        """The one observation of every run, or each distinct one with its count."""
        counts = {}
        for o in self.observations:
            counts[o] = counts.get(o, 0) + 1
        if len(counts) == 1:
            return self.observations[0]
        return ", ".join(f"{o} x{n}" for o, n in counts.items())

    @property
    def seconds(self):
        return sum(r.seconds for r in self.runs)

    @property
    def telling_run(self):
        """The run worth showing: the first that did not match, else the first."""
        for run, o in zip(self.runs, self.observations):
            if o != self.row.expected:
                return run
        return self.runs[0]

    def report(self, limit=12):
        """The first lines of the telling run's report (or of its output's tail)."""
        run = self.telling_run
        lines = classify.report_excerpt(run.output, limit)
        if not lines:
            ended = "timed out" if run.timed_out else f"exit status {run.returncode}"
            lines = [f"(no output; {ended})"]
        return lines

    def to_json(self):
        row = self.row
        return {
            "scenario": row.scenario.name,
            "class": row.scenario.cls,
            "program": row.scenario.program,
            "variant": row.variant,
            "config": row.config.name,
            "expected": row.expected,
            "observed": self.observed,
            "ok": self.ok,
            "runs": len(self.runs),
            "matched": self.matched,
            "seconds": round(self.seconds, 3),
            "report": self.report(),
            "faults": list(row.scenario.faults),
        }


def row_binary(row, build_root):
    """Where the program of `row` is, as built by the row's config."""
    return program_path(build_root, row.config.preset, row.scenario.program)


def run_row(row, build_root, runs=1, timeout=DEFAULT_TIMEOUT, seeds=False):
    """Run a manifest row `runs` times (a fresh process each) and classify every run. Each
    run is the row's search (its manifest `search`, else one execution); with `seeds`, run
    i is instead one execution of random schedule i + 1 (many processes, many schedules,
    without repeating a seeded search that gives the same answer in every process)."""
    binary = row_binary(row, build_root)
    results, observations = [], []
    for i in range(runs):
        args = ["--iterations", "1", "--seed", str(i + 1)] if seeds else row.scenario.run_args
        result = run_scenario(binary, row.scenario.name, row.variant, row.config.env,
                              timeout=timeout, extra_args=args)
        results.append(result)
        observations.append(classify.observed(
            result.output, result.returncode, result.timed_out, expected=row.expected,
            frames=row.frames, records=result.records, log_problems=result.log_problems))
    return RowResult(row, results, observations)
