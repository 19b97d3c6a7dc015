/* SPDX-License-Identifier: MIT */
/* unwind_bench: what a stack costs, by unwinder.
 *
 *   unwind_bench [--reps N]
 * prints one JSON object with the median ns of each, over N captures (after a warm-up):
 *   capture_fp_ns       lg_stack_capture 12 frames deep through code with frame pointers
 *                       (the frame-pointer walk, ending at a known root)
 *   capture_tables_ns   the same stack through code without frame pointers (unwind_nofp.c,
 *                       -O2 -fomit-frame-pointer): the walk leaves known code, so the unwind
 *                       tables (unw_backtrace) give the stack
 *   signal_stack_ns     a stack from a signal context (lg__stack_signal, as the fault
 *                       handlers take it), 12 frames deep, less the cost of the same signal
 *                       with a handler that does nothing
 * Run it with LIFEGUARD_OPTIONS=fast_unwind=0 to see capture_fp_ns through the tables too.
 * It measures, it tests nothing. */
#define _GNU_SOURCE
#include "stack_internal.h"

#include <lifeguard/stack.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEPTH 12

uint64_t nofp_chain(int depth, uint64_t (*leaf)(void)); /* unwind_nofp.c */

static int reps = 20000;
static volatile int with_stack;
static volatile size_t sink;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t leaf_capture(void) { return lg_stack_capture(__builtin_frame_address(0)); }

static void on_signal(int sig, siginfo_t *si, void *uc) {
  (void)sig;
  (void)si;
  if (with_stack) {
    uintptr_t pcs[LG_STACK_MAX];
    sink += lg__stack_signal(uc, pcs, 24);
  }
}

static uint64_t leaf_signal(void) {
  raise(SIGUSR1);
  return 0;
}

__attribute__((noinline)) static uint64_t fp_chain(int depth, uint64_t (*leaf)(void)) {
  uint64_t r = depth ? fp_chain(depth - 1, leaf) : leaf();
  __asm__ volatile("" ::: "memory"); /* no tail call */
  return r + 1;
}

static int cmp(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Median ns of one call of `chain(DEPTH, leaf)`, in batches of 100. */
static double median(uint64_t (*chain)(int, uint64_t (*)(void)), uint64_t (*leaf)(void)) {
  int batches = reps / 100 > 0 ? reps / 100 : 1;
  uint64_t *t = malloc(sizeof *t * (size_t)batches);
  for (int i = 0; i < 100; i++) chain(DEPTH, leaf); /* warm-up */
  for (int b = 0; b < batches; b++) {
    uint64_t t0 = now_ns();
    for (int i = 0; i < 100; i++) chain(DEPTH, leaf);
    t[b] = now_ns() - t0;
  }
  qsort(t, (size_t)batches, sizeof *t, cmp);
  double m = (double)t[batches / 2] / 100.0;
  free(t);
  return m;
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
    else {
      fprintf(stderr, "usage: unwind_bench [--reps N]\n");
      return 2;
    }
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_signal;
  sa.sa_flags = SA_SIGINFO;
  sigaction(SIGUSR1, &sa, NULL);
  double fp = median(fp_chain, leaf_capture);
  double tables = median(nofp_chain, leaf_capture);
  with_stack = 0;
  double bare_signal = median(fp_chain, leaf_signal);
  with_stack = 1;
  double signal_stack = median(fp_chain, leaf_signal) - bare_signal;
  printf("{\"capture_fp_ns\": %.1f, \"capture_tables_ns\": %.1f, \"tables_vs_fp\": %.2f, "
         "\"signal_stack_ns\": %.1f, \"signal_bare_ns\": %.1f, \"depth\": %d, \"reps\": %d}\n",
         fp, tables, tables / fp, signal_stack, bare_signal, DEPTH, reps);
  return 0;
}
