# SPDX-License-Identifier: MIT
"""What `lifeguard matrix` asks CMake to do, seen through a stand-in `cmake` on PATH."""

import os
import subprocess
from pathlib import Path

import pytest

from test_run import FAKE_MANIFEST

LIFEGUARD = Path(__file__).resolve().parent.parent.parent / "scripts" / "lifeguard"

FAKE_CMAKE = """\
#!/bin/sh
echo "$*" >> "$FAKE_CMAKE_LOG"
i=1
while [ $i -le 50 ]; do echo "cmake output line $i"; i=$((i + 1)); done
exit "${FAKE_CMAKE_STATUS:-0}"
"""


@pytest.fixture
def cmake_world(tmp_path):
    """A manifest with one config (preset `one`) and a PATH whose `cmake` only logs its args."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    cmake = bin_dir / "cmake"
    cmake.write_text(FAKE_CMAKE)
    cmake.chmod(0o755)
    manifest = tmp_path / "m.toml"
    manifest.write_text(FAKE_MANIFEST.format(counter=tmp_path / "counter"))
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}",
           "FAKE_CMAKE_LOG": str(tmp_path / "cmake.log")}
    return tmp_path, manifest, env


def lifeguard(env, *args):
    return subprocess.run([str(LIFEGUARD), *map(str, args)], capture_output=True, text=True,
                          timeout=120, env=env)


def test_configures_when_there_is_no_cache_then_builds(cmake_world):
    tmp_path, manifest, env = cmake_world
    proc = lifeguard(env, "matrix", "--manifest", manifest, "--build-dir", tmp_path / "b")
    calls = (tmp_path / "cmake.log").read_text().splitlines()
    tree = tmp_path / "b" / "one"
    assert calls[0] == f"--preset one -B {tree}"
    assert calls[1].startswith(f"--build {tree} --parallel ")
    assert len(calls) == 2
    # the stand-in built nothing, so the binary is missing: a one-line error, exit 2
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[-1].startswith("lifeguard: error: ")
    assert "scenarios/fake does not exist after building preset one" in proc.stderr


def test_does_not_configure_again_when_the_cache_exists(cmake_world):
    tmp_path, manifest, env = cmake_world
    tree = tmp_path / "b" / "one"
    tree.mkdir(parents=True)
    (tree / "CMakeCache.txt").write_text("")
    lifeguard(env, "matrix", "--manifest", manifest, "--build-dir", tmp_path / "b")
    calls = (tmp_path / "cmake.log").read_text().splitlines()
    assert len(calls) == 1 and calls[0].startswith(f"--build {tree} ")


def test_a_failed_build_shows_its_tail_and_exits_1(cmake_world):
    tmp_path, manifest, env = cmake_world
    proc = lifeguard({**env, "FAKE_CMAKE_STATUS": "3"}, "matrix", "--manifest", manifest,
                     "--build-dir", tmp_path / "b")
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert "cmake output line 50" in lines and "cmake output line 1" not in lines
    assert lines[-1].startswith("lifeguard: error: `cmake --preset one -B ")
    assert lines[-1].endswith("failed with exit status 3")
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_no_build_does_not_call_cmake(cmake_world):
    tmp_path, manifest, env = cmake_world
    proc = lifeguard(env, "matrix", "--manifest", manifest, "--build-dir", tmp_path / "b",
                     "--no-build")
    assert not (tmp_path / "cmake.log").exists()
    assert proc.returncode == 2 and "does not exist" in proc.stderr
