/* SPDX-License-Identifier: MIT */
/* A writer-preferring rwlock guards a pair that must stay equal. The writer updates the two
 * halves in two write sections; a reader between them sees them differ (an assertion).
 * SCT_CLEAN: both halves in one write section. */
#include <assert.h>
#include <pthread.h>
#include <stdio.h>

static pthread_rwlock_t rw;
static int lo, hi;

static void *reader(void *arg) {
  (void)arg;
  for (int i = 0; i < 3; i++) {
    pthread_rwlock_rdlock(&rw);
    assert(lo == hi);
    pthread_rwlock_unlock(&rw);
  }
  return NULL;
}

static void *writer(void *arg) {
  (void)arg;
  for (int i = 1; i <= 2; i++) {
    pthread_rwlock_wrlock(&rw);
    lo = i;
#ifndef SCT_CLEAN
    pthread_rwlock_unlock(&rw);
    pthread_rwlock_wrlock(&rw);
#endif
    hi = i;
    pthread_rwlock_unlock(&rw);
  }
  return NULL;
}

int main(void) {
  pthread_rwlockattr_t a;
  pthread_rwlockattr_init(&a);
  pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  pthread_rwlock_init(&rw, &a);
  pthread_rwlockattr_destroy(&a);
  pthread_t r[2], w;
  for (int i = 0; i < 2; i++) pthread_create(&r[i], NULL, reader, NULL);
  pthread_create(&w, NULL, writer, NULL);
  for (int i = 0; i < 2; i++) pthread_join(r[i], NULL);
  pthread_join(w, NULL);
  pthread_rwlock_destroy(&rw);
  printf("%d %d\n", lo, hi);
  return 0;
}
