/* SPDX-License-Identifier: MIT */
/* Big loop counts: two threads each make 20000 locked increments of one counter, a third
 * reads it in a loop of 20000 locked reads, and each adder makes one unlocked "fast path"
 * increment half-way. Bug: the unlocked increment races with
 * the locked ones (main's assertion); the window is a plain read-modify-write, so only
 * memory-access points find it. The run makes over 100000 scheduling points.
 * SCT_CLEAN: the fast path takes the lock too. */
#include <assert.h>
#include <pthread.h>

#define LOOPS 20000
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long counter;

static void *adder(void *arg) {
  (void)arg;
  int fast = 0;
  for (int i = 0; i < LOOPS; i++) {
    pthread_mutex_lock(&lock);
    counter++;
    long c = counter;
    pthread_mutex_unlock(&lock);
    if (!fast && i == LOOPS / 2) {
      fast = 1;
#ifdef SCT_CLEAN
      pthread_mutex_lock(&lock);
#endif
      counter++;
#ifdef SCT_CLEAN
      pthread_mutex_unlock(&lock);
#endif
    }
  }
  return NULL;
}

static void *reader(void *arg) {
  (void)arg;
  long last = 0;
  for (int i = 0; i < LOOPS; i++) {
    pthread_mutex_lock(&lock);
    assert(counter >= last);
    last = counter;
    pthread_mutex_unlock(&lock);
  }
  return NULL;
}

int main(void) {
  pthread_t a, b, r;
  pthread_create(&a, NULL, adder, NULL);
  pthread_create(&b, NULL, adder, NULL);
  pthread_create(&r, NULL, reader, NULL);
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  pthread_join(r, NULL);
  assert(counter == 2 * LOOPS + 2);
  return 0;
}
