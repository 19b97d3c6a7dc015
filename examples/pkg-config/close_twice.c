/* SPDX-License-Identifier: MIT */
/* An error path closes a pipe's read end that the normal path closes again: a double close,
 * which in a threaded program closes whatever descriptor took the number meanwhile. Linked
 * with liblifeguard (pkg-config), the second close is reported as double-close with both
 * close stacks.
 *
 *   close_twice buggy   reported, exit status non-zero
 *   close_twice fixed   clean, exit 0 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int drain(int fd, int close_on_error) {
  char buf[16];
  ssize_t n = read(fd, buf, sizeof buf);
  if (n == 0 && close_on_error) close(fd); /* the error path frees what it did not own */
  return n == 0 ? -1 : 0;
}

int main(int argc, char **argv) {
  if (argc != 2 || (strcmp(argv[1], "buggy") && strcmp(argv[1], "fixed"))) {
    fprintf(stderr, "usage: close_twice buggy|fixed\n");
    return 2;
  }
  int p[2];
  if (pipe(p) != 0) return 1;
  close(p[1]);
  drain(p[0], strcmp(argv[1], "buggy") == 0);
  return close(p[0]) == 0 ? 0 : 1;
}
