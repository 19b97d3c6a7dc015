/* SPDX-License-Identifier: MIT */
/* Not a bug: two threads talk through blocking descriptor calls only (no poll): a pipe (read,
 * write), a socketpair (recv, send), a listening socket (accept, connect), a write larger than
 * a pipe's buffer, and a raw futex hand-off (syscall(SYS_futex)). Prints the same lines under
 * every schedule. Under explore each call that would wait blocks under control until its
 * descriptor (or word) is ready, so the other thread runs and answers: the program neither
 * deadlocks nor runs free. */
#include "kernel.h"

#include <linux/futex.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#define ROUNDS 10
#define BIG (256 * 1024)

static int to_peer[2], to_main[2], sp[2], listener;
static struct sockaddr_un addr;
static uint32_t word;
static char big[BIG];

static void read_all(int fd, char *b, size_t n) {
  while (n) {
    ssize_t r = read(fd, b, n);
    CHECK(r > 0);
    b += r;
    n -= (size_t)r;
  }
}

static void *peer(void *arg) {
  (void)arg;
  for (int i = 0; i < ROUNDS; i++) { /* pipe: an echo that adds one */
    char c;
    CHECK(read(to_peer[0], &c, 1) == 1);
    c = (char)(c + 1);
    CHECK(write(to_main[1], &c, 1) == 1);
  }
  for (int i = 0; i < ROUNDS; i++) { /* socketpair: an echo that doubles */
    int v;
    CHECK(recv(sp[1], &v, sizeof v, 0) == (ssize_t)sizeof v);
    v *= 2;
    CHECK(send(sp[1], &v, sizeof v, 0) == (ssize_t)sizeof v);
  }
  int c = accept(listener, NULL, NULL); /* a listening socket */
  CHECK(c >= 0);
  char hello[6];
  CHECK(recv(c, hello, sizeof hello, MSG_WAITALL) == (ssize_t)sizeof hello);
  CHECK(send(c, "world", 6, 0) == 6);
  close(c);
  static char got[BIG]; /* more than a pipe holds */
  read_all(to_peer[0], got, BIG);
  CHECK(memcmp(got, big, BIG) == 0);
  __atomic_store_n(&word, 1, __ATOMIC_RELEASE); /* the futex hand-off */
  syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
  return NULL;
}

int main(void) {
  CHECK(pipe(to_peer) == 0 && pipe(to_main) == 0);
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
  listener = socket(AF_UNIX, SOCK_STREAM, 0);
  CHECK(listener >= 0);
  addr.sun_family = AF_UNIX; /* abstract: nothing in the file system */
  snprintf(addr.sun_path + 1, sizeof addr.sun_path - 1, "lifeguard-talk-%d", (int)getpid());
  socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
                               strlen(addr.sun_path + 1));
  CHECK(bind(listener, (struct sockaddr *)&addr, alen) == 0 && listen(listener, 1) == 0);
  for (size_t i = 0; i < BIG; i++) big[i] = (char)(i * 7);
  pthread_t t = spawn(peer, NULL);
  for (int i = 0; i < ROUNDS; i++) {
    char c = (char)('a' + i), back;
    CHECK(write(to_peer[1], &c, 1) == 1);
    CHECK(read(to_main[0], &back, 1) == 1);
    printf("pipe %c -> %c\n", c, back);
  }
  for (int i = 0; i < ROUNDS; i++) {
    int v = i, back;
    CHECK(send(sp[0], &v, sizeof v, 0) == (ssize_t)sizeof v);
    CHECK(recv(sp[0], &back, sizeof back, 0) == (ssize_t)sizeof back);
    printf("socketpair %d -> %d\n", v, back);
  }
  int s = socket(AF_UNIX, SOCK_STREAM, 0);
  CHECK(s >= 0 && connect(s, (struct sockaddr *)&addr, alen) == 0);
  char world[6];
  CHECK(send(s, "hello", 6, 0) == 6);
  CHECK(recv(s, world, sizeof world, MSG_WAITALL) == (ssize_t)sizeof world);
  printf("socket hello -> %s\n", world);
  close(s);
  CHECK(write(to_peer[1], big, BIG) == BIG);
  printf("wrote %d bytes\n", BIG);
  while (__atomic_load_n(&word, __ATOMIC_ACQUIRE) == 0)
    syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
  printf("futex %u\n", word);
  pthread_join(t, NULL);
  return 0;
}
