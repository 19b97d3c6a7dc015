# SPDX-License-Identifier: MIT
"""Building the CMake presets a command needs, quietly: output is shown only when a step fails."""

import os
import subprocess
import sys
from pathlib import Path

from .errors import BuildError, UsageError
from .paths import DEFAULT_BUILD_ROOT, REPO_ROOT, display, preset_dir

TAIL_LINES = 40


def commands(preset, build_root=DEFAULT_BUILD_ROOT):
    """The (configure, build) command lines for `preset`. With the default build root they use
    the presets' own directories (`cmake --preset P`, `cmake --build --preset P`); with
    another root the tree is `<build_root>/<P>`."""
    build_root = Path(build_root).resolve()  # cmake runs from the repository root
    if build_root == DEFAULT_BUILD_ROOT.resolve():
        return ["cmake", "--preset", preset], ["cmake", "--build", "--preset", preset]
    tree = str(preset_dir(build_root, preset))
    return ["cmake", "--preset", preset, "-B", tree], ["cmake", "--build", tree]


def how_to_build(preset, build_root=DEFAULT_BUILD_ROOT):
    """The shell line a person types to build `preset`."""
    configure, build = commands(preset, build_root)
    return f"{' '.join(configure)} && {' '.join(build)}"


def ensure_built(presets, build_root=DEFAULT_BUILD_ROOT, log=sys.stderr, targets=()):
    """Configure each preset whose build tree has no CMakeCache.txt, then build it (only
    `targets` when given). Raises BuildError with the output's tail when a step fails."""
    jobs = str(os.cpu_count() or 1)
    for preset in dict.fromkeys(presets):
        tree = preset_dir(Path(build_root).resolve(), preset)
        configure, build = commands(preset, build_root)
        print(f"lifeguard: building preset {preset} in {tree}", file=log, flush=True)
        if not (tree / "CMakeCache.txt").exists():
            _step(configure)
        _step(build + ["--parallel", jobs] + (["--target", *targets] if targets else []))


def _step(argv):
    command = " ".join(argv)
    try:
        proc = subprocess.run(argv, cwd=REPO_ROOT, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    except OSError as e:
        raise BuildError(f"cannot run `{command}`: {e.strerror}") from None
    if proc.returncode != 0:
        lines = proc.stdout.decode("utf-8", errors="replace").splitlines()
        raise BuildError(f"`{command}` failed with exit status {proc.returncode}",
                         "\n".join(lines[-TAIL_LINES:]))


def require_built(binary, preset, build_root, no_build, needed_by=""):
    """UsageError unless `binary` exists, saying how to get it: a build that did not make it,
    a tree never built, or a program missing from a tree (drop --no-build)."""
    if Path(binary).is_file():
        return
    why = f" (needed by {needed_by})" if needed_by else ""
    tree = preset_dir(Path(build_root), preset)
    if not no_build:
        raise UsageError(f"{display(binary)} does not exist after building preset {preset}{why}")
    if not tree.is_dir():
        raise UsageError(f"build tree {display(tree)} does not exist (drop --no-build, "
                         f"or build it: {how_to_build(preset, build_root)})")
    raise UsageError(f"{display(binary)} does not exist (drop --no-build to build it){why}")
