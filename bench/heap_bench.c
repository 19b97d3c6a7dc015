/* SPDX-License-Identifier: MIT */
/* heap_bench: the shared heap workload of `lifeguard bench`'s detector comparison.
 *
 * A ring of RING live blocks of seven sizes (24 B to 9000 B: one to three pages in the page
 * heap). A pair frees the oldest block, allocates the next size, and touches the new block's
 * first and last byte. After the ring is filled and WARMUP pairs have run, REPS repetitions
 * of PAIRS pairs each are timed on CLOCK_MONOTONIC; the median is printed.
 *
 *   heap_bench [--pairs N] [--reps R] [--warmup W] [--ring K]
 * prints one JSON object: {"ns_per_pair": median, "max_rss_kib": VmHWM, "pairs": N, "reps": R,
 * "ring": K}. max_rss_kib is this process's peak resident set (/proc/self/status VmHWM, read
 * after the last free; under valgrind the tool's own memory is included). Not getrusage's
 * ru_maxrss: that one keeps the peak of the process before exec (the driver's fork).
 * --pairs 0 fills and frees the ring only (the baseline of a system-call count).
 *
 * The same source is built two ways (bench/CMakeLists.txt): heap_bench (lifeguard linked
 * in: the page heap in the plain tree), heap_bench_bare (nothing: glibc, or valgrind or
 * Electric Fence from outside; ASan alone in the asan tree). It measures, it tests nothing. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const size_t SIZES[] = {24, 72, 200, 520, 1500, 4000, 9000};
#define NSIZES (sizeof SIZES / sizeof SIZES[0])

static char **ring;
static size_t ring_len, next_size;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static char *allocate(void) {
  size_t n = SIZES[next_size];
  next_size = (next_size + 3) % NSIZES; /* 3 is prime to 7: every size, interleaved */
  char *p = malloc(n);
  if (!p) {
    fprintf(stderr, "heap_bench: malloc(%zu) failed\n", n);
    exit(1);
  }
  ((volatile char *)p)[0] = 1;
  ((volatile char *)p)[n - 1] = 1;
  return p;
}

/* `count` pairs, continuing round the ring from where the last call stopped. */
static void pairs(uint64_t count) {
  static size_t at;
  for (uint64_t i = 0; i < count; i++) {
    free(ring[at]);
    ring[at] = allocate();
    if (++at == ring_len) at = 0;
  }
}

static long peak_rss_kib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kib = -1;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "VmHWM: %ld kB", &kib) == 1) break;
  if (f) fclose(f);
  return kib;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static uint64_t arg_value(int argc, char **argv, int *i) {
  if (*i + 1 >= argc) {
    fprintf(stderr, "heap_bench: %s needs a value\n", argv[*i]);
    exit(2);
  }
  return strtoull(argv[++*i], NULL, 10);
}

int main(int argc, char **argv) {
  uint64_t n = 200000, reps = 5, warmup = 50000;
  ring_len = 256;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--pairs")) n = arg_value(argc, argv, &i);
    else if (!strcmp(argv[i], "--reps")) reps = arg_value(argc, argv, &i);
    else if (!strcmp(argv[i], "--warmup")) warmup = arg_value(argc, argv, &i);
    else if (!strcmp(argv[i], "--ring")) ring_len = arg_value(argc, argv, &i);
    else {
      fprintf(stderr, "usage: heap_bench [--pairs N] [--reps R] [--warmup W] [--ring K]\n");
      return 2;
    }
  }
  if (reps == 0 || ring_len == 0 || reps > 100) {
    fprintf(stderr, "heap_bench: --reps must be 1..100, --ring at least 1\n");
    return 2;
  }
  ring = calloc(ring_len, sizeof *ring);
  for (size_t i = 0; i < ring_len; i++) ring[i] = allocate();
  double ns[100];
  if (n > 0) {
    pairs(warmup);
    for (uint64_t r = 0; r < reps; r++) {
      uint64_t t0 = now_ns();
      pairs(n);
      ns[r] = (double)(now_ns() - t0) / (double)n;
    }
    qsort(ns, reps, sizeof ns[0], cmp_double);
  }
  for (size_t i = 0; i < ring_len; i++) free(ring[i]);
  free(ring);
  printf("{\"ns_per_pair\": %.3f, \"max_rss_kib\": %ld, \"pairs\": %llu, \"reps\": %llu, "
         "\"ring\": %zu}\n", n > 0 ? ns[reps / 2] : 0.0, peak_rss_kib(), (unsigned long long)n,
         (unsigned long long)reps, ring_len);
  return 0;
}
