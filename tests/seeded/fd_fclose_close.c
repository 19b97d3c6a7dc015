/* SPDX-License-Identifier: MIT */
/* fclose, then close(fileno(fp)): the stream's descriptor closed a second time. */
#include "seeded.h"
#include <unistd.h>

SEEDED_FN FILE *open_stream(void) { return fopen("/dev/null", "we"); }

SEEDED_FN int close_stream(FILE *fp) { return fclose(fp); }

SEEDED_FN int close_number(int fd) { return close(fd); }

int main(int argc, char **argv) {
  int fault = seeded_mode(argc, argv);
  FILE *fp = open_stream();
  int fd = fileno(fp);
  fputs("x", fp);
  close_stream(fp);
  if (fault) close_number(fd);
  puts("done");
  return 0;
}
