# SPDX-License-Identifier: MIT
"""`lifeguard explore`: controlled schedules of unmodified pthread programs.

Both ways, on the bug kernels of bench/kernels/ (each built with its bug and as a clean twin):
explore finds every kernel's bug, with the right kind, within a bounded number of runs, under
random and pct; the clean twins stay clean over a bounded number of runs while decisions were
being made (so the silence is not control being off); a found schedule replays to the same
failure and the same schedule string. Real programs give the same output under control as
free. Every run is bounded by a subprocess timeout. Needs the plain tree (the preload library
exists only there).
"""

import json
import os
import shlex
import shutil
import struct
import subprocess
import sys

import pytest

from conftest import REPO_ROOT

from lifeguard_cli import paths

# kernel -> the kinds its bug may be reported as
KERNELS = {
    "atomicity": {"abort"},
    "order": {"abort"},
    "racing_free": {"heap-use-after-free"},
    "lock_order": {"deadlock"},
    "missed_wakeup": {"deadlock"},
    "refcount": {"heap-use-after-free", "double-free"},
}
STRATEGIES = (("--strategy", "random"), ("--strategy", "pct", "--depth", "2"),
              ("--strategy", "dfs", "--depth", "2"))
FIND_RUNS = 300    # every kernel is found well within this (measured: 2..18 runs, seed 1;
                   # dfs: 4..12 runs)
CLEAN_RUNS = 30
REPLAYS = 5        # per kernel in the gate; 100 under -m slow


@pytest.fixture(scope="module")
def kernels(build_root, library):
    d = paths.preset_dir(build_root, "plain") / "bench" / "kernels"
    missing = [n for k in KERNELS for n in (f"kernel_{k}", f"kernel_{k}_clean")
               if not (d / n).is_file()] + \
              [n for n in ["kernel_pool", "kernel_pipe", "kernel_barrier", "kernel_spin_handoff",
                           "kernel_talk", "kernel_process"]
               if not (d / n).is_file()]
    if missing:
        pytest.fail(f"{d}: {', '.join(missing)} not built: cmake --build --preset plain",
                    pytrace=False)
    return d


@pytest.fixture(scope="module")
def explore(repo_root, build_root, library):
    """explore(*args) -> (CompletedProcess, the --json object or None)."""
    counter = [0]

    def run(*args, tmp, timeout=600, options=None):
        counter[0] += 1
        out = tmp / f"explore{counter[0]}.json"
        argv = [sys.executable, str(repo_root / "scripts" / "lifeguard"), "explore",
                "--no-build", "--build-dir", str(build_root), "--json", str(out), *args]
        env = dict(os.environ, LIFEGUARD_OPTIONS=options) if options else None
        r = subprocess.run(argv, timeout=timeout, text=True, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        return r, (json.loads(out.read_text()) if out.is_file() else None)

    return run


@pytest.mark.parametrize("strategy", STRATEGIES, ids=lambda s: s[1])
@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_bug_is_found(kernel, strategy, kernels, explore, tmp_path):
    r, result = explore(*strategy, "--runs", str(FIND_RUNS), "--seed", "1", "--",
                        str(kernels / f"kernel_{kernel}"), tmp=tmp_path)
    assert r.returncode == 1, r.stderr[-2000:]
    assert result["found"] is True
    assert result["kind"] in KERNELS[kernel], r.stderr[-2000:]
    assert 1 <= result["runs_to_first"] == result["runs"] <= FIND_RUNS
    assert result["strategy"] == strategy[1]
    assert result["schedule"].startswith("lgs1:s")
    assert result["seconds_to_first"] >= 0
    assert shlex.split(result["replay"]) == ["scripts/lifeguard", "explore", "--schedule",
                                             result["schedule"], "--",
                                             str(kernels / f"kernel_{kernel}")]
    assert f"schedule: {result['schedule']}" in r.stdout
    if result["kind"] in ("deadlock", "heap-use-after-free", "double-free"):
        # lifeguard's own report, with the schedule string in it
        assert f"SUMMARY: lifeguard: {result['kind']}" in r.stderr
        assert f"schedule: {result['schedule']}" in r.stderr


@pytest.mark.parametrize("strategy", STRATEGIES[:2], ids=lambda s: s[1])
@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_clean_twin_stays_clean(kernel, strategy, kernels, explore, tmp_path):
    r, result = explore(*strategy, "--runs", str(CLEAN_RUNS), "--seed", "1", "--",
                        str(kernels / f"kernel_{kernel}_clean"), tmp=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert result["found"] is False and result["kind"] is None and result["schedule"] is None
    assert result["runs"] == CLEAN_RUNS
    # decisions were made in the runs: control was on, the silence is the program's
    assert result["decisions"] >= CLEAN_RUNS, result


# dfs: clean twins explored to exhaustion at bound 1 and 2 (measured: 3..29 and 7..215 runs)
@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_dfs_exhausts_clean_twin(kernel, kernels, explore, tmp_path):
    counts = []
    for depth in ("1", "2"):
        r, result = explore("--strategy", "dfs", "--depth", depth, "--runs", "1000", "--",
                            str(kernels / f"kernel_{kernel}_clean"), tmp=tmp_path)
        assert r.returncode == 0, r.stderr[-2000:]
        assert result["found"] is False and result["exhausted"] is True
        # each run took a schedule of its own: the runs are the distinct schedules
        assert 1 < result["runs"] == result["schedules"] < 1000
        assert result["bound"] == int(depth)
        assert f"explored ({result['runs']})" in r.stderr.strip().splitlines()[-1]
        counts.append(result["runs"])
    assert counts[0] < counts[1]  # a higher bound has more schedules


def test_dfs_stopped_by_runs_is_not_exhaustive(kernels, explore, tmp_path):
    r, result = explore("--strategy", "dfs", "--depth", "2", "--runs", "5", "--",
                        str(kernels / "kernel_lock_order_clean"), tmp=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert result["runs"] == 5 and result["exhausted"] is False
    assert "not exhaustive" in r.stderr


def replays(kernel, kernels, explore, tmp_path, times, strategy=("--strategy", "random")):
    r, found = explore(*strategy, "--runs", str(FIND_RUNS), "--seed", "7", "--",
                       str(kernels / f"kernel_{kernel}"), tmp=tmp_path)
    assert r.returncode == 1 and found["found"], r.stderr[-2000:]
    for _ in range(times):
        r, again = explore("--schedule", found["schedule"], "--",
                           str(kernels / f"kernel_{kernel}"), tmp=tmp_path,
                           options="symbolize=0")  # (the stacks are not compared)
        assert r.returncode == 1, r.stderr[-2000:]
        assert again["strategy"] == "replay" and again["runs"] == 1
        assert again["kind"] == found["kind"]
        assert again["schedule"] == found["schedule"]
        assert again["diverged"] is None


def symbolizer_present():
    return any(shutil.which(n) for n in ("llvm-symbolizer", "llvm-symbolizer-14",
                                         "llvm-symbolizer-15", "llvm-symbolizer-16"))


def test_report_is_printed_from_a_symbolized_replay(kernels, explore, tmp_path):
    """The search runs unsymbolized; the report shown comes from the found schedule run again
    with symbolization on, so its frames name the kernel's source lines."""
    if not symbolizer_present():
        pytest.skip("no llvm-symbolizer in PATH: reports are not symbolized on this machine")
    r, result = explore("--runs", str(FIND_RUNS), "--seed", "1", "--",
                        str(kernels / "kernel_racing_free"), tmp=tmp_path)
    assert r.returncode == 1, r.stderr[-2000:]
    assert result["kind"] == "heap-use-after-free"
    assert result["report_from"] == "replay"
    assert result["seconds_to_report"] >= result["seconds_to_first"] >= 0
    assert "racing_free.c:" in r.stderr  # a frame with its source line: symbolized
    assert f"schedule: {result['schedule']}" in r.stderr  # the replay took the same schedule
    assert "SUMMARY: lifeguard: heap-use-after-free" in r.stderr


def test_report_without_symbolization_is_the_search_runs(kernels, explore, tmp_path):
    """With symbolize=0 from the caller there is no replay: the search run's report, with
    no source lines."""
    r, result = explore("--runs", str(FIND_RUNS), "--seed", "1", "--",
                        str(kernels / "kernel_racing_free"), tmp=tmp_path,
                        options="symbolize=0")
    assert r.returncode == 1, r.stderr[-2000:]
    assert result["kind"] == "heap-use-after-free" and result["report_from"] == "run"
    assert "SUMMARY: lifeguard: heap-use-after-free" in r.stderr
    assert "racing_free.c:" not in r.stderr


def test_failure_without_a_report_is_not_replayed(kernels, explore, tmp_path):
    r, result = explore("--runs", str(FIND_RUNS), "--seed", "1", "--",
                        str(kernels / "kernel_atomicity"), tmp=tmp_path)
    assert r.returncode == 1, r.stderr[-2000:]
    assert result["kind"] == "abort" and result["report_from"] == "run"


@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_found_schedule_replays(kernel, kernels, explore, tmp_path):
    replays(kernel, kernels, explore, tmp_path, REPLAYS)


@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_dfs_found_schedule_replays(kernel, kernels, explore, tmp_path):
    replays(kernel, kernels, explore, tmp_path, REPLAYS, ("--strategy", "dfs"))


@pytest.mark.slow
@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_found_schedule_replays_100_times(kernel, kernels, explore, tmp_path):
    replays(kernel, kernels, explore, tmp_path, 100)


def test_replay_of_a_clean_schedule_is_clean(kernels, explore, tmp_path):
    """The other way: the schedule that runs the deadlock kernel's threads one after the
    other (no preemption: every decision keeps the running thread) finds nothing."""
    r, result = explore("--schedule", "lgs1:", "--", str(kernels / "kernel_lock_order"),
                        tmp=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert result["found"] is False and result["strategy"] == "replay"



@pytest.mark.parametrize("strategy", STRATEGIES, ids=lambda s: s[1])
def test_spinning_threads_are_preempted(strategy, kernels, explore, tmp_path):
    """Threads that wait by spinning on plain and atomic flags reach no scheduling point: the
    watchdog takes the baton from a spinner so the thread it waits for runs, and the clean
    program stays clean with its output."""
    r, result = explore(*strategy, "--runs", "10", "--seed", "1", "--timeout", "60", "--",
                        str(kernels / "kernel_spin_handoff"), tmp=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert result["found"] is False and result["runs"] == 10, result
    assert result["decisions"] >= 10, result


def test_without_the_watchdog_a_spinner_holds_the_baton(kernels, explore, tmp_path):
    """The other way: with the watchdog off (explore_preempt_ms=0) the first spin never
    gives the baton up, and the run ends at the driver's timeout."""
    r, result = explore("--runs", "1", "--seed", "1", "--timeout", "3", "--",
                        str(kernels / "kernel_spin_handoff"), tmp=tmp_path,
                        options="explore_preempt_ms=0")
    assert r.returncode == 1, r.stderr[-2000:]
    assert result["found"] is True and result["kind"] == "timeout", result

@pytest.mark.parametrize("args, words", [
    ((), "no program to run"),
    (("--runs", "0", "--", "true"), "--runs"),
    (("--schedule", "xyz", "--", "true"), "not a schedule string"),
    (("--", "/nonexistent/prog"), "no such file"),
])
def test_usage_errors_exit_2(args, words, explore, tmp_path):
    r, result = explore(*args, tmp=tmp_path)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lifeguard: error:") and words in lines[0]
    assert result is None


@pytest.mark.parametrize("strategy", STRATEGIES, ids=lambda s: s[1])
def test_no_decision_says_no_ordering_was_explored(strategy, kernels, explore, tmp_path):
    """A program that never has two threads ready at once makes no scheduling decision: no
    run failed (exit 0, as the contract has it), but explore says that no ordering was
    explored, and the JSON's `explored` is false; a clean twin is the other way (decisions
    made, `explored` true, no such line)."""
    r, result = explore(*strategy, "--runs", "3", "--", "true", tmp=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "no ordering was explored" in r.stderr
    assert result["found"] is False and result["decisions"] == 0
    assert result["explored"] is False
    r, result = explore(*strategy, "--runs", "3", "--", str(kernels / "kernel_order_clean"),
                        tmp=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "no ordering was explored" not in r.stderr
    assert result["explored"] is True and result["decisions"] > 0


@pytest.mark.parametrize("strategy", STRATEGIES, ids=lambda s: s[1])
def test_blocking_descriptor_calls_are_controlled(strategy, kernels, explore, tmp_path):
    """Two threads that talk through blocking read/write, recv/send, accept/connect, a write
    larger than a pipe holds and a raw futex run to completion under every strategy: a thread
    that would wait there blocks under control until its descriptor is ready (with the baton
    kept in the kernel, each run would end as a timeout)."""
    r, result = explore(*strategy, "--runs", "10", "--seed", "2", "--timeout", "60", "--",
                        str(kernels / "kernel_talk"), tmp=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert result["found"] is False and result["decisions"] > 0
    assert result["runs"] == 10 or result["exhausted"] is True


@pytest.mark.parametrize("strategy", STRATEGIES, ids=lambda s: s[1])
def test_signal_fork_constructor_thread(strategy, kernels, explore, tmp_path):
    """kernel_process: a thread a constructor started is an actor; a handler that runs in a
    thread parked in sem_wait posts the semaphore it waits on (the post passes through and the
    blocked threads retry: without that, dfs finds a deadlock in the 4th run); a forked child
    runs its threads free while the parent waits in waitpid (outside control)."""
    r, result = explore(*strategy, "--runs", "10", "--seed", "3", "--timeout", "60", "--",
                        str(kernels / "kernel_process"), tmp=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert result["found"] is False and result["decisions"] > 0
    assert result["runs"] == 10 or result["exhausted"] is True


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_descriptor_waits_replay(seed, kernels, library, tmp_path):
    """Readiness is probed at scheduling points (not left to the kernel's timing), so a run
    with descriptor waits replays to the same decisions without leaving its schedule."""
    from lifeguard_cli import explore as ex

    def run(log, extra):
        env = dict(os.environ, LD_PRELOAD=str(library),
                   LIFEGUARD_OPTIONS=f"explore=1:explore_log={log}:{extra}")
        r = subprocess.run([str(kernels / "kernel_talk")], capture_output=True, timeout=120,
                           env=env)
        assert r.returncode == 0, r.stderr[-2000:]
        return ex.read_decisions(log)

    decisions, _, _ = run(tmp_path / "first", f"explore_strategy=pct:explore_seed={seed}:"
                                               "explore_pct_k=8:explore_depth=3")
    assert decisions
    schedule = tmp_path / "schedule"
    schedule.write_text(ex.schedule_string(decisions) + "\n")
    again, diverged, _ = run(tmp_path / "again",
                             f"explore_strategy=replay:explore_schedule={schedule}")
    assert diverged is None
    assert [d[:4] for d in again] == [d[:4] for d in decisions]


def test_bad_schedule_is_refused_by_the_harness(kernels, explore, tmp_path):
    r, _ = explore("--schedule", "lgs1:s1/1=0", "--", str(kernels / "kernel_order"),
                   tmp=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "lifeguard: error: explore: bad schedule string at byte 8: n must be at least 2"]


# ---- real programs: the same output under control --------------------------------------

def decisions_in(log):
    with open(log, "rb") as f:
        head = f.read(16)
    assert head[:8] == b"LGXLOG2\0"
    return struct.unpack("<Q", head[8:16])[0]


THREADED_PY = ("import threading, queue\n"
               "q = queue.Queue()\n"
               "ts = [threading.Thread(target=lambda i=i: q.put(i * i)) for i in range(4)]\n"
               "[t.start() for t in ts]\n[t.join() for t in ts]\n"
               "print(sorted(q.get() for _ in ts))\n")


# timers, a promise and a file read through libuv's thread pool
NODE_JS = ("const fs = require('fs');"
           "Promise.resolve().then(() => console.log('micro'));"
           "fs.promises.readFile('/proc/self/stat').then(b => {"
           " console.log('read', b.length > 0);"
           " setTimeout(() => console.log('timer'), 5); });")


# libstdc++'s condition_variable: wait_for and wait_until go through pthread_cond_clockwait
CXX_CONDVAR = r"""
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>
int main() {
  std::mutex m;
  std::condition_variable cv;
  int stage = 0;
  std::thread t([&] {
    for (int i = 0; i < 20; i++) {
      std::unique_lock<std::mutex> l(m);
      while (stage % 2 == 0) cv.wait_for(l, std::chrono::seconds(30));
      stage++;
      cv.notify_all();
    }
  });
  for (int i = 0; i < 20; i++) {
    std::unique_lock<std::mutex> l(m);
    stage++;
    cv.notify_all();
    while (stage % 2 == 1)
      cv.wait_until(l, std::chrono::steady_clock::now() + std::chrono::seconds(30));
  }
  t.join();
  std::printf("stage %d\n", stage);
}
"""


# multiprocessing's Pool and Queue: their locks are process-shared semaphores (sem_open) that
# the worker processes post
MULTIPROCESSING_PY = ("import multiprocessing as mp\n"
                      "def square(x):\n    return x * x\n"
                      "if __name__ == '__main__':\n"
                      "    with mp.Pool(2) as p:\n        print(p.map(square, range(8)))\n"
                      "    q = mp.Queue()\n"
                      "    w = mp.Process(target=q.put, args=(5,))\n"
                      "    w.start()\n    print(q.get(timeout=60))\n    w.join()\n")


# Process-shared semaphores, one made by sem_init in shared memory and one by sem_open, each
# posted by a forked child once a thread of the parent waits on it in the kernel (sem_wait,
# sem_timedwait): glibc counts those waiters in the high half of the semaphore's first 64-bit
# word. A parent that waits anywhere else (blocked under control, a false deadlock) does not
# get its post; the child posts anyway once the parent has gone.
SHARED_SEM_C = r"""
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
static int rounds(sem_t *s, int timed) {
  int got = 0;
  pid_t parent = getpid();
  for (int i = 0; i < 20; i++) {
    pid_t child = fork();
    if (child == 0) {
      while (__atomic_load_n((unsigned long long *)s, __ATOMIC_ACQUIRE) >> 32 == 0 &&
             getppid() == parent)
        sched_yield();
      sem_post(s);
      _exit(0);
    }
    struct timespec at;
    clock_gettime(CLOCK_REALTIME, &at);
    at.tv_sec += 60;
    got += (timed && i % 2 ? sem_timedwait(s, &at) : sem_wait(s)) == 0;
    waitpid(child, NULL, 0);
  }
  return got;
}
static void *other(void *s) { return (void *)(long)rounds(s, 1); }
int main(void) {
  sem_t *anon = mmap(NULL, sizeof *anon, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                     -1, 0);
  sem_init(anon, 1, 0);
  char name[64];
  snprintf(name, sizeof name, "/lifeguard-test-%d", (int)getpid());
  sem_t *named = sem_open(name, O_CREAT | O_EXCL, 0600, 0);
  sem_unlink(name);
  pthread_t t;
  pthread_create(&t, NULL, other, named);
  int mine = rounds(anon, 0);
  void *theirs;
  pthread_join(t, &theirs);
  printf("posted %d and %ld\n", mine, (long)theirs);
  return 0;
}
"""


# A process-shared mutex in shared memory, held by a forked child until the parent waits for it
# in the kernel (glibc's lock word is 2 once a waiter sleeps on it)
SHARED_MUTEX_C = r"""
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
  pthread_mutex_t *m = mmap(NULL, sizeof *m, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  pthread_mutexattr_t a;
  pthread_mutexattr_init(&a);
  pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
  pthread_mutex_init(m, &a);
  pid_t parent = getpid();
  int got = 0;
  for (int i = 0; i < 10; i++) {
    int p[2];
    pipe(p);
    pid_t child = fork();
    if (child == 0) {
      pthread_mutex_lock(m);
      write(p[1], "x", 1);
      while (__atomic_load_n(&m->__data.__lock, __ATOMIC_ACQUIRE) != 2 && getppid() == parent)
        sched_yield();
      pthread_mutex_unlock(m);
      _exit(0);
    }
    char c;
    read(p[0], &c, 1);
    got += pthread_mutex_lock(m) == 0;
    pthread_mutex_unlock(m);
    waitpid(child, NULL, 0);
    close(p[0]);
    close(p[1]);
  }
  printf("locked %d\n", got);
  return 0;
}
"""


def real_program(name, kernels, tmp):
    """(command, threaded) of the real program `name`, or None when it is not installed."""
    data = tmp / "lines.txt"
    data.write_text("".join(f"{(i * 7919) % 1000}\n" for i in range(2000)))
    # more than a pipe holds: a write of it into the pipe of stdout is made in pieces
    big = tmp / "big.txt"
    big.write_text("".join(f"{(i * 7919) % 100003} {i}\n" for i in range(40000)))
    progs = {"python": (["/usr/bin/python3", "-c", "print(1)"], False),
             "cat": (["cat", str(big)], False),
             # liblzma's and pigz's compressing threads, blocks small enough for several
             "xz-threads": (["xz", "-T2", "--block-size=65536", "-c", str(big)], True),
             "pigz": (["pigz", "-p", "2", "-b", "32", "-c", str(big)], True),
             "python-multiprocessing": (["/usr/bin/python3", "-c", MULTIPROCESSING_PY], True),
             # through a program that executes the real one, as a `#!/usr/bin/env` script, a
             # shell wrapper or a version manager's shim does: control passes on to it
             "env-pool": (["/usr/bin/env", str(kernels / "kernel_pool")], True),
             "env-python": (["/usr/bin/env", "python3", "-c", THREADED_PY], True),
             "sort": (["sort", str(data)], False),
             "git": (["git", "--version"], False),
             # tar lists an archive of the data file; gzip runs as its child process
             "tar": (["tar", "-tzvf", str(tmp / "lines.tar.gz")], False),
             "pool": ([str(kernels / "kernel_pool")], True),
             "pipe": ([str(kernels / "kernel_pipe")], True),
             "barrier": ([str(kernels / "kernel_barrier")], True),
             "talk": ([str(kernels / "kernel_talk")], True),
             "process": ([str(kernels / "kernel_process")], True),
             # glibc's own timer and AIO threads: adopted when they call in
             "timer-aio": ([str(kernels / "kernel_timer_aio")], False),
             "threaded-python": (["/usr/bin/python3", "-c", THREADED_PY], True),
             "node": (["node", "-e", NODE_JS], True)}
    if name == "tar" and shutil.which("tar") and shutil.which("gzip"):
        subprocess.run(["tar", "-czf", "lines.tar.gz", "lines.txt"], cwd=tmp, check=True,
                       timeout=60)
    if name == "c++-condvar":
        if not shutil.which("g++"):
            return None
        (tmp / "condvar.cc").write_text(CXX_CONDVAR)
        subprocess.run(["g++", "-O1", "-pthread", "condvar.cc", "-o", "condvar"], cwd=tmp,
                       check=True, timeout=300)
        return [str(tmp / "condvar")], True
    if name in ("shared-semaphore", "shared-mutex"):
        if not shutil.which("gcc"):
            return None
        (tmp / "shared.c").write_text(SHARED_SEM_C if name == "shared-semaphore"
                                      else SHARED_MUTEX_C)
        subprocess.run(["gcc", "-O1", "-pthread", "shared.c", "-o", "shared"], cwd=tmp,
                       check=True, timeout=300)
        return [str(tmp / "shared")], name == "shared-semaphore"
    command, threaded = progs[name]
    return (command, threaded) if shutil.which(command[0]) else None


@pytest.mark.parametrize("name", ["python", "sort", "git", "tar", "pool", "pipe", "barrier", "talk", "process",
                                  "timer-aio",
                                  "threaded-python",
                                  "node", "c++-condvar", "cat", "xz-threads", "pigz",
                                  "python-multiprocessing", "shared-semaphore",
                                  "shared-mutex", "env-pool", "env-python"])
def test_real_program_same_output(name, kernels, library, tmp_path):
    found = real_program(name, kernels, tmp_path)
    if found is None:
        pytest.skip(f"{name}: its program (or compiler) is not installed")
    command, threaded = found
    free = subprocess.run(command, capture_output=True, timeout=120)
    assert free.returncode == 0
    for run in range(5):
        log = tmp_path / f"decisions.{run}"
        env = dict(os.environ, LD_PRELOAD=str(library),
                   LIFEGUARD_OPTIONS=f"explore=1:explore_seed=3:explore_run={run}:"
                                     f"explore_log={log}")
        controlled = subprocess.run(command, capture_output=True, timeout=120, env=env)
        assert controlled.returncode == 0, controlled.stderr[-2000:]
        assert controlled.stdout == free.stdout
        # the log was made by this process, so it was under control; a threaded program
        # had decisions to make
        made = decisions_in(log)
        assert made > 0 if threaded else made >= 0


# node's libuv thread pool (zlib, pbkdf2, fs), worker threads and child processes: many
# threads that block on condition variables while others come back from the kernel
NODE_POOL_JS = r"""
const { Worker, isMainThread, parentPort, workerData } = require('worker_threads');
const zlib = require('zlib'); const crypto = require('crypto');
const fs = require('fs'); const cp = require('child_process');
const out = process.argv[2];
if (!isMainThread) { parentPort.postMessage(workerData * 2); return; }
(async () => {
  const r = await Promise.all([1, 2].map(n => new Promise((res, rej) => {
    const w = new Worker(__filename, { workerData: n });
    w.on('message', res); w.on('error', rej); })));
  console.log('workers', r);
  const z = await new Promise((res, rej) =>
    zlib.gzip(Buffer.alloc(100000, 'a'), (e, b) => e ? rej(e) : res(b)));
  const u = await new Promise((res, rej) => zlib.gunzip(z, (e, b) => e ? rej(e) : res(b)));
  console.log('zlib', u.length);
  const h = await new Promise(res =>
    crypto.pbkdf2('pw', 'salt', 1000, 16, 'sha256', (e, k) => res(k.toString('hex'))));
  console.log('pbkdf2', h);
  await fs.promises.writeFile(out, 'hello');
  console.log('fs', await fs.promises.readFile(out, 'utf8'));
  const o = await new Promise(res => cp.exec('echo child', (e, so) => res(so.trim())));
  console.log('exec', o);
  console.log('spawnSync', cp.spawnSync('sh', ['-c', 'exit 3']).status);
  await new Promise(res => setTimeout(res, 10)); console.log('timer');
  await new Promise(res => setImmediate(res)); console.log('immediate');
})();
"""


def test_node_thread_pool_under_dfs(library, tmp_path):
    """An actor blocked at a point where nobody could run (the baton left idle) went back to
    the program without the baton when a thread back from the kernel made it runnable before
    it parked; the pass that followed left a stale turn on its word, so a later block returned
    at once and the thread ran free (in the real pthread_cond_wait) while the others waited
    for it. With node under dfs, run 1, that hung about one run in three here; the old
    library fails this test with high probability (not certainty: the race is the machine's
    timing), the fixed one never."""
    if not shutil.which("node"):
        pytest.skip("node is not installed")
    script = tmp_path / "pool.js"
    script.write_text(NODE_POOL_JS)
    command = ["node", str(script), str(tmp_path / "out.txt")]
    free = subprocess.run(command, capture_output=True, timeout=120)
    assert free.returncode == 0, free.stderr[-2000:]
    for attempt in range(5):
        log = tmp_path / f"decisions.{attempt}"
        env = dict(os.environ, LD_PRELOAD=str(library),
                   LIFEGUARD_OPTIONS="explore=1:explore_strategy=dfs:explore_depth=3:"
                                     f"explore_run=1:explore_log={log}")
        r = subprocess.run(command, capture_output=True, timeout=120, env=env)
        assert r.returncode == 0, (attempt, r.stderr[-2000:])
        assert r.stdout == free.stdout
        assert decisions_in(log) > 0


def test_glibc_timer_thread_survives_the_library(kernels, library, tmp_path):
    """glibc's SIGEV_THREAD helper thread keeps the timer's signal blocked and waits for it;
    a stack the page heap takes there goes through libunwind, which sets the signal mask with
    sigprocmask. Through glibc that unblocked the timer's signal, and the next expiry killed
    the process (signal 32), with explore off as well as on."""
    free = subprocess.run([str(kernels / "kernel_timer_aio")], capture_output=True,
                          timeout=120)
    assert free.returncode == 0, free.stderr[-2000:]
    for options in ("explore=0", "explore=1:explore_seed=5"):
        env = dict(os.environ, LD_PRELOAD=str(library), LIFEGUARD_OPTIONS=options)
        r = subprocess.run([str(kernels / "kernel_timer_aio")], capture_output=True,
                           timeout=120, env=env)
        assert r.returncode == 0, (options, r.returncode, r.stderr[-2000:])
        assert r.stdout == free.stdout


def test_off_is_libc(kernels, library, tmp_path):
    """Without explore=1 the preload library makes no decisions and no log, and the kernels'
    bugs stay where the OS scheduler puts them (the clean pool runs as it does free)."""
    log = tmp_path / "decisions"
    env = dict(os.environ, LD_PRELOAD=str(library), LIFEGUARD_OPTIONS=f"explore_log={log}")
    r = subprocess.run([str(kernels / "kernel_pool")], capture_output=True, timeout=120, env=env)
    assert r.returncode == 0
    assert not log.exists()


# What a program sees of its CPUs, and where its threads really run (the raw system call
# passes the interceptors by): main, a thread it starts, a forked child, and a program run
# through system().
AFFINITY_C = r"""
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
static int real_cpus(void) {
  cpu_set_t s;
  CPU_ZERO(&s);
  syscall(SYS_sched_getaffinity, 0, sizeof s, &s);
  return CPU_COUNT(&s);
}
static int seen_cpus(void) {
  cpu_set_t s;
  sched_getaffinity(0, sizeof s, &s);
  return CPU_COUNT(&s);
}
static void *thread(void *arg) {
  cpu_set_t s;
  pthread_getaffinity_np(pthread_self(), sizeof s, &s);
  printf("thread real %d seen %d pthread %d\n", real_cpus(), seen_cpus(), CPU_COUNT(&s));
  return arg;
}
int main(void) {
  printf("main real %d seen %d\n", real_cpus(), seen_cpus());
  pthread_t t;
  pthread_create(&t, NULL, thread, NULL);
  pthread_join(t, NULL);
  fflush(stdout);
  pid_t child = fork();
  if (child == 0) {
    printf("child real %d\n", real_cpus());
    fflush(stdout);
    _exit(0);
  }
  waitpid(child, NULL, 0);
  return system("printf 'system '; nproc");
}
"""


def test_controlled_threads_run_on_one_cpu(library, tmp_path):
    """explore_pin=1 (the default): the actors really run on one CPU, while the program still
    sees its own CPUs (sched_getaffinity, pthread_getaffinity_np), and a forked child and a
    program run through system() get them back. explore_pin=0, the twin: they run where the
    program's CPUs allow, so the one-CPU line is the option's doing."""
    if not shutil.which("gcc"):
        pytest.skip("gcc is not installed")
    (tmp_path / "affinity.c").write_text(AFFINITY_C)
    subprocess.run(["gcc", "-O1", "-pthread", "affinity.c", "-o", "affinity"], cwd=tmp_path,
                   check=True, timeout=300)
    free = subprocess.run([str(tmp_path / "affinity")], capture_output=True, text=True,
                          timeout=120)
    assert free.returncode == 0, free.stderr
    cpus = len(os.sched_getaffinity(0))
    if cpus < 2:
        pytest.skip("this process may run on one CPU only: pinning changes nothing")
    assert free.stdout.splitlines() == [
        f"main real {cpus} seen {cpus}", f"thread real {cpus} seen {cpus} pthread {cpus}",
        f"child real {cpus}", f"system {cpus}"]
    for pin, real in ((1, 1), (0, cpus)):
        log = tmp_path / f"decisions.{pin}"
        env = dict(os.environ, LD_PRELOAD=str(library),
                   LIFEGUARD_OPTIONS=f"explore=1:explore_pin={pin}:explore_log={log}")
        r = subprocess.run([str(tmp_path / "affinity")], capture_output=True, text=True,
                           timeout=120, env=env)
        assert r.returncode == 0, r.stderr[-2000:]
        assert r.stdout.splitlines() == [
            f"main real {real} seen {cpus}", f"thread real {real} seen {cpus} pthread {cpus}",
            f"child real {cpus}", f"system {cpus}"], f"explore_pin={pin}"
        assert decisions_in(log) > 0  # under control
