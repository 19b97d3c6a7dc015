"""`lifeguard ttd` as a user runs it: rows of the DESIGN.md contract, bad input refused."""

import json
import re
import subprocess

import pytest

from conftest import REPO_ROOT

LIFEGUARD = REPO_ROOT / "scripts" / "lifeguard"


def lifeguard(*args):
    return subprocess.run([str(LIFEGUARD), *map(str, args)], capture_output=True, text=True,
                          timeout=600)


def test_ttd_rows(tmp_path, build_root, selected_configs):
    if "plain" not in selected_configs:
        pytest.skip("ttd runs the plain build")
    out = tmp_path / "ttd.json"
    r = lifeguard("ttd", "double-close", "--trials", "3", "--budget", "20", "--strategy", "random",
                  "--strategy", "stress", "--no-build", "--build-dir", build_root, "--json", out)
    assert r.returncode == 0, r.stderr
    rows = json.loads(out.read_text())
    assert [row["strategy"] for row in rows] == ["random", "stress"]
    for row in rows:
        for key in ("class", "fault", "strategy", "trials", "found", "median_execs", "median_seconds"):
            assert key in row, row
        assert row["class"] == "double-close" and row["fault"] == "socket-close-in-drop"
    assert rows[0]["found"] == 3, rows  # the controlled search reaches the ordering every time


def test_ttd_pipe_disconnect_rows_use_the_asan_build(tmp_path, build_root, selected_configs):
    if "asan" not in selected_configs:
        pytest.skip("pipe-disconnect's heap-use-after-free needs the asan build")
    out = tmp_path / "ttd.json"
    r = lifeguard("ttd", "pipe-disconnect", "--trials", "3", "--budget", "20", "--strategy", "pct",
                  "--strategy", "stress", "--no-build", "--build-dir", build_root, "--json", out)
    assert r.returncode == 0, r.stderr
    rows = json.loads(out.read_text())
    assert [(row["strategy"], row["config"]) for row in rows] == [("pct", "asan"), ("stress", "asan")]
    assert rows[0]["found"] == 3 and rows[0]["fault"] == "pipe-post-raw-token", rows
    assert rows[0]["median_execs"] >= 1


def test_ttd_module_unload_is_found_in_the_first_execution(tmp_path, build_root, selected_configs):
    """modcheck's census reports the leftover workers at the first unload under every
    strategy, free-running threads included: every trial finds it in one execution."""
    if "plain" not in selected_configs:
        pytest.skip("ttd runs the plain build")
    out = tmp_path / "ttd.json"
    r = lifeguard("ttd", "module-unload", "--trials", "3", "--budget", "20", "--strategy", "pct",
                  "--strategy", "stress", "--no-build", "--build-dir", build_root, "--json", out)
    assert r.returncode == 0, r.stderr
    rows = json.loads(out.read_text())
    assert [(row["strategy"], row["config"]) for row in rows] == [("pct", "plain"), ("stress", "plain")]
    for row in rows:
        assert row["class"] == "module-unload" and row["fault"] == "driver-static-runtime", row
        assert row["found"] == 3 and row["median_execs"] == 1 and row["note"] is None, row
    assert "time to detect unload-while-running" in r.stdout, r.stdout


def test_ttd_bytes_without_its_fuzzer_is_a_not_built_row(tmp_path, build_root, selected_configs):
    """A class whose libFuzzer binary is not built: the bytes row says so and how to get it,
    the other strategies still run."""
    if "plain" not in selected_configs:
        pytest.skip("ttd runs the plain build")
    real = build_root / "plain" / "scenarios" / "module_unload"
    if not real.is_file():
        pytest.skip(f"{real} is not built")
    root = tmp_path / "build"
    (root / "plain" / "scenarios").mkdir(parents=True)
    (root / "asan" / "fuzz").mkdir(parents=True)
    (root / "plain" / "scenarios" / "module_unload").symlink_to(real)
    out = tmp_path / "ttd.json"
    r = lifeguard("ttd", "module-unload", "--trials", "1", "--budget", "10", "--strategy", "bytes",
                  "--strategy", "random", "--no-build", "--build-dir", root, "--json", out)
    assert r.returncode == 0, r.stderr
    rows = json.loads(out.read_text())
    assert [row["strategy"] for row in rows] == ["bytes", "random"]
    missing = root / "asan" / "fuzz" / "module_unload_fuzz"
    assert rows[0]["trials"] == 0 and rows[0]["found"] == 0 and rows[0]["median_seconds"] is None
    assert rows[0]["note"] == f"not built: {missing} does not exist (drop --no-build to build it)"
    assert rows[1]["found"] == 1, rows
    assert re.search(r"^bytes\s+asan\s+not built\s", r.stdout, re.MULTILINE), r.stdout
    assert f"bytes: not built: {missing}" in r.stdout and "Traceback" not in r.stderr, r.stdout


@pytest.mark.parametrize("args,needle", [
    (("ttd", "pipe-disconnect", "--config", "plain"), "cannot detect heap-use-after-free"),
    (("ttd", "nope"), "is not a class"),
    (("ttd", "gc-async"), "has no time-to-detect target yet"),
    (("ttd", "double-close", "--trials", "0"), "--trials"),
    (("ttd", "double-close", "--strategy", "magic"), "invalid choice"),
])
def test_ttd_bad_input(args, needle):
    r = lifeguard(*args, "--no-build")
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("lifeguard: error:"), r.stderr
    assert needle in lines[0], r.stderr
