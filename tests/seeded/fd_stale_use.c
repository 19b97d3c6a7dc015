/* SPDX-License-Identifier: MIT */
/* A descriptor used after its close, by each kind of call a program makes on one: I/O, dup,
 * and the checks that ask whether a descriptor is still open (a language runtime makes one
 * before it closes a descriptor it owns, and aborts when it gets EBADF).
 *   fd_stale_use fault|clean OP [reuse]
 * OP: getfd getfl fstat isatty read write dup ioctl. With `reuse`, another file is opened
 * between the close and the use; without lifeguard it takes the closed number, so the stale
 * call acts on that file instead (the program says so). The twin makes its call before the
 * close. */
#include "seeded.h"
#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

SEEDED_FN int open_file(void) { return open("/dev/null", O_RDWR | O_CLOEXEC); }

SEEDED_FN int close_first(int fd) { return close(fd); }

SEEDED_FN long use_stale(int fd, const char *op) {
  char c;
  struct stat st;
  int n;
  if (!strcmp(op, "getfd")) return fcntl(fd, F_GETFD);
  if (!strcmp(op, "getfl")) return fcntl(fd, F_GETFL);
  if (!strcmp(op, "fstat")) return fstat(fd, &st);
  if (!strcmp(op, "isatty")) return isatty(fd) ? 1 : (errno == EBADF ? -1 : 0);
  if (!strcmp(op, "read")) return read(fd, &c, 1);
  if (!strcmp(op, "write")) return write(fd, "x", 1);
  if (!strcmp(op, "ioctl")) return ioctl(fd, FIONREAD, &n);
  if (!strcmp(op, "dup")) {
    int copy = dup(fd);
    if (copy >= 0) close(copy);
    return copy;
  }
  fprintf(stderr, "fd_stale_use: unknown call %s\n", op);
  exit(2);
}

int main(int argc, char **argv) {
  int fault = seeded_mode(argc, argv);
  if (argc < 3) {
    fprintf(stderr, "usage: fd_stale_use fault|clean OP [reuse]\n");
    return 2;
  }
  const char *op = argv[2];
  int reuse = argc > 3 && !strcmp(argv[3], "reuse");
  int fd = open_file();
  long r = 0;
  if (!fault) r = use_stale(fd, op);
  close_first(fd);
  int other = reuse ? open_file() : -1;
  if (fault) r = use_stale(fd, op);
  printf("%s on descriptor %d: %ld%s\n", op, fd, r,
         other == fd ? " (the number had been reused by another open: the call acted on it)"
                     : "");
  if (other >= 0) close(other);
  return 0;
}
