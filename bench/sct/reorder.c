/* SPDX-License-Identifier: MIT */
/* Two plain stores seen half done: setters write a pair (x, y) as (1, -1) one field at a time,
 * checkers read the pair without a lock and expect it either untouched or complete. Bug: a
 * checker that runs between a setter's two stores fails its assertion. The window holds no
 * pthread call: only a build with memory-access points (lifeguard cc) can stop a thread
 * there. SCT_CLEAN: the pair is written and read under a mutex. */
#include <assert.h>
#include <pthread.h>
#include <stdlib.h>

#define SETTERS 2
#define CHECKERS 2

static int x, y;
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;

static void *setter(void *arg) {
  (void)arg;
#ifdef SCT_CLEAN
  pthread_mutex_lock(&m);
#endif
  x = 1;
  y = -1;
#ifdef SCT_CLEAN
  pthread_mutex_unlock(&m);
#endif
  return NULL;
}

static void *checker(void *arg) {
  (void)arg;
#ifdef SCT_CLEAN
  pthread_mutex_lock(&m);
#endif
  int a = x, b = y;
#ifdef SCT_CLEAN
  pthread_mutex_unlock(&m);
#endif
  assert((a == 0 && b == 0) || (a == 1 && b == -1));
  return NULL;
}

int main(void) {
  pthread_t t[SETTERS + CHECKERS];
  for (int i = 0; i < SETTERS; i++) pthread_create(&t[i], NULL, setter, NULL);
  for (int i = 0; i < CHECKERS; i++) pthread_create(&t[SETTERS + i], NULL, checker, NULL);
  for (int i = 0; i < SETTERS + CHECKERS; i++) pthread_join(t[i], NULL);
  return 0;
}
