"""The committed seeds: the scripts that spell them out in words (fuzz/class_seeds.py,
fuzz/gc_async_seeds.py) write exactly the committed bytes, and every configuration a class
target's grammar has (byte 0 / max_ops, fuzz/class_input.h) is used by a committed input."""

import subprocess

import pytest

from conftest import REPO_ROOT

CORPORA = REPO_ROOT / "corpora"

# target: (max_ops, the configurations its grammar has), as in fuzz/<target>.c
CONFIGS = {
    "module_unload": (40, range(7)),
    "pipe_disconnect": (48, range(6)),
    "gc_async": (48, range(4)),
}


@pytest.mark.parametrize("script, args", [
    ("class_seeds.py", []),
    ("gc_async_seeds.py", ["gc_async"]),
])
def test_seed_scripts_write_the_committed_seeds(tmp_path, script, args):
    out = tmp_path / (args[0] if args else "")
    r = subprocess.run(["/usr/bin/python3", str(REPO_ROOT / "fuzz" / script), str(out)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written
    for p in written:
        committed = CORPORA / p.relative_to(tmp_path)
        assert committed.is_file(), f"{committed} is not committed"
        assert committed.read_bytes() == p.read_bytes(), f"{committed} differs from {script}'s"


@pytest.mark.parametrize("target", sorted(CONFIGS))
def test_every_configuration_has_a_committed_input(target):
    max_ops, configs = CONFIGS[target]
    used = {p.read_bytes()[0] // max_ops
            for d in (CORPORA / target, CORPORA / "regressions" / target) if d.is_dir()
            for p in d.iterdir() if p.is_file() and p.suffix != ".json" and p.stat().st_size}
    missing = sorted(set(configs) - used)
    assert not missing, f"{target}: no committed input uses configuration(s) {missing}"
