# SPDX-License-Identifier: MIT
"""The `lifeguard` command line: the parser, the subcommand registry, exit statuses.

A subcommand is a module with NAME, SUMMARY, DESCRIPTION, EPILOG, add_arguments(parser) and
run(args) -> exit status; add it to COMMANDS once it works. Errors reach the user as one line,
`lifeguard: error: ...`: bad input exits 2, a failed build exits 1 after the build output's
tail.
"""

import argparse
import os
import sys

from . import __version__, bench, cc, explore, fuzz, matrix, nightly, ttd, verify
from .errors import BuildError, UsageError
from .paths import INSTALLED_PRELOAD

COMMANDS = (matrix, fuzz, bench, ttd, verify, explore, nightly)

DESCRIPTION = """\
lifeguard runs the scenario programs of the lifecycle-safety harness (one program per bug
class, each scenario in a `buggy` and a `fixed` variant) and checks what the detectors
report against scenarios/manifest.toml. `lifeguard fuzz` runs a libFuzzer target, `lifeguard
bench` and `lifeguard ttd` measure the harness itself, `lifeguard verify` runs any program
with the detectors preloaded, `lifeguard explore` runs it under controlled schedules.
`lifeguard cc` / `lifeguard c++` ARGS... compile with clang so that a program's memory accesses
are scheduling points under explore (every argument is clang's; `lifeguard cc
--lifeguard-help` says more)."""

EPILOG = """\
exit status:
  0  the command succeeded (for matrix: every row is as the manifest expects)
  1  it ran and something failed (a row, a benchmark, or a build step), or a fuzz run crashed
  2  bad input: arguments, manifest, selection; one line on stderr, nothing run

Run `lifeguard COMMAND --help` for a command's options."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line through UsageError instead of usage + exit,
    and an option no command knows is named as such ("unknown option --x"), by the command
    it was given to, even when a required argument is missing too (argparse would complain
    about the missing argument and never mention the typo that caused it)."""

    def parse_known_args(self, args=None, namespace=None):
        self._arg_strings = list(sys.argv[1:] if args is None else args)
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(self._unexpected(extras) or
                       f"unexpected argument{'s' if len(extras) > 1 else ''} "
                       f"{' '.join(map(repr, extras))}")
        return namespace, extras

    def error(self, message):
        if message.startswith("the following arguments are required"):
            message = self._unexpected(getattr(self, "_arg_strings", [])) or message
        raise UsageError(f"{' '.join(message.split())} (see '{self.prog} --help')")

    def _unexpected(self, arg_strings):
        """"unknown option --x[, --y]" for the options in `arg_strings` this parser does not
        know (up to `--`, skipping the values of options that take one); None if none."""
        unknown, skip = [], False
        for text in arg_strings:
            if skip:
                skip = False
                continue
            if text == "--":
                break
            if not text.startswith("-") or text == "-" or \
                    self._negative_number_matcher.match(text):
                continue
            name = text.split("=", 1)[0]
            action = self._option_string_actions.get(name)
            if action is None and name.startswith("--"):  # an abbreviation argparse allows
                matches = [a for o, a in self._option_string_actions.items() if o.startswith(name)]
                action = matches[0] if len(set(map(id, matches))) == 1 else None
            if action is None:
                unknown.append(name)
            else:
                skip = action.nargs != 0 and "=" not in text
        if not unknown:
            return None
        return f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}"


def build_parser():
    parser = ArgumentParser(
        prog="lifeguard", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"lifeguard {__version__}")
    commands = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    commands.required = True
    for command in COMMANDS:
        sub = commands.add_parser(
            command.NAME, help=command.SUMMARY, description=command.DESCRIPTION,
            epilog=command.EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
        command.add_arguments(sub)
        sub.set_defaults(run=command.run)
    return parser


def main(argv=None):
    """Parse `argv` (default sys.argv[1:]), run the command, return its exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        if argv and argv[0] in cc.NAMES:
            return cc.main(argv[0], argv[1:])  # (clang's arguments: no parser of ours)
        args = build_parser().parse_args(argv)
        if INSTALLED_PRELOAD and args.run not in (verify.run, explore.run):
            name = next(c.NAME for c in COMMANDS if c.run is args.run)
            raise UsageError(f"'lifeguard {name}' runs in a source tree of lifeguard (its "
                             "scenarios, fuzz targets and build trees); the installed driver "
                             "runs 'lifeguard verify' and 'lifeguard explore'")
        return args.run(args)
    except UsageError as e:
        print(f"lifeguard: error: {e}", file=sys.stderr)
        return e.exit_status
    except BuildError as e:
        if e.output_tail:
            print(e.output_tail, file=sys.stderr)
        print(f"lifeguard: error: {e}", file=sys.stderr)
        return e.exit_status
    except KeyboardInterrupt:
        print("lifeguard: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`lifeguard matrix | head`); say nothing more to it.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
