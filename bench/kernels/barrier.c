/* SPDX-License-Identifier: MIT */
/* Not a bug: four threads meet at a barrier five times, each round after a pthread_once and
 * a locked sum; prints the same line under every schedule. Under explore the barrier and the
 * once are shadowed (a real wait there would hold the baton). */
#include <pthread.h>
#include <stdio.h>
static pthread_barrier_t bar;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static int inits, total, serial;
static void init(void) { pthread_mutex_lock(&m); inits++; pthread_mutex_unlock(&m); }
static void *w(void *a) {
  for (int r = 0; r < 5; r++) {
    pthread_once(&once, init);
    pthread_mutex_lock(&m); total += (int)(long)a; pthread_mutex_unlock(&m);
    if (pthread_barrier_wait(&bar) == PTHREAD_BARRIER_SERIAL_THREAD) { pthread_mutex_lock(&m); serial++; pthread_mutex_unlock(&m); }
  }
  return NULL;
}
int main(void) {
  pthread_t t[3];
  pthread_barrier_init(&bar, NULL, 4);
  for (long i = 0; i < 3; i++) pthread_create(&t[i], NULL, w, (void *)(i + 1));
  w((void *)10);
  for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
  printf("inits %d total %d serial %d\n", inits, total, serial);
  return 0;
}
