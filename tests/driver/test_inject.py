# SPDX-License-Identifier: MIT
"""Failure injection (LIFEGUARD_OPTIONS inject_max=N) end to end, both ways:

- every call of runtime/ that can fail goes through lgrt/sys.h (a source scan; the scan itself
  is shown to flag a raw call);
- the fixed variant of every scenario stays clean with injection on, under random and PCT,
  and injection really happened in those runs;
- a failure is recorded in the schedule string ("i" bound, "f" decision) and a replay of the
  string, with injection off in the options, fails the same call and gets the same report;
  the same string with that failure taken back is clean;
- the planted error-path bug `port-open-cleanup-twice` is reported by fdcheck (double-close)
  under injection, by random, PCT and dfs, and is silent without injection, whatever the
  search.
"""

import re
from pathlib import Path

import pytest

from lifeguard_cli import run as runner

REPO_ROOT = Path(__file__).resolve().parents[2]
RUNTIME = REPO_ROOT / "runtime"
SYS_HEADER = RUNTIME / "include" / "lgrt" / "sys.h"

# Calls that can fail and must go through lgrt/sys.h (lgrt_NAME). The second group has no
# wrapper yet: the runtime does not call them, and a new call must bring one.
WRAPPED = ("malloc", "calloc", "realloc", "socket", "eventfd", "epoll_create1", "accept4",
           "bind", "listen", "connect", "epoll_ctl", "epoll_wait", "recv", "send", "sendto",
           "read", "write", "shutdown", "dlopen", "lg_spawn", "pthread_key_create")
UNWRAPPED = ("accept", "socketpair", "pipe", "pipe2", "open", "openat", "dup", "dup2", "dup3",
             "fopen", "recvfrom", "recvmsg", "sendmsg", "strdup", "strndup", "pthread_create",
             "timerfd_create", "signalfd", "memfd_create", "mmap", "posix_memalign",
             "aligned_alloc")
_RAW_CALL = re.compile(r"(?<![\w.>])(" + "|".join(WRAPPED + UNWRAPPED) + r")\s*\(")
# A call that is deliberately not an injection point says why on its line.
_EXEMPT = "lgrt-sys:"

PLANTED = "port-open-cleanup-twice"
ITERATIONS = 150


def _strip_comments_and_strings(text):
    """`text` with comments and string literals blanked, line numbers kept."""
    def blank(m):
        return re.sub(r"[^\n]", " ", m.group(0))
    return re.sub(r'/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"', blank, text, flags=re.DOTALL)


def raw_calls(text):
    """[(line number, call)] of the raw calls in C source `text` that must be wrapped."""
    found = []
    lines = text.splitlines()
    for number, line in enumerate(_strip_comments_and_strings(text).splitlines(), 1):
        if _EXEMPT in lines[number - 1]:
            continue
        found += [(number, m.group(1)) for m in _RAW_CALL.finditer(line)]
    return found


def test_the_scan_flags_a_raw_call_and_nothing_else():
    flagged = raw_calls("int fd = socket(AF_UNIX, SOCK_STREAM, 0);\n"
                        "p = malloc (4);\n"
                        "  int n = pipe2(fds, 0);\n")
    assert flagged == [(1, "socket"), (2, "malloc"), (3, "pipe2")]
    assert raw_calls("int fd = lgrt_socket(AF_UNIX, SOCK_STREAM, 0);\n"
                     "x->read(x, buf);  s.write(1);\n"
                     "/* socket( in a comment\n   malloc( too */ // read(\n"
                     "puts(\"connect(\");\n"
                     "p = calloc(1, 2); /* lgrt-sys: infallible, aborts */\n"
                     "lg_socket_open(s); lgrt_read(fd, b, 1); my_malloc(3);\n") == []


def test_every_call_of_the_runtime_that_can_fail_goes_through_sys_h():
    sources = [p for p in sorted(RUNTIME.rglob("*.[ch]")) if p != SYS_HEADER]
    assert len(sources) > 10, sources
    offenders = [f"{p.relative_to(REPO_ROOT)}:{line}: {call}("
                 for p in sources for line, call in raw_calls(p.read_text(encoding="utf-8"))]
    assert not offenders, ("calls of the runtime that bypass lgrt/sys.h (use lgrt_NAME, or add "
                           "a wrapper; a call that must not be injected says `lgrt-sys: why` on "
                           "its line):\n  " + "\n  ".join(offenders))
    header = SYS_HEADER.read_text(encoding="utf-8")
    for name in WRAPPED:
        wrapper = "lgrt_spawn" if name == "lg_spawn" else f"lgrt_{name}"
        assert re.search(rf"#define {wrapper}\(", header), f"{wrapper} is not in lgrt/sys.h"


# ---- the scenario programs ------------------------------------------------------------

def _env(config, inject):
    env = dict(config.env)
    if inject:
        options = env.get("LIFEGUARD_OPTIONS")
        bound = f"inject_max={inject}"
        env["LIFEGUARD_OPTIONS"] = f"{options}:{bound}" if options else bound
    return env


def _run(binary, config, scenario, variant, inject, extra):
    return runner.run_scenario(binary, scenario, variant, _env(config, inject), extra_args=extra)


# scenarios that make no call of the runtime that can fail: fclose-close uses only the
# application's stdio; cancel-race's probe socket, log and close-once guard are the
# application's own (socket, open, close: not the runtime's, so not injection points), and
# its bug is in that guard, which no failure of a call reaches; cancel-reuse-race adds the
# next query's socket, the application's own too
NO_FAILURE_POINTS = {"fclose-close", "cancel-race", "cancel-reuse-race"}


@pytest.mark.parametrize("strategy", ["random", "pct"])
def test_fixed_variants_stay_clean_with_injection_on(fixed_row, strategy, scenario_binary):
    binary = scenario_binary(fixed_row.scenario.program, fixed_row.config.name)
    r = _run(binary, fixed_row.config, fixed_row.scenario.name, "fixed", 2,
             ("--strategy", strategy, "--seed", "3", "--iterations", str(ITERATIONS)))
    assert r.returncode == 0 and not r.timed_out, r.output[-3000:]
    assert f"clean, {ITERATIONS} execution(s)" in r.output, r.output[-2000:]
    injected = re.search(r"(\d+) with injected failures", r.output)
    if fixed_row.scenario.name in NO_FAILURE_POINTS:
        assert injected is None, r.output[-2000:]
    else:
        assert injected and int(injected.group(1)) > 0, r.output[-2000:]


@pytest.fixture(params=["asan", "plain"])
def config(request, selected_configs, lifeguard_manifest):
    if request.param not in selected_configs:
        pytest.skip(f"config {request.param} not selected")
    return lifeguard_manifest.configs[request.param]


@pytest.fixture
def pipe_binary(config, scenario_binary):
    return scenario_binary("pipe_disconnect", config.name)


def _planted(binary, config, inject, extra):
    return _run(binary, config, "client-open-drop", "fixed", inject, ("--fault", PLANTED, *extra))


def _schedule(output):
    found = re.search(r"^schedule: (lgs1:\S*)", output, re.MULTILINE)
    assert found, output[-3000:]
    return found.group(1)


def test_an_injected_failure_is_recorded_and_replayed_exactly(pipe_binary, config):
    r = _planted(pipe_binary, config, 1, ("--strategy", "random", "--seed", "1",
                                          "--iterations", "2000"))
    assert r.returncode != 0 and r.kind == "double-close", r.output[-3000:]
    summary = re.search(r"^SUMMARY: lifeguard: .*$", r.output, re.MULTILINE).group(0)
    assert "lgrt_port_open" in summary, summary
    schedule = _schedule(r.output)
    assert schedule.startswith("lgs1:i1,"), schedule
    failed = [t for t in schedule[5:].split(",") if t.startswith("f") and not t.endswith("=0")]
    assert len(failed) == 1, schedule  # the bound: one failure

    # replayed with injection off in the options: the string carries its bound
    again = _planted(pipe_binary, config, 0, ("--schedule", schedule))
    assert again.returncode == r.returncode and again.kind == "double-close", again.output[-3000:]
    assert _schedule(again.output) == schedule
    assert summary in again.output
    assert "diverged" not in again.output

    # the same decisions with the failure taken back: the call runs, nothing to report
    taken_back = schedule.replace(failed[0], re.sub(r"=\d+$", "=0", failed[0]))
    clean = _planted(pipe_binary, config, 0, ("--schedule", taken_back))
    assert clean.returncode == 0 and clean.kind == "clean", clean.output[-3000:]
    assert "clean, 1 execution(s), strategy replay" in clean.output


@pytest.mark.parametrize("search", [("--strategy", "random", "--seed", "1"),
                                    ("--strategy", "pct", "--seed", "1"),
                                    ("--strategy", "dfs", "--bound", "0")],
                         ids=["random", "pct", "dfs"])
def test_the_planted_error_path_is_found_only_with_injection(pipe_binary, config, search):
    found = _planted(pipe_binary, config, 1, (*search, "--iterations", "5000"))
    assert found.returncode != 0 and found.kind == "double-close", found.output[-3000:]
    assert re.search(r"^schedule: lgs1:i1,.*f\d+/\d+=[1-9]", found.output, re.MULTILINE), \
        found.output[-3000:]
    silent = _planted(pipe_binary, config, 0, (*search, "--iterations", "5000"))
    assert silent.returncode == 0 and silent.kind == "clean", silent.output[-3000:]
    assert re.search(r"clean, \d+ execution\(s\)", silent.output), silent.output[-2000:]
    assert "injected" not in silent.output


def test_dfs_explores_every_failure_within_the_bound(pipe_binary, config):
    """dfs drives injection: with a bound of one failure the search covers each failure
    point once more than the search without, and ends."""
    off = _run(pipe_binary, config, "client-open-drop", "fixed", 0,
               ("--strategy", "dfs", "--bound", "0", "--iterations", "100000"))
    on = _run(pipe_binary, config, "client-open-drop", "fixed", 1,
              ("--strategy", "dfs", "--bound", "0", "--iterations", "100000"))
    for r in (off, on):
        assert r.returncode == 0 and "every schedule explored" in r.output, r.output[-2000:]
    count = lambda r: int(re.search(r"clean, (\d+) execution", r.output).group(1))  # noqa: E731
    assert count(on) > count(off), (off.output[-500:], on.output[-500:])
    stopped = re.search(r"(\d+) with injected failures", on.output)
    assert stopped and int(stopped.group(1)) == count(on) - count(off), on.output[-500:]


# ---- the fuzz command ------------------------------------------------------------------

def _fuzz(build_root, tmp_path, *args, timeout=600):
    from test_fuzz_cmd import fuzz_run
    return fuzz_run(build_root, tmp_path, *args, timeout=timeout)


@pytest.fixture
def fuzz_tree(build_root, selected_configs):
    if "asan" not in selected_configs:
        pytest.skip("libFuzzer builds come with the asan (clang) config")
    tree = build_root / "asan" / "fuzz"
    if not (tree / "module_unload_fuzz").is_file():
        pytest.fail(f"{tree / 'module_unload_fuzz'} is not built", pytrace=False)
    return tree


def test_fuzz_inject_sets_the_bound_and_the_fixed_code_stays_clean(fuzz_tree, build_root,
                                                                   tmp_path):
    proc, record = _fuzz(build_root, tmp_path, "pipe_disconnect", "--runs", "3000",
                         "--inject", "2", "--seed", "1")
    assert proc.returncode == 0 and not record["crashed"], proc.stdout + proc.stderr
    assert record["environment"].get("LIFEGUARD_OPTIONS") == "inject_max=2", record
    assert "LIFEGUARD_OPTIONS=inject_max=2" in record["command"], record["command"]


@pytest.mark.parametrize("value", ["-1", "two"])
def test_a_bad_inject_bound_is_one_line(value):
    from test_fuzz_cmd import assert_one_line_error, lifeguard
    assert_one_line_error(lifeguard("fuzz", "double_close", "--inject", value, "--no-build"),
                          "--inject")
    assert_one_line_error(lifeguard("nightly", "--out", "/tmp/x", "--inject", value,
                                    "--no-build"), "--inject")


@pytest.mark.slow
@pytest.mark.parametrize("inject", [1, 0], ids=["injection", "no-injection"])
def test_fuzz_bytes_reach_the_planted_error_path_only_with_injection(fuzz_tree, build_root,
                                                                    tmp_path, inject):
    """Measured: found after 20,908 executions (59 s) with seed 1; 60,000 runs bound it."""
    proc, record = _fuzz(build_root, tmp_path, "module_unload", "--runs", "60000", "--seed",
                         "1", "--fault", PLANTED, "--inject", str(inject), timeout=900)
    if inject:
        assert record["crashed"] and record["fault_kind"] == "double-close", record
        assert "lgrt_port_open" in record["summary"], record["summary"]
        assert re.search(r"^lgs1:i1,.*f\d+/\d+=[1-9]", record["schedule"] or ""), record
    else:
        assert proc.returncode == 0 and not record["crashed"], record
        assert record["execs"] >= 60000, record
