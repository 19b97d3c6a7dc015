/* SPDX-License-Identifier: MIT */
/* A two-stage update split over two critical sections: the writer publishes stage one under
 * one lock and derives stage two under another; a reader that sees stage one done expects
 * stage two to match. Bug: the reader can run between the writer's two sections (the unlock
 * and lock between them are scheduling points, so a plain gcc build is enough). SCT_CLEAN: the
 * writer holds the first lock across both stages and the reader takes both. */
#include <assert.h>
#include <pthread.h>

static pthread_mutex_t stage1_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t stage2_lock = PTHREAD_MUTEX_INITIALIZER;
static int stage1, stage2;

static void *writer(void *arg) {
  (void)arg;
  pthread_mutex_lock(&stage1_lock);
  stage1 = 1;
#ifndef SCT_CLEAN
  pthread_mutex_unlock(&stage1_lock);
#endif
  pthread_mutex_lock(&stage2_lock);
  stage2 = stage1 + 1;
  pthread_mutex_unlock(&stage2_lock);
#ifdef SCT_CLEAN
  pthread_mutex_unlock(&stage1_lock);
#endif
  return NULL;
}

static void *reader(void *arg) {
  (void)arg;
  pthread_mutex_lock(&stage1_lock);
  if (stage1 == 1) {
#ifndef SCT_CLEAN
    pthread_mutex_unlock(&stage1_lock);
#endif
    pthread_mutex_lock(&stage2_lock);
    assert(stage2 == stage1 + 1);
    pthread_mutex_unlock(&stage2_lock);
#ifdef SCT_CLEAN
    pthread_mutex_unlock(&stage1_lock);
#endif
  } else {
    pthread_mutex_unlock(&stage1_lock);
  }
  return NULL;
}

int main(void) {
  pthread_t w[2], r[2];
  for (int i = 0; i < 2; i++) pthread_create(&w[i], NULL, writer, NULL);
  for (int i = 0; i < 2; i++) pthread_create(&r[i], NULL, reader, NULL);
  for (int i = 0; i < 2; i++) pthread_join(w[i], NULL);
  for (int i = 0; i < 2; i++) pthread_join(r[i], NULL);
  return 0;
}
