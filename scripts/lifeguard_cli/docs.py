# SPDX-License-Identifier: MIT
"""Generated sections of the docs: text between a BEGIN and an END marker that a command
rewrites (bench results, time-to-detect tables), the rest of the file left as people wrote it."""

import os
from pathlib import Path

from .errors import UsageError
from .paths import display


def read(path, begin_marker, end_marker):
    """The file's text ("" when it does not exist yet); UsageError when it cannot be updated:
    unreadable, or with one marker and not the other, or out of order."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if not path.parent.is_dir():
            raise UsageError(f"--update-docs: the directory of {display(path)} does not exist") \
                from None
        return ""
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"cannot read {display(path)}: {e}") from None
    begin, end = text.find(begin_marker), text.find(end_marker)
    if (begin < 0) != (end < 0) or (begin >= 0 and end < begin):
        raise UsageError(f"{display(path)}: the results markers are broken (need "
                         f"'{begin_marker} ... -->' before '{end_marker}'); fix them by hand")
    return text


def splice(text, section, begin_marker, end_marker, heading=""):
    """`text` with its marked section replaced by `section` (appended when it has none; a new
    file starts with `heading`)."""
    begin, end = text.find(begin_marker), text.find(end_marker)
    if begin < 0:
        if not text:
            return heading + section
        return text.rstrip("\n") + "\n\n" + section
    end += len(end_marker)
    if text[end:end + 1] == "\n":
        end += 1
    return text[:begin] + section + text[end:]


def write_section(path, section, begin_marker, end_marker, heading=""):
    """Replaces (or appends) the marked section of the file at `path`, atomically."""
    text = splice(read(path, begin_marker, end_marker), section, begin_marker, end_marker, heading)
    tmp = Path(f"{path}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as e:
        raise UsageError(f"cannot write {display(path)}: {e.strerror}") from None
