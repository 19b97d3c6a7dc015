/* SPDX-License-Identifier: MIT */
/* Twenty workers and a barrier: each worker adds its share to a total under a lock, waits
 * at a barrier, and worker 0 then publishes the average. One worker reads the total early
 * for a progress line, and divides by the number of workers that have reported, which may be
 * zero. Bug: a division by zero (SIGFPE) when that worker (number 2) runs before
 * workers 0 and 1 have reported. SCT_CLEAN: it checks
 * for zero. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#define WORKERS 20
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t barrier;
static long total;
static volatile int reported;
static long average;
static volatile long progress_seen;

static void *work(void *arg) {
  int id = (int)(intptr_t)arg;
  if (id == 2) {
    pthread_mutex_lock(&lock);
    int n = reported;
#ifdef SCT_CLEAN
    long progress = n ? total / n : 0;
#else
    long progress = total / n;
#endif
    pthread_mutex_unlock(&lock);
    progress_seen = progress;
  }
  pthread_mutex_lock(&lock);
  total += id + 1;
  reported++;
  pthread_mutex_unlock(&lock);
  pthread_barrier_wait(&barrier);
  if (id == 0) average = total / WORKERS;
  return NULL;
}

int main(void) {
  pthread_barrier_init(&barrier, NULL, WORKERS);
  pthread_t t[WORKERS];
  for (int i = 0; i < WORKERS; i++) pthread_create(&t[i], NULL, work, (void *)(intptr_t)i);
  for (int i = 0; i < WORKERS; i++) pthread_join(t[i], NULL);
  printf("%ld\n", average);
  return average == (WORKERS + 1) / 2 ? 0 : 1;
}
