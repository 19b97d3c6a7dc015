/* SPDX-License-Identifier: MIT */
/* A waiter that checks its flag without the lock, then waits: when the signaller sets the
 * flag and signals between the check and the wait, the signal is lost and the waiter waits
 * for ever while main waits to join it (a deadlock). SCT_CLEAN: the check is made under the
 * lock, in a loop. */
#include <pthread.h>
#include <stdio.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int flag;

static void *waiter(void *arg) {
  (void)arg;
#ifdef SCT_CLEAN
  pthread_mutex_lock(&lock);
  while (!flag) pthread_cond_wait(&cv, &lock);
  pthread_mutex_unlock(&lock);
#else
  if (!flag) {
    pthread_mutex_lock(&lock);
    pthread_cond_wait(&cv, &lock);
    pthread_mutex_unlock(&lock);
  }
#endif
  return NULL;
}

static void *signaller(void *arg) {
  (void)arg;
  pthread_mutex_lock(&lock);
  flag = 1;
  pthread_cond_signal(&cv);
  pthread_mutex_unlock(&lock);
  return NULL;
}

int main(void) {
  pthread_t w, s;
  pthread_create(&w, NULL, waiter, NULL);
  pthread_create(&s, NULL, signaller, NULL);
  pthread_join(w, NULL);
  pthread_join(s, NULL);
  puts("woken");
  return 0;
}
