# SPDX-License-Identifier: MIT
"""`lifeguard cc` and `lifeguard c++`: clang, with memory-access scheduling points.

    lifeguard cc  [CLANG ARGS...]      (clang)
    lifeguard c++ [CLANG ARGS...]      (clang++)

Every argument goes to clang unchanged. The wrapper adds -fsanitize=thread, so clang puts a
callback before each load, store and atomic operation of the code it compiles (when it
compiles a source file, without the function entry and exit callbacks and leaving memcpy,
memset and memmove to the compiler: nothing would use them), and, when
clang links (no -c, -S, -E, ...), -fno-sanitize-link-runtime and liblifeguard-access.a: the
callbacks are lifeguard's (harness/src/access_rt.c), not ThreadSanitizer's runtime. Run under
`lifeguard explore`, the program's accesses to memory that threads share become scheduling
points (harness/src/access.c); run any other way, the program runs as compiled, each
callback one load and one branch (docs/BENCHMARKS.md has the cost).

The compiler is `clang` / `clang++` from PATH, or $LIFEGUARD_CC / $LIFEGUARD_CXX. The archive
is the installed one, or the plain build tree's (under $LIFEGUARD_BUILD_DIR, default build/ of
the source tree), built first when it is missing. The exit status is clang's; 2 when clang
cannot be found.
"""

import os
import shutil
import sys
from pathlib import Path

from .build import ensure_built, require_built
from .errors import UsageError
from .paths import DEFAULT_BUILD_ROOT, INSTALLED_PRELOAD, preset_dir

NAMES = ("cc", "c++")
PRESET = "plain"
TARGET = "lifeguard_access_rt"
ARCHIVE = "liblifeguard-access.a"
# Arguments after which clang does not link.
NO_LINK = {"-c", "-S", "-E", "-M", "-MM", "-fsyntax-only", "--version", "-dumpversion",
           "-dumpmachine", "--help", "-###"}
# Source files clang compiles (anything else it is given is for the linker).
SOURCE_SUFFIXES = (".c", ".cc", ".cp", ".cpp", ".cxx", ".c++", ".C", ".CC", ".CPP", ".i", ".ii",
                   ".m", ".mm")
# For code it compiles: no __tsan_func_entry/exit calls, and llvm's memory intrinsics kept as
# they are (TSan's pass would make each a call to libc's function).
COMPILE_FLAGS = ["-mllvm", "-tsan-instrument-func-entry-exit=0",
                 "-mllvm", "-tsan-instrument-memintrinsics=0"]
USAGE = __doc__


def archive_path():
    """liblifeguard-access.a: installed beside the preload library, or in the plain tree."""
    if INSTALLED_PRELOAD and "LIFEGUARD_BUILD_DIR" not in os.environ:
        path = Path(INSTALLED_PRELOAD).parent / ARCHIVE
        if not path.is_file():
            raise UsageError(f"the installed {path} is missing (reinstall lifeguard)")
        return path
    build_root = Path(os.environ.get("LIFEGUARD_BUILD_DIR") or DEFAULT_BUILD_ROOT).resolve()
    path = preset_dir(build_root, PRESET) / "harness" / ARCHIVE
    if not path.is_file():
        ensure_built([PRESET], build_root, targets=[TARGET])
        require_built(path, PRESET, build_root, False, needed_by="lifeguard cc")
    return path


def links(args):
    """Whether clang, given `args`, links."""
    return not any(a in NO_LINK or a.startswith("-print-") for a in args)


def compiles(args):
    """Whether clang, given `args`, compiles a source file (-x LANG, stdin, a source suffix)."""
    return any(a == "-" or a.startswith("-x") or a.endswith(SOURCE_SUFFIXES) for a in args)


def command(name, args):
    """The clang command line for `lifeguard NAME ARGS`."""
    var, default = ("LIFEGUARD_CXX", "clang++") if name == "c++" else ("LIFEGUARD_CC", "clang")
    compiler = os.environ.get(var) or default
    found = shutil.which(compiler)
    if not found:
        raise UsageError(f"{name}: {compiler} not found (install clang, or set {var})")
    argv = [found, "-fsanitize=thread", *(COMPILE_FLAGS if compiles(args) else []), *args]
    if links(args):
        argv += ["-fno-sanitize-link-runtime", str(archive_path())]
    return argv


def main(name, args):
    """Runs clang in place of this process (never returns) or prints the usage."""
    if args in (["-h"], ["--lifeguard-help"]):
        print(USAGE.strip())
        return 0
    argv = command(name, args)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv[0], argv)
    return 127  # (not reached)
