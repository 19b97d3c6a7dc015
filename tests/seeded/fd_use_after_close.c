/* SPDX-License-Identifier: MIT */
/* I/O after close: a write to a descriptor that was closed. */
#include "seeded.h"
#include <errno.h>
#include <unistd.h>

SEEDED_FN int open_pipe(int p[2]) { return pipe(p); }

SEEDED_FN int close_first(int fd) { return close(fd); }

SEEDED_FN ssize_t write_after_close(int fd) { return write(fd, "x", 1); }

int main(int argc, char **argv) {
  int fault = seeded_mode(argc, argv);
  int p[2];
  open_pipe(p);
  if (fault) close_first(p[1]);
  ssize_t n = write_after_close(p[1]);
  printf("write: %zd%s%s\n", n, n < 0 ? " " : "", n < 0 ? strerror(errno) : "");
  if (!fault) close_first(p[1]);
  close(p[0]);
  return 0;
}
