#!/usr/bin/env -S /usr/bin/python3 -B
# SPDX-License-Identifier: MIT
"""How many lifecycle bugs nobody planted as a fault switch does lifeguard catch?

Each plant is a patch (bench/planted/*.patch) that puts one lifecycle bug into the reference
runtime's fixed code: an owner that forgets a descriptor, a reference never released, a
generation never compared, an error path that frees twice. For every plant this script

  1. resets one evaluation worktree (git worktree, detached at HEAD, under --work) and applies
     the patch, so the build trees there rebuild only what the patch touches;
  2. runs the matrix (`lifeguard matrix --variant fixed`): a fixed row that is no longer clean
     caught it;
  3. fuzzes every class target on the fixed code for --fuzz-seconds each (`lifeguard fuzz`):
     the first half as it is, the second with failure injection (`--inject N`, default 2),
     since a bug on an error path runs only when a call fails; a crash caught it.

A matrix or fuzz run that did not run at all (a build error) is an error (exit 2), never a
catch: it observed nothing.

It prints one line per plant (caught by what, or missed) and the catch rate, and writes
--json. Exit status: 0 when every plant was caught, 1 when one was missed, 2 on bad input (a
patch that does not apply is bad input: the plant must be brought up to date).

  bench/planted/evaluate.py [--fuzz-seconds 60] [--inject 2] [--work DIR] [--json FILE]
                            [PLANT ...]

Slow (a matrix and four fuzz runs per plant): it belongs to nightly jobs, not the gate."""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PLANTS = Path(__file__).resolve().parent
TARGETS = ("pipe_disconnect", "module_unload", "double_close", "gc_async")


def fail(message):
    print(f"planted: error: {message}", file=sys.stderr)
    sys.exit(2)


def git(*args, cwd=REPO, check=True):
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=check)


def worktree(work):
    if not (work / ".git").exists():
        git("worktree", "add", "--detach", str(work), "HEAD")
    git("checkout", "--detach", git("rev-parse", "HEAD").stdout.strip(), cwd=work)
    git("reset", "--hard", "-q", cwd=work)
    git("clean", "-fdq", "-e", "build", cwd=work)


def lifeguard(work, *args, timeout):
    return subprocess.run([str(work / "scripts" / "lifeguard"), *args], cwd=work,
                          capture_output=True, text=True, timeout=timeout)


def matrix_catch(work, tmp):
    out = Path(tmp) / "matrix.json"
    r = lifeguard(work, "matrix", "--variant", "fixed", "--json", str(out), timeout=3600)
    if not out.exists():
        # Not a catch: a matrix that did not run (a build error, a bad manifest) observed
        # nothing, and counting it would report a plant as caught that nothing detected.
        last = (r.stderr.strip().splitlines() or ["no output"])[-1]
        fail(f"the matrix did not run (exit {r.returncode}): {last}")
    bad = [row for row in json.loads(out.read_text()) if not row["ok"]]
    if bad:
        row = bad[0]
        return f"matrix {row['scenario']} {row['config']}: {row['observed']}"
    return None


def fuzz_runs(seconds, inject):
    """The fuzz runs of one target's share: (seconds, injection bound) pairs. With injection,
    the first half of the share fuzzes as it is and the second half with failure injection on
    (the error paths run only when a call fails); the halves add up to the share."""
    if not inject or seconds < 2:
        return [(seconds, 0)]
    return [(seconds - seconds // 2, 0), (seconds // 2, inject)]


def fuzz_catch(work, tmp, seconds, inject):
    for target in TARGETS:
        for share, bound in fuzz_runs(seconds, inject):
            out = Path(tmp) / f"{target}-{bound}.json"
            extra = ["--inject", str(bound)] if bound else []
            r = lifeguard(work, "fuzz", target, "--seconds", str(share), "--seed", "1", *extra,
                          "--json", str(out), timeout=share * 4 + 900)
            if not out.exists():
                # As with the matrix: a fuzz run that did not happen is no evidence either way.
                last = (r.stderr.strip().splitlines() or ["no output"])[-1]
                fail(f"fuzz {target} did not run (exit {r.returncode}): {last}")
            result = json.loads(out.read_text())
            if result.get("crashed"):
                how = f" with --inject {bound}" if bound else ""
                return (f"fuzz {target}{how}: {result.get('fault_kind')} after "
                        f"{result.get('execs_to_first_crash')} executions")
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("plants", nargs="*", metavar="PLANT", help="plant names (default: all)")
    parser.add_argument("--fuzz-seconds", type=int, default=60, metavar="S",
                        help="fuzzing per target (default 60)")
    parser.add_argument("--inject", type=int, default=2, metavar="N",
                        help="failure-injection bound of the second half of each target's "
                             "fuzzing (default 2; 0: no injection, all of it plain)")
    parser.add_argument("--work", type=Path, default=REPO / "build" / "planted-worktree")
    parser.add_argument("--json", type=Path, metavar="FILE")
    args = parser.parse_args()
    if args.fuzz_seconds < 0:
        fail("--fuzz-seconds must be 0 or more")
    if args.inject < 0:
        fail("--inject must be 0 or more")
    available = {p.stem: p for p in sorted(PLANTS.glob("*.patch"))}
    names = args.plants or list(available)
    for name in names:
        if name not in available:
            fail(f"no plant {name!r} (plants: {', '.join(available)})")
    work = args.work.resolve()
    rows = []
    for name in names:
        worktree(work)
        applied = git("apply", str(available[name]), cwd=work, check=False)
        if applied.returncode != 0:
            fail(f"plant {name} does not apply to HEAD: {applied.stderr.strip().splitlines()[0]}")
        start = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="planted-") as tmp:
            caught = matrix_catch(work, tmp)
            if caught is None and args.fuzz_seconds:
                caught = fuzz_catch(work, tmp, args.fuzz_seconds, args.inject)
        rows.append({"plant": name, "caught": caught is not None, "by": caught,
                     "seconds": round(time.monotonic() - start, 1)})
        print(f"{name}: {'caught by ' + caught if caught else 'MISSED'}", flush=True)
    worktree(work)
    found = sum(r["caught"] for r in rows)
    print(f"caught {found} of {len(rows)} ({100 * found / max(len(rows), 1):.0f}%)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0 if found == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
