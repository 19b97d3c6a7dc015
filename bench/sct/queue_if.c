/* SPDX-License-Identifier: MIT */
/* A one-slot queue with a condition variable, whose consumers wait with `if` instead of
 * `while`: a consumer woken by a broadcast may find the slot already taken by another one
 * (assertion). SCT_CLEAN: `while`. */
#include <assert.h>
#include <pthread.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t nonempty = PTHREAD_COND_INITIALIZER;
static pthread_cond_t nonfull = PTHREAD_COND_INITIALIZER;
static int full, value, taken;

static void *consumer(void *arg) {
  (void)arg;
  pthread_mutex_lock(&lock);
#ifdef SCT_CLEAN
  while (!full) pthread_cond_wait(&nonempty, &lock);
#else
  if (!full) pthread_cond_wait(&nonempty, &lock);
#endif
  assert(full);
  full = 0;
  taken += value;
  pthread_cond_signal(&nonfull);
  pthread_mutex_unlock(&lock);
  return NULL;
}

static void put(int v) {
  pthread_mutex_lock(&lock);
  while (full) pthread_cond_wait(&nonfull, &lock);
  full = 1;
  value = v;
  pthread_cond_broadcast(&nonempty);
  pthread_mutex_unlock(&lock);
}

int main(void) {
  pthread_t c[2];
  for (int i = 0; i < 2; i++) pthread_create(&c[i], NULL, consumer, NULL);
  put(1);
  put(2);
  for (int i = 0; i < 2; i++) pthread_join(c[i], NULL);
  assert(taken == 3);
  return 0;
}
