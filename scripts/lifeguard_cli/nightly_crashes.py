"""The crashes of a nightly run: replay each crash input once (symbolized, with ASan's dedup
tokens), group them by dedup key, minimize one input per key, and write each key that no
regression has yet as a candidate regression with a sidecar like corpora/regressions' own.

The dedup key is the detector's SUMMARY line (paths made repository-relative) plus the dedup
token of the first stack: ASan's `DEDUP_TOKEN: f1--f2--f3` (ASAN_OPTIONS=dedup_token_length=3),
or for lifeguard's own reports, which print none, the same made of the first three functions
of the report's first stack."""

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import classify
from .fuzz import run_libfuzzer
from .nightly_corpus import input_files
from .nightly_state import write_json_atomic
from .paths import REPO_ROOT

DEDUP_ASAN_OPTIONS = "dedup_token_length=3:symbolize=1"
TOKEN_FRAMES = 3
REPLAY_TIMEOUT = 60  # seconds one replay may take, on top of libFuzzer's -timeout
_TOKEN_PREFIX = "DEDUP_TOKEN: "


@dataclass
class Crash:
    """What one replay of a crash input reported."""

    tool: str
    kind: str
    summary: str  # the SUMMARY line, repository paths relative
    token: str  # the dedup token of the first stack ('' when there is no stack)
    frame: dict = None  # the top frame in the repository: {file (relative), line, function}
    report: list = field(default_factory=list)  # the report's first lines
    schedule: str = None

    @property
    def key(self):
        return f"{self.summary} | {self.token}"


def relative(text):
    """`text` with the repository's absolute path prefix removed."""
    return text.replace(f"{REPO_ROOT}/", "")


def first_stack(lines):
    """The frames of the first stack in a report's lines (classify.parse_frame dicts)."""
    frames = []
    for line in lines:
        frame = classify.parse_frame(line)
        if frame is not None:
            frames.append(frame)
        elif frames:
            break
    return frames


def repo_frame(frames):
    """The first frame of `frames` in a repository source file, not the sanitizer runtime's,
    as {file (repository-relative), line, function}; None when there is none."""
    for frame in frames:
        path = frame.get("file")
        if not path or not frame.get("line") or classify.is_runtime_frame(frame):
            continue
        try:
            rel = Path(path).resolve().relative_to(REPO_ROOT)
        except ValueError:
            continue
        if (REPO_ROOT / rel).is_file():
            return {"file": str(rel), "line": frame["line"], "function": frame.get("function")}
    return None


def dedup_token(lines, frames):
    """ASan's first DEDUP_TOKEN line, else the first TOKEN_FRAMES functions of `frames`."""
    for line in lines:
        if line.startswith(_TOKEN_PREFIX):
            return line[len(_TOKEN_PREFIX):].strip()
    return "--".join(f.get("function") or "?" for f in frames[:TOKEN_FRAMES])


def crash_of(result, kind=None):
    """The Crash of a replay's LibFuzzerRun (the first report, or the first of `kind`), or
    None when the input did not crash (a flaky input)."""
    report = result.first_report(kind) or result.first_report()
    if report is not None:
        lines = report.lines
        tool, found_kind, summary = report.tool, report.kind, report.summary
        schedule = report.schedule
    else:
        crash = result.crash()
        if crash is None:
            return None
        lines = result.tail
        tool, found_kind, summary, schedule = "libFuzzer", crash.kind, f"libFuzzer: {crash.kind}", None
    frames = first_stack(lines)
    return Crash(tool, found_kind, relative(summary), dedup_token(lines, frames),
                 repo_frame(frames), [relative(l) for l in lines if l.strip()][:40], schedule)


def _append(env, name, options):
    env[name] = f"{env[name]}:{options}" if env.get(name) else options


def replay_env(env):
    """`env` with the dedup token and symbolization added to ASAN_OPTIONS."""
    env = dict(env)
    _append(env, "ASAN_OPTIONS", DEDUP_ASAN_OPTIONS)
    _append(env, "LIFEGUARD_OPTIONS", "symbolize=1")
    return env


def quiet_env(env):
    """`env` without symbolization (ASan's and lifeguard's): what fuzzing, minimizing and
    the first replay of each crash input use, since llvm-symbolizer costs seconds a crash."""
    env = dict(env)
    _append(env, "ASAN_OPTIONS", "dedup_token_length=3:symbolize=0")
    _append(env, "LIFEGUARD_OPTIONS", "symbolize=0")
    return env


def replay(binary, path, env, cwd, timeout, kind=None, on_start=None):
    """Run the crash input `path` once through the libFuzzer binary, symbolized; its Crash
    or None."""
    result = run_libfuzzer([binary, f"-timeout={timeout}", path], replay_env(env), cwd,
                           timeout + REPLAY_TIMEOUT, on_start=on_start)
    return crash_of(result, kind)


def raw_key(binary, path, env, cwd, timeout, on_start=None):
    """Replay `path` once without symbolization and key it by kind and the module offsets
    of its first stack's top frames (stable within one build: the same raw key is the same
    symbolized key). None when it did not crash."""
    result = run_libfuzzer([binary, f"-timeout={timeout}", path], quiet_env(env), cwd,
                           timeout + REPLAY_TIMEOUT, on_start=on_start)
    report = result.first_report()
    if report is None:
        crash = result.crash()
        return None if crash is None else f"libFuzzer: {crash.kind}"
    frames = first_stack(report.lines)
    return f"{report.tool}: {report.kind} | " + "--".join(
        f.get("offset") or f.get("function") or "?" for f in frames[:TOKEN_FRAMES])


def minimize(binary, path, dest, env, cwd, seconds, timeout, on_start=None):
    """Minimize the crash input `path` into `dest` with -minimize_crash=1 for at most
    `seconds`. Returns True when `dest` was written."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    argv = [binary, "-minimize_crash=1", f"-max_total_time={max(1, int(seconds))}",
            "-runs=100000", f"-timeout={timeout}", f"-exact_artifact_path={dest}", path]
    run_libfuzzer(argv, quiet_env(env), cwd, seconds + timeout + REPLAY_TIMEOUT,
                  on_start=on_start)
    return dest.is_file() and dest.stat().st_size > 0


def regression_env(env, meta):
    """`env` as the regression gate replays a sidecar: its fault, options and until."""
    env = {k: v for k, v in env.items() if not k.startswith(("LIFEGUARD_", "LG_FUZZ_"))}
    if meta.get("fault"):
        env["LIFEGUARD_FAULTS"] = meta["fault"]
    if meta.get("options"):
        env["LIFEGUARD_OPTIONS"] = meta["options"]
    if meta.get("until"):
        env["LG_FUZZ_UNTIL"] = meta["until"]
    return env


def regression_keys(regressions, binary, env, cwd, timeout, cache, on_start=None):
    """{dedup key: regression name} of the inputs in `regressions` (a
    corpora/regressions/<target>/ directory): from the sidecar's `summary` and `dedup_token`
    when it has them, else by replaying the input as the gate does. `cache` ({name: {stamp,
    key}}, kept in the state) saves the replay of an unchanged input and sidecar."""
    keys = {}
    for path in input_files(regressions):
        sidecar = path.with_name(path.name + ".json")
        try:
            meta = json.loads(sidecar.read_text(encoding="utf-8"))
            stamp = [path.stat().st_mtime_ns, sidecar.stat().st_mtime_ns, path.stat().st_size]
        except (OSError, json.JSONDecodeError):
            continue
        if meta.get("summary") and "dedup_token" in meta:
            keys[f"{meta['summary']} | {meta['dedup_token']}"] = path.name
            continue
        cached = cache.get(path.name)
        if cached is None or cached.get("stamp") != stamp:
            crash = replay(binary, path, regression_env(env, meta), cwd, timeout,
                           sidecar_kind(meta, "asan"), on_start)
            cached = cache[path.name] = {"stamp": stamp, "key": crash.key if crash else None}
        if cached["key"]:
            keys[cached["key"]] = path.name
    return keys


def sidecar_kind(meta, config):
    """The kind a regression sidecar expects under `config`: its `kind` is one word for every
    configuration, or a table {config: word} where the detectors name it differently (ASan's
    heap-use-after-free is the page heap's use-after-free), as the manifest's outcomes are.
    None when the table has no word for `config`."""
    kind = meta.get("kind")
    return kind.get(config) if isinstance(kind, dict) else kind


def candidate_name(kind, data):
    """The file name of a candidate regression: nightly-<kind>-<sha1 of the input, 12>."""
    return f"nightly-{kind}-{hashlib.sha1(data).hexdigest()[:12]}"


def write_candidate(directory, source, crash, fault, target, day, options=None):
    """Copy the input `source` into `directory` as a candidate regression with its sidecar
    (fault, kind, configs, about, plus summary, dedup_token and schedule for the next dedup;
    `options`, the LIFEGUARD_OPTIONS the gate must replay it with, e.g. inject_max=2).
    Returns the candidate's path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    data = Path(source).read_bytes()
    path = directory / candidate_name(crash.kind, data)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    meta = {"fault": fault, "kind": crash.kind}
    if options:
        meta["options"] = options
    if crash.tool not in ("lifeguard",):
        # a sanitizer's kind, seen by the ASan build; where the plain build's page heap
        # reports it too, the reviewer makes `kind` a table {asan: ..., plain: ...} instead
        meta["configs"] = ["asan"]
    where = f" at {crash.frame['file']}:{crash.frame['line']}" if crash.frame else ""
    meta["about"] = (f"found by lifeguard nightly on {day} fuzzing {target}"
                     f"{' with ' + fault if fault else ''}: {crash.kind}{where}")
    meta.update(summary=crash.summary, dedup_token=crash.token, schedule=crash.schedule)
    write_json_atomic(path.with_name(path.name + ".json"), meta)
    return path


def crash_inputs(artifacts):
    """The crash-* inputs libFuzzer wrote into `artifacts`, oldest first."""
    return sorted((p for p in input_files(artifacts) if p.name.startswith("crash-")),
                  key=lambda p: (p.stat().st_mtime, p.name))


def to_dict(crash):
    """The Crash as a plain dict (for the state file)."""
    return asdict(crash)

