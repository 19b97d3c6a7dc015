"""The CI files users copy: ci/oss-fuzz/build.sh (OSS-Fuzz's build contract) and its seed zips,
the ClusterFuzzLite and OSS-Fuzz project files, the GitHub workflow files under ci/github/.

Docker and GitHub do not run here, so the project and workflow files are checked for what
their conventions require; build.sh is run for real on one target (module_unload: the one
with a runtime file, libdrv.so, that must be found from $OUT)."""

import os
import re
import shutil
import signal
import subprocess
import threading
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD_SH = REPO / "ci" / "oss-fuzz" / "build.sh"
SEED_ZIP = REPO / "ci" / "oss-fuzz" / "seed_zip.py"
WORKFLOWS = REPO / "ci" / "github"


def _env(**changes):
    env = {k: v for k, v in os.environ.items()
           if k not in ("OUT", "SRC", "WORK", "CC", "CXX", "CFLAGS", "CXXFLAGS",
                        "LIB_FUZZING_ENGINE", "LIFEGUARD_OSSFUZZ_TARGETS")}
    env.update(changes)
    return env


def _inputs(directory):
    """The file names a seed zip takes from a corpus directory."""
    if not directory.is_dir():
        return set()
    return {p.name for p in directory.iterdir()
            if p.is_file() and p.suffix != ".json" and not p.name.startswith(".")}


# --- build.sh: bad input ---------------------------------------------------------------

def test_build_sh_without_out_says_so():
    r = subprocess.run([str(BUILD_SH)], env=_env(), capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert "OUT is not set" in r.stderr
    assert r.stderr.count("\n") <= 2, r.stderr


def test_build_sh_rejects_an_unknown_target(tmp_path):
    r = subprocess.run([str(BUILD_SH)], capture_output=True, text=True, timeout=30,
                       env=_env(OUT=str(tmp_path / "out"), LIFEGUARD_OSSFUZZ_TARGETS="no_such"))
    assert r.returncode == 2
    assert "unknown fuzz target 'no_such'" in r.stderr
    assert "sched_string" in r.stderr  # it names the real ones


# --- the seed corpus zips ---------------------------------------------------------------

def test_seed_zip_is_flat_and_leaves_sidecars_out(tmp_path):
    seeds = REPO / "corpora" / "double_close"
    regressions = REPO / "corpora" / "regressions" / "double_close"
    out = tmp_path / "double_close_seed_corpus.zip"
    subprocess.run(["/usr/bin/python3", str(SEED_ZIP), str(out), str(seeds), str(regressions)],
                   check=True, capture_output=True, timeout=30)
    with zipfile.ZipFile(out) as z:
        names = z.namelist()
        assert sorted(names) == sorted(_inputs(seeds) | _inputs(regressions))
        assert not any("/" in n or n.endswith(".json") for n in names)
        for n in _inputs(regressions):
            assert z.read(n) == (regressions / n).read_bytes()


def test_seed_zip_keeps_names_unique(tmp_path):
    a, b = tmp_path / "a", tmp_path / "regressions"
    (a / "sub").mkdir(parents=True)
    b.mkdir()
    (a / "x").write_bytes(b"1")
    (a / "sub" / "x").write_bytes(b"2")
    (b / "x").write_bytes(b"3")
    (b / "x.json").write_text("{}")
    (b / ".hidden").write_bytes(b"4")
    out = tmp_path / "s.zip"
    subprocess.run(["/usr/bin/python3", str(SEED_ZIP), str(out), str(a), str(b), str(tmp_path / "none")],
                   check=True, capture_output=True, timeout=30)
    with zipfile.ZipFile(out) as z:
        contents = sorted(z.read(n) for n in z.namelist())
        assert len(z.namelist()) == len(set(z.namelist())) == 3
    assert contents == [b"1", b"2", b"3"]


# --- build.sh for real, on one target -------------------------------------------------------

def test_build_sh_builds_a_target_that_runs_from_out(tmp_path, selected_configs):
    if "asan" not in selected_configs:
        pytest.skip("checked once per gate, in the asan tree's session (it builds its own tree)")
    if not shutil.which("clang"):
        pytest.skip("clang is not installed")
    target = "module_unload"
    out = tmp_path / "out"
    # No sanitizer, so that the build is quick: the contract is what is checked here.
    r = subprocess.run([str(BUILD_SH)], capture_output=True, text=True, timeout=300,
                       env=_env(OUT=str(out), CC="clang", CFLAGS="-fsanitize=fuzzer-no-link",
                                LIB_FUZZING_ENGINE="-fsanitize=fuzzer",
                                LIFEGUARD_OSSFUZZ_TARGETS=target))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]

    binary = out / target
    assert binary.is_file() and os.access(binary, os.X_OK)
    for side in (f"{target}.dict", f"{target}.options"):
        assert (out / side).read_bytes() == (REPO / "fuzz" / side).read_bytes()
    assert (out / "libdrv.so").is_file()
    assert (out / "libdrv-pinned.so").is_file()
    seeds = tmp_path / "seeds"
    with zipfile.ZipFile(out / f"{target}_seed_corpus.zip") as z:
        names = z.namelist()
        assert sorted(names) == sorted(_inputs(REPO / "corpora" / target)
                                       | _inputs(REPO / "corpora" / "regressions" / target))
        assert not any("/" in n or n.endswith(".json") for n in names)
        z.extractall(seeds)

    # The build tree is gone (build.sh built in a temporary directory), so the target can only
    # have found libdrv.so beside itself, as it must on a ClusterFuzz bot.
    # (libFuzzer runs every seed first, however many -runs asks for: 50 more than the seeds)
    runs = len(names) + 50
    run = subprocess.run([str(binary), f"-runs={runs}", str(seeds)], capture_output=True,
                         text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"Done {runs} runs" in run.stderr

    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy2(binary, alone / target)
    run = subprocess.run([str(alone / target), "-runs=1", str(seeds / names[0])],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert run.returncode != 0 and "cannot load" in run.stderr


# --- project files (ClusterFuzzLite, OSS-Fuzz) -------------------------------------------------

def _load(path):
    yaml = pytest.importorskip("yaml")  # Debian's python3-yaml (scripts/install-deps installs it)
    return yaml.safe_load(path.read_text())


def test_project_yaml_files():
    assert _load(REPO / ".clusterfuzzlite" / "project.yaml")["language"] == "c"
    project = _load(REPO / "ci" / "oss-fuzz" / "project.yaml")
    assert project["language"] == "c"
    for key in ("homepage", "main_repo", "primary_contact"):
        assert project[key]
    assert set(project["sanitizers"]) <= {"address", "undefined", "memory"}
    assert "libfuzzer" in project["fuzzing_engines"]
    assert project["architectures"] == ["x86_64"]


@pytest.mark.parametrize("dockerfile", [".clusterfuzzlite/Dockerfile", "ci/oss-fuzz/Dockerfile"])
def test_dockerfile(dockerfile):
    lines = [ln.strip() for ln in (REPO / dockerfile).read_text().splitlines()
             if ln.strip() and not ln.lstrip().startswith("#")]
    assert re.match(r"FROM gcr\.io/oss-fuzz-base/base-builder(:\S+)?$", lines[0])
    assert "WORKDIR $SRC/lifeguard" in lines
    copies = [ln for ln in lines if ln.startswith("COPY")]
    assert copies[-1].endswith("$SRC/build.sh") or copies[-1] == "COPY build.sh $SRC/"
    if dockerfile.startswith(".clusterfuzzlite"):
        assert "COPY . $SRC/lifeguard" in lines
        assert "COPY ci/oss-fuzz/build.sh $SRC/build.sh" in lines


def test_clusterfuzzlite_build_sh_is_the_one_script():
    assert (REPO / ".clusterfuzzlite" / "build.sh").resolve() == BUILD_SH


# --- GitHub workflow files ------------------------------------------------------------

def _workflow(name):
    doc = _load(WORKFLOWS / name)
    # YAML 1.1 reads the key `on` as true.
    doc["on"] = doc.pop(True, doc.get("on"))
    return doc


def _steps(doc):
    return [step for job in doc["jobs"].values() for step in job["steps"]]


def _uses(doc, action):
    return [s for s in _steps(doc) if s.get("uses", "").startswith(action + "@")]


def _cron_ok(expr):
    return len(expr.split()) == 5


def test_every_workflow_parses_and_pins_its_actions():
    files = sorted(p.name for p in WORKFLOWS.glob("*.yml"))
    assert files == ["cflite_batch.yml", "cflite_pr.yml", "gate.yml", "nightly.yml"]
    for name in files:
        doc = _workflow(name)
        assert doc["name"] and doc["on"] and doc["jobs"]
        for step in _steps(doc):
            assert ("uses" in step) != ("run" in step), (name, step)
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w./-]+@[\w.-]+", step["uses"]), step["uses"]


def test_gate_workflow_runs_make_test_on_push_and_pull_request():
    doc = _workflow("gate.yml")
    assert {"push", "pull_request"} <= set(doc["on"])
    assert any(s.get("run", "").strip() == "make test" for s in _steps(doc))
    assert _uses(doc, "actions/checkout")


def test_nightly_workflow_runs_nightly_and_uploads_its_results():
    doc = _workflow("nightly.yml")
    assert "workflow_dispatch" in doc["on"]
    assert all(_cron_ok(c["cron"]) for c in doc["on"]["schedule"])
    runs = [s["run"] for s in _steps(doc) if "run" in s]
    assert any(r.startswith("ci/nightly.sh") for r in runs)
    slow, = [s for s in _steps(doc) if s.get("run", "").startswith("ci/slow-tests.sh")]
    assert slow["name"] and slow["if"] == "always()"  # its own named step
    out = doc["jobs"]["nightly"]["env"]["NIGHTLY_OUT"]
    artifact, = _uses(doc, "actions/upload-artifact")
    assert artifact["with"]["path"] == out and artifact["if"].startswith("always()")
    sarif, = _uses(doc, "github/codeql-action/upload-sarif")
    assert sarif["with"]["sarif_file"] == f"{out}/results.sarif"
    assert doc["permissions"]["security-events"] == "write"


@pytest.mark.parametrize("name,mode,trigger", [("cflite_pr.yml", "code-change", "pull_request"),
                                               ("cflite_batch.yml", "batch", "schedule")])
def test_clusterfuzzlite_workflows(name, mode, trigger):
    doc = _workflow(name)
    assert trigger in doc["on"]
    if trigger == "schedule":
        assert all(_cron_ok(c["cron"]) for c in doc["on"]["schedule"])
    build, = _uses(doc, "google/clusterfuzzlite/actions/build_fuzzers")
    run, = _uses(doc, "google/clusterfuzzlite/actions/run_fuzzers")
    assert build["uses"].endswith("@v1") and run["uses"].endswith("@v1")
    assert build["with"]["language"] == "c"
    assert run["with"]["mode"] == mode
    assert int(run["with"]["fuzz-seconds"]) > 0
    steps = _steps(doc)
    assert steps.index(build) < steps.index(run)


# --- make coverage (its run takes a build of its own tree: `make coverage` is the check) ------

def test_make_coverage_is_wired_to_the_coverage_preset():
    import json
    presets = json.loads((REPO / "CMakePresets.json").read_text())
    preset, = [p for p in presets["configurePresets"] if p["name"] == "coverage"]
    flags = preset["cacheVariables"]["CMAKE_C_FLAGS"]
    assert "-fprofile-instr-generate" in flags and "-fcoverage-mapping" in flags
    assert "-fsanitize" not in flags
    assert preset["cacheVariables"]["CMAKE_C_COMPILER"] == "clang"
    assert any(p["name"] == "coverage" for p in presets["buildPresets"])
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^coverage: .*\n\tci/coverage\.sh$", makefile, re.M)
    assert os.access(REPO / "ci" / "coverage.sh", os.X_OK)


def _make_n(target):
    """The commands `make TARGET` would run (make -n), with the commands of each script they
    name (its lines that are not comments)."""
    proc = subprocess.run(["make", "-n", target, "NIGHTLY_OUT=OUTDIR"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    for script in sorted(set(re.findall(r"\bci/[\w-]+\.sh\b", text))):
        text += "".join(line for line in (REPO / script).read_text().splitlines(True)
                        if not line.lstrip().startswith("#"))
    return text


def test_make_nightly_fuzzes_only():
    """`make nightly` neither runs the slow tests nor writes into corpora/: both are their
    own named targets (slow-tests, nightly-merge)."""
    nightly = _make_n("nightly")
    assert "scripts/lifeguard nightly" in nightly
    assert "pytest" not in nightly and "--merge-back" not in nightly
    assert "--merge-only" not in nightly
    slow = _make_n("slow-tests")
    assert "pytest tests/driver -m slow" in slow and "scripts/lifeguard nightly" not in slow
    merge = _make_n("nightly-merge")
    assert "scripts/lifeguard nightly --merge-only --out OUTDIR" in merge


def test_make_prints_no_directory_messages():
    """The Makefile turns make's "Entering directory" lines off for every make below it (the
    CMake builds the gate and the nightly job run): MAKEFLAGS, which sub-makes inherit."""
    proc = subprocess.run(["make", "-p", "-n", "deps"], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    flags = [l for l in proc.stdout.splitlines() if l.startswith("MAKEFLAGS = ")]
    assert flags and "--no-print-directory" in flags[0], flags


FAKE_CTEST = """#!/bin/sh
# ctest as the gate sees it: a unit test, then the driver tests, which wait for the test to
# release them (a FIFO beside the progress file) after it saw the gate's progress line.
dir=$(dirname "$LIFEGUARD_PROGRESS")
echo "    Start 1: unit"
echo "1/2 Test  #1: unit .............   Passed    1.00 sec"
echo "    Start 2: driver"
echo "7/100 tests, 0 failed; last tests/driver/test_x.py::t" > "$LIFEGUARD_PROGRESS"
read go < "$dir/release"
echo "2/2 Test  #2: driver ...........   Passed   12.00 sec"
"""


def test_gate_says_what_each_tree_is_doing(tmp_path):
    """ci/gate.sh (make test) names its stages and, while the trees test, prints what each is
    doing (the driver tests' count) before any tree ends: here CTest is a stand-in that ends
    only once the test has read that line."""
    (tmp_path / "ci").mkdir()
    shutil.copy(REPO / "ci" / "gate.sh", tmp_path / "ci" / "gate.sh")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "cmake").write_text("#!/bin/sh\necho \"cmake $*\"\n")
    (bin_dir / "ctest").write_text(FAKE_CTEST)
    for tool in ("cmake", "ctest"):
        (bin_dir / tool).chmod(0o755)
    for preset in ("asan", "plain"):
        (tmp_path / "build" / preset).mkdir(parents=True)
        os.mkfifo(tmp_path / "build" / preset / "release")
    proc = subprocess.Popen([str(tmp_path / "ci" / "gate.sh")], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
                            start_new_session=True)
    # the hang detector: a gate that never prints the line is killed, and fails by name
    hang = threading.Timer(120, os.killpg, (proc.pid, signal.SIGKILL))
    hang.start()
    seen = []
    try:
        waiting = {"asan", "plain"}
        for line in proc.stdout:
            seen.append(line)
            for preset in list(waiting):
                if line.startswith(f"== test {preset}: still running after ") and \
                        "driver: 7/100 tests, 0 failed; last tests/driver/test_x.py::t" in line:
                    waiting.discard(preset)
                    with open(tmp_path / "build" / preset / "release", "w") as release:
                        release.write("go\n")
            if not waiting:
                break
        rest, _ = proc.communicate(timeout=120)
    finally:
        hang.cancel()
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # a stand-in still waiting on its FIFO
        except ProcessLookupError:
            pass
        proc.wait()
    output = "".join(seen) + rest
    assert proc.returncode == 0, output
    for stage in ("gate 1/4: build asan", "gate 2/4: build plain", "gate 3/4: test asan",
                  "gate 4/4: test plain"):
        assert f"== {stage} (" in output, output
    assert "== test: asan: passed" in output and "== test: plain: passed" in output, output
