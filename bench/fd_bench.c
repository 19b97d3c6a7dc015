/* SPDX-License-Identifier: MIT */
/* fd_bench: a descriptor-churn workload for `lifeguard bench`'s fdcheck cost.
 *
 * One cycle: pipe2 + write + read + close x2; eventfd + write + read + close; open /dev/null
 * + write + fstat + close; dup + close. 15 calls that fdcheck intercepts or tracks. After
 * WARMUP cycles, REPS repetitions of CYCLES cycles are timed; the median is printed.
 *
 *   fd_bench [--cycles N] [--reps R] [--warmup W]
 * prints one JSON object: {"ns_per_cycle": median, "cycles": N, "reps": R}.
 *
 * Built as fd_bench (lifeguard linked in; LIFEGUARD_OPTIONS=fdcheck=0|1, fd_quarantine=N
 * choose what it checks) and fd_bench_bare (no lifeguard). It measures, it tests nothing. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void fail(const char *what) {
  perror(what);
  exit(1);
}

static void cycle(void) {
  int p[2];
  char c = 'x';
  if (pipe2(p, O_CLOEXEC) != 0) fail("pipe2");
  if (write(p[1], &c, 1) != 1 || read(p[0], &c, 1) != 1) fail("pipe i/o");
  if (close(p[0]) != 0 || close(p[1]) != 0) fail("close pipe");

  int e = eventfd(0, EFD_CLOEXEC);
  uint64_t v = 1;
  if (e < 0) fail("eventfd");
  if (write(e, &v, 8) != 8 || read(e, &v, 8) != 8) fail("eventfd i/o");
  if (close(e) != 0) fail("close eventfd");

  int f = open("/dev/null", O_WRONLY | O_CLOEXEC);
  struct stat st;
  if (f < 0) fail("open");
  if (write(f, &c, 1) != 1 || fstat(f, &st) != 0) fail("/dev/null i/o");
  int d = dup(f);
  if (d < 0) fail("dup");
  if (close(d) != 0 || close(f) != 0) fail("close file");
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  unsigned long long n = 50000, reps = 5, warmup = 5000;
  for (int i = 1; i < argc; i++) {
    unsigned long long *to = !strcmp(argv[i], "--cycles") ? &n
                             : !strcmp(argv[i], "--reps") ? &reps
                             : !strcmp(argv[i], "--warmup") ? &warmup : NULL;
    if (!to || i + 1 >= argc) {
      fprintf(stderr, "usage: fd_bench [--cycles N] [--reps R] [--warmup W]\n");
      return 2;
    }
    *to = strtoull(argv[++i], NULL, 10);
  }
  if (n == 0 || reps == 0 || reps > 100) {
    fprintf(stderr, "fd_bench: --cycles at least 1, --reps 1..100\n");
    return 2;
  }
  double ns[100];
  for (unsigned long long i = 0; i < warmup; i++) cycle();
  for (unsigned long long r = 0; r < reps; r++) {
    uint64_t t0 = now_ns();
    for (unsigned long long i = 0; i < n; i++) cycle();
    ns[r] = (double)(now_ns() - t0) / (double)n;
  }
  qsort(ns, reps, sizeof ns[0], cmp_double);
  printf("{\"ns_per_cycle\": %.3f, \"cycles\": %llu, \"reps\": %llu}\n", ns[reps / 2], n, reps);
  return 0;
}
