/* SPDX-License-Identifier: MIT */
/* Semaphore misuse: a binary semaphore guards a device slot, and a worker's error path posts
 * it twice (once in its cleanup, once at the end of the function), so the semaphore counts
 * up to 2 and two workers end up in the slot together. Clean twin: the error path returns
 * after its cleanup post. Found at: the second worker's sem_wait running after the extra
 * post while the third is inside (a preemption in the slot, at its sched_yield). */
#include "kernel.h"

#include <semaphore.h>

static sem_t slot;
static int inside;

static void use_device(void) {
  inside++;
  CHECK(inside == 1);
  sched_yield(); /* the device does its work */
  inside--;
}

static void *worker(void *arg) {
  long failing = (long)arg;
  sem_wait(&slot);
  if (failing) {
    sem_post(&slot); /* cleanup of the failed request */
#ifdef LG_KERNEL_CLEAN
    return NULL;
#endif
  } else {
    use_device();
  }
  sem_post(&slot);
  return NULL;
}

int main(void) {
  CHECK(sem_init(&slot, 0, 1) == 0);
  pthread_t a = spawn(worker, (void *)1L), b = spawn(worker, NULL), c = spawn(worker, NULL);
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  pthread_join(c, NULL);
  sem_destroy(&slot);
  return 0;
}
