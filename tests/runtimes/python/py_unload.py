# SPDX-License-Identifier: MIT
"""CPython + ctypes: a plugin unloaded while its own thread may still be in it.

  python3 py_unload.py PLUGIN MODE fault   start the plugin's thread (MODE: read, poll,
                                           nanosleep, condwait), then unload the plugin with
                                           _ctypes.dlclose while the thread waits in it
  python3 py_unload.py PLUGIN MODE clean   the twin stops and joins the thread first

The thread's function (py_sleeper.c) is what the unload-while-running report must name.
"""
import _ctypes
import ctypes
import sys


def main():
    if len(sys.argv) != 4 or sys.argv[2] not in ("read", "poll", "nanosleep", "condwait") \
            or sys.argv[3] not in ("fault", "clean"):
        print("usage: py_unload.py PLUGIN read|poll|nanosleep|condwait fault|clean",
              file=sys.stderr)
        return 2
    plugin = ctypes.CDLL(sys.argv[1])
    if getattr(plugin, f"sleeper_start_{sys.argv[2]}")() != 0:
        print("the plugin's thread did not start", file=sys.stderr)
        return 1
    if sys.argv[3] == "clean" and plugin.sleeper_stop() != 0:
        print("the plugin's thread did not stop", file=sys.stderr)
        return 1
    handle = plugin._handle
    del plugin
    _ctypes.dlclose(handle)
    print("plugin unloaded")
    return 0


sys.exit(main())
