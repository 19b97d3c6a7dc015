/* SPDX-License-Identifier: MIT */
/* Shared by the seeded-fault programs: each takes `fault` or `clean` as its first argument
 * (the clean twin is the same program with the bug's line not taken) and prints what it does.
 * The functions a report must blame are extern and noinline, so every build names them. */
#ifndef LG_SEEDED_H
#define LG_SEEDED_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEEDED_FN __attribute__((noinline, used))

static inline int seeded_mode(int argc, char **argv) {
  if (argc < 2 || (strcmp(argv[1], "fault") && strcmp(argv[1], "clean"))) {
    fprintf(stderr, "usage: %s fault|clean [args]\n", argv[0]);
    exit(2);
  }
  return strcmp(argv[1], "fault") == 0;
}

/* Keeps the compiler from proving anything about a pointer or a value. */
#define SEEDED_OPAQUE(x) __asm__ volatile("" : "+r"(x) : : "memory")

#endif
