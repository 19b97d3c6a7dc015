/* SPDX-License-Identifier: MIT */
/* An unmodified program (no lifeguard in its build) that reads a request after handing it to
 * a completion that freed it. `lifeguard verify -- ./use_after_free buggy` runs it with the
 * detectors preloaded: the page heap reports heap-use-after-free with the allocation and free
 * stacks.
 *
 *   use_after_free buggy   reported, exit status non-zero
 *   use_after_free fixed   clean, exit 0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct request {
  int id;
  char payload[40];
};

static void complete(struct request *r) { free(r); }

int main(int argc, char **argv) {
  if (argc != 2 || (strcmp(argv[1], "buggy") && strcmp(argv[1], "fixed"))) {
    fprintf(stderr, "usage: use_after_free buggy|fixed\n");
    return 2;
  }
  int buggy = strcmp(argv[1], "buggy") == 0;
  struct request *r = malloc(sizeof *r);
  if (!r) return 1;
  r->id = 7;
  int id = buggy ? 0 : r->id;
  complete(r);
  if (buggy) id = *(volatile int *)&r->id; /* read after the completion freed it */
  printf("request %d done\n", id);
  return 0;
}
