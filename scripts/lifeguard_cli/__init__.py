# SPDX-License-Identifier: MIT
"""lifeguard's command-line driver: runs scenario programs and judges them against the manifest,
runs the fuzz targets, and runs the benchmarks.

Modules, one concept each:
  errors    the two ways a command stops early (bad input, failed build)
  argtypes  the argparse value types every command shares (positive numbers, seeds)
  progress  progress lines of the long commands, on a terminal or piped
  kinds     the words: bug classes and fault kinds, in one place
  paths     where the repository, manifest, build trees and binaries are
  manifest  reading and strictly validating scenarios/manifest.toml
  classify  turning a program's output and JSON report log into an observed outcome
  run       running a scenario program once, and a manifest row N times
  build     configuring and building the CMake presets a selection needs
  matrix    the `matrix` subcommand: select rows, run them, print the table and JSON
  fuzz      the `fuzz` subcommand, and the libFuzzer runner `ttd` shares: run, stream, parse
  bench     the `bench` subcommand: run the benchmark programs, print, save and record figures
  ttd       the `ttd` subcommand: time to detect a class's seeded fault, per strategy
  nightly   the `nightly` subcommand (nightly_corpus, nightly_crashes, nightly_report,
            nightly_state: its corpora, crashes, reports and state file)
  verify    the `verify` subcommand: an unmodified program under the preloaded detectors
  cli       the argument parser and the subcommand registry
"""

__version__ = "0.1.0"
