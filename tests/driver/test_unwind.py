# SPDX-License-Identifier: MIT
"""Stacks through code built without frame pointers, under `lifeguard verify`.

A library built with -O2 -fomit-frame-pointer allocates, frees and reads a block for an
application built with frame pointers: the fault, free and allocation stacks each name the
application function that called the library, with file and line (a frame-pointer walk from a
frameless library skips it: the library leaves the caller's frame pointer in place, so the walk
goes from the library's frame straight to the caller's caller). fileno() on a freed FILE faults
in libc's frameless leaf: the stack names the function that called fileno.

The module census: a module built the same way starts a thread that blocks in libc (nanosleep,
poll, pthread_cond_wait) and the host unloads it: the census reports the thread inside the
module at the unload, in every run; the twin stops and joins the thread first and is clean.
Each case runs a fixed number of times. Needs the plain tree (the preload library).
"""

import json
import re
import shutil
import subprocess

import pytest


RUNS = 10

LIBRARY_SOURCE = r"""
#include <stdlib.h>
#include <string.h>
struct box { char *data; int n; };
static int live;
__attribute__((noinline)) struct box *nofp_make(int n) {
  struct box *b = malloc(sizeof *b);
  b->data = malloc((size_t)n);
  memset(b->data, 7, (size_t)n);
  b->n = n;
  live++;
  return b;
}
__attribute__((noinline)) void nofp_drop(struct box *b) {
  free(b->data);
  free(b);
  live--;
}
__attribute__((noinline)) int nofp_sum(struct box *b) {
  int s = 0;
  for (int i = 0; i < b->n; i++) s += b->data[i];
  return s + live;
}
"""

APP_SOURCE = r"""
#include <stdio.h>
struct box;
struct box *nofp_make(int n);
void nofp_drop(struct box *b);
int nofp_sum(struct box *b);
__attribute__((noinline)) struct box *app_make(void) {
  return nofp_make(40); /* line:app_make */
}
__attribute__((noinline)) void app_drop(struct box *b) {
  nofp_drop(b); /* line:app_drop */
}
__attribute__((noinline)) int app_sum(struct box *b) {
  return nofp_sum(b); /* line:app_sum */
}
__attribute__((noinline)) int app_fileno(FILE *f) {
  return fileno(f); /* line:app_fileno */
}
int main(int argc, char **argv) {
  if (argc > 1 && argv[1][0] == 'f') { /* fileno on a FILE: after fclose with "fault" */
    FILE *f = fopen("/dev/null", "r");
    if (argc > 2) fclose(f);
    int fd = app_fileno(f);
    if (argc <= 2) fclose(f);
    return fd < 0;
  }
  struct box *b = app_make();
  int s = app_sum(b);
  app_drop(b);
  if (argc > 2) s += app_sum(b); /* read after free, inside the library */
  printf("%d\n", s);
  return 0;
}
"""

# A module thread that blocks in libc until it is told to stop. The host waits until the
# thread is in the blocking system call (read from /proc), then unloads the module.
MODULE_SOURCE = r"""
#define _GNU_SOURCE
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
static pthread_t worker;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int how, tid, stop, fds[2];
static volatile long rounds;
__attribute__((noinline)) static void block_once(void) {
  if (how == 0) {
    struct timespec ts = {3600, 0};
    nanosleep(&ts, NULL);
  } else if (how == 1) {
    struct pollfd p = {fds[0], POLLIN, 0};
    poll(&p, 1, -1);
  } else {
    pthread_mutex_lock(&mu);
    while (!stop) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
  }
}
static void *blocker(void *arg) {
  pthread_mutex_lock(&mu);
  tid = gettid();
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
  while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
    block_once();
    rounds++;
  }
  return arg;
}
int blockmod_start(int kind) {
  how = kind;
  if (pipe(fds) != 0 || pthread_create(&worker, NULL, blocker, NULL) != 0) return -1;
  pthread_mutex_lock(&mu);
  while (!tid) pthread_cond_wait(&cv, &mu);
  pthread_mutex_unlock(&mu);
  return tid;
}
void blockmod_stop(void) {
  pthread_mutex_lock(&mu);
  __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
  if (write(fds[1], "x", 1) != 1) return;
  pthread_kill(worker, SIGUSR1); /* ends nanosleep early (the host ignores the signal) */
  pthread_join(worker, NULL);
  close(fds[0]);
  close(fds[1]);
}
"""

HOST_SOURCE = r"""
#include <dlfcn.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static void on_usr1(int sig) { (void)sig; }
/* The system call thread `tid` is blocked in (-1 while it runs). */
static long blocked_in(int tid) {
  char path[64], buf[256] = "";
  snprintf(path, sizeof path, "/proc/self/task/%d/syscall", tid);
  FILE *f = fopen(path, "r");
  if (!f) return -2;
  if (!fgets(buf, sizeof buf, f)) buf[0] = '\0';
  fclose(f);
  return strncmp(buf, "running", 7) == 0 ? -1 : strtol(buf, NULL, 10);
}
int main(int argc, char **argv) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1;
  sigaction(SIGUSR1, &sa, NULL);
  int kind = atoi(argv[2]), fault = argc > 3;
  long want[] = {230 /* clock_nanosleep */, 7 /* poll */, 202 /* futex */};
  void *h = dlopen(argv[1], RTLD_NOW);
  if (!h) return 2;
  int (*start)(int) = (int (*)(int))dlsym(h, "blockmod_start");
  void (*stop)(void) = (void (*)(void))dlsym(h, "blockmod_stop");
  int tid = start(kind);
  if (tid <= 0) return 2;
  for (long i = 0; blocked_in(tid) != want[kind]; i++) {
    if (i > 100000000L) return 3; /* never blocked there: the test is wrong */
    sched_yield();
  }
  if (!fault) stop();
  dlclose(h);
  puts("unloaded");
  return 0;
}
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    if not shutil.which("gcc"):
        pytest.skip("gcc is not installed")
    d = tmp_path_factory.mktemp("unwind-programs")
    for name, text in [("nofp.c", LIBRARY_SOURCE), ("app.c", APP_SOURCE),
                       ("blockmod.c", MODULE_SOURCE), ("host.c", HOST_SOURCE)]:
        (d / name).write_text(text)
    nofp = ["-O2", "-fomit-frame-pointer", "-fPIC", "-shared", "-pthread"]
    subprocess.run(["gcc", *nofp, "nofp.c", "-o", "libnofp.so"], cwd=d, check=True)
    subprocess.run(["gcc", *nofp, "blockmod.c", "-o", "libblockmod.so"], cwd=d, check=True)
    subprocess.run(["gcc", "-O0", "-g", "-fno-omit-frame-pointer", "app.c", "-o", "app",
                    "-L.", "-lnofp", f"-Wl,-rpath,{d}"], cwd=d, check=True)
    subprocess.run(["gcc", "-O0", "-g", "host.c", "-o", "host", "-ldl"], cwd=d, check=True)
    return d


def marked_line(name):
    for number, text in enumerate(APP_SOURCE.splitlines(), start=1):
        if f"/* line:{name} */" in text:
            return number
    raise AssertionError(name)


def reports(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def names_caller(frames, function):
    """True when a frame is `function` at its marked call, in app.c."""
    return any(f.get("function") == function and f.get("file", "").endswith("app.c")
               and f.get("line") == marked_line(function) for f in frames)


def describe(frames):
    return [f"{f.get('function')} {f.get('file')}:{f.get('line')}" for f in frames]


def test_fault_free_and_alloc_stacks_name_the_application(built, verify, tmp_path):
    log = tmp_path / "r.jsonl"
    clean = verify("--json", str(log), "--", str(built / "app"), "sum")
    assert clean.returncode == 0, clean.stderr
    assert reports(log) == []
    bad = verify("--json", str(log), "--", str(built / "app"), "sum", "fault")
    assert bad.returncode == 1, bad.stderr
    [r] = reports(log)
    assert r["kind"] == "heap-use-after-free"
    stacks = r["stacks"]
    assert stacks["current"][0]["function"] == "nofp_sum", describe(stacks["current"])
    for name, caller in [("current", "app_sum"), ("free", "app_drop"), ("alloc", "app_make")]:
        assert names_caller(stacks[name], caller), (name, describe(stacks[name]))


def test_fileno_on_a_freed_file_names_its_caller(built, verify, tmp_path):
    log = tmp_path / "r.jsonl"
    clean = verify("--json", str(log), "--", str(built / "app"), "fileno")
    assert clean.returncode == 0, clean.stderr
    assert reports(log) == []
    bad = verify("--json", str(log), "--", str(built / "app"), "fileno", "fault")
    assert bad.returncode == 1, bad.stderr
    [r] = reports(log)
    assert r["kind"] == "heap-use-after-free"
    current = r["stacks"]["current"]
    assert current[0]["function"] == "fileno", describe(current)
    assert names_caller(current[:2], "app_fileno"), describe(current)


@pytest.mark.parametrize("kind, call", [(0, "nanosleep"), (1, "poll"), (2, "pthread_cond_wait")])
def test_census_finds_a_thread_blocked_in_libc(kind, call, built, verify, tmp_path):
    module, host = str(built / "libblockmod.so"), str(built / "host")
    log = tmp_path / "r.jsonl"
    for run in range(RUNS):
        clean = verify("--json", str(log), "--", host, module, str(kind))
        assert clean.returncode == 0, (run, clean.stderr)
        assert clean.stdout == "unloaded\n" and reports(log) == [], (run, clean.stderr)
        bad = verify("--json", str(log), "--", host, module, str(kind), "fault")
        assert bad.returncode == 1, (run, bad.stderr)
        assert bad.stdout == "", (run, "the report did not come at the unload")
        [r] = reports(log)
        assert r["kind"] == "unload-while-running", (run, r["headline"])
        assert re.search(r"thread \d+ is inside it, in libblockmod\.so\+0x[0-9a-f]+ "
                         r"\(block_once\)", r["headline"]), (run, call, r["headline"])
