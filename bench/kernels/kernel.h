/* SPDX-License-Identifier: MIT */
/* What every kernel shares: a failed check prints one line and aborts (NDEBUG or not). */
#ifndef LG_KERNEL_H
#define LG_KERNEL_H

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      abort();                                                                 \
    }                                                                          \
  } while (0)

static inline pthread_t spawn(void *(*fn)(void *), void *arg) {
  pthread_t t;
  CHECK(pthread_create(&t, NULL, fn, arg) == 0);
  return t;
}

#endif
