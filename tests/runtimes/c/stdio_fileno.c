/* SPDX-License-Identifier: MIT */
/* libc called on a freed object: fileno() on a FILE that fclose() has freed.
 *
 *   stdio_fileno fault PATH   the log is closed, then log_descriptor asks libc for its number:
 *                             glibc's fileno reads the freed FILE, a use after free INSIDE libc
 *                             whose stack must name log_descriptor (the caller of fileno), not
 *                             skip it
 *   stdio_fileno clean PATH   the twin asks before it closes
 *
 * Free: close_log (fclose). Allocation: open_log (fopen).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOINLINE __attribute__((noinline))

NOINLINE FILE *open_log(const char *path) {
  FILE *f = fopen(path, "w");
  if (!f) {
    perror(path);
    exit(1);
  }
  return f;
}

static int logs_closed; /* (work after each libc call: no named function is a tail call) */

NOINLINE void close_log(FILE *f) {
  fclose(f);
  logs_closed++;
}

NOINLINE int log_descriptor(FILE *f) {
  int fd = fileno(f);
  return fd < 0 ? -1 : fd;
}

int main(int argc, char **argv) {
  if (argc != 3 || (strcmp(argv[1], "fault") && strcmp(argv[1], "clean"))) {
    fprintf(stderr, "usage: stdio_fileno fault|clean PATH\n");
    return 2;
  }
  int fault = !strcmp(argv[1], "fault");
  FILE *log = open_log(argv[2]);
  fputs("first line\n", log);
  int fd;
  if (fault) {
    close_log(log);
    fd = log_descriptor(log);
  } else {
    fd = log_descriptor(log);
    close_log(log);
  }
  printf("log was descriptor %s\n", fd > 2 ? "above 2" : "2 or below");
  return 0;
}
