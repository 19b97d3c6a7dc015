"""`lifeguard matrix`: every selected scenario, variant and config, run and judged."""

import json
import sys
from pathlib import Path

from . import argtypes, manifest
from . import run as runner
from .build import ensure_built, require_built
from .errors import UsageError
from .kinds import CLASSES, VARIANTS
from .paths import DEFAULT_BUILD_ROOT, DEFAULT_MANIFEST, display
from .progress import Progress

NAME = "matrix"
SUMMARY = "run the scenarios and check each outcome against the manifest"

DESCRIPTION = """\
Run every scenario of the manifest in both variants under every configuration it lists, and
compare what the detectors reported with what the manifest expects.

Each row (scenario, variant, config) runs
  build/<preset>/scenarios/<program> --scenario NAME --variant VARIANT --iterations 1
(or, for a scenario with a manifest `search`, --strategy S --iterations N, plus --depth,
--bound and --seed when it gives them: a race is looked for over N schedules, and the fixed
variant must be clean on all of them) in a fresh process with the config's `env` added to
the environment and
LIFEGUARD_OPTIONS=log_json=<temporary file> (appended to an existing LIFEGUARD_OPTIONS with
':'); LIFEGUARD_FAULTS is removed, since the variant decides the faults. A run that takes
longer than --timeout seconds is killed.

What a run produced (the `observed` column) is decided by what the detectors printed:
  KIND           the kind on the first `SUMMARY: <tool>: KIND` line of lifeguard,
                 AddressSanitizer, LeakSanitizer, UndefinedBehaviorSanitizer or
                 ThreadSanitizer (`leak` for a leak summary, `undefined-behavior` for UBSan)
  clean          no SUMMARY line and exit status 0
  crash:SIGNAME  no SUMMARY line, killed by a signal
  exit:N         no SUMMARY line, exit status N
  timeout        no SUMMARY line, killed after --timeout seconds
For a buggy row the manifest can name the function the top frame of each stack of the first
report must be in (`frames`): lifeguard's stacks come from its JSON log (current, close, open,
owner), AddressSanitizer's from its text report (current: the faulting access, free, alloc);
frames of the sanitizer runtime (free, malloc, __interceptor_*, __asan_*, operator delete, ...)
are skipped. A right kind with a wrong place is shown as
`KIND (wrong frames: STACK top is F, expected G)` and the row fails.

The table has the columns class, scenario, variant, config, expected, observed, ok; under each
failed row, the first lines of its report. The last line is `N rows, M ok, K failed`."""

EPILOG = """\
json output (--json FILE): an array with one object per row:
  scenario, class, program, variant, config, expected, observed,
  ok (true/false), runs, matched (runs that matched), seconds (all runs),
  report (first lines of the report of the first failing run, else of the first run),
  faults (the fault switches the scenario's buggy variant turns on)

exit status: 0 every row ok; 1 a row failed or the build failed; 2 bad input.

examples:
  scripts/lifeguard matrix
  scripts/lifeguard matrix --class double-close --config plain --json matrix.json
  scripts/lifeguard matrix --scenario wrapper-drop --variant fixed --runs 100 --no-build"""


def add_arguments(parser):
    select = parser.add_argument_group("selection (each may be repeated; default: everything)")
    select.add_argument("--class", dest="classes", action="append", default=[], metavar="C",
                        help=f"only scenarios of bug class C ({', '.join(CLASSES)})")
    select.add_argument("--scenario", dest="scenarios", action="append", default=[],
                        metavar="S", help="only the scenario named S in the manifest")
    select.add_argument("--config", dest="configs", action="append", default=[],
                        metavar="NAME", help="only the configuration NAME ([config.NAME] in the manifest)")
    select.add_argument("--variant", dest="variants", action="append", default=[],
                        choices=VARIANTS, help="only the buggy or only the fixed variant")
    runs = parser.add_argument_group("running")
    runs.add_argument("--runs", type=argtypes.positive_int, default=1, metavar="N",
                      help="run each row N times, a fresh process each; the row is ok only if "
                           "all N match (default 1)")
    runs.add_argument("--timeout", type=argtypes.positive_seconds, default=runner.DEFAULT_TIMEOUT,
                      metavar="SECONDS",
                      help=f"kill a run after this long (default {runner.DEFAULT_TIMEOUT:g})")
    files = parser.add_argument_group("files")
    files.add_argument("--json", metavar="FILE", help="also write the rows as JSON to FILE")
    files.add_argument("--no-build", action="store_true",
                       help="do not configure or build; use the binaries as they are")
    files.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST, metavar="PATH",
                       help=f"the manifest to check against (default {display(DEFAULT_MANIFEST)})")
    files.add_argument("--build-dir", type=Path, default=DEFAULT_BUILD_ROOT, metavar="DIR",
                       help="root of the build trees; binaries are at "
                            "DIR/<preset>/scenarios/<program> (default build/)")


def run(args):
    """Entry point of `lifeguard matrix`."""
    args.build_dir = args.build_dir.resolve()
    rows = manifest.load(args.manifest).select(
        args.classes, args.scenarios, args.configs, args.variants)
    if args.json and not Path(args.json).resolve().parent.is_dir():
        raise UsageError(f"--json {args.json}: its directory does not exist")
    if not args.no_build:
        ensure_built([row.config.preset for row in rows], args.build_dir)
    _check_binaries(rows, args.build_dir, args.no_build)

    results = []
    with Progress("matrix") as progress:
        for index, row in enumerate(rows, 1):
            where = f"[{index}/{len(rows)}] {row.id}"
            progress.start(where)
            result = runner.run_row(row, args.build_dir, runs=args.runs, timeout=args.timeout)
            results.append(result)
            progress.step(f"{where}: {'ok' if result.ok else 'FAIL'}")

    print_table(results, sys.stdout)
    if args.json:
        _write_json(args.json, results)
    return 0 if all(r.ok for r in results) else 1


def _check_binaries(rows, build_root, no_build):
    """UsageError naming the first program the selected rows need that is not there."""
    for row in rows:
        require_built(runner.row_binary(row, build_root), row.config.preset, build_root, no_build,
                      needed_by=row.id)


def print_table(results, out):
    """The matrix as a text table, each failed row followed by its report, then the totals."""
    header = ("class", "scenario", "variant", "config", "expected", "observed", "ok")
    cells = [header] + [_cells(r) for r in results]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(values):
        return "  ".join(v.ljust(w) for v, w in zip(values, widths)).rstrip()

    print(line(header), file=out)
    print(line(["-" * w for w in widths]), file=out)
    for result, row_cells in zip(results, cells[1:]):
        print(line(row_cells), file=out)
        if not result.ok:
            for report_line in result.report():
                print(f"      | {report_line}", file=out)
    failed = sum(1 for r in results if not r.ok)
    print(f"{len(results)} rows, {len(results) - failed} ok, {failed} failed", file=out)


def _cells(result):
    row = result.row
    verdict = "ok" if result.ok else "FAIL"
    if len(result.runs) > 1:
        verdict += f" {result.matched}/{len(result.runs)}"
    return (row.scenario.cls, row.scenario.name, row.variant, row.config.name, row.expected,
            result.observed, verdict)


def _write_json(path, results):
    try:
        with open(path, "w", encoding="utf-8") as f:
            json.dump([r.to_json() for r in results], f, indent=2)
            f.write("\n")
    except OSError as e:
        raise UsageError(f"cannot write --json {path}: {e.strerror}") from None
