/* SPDX-License-Identifier: MIT */
/* Barrier misuse: two workers compute a phase each and then read each other's result after
 * the barrier, but one of them stores its result after its barrier wait instead of before,
 * so the barrier does not order that store before the other's read. Clean twin: both store,
 * then wait. Found at: the choice of which released worker runs first after the barrier. */
#include "kernel.h"

static pthread_barrier_t phase;
static int results[2];

static void *worker(void *arg) {
  long me = (long)arg, other = 1 - me;
#ifdef LG_KERNEL_CLEAN
  results[me] = (int)me + 1;
  pthread_barrier_wait(&phase);
#else
  if (me == 0) {
    results[me] = (int)me + 1;
    pthread_barrier_wait(&phase);
  } else {
    pthread_barrier_wait(&phase);
    results[me] = (int)me + 1;
  }
#endif
  CHECK(results[other] == (int)other + 1);
  return NULL;
}

int main(void) {
  CHECK(pthread_barrier_init(&phase, NULL, 2) == 0);
  pthread_t a = spawn(worker, (void *)0L), b = spawn(worker, (void *)1L);
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  pthread_barrier_destroy(&phase);
  return 0;
}
