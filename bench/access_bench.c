/* SPDX-License-Identifier: MIT */
/* access_bench: workloads dominated by memory accesses, for the cost of `lifeguard cc`'s
 * access callbacks when explore is off. bench/access_cost.py builds this file twice, with
 * `lifeguard cc -O2` and with `clang -O2`, runs both in turn and reports the ratios.
 *
 *   access_bench [--reps R]    one JSON object per workload: the median ns per element
 *
 * Workloads (one thread; each element is a handful of loads and stores):
 *   array   a prefix sum over 64Ki longs, in place (a load and a store per element)
 *   sort    a merge sort of 128Ki ints, top-down, with a scratch buffer
 *   hash    inserts then lookups of 32Ki keys in an open-addressing table of 64Ki slots
 *   list    a walk of a 64Ki-node linked list shuffled through memory (pointer chasing)
 *   atomic  a relaxed atomic increment, 1Mi times (the atomic callbacks)
 * A checksum of every workload is printed so none can be optimized away. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

#define ARRAY_N (1 << 16)
static long array[ARRAY_N];
static uint64_t w_array(void) {
  for (int round = 0; round < 16; round++) {
    for (int i = 1; i < ARRAY_N; i++) array[i] += array[i - 1] + 1;
    array[0] = array[ARRAY_N - 1] & 0xff;
  }
  return (uint64_t)array[ARRAY_N - 1];
}

#define SORT_N (1 << 17)
static int keys[SORT_N], scratch[SORT_N];
static void merge_sort(int *a, int *tmp, int n) {
  if (n < 2) return;
  int h = n / 2;
  merge_sort(a, tmp, h);
  merge_sort(a + h, tmp, n - h);
  int i = 0, j = h, k = 0;
  while (i < h && j < n) tmp[k++] = a[i] <= a[j] ? a[i++] : a[j++];
  while (i < h) tmp[k++] = a[i++];
  while (j < n) tmp[k++] = a[j++];
  memcpy(a, tmp, (size_t)n * sizeof *a);
}
static uint64_t w_sort(void) {
  for (int i = 0; i < SORT_N; i++) keys[i] = (int)(next() & 0x7fffffff);
  merge_sort(keys, scratch, SORT_N);
  return (uint64_t)keys[SORT_N / 2];
}

#define HASH_SLOTS (1 << 16)
#define HASH_KEYS (1 << 15)
static uint64_t table[HASH_SLOTS];
static uint64_t w_hash(void) {
  memset(table, 0, sizeof table);
  uint64_t seed = rng, found = 0;
  for (int i = 0; i < HASH_KEYS; i++) {
    uint64_t k = next() | 1, s = (k * 0x9e3779b97f4a7c15ull) >> 48;
    while (table[s] && table[s] != k) s = (s + 1) & (HASH_SLOTS - 1);
    table[s] = k;
  }
  rng = seed;
  for (int i = 0; i < HASH_KEYS; i++) {
    uint64_t k = next() | 1, s = (k * 0x9e3779b97f4a7c15ull) >> 48;
    while (table[s] && table[s] != k) s = (s + 1) & (HASH_SLOTS - 1);
    found += table[s] == k;
  }
  return found;
}

#define LIST_N (1 << 16)
struct node {
  struct node *next;
  long value;
};
static struct node nodes[LIST_N];
static struct node *head;
static void list_build(void) {
  static int order[LIST_N];
  for (int i = 0; i < LIST_N; i++) order[i] = i;
  for (int i = LIST_N - 1; i > 0; i--) {
    int j = (int)(next() % (uint64_t)(i + 1)), t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  for (int i = 0; i < LIST_N; i++) {
    nodes[order[i]].value = i;
    nodes[order[i]].next = i + 1 < LIST_N ? &nodes[order[i + 1]] : NULL;
  }
  head = &nodes[order[0]];
}
static uint64_t w_list(void) {
  uint64_t sum = 0;
  for (int round = 0; round < 4; round++)
    for (struct node *n = head; n; n = n->next) sum += (uint64_t)n->value++;
  return sum;
}

#define ATOMIC_N (1 << 20)
static long counter;
static uint64_t w_atomic(void) {
  for (int i = 0; i < ATOMIC_N; i++) __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED);
  return (uint64_t)__atomic_load_n(&counter, __ATOMIC_RELAXED);
}

typedef struct workload {
  const char *name;
  uint64_t (*run)(void);
  double elements; /* per run */
} workload;

static const workload WORKLOADS[] = {
    {"array", w_array, 16.0 * ARRAY_N},   {"sort", w_sort, (double)SORT_N * 17},
    {"hash", w_hash, 2.0 * HASH_KEYS},    {"list", w_list, 4.0 * LIST_N},
    {"atomic", w_atomic, (double)ATOMIC_N},
};

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  int reps = 9;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc && atoi(argv[i + 1]) > 0) {
      reps = atoi(argv[++i]);
    } else {
      fprintf(stderr, "access_bench: usage: access_bench [--reps R]\n");
      return 2;
    }
  }
  list_build();
  uint64_t check = 0;
  for (size_t w = 0; w < sizeof WORKLOADS / sizeof *WORKLOADS; w++) {
    const workload *wl = &WORKLOADS[w];
    double ns[64];
    if (reps > 64) reps = 64;
    check += wl->run(); /* warm-up */
    for (int r = 0; r < reps; r++) {
      uint64_t t0 = now_ns();
      check += wl->run();
      ns[r] = (double)(now_ns() - t0) / wl->elements;
    }
    qsort(ns, (size_t)reps, sizeof *ns, cmp_double);
    printf("{\"bench\": \"access_cost\", \"metric\": \"%s\", \"value\": %.4f, "
           "\"unit\": \"ns/element\"}\n",
           wl->name, ns[reps / 2]);
  }
  fprintf(stderr, "access_bench: checksum %llu\n", (unsigned long long)check);
  return 0;
}
