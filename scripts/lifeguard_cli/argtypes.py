# SPDX-License-Identifier: MIT
"""The argparse value types every command shares: numbers with a lower bound, a 64-bit seed.

A type is a callable `text -> value` that raises argparse.ArgumentTypeError with the words
"must be WHAT, not 'TEXT'"; the parser (cli.ArgumentParser) turns that into one line and
exit 2. One definition per rule, so `--runs 0` and `--trials 0` are refused alike."""

import argparse


def number(kind, what, minimum=None, above=None):
    """A type: `kind` (int or float) of at least `minimum` or more than `above`, else an
    error that says `what` it must be. NaN and infinities are never a number here."""
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or value != value or value in (float("inf"), float("-inf")) or \
                (minimum is not None and value < minimum) or \
                (above is not None and value <= above):
            raise argparse.ArgumentTypeError(f"must be {what}, not {text!r}")
        return value
    return parse


def whole(minimum, what):
    """A type: a whole number of at least `minimum`."""
    return number(int, what, minimum=minimum)


positive_int = whole(1, "a positive whole number")
positive_whole_seconds = whole(1, "a positive whole number of seconds")
positive_seconds = number(float, "a positive number of seconds", above=0)
non_negative_int = whole(0, "a whole number, 0 or more")


def seed64(text):
    """A type: a whole number below 2**64 (a scheduler seed)."""
    if not text.isdigit() or int(text) >= 1 << 64:
        raise argparse.ArgumentTypeError(f"must be a whole number below 2**64, not {text!r}")
    return int(text)
