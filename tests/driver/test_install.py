# SPDX-License-Identifier: MIT
"""Installing lifeguard and using it from a project of one's own (examples/).

A fresh configure with LIFEGUARD_BUILD_TESTS=OFF and pkg-config made unavailable (so
Criterion cannot be what it needs), a build of the library alone, `cmake --install` into a
temporary prefix; then the four example projects, each built against that prefix as a user
would (find_package, pkg-config, the installed `lifeguard verify`, the check API through
find_package) and run both ways: the buggy run is reported with its kind and exits non-zero,
the fixed one is clean; the check example's schedule replays. Once per gate (the
plain tree's run of the driver tests)."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent
EXAMPLES = REPO / "examples"


def sh(*argv, timeout=600, **kw):
    r = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout,
                       **kw)
    assert r.returncode == 0, f"{' '.join(map(str, argv))} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


@pytest.fixture(scope="module")
def prefix(tmp_path_factory, selected_configs):
    if "plain" not in selected_configs:
        pytest.skip("the install is checked once, by the plain tree's driver tests")
    root = tmp_path_factory.mktemp("install")
    build, prefix = root / "build", root / "prefix"
    sh("cmake", "-S", REPO, "-B", build, "-DLIFEGUARD_BUILD_TESTS=OFF",
       "-DCMAKE_DISABLE_FIND_PACKAGE_PkgConfig=ON", "-DCMAKE_BUILD_TYPE=RelWithDebInfo")
    sh("cmake", "--build", build, "-j2")
    sh("cmake", "--install", build, "--prefix", prefix)
    return prefix


def run_both_ways(argv_of, kind, env=None):
    buggy = subprocess.run(argv_of("buggy"), capture_output=True, text=True, timeout=120,
                           env=env)
    assert buggy.returncode != 0, buggy.stderr[-2000:]
    assert f"SUMMARY: lifeguard: {kind} " in buggy.stderr, buggy.stderr[-2000:]
    fixed = subprocess.run(argv_of("fixed"), capture_output=True, text=True, timeout=120,
                           env=env)
    assert fixed.returncode == 0, fixed.stderr[-2000:]
    assert "ERROR: lifeguard" not in fixed.stderr, fixed.stderr[-2000:]


def test_install_has_what_a_project_needs(prefix):
    for rel in ("lib/liblifeguard.a", "lib/liblifeguard.so", "lib/liblifeguard-preload.so",
                "lib/liblifeguard-access.a",
                "include/lifeguard/fdcheck.h", "include/lifeguard/lifeguard.h",
                "include/lifeguard/check.h", "lib/pkgconfig/lifeguard.pc",
                "lib/cmake/lifeguard/lifeguardConfig.cmake",
                "lib/cmake/lifeguard/lifeguardConfigVersion.cmake", "bin/lifeguard",
                "share/doc/lifeguard/LICENSE", "share/doc/lifeguard/README.md"):
        assert (prefix / rel).exists(), rel
    assert not list(prefix.rglob("*criterion*")) and not list(prefix.rglob("test_*"))


def test_find_package_example(prefix, tmp_path):
    build = tmp_path / "build"
    sh("cmake", "-S", EXAMPLES / "find_package", "-B", build, f"-DCMAKE_PREFIX_PATH={prefix}")
    sh("cmake", "--build", build)
    run_both_ways(lambda v: [str(build / "owned_socket"), v], "foreign-close")


def test_pkg_config_example(prefix, tmp_path):
    if not shutil.which("pkg-config"):
        pytest.fail("pkg-config is not installed (scripts/install-deps installs it)")
    work = tmp_path / "pc"
    shutil.copytree(EXAMPLES / "pkg-config", work)
    env = {**os.environ, "PKG_CONFIG_PATH": str(prefix / "lib" / "pkgconfig")}
    sh("make", "-C", work, env=env)
    run_both_ways(lambda v: [str(work / "close_twice"), v], "double-close")


def test_check_example_finds_the_race_and_replays_it(prefix, tmp_path):
    build = tmp_path / "build"
    sh("cmake", "-S", EXAMPLES / "check", "-B", build, f"-DCMAKE_PREFIX_PATH={prefix}")
    sh("cmake", "--build", build)
    program = str(build / "config_reader")
    run_both_ways(lambda v: [program, v], "heap-use-after-free")
    buggy = subprocess.run([program, "buggy"], capture_output=True, text=True, timeout=300)
    found = re.search(r"^lifeguard: check: heap-use-after-free in execution \d+ \(pct, depth 3, "
                      r"seed 1\)\nlifeguard: check: schedule: (lgs1:\S+)$", buggy.stderr, re.M)
    assert found, buggy.stderr[-2000:]
    again = subprocess.run([program, "buggy", found.group(1)], capture_output=True, text=True,
                           timeout=120)
    assert again.returncode == 1, again.stderr[-2000:]
    assert "SUMMARY: lifeguard: heap-use-after-free " in again.stderr
    assert "lifeguard: check: heap-use-after-free in execution 1 (replay)" in again.stderr


def test_check_example_through_pkg_config_and_the_shared_library(prefix, tmp_path):
    """The same check, linked with liblifeguard.so as pkg-config gives it."""
    if not shutil.which("pkg-config"):
        pytest.fail("pkg-config is not installed (scripts/install-deps installs it)")
    env = {**os.environ, "PKG_CONFIG_PATH": str(prefix / "lib" / "pkgconfig")}
    flags = sh("pkg-config", "--cflags", "--libs", "lifeguard", env=env).stdout.split()
    program = tmp_path / "config_reader"
    sh("cc", "-g", "-O1", "-o", program, EXAMPLES / "check" / "config_reader.c", *flags,
       "-lpthread")
    linked = sh("ldd", program).stdout
    assert "liblifeguard.so" in linked, linked  # the shared library, not the archive
    run_both_ways(lambda v: [str(program), v], "heap-use-after-free")


def test_verify_example_with_the_installed_driver(prefix, tmp_path):
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    run_both_ways(lambda v: ["sh", str(EXAMPLES / "verify" / "run.sh"), str(prefix), v],
                  "heap-use-after-free", env=env)


def test_installed_driver_refuses_source_tree_commands(prefix):
    r = subprocess.run([str(prefix / "bin" / "lifeguard"), "matrix"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "installed driver runs 'lifeguard verify'" in r.stderr


def test_installed_cc_links_the_installed_callbacks(prefix, tmp_path):
    """`lifeguard cc` of the installed driver finds the installed liblifeguard-access.a; the
    program runs normally without explore."""
    if not shutil.which("clang"):
        pytest.skip("clang is not installed")
    program = tmp_path / "lost_update_clean"
    sh(prefix / "bin" / "lifeguard", "cc", "-O2", "-pthread", "-DLG_KERNEL_CLEAN",
       REPO / "bench" / "kernels" / "lost_update.c", "-o", program)
    r = sh(program)
    assert r.stdout == "counter 6\n"
    assert "__tsan_init" in sh("nm", program).stdout
