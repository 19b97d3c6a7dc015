# SPDX-License-Identifier: MIT
"""Running rows and the matrix command, against a stand-in program (fake_program.py):
environment, JSON log, timeouts, repeated runs, the table and the JSON file. No C build needed.
"""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from lifeguard_cli import manifest
from lifeguard_cli import run as runner

HERE = Path(__file__).resolve().parent
LIFEGUARD = HERE.parent.parent / "scripts" / "lifeguard"

FAKE_MANIFEST = """\
[config.one]
preset = "one"
env = {{ FAKE_SETTING = "from-manifest", FAKE_COUNTER = "{counter}" }}

[[scenario]]
name = "double-close"
class = "double-close"
program = "fake"
faults = ["socket-close-in-drop"]
configs = ["one"]
buggy = "double-close"
fixed = "clean"
frames = {{ current = "lg_owned_fd_drop", close = "lg_socket_close", open = "lg_socket_open" }}

[[scenario]]
name = "wrong-frames"
class = "double-close"
program = "fake"
faults = ["socket-close-in-drop"]
configs = ["one"]
buggy = "double-close"
fixed = "clean"
frames = {{ current = "lg_owned_fd_drop", close = "lg_socket_close" }}

[[scenario]]
name = "flaky"
class = "pipe-disconnect"
program = "fake"
faults = ["pipe-post-raw-token"]
configs = ["one"]
buggy = "clean"
fixed = "clean"
"""


@pytest.fixture
def fake(tmp_path):
    """A build root with the stand-in program at one/scenarios/fake, and a manifest for it."""
    program = tmp_path / "build" / "one" / "scenarios" / "fake"
    program.parent.mkdir(parents=True)
    shutil.copy(HERE / "fake_program.py", program)
    program.chmod(0o755)
    path = tmp_path / "m.toml"
    path.write_text(FAKE_MANIFEST.format(counter=tmp_path / "counter"))
    return manifest.load(path), tmp_path / "build"


def row(m, scenario, variant="buggy"):
    return next(r for r in m.rows() if r.scenario.name == scenario and r.variant == variant)


def test_run_env_merges_and_appends_options():
    base = {"PATH": "/bin", "LIFEGUARD_OPTIONS": "fd_quarantine=0", "LIFEGUARD_FAULTS": "x"}
    env = runner.run_env({"ASAN_OPTIONS": "abort_on_error=1"}, "/tmp/r.jsonl", base)
    assert env["LIFEGUARD_OPTIONS"] == "fd_quarantine=0:log_json=/tmp/r.jsonl"
    assert env["ASAN_OPTIONS"] == "abort_on_error=1" and env["PATH"] == "/bin"
    assert "LIFEGUARD_FAULTS" not in env
    assert runner.run_env({}, "/tmp/r.jsonl", {})["LIFEGUARD_OPTIONS"] == "log_json=/tmp/r.jsonl"
    assert base["LIFEGUARD_OPTIONS"] == "fd_quarantine=0"  # the caller's environment is untouched


def test_the_program_sees_the_config_env_and_a_log_path(fake, monkeypatch):
    m, build = fake
    monkeypatch.setenv("LIFEGUARD_OPTIONS", "verbose=1")
    monkeypatch.setenv("LIFEGUARD_FAULTS", "socket-close-in-drop")
    binary = runner.row_binary(row(m, "double-close"), build)
    result = runner.run_scenario(binary, "env", "fixed", m.configs["one"].env)
    seen = json.loads(result.output.splitlines()[-1])
    assert seen["FAKE_SETTING"] == "from-manifest"
    assert seen["LIFEGUARD_OPTIONS"].startswith("verbose=1:log_json=/")
    assert seen["LIFEGUARD_FAULTS"] is None
    assert result.argv[1:] == ["--scenario", "env", "--variant", "fixed", "--iterations", "1"]
    assert result.kind == "clean"


def test_a_reported_fault_with_the_right_frames(fake):
    m, build = fake
    result = runner.run_row(row(m, "double-close"), build)
    assert result.ok and result.observed == "double-close"
    assert result.runs[0].returncode == -6
    assert result.runs[0].records[0]["stacks"]["close"][0]["function"] == "lg_socket_close"
    assert result.report()[0].endswith("ERROR: lifeguard: double-close on file descriptor 5")


def test_a_reported_fault_with_the_wrong_frames(fake):
    m, build = fake
    result = runner.run_row(row(m, "wrong-frames"), build)
    assert not result.ok
    assert result.observed == ("double-close (wrong frames: close top is lg_owned_fd_drop, "
                               "expected lg_socket_close)")


def test_a_hanging_run_is_killed_and_called_timeout(fake):
    m, build = fake
    binary = runner.row_binary(row(m, "double-close"), build)
    result = runner.run_scenario(binary, "hang", "fixed", {}, timeout=1)
    assert result.timed_out and result.kind == "timeout"
    assert result.seconds < 30


def test_a_signal_without_report(fake):
    m, build = fake
    binary = runner.row_binary(row(m, "double-close"), build)
    assert runner.run_scenario(binary, "segv", "fixed", {}).kind == "crash:SIGSEGV"


def test_repeated_runs_count_matches(fake):
    m, build = fake
    result = runner.run_row(row(m, "flaky", "fixed"), build, runs=4)
    assert [len(result.runs), result.matched, result.ok] == [4, 2, False]
    assert result.observed == "clean x2, double-close x2"
    # the run shown is the first one that did not match
    assert "ERROR: lifeguard: double-close" in result.report()[0]
    as_json = result.to_json()
    assert as_json["runs"] == 4 and as_json["matched"] == 2 and as_json["ok"] is False


def lifeguard(*args, cwd=None):
    return subprocess.run([str(LIFEGUARD), *map(str, args)], capture_output=True, text=True,
                          timeout=120, cwd=cwd)


def test_matrix_command_table_and_json(fake, tmp_path):
    m, build = fake
    out = tmp_path / "rows.json"
    proc = lifeguard("matrix", "--manifest", m.path, "--build-dir", build, "--no-build",
                     "--class", "double-close", "--json", out)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["class", "scenario", "variant", "config", "expected",
                                "observed", "ok"]
    assert lines[-1] == "4 rows, 3 ok, 1 failed"
    failed = [i for i, line in enumerate(lines) if line.rstrip().endswith("FAIL")]
    assert len(failed) == 1 and "wrong-frames" in lines[failed[0]]
    assert "(wrong frames: close top is lg_owned_fd_drop" in lines[failed[0]]
    assert "ERROR: lifeguard: double-close" in lines[failed[0] + 1]
    assert lines[failed[0] + 1].startswith("      | ")
    rows = json.loads(out.read_text())
    assert len(rows) == 4
    for r in rows:
        assert {"scenario", "class", "variant", "config", "expected", "observed", "ok", "runs",
                "matched", "seconds", "report", "faults"} <= r.keys()
        assert isinstance(r["ok"], bool) and isinstance(r["report"], list)
    assert [r["ok"] for r in rows].count(False) == 1


def test_matrix_command_all_ok_exits_0(fake):
    m, build = fake
    proc = lifeguard("matrix", "--manifest", m.path, "--build-dir", build, "--no-build",
                     "--scenario", "double-close", "--runs", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok 2/2" in proc.stdout
    assert proc.stdout.splitlines()[-1] == "2 rows, 2 ok, 0 failed"
    assert proc.stderr == ""


def test_matrix_command_missing_binary_is_an_error(fake, tmp_path):
    m, _ = fake
    (tmp_path / "empty" / "one").mkdir(parents=True)
    proc = lifeguard("matrix", "--manifest", m.path, "--build-dir", tmp_path / "empty",
                     "--no-build")
    assert proc.returncode == 2
    assert proc.stderr.startswith("lifeguard: error: ") and proc.stderr.count("\n") == 1
    assert "scenarios/fake does not exist" in proc.stderr
