"""Whether a run's detectors were armed: the other half of "the clean twin is clean".

A clean twin that produced no report proves nothing if the detector that would have reported
its fault was off. The armed probe (armed_probe.c, built in the plain tree as
tests/seeded/liblifeguard_armed_probe.so) is preloaded after the detectors and writes, at
exit, what they told it (one JSON line per process, appended to $LIFEGUARD_ARMED_LOG).
`problem(detector, armed)` says why that evidence is missing, or None. It needs a process in
which the detector is present (a driver in between, `lifeguard verify`'s Python, has none),
and every such process to show it armed:
  pageheap  active, and guarding a fresh block;
  fdcheck   tracking a descriptor opened after main;
  modcheck  having seen the program's dlopen (loads >= 1);
  oracle    on (the `oracles` option), and having checked something (a handle opened, a
            callback, a delivery or a reference: lg_oracle_stats).
The detector of a fault is lifeguard_cli.kinds.DETECTOR_OF[kind]."""

import json
from pathlib import Path

PROBE = Path("tests") / "seeded" / "liblifeguard_armed_probe.so"
CHECKED = ("pageheap", "fdcheck", "modcheck", "oracle")  # the detectors problem() can check (_ARMED)
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
    """The probe's records, one per process that exited normally with it loaded ([] when
    none did)."""
    try:
        lines = Path(log).read_text().splitlines()
    except OSError:
        return []
    return [json.loads(line) for line in lines if line.strip()]


_ARMED = {
    "pageheap": lambda r: r["active"] and r["guarded"],
    "fdcheck": lambda r: r["tracked"],
    "modcheck": lambda r: r["loads"] >= 1,
    "oracle": lambda r: r["enabled"] and r["checks"] >= 1,
}


def problem(detector, records):
    """Why `records` (read()'s) do not show `detector` armed; None when they do."""
    if detector not in _ARMED:
        raise ValueError(f"no armed check for detector {detector!r}")
    present = [r for r in records if r[detector]["present"]]
    if not present:
        return (f"{detector} was in no process the armed probe saw at exit "
                f"({', '.join(r['exe'] for r in records) or 'none'})")
    off = [r for r in present if not _ARMED[detector](r[detector])]
    if off:
        return f"{detector} was not armed in {off[0]['exe']}: {off[0][detector]}"
    return None
