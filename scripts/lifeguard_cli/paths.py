# SPDX-License-Identifier: MIT
"""Where things are: the repository, the manifest, the presets, the build trees, the binaries."""

from pathlib import Path

# scripts/lifeguard_cli/paths.py -> the repository root is two levels above this package.
REPO_ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_MANIFEST = REPO_ROOT / "scenarios" / "manifest.toml"
DEFAULT_BUILD_ROOT = REPO_ROOT / "build"
CMAKE_PRESETS = REPO_ROOT / "CMakePresets.json"
BENCHMARKS_DOC = REPO_ROOT / "docs" / "BENCHMARKS.md"

# An installed driver (cmake --install) has no source tree around it: `installed` records
# where the install put the preload library, and the commands that build and run the
# repository's own programs are not available.
try:
    from .installed import PRELOAD_LIBRARY as INSTALLED_PRELOAD
except ImportError:
    INSTALLED_PRELOAD = None


def preset_dir(build_root, preset):
    """The build tree of one CMake preset: <build_root>/<preset>."""
    return Path(build_root) / preset


def program_path(build_root, preset, program):
    """The scenario program `program` as built by `preset`."""
    return preset_dir(build_root, preset) / "scenarios" / program


def bench_program_path(build_root, preset, program):
    """The benchmark program `program` (bench/) as built by `preset`."""
    return preset_dir(build_root, preset) / "bench" / program


def display(path):
    """`path` relative to the repository when it is inside it (shorter messages), else as is."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)
