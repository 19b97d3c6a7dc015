# SPDX-License-Identifier: MIT
"""The corpora of a nightly run: the working corpus in the out directory, and the atomic merge
of what it found back into the repository's corpora/<target>/.

The merge never edits corpora/<target>/ in place: a fresh directory next to it
(corpora/.<target>.nightly-XXXX) starts as a copy of it (hard links), libFuzzer's
-set_cover_merge=1 adds the working corpus entries that add coverage, and only then are
the two directories swapped with one rename(2) (renameat2 RENAME_EXCHANGE; two renames where
the kernel lacks it). A merge that crashes or is killed leaves the old corpus as it was; its
half-made directory is removed by the next run."""

import ctypes
import os
import shutil
import tempfile
from pathlib import Path

from .errors import UsageError
from .paths import display

MERGE_PREFIX = ".{target}.nightly-"
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def input_files(directory):
    """The inputs in `directory` (not the .json sidecars, not hidden files), sorted by name."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir()
                  if p.is_file() and not p.name.startswith(".") and p.suffix != ".json")


def seed_regressions(regressions, seeds):
    """Copy the regression inputs of `regressions` (a corpora/regressions/<target>/ directory)
    into `seeds`, which is replaced whole (built beside it, then renamed into place)."""
    seeds = Path(seeds)
    seeds.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{seeds.name}.", dir=seeds.parent))
    for path in input_files(regressions):
        shutil.copy2(path, tmp / path.name)
    if seeds.exists():
        shutil.rmtree(seeds)
    os.rename(tmp, seeds)


def remove_leftovers(corpora, target):
    """Remove half-made merge directories of `target` that a killed run left in `corpora`."""
    for path in Path(corpora).glob(MERGE_PREFIX.format(target=target) + "*"):
        shutil.rmtree(path, ignore_errors=True)


def _exchange(a, b):
    """Swap the directories `a` and `b` with one renameat2(RENAME_EXCHANGE); False when the
    kernel or libc cannot (then the caller renames twice)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint]
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return result == 0


def _link_or_copy(source, dest):
    try:
        os.link(source, dest)
    except OSError:
        shutil.copy2(source, dest)


def merge_back(corpora, target, working, run_merge):
    """Merge the working corpus `working` into corpora/<target>/ atomically. `run_merge(new,
    working)` runs libFuzzer's -set_cover_merge=1 NEW WORKING and returns True when it
    succeeded. Returns the names added (empty: nothing new, corpora/<target> untouched).
    Raises UsageError when corpora/<target>/ cannot be written."""
    corpora = Path(corpora)
    live = corpora / target
    remove_leftovers(corpora, target)
    if not input_files(working):
        return []
    try:
        live.mkdir(parents=True, exist_ok=True)
        new = Path(tempfile.mkdtemp(prefix=MERGE_PREFIX.format(target=target), dir=corpora))
    except OSError as e:
        raise UsageError(f"cannot write {display(live)}: {e.strerror}") from None
    try:
        before = {p.name for p in live.iterdir() if p.is_file()}
        for name in before:
            _link_or_copy(live / name, new / name)
        if not run_merge(new, working):
            return []
        added = sorted({p.name for p in new.iterdir() if p.is_file()} - before)
        if not added:
            return []
        os.chmod(new, live.stat().st_mode & 0o7777)
        if not _exchange(new, live):
            old = Path(tempfile.mkdtemp(prefix=MERGE_PREFIX.format(target=target), dir=corpora))
            os.rename(live, old / target)
            os.rename(new, live)
            new = old
        return added
    finally:
        shutil.rmtree(new, ignore_errors=True)
