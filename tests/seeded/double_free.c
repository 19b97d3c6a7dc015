/* SPDX-License-Identifier: MIT */
/* Double free: a block freed twice. */
#include "seeded.h"

SEEDED_FN char *make_block(size_t n) {
  char *p = malloc(n);
  memset(p, 'A', n);
  return p;
}

SEEDED_FN void release_block(char *p) { free(p); }

SEEDED_FN void release_again(char *p) {
  SEEDED_OPAQUE(p);
  free(p);
}

int main(int argc, char **argv) {
  int fault = seeded_mode(argc, argv);
  char *p = make_block(40);
  release_block(p);
  if (fault) release_again(p);
  puts("done");
  return 0;
}
