#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A stand-in scenario program for the driver's own tests: behaves like a class program
(`--scenario S --variant V --iterations N`, a lifeguard report and a JSON log line, then abort)
without needing the C build. What it does depends on the scenario name:

  double-close   buggy: reports a double-close (frames as the manifest's wrapper-drop)
  wrong-frames   buggy: reports a double-close blamed on the wrong close site
  env            prints LIFEGUARD_OPTIONS, FAKE_SETTING and LIFEGUARD_FAULTS as JSON
  hang           sleeps for a minute
  segv           dies of SIGSEGV without a report
  flaky          buggy and fixed: every other run (counted in $FAKE_COUNTER) reports
Any fixed variant not listed is clean.
"""

import argparse
import json
import os
import signal
import sys
import time


def frame(function, file, line):
    return {"pc": "0x401000", "module": sys.argv[0], "offset": "0x1000", "function": function,
            "file": file, "line": line, "column": 5}


def report(close_function):
    options = dict(item.split("=", 1) for item in os.environ["LIFEGUARD_OPTIONS"].split(":"))
    record = {
        "tool": "lifeguard", "version": "0.1.0", "kind": "double-close", "pid": os.getpid(),
        "tid": os.getpid(), "fd": 5,
        "summary": "double-close runtime/net/owned_fd.c:40 in lg_owned_fd_drop",
        "stacks": {
            "current": [frame("lg_owned_fd_drop", "/r/runtime/net/owned_fd.c", 40),
                        frame("main", "/r/scenarios/double_close.c", 90)],
            "close": [frame(close_function, "/r/runtime/net/socket.c", 61)],
            "open": [frame("lg_socket_open", "/r/runtime/net/socket.c", 22)],
        },
    }
    with open(options["log_json"], "a") as log:
        log.write(json.dumps(record) + "\n")
    pid = os.getpid()
    sys.stderr.write(
        f"=================================================================\n"
        f"=={pid}==ERROR: lifeguard: double-close on file descriptor 5\n"
        f"    #0 0x401000 in lg_owned_fd_drop /r/runtime/net/owned_fd.c:40:5\n"
        f"    #1 0x401100 in main /r/scenarios/double_close.c:90:3\n"
        f"previously closed here:\n"
        f"    #0 0x401200 in {close_function} /r/runtime/net/socket.c:61:9\n"
        f"SUMMARY: lifeguard: double-close /r/runtime/net/owned_fd.c:40 in lg_owned_fd_drop\n")
    sys.stderr.flush()
    os.abort()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenario", required=True)
    parser.add_argument("--variant", required=True, choices=["buggy", "fixed"])
    parser.add_argument("--iterations", type=int, default=1)
    args = parser.parse_args()
    print(f"{args.scenario}/{args.variant}: {args.iterations} iteration(s)", flush=True)
    if args.scenario == "env":
        print(json.dumps({name: os.environ.get(name) for name in
                          ("LIFEGUARD_OPTIONS", "FAKE_SETTING", "LIFEGUARD_FAULTS")}))
    elif args.scenario == "hang":
        time.sleep(60)
    elif args.scenario == "segv":
        os.kill(os.getpid(), signal.SIGSEGV)
    elif args.scenario == "flaky":
        counter = os.environ["FAKE_COUNTER"]
        count = int(open(counter).read() or 0) if os.path.exists(counter) else 0
        open(counter, "w").write(str(count + 1))
        if count % 2:
            report("lg_socket_close")
    elif args.variant == "buggy" and args.scenario == "double-close":
        report("lg_socket_close")
    elif args.variant == "buggy" and args.scenario == "wrong-frames":
        report("lg_owned_fd_drop")
    return 0


if __name__ == "__main__":
    sys.exit(main())
