#!/usr/bin/env python3
"""Writes the seed inputs of fuzz/gc_async.c into corpora/gc_async/ from the scripts below.

Each seed is a script of the VM's JavaScript thread in words, one operation per word group
(fuzz/gc_async.c's table), then optional schedule bytes; a script may start with
"config N;" (the VM's configuration, fuzz/gc_async.c: 1 GC stress, 2 the GC timer, 3 both):
  new vX [TEXT]          TEXT: 0 (35 bytes), 1 (1 byte), 2 (empty), 3 (180 bytes)
  array vX [vY]          vX = [vY] ([] without vY)
  push vX vY | pop vX | length vX N | get vX vY (vY = vX[0])
  global-set vX gY | global-get vX gY
  call KIND vX           KIND: owned, borrowed, vec, method
  open | close | gc | turn | run | yield | wait N
  ref-delete rX | ref-weak rX (to vX) | ref-strong rX | ref-get vX (from rX)
Run from anywhere: python3 fuzz/gc_async_seeds.py [OUTDIR]"""

import sys
from pathlib import Path

OPS = ["new", "array", "push", "pop", "length", "get", "global-set", "global-get", "call",
       "open", "close", "gc", "turn", "run", "wait", "ref"]
CALL_KINDS = {"owned": 0, "borrowed": 1, "vec": 2, "method": 3}
REF_KINDS = {"ref-delete": 0, "ref-weak": 1, "ref-strong": 2, "ref-get": 3}

SEEDS = {
    # an empty script: the VM opens and closes
    "nothing": "",
    # napi-rs#2571, the seed: let z = getS(); example([z]); the scope closes; global.gc()
    "vec-borrow": "new v0; array v1 v0; call vec v1; close; gc; run",
    # the same with the collection left to the schedule: the loop turn collects (the fifth
    # decision; the first four are scheduling points, where 00 keeps the order)
    "vec-borrow-turn": "new v0; array v1 v0; call vec v1; close; turn / 00 00 00 00 01",
    # napi-rs#1338: getS().run(); the object is unreachable once the promise is returned
    "this-collected": "new v0; call method v0; close; gc; run",
    # napi-rs#1575: example_one(getS()), pinned (or not) by a reference of count 0
    "weak-ref": "new v0; call borrowed v0; close; gc; run",
    # PR #2589's residual: const arr = [z]; example(arr); arr.pop(); global.gc()
    "element-removed": "new v0; array v1 v0; global-set v1 g0; call vec v1; pop v1; close; gc; run",
    # arr.length = 0 instead of pop, on a two-element array
    "length-zero": "new v0; new v1 1; array v2 v0; push v2 v1; global-set v2 g1; call vec v2; "
                   "length v2 0; close; gc; run",
    # PR #2499: a second call of example_one(z) from a timer as long as the first body; the
    # first call's release (worker) and the second's pin (main) meet at the same virtual time;
    # the schedule bytes interleave them so that the release's write lands last
    "release-off-main": "new v0; global-set v0 g0; call borrowed v0; close; wait 2; "
                        "global-get v0 g0; call borrowed v0; global-set v3 g0; close; gc; run "
                        "/ 00 03 03 00 03 00 00 01 00 01",
    # owned arguments are copied: nothing to pin, clean under every switch
    "owned": "new v0 3; call owned v0; close; gc; run",
    # persistent references: a weak one cleared by the collector, a strong one that keeps
    "refs": "new v0; ref-weak r0; new v1 1; ref-strong r1; close; gc; ref-get v0; ref-get v1; "
            "call borrowed v1; ref-delete r1; close; gc; run",
    # nested scopes: the inner one closes while the call is pending; the outer one still roots
    # the element until the body has read it (at 2 us), and closes after
    "nested-scopes": "new v0; open; array v1 v0; call vec v1; close; gc; wait 3; turn; close; "
                     "gc; run",
    # a live array of two wrappers kept in a global across collections: the collector marks
    # through its elements
    "marked-elements": "new v0; new v1 3; array v2 v0; push v2 v1; global-set v2 g0; close; gc; "
                       "global-get v3 g0; call vec v3; gc; run; gc",
    # GC stress: every allocation and turn collects; every argument kind in flight at once
    "stress-all-kinds": "config 1; new v0; new v1 1; array v2 v0; push v2 v1; call owned v0; "
                        "call borrowed v1; call vec v2; call method v0; turn; close; wait 2; "
                        "turn; run",
    # the GC timer: RUN waits for it while the body awaits, a weak and a strong reference
    "timer-refs": "config 2; new v0; ref-weak r0; new v1 2; ref-strong r1; call borrowed v1; "
                  "close; wait 3; turn; run; ref-get v2; ref-delete r1; run",
    # both: stress and the timer, nested scopes and a popped element
    "stress-timer-scopes": "config 3; new v0; open; array v1 v0; global-set v1 g1; call vec v1; "
                           "pop v1; close; wait 3; gc; run",
}


def encode_op(words):
    name, *args = words
    def var(a, prefix):
        if not (len(a) == 2 and a[0] == prefix and a[1] in "0123"):
            raise ValueError(f"{' '.join(words)}: {a!r} is not {prefix}0..{prefix}3")
        return int(a[1])
    x = y = 0
    if name == "call":
        op, y, x = "call", CALL_KINDS[args[0]], var(args[1], "v")
    elif name in REF_KINDS:
        op, y = "ref", REF_KINDS[name]
        x = var(args[0], "r") if name != "ref-get" else var(args[0], "v")
    elif name == "yield":
        op = "wait"
    elif name == "wait":
        op, y = "wait", int(args[0])
    elif name == "new":
        op, x, y = "new", var(args[0], "v"), int(args[1]) if len(args) > 1 else 0
    elif name == "array":
        op, x = "array", var(args[0], "v")
        y = var(args[1], "v") if len(args) > 1 else (x + 1) % 4  # an unset variable: []
    elif name in ("push", "get"):
        op, x, y = name, var(args[0], "v"), var(args[1], "v")
    elif name == "length":
        op, x, y = "length", var(args[0], "v"), int(args[1])
    elif name in ("global-set", "global-get"):
        op, x, y = name, var(args[0], "v"), var(args[1], "g")
    else:
        op = name
        if args:
            x = var(args[0], "v")
    if not (0 <= y <= 3):
        raise ValueError(f"{' '.join(words)}: operand out of range")
    return OPS.index(op) + 16 * x + 64 * y


MAX_OPS = 48  # fuzz/gc_async.c: byte 0 = the count of operations + 48 * the configuration


def encode(script):
    ops_part, _, schedule = script.partition("/")
    words = [s.split() for s in ops_part.split(";") if s.strip()]
    config = 0
    if words and words[0][0] == "config":
        config = int(words.pop(0)[1])
    ops = [encode_op(w) for w in words]
    if not (0 <= config <= 3 and len(ops) < MAX_OPS):
        raise ValueError(f"{script!r}: config 0..3 and fewer than {MAX_OPS} operations")
    return bytes([len(ops) + MAX_OPS * config, *ops, *bytes.fromhex(schedule)])


def main():
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else \
        Path(__file__).resolve().parent.parent / "corpora" / "gc_async"
    out.mkdir(parents=True, exist_ok=True)
    for name, script in SEEDS.items():
        (out / name).write_bytes(encode(script))
        print(f"{out / name}: {encode(script).hex(' ')}")


if __name__ == "__main__":
    main()
