"""lifeguard's command-line driver: runs scenario programs and judges them against the manifest,
runs the fuzz targets, and runs the benchmarks.

Modules, one concept each:
  errors    the two ways a command stops early (bad input, failed build)
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
  cli       the argument parser and the subcommand registry
"""

__version__ = "0.1.0"
