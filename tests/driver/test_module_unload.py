# SPDX-License-Identifier: MIT
"""The module-unload class beyond its manifest rows: fixed scenarios stay clean over 100
executions under lg_sched and 100 free-running ones, every report names the module and the
function, free-running threads are reported the same way as actors, AddressSanitizer alone
names nothing, a pinned module is noted, and `--until` finds both kinds.

(`--list` against the manifest's faults: test_cli.py's test_program_list_agrees_with_the_manifest,
for every program and config, this one included.)
"""

import re

import pytest

from lifeguard_cli import run as runner

PROGRAM = "module_unload"
SCENARIOS = ["rapid-cycle", "shutdown-background", "pending-timer", "key-destructor",
             "pinned-module", "destructor-join"]
HEX = r"0x[0-9a-f]+"

# What modcheck's census says at the unload (configs asan and plain): the kind, and the
# headline's account of what is still in the module, ending with `libdrv.so+0xOFF (function)`.
CENSUS = {
    "rapid-cycle": ("unload-while-running",
                    rf"actor \d+ 'drv-worker' is suspended inside it, in libdrv\.so\+{HEX} "
                    r"\(lgrt_port_get_many\)"),
    "shutdown-background": ("unload-while-running",
                            rf"actor \d+ 'drv-monitor' is suspended inside it, in "
                            rf"libdrv\.so\+{HEX} \(monitor_main\)"),
    "pending-timer": ("unload-with-pending-callback",
                      rf"a timer of the host still calls into it, libdrv\.so\+{HEX} \(heartbeat\)"),
    "key-destructor": ("unload-with-pending-callback",
                       rf"pthread key \d+ has its destructor there, libdrv\.so\+{HEX} "
                       r"\(cache_free\): a thread that holds a value calls it when it exits"),
    "pinned-module": ("unload-while-running",
                      rf"actor \d+ 'drv-worker' is suspended inside it, in libdrv\.so\+{HEX} "
                      r"\(lgrt_port_get_many\)"),
}

# With the census off (config late-call) the first late call into the unmapped range is the
# report: the function it called.
LATE_CALL = {"rapid-cycle": "run_task", "shutdown-background": "monitor_main",
             "pending-timer": "heartbeat", "key-destructor": "cache_free",
             "pinned-module": "run_task"}

NODELETE_NOTE = ("lifeguard: modcheck: note: the last dlclose of libdrv.so left it mapped: "
                 "it was opened with RTLD_NODELETE (pinned)")


def _config(name, selected_configs, lifeguard_manifest):
    if name not in selected_configs:
        pytest.skip(f"config {name} not selected")
    return lifeguard_manifest.configs[name]


@pytest.fixture(params=["asan", "plain"])
def config(request, selected_configs, lifeguard_manifest):
    """The configs where modcheck's census reports at the unload."""
    return _config(request.param, selected_configs, lifeguard_manifest)


@pytest.fixture
def binary(config, scenario_binary):
    return scenario_binary(PROGRAM, config.name)


def run(binary, env, scenario, variant, *extra, options=None):
    env = dict(env)
    if options is not None:
        env["LIFEGUARD_OPTIONS"] = options
    return runner.run_scenario(binary, scenario, variant, env, extra_args=extra)


def headline(output):
    """The first `==PID==ERROR: lifeguard: ...` line, without the PID prefix."""
    found = re.search(r"^==\d+==ERROR: (lifeguard: .*)$", output, re.MULTILINE)
    assert found, output
    return found.group(1)


def ttd_fields(output):
    found = re.search(r"^ttd: (.*)$", output, re.MULTILINE)
    assert found, f"no ttd line:\n{output}"
    return dict(f.split("=", 1) for f in found.group(1).split() if "=" in f)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_fixed_is_clean_for_100_executions(binary, config, scenario):
    r = run(binary, config.env, scenario, "fixed", "--iterations", "100")
    assert r.returncode == 0 and not r.records, r.output
    assert f"{scenario} (fixed): clean, 100 execution(s), strategy random" in r.output, r.output


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_fixed_is_clean_for_100_free_running_executions(binary, config, scenario):
    """The same host loop on threads the OS schedules (about 3.5 s each)."""
    r = run(binary, config.env, scenario, "fixed", "--strategy", "free", "--iterations", "100")
    assert r.returncode == 0 and not r.records, r.output
    assert f"{scenario} (fixed): clean, 100 execution(s), strategy free" in r.output, r.output


@pytest.mark.parametrize("scenario", sorted(CENSUS))
def test_buggy_report_names_the_module_and_the_function(binary, config, scenario):
    kind, what = CENSUS[scenario]
    r = run(binary, config.env, scenario, "buggy")
    assert r.kind == kind, r.output
    line = headline(r.output)
    assert re.match(rf"lifeguard: {kind} of libdrv\.so: {what} \(thread \d+\)$", line), line
    assert [rec["kind"] for rec in r.records][:1] == [kind], r.output
    function = re.search(r"\((\w+)\)", line[line.index("libdrv.so+"):]).group(1)
    assert re.search(rf"^SUMMARY: lifeguard: {kind} \S+ in {function}$", r.output,
                     re.MULTILINE), r.output


@pytest.mark.parametrize("scenario", sorted(LATE_CALL))
def test_late_call_is_use_after_unload_naming_the_module_and_the_function(
        scenario, selected_configs, lifeguard_manifest, scenario_binary):
    late = _config("late-call", selected_configs, lifeguard_manifest)
    r = run(scenario_binary(PROGRAM, late.name), late.env, scenario, "buggy")
    assert r.kind == "use-after-unload", r.output
    line = headline(r.output)
    found = re.match(rf"lifeguard: use-after-unload at pc ({HEX}): a call into "
                     rf"libdrv\.so\+({HEX}) \((\w+)\), which thread \d+ unloaded \(thread \d+\)$",
                     line)
    assert found, line
    pc, offset, function = found.groups()
    assert function == LATE_CALL[scenario], line
    # the module was mapped at a page boundary: the pc and its offset share the page offset
    assert int(pc, 16) & 0xfff == int(offset, 16) & 0xfff, line


def test_free_running_rapid_cycle_is_reported_at_the_unload(binary, config):
    """Threads the OS schedules, 5 processes: the census stops the other threads and names
    one that is still inside the module; it is never the late call or a crash."""
    for _ in range(5):
        r = run(binary, config.env, "rapid-cycle", "buggy", "--strategy", "free")
        assert r.kind == "unload-while-running", r.output
        line = headline(r.output)
        found = re.match(rf"lifeguard: unload-while-running of libdrv\.so: thread (\d+) is "
                         rf"inside it, in libdrv\.so\+{HEX} \(([\w.]+)\) \(thread (\d+)\)$", line)
        assert found, line
        inside, _, unloader = found.groups()
        assert inside != unloader, line


def test_asan_alone_is_a_segv_in_an_unknown_module(selected_configs, lifeguard_manifest,
                                                    scenario_binary):
    """What modcheck adds: with it off, AddressSanitizer sees a jump into unmapped memory and
    can name neither the module nor the function."""
    alone = _config("asan-alone", selected_configs, lifeguard_manifest)
    r = run(scenario_binary(PROGRAM, alone.name), alone.env, "rapid-cycle", "buggy")
    assert r.kind == "SEGV", r.output
    assert re.search(r"^==\d+==ERROR: AddressSanitizer: SEGV on unknown address", r.output,
                     re.MULTILINE), r.output
    # About one run in 200 (more on a loaded machine) ASan faults again inside its own report
    # while unwinding from the unmapped pc and stops at "nested bug" before printing a frame.
    # That is still what ASan alone gives a user: no module, no function.
    if "AddressSanitizer: nested bug in the same thread" not in r.output:
        assert re.search(r"^\s+#0 0x[0-9a-f]+\s+\(<unknown module>\)$", r.output,
                         re.MULTILINE), r.output
        assert "SUMMARY: AddressSanitizer: SEGV (<unknown module>)" in r.output, r.output
    assert "SUMMARY: lifeguard:" not in r.output and "libdrv.so" not in r.output, r.output


def test_pinned_module_fixed_is_noted_not_reported(binary, config):
    r = run(binary, config.env, "pinned-module", "fixed")
    assert r.returncode == 0 and r.kind == "clean", r.output
    assert NODELETE_NOTE in r.output, r.output
    # the other fix (the runtime shut down and joined) unmaps the module: no note
    other = run(binary, config.env, "rapid-cycle", "fixed")
    assert other.kind == "clean" and "note:" not in other.output, other.output


def test_until_unload_while_running_and_its_schedule_replays(binary, config):
    r = run(binary, config.env, "rapid-cycle", "buggy", "--iterations", "1000000",
            "--until", "unload-while-running", "--budget", "5")
    fields = ttd_fields(r.output)
    assert fields["kind"] == "unload-while-running" and fields["found"] == "1", r.output
    assert int(fields["executions"]) >= 1 and fields["schedule"].startswith("lgs1:"), r.output
    again = run(binary, config.env, "rapid-cycle", "buggy", "--schedule", fields["schedule"])
    assert again.kind == "unload-while-running", again.output


def test_until_use_after_unload_with_the_census_off(binary, config):
    """The late call is fatal: the ttd line comes from the report hook before the abort."""
    r = run(binary, config.env, "rapid-cycle", "buggy", "--iterations", "1000000",
            "--until", "use-after-unload", "--budget", "5",
            options="modcheck_census=0:symbolize=0")
    fields = ttd_fields(r.output)
    assert fields["kind"] == "use-after-unload" and fields["found"] == "1", r.output
    assert r.kind == "use-after-unload" and r.returncode != 0, r.output
