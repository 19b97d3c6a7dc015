/* SPDX-License-Identifier: MIT */
/* A reference-counted buffer shared by two workers: the one that drops the last reference
 * frees it. A worker drops its reference before its last use of the buffer, so the other
 * can free it first (a use after free: the page heap makes it a crash or a report).
 * SCT_CLEAN: the last use comes before the reference is dropped. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

struct buf {
  int refs;
  int data[4];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void drop(struct buf *b) {
  pthread_mutex_lock(&lock);
  int last = --b->refs == 0;
  pthread_mutex_unlock(&lock);
  if (last) free(b);
}

static void *worker(void *arg) {
  struct buf *b = arg;
  pthread_mutex_lock(&lock);
  b->data[0]++;
  pthread_mutex_unlock(&lock);
#ifdef SCT_CLEAN
  pthread_mutex_lock(&lock);
  b->data[1]++;
  pthread_mutex_unlock(&lock);
  drop(b);
#else
  drop(b);
  pthread_mutex_lock(&lock);
  b->data[1]++;
  pthread_mutex_unlock(&lock);
#endif
  return NULL;
}

int main(void) {
  struct buf *b = calloc(1, sizeof *b);
  b->refs = 2;
  pthread_t t[2];
  for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, worker, b);
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  printf("ok\n");
  return 0;
}
