/* SPDX-License-Identifier: MIT */
/* Off-by-one overflow at odd sizes: one byte read or written just past a block of SIZE bytes.
 *   heap_overflow fault|clean read|write SIZE
 * A read past the end faults on the guard page only when the block ends exactly at it
 * (pageheap_align=1); a write past the end lands in the alignment slack by default and is
 * found at free, by the slack pattern. */
#include "seeded.h"

SEEDED_FN char *make_block(size_t n) {
  char *p = malloc(n);
  memset(p, 'A', n);
  return p;
}

SEEDED_FN int read_past_end(char *p, size_t n, size_t past) {
  SEEDED_OPAQUE(p);
  return *(volatile char *)(p + n - 1 + past);
}

SEEDED_FN void write_past_end(char *p, size_t n, size_t past) {
  SEEDED_OPAQUE(p);
  *(volatile char *)(p + n - 1 + past) = 'Z';
}

SEEDED_FN void release_block(char *p) { free(p); }

int main(int argc, char **argv) {
  int fault = seeded_mode(argc, argv);
  if (argc < 4) {
    fprintf(stderr, "usage: %s fault|clean read|write SIZE\n", argv[0]);
    return 2;
  }
  int writing = strcmp(argv[2], "write") == 0;
  size_t n = strtoul(argv[3], NULL, 10);
  char *p = make_block(n);
  size_t past = fault ? 1 : 0; /* the clean twin touches the last byte, the fault one past it */
  if (writing) write_past_end(p, n, past);
  else printf("read %d\n", read_past_end(p, n, past));
  release_block(p);
  printf("%s one byte %s a %zu-byte block\n", writing ? "wrote" : "read", past ? "past" : "at the end of", n);
  return 0;
}
