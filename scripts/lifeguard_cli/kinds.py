# SPDX-License-Identifier: MIT
"""The vocabulary the manifest, the reports and the driver share.

Every word a manifest may use as an expected outcome is here, and only here.
"""

# Bug classes, one scenario program each (their names are part of the JSON contracts).
CLASSES = ("pipe-disconnect", "module-unload", "double-close", "gc-async")

# Fault kinds lifeguard's own detectors report (fdcheck, pageheap, modcheck, the scheduler,
# the functional oracles of lifeguard/oracle.h, the check API's LG_ASSERT).
LIFEGUARD_KINDS = (
    "double-close",
    "foreign-close",
    "closed-fd-use",
    "fd-leak",
    "heap-use-after-free",
    "double-free",
    "bad-free",
    "heap-buffer-overflow",
    "heap-buffer-underflow",
    "use-after-unload",
    "unload-while-running",
    "unload-with-pending-callback",
    "deadlock",
    "livelock",
    "call-after-unload",
    "misdelivered-event",
    "completion-after-close",
    "over-release",
    "reference-leak",
    "assertion",
)

# Kinds the sanitizers name on their SUMMARY line (AddressSanitizer's bug types, its deadly
# signals, and the words classify.py derives for leaks, UBSan and TSan).
SANITIZER_KINDS = (
    "heap-use-after-free",
    "heap-buffer-overflow",
    "stack-buffer-overflow",
    "stack-buffer-underflow",
    "dynamic-stack-buffer-overflow",
    "global-buffer-overflow",
    "stack-use-after-return",
    "stack-use-after-scope",
    "use-after-poison",
    "container-overflow",
    "double-free",
    "bad-free",
    "alloc-dealloc-mismatch",
    "new-delete-type-mismatch",
    "memcpy-param-overlap",
    "negative-size-param",
    "calloc-overflow",
    "allocation-size-too-big",
    "out-of-memory",
    "stack-overflow",
    "unknown-crash",
    "SEGV",
    "BUS",
    "FPE",
    "ILL",
    "leak",
    "undefined-behavior",
    "data-race",
    "thread-leak",
    "lock-order-inversion",
)

FAULT_KINDS = tuple(dict.fromkeys(LIFEGUARD_KINDS + SANITIZER_KINDS))

# Other words for a kind, which a manifest may still use: each means the kind it maps to (a
# fault has one name whichever detector reports it; the page heap once said use-after-free).
ALIASES = {"use-after-free": "heap-use-after-free"}

CLEAN = "clean"

# Words a manifest may give as `buggy` or `fixed`.
OUTCOMES = (CLEAN,) + FAULT_KINDS

VARIANTS = ("buggy", "fixed")

# Which of lifeguard's detectors reports each of its kinds (the scheduler's are `sched`). A
# clean run is evidence only when that detector was armed (tests/seeded/armed.py checks).
DETECTOR_OF = {
    **dict.fromkeys(("double-close", "foreign-close", "closed-fd-use", "fd-leak"), "fdcheck"),
    **dict.fromkeys(("heap-use-after-free", "double-free", "bad-free", "heap-buffer-overflow",
                     "heap-buffer-underflow"), "pageheap"),
    **dict.fromkeys(("use-after-unload", "unload-while-running",
                     "unload-with-pending-callback", "call-after-unload"), "modcheck"),
    **dict.fromkeys(("misdelivered-event", "completion-after-close", "over-release",
                     "reference-leak"), "oracle"),
    **dict.fromkeys(("deadlock", "livelock"), "sched"),
    "assertion": "check",  # LG_ASSERT (lifeguard/check.h)
}
