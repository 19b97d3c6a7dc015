/* SPDX-License-Identifier: MIT */
/* The thread count comes from argv[1] (default 4). Each worker claims a slot with the index
 * read in one critical section and advanced in another: two workers can claim the same slot,
 * and a slot stays empty (an assertion in main).
 * SCT_CLEAN: the claim is one critical section. */
#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int next_slot, *slots;

static void *worker(void *arg) {
  int id = (int)(long)arg;
  pthread_mutex_lock(&lock);
  int i = next_slot;
#ifdef SCT_CLEAN
  next_slot = i + 1;
#else
  pthread_mutex_unlock(&lock);
  pthread_mutex_lock(&lock);
  next_slot = i + 1;
#endif
  pthread_mutex_unlock(&lock);
  slots[i] = id + 1;
  return NULL;
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 4;
  if (n < 1 || n > 1000) {
    fprintf(stderr, "usage: %s [THREADS 1..1000]\n", argv[0]);
    return 2;
  }
  slots = calloc((size_t)n + 1, sizeof *slots);
  pthread_t *t = malloc((size_t)n * sizeof *t);
  for (long i = 0; i < n; i++) pthread_create(&t[i], NULL, worker, (void *)i);
  for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
  for (int i = 0; i < n; i++) assert(slots[i] != 0);
  printf("%d slots\n", n);
  free(t);
  free(slots);
  return 0;
}
