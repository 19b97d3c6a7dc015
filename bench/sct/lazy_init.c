/* SPDX-License-Identifier: MIT */
/* Lazy initialisation done by the wrong thread: a worker uses a shared table that main
 * creates after starting it (under a lock, but the worker takes the lock only to copy the
 * pointer, not to wait for it). A worker that runs first dereferences NULL (SEGV).
 * SCT_CLEAN: the worker waits on a condition variable until the table exists. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

struct table {
  int size;
  int cells[8];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ready = PTHREAD_COND_INITIALIZER;
static struct table *table;

static void *worker(void *arg) {
  (void)arg;
  pthread_mutex_lock(&lock);
#ifdef SCT_CLEAN
  while (!table) pthread_cond_wait(&ready, &lock);
#endif
  struct table *t = table;
  pthread_mutex_unlock(&lock);
  int sum = 0;
  for (int i = 0; i < t->size; i++) sum += t->cells[i];
  return (void *)(long)sum;
}

int main(void) {
  pthread_t w[2];
  for (int i = 0; i < 2; i++) pthread_create(&w[i], NULL, worker, NULL);
  struct table *t = calloc(1, sizeof *t);
  t->size = 8;
  pthread_mutex_lock(&lock);
  table = t;
  pthread_cond_broadcast(&ready);
  pthread_mutex_unlock(&lock);
  long total = 0;
  for (int i = 0; i < 2; i++) {
    void *r;
    pthread_join(w[i], &r);
    total += (long)r;
  }
  printf("%ld\n", total);
  free(t);
  return 0;
}
