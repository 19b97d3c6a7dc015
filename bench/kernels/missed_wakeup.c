/* SPDX-License-Identifier: MIT */
/* Missed wake-up: the consumer tests the flag before taking the lock and then waits, so a
 * producer that sets the flag and signals in between wakes nobody, and the consumer waits
 * for ever. Clean twin: the test under the lock, in a loop around the wait. Found at: a
 * preemption at the consumer's lock (the fault is a deadlock). */
#include "kernel.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int ready;

static void *producer(void *arg) {
  pthread_mutex_lock(&lock);
  ready = 1;
  pthread_cond_signal(&cond);
  pthread_mutex_unlock(&lock);
  return NULL;
}

static void *consumer(void *arg) {
#ifdef LG_KERNEL_CLEAN
  pthread_mutex_lock(&lock);
  while (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) pthread_cond_wait(&cond, &lock);
  pthread_mutex_unlock(&lock);
#else
  if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
    pthread_mutex_lock(&lock);
    pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
  }
#endif
  return NULL;
}

int main(void) {
  pthread_t c = spawn(consumer, NULL), p = spawn(producer, NULL);
  pthread_join(c, NULL);
  pthread_join(p, NULL);
  return 0;
}
