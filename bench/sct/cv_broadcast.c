/* SPDX-License-Identifier: MIT */
/* Three consumers wait on one condition variable for tokens; the producer adds one token at
 * a time and broadcasts. A consumer waits with `if`, not `while`: woken by a broadcast
 * together with another, it takes a token already taken (an assertion).
 * SCT_CLEAN: the predicate is checked again after every wake-up (while). */
#include <assert.h>
#include <pthread.h>
#include <stdio.h>

#define N 3

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t more = PTHREAD_COND_INITIALIZER;
static int tokens, taken;

static void *consumer(void *arg) {
  (void)arg;
  pthread_mutex_lock(&lock);
#ifdef SCT_CLEAN
  while (tokens == 0) pthread_cond_wait(&more, &lock);
#else
  if (tokens == 0) pthread_cond_wait(&more, &lock);
#endif
  tokens--;
  assert(tokens >= 0);
  taken++;
  pthread_mutex_unlock(&lock);
  return NULL;
}

int main(void) {
  pthread_t t[N];
  for (int i = 0; i < N; i++) pthread_create(&t[i], NULL, consumer, NULL);
  for (int i = 0; i < N; i++) {
    pthread_mutex_lock(&lock);
    tokens++;
    pthread_cond_broadcast(&more);
    pthread_mutex_unlock(&lock);
  }
  for (int i = 0; i < N; i++) pthread_join(t[i], NULL);
  assert(taken == N && tokens == 0);
  printf("ok\n");
  return 0;
}
