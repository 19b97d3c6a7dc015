/* SPDX-License-Identifier: MIT */
/* Each worker registers in a shared count and a key destructor unregisters it at thread
 * exit, reading the count in one critical section and writing it in another: two exiting
 * threads can lose an unregistration (an assertion in main after the joins).
 * SCT_CLEAN: the destructor decrements in one critical section. */
#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static pthread_key_t key;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int registered;

static void unregister(void *p) {
  pthread_mutex_lock(&lock);
#ifdef SCT_CLEAN
  registered--;
#else
  int r = registered;
  pthread_mutex_unlock(&lock);
  pthread_mutex_lock(&lock);
  registered = r - 1;
#endif
  pthread_mutex_unlock(&lock);
  free(p);
}

static void *worker(void *arg) {
  (void)arg;
  pthread_mutex_lock(&lock);
  registered++;
  pthread_mutex_unlock(&lock);
  pthread_setspecific(key, malloc(16));
  return NULL;
}

int main(void) {
  pthread_key_create(&key, unregister);
  pthread_t t[3];
  for (int i = 0; i < 3; i++) pthread_create(&t[i], NULL, worker, NULL);
  for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
  assert(registered == 0);
  printf("ok\n");
  return 0;
}
