/* SPDX-License-Identifier: MIT */
/* Stale pointer after realloc: the block moved and the old pointer is still used. */
#include "seeded.h"

SEEDED_FN char *make_block(size_t n) {
  char *p = malloc(n);
  memset(p, 'A', n);
  return p;
}

SEEDED_FN char *grow_block(char *p, size_t n) { return realloc(p, n); }

SEEDED_FN int use_block(char *p) {
  SEEDED_OPAQUE(p);
  return *(volatile char *)(p + 4);
}

int main(int argc, char **argv) {
  int fault = seeded_mode(argc, argv);
  char *p = make_block(24);
  char *q = grow_block(p, 8192);
  int c = use_block(fault ? p : q);
  printf("read '%c' (%s pointer)\n", c, fault ? "old" : "new");
  free(q);
  return 0;
}
