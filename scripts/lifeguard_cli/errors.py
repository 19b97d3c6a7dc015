# SPDX-License-Identifier: MIT
"""The two ways a lifeguard command stops before it has a verdict."""


class UsageError(Exception):
    """Bad input: arguments, manifest, selection. The CLI prints one line and exits 2."""

    exit_status = 2


class BuildError(Exception):
    """A build step failed. The CLI prints the message and the output tail, and exits 1."""

    exit_status = 1

    def __init__(self, message, output_tail=""):
        super().__init__(message)
        self.output_tail = output_tail
