/* SPDX-License-Identifier: MIT */
/* Lost update on plain memory: two threads each add to a shared counter with `hits++` (a
 * load and a store, no lock, no atomic), so one thread's store can overwrite the other's.
 * Clean twin: the increment is an atomic read-modify-write. There is no pthread call between
 * the load and the store: explore finds it only with memory-access scheduling points
 * (`lifeguard cc`); free runs find it only when the two increments overlap on two cores. */
#include "kernel.h"

#define ADDS 2

static long hits;

static void *count(void *arg) {
  (void)arg;
  for (int i = 0; i < ADDS; i++) {
#ifdef LG_KERNEL_CLEAN
    __atomic_fetch_add(&hits, 1, __ATOMIC_RELAXED);
#else
    long seen = *(volatile long *)&hits;
    *(volatile long *)&hits = seen + 1;
#endif
  }
  return NULL;
}

int main(void) {
  pthread_t a = spawn(count, NULL), b = spawn(count, NULL);
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  CHECK(hits == 2 * ADDS);
  return 0;
}
