# SPDX-License-Identifier: MIT
"""The licence: a LICENSE file, and an SPDX line at the top of every source file, so a file
copied out of the repository still says under what terms."""

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
SPDX = "SPDX-License-Identifier: MIT"
SOURCE_SUFFIXES = {".c", ".h", ".S", ".inc", ".py", ".sh", ".rs", ".js", ".cmake", ".toml"}
SOURCE_NAMES = {"CMakeLists.txt", "Makefile"}


def tracked_sources():
    names = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.split()
    for name in names:
        path = REPO / name
        if not path.is_file():
            continue
        if (path.suffix in SOURCE_SUFFIXES or path.name in SOURCE_NAMES
                or name.endswith(".in") or path.read_bytes()[:2] == b"#!"):
            yield name, path


def test_license_file_is_mit():
    text = (REPO / "LICENSE").read_text()
    assert text.startswith("MIT License") and "Permission is hereby granted" in text


def test_every_source_file_has_an_spdx_line():
    sources = list(tracked_sources())
    assert len(sources) > 200  # the scan sees the tree
    missing = [name for name, path in sources
               if SPDX not in "".join(path.read_text(errors="replace").splitlines(True)[:3])]
    assert not missing, f"no '{SPDX}' in the first lines of: {', '.join(missing)}"
