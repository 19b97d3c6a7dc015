# SPDX-License-Identifier: MIT
"""The pipe-disconnect class beyond its manifest rows: the fixed variants under exhaustive and
bounded search, the crash schedule replays to the same report, and the fault switches each
guard their own mechanism (the residual gap is not closed by the raw-token fix alone). In
both builds: the use after free is a heap-use-after-free, from ASan under asan and from the
page heap under plain (the manifest's buggy outcome)."""

import re

import pytest

from lifeguard_cli import classify
from lifeguard_cli import run as runner

PROGRAM = "pipe_disconnect"


@pytest.fixture(params=["asan", "plain"])
def config(request, selected_configs, lifeguard_manifest):
    """The build configuration: asan, then plain."""
    if request.param not in selected_configs:
        pytest.skip(f"the {request.param} preset is not selected in this session")
    return lifeguard_manifest.configs[request.param]


@pytest.fixture
def binary(config, scenario_binary):
    return scenario_binary(PROGRAM, config.name)


@pytest.fixture
def uaf(config, lifeguard_manifest):
    """The word the config's detector uses for the use after free (from the manifest)."""
    scenario = next(s for s in lifeguard_manifest.scenarios if s.name == "disconnect-race")
    return scenario.expected("buggy", config.name)


def run(binary, config, scenario, variant, *extra):
    return runner.run_scenario(binary, scenario, variant, dict(config.env), extra_args=extra)


@pytest.mark.parametrize("scenario", ["client-open-drop", "reregister-stale-token",
                                      "epoll-stale-batch"])
def test_fixed_is_clean_under_every_schedule(binary, config, scenario):
    r = run(binary, config, scenario, "fixed", "--strategy", "dfs", "--iterations", "100000")
    assert r.returncode == 0 and "every schedule explored" in r.output, r.output


def test_fixed_disconnect_race_is_clean_with_two_preemptions(binary, config):
    """Every schedule with at most two preemptions, up to 20,000 of them."""
    r = run(binary, config, "disconnect-race", "fixed", "--strategy", "dfs", "--bound", "2",
            "--iterations", "20000")
    assert r.returncode == 0 and "clean, 20000 execution(s)" in r.output, r.output


def test_fixed_disconnect_race_is_clean_free_running(binary, config):
    r = run(binary, config, "disconnect-race", "fixed", "--strategy", "free", "--iterations", "300")
    assert r.returncode == 0, r.output


def test_crash_schedule_replays_to_the_same_report(binary, config, uaf):
    first = run(binary, config, "disconnect-race", "buggy", "--strategy", "pct", "--iterations", "1000")
    assert first.kind == uaf, first.output
    schedule = re.search(r"schedule at the crash: (lgs1:\S*)", first.output)
    assert schedule, first.output
    again = run(binary, config, "disconnect-race", "buggy", "--schedule", schedule.group(1))
    assert again.kind == uaf, again.output
    records = again.records
    assert classify.top_frame(records[0], "current")["function"] == "lgrt_sched_io_set_readiness"
    assert classify.top_frame(records[0], "free")["function"] == "lgrt_driver_release_pending"


def test_each_switch_guards_its_own_mechanism(binary, config, uaf):
    # the re-registration scenario also breaks under mio 0.8.10 alone: a raw post has no
    # generation to check, so the first registration's token reaches the freed object
    raw = run(binary, config, "reregister-stale-token", "fixed", "--fault", "pipe-post-raw-token")
    assert raw.kind == uaf, raw.output
    # the presence check alone does not break client-open-drop: the packet holds a reference
    # and the pipe is no longer registered when it is consumed
    presence = run(binary, config, "client-open-drop", "fixed", "--fault", "pipe-event-presence-check")
    assert presence.kind == "clean", presence.output
    # the batch switch matters only to callback loops
    batch = run(binary, config, "client-open-drop", "fixed", "--fault", "port-stale-batch")
    assert batch.kind == "clean", batch.output


def test_presence_check_needs_a_second_registration(binary, config, uaf):
    """Why no strategy found mio 0.8.11's residual on disconnect-race: that scenario registers
    the server pipe once, so every packet carries the generation the pipe still has, and the
    presence check (the switch's line) and the generation check agree in every schedule. No
    scheduling point is missing and PCT's depth is not the limit: the same search finds it as
    soon as the pipe is registered a second time while a packet of its first registration is
    queued (handoff-race)."""
    once = run(binary, config, "disconnect-race", "fixed", "--fault", "pipe-event-presence-check",
               "--strategy", "pct", "--seed", "1", "--iterations", "1000")
    assert once.kind == "clean" and "clean, 1000 execution(s)" in once.output, once.output
    twice = run(binary, config, "handoff-race", "fixed", "--fault", "pipe-event-presence-check",
                "--strategy", "pct", "--seed", "1", "--iterations", "1000")
    assert twice.kind == uaf, twice.output
