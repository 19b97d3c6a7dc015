"""The double-close class beyond its manifest rows: what happens without fdcheck, how many
reports the three closes of validate-close give, and bad settings in the environment."""

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


def test_reuse_race_is_silent_corruption_without_fdcheck(binary, config):
    """The reference interleaving with fdcheck off: no detector speaks, yet the stale close
    killed the victim's socket and the victim's datagram went into the logger's file."""
    r = run(binary, config, "reuse-race", "buggy", options="fdcheck=0")
    assert "SUMMARY:" not in r.output, r.output
    assert r.returncode == 3, r.output
    assert "written into the logger's file" in r.output, r.output


def test_reuse_race_with_fdcheck_spares_the_victim(binary, config):
    """With fdcheck on and the process kept alive, the stale close is refused: the victim's
    datagram arrives, and exactly one double-close is reported."""
    r = run(binary, config, "reuse-race", "buggy", options="halt_on_error=0")
    assert r.returncode == 0, r.output
    assert [rec["kind"] for rec in r.records] == ["double-close"], r.output


@pytest.mark.parametrize("seed", range(1, 13))
def test_reuse_race_detected_in_every_interleaving(binary, config, seed):
    """Seeds pick where the victim opens (before, between, after the two closes): fdcheck
    reports the stale close in each, with no symptom reaching the victim."""
    r = run(binary, config, "reuse-race", "buggy", options="halt_on_error=0", extra=("--seed", str(seed)))
    assert [rec["kind"] for rec in r.records] == ["double-close"], r.output
    assert r.returncode == 0, r.output


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
