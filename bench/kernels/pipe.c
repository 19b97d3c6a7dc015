/* SPDX-License-Identifier: MIT */
/* Not a bug: two threads talk through a pair of pipes, each waiting in poll() before it
 * reads, then main sleeps and joins; prints the same lines under every schedule. Under
 * explore the thread in poll() leaves control, so the other one runs and answers: the
 * program neither deadlocks nor runs free. */
#include "kernel.h"

#include <poll.h>
#include <string.h>
#include <unistd.h>

#define ROUNDS 20

static int to_echo[2], to_main[2];

static int wait_readable(int fd) {
  struct pollfd p = {fd, POLLIN, 0};
  return poll(&p, 1, -1) == 1 && (p.revents & (POLLIN | POLLHUP));
}

static void *echo(void *arg) {
  char c;
  while (wait_readable(to_echo[0]) && read(to_echo[0], &c, 1) == 1) {
    c = (char)(c + 1);
    CHECK(write(to_main[1], &c, 1) == 1);
  }
  return NULL;
}

int main(void) {
  CHECK(pipe(to_echo) == 0 && pipe(to_main) == 0);
  pthread_t t = spawn(echo, NULL);
  for (int i = 0; i < ROUNDS; i++) {
    char c = (char)('a' + i % 20), back;
    CHECK(write(to_echo[1], &c, 1) == 1);
    CHECK(wait_readable(to_main[0]) && read(to_main[0], &back, 1) == 1);
    printf("%c -> %c\n", c, back);
  }
  close(to_echo[1]);
  usleep(1000);
  pthread_join(t, NULL);
  close(to_echo[0]);
  close(to_main[0]);
  close(to_main[1]);
  return 0;
}
