"""`lifeguard fuzz TARGET --engine afl`: the same run as fuzz.py's, by AFL++ (afl-fuzz) on the
afl preset's build/afl/fuzz/TARGET_afl. It reads AFL++'s fuzzer_stats, plot_data and finding
names for the figures, and replays the first finding once through the binary to read its
report, so the JSON has the libFuzzer run's fields and meanings."""

import json
import re
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

from . import classify, fuzz
from .build import ensure_built, require_built
from .errors import UsageError
from .paths import display, preset_dir
from .progress import Progress

PRESET = "afl"
BUILD_TARGET = "fuzz_afl"  # fuzz/CMakeLists.txt: every <target>_afl
REPLAY_TRIES = 3  # a finding that does not crash on replay is replayed again, up to this
REPLAY_TIMEOUT = 60
# afl-fuzz runs unattended and stops at the first crash, as libFuzzer does: no UI, no CPU
# binding (other jobs share the cores), no CPU-governor or core_pattern checks.
AFL_SETTINGS = {
    "AFL_NO_UI": "1",
    "AFL_NO_AFFINITY": "1",
    "AFL_SKIP_CPUFREQ": "1",
    "AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES": "1",
    "AFL_BENCH_UNTIL_CRASH": "1",
}
# What afl-fuzz demands of the sanitizers (a report must be a signal, no symbolizer in the
# children); appended, so they win over the caller's.
SANITIZER_MUSTS = {"ASAN_OPTIONS": "abort_on_error=1:symbolize=0",
                   "UBSAN_OPTIONS": "halt_on_error=1:abort_on_error=1:symbolize=0"}

_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_SEED_CRASH_RE = re.compile(r"Test case '([^']+)' results in a crash")
_ALL_SEEDS_CRASH = "We need at least one valid input seed that does not crash"
_FINDING_FIELD_RE = re.compile(r"(\w+):([^,]*)")


# ---- reading AFL++'s output directory ---------------------------------------------------

def read_stats(path):
    """fuzzer_stats as {key: value} (numbers as int or float, `12.5%` as 12.5); {} if absent."""
    stats = {}
    try:
        lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return stats
    for line in lines:
        key, sep, value = line.partition(":")
        if sep:
            stats[key.strip()] = _number(value.strip())
    return stats


def _number(text):
    """`12` -> 12, `1.5` / `86.9%` -> float, anything else as it is."""
    for convert in (int, float):
        try:
            return convert(text.rstrip("%"))
        except ValueError:
            pass
    return text


def finding_fields(name):
    """The fields of a finding's name: `id:000000,sig:06,src:000005,time:380,execs:512,...`
    -> {"id": "000000", "sig": "06", "time": "380", "execs": "512", ...}."""
    return dict(_FINDING_FIELD_RE.findall(name))


def first_finding(session):
    """The first crash of an AFL++ session directory (out/default), else its first hang, as
    (path, "crash" | "hang"); (None, None) without either."""
    for sub, what in (("crashes", "crash"), ("hangs", "hang")):
        found = sorted(Path(session, sub).glob("id:*"))
        if found:
            return found[0], what
    return None, None


def plot_execs_at_first_crash(path):
    """total_execs of the first plot_data row that counts a saved crash, or None."""
    try:
        lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    header = None
    for line in lines:
        cells = [c.strip() for c in line.lstrip("# ").split(",")]
        if line.startswith("#"):
            header = cells
        elif header and len(cells) == len(header):
            row = dict(zip(header, cells))
            if _number(row.get("saved_crashes", "0")) > 0:
                return _number(row.get("total_execs"))
    return None


def seeds_crashed(log_text):
    """The queue names of the seed inputs AFL++ skipped because they crash (its dry run)."""
    return list(dict.fromkeys(_SEED_CRASH_RE.findall(_ANSI_RE.sub("", log_text))))


# ---- the run ----------------------------------------------------------------------------

def afl_env(faults, until, sanitizer_env, inject=0):
    """The environment of afl-fuzz (passed on to the target) and of the replay, and the
    settings lifeguard made in the first (to show in the command)."""
    replay_env, settings = fuzz.fuzz_env(faults, until, sanitizer_env, inject=inject)
    env = dict(replay_env)
    for name, musts in SANITIZER_MUSTS.items():
        value = env.get(name)
        settings[name] = f"{value}:{musts}" if value else musts
    settings.update(AFL_SETTINGS)
    env.update(settings)
    return env, replay_env, settings


def afl_argv(binary, seeds, out, file_flags, options_path, target, args):
    """The afl-fuzz command: seeds, output, time, timeout, and what the options file and the
    dictionary give (its dict -> -x, max_len -> -G); -s with a --seed."""
    flags = fuzz.libfuzzer_flags(target, file_flags, options_path, args, out)
    argv = ["afl-fuzz", "-i", str(seeds), "-o", str(out), "-t", str(int(flags["timeout"]) * 1000)]
    if args.seconds:
        argv += ["-V", str(args.seconds)]
    if args.runs:
        argv += ["-E", str(args.runs)]
    if "dict" in flags:
        argv += ["-x", flags["dict"]]
    if "max_len" in flags:
        argv += ["-G", str(flags["max_len"])]
    if args.seed:
        argv += ["-s", str(args.seed)]
    return argv + ["--", str(binary)]


def clear_session(out):
    """Removes the previous run's session (out/default) so that afl-fuzz starts afresh (it
    refuses to reuse a long one); a directory that is not AFL++'s is left for it to refuse."""
    session = Path(out) / "default"
    if (session / "fuzzer_setup").is_file() or (session / "fuzzer_stats").is_file():
        shutil.rmtree(session)


def replay(binary, finding, env, until):
    """Runs `finding` through the binary (symbolized reports) up to REPLAY_TRIES times until it
    crashes; returns the fuzz.Crash, or None when it never did."""
    for _ in range(REPLAY_TRIES):
        result = fuzz.run_libfuzzer([binary, finding], env, cwd=Path(finding).parent,
                                    timeout=REPLAY_TIMEOUT)
        crash = result.crash(until)
        if crash is not None:
            return crash
    return None


def run(args):
    """Entry point of `lifeguard fuzz --engine afl`."""
    target = fuzz.resolve_target(args.target)
    build_root = args.build_dir.resolve()
    fuzz.check_until(args.until, target)
    for tool in ("afl-fuzz", "afl-clang-fast"):
        if shutil.which(tool) is None:
            raise UsageError(f"{tool} not found: install AFL++ (scripts/install-deps --afl)")
    options_path = args.options or fuzz.FUZZ_DIR / f"{target}.options"
    if args.options is not None and not args.options.is_file():
        raise UsageError(f"--options {args.options}: no such file")
    file_flags, sanitizer_env = (fuzz.read_options(options_path) if options_path.is_file()
                                 else ({}, {}))
    for path, what in ((args.json, "--json"), (args.log, "--log")):
        if path and not Path(path).resolve().parent.is_dir():
            raise UsageError(f"{what} {path}: its directory does not exist")
    binary = preset_dir(build_root, PRESET) / "fuzz" / f"{target}_afl"
    if not args.no_build:
        ensure_built([PRESET], build_root, targets=[BUILD_TARGET])
    require_built(binary, PRESET, build_root, args.no_build,
                  needed_by=f"fuzz {target} --engine afl")
    out = (args.artifacts or build_root / "fuzz-artifacts" / "afl" / target).resolve()
    try:
        out.mkdir(parents=True, exist_ok=True)
        clear_session(out)
    except OSError as e:
        raise UsageError(f"--artifacts {display(out)}: cannot use it: {e.strerror}") from None

    env, replay_env, settings = afl_env(args.faults, args.until, sanitizer_env, args.inject)
    log_path = Path(args.log) if args.log else out / "afl-fuzz.log"
    with tempfile.TemporaryDirectory(prefix="lifeguard-afl-") as tmp:
        seeds = Path(tmp) / "seeds"  # afl-fuzz links its queue to the seeds: use a copy
        source = fuzz.CORPORA_DIR / target
        if source.is_dir() and any(source.iterdir()):
            shutil.copytree(source, seeds)
        else:
            seeds.mkdir()
            (seeds / "empty").write_bytes(b"\0")  # afl-fuzz needs one input
        seed_count = fuzz._count_files(seeds)
        argv = afl_argv(binary, seeds, out, file_flags, options_path, target, args)
        started = time.time()
        with Progress("fuzz") as progress:
            progress.start(f"{target} with AFL++, {fuzz.asked(args)}, {seed_count} seed "
                           "inputs")
            result = fuzz.run_libfuzzer(argv, env, cwd=tmp, timeout=fuzz.hang_timeout(args),
                                        log_path=log_path)
    session = out / "default"
    stats = read_stats(session / "fuzzer_stats")
    log_text = log_path.read_text(encoding="utf-8", errors="replace") if log_path.is_file() else ""
    skipped = seeds_crashed(log_text)
    finding, what = first_finding(session)
    if finding is None and _ALL_SEEDS_CRASH in log_text and skipped:
        finding, what = session / "queue" / skipped[0], "seed"  # found before fuzzing began
    elif not stats and not result.killed:
        raise UsageError(f"afl-fuzz stopped with exit status {result.returncode} before it "
                         f"fuzzed: {_last_words(result)}")
    crash = None
    if finding is not None and what != "hang":  # a hang would only hang again
        crash = replay(binary, finding, replay_env, args.until)
    record = to_json(target, args, result, stats, session, finding, what, crash, started,
                     settings, seed_count, skipped)
    print_summary(record, sys.stdout)
    if args.json:
        try:
            Path(args.json).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        except OSError as e:
            raise UsageError(f"cannot write --json {args.json}: {e.strerror}") from None
    return 1 if record["crashed"] else 0


def _last_words(result):
    """The last non-blank line of afl-fuzz's output, without colours and AFL++'s prefix."""
    lines = [_ANSI_RE.sub("", l).strip() for l in result.tail]
    lines = [l for l in lines if l and not l.startswith("Location :")]
    return lines[-1].removeprefix("[-] PROGRAM ABORT : ") if lines else "no output"


def _finding_kind(finding, what, crash):
    """The fault kind: the replayed report's, else a hang's `timeout`, else the signal the
    finding's name records (`crash:SIGABRT`; it did not crash again on replay)."""
    if crash is not None:
        return crash.kind
    if what == "hang":
        return classify.TIMEOUT
    sig = finding_fields(finding.name).get("sig")
    return classify.outcome("", -int(sig)) if sig and sig.isdigit() else "crash"


def to_json(target, args, result, stats, session, finding, what, crash, started, settings,
            seed_count, skipped):
    """The result object of `lifeguard fuzz --engine afl --json`: fuzz.to_json's fields."""
    crashed = finding is not None or result.killed
    fields = finding_fields(finding.name) if finding is not None and what != "seed" else {}
    execs = stats.get("execs_done", 0)
    if finding is not None:
        first_execs = _number(fields.get("execs", "")) if "execs" in fields else None
        if first_execs is None:
            first_execs = (plot_execs_at_first_crash(session / "plot_data") if what == "crash"
                           else skipped.index(finding.name) + 1 if what == "seed" else execs)
        # from the start of afl-fuzz to the finding's file (a seed's: the whole short run)
        seconds = result.seconds if what == "seed" else finding.stat().st_mtime - started
    elif result.killed:
        first_execs, seconds = execs, result.seconds
    else:
        first_execs = seconds = None
    kind = (_finding_kind(finding, what, crash) if finding is not None
            else classify.TIMEOUT if result.killed else None)
    report = crash.report if crash else None
    command = " ".join([*(f"{k}={shlex.quote(v)}" for k, v in settings.items()),
                        *map(shlex.quote, result.argv)])
    return {
        "target": target,
        "engine": "afl",
        "fault": settings.get("LIFEGUARD_FAULTS"),
        "until": args.until,
        "seconds": args.seconds,
        "runs": args.runs,
        "seconds_run": round(result.seconds, 3),
        "seed": args.seed or None,
        "execs": execs,
        "exec_per_sec": float(stats.get("execs_per_sec", 0.0)),
        "crashed": crashed,
        "execs_to_first_crash": first_execs,
        "seconds_to_first_crash": round(seconds, 3) if seconds is not None else None,
        "afl_seconds_to_first_crash": (int(fields["time"]) / 1000
                                       if fields.get("time", "").isdigit() else None),
        "fault_kind": kind,
        "reproduced": crash is not None if finding is not None else None,
        "summary": report.summary if report else None,
        "schedule": report.schedule if report else None,
        "artifact": str(finding) if finding is not None else None,
        "report": [l for l in report.lines if l.strip()][:fuzz.REPORT_LINES] if report else [],
        "crashes": stats.get("saved_crashes", 0),
        "hangs": stats.get("saved_hangs", 0),
        "seeds_crashed": skipped,
        "corpus_size": stats.get("corpus_count"),
        "seed_corpus_size": seed_count,
        "new_units": stats.get("corpus_found"),
        "stability": stats.get("stability"),
        "killed": result.killed,
        "exit_status": result.returncode,
        "output": str(session),
        "environment": settings,
        "command": command,
    }


def _count(n, noun):
    """`1 execution`, `1,090 executions`."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def print_summary(record, out):
    """A few lines for people: the verdict, and after a crash its SUMMARY and input."""
    target = record["target"]
    rate = f"{record['exec_per_sec']:,.0f}/s"
    skipped = record["seeds_crashed"]
    note = (f"; {_count(len(skipped), 'seed input')} crashed (AFL++ skips them)"
            if skipped else "")
    if not record["crashed"]:
        print(f"{target} (AFL++): no crash in {record['seconds_run']:.1f} s: "
              f"{record['execs']:,} executions ({rate}), corpus {record['seed_corpus_size']} -> "
              f"{record['corpus_size']} inputs{note}", file=out)
        return
    how = " (killed: the run did not end)" if record["killed"] else ""
    again = "" if record["reproduced"] is not False else " (it did not crash again on replay)"
    execs = _count(record["execs_to_first_crash"], "execution")
    print(f"{target} (AFL++): crashed after {execs} in {record['seconds_to_first_crash']:.2f} s: "
          f"{record['fault_kind']}{how}{again}{note}", file=out)
    if record["summary"]:
        print(f"  {record['summary']}", file=out)
    if record["artifact"]:
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in record["environment"].items()
                       if k.startswith(("LIFEGUARD_", "LG_")))
        binary = display(shlex.split(record["command"])[-1])
        artifact = shlex.quote(display(record["artifact"]))
        print(f"  input:  {artifact}", file=out)
        print(f"  replay: {env + ' ' if env else ''}{binary} {artifact}", file=out)
