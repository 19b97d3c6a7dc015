/* SPDX-License-Identifier: MIT */
/* Double close, with and without number reuse.
 *   fd_double_close fault|clean [reuse]
 * With `reuse`, a second file is opened between the two closes; without fdcheck it takes the
 * first one's number, so the stale close closes it, and its write fails: the program says so
 * and exits 3 (what the bug does when nothing detects it). */
#include "seeded.h"
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

SEEDED_FN int open_file(void) { return open("/dev/null", O_WRONLY | O_CLOEXEC); }

SEEDED_FN int close_first(int fd) { return close(fd); }

SEEDED_FN int close_again(int fd) { return close(fd); }

int main(int argc, char **argv) {
  int fault = seeded_mode(argc, argv);
  int reuse = argc > 2 && strcmp(argv[2], "reuse") == 0;
  int fd = open_file();
  close_first(fd);
  int other = -1;
  if (reuse) {
    other = open_file();
    printf("first descriptor %d, second %d%s\n", fd, other,
           other == fd ? " (the number was reused)" : "");
  }
  if (fault) close_again(fd);
  if (reuse) {
    if (write(other, "x", 1) != 1) {
      printf("symptom: the second descriptor is gone (%s)\n", strerror(errno));
      return 3;
    }
    close(other);
  }
  puts("done");
  return 0;
}
