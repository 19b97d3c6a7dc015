/* SPDX-License-Identifier: MIT */
/* Read-write lock upgrade deadlock: a reader that misses in the cache takes the write lock
 * to fill it while still holding its read lock. It waits for all readers to leave, itself
 * included: a deadlock, whenever the reader runs before the thread that fills the cache.
 * Clean twin: the reader drops its read lock, takes the write lock and looks again. Found at:
 * the reader's rdlock before the filler's wrlock (explore reports every thread blocked; a
 * free run hangs). */
#include "kernel.h"

static pthread_rwlock_t cache_lock = PTHREAD_RWLOCK_INITIALIZER;
static int cached = -1;

static int compute(void) { return 7; }

static void *reader(void *arg) {
  (void)arg;
  pthread_rwlock_rdlock(&cache_lock);
  int v = cached;
  if (v < 0) {
#ifdef LG_KERNEL_CLEAN
    pthread_rwlock_unlock(&cache_lock);
    pthread_rwlock_wrlock(&cache_lock);
    if (cached < 0) cached = compute();
    v = cached;
#else
    pthread_rwlock_wrlock(&cache_lock); /* still holding the read lock */
    cached = compute();
    v = cached;
    pthread_rwlock_unlock(&cache_lock);
#endif
  }
  pthread_rwlock_unlock(&cache_lock);
  CHECK(v == 7);
  return NULL;
}

static void *filler(void *arg) {
  (void)arg;
  pthread_rwlock_wrlock(&cache_lock);
  if (cached < 0) cached = compute();
  pthread_rwlock_unlock(&cache_lock);
  return NULL;
}

int main(void) {
  pthread_t f = spawn(filler, NULL), r = spawn(reader, NULL);
  pthread_join(f, NULL);
  pthread_join(r, NULL);
  return 0;
}
