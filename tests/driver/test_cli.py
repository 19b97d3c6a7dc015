# SPDX-License-Identifier: MIT
"""The command line as a user runs it: `scripts/lifeguard` and the scenario programs themselves.

Bad input of any kind must give exit status 2 and exactly one line on stderr, never a
traceback; good input must give the documented JSON.
"""

import json
import os
import subprocess

import pytest

from test_manifest import MINIMAL

from lifeguard_cli.kinds import CLASSES


def lifeguard(repo_root, *args, cwd=None):
    return subprocess.run([str(repo_root / "scripts" / "lifeguard"), *map(str, args)],
                          capture_output=True, text=True, timeout=600, cwd=cwd)


def assert_one_line_error(proc, prefix="lifeguard: error: "):
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output
    assert "Traceback" not in output, output
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith(prefix), proc.stderr


def test_help(repo_root):
    top = lifeguard(repo_root, "--help")
    assert top.returncode == 0 and "matrix" in top.stdout and "exit status" in top.stdout
    sub = lifeguard(repo_root, "matrix", "--help")
    assert sub.returncode == 0
    for option in ("--class", "--scenario", "--config", "--variant", "--runs", "--json",
                   "--no-build", "--manifest", "--build-dir", "crash:SIGNAME", "wrong frames"):
        assert option in sub.stdout


def test_matrix_json_for_the_double_close_class(repo_root, tmp_path, lifeguard_manifest,
                                                selected_configs, build_root, scenario_binary):
    rows = lifeguard_manifest.select(classes=["double-close"], configs=selected_configs)
    for program, config in dict.fromkeys((r.scenario.program, r.config.name) for r in rows):
        scenario_binary(program, config)
    out = tmp_path / "m.json"
    config_args = [arg for name in selected_configs for arg in ("--config", name)]
    proc = lifeguard(repo_root, "matrix", "--class", "double-close", "--json", out, "--no-build",
                     "--build-dir", build_root, *config_args, cwd=tmp_path)
    data = json.loads(out.read_text())
    assert isinstance(data, list) and len(data) == len(rows)
    for row in data:
        assert {"scenario", "class", "variant", "config", "expected", "observed", "ok", "runs",
                "matched", "seconds", "report", "faults"} <= row.keys()
        assert row["class"] == "double-close" and isinstance(row["ok"], bool)
        assert row["variant"] in ("buggy", "fixed") and row["config"] in selected_configs
    assert len({row["scenario"] for row in data}) >= 4
    failed = [f"{r['scenario']}/{r['variant']}/{r['config']}: {r['observed']}"
              for r in data if not r["ok"]]
    assert not failed, proc.stdout
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[-1] == f"{len(rows)} rows, {len(rows)} ok, 0 failed"


BAD_MANIFESTS = {
    "malformed-toml": ("[config.asan\npreset = \"asan\"\n", "invalid TOML"),
    "unknown-config": (MINIMAL.replace('configs = ["asan", "plain"]', 'configs = ["asan", "tsan"]'),
                       "'tsan'"),
    "outcome-not-a-kind": (MINIMAL.replace('buggy = "double-close"', 'buggy = "double-closed"'),
                           "'double-closed'"),
    "missing-key": (MINIMAL.replace('fixed = "clean"\n', ""), "'fixed'"),
    "wrong-type": (MINIMAL.replace('configs = ["asan", "plain"]', 'configs = "asan"'),
                   "configs"),
}


@pytest.mark.parametrize("name", BAD_MANIFESTS)
def test_bad_manifest(repo_root, tmp_path, name):
    text, names = BAD_MANIFESTS[name]
    path = tmp_path / "bad.toml"
    path.write_text(text)
    proc = lifeguard(repo_root, "matrix", "--manifest", path, "--no-build")
    assert_one_line_error(proc)
    assert "bad.toml" in proc.stderr and names in proc.stderr


BAD_ARGUMENTS = {
    "unknown-class": (["--class", "double-closing"], "'double-closing'"),
    "unknown-scenario": (["--scenario", "no-such-scenario"], "'no-such-scenario'"),
    "unknown-config": (["--config", "no-such-config"], "'no-such-config'"),
    "unknown-option": (["--frobnicate"], "--frobnicate"),
    "runs-zero": (["--runs", "0"], "--runs"),
    "runs-not-a-number": (["--runs", "many"], "--runs"),
    "unknown-variant": (["--variant", "maybe"], "'maybe'"),
    "no-command": ([None], "COMMAND"),
    "unknown-command": ([None, "frobnicate"], "'frobnicate'"),
}


@pytest.mark.parametrize("name", BAD_ARGUMENTS)
def test_bad_arguments(repo_root, name):
    args, names = BAD_ARGUMENTS[name]
    argv = args[1:] if args[:1] == [None] else ["matrix", *args]
    proc = lifeguard(repo_root, *argv)
    assert_one_line_error(proc)
    assert names in proc.stderr


def test_class_without_scenarios(repo_root, tmp_path):
    """A class the manifest has no scenario of (the minimal manifest has double-close only)."""
    path = tmp_path / "minimal.toml"
    path.write_text(MINIMAL)
    empty = next(c for c in CLASSES if c != "double-close")
    proc = lifeguard(repo_root, "matrix", "--manifest", path, "--class", empty, "--no-build")
    assert_one_line_error(proc)
    assert f"'{empty}' has no scenarios" in proc.stderr
    good = lifeguard(repo_root, "matrix", "--manifest", path, "--class", "double-close",
                     "--no-build", "--build-dir", tmp_path / "nothing")
    assert "has no scenarios" not in good.stderr


# Every command, with and without its required arguments: the typo is what gets named.
COMMAND_ARGS = {
    "matrix": [], "bench": [], "verify": ["--", "true"], "explore": ["--", "true"],
    "fuzz": ["double_close"],
    "ttd": ["double-close"], "nightly": ["--budget", "1", "--out", "OUT"],
}


def test_every_command_is_covered():
    from lifeguard_cli.cli import COMMANDS
    assert sorted(c.NAME for c in COMMANDS) == sorted(COMMAND_ARGS)


@pytest.mark.parametrize("with_required", [False, True], ids=["alone", "with-required"])
@pytest.mark.parametrize("command", COMMAND_ARGS)
def test_unknown_option_is_named(repo_root, tmp_path, command, with_required):
    args = [str(tmp_path / "out") if a == "OUT" else a for a in COMMAND_ARGS[command]]
    argv = [command, "--frobnicate", *args] if with_required else [command, "--frobnicate"]
    proc = lifeguard(repo_root, *argv)
    assert_one_line_error(proc)
    assert "unknown option --frobnicate" in proc.stderr and "required" not in proc.stderr
    assert f"'lifeguard {command} --help'" in proc.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv, words", [
    (["fuzz"], "the following arguments are required: TARGET"),
    (["ttd"], "the following arguments are required: CLASS"),
    (["nightly", "--budget", "5"], "the following arguments are required: --out"),
    (["fuzz", "double_close", "--seconds", "5", "stray"], "unexpected argument 'stray'"),
    (["nightly", "--bud", "5", "--oot", "x"], "unknown option --oot"),
    (["ttd", "double-close", "--trials", "0"], "--trials: must be a positive whole number"),
    (["ttd", "double-close", "--budget", "nan"], "--budget: must be a positive number"),
    (["matrix", "--timeout", "-1"], "--timeout: must be a positive number of seconds"),
])
def test_missing_and_bad_arguments(repo_root, argv, words):
    """The other side: a missing argument without a typo is named as missing, a stray word as
    unexpected, and a known option (or its abbreviation) is never called unknown."""
    proc = lifeguard(repo_root, *argv)
    assert_one_line_error(proc)
    assert words in proc.stderr


def _program_run(binary, env, *args):
    return subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **env})


def test_program_list_agrees_with_the_manifest(program_config, lifeguard_manifest,
                                               scenario_binary):
    program, config = program_config
    binary = scenario_binary(program, config)
    proc = _program_run(binary, lifeguard_manifest.configs[config].env, "--list")
    assert proc.returncode == 0, proc.stderr
    listed = json.loads(proc.stdout)
    ours = [s for s in lifeguard_manifest.scenarios if s.program == program]
    assert listed["program"] == program
    assert {listed["class"]} == {s.cls for s in ours}
    assert sorted(s["name"] for s in listed["scenarios"]) == sorted(s.name for s in ours)
    faults = {s["name"]: sorted(s["faults"]) for s in listed["scenarios"]}
    for scenario in ours:
        assert faults[scenario.name] == sorted(scenario.faults), scenario.name


PROGRAM_BAD_INPUTS = {
    "unknown-scenario": lambda s: ["--scenario", "no-such-scenario", "--variant", "fixed"],
    "unknown-variant": lambda s: ["--scenario", s, "--variant", "maybe"],
    "unknown-option": lambda s: ["--scenario", s, "--variant", "fixed", "--frobnicate"],
    "unknown-fault": lambda s: ["--scenario", s, "--variant", "buggy", "--fault", "no-such-fault"],
    "iterations-not-a-number": lambda s: ["--scenario", s, "--variant", "fixed",
                                          "--iterations", "many"],
}


@pytest.mark.parametrize("case", PROGRAM_BAD_INPUTS)
def test_program_bad_input(case, program_config, lifeguard_manifest, scenario_binary):
    program, config = program_config
    binary = scenario_binary(program, config)
    scenario = next(s.name for s in lifeguard_manifest.scenarios if s.program == program)
    proc = _program_run(binary, lifeguard_manifest.configs[config].env,
                        *PROGRAM_BAD_INPUTS[case](scenario))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert proc.stderr.strip() and "SUMMARY:" not in proc.stderr, proc.stderr
