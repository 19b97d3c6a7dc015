# SPDX-License-Identifier: MIT
"""`lifeguard ttd` as a user runs it: the rows its JSON contract names, bad input refused."""

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
        pytest.skip("the plain preset (this class's ttd build) is not selected in this session")
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


@pytest.mark.parametrize("cls, fault", [("pipe-disconnect", "pipe-post-raw-token"),
                                        ("gc-async", "bind-vec-borrow-unpinned")])
@pytest.mark.parametrize("config, kind", [("asan", "heap-use-after-free"),
                                          ("plain", "heap-use-after-free")])
def test_ttd_heap_classes_run_in_either_build(tmp_path, build_root, selected_configs, cls,
                                              fault, config, kind):
    """The use after free is ASan's report in the asan build and the page heap's in the plain
    one, under the same name: ttd waits for it in the build it runs."""
    if config not in selected_configs:
        pytest.skip(f"the {config} preset is not selected in this session")
    out = tmp_path / "ttd.json"
    r = lifeguard("ttd", cls, "--config", config, "--trials", "3", "--budget", "20",
                  "--strategy", "pct", "--no-build", "--build-dir", build_root, "--json", out)
    assert r.returncode == 0, r.stderr
    rows = json.loads(out.read_text())
    assert [(row["strategy"], row["config"]) for row in rows] == [("pct", config)]
    assert rows[0]["found"] == 3 and rows[0]["fault"] == fault, rows
    assert rows[0]["median_execs"] >= 1
    assert f"time to detect {kind} " in r.stdout, r.stdout


def test_ttd_pipe_disconnect_rows_use_the_asan_build_by_default(tmp_path, build_root,
                                                                selected_configs):
    if "asan" not in selected_configs:
        pytest.skip("the asan preset (pipe-disconnect's default build) is not selected in "
                    "this session")
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
        pytest.skip("the plain preset (this class's ttd build) is not selected in this session")
    out = tmp_path / "ttd.json"
    r = lifeguard("ttd", "module-unload", "--trials", "3", "--budget", "20", "--strategy", "pct",
                  "--strategy", "stress", "--no-build", "--build-dir", build_root, "--json", out)
    assert r.returncode == 0, r.stderr
    rows = json.loads(out.read_text())
    assert [(row["strategy"], row["config"]) for row in rows] == [("pct", "plain"), ("stress", "plain")]
    for row in rows:
        assert row["class"] == "module-unload" and row["fault"] == "driver-static-runtime", row
        assert row["found"] == 3 and row["median_execs"] == 1 and row["note"] is None, row
        assert "speedup_vs_stress_alone" not in row, row
    assert "time to detect unload-while-running" in r.stdout, r.stdout


def test_ttd_module_unload_stress_alone_is_asan_seeing_the_late_call(tmp_path, build_root,
                                                                     selected_configs):
    """The second baseline: the same loop with modcheck off, under ASan, found when ASan
    reports the SEGV of a worker waking in the unmapped module; every row gets its ratio."""
    if "plain" not in selected_configs:
        pytest.skip("the plain preset (this class's ttd build) is not selected in this session")
    if not (build_root / "asan" / "scenarios" / "module_unload").is_file():
        pytest.skip("stress-alone runs the asan build beside the plain one: not built")
    out = tmp_path / "ttd.json"
    r = lifeguard("ttd", "module-unload", "--trials", "2", "--budget", "20", "--strategy", "random",
                  "--strategy", "stress-alone", "--no-build", "--build-dir", build_root, "--json", out)
    assert r.returncode == 0, r.stderr
    rows = json.loads(out.read_text())
    assert [(row["strategy"], row["config"]) for row in rows] == [("random", "plain"),
                                                                  ("stress-alone", "asan")]
    assert all(row["found"] == 2 for row in rows), rows
    assert rows[1]["speedup_vs_stress_alone"] == 1.0 and rows[0]["speedup_vs_stress_alone"] > 1, rows
    assert re.search(r"^stress-alone\s+asan\s+2/2\s", r.stdout, re.MULTILINE), r.stdout


def test_ttd_bytes_without_its_fuzzer_is_a_not_built_row(tmp_path, build_root, selected_configs):
    """A class whose libFuzzer binary is not built: the bytes row says so and how to get it,
    the other strategies still run."""
    if "plain" not in selected_configs:
        pytest.skip("the plain preset (this class's ttd build) is not selected in this session")
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
    (("ttd", "nope"), "is not a class"),
    (("ttd", "gc-async", "--config", "tsan"), "--config must be plain or asan"),
    (("ttd", "double-close", "--trials", "0"), "--trials"),
    (("ttd", "double-close", "--strategy", "magic"), "invalid choice"),
    (("ttd", "double-close", "--strategy", "stress-alone"), "has no stress-alone baseline"),
])
def test_ttd_bad_input(args, needle):
    r = lifeguard(*args, "--no-build")
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("lifeguard: error:"), r.stderr
    assert needle in lines[0], r.stderr


def fake_scenario(root, preset, text, status):
    """A stand-in scenario program that prints `text` on stderr and exits with `status`."""
    path = root / preset / "scenarios" / "module_unload"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\ncat >&2 <<'EOF'\n{text}\nEOF\nexit {status}\n")
    path.chmod(0o755)


def test_ttd_counts_an_asan_report_cut_short_by_a_nested_fault(tmp_path):
    """ASan's report began (its ERROR line names the kind) but unwinding through the unmapped
    module faulted again and ASan exited before the ttd line: found, executions unknown."""
    root = tmp_path / "build"
    fake_scenario(root, "asan", "==7==ERROR: AddressSanitizer: SEGV on unknown address 0x7f0\n"
                  "AddressSanitizer: nested bug in the same thread, aborting.", 1)
    out = tmp_path / "ttd.json"
    r = lifeguard("ttd", "module-unload", "--trials", "2", "--budget", "5", "--strategy",
                  "stress-alone", "--no-build", "--build-dir", root, "--json", out)
    assert r.returncode == 0, r.stderr
    [row] = json.loads(out.read_text())
    assert row["found"] == 2 and row["median_execs"] is None and row["median_seconds"] > 0, row


def test_ttd_refuses_a_run_that_printed_neither(tmp_path):
    """No ttd line and no report of the kind: an error naming the program, not a row."""
    root = tmp_path / "build"
    fake_scenario(root, "asan", "==7==ERROR: AddressSanitizer: heap-use-after-free on 0x60", 1)
    r = lifeguard("ttd", "module-unload", "--trials", "1", "--budget", "5", "--strategy",
                  "stress-alone", "--no-build", "--build-dir", root)
    assert r.returncode != 0
    assert "printed no ttd line (exit 1)" in r.stderr and "Traceback" not in r.stderr, r.stderr


# ---- --scenario: one scenario of the class, and the needles -------------------------------

from lifeguard_cli import ttd  # noqa: E402  (conftest puts scripts/ on the path)


@pytest.mark.parametrize("args,needle", [
    (("ttd", "double-close", "--scenario", "nope"), "'nope' is not a scenario of double-close"),
    (("ttd", "double-close", "--scenario", "handoff-race"),
     "'handoff-race' is not a scenario of double-close"),
])
def test_ttd_bad_scenario(args, needle):
    r = lifeguard(*args, "--no-build")
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("lifeguard: error:"), r.stderr
    assert needle in lines[0] and "cancel-race" in lines[0], r.stderr


def test_ttd_bad_fault_is_the_programs_one_line(build_root, selected_configs):
    if "plain" not in selected_configs:
        pytest.skip("the plain preset (double-close's ttd build) is not selected in this session")
    r = lifeguard("ttd", "double-close", "--scenario", "cancel-race", "--fault", "no-such-switch",
                  "--strategy", "random", "--no-build", "--build-dir", build_root)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert lines[0] == "lifeguard: error: --fault: unknown fault switch 'no-such-switch'", r.stderr


def test_ttd_scenario_targets():
    """Each needle is a scenario of the manifest with the switch its buggy variant turns on;
    any other scenario gets its target from the manifest; the class's own stays as it was."""
    from lifeguard_cli import manifest
    scenarios = {(s.cls, s.name): s for s in manifest.load(ttd.DEFAULT_MANIFEST).scenarios}
    for (cls, name), t in ttd.NEEDLES.items():
        assert (t.cls, t.scenario) == (cls, name) and (cls, name) in scenarios
        assert t.fault == ",".join(scenarios[(cls, name)].faults)
        assert ttd.scenario_target(cls, name, ttd.TARGETS[cls]) is t
    base = ttd.TARGETS["double-close"]
    assert ttd.scenario_target("double-close", None, base) is base
    assert ttd.scenario_target("double-close", "reuse-race", base) is base
    t = ttd.scenario_target("double-close", "validate-close", base)
    assert t.fault == "socket-close-in-drop,socket-validate-close" and t.kind == "double-close"
    assert ttd.variant_args(t, t.fault) == ["--variant", "buggy"]
    assert ttd.variant_args(t, "a,b") == ["--variant", "fixed", "--fault", "a", "--fault", "b"]
    # each (scenario, switches) pair has its own section in docs/BENCHMARKS.md
    marks = {ttd.doc_begin(base, base.fault), ttd.doc_begin(t, t.fault), ttd.doc_begin(t, "x")}
    assert len(marks) == 3 and ttd.doc_begin(base, base.fault).endswith(" double-close:")
    assert not any(a != b and b.startswith(a) for a in marks for b in marks)


def test_ttd_scenario_rows(tmp_path, build_root, selected_configs):
    """The needle of double-close: dfs finds it in its single trial; every row names the
    scenario and the needle's switch."""
    if "plain" not in selected_configs:
        pytest.skip("the plain preset (double-close's ttd build) is not selected in this session")
    out = tmp_path / "ttd.json"
    r = lifeguard("ttd", "double-close", "--scenario", "cancel-race", "--trials", "2", "--budget",
                  "20", "--strategy", "dfs", "--strategy", "pct", "--no-build", "--build-dir",
                  build_root, "--json", out)
    assert r.returncode == 0, r.stderr
    rows = json.loads(out.read_text())
    assert [(row["strategy"], row["trials"], row["found"]) for row in rows] == [("dfs", 1, 1),
                                                                                 ("pct", 2, 2)]
    for row in rows:
        assert (row["class"], row["scenario"], row["fault"]) == (
            "double-close", "cancel-race", "socket-close-check-then-set"), row
    assert "scenario cancel-race" in r.stdout, r.stdout


def test_ttd_fault_on_another_scenario_runs_the_fixed_variant(tmp_path, build_root,
                                                              selected_configs):
    """--fault names switches that are not the scenario's own: the fixed variant runs with
    them on. validate-close with only the wrapper's close in destroy is a double-close."""
    if "plain" not in selected_configs:
        pytest.skip("the plain preset (double-close's ttd build) is not selected in this session")
    out = tmp_path / "ttd.json"
    r = lifeguard("ttd", "double-close", "--scenario", "validate-close", "--fault",
                  "socket-close-in-drop", "--trials", "2", "--budget", "20", "--strategy",
                  "random", "--no-build", "--build-dir", build_root, "--json", out)
    assert r.returncode == 0, r.stderr
    [row] = json.loads(out.read_text())
    assert (row["scenario"], row["fault"], row["found"]) == (
        "validate-close", "socket-close-in-drop", 2), row


def run_scenario(build_root, config, program, *args, options=""):
    binary = build_root / config / "scenarios" / program
    if not binary.is_file():
        pytest.skip(f"{binary} is not built")
    env = {"LIFEGUARD_OPTIONS": ":".join(o for o in ("symbolize=0", options) if o),
           "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0:symbolize=0"}
    return subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=600,
                          env={**__import__("os").environ, **env})


# gc-async's needle is not here: free-running, one execution takes the seed's 2 s.
# pipe-disconnect's handoff-race is no needle: stress finds it now and then.
# (class, config, program, scenario, kind, LIFEGUARD_OPTIONS): the needles of two windows
# (cancel-reuse-race, exit-count-race, drop-cancel-race) and cancel-race, of one.
NEEDLE_RUNS = [
    ("double-close", "plain", "double_close", "cancel-race", "double-close", ""),
    ("double-close", "plain", "double_close", "cancel-reuse-race", "foreign-close",
     "fd_quarantine=0"),
    ("module-unload", "plain", "module_unload", "exit-count-race", "unload-while-running", ""),
    ("pipe-disconnect", "plain", "pipe_disconnect", "drop-cancel-race", "heap-use-after-free", ""),
]


@pytest.mark.slow
@pytest.mark.parametrize("cls, config, program, scenario, kind, options", NEEDLE_RUNS)
def test_needle_is_missed_by_free_running_threads(build_root, selected_configs, cls, config,
                                                  program, scenario, kind, options):
    """What makes a needle: 1,000 free-running executions of the buggy variant report nothing
    of its kind (the stalls it needs are windows of nanoseconds to a thread the OS schedules),
    while PCT finds it within 1,000 executions from the same seed."""
    if config not in selected_configs:
        pytest.skip(f"the {config} preset is not selected in this session")
    free = run_scenario(build_root, config, program, "--scenario", scenario, "--variant", "buggy",
                        "--strategy", "free", "--iterations", "1000", "--until", kind,
                        options=options)
    assert f"ttd: kind={kind} found=0 executions=1000 " in free.stdout, (
        free.stdout + free.stderr[-2000:])
    pct = run_scenario(build_root, config, program, "--scenario", scenario, "--variant", "buggy",
                       "--strategy", "pct", "--seed", "1", "--iterations", "1000000",
                       "--until", kind, "--budget", "60", options=options)
    assert f"ttd: kind={kind} found=1 " in pct.stdout, pct.stdout + pct.stderr[-2000:]
