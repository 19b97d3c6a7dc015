#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the hand-written seeds of the module_unload, pipe_disconnect and double_close fuzz
targets (those that reach a configuration or operation the fuzzer alone does not reach soon)
into corpora/<target>/, from the operations spelled out below. gc_async's seeds have their own
script (fuzz/gc_async_seeds.py).

The shared grammar (fuzz/class_input.h): byte 0 = the count of operation bytes + MAX_OPS * the
configuration; then the operation bytes; then the schedule bytes: none for most seeds (nobody
is preempted), or, for a seed given a third element, that many alternating bytes 0, 1, 0, ...
(round robin: each decision hands over to the other runnable actor, so two actors' steps
overlap, which a schedule the fuzzer has to find byte by byte reaches late). Each target's operation byte is built as its source file says:
  module_unload    actor + 2 * op (+ 16 * k: OP_WAIT waits k + 1 ms)
  pipe_disconnect  actor + 2 * op + 20 * end (end 0 = server, 1 = client)
  double_close     actor + 3 * op + 33 * slot
Run from anywhere: /usr/bin/python3 fuzz/class_seeds.py [CORPORA_DIR]"""

import sys
from pathlib import Path

MODULE_OPS = ["load", "connect", "submit", "disconnect", "shutdown", "unload", "wait", "yield"]
PIPE_OPS = ["open", "register", "deregister", "connect", "write", "read", "wait", "disconnect",
            "drop", "yield"]
CLOSE_OPS = ["socket-open", "socket-destroy", "socket-validate", "socket-send", "owned-open",
             "owned-dup", "owned-transfer", "owned-drop", "owned-write", "stream", "poll"]

# module_unload configurations (fuzz/module_unload.c configs[]): 0 current-thread, 1 owned
# multi-thread runtime, 2 current-thread + per-thread cache, 3 owned + cache, 4 current-thread
# without heartbeat, 5 owned without heartbeat, 6 the process-global runtime in a pinned module
# (at most 15 operations: byte 0 stays a byte). Words: aN.OP (actor N), wait as aN.wait.K.
MODULE = {
    # the owned runtime: connect, work, disconnect, shutdown; a reconnect starts a new runtime
    # (5 ms: the monitor's heartbeat and the host timer fire), then shutdown twice, then unload
    "owned-reconnect": (1, "a0.load a0.connect a0.submit a0.disconnect a0.shutdown a0.connect "
                           "a0.wait.4 a0.submit a0.disconnect a0.shutdown a0.shutdown a0.unload"),
    # two applications on one owned runtime; the first shutdown is refused (a connection is
    # open), the last unload shuts the environment down
    "owned-two-apps": (1, "a0.load a1.load a0.connect a1.connect a0.submit a1.submit a0.shutdown "
                          "a0.disconnect a1.disconnect a1.shutdown a0.shutdown a0.unload "
                          "a1.unload"),
    # the per-thread cache: both connects enter the driver; shutdown frees the entries
    "cache-two-apps": (2, "a0.load a1.load a0.connect a1.connect a0.disconnect a1.disconnect "
                          "a0.shutdown a0.unload a1.unload"),
    # owned runtime and cache; 8 ms while connected: heartbeats on both sides
    "owned-cache": (3, "a0.load a0.connect a0.wait.7 a0.submit a0.disconnect a0.shutdown "
                       "a0.connect a0.disconnect a0.unload"),
    "no-heartbeat": (4, "a0.load a0.connect a0.submit a0.disconnect a0.unload"),
    # unloading while connected: the unload disconnects, the last one shuts down
    "owned-no-heartbeat-unload-connected": (5, "a0.load a1.load a0.connect a1.connect a0.unload "
                                               "a1.submit a1.unload"),
    # two connects at once on the owned runtime (round robin): both find it not started yet,
    # so the driver's own lock is all that keeps them from starting it twice; then with the
    # per-thread cache, whose key both connects may create
    "owned-connects-overlap": (1, "a0.load a1.load a0.connect a1.connect a0.submit a1.submit "
                                  "a0.unload a1.unload", 24),
    "owned-cache-connects-overlap": (3, "a0.load a1.load a0.connect a1.connect a0.disconnect "
                                        "a1.disconnect a0.unload a1.unload", 24),
    # the disconnect comes exactly when the heartbeat timer is due (one 5 ms period after the
    # connect; round robin): the timer's call and the connection's teardown race
    "heartbeat-due-at-disconnect": (0, "a0.load a0.connect a0.wait.4 a0.disconnect a0.unload",
                                    24),
    # the process-global runtime in the pinned copy: its workers and monitor stay after the
    # unload (6 ms: a heartbeat through it); a second input finds and frees the earlier one's
    "global-pinned": (6, "a0.load a1.load a0.connect a1.connect a0.submit a0.wait.5 a1.submit "
                         "a0.disconnect a1.disconnect a0.unload a1.unload"),
    # replayed after it in one process: the global runtime of the earlier execution is freed
    "global-pinned-again": (6, "a0.load a0.connect a0.disconnect a0.unload"),
}

# pipe_disconnect configurations: bit 0 slot tokens, bit 1 callback loop, 4/5 early shutdown
# (raw/slot tokens, task loop). Words: aN.OP.END (END s = server, c = client).
PIPE_ONE = ("a0.open.s a0.open.c a0.connect.s a0.wait.s a0.write.c a0.wait.s a0.read.s "
            "a0.disconnect.c a0.wait.s a0.read.s a0.read.s a0.drop.s")
PIPE_TWO = ("a0.open.s a1.open.s a0.open.c a1.open.c a0.connect.s a1.connect.s a0.register.c "
            "a1.register.c a0.write.c a1.write.s a0.wait.s a1.wait.c a0.disconnect.c "
            "a1.disconnect.s a0.wait.s a1.wait.c a0.yield.s a1.yield.s")
PIPE_EARLY = ("a0.open.s a1.open.s a0.open.c a1.open.c a0.connect.s a1.connect.s a1.register.c "
              "a1.write.s a1.wait.c a1.disconnect.s a1.wait.c a1.read.c a1.wait.c a1.read.c")
PIPE = {
    "slot-connect-write-disconnect": (1, PIPE_ONE),
    "callbacks-connect-write-disconnect": (2, PIPE_ONE),
    "callbacks-slot-connect-write-disconnect": (3, PIPE_ONE),
    "slot-two-actors": (1, PIPE_TWO),
    "callbacks-two-actors": (2, PIPE_TWO),
    "callbacks-slot-two-actors": (3, PIPE_TWO),
    "early-shutdown-two-actors": (4, PIPE_EARLY),
    "early-shutdown-slot-two-actors": (5, PIPE_EARLY),
}

# double_close: words aN.OP.SLOT
CLOSE = {
    # a bound socket connected to its own address: send, and receive the datagram back
    "validate-connect-recv": (0, "a0.socket-validate.0 a0.socket-send.0"),
}


def encode(target, config, words):
    ops = []
    for w in words.split():
        actor, name, *rest = w.split(".")
        a = int(actor[1:])
        if target == "module_unload":
            b = a + 2 * MODULE_OPS.index(name) + (16 * int(rest[0]) if rest else 0)
            max_ops = 40
        elif target == "pipe_disconnect":
            b = a + 2 * PIPE_OPS.index(name) + 20 * {"s": 0, "c": 1}[rest[0]]
            max_ops = 48
        else:
            b = a + 3 * CLOSE_OPS.index(name) + 33 * int(rest[0])
            max_ops = 32
        if not 0 <= b <= 255:
            raise ValueError(f"{w}: not one byte")
        ops.append(b)
    if len(ops) >= max_ops or config * max_ops + len(ops) > 255:
        raise ValueError(f"{words!r}: too many operations for configuration {config}")
    return bytes([config * max_ops + len(ops), *ops])


def main():
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "corpora"
    for target, seeds in (("module_unload", MODULE), ("pipe_disconnect", PIPE),
                          ("double_close", CLOSE)):
        (out / target).mkdir(parents=True, exist_ok=True)
        for name, (config, words, *schedule) in seeds.items():
            data = encode(target, config, words)
            if schedule:
                data += bytes(i % 2 for i in range(schedule[0]))
            (out / target / name).write_bytes(data)
            print(f"{out / target / name}: {data.hex(' ')}")


if __name__ == "__main__":
    main()
