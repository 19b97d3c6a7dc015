# SPDX-License-Identifier: MIT
"""LIFEGUARD_OPTIONS: help=1, log_path and suppressions, on a program linked with lifeguard
(tests/seeded/fd_double_close: its `fault` mode closes a descriptor twice, in close_again;
its `clean` mode does not), in each selected build tree; and docs/options.md's options table, which
must say what help=1 says (the table in harness/src/options.inc is the one source of both).
"""

import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROGRAM = "tests/seeded/seeded_fd_double_close"
OPTION_LINE = re.compile(r"^  ([a-z_]+)=(.*)$")


@pytest.fixture(scope="module", params=["plain", "asan"])
def program(request, selected_configs, lifeguard_manifest, build_root):
    presets = {lifeguard_manifest.configs[c].preset for c in selected_configs}
    if request.param not in presets:
        pytest.skip(f"the {request.param} preset is not selected")
    path = build_root / request.param / PROGRAM
    if not path.is_file():
        pytest.fail(f"{path} is not built (cmake --build --preset {request.param})",
                    pytrace=False)
    return path


def run(program, options, mode="fault"):
    env = {**os.environ, "LIFEGUARD_OPTIONS": options}
    env.pop("ASAN_OPTIONS", None)
    return subprocess.run([str(program), mode], capture_output=True, text=True, env=env,
                          timeout=120)


def help_rows(text):
    """{name: (default, meaning)} from help=1's output."""
    rows, lines = {}, text.splitlines()
    for i, line in enumerate(lines):
        m = OPTION_LINE.match(line)
        if m:
            assert i + 1 < len(lines) and lines[i + 1].startswith("      "), line
            rows[m.group(1)] = (m.group(2), lines[i + 1].strip())
    return rows


def table_names():
    text = (REPO / "harness/src/options.inc").read_text()
    return re.findall(r"^LG_OPTION_[A-Z0-9]+\((\w+),", text, re.M)


def readme_rows():
    """{name: (default, meaning)} from docs/options.md's options table (between its markers)."""
    text = (REPO / "docs" / "options.md").read_text()
    start = text.index("<!-- options table:")
    end = text.index("<!-- end of options table -->")
    rows = {}
    for line in text[start:end].splitlines():
        m = re.match(r"^\| `([a-z_]+)=(.*)` \| (.*) \|$", line)
        if m:
            rows[m.group(1)] = (m.group(2), m.group(3))
    return rows


def test_help_lists_every_option_and_exits_0(program):
    r = run(program, "help=1")
    assert r.returncode == 0, r.stderr
    assert "ERROR" not in r.stderr and "done" not in r.stdout  # it exited before main
    rows = help_rows(r.stderr)
    names = table_names()
    assert len(names) > 20 and list(rows) == names
    assert rows["fd_quarantine"][0] == "64" and rows["log_path"][0] == ""


def test_help_shows_defaults_not_the_options_given(program):
    rows = help_rows(run(program, "fd_quarantine=3:help=1").stderr)
    assert rows["fd_quarantine"][0] == "64"


def test_readme_table_is_what_help_says(program):
    assert readme_rows() == help_rows(run(program, "help=1").stderr)


def test_unknown_option_is_one_line_and_status_2(program):
    r = run(program, "halt_on_error=1:no_such_option=1", "clean")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.splitlines() == [
        "lifeguard: error: LIFEGUARD_OPTIONS: unknown option in 'no_such_option=1' "
        "(help=1 lists the options)"]


def test_log_path_writes_the_file_and_not_stderr(program, tmp_path):
    r = run(program, f"log_path={tmp_path}/report")
    assert r.returncode != 0
    files = list(tmp_path.glob("report.*"))
    assert len(files) == 1 and files[0].name.split(".")[1].isdigit(), files
    text = files[0].read_text()
    assert "ERROR: lifeguard: double-close" in text and "close_again" in text
    assert "SUMMARY: lifeguard: double-close" in text
    assert "lifeguard" not in r.stderr, r.stderr


def test_without_log_path_the_report_is_on_stderr(program, tmp_path):
    r = run(program, "")
    assert r.returncode != 0 and "SUMMARY: lifeguard: double-close" in r.stderr
    assert not list(tmp_path.iterdir())


def suppressions(tmp_path, *rules):
    path = tmp_path / "supp.txt"
    path.write_text("# what this program may do\n\n" + "\n".join(rules) + "\n")
    return path


@pytest.mark.parametrize("rule", ["fun:close_again", "fun:close_a*", "mod:seeded_fd_double_*"])
def test_matching_suppression_drops_the_report(program, tmp_path, rule):
    r = run(program, f"suppressions={suppressions(tmp_path, rule)}")
    assert r.returncode == 0 and r.stdout.strip() == "done", r.stderr
    assert "ERROR" not in r.stderr
    assert r.stderr.strip().endswith("lifeguard: 1 report(s) suppressed "
                                     f"(suppressions={tmp_path / 'supp.txt'})"), r.stderr


@pytest.mark.parametrize("rule", ["fun:close_first", "fun:close", "mod:libnothing.so"])
def test_other_suppression_still_reports(program, tmp_path, rule):
    r = run(program, f"suppressions={suppressions(tmp_path, rule)}")
    assert r.returncode != 0 and "SUMMARY: lifeguard: double-close" in r.stderr
    assert "suppressed" not in r.stderr


def test_bad_suppressions_file_is_one_line_and_status_2(program, tmp_path):
    r = run(program, f"suppressions={suppressions(tmp_path, 'fun:ok', 'frame:close')}", "clean")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.splitlines() == [
        f"lifeguard: error: LIFEGUARD_OPTIONS: suppressions file {tmp_path / 'supp.txt'}, "
        "line 4: expected fun:GLOB or mod:GLOB in 'frame:close'"]
    r = run(program, f"suppressions={tmp_path / 'missing'}", "clean")
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1, r.stderr


def test_a_fault_at_an_access_is_never_suppressed(build_root, selected_configs,
                                                  lifeguard_manifest, tmp_path):
    """The page heap's heap-use-after-free is a fault the program cannot go on from: a rule that
    names its function does not drop it (plain tree: the page heap is not in ASan's)."""
    presets = {lifeguard_manifest.configs[c].preset for c in selected_configs}
    if "plain" not in presets:
        pytest.skip("the plain preset is not selected")
    program = build_root / "plain/tests/seeded/seeded_heap_uaf"
    r = run(program, f"suppressions={suppressions(tmp_path, 'fun:use_block')}")
    assert r.returncode != 0 and "SUMMARY: lifeguard: heap-use-after-free" in r.stderr, r.stderr
    assert "suppressed" not in r.stderr


def test_help_in_the_preload_library(build_root, selected_configs, lifeguard_manifest):
    """Preloaded, help=1 answers before the program runs, with the preload library's
    defaults (sampling by allocation site on)."""
    presets = {lifeguard_manifest.configs[c].preset for c in selected_configs}
    if "plain" not in presets:
        pytest.skip("the plain preset is not selected")
    library = build_root / "plain/harness/liblifeguard-preload.so"
    assert library.is_file(), f"{library} is not built (cmake --build --preset plain)"
    env = {**os.environ, "LD_PRELOAD": str(library), "LIFEGUARD_OPTIONS": "help=1"}
    r = subprocess.run(["/bin/echo", "ran"], capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 0 and r.stdout == ""
    rows = help_rows(r.stderr)
    assert list(rows) == table_names() and rows["pageheap_sites"][0] == "1"
