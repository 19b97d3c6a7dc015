# SPDX-License-Identifier: MIT
"""bench/planted/evaluate.py's verdicts, on a stand-in `scripts/lifeguard` (no build, no
worktree): a matrix row that is not clean, or a fuzz crash, is a catch; a clean run is not;
and a matrix or fuzz run that did not run at all is an error (exit 2, one line), never a
catch, since it observed nothing."""

import importlib.util
import json
import stat
import subprocess

import pytest

from conftest import REPO_ROOT

SPEC = importlib.util.spec_from_file_location("planted_evaluate",
                                              REPO_ROOT / "bench" / "planted" / "evaluate.py")
evaluate = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(evaluate)


def fake_work(tmp_path, body):
    """A work tree whose scripts/lifeguard is a shell script running `body` ($1 is the
    command, the path after --json is in $JSON)."""
    work = tmp_path / "work"
    (work / "scripts").mkdir(parents=True)
    script = work / "scripts" / "lifeguard"
    script.write_text("#!/bin/sh\n"
                      'JSON=; prev=; for a in "$@"; do [ "$prev" = --json ] && JSON=$a; '
                      'prev=$a; done\n' + body + "\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return work


def run_dir(tmp_path):
    d = tmp_path / f"run{len(list(tmp_path.glob('run*')))}"
    d.mkdir()
    return d


def test_a_matrix_that_did_not_run_is_an_error_not_a_catch(tmp_path, capsys):
    work = fake_work(tmp_path, 'echo "cmake: build failed in scenarios/x.c" >&2; exit 1')
    with pytest.raises(SystemExit) as e:
        evaluate.matrix_catch(work, run_dir(tmp_path))
    assert e.value.code == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("planted: error: the matrix did not run"), err
    assert "build failed" in err[0]


def test_a_matrix_row_that_is_not_clean_is_a_catch(tmp_path):
    rows = [{"scenario": "a", "config": "plain", "ok": True, "observed": "clean"},
            {"scenario": "b", "config": "asan", "ok": False, "observed": "leak"}]
    work = fake_work(tmp_path, f"echo '{json.dumps(rows)}' > \"$JSON\"; exit 1")
    assert evaluate.matrix_catch(work, run_dir(tmp_path)) == "matrix b asan: leak"


def test_a_clean_matrix_catches_nothing(tmp_path):
    rows = [{"scenario": "a", "config": "plain", "ok": True, "observed": "clean"}]
    work = fake_work(tmp_path, f"echo '{json.dumps(rows)}' > \"$JSON\"")
    assert evaluate.matrix_catch(work, run_dir(tmp_path)) is None


def test_a_fuzz_run_that_did_not_run_is_an_error(tmp_path, capsys):
    work = fake_work(tmp_path, 'echo "no such target" >&2; exit 2')
    with pytest.raises(SystemExit) as e:
        evaluate.fuzz_catch(work, run_dir(tmp_path), 2, 0)
    assert e.value.code == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("planted: error: fuzz "), err


def test_fuzz_crash_is_a_catch_and_says_with_injection(tmp_path):
    # Plain runs are clean; the run with --inject crashes: the catch names the injection.
    body = ('case "$*" in *--inject*) c=true;; *) c=false;; esac\n'
            'echo "{\\"crashed\\": $c, \\"fault_kind\\": \\"double-close\\", '
            '\\"execs_to_first_crash\\": 7}" > "$JSON"')
    work = fake_work(tmp_path, body)
    by = evaluate.fuzz_catch(work, run_dir(tmp_path), 4, 2)
    assert by == f"fuzz {evaluate.TARGETS[0]} with --inject 2: double-close after 7 executions"
    # the twin: without injection nothing crashes
    assert evaluate.fuzz_catch(work, run_dir(tmp_path), 4, 0) is None


def test_each_target_share_is_split_between_plain_and_injected_fuzzing():
    assert evaluate.fuzz_runs(60, 2) == [(30, 0), (30, 2)]
    assert evaluate.fuzz_runs(61, 2) == [(31, 0), (30, 2)]
    assert evaluate.fuzz_runs(60, 0) == [(60, 0)]
    assert evaluate.fuzz_runs(1, 2) == [(1, 0)]


@pytest.mark.parametrize("patch", sorted(p.name for p in (REPO_ROOT / "bench" / "planted")
                                         .glob("*.patch")))
def test_every_plant_applies_to_the_tree(patch):
    """A plant that no longer applies stops the nightly evaluation (exit 2) at that plant, so
    a change to the runtime that moves a plant's lines must bring the plant along."""
    r = subprocess.run(["git", "apply", "--check", str(REPO_ROOT / "bench" / "planted" / patch)],
                       cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
