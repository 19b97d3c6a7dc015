/* SPDX-License-Identifier: MIT */
/* Sleeps used to order threads. The producer sleeps 1 ms, then raises a flag and stores the
 * value in two critical sections; the consumer sleeps, then reads both. With a consumer that
 * sleeps 1 ms as well, both wake at once and the consumer can see the flag without the
 * value (an assertion). SCT_CLEAN: the consumer sleeps 50 ms, which orders it after the
 * producer in real time and must in virtual time too (the producer never blocks: it ends
 * before the clock moves on). */
#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int ready, value;

static void *producer(void *arg) {
  (void)arg;
  usleep(1000);
  pthread_mutex_lock(&lock);
  ready = 1;
  pthread_mutex_unlock(&lock);
  pthread_mutex_lock(&lock);
  value = 42;
  pthread_mutex_unlock(&lock);
  return NULL;
}

static void *consumer(void *arg) {
  (void)arg;
#ifdef SCT_CLEAN
  usleep(50000);
#else
  usleep(1000);
#endif
  pthread_mutex_lock(&lock);
  int r = ready, v = value;
  pthread_mutex_unlock(&lock);
  if (r) assert(v == 42);
#ifdef SCT_CLEAN
  assert(r && v == 42);
#endif
  return NULL;
}

int main(void) {
  pthread_t p, c;
  pthread_create(&c, NULL, consumer, NULL);
  pthread_create(&p, NULL, producer, NULL);
  pthread_join(p, NULL);
  pthread_join(c, NULL);
  printf("ok\n");
  return 0;
}
