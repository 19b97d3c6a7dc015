"""From what a run printed to what it means: the observed outcome of one scenario run.

A run is judged by what the detectors said, not by its exit status alone. The first
`SUMMARY: <tool>: <kind>` line names the kind; without one, the exit status decides:
0 is `clean`, death by a signal is `crash:SIGNAME`, anything else is `exit:N`, and a run
that had to be killed is `timeout`. For lifeguard's own reports the JSON-lines log says
where the fault happened, and a row can also demand the top frame of named stacks.
"""

import json
import re
import signal

from .kinds import CLEAN

TOOLS = ("lifeguard", "AddressSanitizer", "UndefinedBehaviorSanitizer", "LeakSanitizer",
         "ThreadSanitizer")

SUMMARY_RE = re.compile(r"^SUMMARY: (" + "|".join(TOOLS) + r"): (\S+)(.*)$", re.MULTILINE)

# `SUMMARY: AddressSanitizer: 123 byte(s) leaked in 1 allocation(s).` (LeakSanitizer alike)
_LEAK_RE = re.compile(r"^\d+ byte\(s\) leaked")

# ThreadSanitizer names some kinds in words: `SUMMARY: ThreadSanitizer: data race f.c:3 in g`.
_TSAN_PHRASES = {
    "data race": "data-race",
    "thread leak": "thread-leak",
    "lock-order-inversion": "lock-order-inversion",
    "signal-unsafe call": "signal-unsafe-call",
    "signal handler spoils errno": "signal-handler-spoils-errno",
    "destroy of a locked mutex": "destroy-of-locked-mutex",
    "unlock of an unlocked mutex": "unlock-of-unlocked-mutex",
}

# Where a report starts, for the excerpt shown under a failed row.
_REPORT_START = re.compile(r"^==\d+==ERROR: |: runtime error: |^WARNING: ThreadSanitizer: ")

TIMEOUT = "timeout"


def summary(output):
    """The first SUMMARY line of a detector as (tool, kind, line), or None."""
    match = SUMMARY_RE.search(output)
    if match is None:
        return None
    tool, word, rest = match.groups()
    text = word + rest
    kind = word
    if _LEAK_RE.match(text):
        kind = "leak"
    elif tool == "ThreadSanitizer":
        for phrase, name in _TSAN_PHRASES.items():
            if text.startswith(phrase):
                kind = name
                break
    return tool, kind, match.group(0).rstrip()


def outcome(output, returncode, timed_out=False):
    """The observed kind of one run: a SUMMARY kind, `clean`, `crash:SIGNAME`, `exit:N` or
    `timeout`. `returncode` is as subprocess gives it (negative: killed by that signal)."""
    found = summary(output)
    if found is not None:
        return found[1]
    if timed_out:
        return TIMEOUT
    if returncode == 0:
        return CLEAN
    if returncode < 0:
        return f"crash:{_signal_name(-returncode)}"
    return f"exit:{returncode}"


def _signal_name(number):
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"SIG{number}"


def read_log(path):
    """The reports in a JSON-lines log as (records, problems). A record is an object with at
    least a string `kind` and an object `stacks`; other lines are listed in `problems`.
    A missing log is no records and no problems (a clean run writes nothing)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return [], []
    records, problems = [], []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            problems.append(f"log line {number} is not JSON ({e.msg})")
            continue
        if not isinstance(record, dict) or not isinstance(record.get("kind"), str) \
                or not isinstance(record.get("stacks"), dict):
            problems.append(f"log line {number} lacks a string 'kind' or an object 'stacks'")
            continue
        records.append(record)
    return records, problems


def top_frame(record, stack):
    """The first frame of `stack` in a report record, or None when the stack is absent."""
    frames = record["stacks"].get(stack)
    if not isinstance(frames, list) or not frames or not isinstance(frames[0], dict):
        return None
    return frames[0]


def frames_problem(kind, frames, records, log_problems=()):
    """Why the first JSON report does not blame the expected places, or None when it does.
    `frames` maps a stack name to the function its top frame must be in."""
    if not frames:
        return None
    if not records:
        detail = f" ({'; '.join(log_problems)})" if log_problems else ""
        return f"no JSON report in the log{detail}"
    first = records[0]
    if first["kind"] != kind:
        return f"first JSON report is {first['kind']}, not {kind}"
    problems = []
    for stack, function in frames.items():
        top = top_frame(first, stack)
        if top is None:
            problems.append(f"no {stack} stack")
        elif top.get("function") != function:
            problems.append(f"{stack} top is {top.get('function') or '?'}, expected {function}")
    return "; ".join(problems) or None


def observed(output, returncode, timed_out=False, expected=None, frames=None, records=(),
             log_problems=()):
    """The observed outcome as the matrix shows it: the kind, and when the kind is the
    expected one but the report blames the wrong place, `KIND (wrong frames: ...)`."""
    kind = outcome(output, returncode, timed_out)
    if frames and kind == expected:
        problem = frames_problem(kind, frames, records, log_problems)
        if problem:
            return f"{kind} (wrong frames: {problem})"
    return kind


def report_excerpt(output, limit=12):
    """The first `limit` non-blank lines of the report, from the line that starts it
    (`==PID==ERROR:`, a UBSan `runtime error:`, a TSan warning); without one, the last
    `limit` non-blank lines of the output."""
    lines = [line.rstrip() for line in output.splitlines()]
    for index, line in enumerate(lines):
        if _REPORT_START.search(line):
            return [l for l in lines[index:] if l.strip()][:limit]
    return [l for l in lines if l.strip()][-limit:]
