/* SPDX-License-Identifier: MIT */
/* Thread-local storage: a __thread counter per thread, and a pthread key whose destructor
 * adds each thread's total into a shared sum under a lock when the thread ends. Eight
 * threads. Clean: main checks, after the joins, that every destructor ran with the right
 * total (the destructors run after the thread's last scheduling point). */
#include <assert.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#define THREADS 8
static __thread int mine;
static pthread_key_t key;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int sum, destroyed;

static void fold(void *p) {
  int *v = p;
  pthread_mutex_lock(&lock);
  sum += *v;
  destroyed++;
  pthread_mutex_unlock(&lock);
  free(v);
}

static void *run(void *arg) {
  int n = (int)(intptr_t)arg;
  for (int i = 0; i < n; i++) {
    mine++;
    pthread_mutex_lock(&lock);
    pthread_mutex_unlock(&lock);
  }
  int *v = malloc(sizeof *v);
  *v = mine;
  pthread_setspecific(key, v);
  return NULL;
}

int main(void) {
  pthread_key_create(&key, fold);
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, run, (void *)(intptr_t)(i + 1));
  for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  pthread_mutex_lock(&lock);
  assert(destroyed == THREADS);
  assert(sum == THREADS * (THREADS + 1) / 2);
  assert(mine == 0);
  pthread_mutex_unlock(&lock);
  return 0;
}
