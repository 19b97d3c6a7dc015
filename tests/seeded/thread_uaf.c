/* SPDX-License-Identifier: MIT */
/* Cross-thread use after free: one thread frees a block another thread then reads. */
#include "seeded.h"
#include <pthread.h>

static char *shared;

SEEDED_FN char *make_block(size_t n) {
  char *p = malloc(n);
  memset(p, 'A', n);
  return p;
}

SEEDED_FN void *releaser_thread(void *arg) {
  free(shared);
  return arg;
}

SEEDED_FN int use_block(char *p) {
  SEEDED_OPAQUE(p);
  return *(volatile char *)(p + 4);
}

int main(int argc, char **argv) {
  int fault = seeded_mode(argc, argv);
  shared = make_block(64);
  pthread_t t;
  if (fault) {
    pthread_create(&t, NULL, releaser_thread, NULL);
    pthread_join(t, NULL);
  }
  int c = use_block(shared);
  printf("read '%c'\n", c);
  if (!fault) {
    pthread_create(&t, NULL, releaser_thread, NULL);
    pthread_join(t, NULL);
  }
  return 0;
}
