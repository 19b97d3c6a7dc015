/* SPDX-License-Identifier: MIT */
/* A condition variable waited on without a loop (a stolen wake-up): a consumer waits once
 * when the queue is empty and then takes an item unconditionally; a producer adds an item and
 * signals, but a second consumer that was not waiting can take the lock first and steal the
 * item, so the woken consumer finds the queue empty. Clean twin: the wait is in a `while`
 * loop. Found at: the second consumer running between the signal and the woken consumer's
 * relock. */
#include "kernel.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t nonempty = PTHREAD_COND_INITIALIZER;
static int items;
static int taken;

static void *consumer(void *arg) {
  (void)arg;
  pthread_mutex_lock(&lock);
#ifdef LG_KERNEL_CLEAN
  while (items == 0) pthread_cond_wait(&nonempty, &lock);
#else
  if (items == 0) pthread_cond_wait(&nonempty, &lock);
#endif
  CHECK(items > 0);
  items--;
  taken++;
  pthread_mutex_unlock(&lock);
  return NULL;
}

static void *producer(void *arg) {
  (void)arg;
  for (int i = 0; i < 2; i++) {
    pthread_mutex_lock(&lock);
    items++;
    pthread_cond_signal(&nonempty);
    pthread_mutex_unlock(&lock);
  }
  return NULL;
}

int main(void) {
  pthread_t c1 = spawn(consumer, NULL), c2 = spawn(consumer, NULL), p = spawn(producer, NULL);
  pthread_join(c1, NULL);
  pthread_join(c2, NULL);
  pthread_join(p, NULL);
  CHECK(taken == 2);
  return 0;
}
