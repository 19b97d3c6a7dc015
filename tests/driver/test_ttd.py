"""`lifeguard ttd` as a user runs it: rows of the DESIGN.md contract, bad input refused."""

import json
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
