/* SPDX-License-Identifier: MIT */
/* A busy-wait hand-off on a plain volatile flag: the producer raises the flag before it has
 * written the data, the consumer spins on the flag and reads the data. Bug: the consumer runs
 * between the producer's two stores (assertion); only memory-access points can stop the
 * producer there. The spin itself has no scheduling point in a gcc build: the watchdog must
 * preempt it. SCT_CLEAN: the data is written first. */
#include <assert.h>
#include <pthread.h>

static volatile int flag;
static int data;

static void *producer(void *arg) {
  (void)arg;
#ifdef SCT_CLEAN
  data = 42;
  flag = 1;
#else
  flag = 1;
  data = 42;
#endif
  return NULL;
}

static void *consumer(void *arg) {
  (void)arg;
  while (!flag) {
  }
  assert(data == 42);
  return NULL;
}

int main(void) {
  pthread_t p, c;
  pthread_create(&c, NULL, consumer, NULL);
  pthread_create(&p, NULL, producer, NULL);
  pthread_join(p, NULL);
  pthread_join(c, NULL);
  return 0;
}
