# SPDX-License-Identifier: MIT
"""The double-close class beyond its manifest rows: what happens without fdcheck, how many
reports the three closes of validate-close give, and bad settings in the environment."""

import re

import pytest

from lifeguard_cli import run as runner

PROGRAM = "double_close"


@pytest.fixture(params=["asan", "plain"])
def config(request, selected_configs, lifeguard_manifest):
    if request.param not in selected_configs:
        pytest.skip(f"config {request.param} not selected")
    return lifeguard_manifest.configs[request.param]


@pytest.fixture
def binary(config, scenario_binary):
    return scenario_binary(PROGRAM, config.name)


def run(binary, config, scenario, variant, options="", extra=()):
    env = dict(config.env)
    if options:
        env["LIFEGUARD_OPTIONS"] = options
    return runner.run_scenario(binary, scenario, variant, env, extra_args=extra)


def harmful_schedule(binary, config):
    """The first schedule of reuse-race, in search order, in which the stale close kills the
    victim's socket: found by the exhaustive search with fdcheck off (the symptom ends it)."""
    r = run(binary, config, "reuse-race", "buggy", options="fdcheck=0",
            extra=("--strategy", "dfs", "--iterations", "100000"))
    assert r.returncode == 3, r.output
    found = re.search(r"schedule: (lgs1:\S*)", r.output)
    assert found, r.output
    return found.group(1)


def test_reuse_race_is_silent_corruption_without_fdcheck(binary, config):
    """With fdcheck off no detector speaks, yet in the harmful ordering the stale close
    killed the victim's socket and the victim's datagram went into the logger's file; the
    schedule string printed with the symptom replays it."""
    schedule = harmful_schedule(binary, config)
    r = run(binary, config, "reuse-race", "buggy", options="fdcheck=0",
            extra=("--schedule", schedule))
    assert "SUMMARY:" not in r.output, r.output
    assert r.returncode == 3, r.output
    assert "the victim's datagram never arrived" in r.output, r.output


def test_reuse_race_with_fdcheck_spares_the_victim(binary, config):
    """The same schedule with fdcheck on and the process kept alive: the stale close is
    refused, the victim's datagram arrives, and exactly one double-close is reported."""
    schedule = harmful_schedule(binary, config)
    r = run(binary, config, "reuse-race", "buggy", options="halt_on_error=0",
            extra=("--schedule", schedule))
    assert r.returncode == 0, r.output
    assert [rec["kind"] for rec in r.records] == ["double-close"], r.output


def test_reuse_race_without_quarantine_is_a_foreign_close_of_the_victim(binary, config):
    """With the quarantine off the number is reused, and the stale close is caught as what
    it is: a close of the victim's (tagged) socket by somebody else."""
    schedule = harmful_schedule(binary, config)
    r = run(binary, config, "reuse-race", "buggy", options="fd_quarantine=0",
            extra=("--schedule", schedule))
    assert r.kind == "foreign-close", r.output
    assert r.records[0]["stacks"]["current"][0]["function"] == "lg_owned_fd_drop"
    assert r.records[0]["stacks"]["owner"][0]["function"] == "claim"  # inlined in lg_owned_fd_init


@pytest.mark.parametrize("strategy", ["random", "pct", "dfs"])
def test_reuse_race_detected_in_every_explored_schedule(binary, config, strategy):
    """Whatever the order, fdcheck reports the stale close: 40 executions, 40 double-closes."""
    r = run(binary, config, "reuse-race", "buggy", options="halt_on_error=0:symbolize=0",
            extra=("--strategy", strategy, "--iterations", "40"))
    assert r.returncode == 0, r.output
    assert [rec["kind"] for rec in r.records] == ["double-close"] * 40, r.output


def test_reuse_race_fixed_is_clean_under_every_schedule(binary, config):
    """The exhaustive search over every schedule of the fixed variant: all clean."""
    r = run(binary, config, "reuse-race", "fixed", extra=("--strategy", "dfs", "--iterations", "10000000"))
    assert r.returncode == 0, r.output
    assert "every schedule explored" in r.output, r.output
    assert not r.records


def test_schedule_string_errors_name_the_position(binary, config):
    r = run(binary, config, "reuse-race", "buggy", extra=("--schedule", "lgs1:s1/2=0,x"))
    assert r.returncode == 2, r.output
    assert "bad --schedule at character 13" in r.output, r.output


def test_validate_close_reports_both_extra_closes(binary, config):
    """Three closes of one socket: the second and the third are each a double-close."""
    r = run(binary, config, "validate-close", "buggy", options="halt_on_error=0")
    kinds = [rec["kind"] for rec in r.records]
    assert kinds == ["double-close", "double-close"], r.output
    tops = [rec["stacks"]["current"][0]["function"] for rec in r.records]
    assert tops == ["lg_socket_close", "lg_owned_fd_drop"], tops


def test_fault_option_turns_a_switch_on_in_fixed(binary, config):
    """--fault NAME works for every class: `fixed` plus the trippy switch is buggy again."""
    r = run(binary, config, "wrapper-drop", "fixed", extra=("--fault", "socket-close-in-drop"))
    assert r.kind == "double-close", r.output


@pytest.mark.parametrize("env_name,value,needle", [
    ("LIFEGUARD_OPTIONS", "no_such_option=1", "unknown option"),
    ("LIFEGUARD_OPTIONS", "fd_quarantine=many", "bad value"),
    ("LIFEGUARD_FAULTS", "no-such-switch", "unknown fault switch"),
])
def test_bad_environment_is_one_line_and_status_2(binary, config, env_name, value, needle):
    env = runner.run_env(config.env, "/dev/null")
    env[env_name] = value
    code, output, timed_out, _ = runner.run_process(
        [str(binary), "--scenario", "wrapper-drop", "--variant", "fixed"], env)
    lines = output.strip().splitlines()
    assert code == 2 and len(lines) == 1, output
    assert lines[0].startswith("lifeguard: error:") and needle in lines[0], output
