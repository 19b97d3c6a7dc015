/* SPDX-License-Identifier: MIT */
/* A connection object owns its socket (fdsan-style owner tag); a cleanup path that does not
 * own it closes it anyway. lifeguard reports the close as foreign-close, naming the owner.
 *
 *   owned_socket buggy   the stray close: reported, exit status non-zero
 *   owned_socket fixed   the owner closes its socket: clean, exit 0 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <lifeguard/fdcheck.h>

struct connection {
  int fd;
};

static uint64_t owner_tag(struct connection *c) {
  return android_fdsan_create_owner_tag(ANDROID_FDSAN_OWNER_TYPE_GENERIC_00, (uintptr_t)c);
}

static int connection_open(struct connection *c) {
  c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c->fd < 0) return -1;
  android_fdsan_exchange_owner_tag(c->fd, 0, owner_tag(c));
  return 0;
}

static void connection_close(struct connection *c) {
  android_fdsan_close_with_tag(c->fd, owner_tag(c));
  c->fd = -1;
}

static void stray_cleanup(int fd) { close(fd); }

int main(int argc, char **argv) {
  if (argc != 2 || (strcmp(argv[1], "buggy") && strcmp(argv[1], "fixed"))) {
    fprintf(stderr, "usage: owned_socket buggy|fixed\n");
    return 2;
  }
  struct connection c;
  if (connection_open(&c) != 0) return 1;
  if (strcmp(argv[1], "buggy") == 0) stray_cleanup(c.fd);
  else connection_close(&c);
  return 0;
}
