/* SPDX-License-Identifier: MIT */
/* main calls pthread_exit while its workers run; the last worker out checks the total. A
 * worker counts itself out before it adds its part (two critical sections), so the last one
 * out can see a total still missing a part (an assertion in a worker, after main is gone).
 * SCT_CLEAN: a worker adds its part and counts itself out in one critical section. */
#include <assert.h>
#include <pthread.h>
#include <stdio.h>

#define N 3

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int remaining = N, total;

static void *worker(void *arg) {
  int part = (int)(long)arg;
  pthread_mutex_lock(&lock);
#ifdef SCT_CLEAN
  total += part;
#endif
  int left = --remaining;
  pthread_mutex_unlock(&lock);
#ifndef SCT_CLEAN
  pthread_mutex_lock(&lock);
  total += part;
  pthread_mutex_unlock(&lock);
#endif
  if (left == 0) {
    pthread_mutex_lock(&lock);
    assert(total == 1 + 2 + 3);
    pthread_mutex_unlock(&lock);
    printf("ok\n");
  }
  return NULL;
}

int main(void) {
  pthread_t t;
  for (long i = 1; i <= N; i++) pthread_create(&t, NULL, worker, (void *)i);
  pthread_exit(NULL);
}
