/* SPDX-License-Identifier: MIT */
/* close retried on EINTR. Linux releases the descriptor before close() can return EINTR
 * (from a file's flush: NFS, FUSE), so the retry closes the number again, or whoever took it
 * meanwhile (Austin Group bug 529, vibe-d/eventcore#195). An interrupted close is rare and
 * not reproducible on demand, so this program plays it: interrupted_close() closes, as the
 * kernel does, and then reports EINTR, as the kernel may. The buggy caller retries; the clean
 * twin treats EINTR as done (as bionic and glibc's own callers do). */
#include "seeded.h"
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

SEEDED_FN int open_file(void) { return open("/dev/null", O_RDONLY | O_CLOEXEC); }

static int interrupted;

SEEDED_FN int interrupted_close(int fd) {
  int r = close(fd);
  if (r == 0 && !interrupted++) {
    errno = EINTR;
    return -1;
  }
  return r;
}

SEEDED_FN int close_retrying(int fd) {
  int r;
  do r = interrupted_close(fd);
  while (r == -1 && errno == EINTR);
  return r;
}

SEEDED_FN int close_once(int fd) {
  int r = interrupted_close(fd);
  return r == -1 && errno == EINTR ? 0 : r;
}

int main(int argc, char **argv) {
  int fault = seeded_mode(argc, argv);
  int fd = open_file();
  int r = fault ? close_retrying(fd) : close_once(fd);
  printf("close: %d\n", r);
  return 0;
}
