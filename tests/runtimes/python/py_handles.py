# SPDX-License-Identifier: MIT
"""CPython + ctypes: lifetimes of what a plugin hands out (py_handles.c).

  python3 py_handles.py PLUGIN double-close fault|clean DIR
      the plugin opens a descriptor and closes it; Python opens its own file in DIR (which
      takes the freed number in a normal run); the faulty script closes the plugin's
      descriptor again through the plugin (a double close that, unchecked, closes Python's
      file); the twin does not
  python3 py_handles.py PLUGIN record-uaf fault|clean
      the plugin allocates records; the faulty script frees one and then asks the plugin for
      its checksum (a use after free in record_checksum); the twin asks first
"""
import ctypes
import os
import sys


def plugin_at(path):
    lib = ctypes.CDLL(path)
    lib.handle_open.argtypes = [ctypes.c_char_p]
    lib.handle_close.argtypes = [ctypes.c_int]
    lib.record_new.restype = ctypes.c_void_p
    lib.record_new.argtypes = [ctypes.c_char_p]
    lib.record_free.argtypes = [ctypes.c_void_p]
    lib.record_checksum.restype = ctypes.c_ulong
    lib.record_checksum.argtypes = [ctypes.c_void_p]
    return lib


def double_close(lib, fault, directory):
    fd = lib.handle_open(b"/dev/null")
    if fd < 0:
        return 1
    lib.handle_close(fd)
    path = os.path.join(directory, "journal.txt")
    with open(path, "w") as journal:
        if fault:
            lib.handle_close(fd)  # the bug: the plugin's number is closed twice
        try:
            journal.write("entry\n")
            journal.flush()
            print("journal written")
        except OSError as e:
            print(f"journal lost: {e.strerror}")
    return 0


def record_uaf(lib, fault):
    records = [lib.record_new(f"record {i}".encode()) for i in range(8)]
    sums = []
    if fault:
        lib.record_free(records[3])
        sums = [lib.record_checksum(r) for r in records]  # the bug: records[3] is gone
    else:
        sums = [lib.record_checksum(r) for r in records]
        lib.record_free(records[3])
    for i, r in enumerate(records):
        if i != 3:
            lib.record_free(r)
    print(f"{len(sums)} checksums")
    return 0


def main():
    argv = sys.argv[1:]
    ok = len(argv) >= 3 and argv[2] in ("fault", "clean") and (
        (argv[1] == "double-close" and len(argv) == 4) or (argv[1] == "record-uaf" and len(argv) == 3))
    if not ok:
        print("usage: py_handles.py PLUGIN double-close fault|clean DIR | "
              "PLUGIN record-uaf fault|clean", file=sys.stderr)
        return 2
    lib = plugin_at(argv[0])
    if argv[1] == "double-close":
        return double_close(lib, argv[2] == "fault", argv[3])
    return record_uaf(lib, argv[2] == "fault")


sys.exit(main())
