# SPDX-License-Identifier: MIT
"""Shared set-up of the driver tests: options, the manifest, the build trees, binaries.

The manifest is read through the same module the CLI uses (scripts/lifeguard_cli/manifest.py),
so the tests and `lifeguard matrix` cannot disagree about what a row is.

  pytest-3 tests/driver                       every config in the manifest, build/ as built
  pytest-3 tests/driver --config plain        only the rows of one config (repeatable)
  pytest-3 tests/driver --preset asan         the rows of every config the asan preset builds
                                              (asan, asan-alone, ...; repeatable, adds to --config)
  pytest-3 tests/driver --build-dir /tmp/b    build trees at /tmp/b/<preset>
  pytest-3 tests/driver -m slow               the 100-process checks
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "scripts"))

from lifeguard_cli import manifest as manifest_module  # noqa: E402
from lifeguard_cli import paths  # noqa: E402
from lifeguard_cli import run as runner  # noqa: E402
from lifeguard_cli.build import how_to_build  # noqa: E402
from lifeguard_cli.errors import UsageError  # noqa: E402

_MANIFEST = pytest.StashKey()
_CONFIGS = pytest.StashKey()


def pytest_addoption(parser):
    group = parser.getgroup("lifeguard", "lifeguard driver tests")
    group.addoption("--config", dest="lifeguard_configs", action="append", default=[],
                    metavar="NAME",
                    help="run the rows of this manifest config only (repeatable; "
                         "default: every config in scenarios/manifest.toml)")
    group.addoption("--preset", dest="lifeguard_presets", action="append", default=[],
                    metavar="PRESET",
                    help="run the rows of every manifest config built by this CMake preset "
                         "(repeatable; adds to --config): what one build tree can check")
    group.addoption("--build-dir", dest="lifeguard_build_dir", default=None, metavar="DIR",
                    help="root of the build trees (binaries at DIR/<preset>/scenarios/); "
                         "default: build/ in the repository")


def pytest_configure(config):
    try:
        manifest = manifest_module.load(paths.DEFAULT_MANIFEST)
    except UsageError as e:
        raise pytest.UsageError(f"lifeguard: {e}") from None
    configs = list(config.getoption("lifeguard_configs"))
    for name in configs:
        if name not in manifest.configs:
            raise pytest.UsageError(f"--config {name}: not a config of {paths.display(manifest.path)} "
                                    f"(configs: {', '.join(manifest.configs)})")
    presets = {c.preset: None for c in manifest.configs.values()}
    for preset in config.getoption("lifeguard_presets"):
        if preset not in presets:
            raise pytest.UsageError(f"--preset {preset}: no config of {paths.display(manifest.path)} "
                                    f"is built by it (presets: {', '.join(presets)})")
        configs += [c.name for c in manifest.configs.values() if c.preset == preset]
    if not configs:
        configs = list(manifest.configs)
    config.stash[_MANIFEST] = manifest
    config.stash[_CONFIGS] = list(dict.fromkeys(configs))
    if os.environ.get("LIFEGUARD_PROGRESS"):
        config.pluginmanager.register(_ProgressFile(os.environ["LIFEGUARD_PROGRESS"]),
                                      "lifeguard-progress")


# ---- progress for the gate (ci/gate.sh prints it while the session runs) ----------------------

class _ProgressFile:
    """With LIFEGUARD_PROGRESS=FILE, one line kept in FILE (replaced after each test): tests
    done of collected, how many failed, the last one. ci/gate.sh prints it every 10 s."""

    def __init__(self, path):
        self.path, self.total, self.done, self.failed = Path(path), 0, 0, set()

    def write(self, last):
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(f"{self.done}/{self.total} tests, {len(self.failed)} failed; "
                       f"last {last}\n")
        os.replace(tmp, self.path)

    def pytest_collection_finish(self, session):
        self.total = len(session.items)
        self.write("none yet")

    def pytest_runtest_logreport(self, report):
        if report.failed:
            self.failed.add(report.nodeid)

    def pytest_runtest_logfinish(self, nodeid, location):
        self.done += 1
        self.write(nodeid)


def selected_rows(config):
    """The manifest rows of the configs this session runs."""
    configs = config.stash[_CONFIGS]
    return [row for row in config.stash[_MANIFEST].rows() if row.config.name in configs]


def pytest_generate_tests(metafunc):
    """Parametrize over manifest rows: `row` (all), `fixed_row` (fixed rows expected clean),
    `buggy_row` (buggy rows with frames to check), `program_config` (each program under each
    config that runs it)."""
    rows = selected_rows(metafunc.config)
    by_name = {
        "row": rows,
        "fixed_row": [r for r in rows if r.variant == "fixed" and r.expected == "clean"],
        "buggy_row": [r for r in rows if r.variant == "buggy" and r.frames],
    }
    for name, params in by_name.items():
        if name in metafunc.fixturenames:
            metafunc.parametrize(name, params, ids=[r.id for r in params])
    if "program_config" in metafunc.fixturenames:
        pairs = list(dict.fromkeys((r.scenario.program, r.config.name) for r in rows))
        metafunc.parametrize("program_config", pairs, ids=[f"{p}/{c}" for p, c in pairs])


@pytest.fixture(scope="session")
def repo_root():
    return REPO_ROOT


@pytest.fixture(scope="session")
def lifeguard_manifest(pytestconfig):
    return pytestconfig.stash[_MANIFEST]


@pytest.fixture(scope="session")
def selected_configs(pytestconfig):
    return pytestconfig.stash[_CONFIGS]


@pytest.fixture(scope="session")
def build_root(pytestconfig):
    option = pytestconfig.getoption("lifeguard_build_dir")
    return Path(option).resolve() if option else paths.DEFAULT_BUILD_ROOT


@pytest.fixture(scope="session")
def scenario_binary(build_root, lifeguard_manifest):
    """locate(program, config) -> the built program. Fails when the config's build tree is
    missing (saying how to build it), and when the tree lacks the program: every tree builds
    every scenario program (scenarios/CMakeLists.txt), so a missing one is a stale tree."""

    def locate(program, config_name):
        preset = lifeguard_manifest.configs[config_name].preset
        tree = paths.preset_dir(build_root, preset)
        if not tree.is_dir():
            matrix = "scripts/lifeguard matrix"
            if build_root != paths.DEFAULT_BUILD_ROOT:
                matrix += f" --build-dir {build_root}"
            pytest.fail(f"build tree {tree} of config {config_name!r} does not exist; build it "
                        f"with `{how_to_build(preset, build_root)}` (or `{matrix}`, which "
                        f"builds), or pick built configs with --config", pytrace=False)
        binary = paths.program_path(build_root, preset, program)
        if not binary.is_file():
            pytest.fail(f"{binary} is not built (the {preset} tree has no program {program!r}); "
                        f"rebuild it with `{how_to_build(preset, build_root)}`", pytrace=False)
        return binary

    return locate


@pytest.fixture(scope="session")
def row_result(build_root, scenario_binary):
    """result(row) -> the RowResult of one run of `row`, run once per session and shared by
    the tests that look at it from different sides."""
    cache = {}

    def result(row):
        scenario_binary(row.scenario.program, row.config.name)
        if row.id not in cache:
            cache[row.id] = runner.run_row(row, build_root)
        return cache[row.id]

    return result


# ---- `lifeguard verify` on programs the tests build (test_verify.py, test_unwind.py) ----

@pytest.fixture(scope="module")
def library(build_root, selected_configs, lifeguard_manifest):
    """The plain tree's liblifeguard-preload.so (verify's tests skip without the plain tree)."""
    presets = {lifeguard_manifest.configs[c].preset for c in selected_configs}
    if "plain" not in presets:
        pytest.skip("verify needs the plain tree; this session does not run the plain preset")
    lib = paths.preset_dir(build_root, "plain") / "harness" / "liblifeguard-preload.so"
    if not lib.is_file():
        pytest.fail(f"{lib} is not built: cmake --preset plain && cmake --build --preset plain",
                    pytrace=False)
    return lib


@pytest.fixture(scope="module")
def verify(repo_root, build_root, library):
    """verify(*args, **run_kwargs) -> CompletedProcess of `lifeguard verify --no-build ...`."""

    def run(*args, timeout=120, **kw):
        argv = [sys.executable, str(repo_root / "scripts" / "lifeguard"), "verify", "--no-build",
                "--build-dir", str(build_root), *args]
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        return subprocess.run(argv, timeout=timeout, text=True, stdin=kw.pop("stdin", subprocess.DEVNULL),
                              **kw)

    return run
