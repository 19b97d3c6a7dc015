/* SPDX-License-Identifier: MIT */
/* Four threads, three phases separated by a barrier: in each phase a thread reads its left
 * neighbour's cell and writes its own (each cell under its own lock). With one barrier per
 * phase a neighbour may already have written this phase's value when it is read, and the
 * final cells are not the ones the phases define (an assertion).
 * SCT_CLEAN: a second barrier between the reads and the writes of each phase. */
#include <assert.h>
#include <pthread.h>
#include <stdio.h>

#define N 4
#define PHASES 3

static pthread_barrier_t barrier;
static pthread_mutex_t locks[N];
static int cells[N];

static void *worker(void *arg) {
  int i = (int)(long)arg, left = (i + N - 1) % N;
  for (int p = 0; p < PHASES; p++) {
    pthread_mutex_lock(&locks[left]);
    int v = cells[left];
    pthread_mutex_unlock(&locks[left]);
#ifdef SCT_CLEAN
    pthread_barrier_wait(&barrier);
#endif
    pthread_mutex_lock(&locks[i]);
    cells[i] = v + 1;
    pthread_mutex_unlock(&locks[i]);
    pthread_barrier_wait(&barrier);
  }
  return NULL;
}

int main(void) {
  pthread_barrier_init(&barrier, NULL, N);
  for (int i = 0; i < N; i++) pthread_mutex_init(&locks[i], NULL);
  pthread_t t[N];
  for (long i = 0; i < N; i++) pthread_create(&t[i], NULL, worker, (void *)i);
  for (int i = 0; i < N; i++) pthread_join(t[i], NULL);
  for (int i = 0; i < N; i++) assert(cells[i] == PHASES);
  pthread_barrier_destroy(&barrier);
  printf("ok\n");
  return 0;
}
