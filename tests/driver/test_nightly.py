# SPDX-License-Identifier: MIT
"""`lifeguard nightly` as a CI job runs it: one shared short run over two targets (sched_uaf,
whose planted race crashes by design, and double_close with its fault switch on) whose four
reports are then read from every side; a run killed halfway and run again; bad input; and
the atomic merge-back on its own. Every run works on a temporary copy of corpora/, never on
the repository's. The real runs need the asan tree (libFuzzer); the rest runs anywhere."""

import base64
import hashlib
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import pytest

from conftest import REPO_ROOT

from lifeguard_cli import nightly_corpus, nightly_state

LIFEGUARD = REPO_ROOT / "scripts" / "lifeguard"
TARGETS = ("sched_uaf", "double_close")
FAULT = "socket-close-in-drop"
SUMMARY_KEYS = ("execs", "exec_per_sec", "seconds", "crashes", "coverage", "corpus_size",
                "seconds_to_first_crash")
FINDING_KEYS = ("target", "kind", "summary", "dedup_token", "new", "candidate", "frame")


def clean_env():
    """The environment without lifeguard's switches and the caller's ASAN_OPTIONS (CTest's
    detect_leaks=1 would turn sched_uaf's lost update into a leak first)."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("LIFEGUARD_", "LG_FUZZ_", "SCHED_UAF")) and k != "ASAN_OPTIONS"}


def nightly_argv(build_root, out, corpora, budget, targets, *extra):
    return [str(LIFEGUARD), "nightly", "--budget", str(budget), "--jobs", "2", "--targets",
            ",".join(targets), "--out", str(out), "--corpora", str(corpora), "--no-build",
            "--build-dir", str(build_root), *extra]


def copy_corpora(dest):
    shutil.copytree(REPO_ROOT / "corpora", dest)
    return dest


def listing(directory):
    """{name: sha1} of the files directly in `directory`."""
    directory = Path(directory)
    if not directory.is_dir():
        return {}
    return {p.name: hashlib.sha1(p.read_bytes()).hexdigest() for p in directory.iterdir()
            if p.is_file()}


@pytest.fixture(scope="module")
def asan_fuzz(build_root, selected_configs):
    if "asan" not in selected_configs:
        pytest.skip("libFuzzer builds come with the asan (clang) config")
    tree = build_root / "asan" / "fuzz"
    for target in TARGETS:
        if not (tree / f"{target}_fuzz").is_file():
            pytest.fail(f"{tree / f'{target}_fuzz'} is not built", pytrace=False)
    return tree


@pytest.fixture(scope="module")
def run(asan_fuzz, build_root, tmp_path_factory):
    """One nightly run of 16 s over sched_uaf and double_close (with its fault): the
    process, its out directory, and the corpora copy (which it only reads: the merge is
    test_corpus_is_merged_into_the_copy_atomically's --merge-only)."""
    base = tmp_path_factory.mktemp("nightly")
    corpora = copy_corpora(base / "corpora")
    before = {t: listing(REPO_ROOT / "corpora" / t) for t in TARGETS}
    out = base / "out"
    proc = subprocess.run(nightly_argv(build_root, out, corpora, 16, TARGETS, "--fault", FAULT,
                                       "--progress", "3"),
                          capture_output=True, text=True, timeout=240, env=clean_env())
    assert "Traceback" not in proc.stderr, proc.stderr
    for t in TARGETS:  # neither the repository's corpora nor the copy are written
        assert listing(REPO_ROOT / "corpora" / t) == before[t]
        assert listing(corpora / t) == before[t], f"fuzzing wrote into the corpora of {t}"
    return proc, out, corpora


def summary_of(out):
    return json.loads((out / "summary.json").read_text())


# ---- the shared run ------------------------------------------------------------------------

def test_new_crashes_exit_1_with_progress_lines(run):
    proc, out, _ = run
    assert proc.returncode == 1, proc.stdout + proc.stderr
    for target in TARGETS:
        assert re.search(rf"^nightly: {target} .*execs .*/s .*cov .*corpus .*crash inputs",
                         proc.stdout, re.MULTILINE), proc.stdout
    for name in ("summary.json", "junit.xml", "results.sarif", "report.html"):
        assert (out / name).is_file(), name


def test_progress_lines_stay_within_the_budget_and_agree_with_the_summary(run):
    """A line never says more seconds than the target's share ("21/17 s"): past it, it says
    how far past; and its last line's crash inputs are the summary's."""
    proc, out, _ = run
    summary = summary_of(out)
    for target in TARGETS:
        lines = re.findall(rf"^nightly: {target} +(\d+)/(\d+) s.*crash inputs (\d+)(.*)$",
                           proc.stdout, re.MULTILINE)
        assert lines, proc.stdout
        for elapsed, budget, _, _ in lines:
            assert int(elapsed) <= int(budget), proc.stdout
        assert lines[-1][3].endswith("(done)"), proc.stdout
        assert int(lines[-1][2]) == summary["targets"][target]["crash_inputs"], proc.stdout


def test_summary_has_the_figures_of_each_target(run):
    _, out, _ = run
    summary = summary_of(out)
    assert set(TARGETS) <= set(summary["targets"])
    for name in TARGETS:
        t = summary["targets"][name]
        for key in SUMMARY_KEYS:
            assert key in t, (name, key)
        assert t["execs"] > 0 and t["exec_per_sec"] > 0 and t["seconds"] > 0, t
        assert t["coverage"] and all(len(p) == 2 for p in t["coverage"]), t["coverage"]
        assert t["corpus_size"] and t["corpus_size"][-1][1] > 0, t["corpus_size"]
    uaf = summary["targets"]["sched_uaf"]
    assert uaf["crashes"] >= 1 and uaf["seconds_to_first_crash"] > 0, uaf
    for finding in summary["findings"]:
        for key in FINDING_KEYS:
            assert key in finding, (key, finding)


def test_a_new_crash_is_symbolized_deduplicated_and_a_candidate(run, asan_fuzz):
    _, out, _ = run
    findings = [f for f in summary_of(out)["findings"] if f["target"] == "sched_uaf"]
    assert findings, summary_of(out)["findings"]
    keys = [f["key"] for f in findings]
    assert len(keys) == len(set(keys))
    uaf = findings[0]
    assert uaf["kind"] == "heap-use-after-free" and uaf["new"], uaf
    assert uaf["summary"].startswith("SUMMARY: AddressSanitizer: heap-use-after-free fuzz/"), uaf
    assert uaf["dedup_token"].count("--") == 2, uaf
    assert uaf["frame"]["file"] == "fuzz/sched_uaf.c" and uaf["frame"]["line"] > 0, uaf
    candidate = out / uaf["candidate"]
    meta = json.loads(candidate.with_name(candidate.name + ".json").read_text())
    assert meta["kind"] == "heap-use-after-free" and "about" in meta and "fault" in meta, meta
    assert meta["configs"] == ["asan"], meta
    # it replays as the regression gate replays corpora/regressions/
    replay = subprocess.run([str(asan_fuzz / "sched_uaf_replay"), str(candidate)],
                            capture_output=True, text=True, timeout=60,
                            env={**clean_env(), "ASAN_OPTIONS": "detect_leaks=0"})
    assert f"SUMMARY: AddressSanitizer: {meta['kind']}" in replay.stderr, replay.stderr[-2000:]


def test_a_crash_a_regression_has_is_not_new(run):
    _, out, _ = run
    summary = summary_of(out)
    findings = [f for f in summary["findings"] if f["target"] == "double_close"]
    assert findings, summary["findings"]  # the regression seeds crash with the fault on
    regressions = {p.name for p in (REPO_ROOT / "corpora" / "regressions" / "double_close").iterdir()}
    for finding in findings:
        if finding["regression"] is not None:
            assert not finding["new"] and finding["regression"] in regressions, finding
            assert finding["candidate"] is None, finding
    assert any(not f["new"] for f in findings), findings


def test_corpus_is_merged_into_the_copy_atomically(run, build_root):
    _, out, corpora = run
    merge = subprocess.run([str(LIFEGUARD), "nightly", "--merge-only", "--targets",
                            ",".join(TARGETS), "--out", str(out), "--corpora", str(corpora),
                            "--no-build", "--build-dir", str(build_root)],
                           capture_output=True, text=True, timeout=240, env=clean_env())
    assert merge.returncode == 0, merge.stdout + merge.stderr
    assert "nightly: sched_uaf: merged " in merge.stdout, merge.stdout
    for target in TARGETS:
        merged = listing(corpora / target)
        assert set(listing(REPO_ROOT / "corpora" / target)) <= set(merged), target
        assert not list(corpora.glob(f".{target}.nightly-*")), "a merge directory was left"
    assert len(listing(corpora / "sched_uaf")) > len(listing(REPO_ROOT / "corpora" / "sched_uaf"))


def test_junit_has_a_testcase_per_target_and_a_failure_per_new_crash(run):
    _, out, _ = run
    suite = ET.parse(out / "junit.xml").getroot()
    assert suite.tag == "testsuite"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert set(cases) == set(summary_of(out)["targets"])
    new = [f for f in summary_of(out)["findings"] if f["new"]]
    failures = suite.findall("./testcase/failure")
    assert len(failures) == len(new) == int(suite.get("failures")) >= 1
    assert cases["sched_uaf"].findall("failure")
    assert all(f.get("type") and f.get("message", "").startswith("SUMMARY:") for f in failures)


def test_sarif_results_point_into_the_repository(run):
    _, out, _ = run
    sarif = json.loads((out / "results.sarif").read_text())
    assert sarif["version"] == "2.1.0" and "sarif" in sarif["$schema"]
    driver = sarif["runs"][0]["tool"]["driver"]
    assert driver["name"] == "lifeguard"
    rules = {r["id"] for r in driver["rules"]}
    results = sarif["runs"][0]["results"]
    assert len(results) == len(summary_of(out)["findings"]) >= 1
    for result in results:
        assert result["ruleId"] in rules and result["message"]["text"]
        assert result["level"] in ("error", "note")
        location = result["locations"][0]["physicalLocation"]
        uri = location["artifactLocation"]["uri"]
        assert not uri.startswith("/") and (REPO_ROOT / uri).is_file(), uri
        assert location["region"]["startLine"] > 0


def png_pixels(data):
    """(width, height, the decompressed scanlines) of a PNG (no filter undone)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    return width, height, zlib.decompress(idat)


def test_report_html_embeds_its_plots_and_renders(run, tmp_path):
    _, out, _ = run
    text = (out / "report.html").read_text()
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(images) >= 4, "coverage, corpus, exec/s and first-crash plots"
    for image in images:
        width, height, _ = png_pixels(base64.b64decode(image))
        assert width > 100 and height > 100
    for name in re.findall(r'data-file="(plots/[^"]+)"', text):
        assert (out / name).is_file(), name
    for target in TARGETS:
        assert target in text
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed (scripts/install-deps installs it)", pytrace=False)
    shot = tmp_path / "report.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
                    "--window-size=1200,2000", (out / "report.html").as_uri()],
                   capture_output=True, timeout=90)
    assert shot.is_file(), "chromium wrote no screenshot"
    width, height, pixels = png_pixels(shot.read_bytes())
    assert (width, height) == (1200, 2000)
    assert len(set(pixels[::97])) > 16, "the screenshot is blank"


# ---- killed and run again ---------------------------------------------------------------------

def read_until_crash_inputs(stream):
    """Read nightly's progress lines from `stream` until one counts a corpus entry and a crash
    input (the files are there: the line counts them); the lines read, or None at its end."""
    seen = []
    for line in stream:
        seen.append(line)
        match = re.search(r"corpus +(\d+) +crash inputs (\d+)", line)
        if match and int(match.group(1)) > 0 and int(match.group(2)) > 0:
            return seen
    return None


def test_a_killed_run_loses_nothing_when_run_again(asan_fuzz, build_root, tmp_path):
    corpora = copy_corpora(tmp_path / "corpora")
    out = tmp_path / "out"
    argv = nightly_argv(build_root, out, corpora, 60, ["sched_uaf"], "--progress", "1")
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=clean_env(), start_new_session=True)
    crashes = out / "artifacts" / "sched_uaf"
    corpus = out / "corpus" / "sched_uaf"
    orphan = None
    try:
        seen = read_until_crash_inputs(proc.stdout)
        assert seen, "nightly ended before a progress line counted a crash input"
        assert listing(crashes), seen
        os.killpg(proc.pid, signal.SIGKILL)  # the driver only: its libFuzzer lives on
        proc.wait()
        orphan = (json.loads((out / "state.json").read_text()).get("child") or {}).get("pid")
        kept = set(listing(crashes).values()) | set(listing(corpus).values())
        again = subprocess.run(nightly_argv(build_root, out, corpora, 6, ["sched_uaf"]),
                               capture_output=True, text=True, timeout=120, env=clean_env())
        assert again.returncode == 1, again.stdout + again.stderr
        after = (set(listing(crashes).values()) | set(listing(corpus).values())
                 | set(listing(corpora / "sched_uaf").values()))
        assert kept <= after, f"lost {len(kept - after)} of {len(kept)} inputs"
        summary = summary_of(out)
        t = summary["targets"]["sched_uaf"]
        assert t["runs"] == 2 and t["crash_inputs"] >= 1 and t["crashes"] >= 1, t
        if orphan:  # gone: killed by the rerun, or by SIGPIPE when its reader died
            assert not Path(f"/proc/{orphan}").exists() \
                or "Z" in Path(f"/proc/{orphan}/stat").read_text().split()[2], orphan
    finally:
        for pid in (proc.pid, orphan):
            if pid:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass


def test_a_fuzzer_killed_from_outside_fails_the_run(asan_fuzz, build_root, tmp_path):
    """libFuzzer killed with SIGKILL (the OOM killer, a user): the run says so and exits 1,
    never "(done)" and 0. Without the kill the same run ends "(done)" (the shared run)."""
    corpora = copy_corpora(tmp_path / "corpora")
    out = tmp_path / "out"
    argv = nightly_argv(build_root, out, corpora, 60, ["double_close"], "--progress", "1")
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=clean_env(), start_new_session=True)
    try:
        first = proc.stdout.readline()  # the first progress line: libFuzzer is running
        assert first.startswith("nightly: double_close"), first
        child = json.loads((out / "state.json").read_text())["child"]
        os.kill(child["pid"], signal.SIGKILL)
        rest, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    output = first + rest
    assert proc.returncode == 1, output
    assert "(killed by SIGKILL)" in output and "(done)" not in output, output
    assert "nightly: FAILED: double_close: libFuzzer killed by SIGKILL" in output, output


# ---- bad input ------------------------------------------------------------------------------

def assert_one_line_error(proc, needle):
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("lifeguard: error: "), proc.stderr
    assert needle in lines[0], lines[0]


@pytest.mark.parametrize("args,needle", [
    (["--budget", "10", "--targets", "no_such_target"], "unknown fuzz target"),
    (["--budget", "0", "--targets", "double_close"], "--budget"),
    (["--budget", "-5", "--targets", "double_close"], "--budget"),
    (["--targets", "double_close"], "required: --budget"),
    (["--budget", "5", "--frobnicate"], "unknown option --frobnicate"),
    (["--budget", "5", "--corpora", "NOWHERE"], "no such directory"),
    (["--budget", "5", "--merge-only"], "drop --budget"),
    (["--merge-only", "--targets", "double_close"], "not a nightly out directory"),
], ids=["unknown-target", "budget-zero", "budget-negative", "no-budget", "unknown-option",
        "corpora-missing", "merge-only-budget", "merge-only-no-out"])
def test_bad_input_is_one_line_and_exit_2(args, needle, tmp_path, build_root):
    args = [str(tmp_path / "nowhere") if a == "NOWHERE" else a for a in args]
    proc = subprocess.run([str(LIFEGUARD), "nightly", *args, "--out", str(tmp_path / "out"),
                           "--no-build", "--build-dir", str(build_root)],
                          capture_output=True, text=True, timeout=60)
    assert_one_line_error(proc, needle)
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "nowhere").exists()


def test_an_unknown_fault_is_bad_input_before_any_fuzzing(asan_fuzz, build_root, tmp_path):
    """As `fuzz` does: the harness refuses the switch; nightly says so and exits 2, where
    fork mode alone would count the jobs' exits and call the run clean. The known switch in
    the same place is taken (the shared run uses it)."""
    corpora = copy_corpora(tmp_path / "corpora")
    out = tmp_path / "out"
    proc = subprocess.run(nightly_argv(build_root, out, corpora, 30, ["double_close"],
                                       "--fault", "nosuch"),
                          capture_output=True, text=True, timeout=120, env=clean_env())
    assert_one_line_error(proc, "unknown fault switch 'nosuch'")
    assert not listing(out / "corpus" / "double_close")


def test_an_out_dir_that_is_a_file_is_bad_input(tmp_path, build_root):
    out = tmp_path / "out"
    out.write_text("not a directory")
    proc = subprocess.run([str(LIFEGUARD), "nightly", "--budget", "10", "--targets",
                           "double_close", "--out", str(out), "--no-build", "--build-dir",
                           str(build_root)], capture_output=True, text=True, timeout=60)
    assert_one_line_error(proc, "not a directory")


# ---- the merge on its own ---------------------------------------------------------------------

def make_corpus(tmp_path):
    corpora, working = tmp_path / "corpora", tmp_path / "working"
    (corpora / "t").mkdir(parents=True)
    working.mkdir()
    (corpora / "t" / "seed").write_bytes(b"seed")
    (working / "new").write_bytes(b"new")
    return corpora, working


@pytest.mark.parametrize("how", ["fails", "raises"])
def test_a_merge_that_dies_leaves_the_old_corpus(tmp_path, how):
    corpora, working = make_corpus(tmp_path)

    def run_merge(new, _working):
        (new / "half").write_bytes(b"half-written")
        (new / "seed").unlink()
        if how == "raises":
            raise KeyboardInterrupt
        return False

    try:
        assert nightly_corpus.merge_back(corpora, "t", working, run_merge) == []
    except KeyboardInterrupt:
        assert how == "raises"
    assert listing(corpora / "t") == {"seed": hashlib.sha1(b"seed").hexdigest()}
    assert [p.name for p in corpora.iterdir()] == ["t"]


def test_a_merge_swaps_in_the_new_corpus(tmp_path):
    corpora, working = make_corpus(tmp_path)

    def run_merge(new, working_):
        shutil.copy2(working_ / "new", new / "0123abcd")
        return True

    assert nightly_corpus.merge_back(corpora, "t", working, run_merge) == ["0123abcd"]
    assert set(listing(corpora / "t")) == {"seed", "0123abcd"}
    assert [p.name for p in corpora.iterdir()] == ["t"]
    # a leftover of a killed merge is removed by the next one
    (corpora / ".t.nightly-old").mkdir()
    assert nightly_corpus.merge_back(corpora, "t", working, lambda new, w: True) == []
    assert [p.name for p in corpora.iterdir()] == ["t"]


def test_a_rerun_kills_the_fuzzer_a_killed_run_left(tmp_path):
    out = nightly_state.OutDir(tmp_path)
    sleeper = subprocess.Popen(["/bin/sleep", "60"], start_new_session=True)
    try:
        state = nightly_state.State(out)
        state.set_child(sleeper)
        # a pid that now runs another program is left alone
        again = nightly_state.State(out)
        again.data["child"]["argv0"] = "/bin/not-sleep"
        assert again.kill_leftover_child() is None and sleeper.poll() is None
        assert nightly_state.State(out).kill_leftover_child() == sleeper.pid
        assert sleeper.wait(timeout=10) == -signal.SIGKILL
    finally:
        if sleeper.poll() is None:
            sleeper.kill()
            sleeper.wait()
