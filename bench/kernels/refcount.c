/* SPDX-License-Identifier: MIT */
/* Refcount race: a release decrements the count in one critical section and tests it for
 * zero in another, so two releases can both see zero (double free) or one frees while the
 * other still reads the count (use after free). Clean twin: decrement and test together.
 * Found at: a preemption between the two critical sections. */
#include "kernel.h"

typedef struct buffer {
  pthread_mutex_t lock;
  int refs;
  char data[64];
} buffer;

static void release(buffer *b) {
#ifdef LG_KERNEL_CLEAN
  pthread_mutex_lock(&b->lock);
  int last = --b->refs == 0;
  pthread_mutex_unlock(&b->lock);
#else
  pthread_mutex_lock(&b->lock);
  b->refs--;
  pthread_mutex_unlock(&b->lock);
  pthread_mutex_lock(&b->lock);
  int last = b->refs == 0;
  pthread_mutex_unlock(&b->lock);
#endif
  if (last) {
    pthread_mutex_destroy(&b->lock);
    free(b);
  }
}

static void *user(void *arg) {
  buffer *b = arg;
  b->data[0]++;
  release(b);
  return NULL;
}

int main(void) {
  buffer *b = calloc(1, sizeof *b);
  CHECK(b != NULL);
  pthread_mutex_init(&b->lock, NULL);
  b->refs = 2;
  pthread_t t = spawn(user, b);
  release(b);
  pthread_join(t, NULL);
  return 0;
}
