/* SPDX-License-Identifier: MIT */
/* Spin-wait on a plain flag: main spins on a volatile `ready` flag that a worker sets after
 * filling in the result, with no pthread call in the loop. The bug: the worker sets the flag
 * before the result, so main can see the flag and read the old result. Clean twin: the
 * result, then the flag (release store; main's loads acquire). Both orders differ only in
 * plain memory operations: explore finds the bug only with memory-access scheduling points
 * (`lifeguard cc`). Under pthread-level control a spinning thread holds the baton and never
 * reaches a scheduling point, so a schedule that runs main's loop before the worker has set
 * the flag cannot go on (see docs/BENCHMARKS.md for what explore does with it). */
#include "kernel.h"

static volatile int ready;
static volatile long result;

static void *worker(void *arg) {
  (void)arg;
#ifdef LG_KERNEL_CLEAN
  result = 42;
  __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
#else
  ready = 1;
  result = 42;
#endif
  return NULL;
}

int main(void) {
  pthread_t t = spawn(worker, NULL);
  while (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
  }
  CHECK(result == 42);
  pthread_join(t, NULL);
  return 0;
}
