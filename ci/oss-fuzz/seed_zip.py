#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""seed_zip.py ZIP DIR...: writes OSS-Fuzz's <target>_seed_corpus.zip, a flat zip of the inputs
in each DIR (recursively; missing DIRs are skipped). Sidecars (*.json, the regressions' notes
of which fault an input found) and dot files are not inputs. Names stay unique when flattened:
a later DIR's file whose name was taken gets its DIR's name as a prefix. The zip is
reproducible (sorted, fixed timestamps), so rebuilding it changes nothing."""

import sys
import zipfile
from pathlib import Path


def inputs(directory):
    for path in sorted(directory.rglob("*")):
        rel = path.relative_to(directory)
        if path.is_file() and path.suffix != ".json" and not any(p.startswith(".") for p in rel.parts):
            yield path


def main(argv):
    if len(argv) < 3:
        print("usage: seed_zip.py ZIP DIR...", file=sys.stderr)
        return 2
    names = set()
    with zipfile.ZipFile(argv[1], "w", zipfile.ZIP_DEFLATED) as z:
        for directory in map(Path, argv[2:]):
            if not directory.is_dir():
                continue
            for path in inputs(directory):
                name = path.name
                if name in names:
                    name = f"{directory.name}-{name}"
                n = 2
                while name in names:
                    name, n = f"{directory.name}-{n}-{path.name}", n + 1
                names.add(name)
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                z.writestr(info, path.read_bytes())
    print(f"{argv[1]}: {len(names)} inputs")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
