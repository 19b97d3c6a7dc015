/* SPDX-License-Identifier: MIT */
/* The cost of the preload library's thread control (`lifeguard bench control_points`).
 *
 * A plain pthread program that links nothing of lifeguard: the benchmark runs it natively,
 * with liblifeguard-preload.so and explore=0 (each interceptor checks one flag and calls the
 * real function), and with explore=1 (each call is a scheduling point).
 *
 *   control_bench lock [--ops N] [--reps R]     one thread: N uncontended mutex lock/unlock
 *                                               pairs; prints ns_per_pair
 *   control_bench handoff [--ops N] [--reps R]  two threads hand a turn back and forth N
 *                                               times through a mutex and a condition
 *                                               variable; prints ns_per_handoff
 *   control_bench futex [--ops N] [--reps R]    the same turn through one futex word and the
 *                                               raw system calls (natively: the kernel's own
 *                                               cost of a switch between two threads, the
 *                                               floor under a baton pass); prints
 *                                               ns_per_handoff
 *
 * Each prints one JSON object: the median of R repetitions, of the wall-clock time and of
 * the process's CPU time (cpu_ns_per_...: what the work costs whatever else the machine
 * runs; the wall-clock time also holds the waits for a CPU and for a CPU's wake-up). */
#include <linux/futex.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <time.h>

static uint64_t clock_ns(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ns(void) { return clock_ns(CLOCK_MONOTONIC); }
static uint64_t cpu_now_ns(void) { return clock_ns(CLOCK_PROCESS_CPUTIME_ID); }
static double cpu_sample; /* the CPU time per operation of the latest run_* */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t turn_changed = PTHREAD_COND_INITIALIZER;
static int turn;      /* whose turn it is: 0 or 1 (under lock) */
static long handoffs; /* hand-offs each side makes in this repetition */

static double run_lock(long ops) {
  uint64_t t0 = now_ns(), c0 = cpu_now_ns();
  for (long i = 0; i < ops; i++) {
    pthread_mutex_lock(&lock);
    pthread_mutex_unlock(&lock);
  }
  cpu_sample = (double)(cpu_now_ns() - c0) / (double)ops;
  return (double)(now_ns() - t0) / (double)ops;
}

/* Waits for its turn, then gives it to the other side, `handoffs` times. */
static void *side(void *arg) {
  int me = (int)(intptr_t)arg;
  for (long i = 0; i < handoffs; i++) {
    pthread_mutex_lock(&lock);
    while (turn != me) pthread_cond_wait(&turn_changed, &lock);
    turn = !me;
    pthread_cond_signal(&turn_changed);
    pthread_mutex_unlock(&lock);
  }
  return NULL;
}

static int word; /* futex mode: whose turn it is */

/* The same turn through a futex word: waits while it is the other's, then gives it back. */
static void *futex_side(void *arg) {
  int me = (int)(intptr_t)arg;
  for (long i = 0; i < handoffs; i++) {
    while (__atomic_load_n(&word, __ATOMIC_ACQUIRE) != me)
      syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, !me, NULL, NULL, 0);
    __atomic_store_n(&word, !me, __ATOMIC_RELEASE);
    syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
  }
  return NULL;
}

static double run_handoff(long ops, void *(*fn)(void *)) {
  pthread_t other;
  turn = 0;
  word = 0;
  handoffs = ops / 2;
  uint64_t t0 = now_ns(), c0 = cpu_now_ns();
  if (pthread_create(&other, NULL, fn, (void *)(intptr_t)1) != 0) {
    fprintf(stderr, "control_bench: pthread_create failed\n");
    exit(1);
  }
  fn((void *)(intptr_t)0);
  pthread_join(other, NULL);
  cpu_sample = (double)(cpu_now_ns() - c0) / (double)(2 * handoffs);
  return (double)(now_ns() - t0) / (double)(2 * handoffs);
}

int main(int argc, char **argv) {
  if (argc < 2 || (strcmp(argv[1], "lock") != 0 && strcmp(argv[1], "handoff") != 0 &&
                    strcmp(argv[1], "futex") != 0)) {
    fprintf(stderr, "usage: control_bench lock|handoff|futex [--ops N] [--reps R]\n");
    return 2;
  }
  bool futex = strcmp(argv[1], "futex") == 0;
  int handoff = futex || strcmp(argv[1], "handoff") == 0;
  long ops = handoff ? 20000 : 1000000, reps = 5;
  for (int i = 2; i + 1 < argc; i += 2) {
    long v = strtol(argv[i + 1], NULL, 10);
    if (strcmp(argv[i], "--ops") == 0 && v >= 2) {
      ops = v;
    } else if (strcmp(argv[i], "--reps") == 0 && v >= 1 && v <= 101) {
      reps = v;
    } else {
      fprintf(stderr, "control_bench: bad argument %s %s\n", argv[i], argv[i + 1]);
      return 2;
    }
  }
  double samples[101], cpu[101];
  for (long r = 0; r < reps; r++) {
    samples[r] = handoff ? run_handoff(ops, futex ? futex_side : side) : run_lock(ops);
    cpu[r] = cpu_sample;
  }
  qsort(samples, (size_t)reps, sizeof samples[0], cmp_double);
  qsort(cpu, (size_t)reps, sizeof cpu[0], cmp_double);
  const char *what = handoff ? "handoff" : "pair";
  printf("{\"bench\": \"control_points\", \"ns_per_%s\": %.3f, \"cpu_ns_per_%s\": %.3f, "
         "\"ops\": %ld, \"reps\": %ld}\n",
         what, samples[reps / 2], what, cpu[reps / 2], ops, reps);
  return 0;
}
