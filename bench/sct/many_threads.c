/* SPDX-License-Identifier: MIT */
/* 64 threads count themselves out under a lock; the one that sees the count complete runs
 * the final step. The count is read again after the unlock, so two threads can both see it
 * complete and the final step runs twice (an assertion in main).
 * SCT_CLEAN: each thread keeps the count it made under the lock. */
#include <assert.h>
#include <pthread.h>
#include <stdio.h>

#define N 64

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int done, finals, results[N];

static void *worker(void *arg) {
  int i = (int)(long)arg;
  pthread_mutex_lock(&lock);
  results[i] = i + 1;
  int mine = ++done;
  pthread_mutex_unlock(&lock);
#ifndef SCT_CLEAN
  pthread_mutex_lock(&lock);
  mine = done;
  pthread_mutex_unlock(&lock);
#endif
  if (mine == N) {
    pthread_mutex_lock(&lock);
    finals++;
    pthread_mutex_unlock(&lock);
  }
  return NULL;
}

int main(void) {
  pthread_t t[N];
  for (long i = 0; i < N; i++) pthread_create(&t[i], NULL, worker, (void *)i);
  for (int i = 0; i < N; i++) pthread_join(t[i], NULL);
  long sum = 0;
  for (int i = 0; i < N; i++) sum += results[i];
  assert(sum == (long)N * (N + 1) / 2);
  assert(finals == 1);
  printf("ok\n");
  return 0;
}
