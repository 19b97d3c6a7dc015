# SPDX-License-Identifier: MIT
"""The needles of two windows (double-close's cancel-reuse-race, module-unload's
exit-count-race, pipe-disconnect's drop-cancel-race): each buggy variant is found by a
controlled strategy within a bounded number of executions from a fixed seed, with the report
its manifest row expects (fdcheck, modcheck or the page heap / ASan),
and its fixed variant stays clean under the same search. Free-running threads are not timed here:
how rarely they find a needle is measured by `scripts/lifeguard ttd` (docs/BENCHMARKS.md)."""

import pytest

from lifeguard_cli import run as runner

# (program, scenario, LIFEGUARD_OPTIONS, kind reported per config, strategy, seed,
#  executions) -- the bound is a few times what the seed needs today, so that a needle that
# stopped being reachable (a lost scheduling point, a window closed by a refactor) fails here
NEEDLES = [
    # with fdcheck's quarantine off the freed number goes to the next query's socket at once,
    # and the loop's stale close is a close of that (tagged) socket: a foreign-close
    ("double_close", "cancel-reuse-race", "fd_quarantine=0", "foreign-close", "random", 1, 200),
    ("module_unload", "exit-count-race", "", "unload-while-running", "random", 1, 300),
    # seed 1 finds it in 3 executions; pct seed 1 in 112
    ("pipe_disconnect", "drop-cancel-race", "", "heap-use-after-free", "random", 1, 50),
    ("pipe_disconnect", "drop-cancel-race", "", "heap-use-after-free", "pct", 1, 1000),
]


@pytest.fixture(params=["asan", "plain"])
def config(request, selected_configs, lifeguard_manifest):
    if request.param not in selected_configs:
        pytest.skip(f"config {request.param} not selected")
    return lifeguard_manifest.configs[request.param]


def run(binary, config, scenario, variant, options, *extra):
    env = dict(config.env)
    opts = ":".join(o for o in (env.get("LIFEGUARD_OPTIONS", ""), options) if o)
    if opts:
        env["LIFEGUARD_OPTIONS"] = opts
    return runner.run_scenario(binary, scenario, variant, env, extra_args=extra, timeout=600)


def search(strategy, seed, executions):
    return ("--strategy", strategy, "--seed", str(seed), "--iterations", str(executions))


@pytest.mark.parametrize("program, scenario, options, kind, strategy, seed, executions", NEEDLES)
def test_needle_is_found_within_the_bound(config, scenario_binary, program, scenario, options,
                                          kind, strategy, seed, executions):
    binary = scenario_binary(program, config.name)
    r = run(binary, config, scenario, "buggy", options, *search(strategy, seed, executions))
    assert r.kind == kind, r.output[-3000:]
    assert "schedule" in r.output, r.output[-3000:]


@pytest.mark.parametrize("program, scenario, options, kind, strategy, seed, executions", NEEDLES)
def test_fixed_needle_is_clean_under_the_same_search(config, scenario_binary, program, scenario,
                                                     options, kind, strategy, seed, executions):
    binary = scenario_binary(program, config.name)
    r = run(binary, config, scenario, "fixed", options, *search(strategy, seed, executions))
    assert r.returncode == 0 and not r.records, r.output[-3000:]
    assert f"clean, {executions} execution(s)" in r.output, r.output[-2000:]


def test_cancel_reuse_race_needs_the_reuse(config, scenario_binary):
    """With the quarantine on, no number is handed out again at once: the same search finds
    the two closes as a double-close, never as a foreign-close of the next query's socket."""
    binary = scenario_binary("double_close", config.name)
    r = run(binary, config, "cancel-reuse-race", "buggy", "", *search("random", 1, 200))
    assert r.kind == "double-close", r.output[-3000:]
    frames = r.records[0]["stacks"]
    assert frames["current"][0]["function"] == "probe_close_once", r.output[-3000:]


def test_exit_count_race_report_names_the_worker_between_its_steps(config, scenario_binary):
    """modcheck's census names the worker that counted itself out and is still in the module,
    in the function of its last steps."""
    binary = scenario_binary("module_unload", config.name)
    r = run(binary, config, "exit-count-race", "buggy", "", *search("random", 1, 300))
    assert r.kind == "unload-while-running", r.output[-3000:]
    assert "'drv-worker' is suspended inside it" in r.output, r.output[-3000:]
    assert "(worker_exit)" in r.output, r.output[-3000:]


@pytest.mark.parametrize("options", ["", "fd_quarantine=0"])
def test_fixed_cancel_reuse_race_is_clean_under_every_schedule(config, scenario_binary, options):
    """The exhaustive search over every schedule of the fixed variant (1,100), with the
    quarantine on and off: the close-once guard closes exactly once in each."""
    binary = scenario_binary("double_close", config.name)
    r = run(binary, config, "cancel-reuse-race", "fixed", options,
            "--strategy", "dfs", "--iterations", "100000")
    assert r.returncode == 0 and "every schedule explored" in r.output, r.output[-2000:]
    assert not r.records, r.output[-2000:]


def test_drop_cancel_race_report_names_the_cancellation_consumer(config, scenario_binary):
    """The use after free is the reference count's decrement by the completion that consumed
    the drop's cancellation, on the driver's thread, of the inner state the drop freed."""
    binary = scenario_binary("pipe_disconnect", config.name)
    r = run(binary, config, "drop-cancel-race", "buggy", "", *search("random", 1, 50))
    assert r.kind == "heap-use-after-free", r.output[-3000:]
    stacks = r.records[0]["stacks"]
    # (the first word: ASan prints an inlined caller's frame without its line, and the
    # parsed function then carries the file's path)
    current = [f["function"].split()[0] for f in stacks["current"]]
    assert current[:2] == ["unref", "read_done"], r.output[-3000:]
    assert "cancel_driver" in current, r.output[-3000:]
    freed = [f["function"].split()[0] for f in stacks["free"]]
    assert "lgrt_pipe_drop" in freed, r.output[-3000:]
