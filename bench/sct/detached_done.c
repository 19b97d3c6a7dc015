/* SPDX-License-Identifier: MIT */
/* Detached workers and a done counter: main polls the counter (under the lock, with usleep
 * between looks) until every worker is done, then reads their results. A worker counts
 * itself done before it stores its result (two critical sections): main can read a result
 * not yet there (an assertion).
 * SCT_CLEAN: the result is stored in the same critical section that counts the worker done. */
#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

#define N 4

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int done, results[N];

static void *worker(void *arg) {
  int i = (int)(long)arg;
  pthread_mutex_lock(&lock);
#ifdef SCT_CLEAN
  results[i] = i * i + 1;
#endif
  done++;
  pthread_mutex_unlock(&lock);
#ifndef SCT_CLEAN
  pthread_mutex_lock(&lock);
  results[i] = i * i + 1;
  pthread_mutex_unlock(&lock);
#endif
  return NULL;
}

int main(void) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  for (long i = 0; i < N; i++) {
    pthread_t t;
    pthread_create(&t, &attr, worker, (void *)i);
  }
  pthread_attr_destroy(&attr);
  for (;;) {
    pthread_mutex_lock(&lock);
    int d = done;
    pthread_mutex_unlock(&lock);
    if (d == N) break;
    usleep(1000);
  }
  pthread_mutex_lock(&lock);
  for (int i = 0; i < N; i++) assert(results[i] == i * i + 1);
  pthread_mutex_unlock(&lock);
  printf("ok\n");
  return 0;
}
