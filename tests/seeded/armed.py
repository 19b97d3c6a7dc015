"""Whether a run's detectors were armed: the other half of "the clean twin is clean".

A clean twin that produced no report proves nothing if the detector that would have reported
its fault was off. The armed probe (armed_probe.c, built in the plain tree as
tests/seeded/liblifeguard_armed_probe.so) is preloaded after the detectors and writes, at
exit, what they told it (JSON, to $LIFEGUARD_ARMED_LOG). `problem(detector, armed)` says why
that evidence is missing, or None:
  pageheap  present, active, and guarding a fresh block;
  fdcheck   present, and tracking a descriptor opened after main;
  modcheck  present, and having seen the program's dlopen (loads >= 1).
The detector of a fault is lifeguard_cli.kinds.DETECTOR_OF[kind]."""

import json
from pathlib import Path

PROBE = Path("tests") / "seeded" / "liblifeguard_armed_probe.so"
CHECKED = ("pageheap", "fdcheck", "modcheck")  # the detectors problem() can check
LOG_ENV = "LIFEGUARD_ARMED_LOG"


def probe_path(build_root):
    """The probe of the plain tree under `build_root`."""
    return Path(build_root) / "plain" / PROBE


def preload(env, build_root, log):
    """`env` with the probe appended to LD_PRELOAD (after the detectors) and its log set."""
    env = dict(env)
    probe = str(probe_path(build_root))
    env["LD_PRELOAD"] = f"{env['LD_PRELOAD']} {probe}" if env.get("LD_PRELOAD") else probe
    env[LOG_ENV] = str(log)
    return env


def read(log):
    """The probe's record, or None when the process wrote none (it did not exit normally,
    or the probe was not loaded)."""
    try:
        return json.loads(Path(log).read_text())
    except (OSError, ValueError):
        return None


def problem(detector, armed):
    """Why `armed` (the probe's record) does not show `detector` armed; None when it does."""
    if armed is None:
        return "no armed-probe record (the probe did not run at exit)"
    if detector == "pageheap":
        heap = armed["pageheap"]
        if not (heap["present"] and heap["active"] and heap["guarded"]):
            return f"the page heap was not armed: {heap}"
    elif detector == "fdcheck":
        if not (armed["fdcheck"]["present"] and armed["fdcheck"]["tracked"]):
            return f"fdcheck was not armed: {armed['fdcheck']}"
    elif detector == "modcheck":
        mod = armed["modcheck"]
        if not (mod["present"] and mod["loads"] >= 1):
            return f"modcheck saw no module load: {mod}"
    else:
        raise ValueError(f"no armed check for detector {detector!r}")
    return None
