# SPDX-License-Identifier: MIT
"""From what a run printed to what it means: the observed outcome of one scenario run.

A run is judged by what the detectors said, not by its exit status alone. The first
`SUMMARY: <tool>: <kind>` line names the kind; without one, the exit status decides:
0 is `clean`, death by a signal is `crash:SIGNAME`, anything else is `exit:N`, and a run
that had to be killed is `timeout`. Where the fault happened comes from lifeguard's JSON-lines
log, or from AddressSanitizer's text report (asan_records), and a row can demand the top frame
of named stacks; frames of the sanitizer runtime (`free`, `__interceptor_*`, ...) do not count.
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

# AddressSanitizer's text report. A frame line is `#N 0xPC in FUNCTION FILE:LINE:COL`, or
# `... in FUNCTION (MODULE+0xOFF) (BuildId: ...)`, `in FUNCTION+0xOFF (MODULE+0xOFF)`, or only
# `#N 0xPC  (MODULE+0xOFF)` without `in`.
_ASAN_ERROR_RE = re.compile(r"^==\d+==ERROR: AddressSanitizer: (?:attempting )?(\S+)")
_FRAME_RE = re.compile(r"^\s+#\d+\s+(?:(0x[0-9a-fA-F]+)\s+)?(?:in\s+)?(.*?)\s*$")
_BUILD_ID_RE = re.compile(r"\s*\(BuildId: [0-9a-fA-F]+\)$")
_MODULE_RE = re.compile(r"\s*\(([^()]*)\+(0x[0-9a-fA-F]+)\)$")
_LOCATION_RE = re.compile(r"^(.*?)\s+(\S+?):(\d+)(?::(\d+))?$")
_OFFSET_SUFFIX_RE = re.compile(r"\+0x[0-9a-fA-F]+$")
# The titles of the stacks after the access stack, and the names the frames check knows them by.
_ASAN_STACK_TITLES = (("freed by thread", "free"), ("allocated by thread", "alloc"))  # "previously ..." after a free

# Frames of the sanitizer runtime: never the place a report blames.
_RUNTIME_FUNCTIONS = frozenset((
    "free", "cfree", "malloc", "calloc", "realloc", "reallocarray", "aligned_alloc",
    "posix_memalign", "memalign", "valloc", "pvalloc"))
_RUNTIME_PREFIXES = ("__interceptor_", "___interceptor_", "__asan", "__sanitizer", "__lsan",
                     "__ubsan", "operator delete", "operator new")
_RUNTIME_DIRS = ("/compiler-rt/", "/libsanitizer/")
_RUNTIME_MODULES = ("libclang_rt.", "libasan.", "liblsan.", "libubsan.", "libtsan.")

TIMEOUT = "timeout"


_ASAN_NESTED_RE = re.compile(r"^==\d+==ERROR: AddressSanitizer: (\S+)", re.MULTILINE)


def summary(output):
    """The first SUMMARY line of a detector as (tool, kind, line), or None."""
    match = SUMMARY_RE.search(output)
    if match is None:
        # AddressSanitizer may die inside its own report ("nested bug in the same thread")
        # before the SUMMARY: its ERROR line has already named the kind.
        nested = _ASAN_NESTED_RE.search(output)
        if nested is None or "nested bug in the same thread" not in output:
            return None
        return "AddressSanitizer", nested.group(1), nested.group(0).rstrip()
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


def cut_short(log_path):
    """Reports that began but whose JSON line never came (their process ended first), as
    records {kind, pid, tid, stacks: {}, cut_short: True}. lifeguard writes "begin PID TID
    KIND" to LOG.inflight as a report starts and "end PID TID" once its JSON line is out."""
    try:
        with open(f"{log_path}.inflight", encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return []
    open_reports = {}
    for line in lines:
        words = line.split()
        if len(words) >= 4 and words[0] == "begin" and words[1].isdigit() and words[2].isdigit():
            open_reports.setdefault((int(words[1]), int(words[2])), []).append(words[3])
        elif len(words) >= 3 and words[0] == "end" and words[1].isdigit() and words[2].isdigit():
            begun = open_reports.get((int(words[1]), int(words[2])))
            if begun:
                begun.pop(0)
    return [{"kind": kind, "pid": pid, "tid": tid, "stacks": {}, "cut_short": True}
            for (pid, tid), kinds in open_reports.items() for kind in kinds]


def is_runtime_frame(frame):
    """True for a frame of the sanitizer runtime: an allocator entry point or interceptor
    (`free`, `malloc`, `__interceptor_free`, `__asan_memcpy`, `operator delete`, ...), or code
    from compiler-rt / libsanitizer (by source file or by module)."""
    function = frame.get("function") or ""
    if function in _RUNTIME_FUNCTIONS or function.startswith(_RUNTIME_PREFIXES):
        return True
    if any(d in str(frame.get("file") or "") for d in _RUNTIME_DIRS):
        return True
    module = str(frame.get("module") or "").rsplit("/", 1)[-1]
    return module.startswith(_RUNTIME_MODULES)


def top_frame(record, stack):
    """The top frame of `stack` in a report record that is not the sanitizer runtime's (the
    very first frame when all of them are), or None when the stack is absent or empty."""
    frames = record["stacks"].get(stack)
    if not isinstance(frames, list):
        return None
    frames = [f for f in frames if isinstance(f, dict)]
    if not frames:
        return None
    return next((f for f in frames if not is_runtime_frame(f)), frames[0])


def parse_frame(line):
    """One frame line of a sanitizer stack as {function, file, line, column, module, offset,
    pc} (None where the line does not say), or None when `line` is not a frame line."""
    match = _FRAME_RE.match(line)
    if match is None:
        return None
    pc, rest = match.groups()
    frame = {"function": None, "file": None, "line": None, "column": None, "module": None,
             "offset": None, "pc": pc}
    rest = _BUILD_ID_RE.sub("", rest)
    module = _MODULE_RE.search(rest)
    if module:
        frame["module"], frame["offset"] = module.groups()
        rest = rest[:module.start()]
    location = _LOCATION_RE.match(rest)
    if location:
        rest, frame["file"], number, column = location.groups()
        frame["line"] = int(number)
        frame["column"] = int(column) if column else None
    function = _OFFSET_SUFFIX_RE.sub("", rest.strip())
    frame["function"] = function or None
    return frame


def asan_records(output):
    """The first AddressSanitizer report in `output` as a list of one record shaped like the
    JSON log's: {tool, kind, summary, stacks}, where `stacks` has `current` (the faulting
    access: the first stack of the report), `free` ("freed by thread ... here:") and `alloc`
    ("[previously] allocated by thread ... here:") when the report has them. The kind is the
    SUMMARY line's (else the ERROR line's). No report: []."""
    record, name, stack = None, None, None
    for line in output.splitlines():
        if record is None:
            error = _ASAN_ERROR_RE.match(line)
            if error:
                record = {"tool": "AddressSanitizer", "kind": error.group(1), "summary": None,
                          "stacks": {}}
                name = "current"
            continue
        found = summary(line) if line.startswith("SUMMARY: ") else None
        if found is not None:
            record["kind"], record["summary"] = found[1], found[2]
            break
        frame = parse_frame(line)
        if frame is not None:
            if stack is None and name is not None and name not in record["stacks"]:
                stack = record["stacks"][name] = []
            if stack is not None:
                stack.append(frame)
            continue
        if stack is not None:  # the end of a stack
            stack, name = None, None
        if line.strip():
            titled = [n for title, n in _ASAN_STACK_TITLES if title in line]
            if titled:
                name = titled[0]
            elif line.rstrip().endswith("here:"):
                name = None  # a stack the frames check does not know (`Thread T1 created ...`)
    return [record] if record is not None else []


def report_records(output, log_records=()):
    """The reports whose stacks the frames check reads: AddressSanitizer's text report when
    the first SUMMARY is AddressSanitizer's or the JSON log has no report, else the log's."""
    found = summary(output)
    if not log_records or (found is not None and found[0] == "AddressSanitizer"):
        return asan_records(output) or list(log_records)
    return list(log_records)


def frames_problem(kind, frames, records, log_problems=()):
    """Why the first report (JSON log or AddressSanitizer) does not blame the expected places,
    or None when it does. `frames` maps a stack name to the function its top frame (runtime
    frames skipped) must be in."""
    if not frames:
        return None
    if not records:
        detail = f" ({'; '.join(log_problems)})" if log_problems else ""
        return f"no JSON report in the log{detail}"
    first = records[0]
    if first["kind"] != kind:
        return f"first report is {first['kind']}, not {kind}"
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
    expected one but the report blames the wrong place, `KIND (wrong frames: ...)`. The
    stacks are the JSON log's `records`, or AddressSanitizer's (report_records)."""
    kind = outcome(output, returncode, timed_out)
    if frames and kind == expected:
        problem = frames_problem(kind, frames, report_records(output, records), log_problems)
        if problem:
            return f"{kind} (wrong frames: {problem})"
    return kind


def starts_report(line):
    """True for the first line of a detector report (`==PID==ERROR:`, a UBSan `runtime
    error:`, a TSan warning)."""
    return _REPORT_START.search(line) is not None


def report_excerpt(output, limit=12):
    """The first `limit` non-blank lines of the report, from the line that starts it
    (`==PID==ERROR:`, a UBSan `runtime error:`, a TSan warning); without one, the last
    `limit` non-blank lines of the output."""
    lines = [line.rstrip() for line in output.splitlines()]
    for index, line in enumerate(lines):
        if starts_report(line):
            return [l for l in lines[index:] if l.strip()][:limit]
    return [l for l in lines if l.strip()][-limit:]
