/* SPDX-License-Identifier: MIT */
/* A ring of four threads, each copying its left neighbour's slot into its own slot and bumping
 * it, all on plain ints with no lock. main checks after the joins that the ring is consistent
 * with some serial order. Bug: a copy that reads a slot while its neighbour is between its read
 * and its write leaves an order no serial run gives. Needs memory-access points. SCT_CLEAN:
 * each step under one mutex. */
#include <assert.h>
#include <pthread.h>
#include <stdint.h>

#define N 4
static int slot[N];
static int steps[N];
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;

static void *member(void *arg) {
  int i = (int)(intptr_t)arg;
#ifdef SCT_CLEAN
  pthread_mutex_lock(&m);
#endif
  int v = slot[(i + N - 1) % N];
  slot[i] = v + 1;
  steps[i] = 1;
#ifdef SCT_CLEAN
  pthread_mutex_unlock(&m);
#endif
  return NULL;
}

int main(void) {
  pthread_t t[N];
  for (int i = 0; i < N; i++) pthread_create(&t[i], NULL, member, (void *)(intptr_t)i);
  for (int i = 0; i < N; i++) pthread_join(t[i], NULL);
  /* In any serial order the last member to run finds its left neighbour done and writes at
   * least 2, so at most N - 1 slots hold 1. All N hold 1 only when every member read its
   * neighbour's slot before that neighbour wrote it. */
  int ones = 0;
  for (int i = 0; i < N; i++) ones += slot[i] == 1;
  assert(steps[0] + steps[1] + steps[2] + steps[3] == N);
  assert(ones < N);
  return 0;
}
