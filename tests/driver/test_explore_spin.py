# SPDX-License-Identifier: MIT
"""explore_spin: the thread that passes the baton spins for it on a second CPU before it
sleeps. The spin decides only when a thread wakes, never what is decided: the same seed gives
the same decisions with the spin off, on, very long, and with one CPU (where it is off), and a
schedule recorded with one setting replays under the other. With explore_pin=1 and the spin on,
two threads that hand the baton back and forth really run on two different single CPUs; with
explore_spin=0 on one, with one CPU available on that one, with explore_pin=0 on the program's
CPUs (so the `apart` line is the option's doing). Every check counts; no timing is asserted.
Needs the plain tree (the preload library exists only there)."""

import os
import shutil
import subprocess

import pytest

from lifeguard_cli import explore as ex
from lifeguard_cli import paths

# Two threads take turns (a mutex and a condition variable) TURNS times; at each of its turns
# a thread reads the CPUs it may really run on (the system call, not the library's
# sched_getaffinity, which says the program's own). At the end: whether the two were on
# single CPUs, the same one or two different ones.
PINGPONG_C = r"""
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#define TURNS 40
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static int turn;
static cpu_set_t seen[2];

static void *side(void *arg) {
  int me = (int)(long)arg;
  for (int i = 0; i < TURNS; i++) {
    pthread_mutex_lock(&m);
    while (turn != me) pthread_cond_wait(&c, &m);
    CPU_ZERO(&seen[me]);
    syscall(SYS_sched_getaffinity, 0, sizeof seen[me], &seen[me]);
    turn = !me;
    pthread_cond_signal(&c);
    pthread_mutex_unlock(&m);
  }
  return NULL;
}

int main(void) {
  pthread_t t;
  pthread_create(&t, NULL, side, (void *)1L);
  side((void *)0L);
  pthread_join(t, NULL);
  if (CPU_COUNT(&seen[0]) != 1 || CPU_COUNT(&seen[1]) != 1)
    printf("unpinned %d %d\n", CPU_COUNT(&seen[0]), CPU_COUNT(&seen[1]));
  else
    printf("%s\n", CPU_EQUAL(&seen[0], &seen[1]) ? "together" : "apart");
  return 0;
}
"""

# explore_spin=100000 (100 ms): long enough that no spin of this program's runs out on a busy
# machine, so the threads stay on their two CPUs whatever the load
SETTINGS = (("off", "explore_spin=0", None),
            ("on", "explore_spin=50", None),
            ("long", "explore_spin=100000", None),
            ("one-cpu", "explore_spin=100000", "one-cpu"))


@pytest.fixture(scope="module")
def pingpong(tmp_path_factory, library):
    if not shutil.which("gcc"):
        pytest.skip("gcc is not installed")
    d = tmp_path_factory.mktemp("spin")
    (d / "pingpong.c").write_text(PINGPONG_C)
    subprocess.run(["gcc", "-O1", "-pthread", "pingpong.c", "-o", "pingpong"], cwd=d,
                   check=True, timeout=300)
    return d / "pingpong"


def one_cpu():
    """In the child before exec: this process may run on one CPU only (not taskset, which
    would load the library and take the decision log first)."""
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def run_logged(argv, library, log, options, cpus=None):
    """Runs argv under explore with `options` (cpus "one-cpu": on one CPU); (stdout,
    decisions, diverged)."""
    env = dict(os.environ, LD_PRELOAD=str(library),
               LIFEGUARD_OPTIONS=f"explore=1:explore_log={log}:{options}")
    r = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env,
                       stdin=subprocess.DEVNULL, preexec_fn=one_cpu if cpus else None)
    assert r.returncode == 0, r.stderr[-2000:]
    decisions, diverged, overflow = ex.read_decisions(log)
    assert overflow == 0
    return r.stdout, decisions, diverged


def programs(build_root, pingpong):
    bench = paths.preset_dir(build_root, "plain") / "bench"
    return {"pingpong": [str(pingpong)],
            "handoff": [str(bench / "control_bench"), "handoff", "--ops", "300", "--reps", "2"],
            "pool": [str(bench / "kernels" / "kernel_pool")]}


@pytest.mark.parametrize("strategy", ["explore_strategy=random",
                                      "explore_strategy=pct:explore_pct_k=40:explore_depth=3"],
                         ids=["random", "pct"])
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("program", ["pingpong", "handoff", "pool"])
def test_spin_does_not_change_decisions(program, seed, strategy, pingpong, build_root, library,
                                        tmp_path):
    """The same seed, the same decisions, whatever explore_spin says (and with one CPU)."""
    argv = programs(build_root, pingpong)[program]
    logs = {}
    for name, spin, cpus in SETTINGS:
        _, decisions, diverged = run_logged(argv, library, tmp_path / name,
                                            f"{strategy}:explore_seed={seed}:{spin}", cpus)
        assert diverged is None
        logs[name] = decisions
    assert len(logs["off"]) > 10  # decisions were made, at switches among them
    assert sum(1 for d in logs["off"] if d[3] != d[4]) > 0
    for name in logs:
        assert logs[name] == logs["off"], f"{name} differs from explore_spin=0"


@pytest.mark.parametrize("recorded,replayed", [("explore_spin=0", "explore_spin=100000"),
                                               ("explore_spin=100000", "explore_spin=0")])
def test_schedule_replays_across_the_setting(recorded, replayed, pingpong, build_root, library,
                                             tmp_path):
    """A schedule string found with one setting replays under the other without leaving it."""
    argv = programs(build_root, pingpong)["handoff"]
    _, decisions, _ = run_logged(argv, library, tmp_path / "first",
                                 f"explore_strategy=random:explore_seed=7:{recorded}")
    assert decisions
    schedule = tmp_path / "schedule"
    schedule.write_text(ex.schedule_string(decisions) + "\n")
    _, again, diverged = run_logged(argv, library, tmp_path / "again",
                                    f"explore_strategy=replay:explore_schedule={schedule}:"
                                    f"{replayed}")
    assert diverged is None
    assert [d[:4] for d in again] == [d[:4] for d in decisions]


@pytest.mark.parametrize("options,cpus,expected", [
    ("explore_spin=100000", None, "apart"),
    ("explore_spin=0", None, "together"),
    ("explore_pin=1", None, "together"),  # the default: no spin
    ("explore_spin=100000", "one-cpu", "together"),
    ("explore_spin=100000:explore_pin=0", None, "unpinned"),
], ids=["spin", "no-spin", "default", "one-cpu", "no-pin"])
def test_spinning_threads_run_on_two_cpus(options, cpus, expected, pingpong, library,
                                          tmp_path):
    """With the spin on, the two threads that pass the baton run on two CPUs (the one that
    passed spins on its own while the other runs); with it off (the default), or one CPU
    only, on one."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("this process may run on one CPU only")
    out, decisions, _ = run_logged([str(pingpong)], library, tmp_path / "log",
                                   f"explore_strategy=random:explore_seed=1:{options}", cpus)
    assert decisions  # under control
    assert out.split()[0] == expected


@pytest.mark.parametrize("value", ["-1", "100001", "fast"])
def test_bad_spin_value_is_refused(value, pingpong, library):
    """A bad explore_spin is one line and exit 2, before the program runs."""
    env = dict(os.environ, LD_PRELOAD=str(library),
               LIFEGUARD_OPTIONS=f"explore=1:explore_spin={value}")
    r = subprocess.run([str(pingpong)], capture_output=True, text=True, timeout=120, env=env,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 2
    assert "explore_spin" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert r.stdout == ""
