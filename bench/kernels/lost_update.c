/* SPDX-License-Identifier: MIT */
/* Lost update on plain memory: two threads add to a plain counter with no lock, so one can
 * read the count, be stopped before it writes it back, and overwrite the other's additions.
 * Clean twin: the addition is one atomic read-modify-write. Found at: a memory-access
 * scheduling point between the load and the store, which only a `lifeguard cc` build has (no
 * pthread call lies between them, so the plain build runs each thread's update whole). */
#include "kernel.h"

#define ADDS 3

static long counter;

static void *add(void *arg) {
  (void)arg;
  for (int i = 0; i < ADDS; i++) {
#ifdef LG_KERNEL_CLEAN
    __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED);
#else
    counter++;
#endif
  }
  return NULL;
}

int main(void) {
  pthread_t a = spawn(add, NULL), b = spawn(add, NULL);
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  printf("counter %ld\n", counter);
  CHECK(counter == 2 * ADDS);
  return 0;
}
