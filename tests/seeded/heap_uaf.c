/* SPDX-License-Identifier: MIT */
/* Use after free after churn: a 4000-byte block is freed, then CHURN_MB megabytes of
 * allocation and free traffic of the same size (one page each in the page heap, one size
 * class in ASan's allocator) run, then the freed block is read. With little churn
 * every detector still holds the block in its quarantine; past the quarantine (ASan: 256 MiB,
 * pageheap: pageheap_quarantine_mb) the block may be reused and the read sees live memory.
 *   heap_uaf fault|clean [CHURN_MB]   (default 1) */
#include "seeded.h"

#define BLOCK 4000

SEEDED_FN char *make_block(size_t n) {
  char *p = malloc(n);
  memset(p, 'A', n);
  return p;
}

SEEDED_FN void release_block(char *p) { free(p); }

SEEDED_FN void churn(size_t megabytes, size_t n) {
  size_t count = megabytes * (1u << 20) / n;
  for (size_t i = 0; i < count; i++) {
    char *q = malloc(n);
    SEEDED_OPAQUE(q);
    q[0] = 'B';
    free(q);
  }
}

SEEDED_FN int use_block(char *p) {
  SEEDED_OPAQUE(p);
  return *(volatile char *)(p + 8);
}

int main(int argc, char **argv) {
  int fault = seeded_mode(argc, argv);
  size_t mb = argc > 2 ? strtoul(argv[2], NULL, 10) : 1;
  char *p = make_block(BLOCK);
  if (fault) release_block(p);
  churn(mb, BLOCK);
  int c = use_block(p);
  printf("read '%c' after %zu MiB of churn\n", c, mb);
  if (!fault) release_block(p);
  return 0;
}
