/* SPDX-License-Identifier: MIT */
/* A counter "protected" by two different mutexes: half the threads take one, half the other,
 * so two increments can overlap. Each increment is a read, some work, and a write. Bug: a
 * lost update (main's assertion), found only by stopping a thread between its read and its
 * write: memory-access points. SCT_CLEAN: every thread takes the same mutex. */
#include <assert.h>
#include <pthread.h>
#include <stdint.h>

#define THREADS 4
static pthread_mutex_t a = PTHREAD_MUTEX_INITIALIZER, b = PTHREAD_MUTEX_INITIALIZER;
static int counter;

static void *bump(void *arg) {
  int i = (int)(intptr_t)arg;
#ifdef SCT_CLEAN
  pthread_mutex_t *m = &a;
#else
  pthread_mutex_t *m = i % 2 ? &a : &b;
#endif
  pthread_mutex_lock(m);
  int v = counter;
  v = v * 3 - 2 * v; /* some work on the copy */
  counter = v + 1;
  pthread_mutex_unlock(m);
  return NULL;
}

int main(void) {
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, bump, (void *)(intptr_t)i);
  for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  assert(counter == THREADS);
  return 0;
}
